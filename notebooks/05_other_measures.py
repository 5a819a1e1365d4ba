# %% [markdown]
# # Do the conclusions survive another similarity measure? I: rotations and neighbourhoods
#
# ## Overview
#
# **Going further** chapter: about 31 minutes; not needed for the core path.
#
# Chapter 02 described each layer by its linear CKA with the MFCCs and with the EMA. CKA is one
# lens among many, and the lens matters: global measures such as CKA and local neighbourhood
# measures can disagree {cite:p}`ding2021grounding`. This chapter puts two measures that need
# no fitting next to CKA, computed recording by recording like CKA:
#
# 1. **orthogonal Procrustes**: how well one centred point cloud can be rotated onto the
#    other {cite:p}`schonemann1966procrustes,williams2021shape`, and its relation to CKA;
# 2. **mutual k-nearest neighbours**: do the two spaces agree on which frames are *close*
#    {cite:p}`huh2024platonic`?
# 3. **one temporal null for all of them**, drawn many times, and an agreement analysis: do
#    the measures rank the layers alike, and how sure is each measure's peak layer?
#
# Chapter 06 adds two *fitted* measures, a linear probe and CCA.
#
# ## Prerequisites
#
# Chapter 02 (per-recording CKA, the circular-shift null and the gap to it).

# %% tags=["remove-input"]
import importlib.util, os, subprocess, sys  # noqa: E401, I001
REPO_URL = "https://github.com/speech-interpretability/speech-cka-tutorial"
if importlib.util.find_spec("tutorial_utils") is None:  # Setup: installs it, e.g. in Colab
    if importlib.util.find_spec("pip") is None:  # e.g. a uv venv
        raise RuntimeError("this Python has no pip: run `python -m ensurepip`, or install with uv "
                           f"(`uv pip install --python {sys.executable} git+{REPO_URL}`)")
    pip = [sys.executable, "-m", "pip", "install", "-q", f"git+{REPO_URL}"]  # upgrades nothing
    if subprocess.run(pip, env={**os.environ, "GIT_TERMINAL_PROMPT": "0"}).returncode:
        raise RuntimeError(f"pip could not install {pip[-1]}: check the address and the network,"
                           " or install from a local copy: pip install /path/to/clone")
    importlib.invalidate_caches()
    if importlib.util.find_spec("tutorial_utils") is None:
        raise RuntimeError(f"pip installed the package where this kernel ({sys.executable}) "
                           "does not import from (PIP_TARGET? --user?): restart the kernel")

# %%
import numpy as np
import pandas as pd
from scipy.linalg import orthogonal_procrustes

from tutorial_utils import (
    agreement,
    cka_matrix,
    feature_space_linear_cka,
    load_dataset,
    measures,
    notice,
    nulls,
    plots,
    targets,
)

# %%
dataset = load_dataset()
print(notice.data_line(dataset))

# %% [markdown]
# ## The frames, the recordings and one null for every measure
#
# As in chapter 02, every recording gives the hidden states of each layer and its MFCC and EMA
# frames on the model's 20 ms grid. We draw chapter 02's null baseline *now*: each
# recording's features (MFCC and EMA together) are rolled in time by a random offset of at
# least 10% of the recording (`nulls.circular_shift`), `N_SHIFTS` times. Shift $s$ of every
# recording is one draw of the null; the draws give a null *distribution*, so we can read off
# its mean, its spread and its 95th percentile. Every measure is computed on the same
# observed and shifted features. `nulls.shifted_recordings` (used in chapter 06) is this loop.

# %%
TARGETS = {"mfcc": "MFCC", "ema": "EMA"}
N_SHIFTS = 20
rng = np.random.default_rng(0)

print("computing MFCCs; a fresh runtime first compiles librosa's kernels (up to a minute)")
recordings = []  # one dict per recording
for participant in dataset.participants:
    for filename in dataset.filenames(participant, with_hidden_states=True):
        layer_frames, observed = targets.aligned_recording(dataset, participant, filename)
        features = np.hstack([observed[t] for t in TARGETS])
        edges = np.cumsum([observed[t].shape[1] for t in TARGETS])[:-1]
        versions = {"observed": observed}
        for shift in range(N_SHIFTS):
            rolled, _ = nulls.circular_shift(features, rng, min_fraction=0.1)
            versions[f"shift {shift + 1}"] = dict(
                zip(TARGETS, np.split(rolled, edges, axis=1), strict=True)
            )
        recordings.append({"filename": filename, "layers": layer_frames, "versions": versions})

layers = dataset.layers
lengths = np.array([len(r["versions"]["observed"]["ema"]) for r in recordings])
first = recordings[0]
print(
    f"{len(recordings)} recordings from {len(dataset.participants)} speakers "
    f"({', '.join(dataset.participants)});\n{lengths.sum()} frames in all, "
    f"{lengths.min()}–{lengths.max()} per recording"
)
print(
    f"{len(layers)} layers of {first['layers'][layers[0]].shape[1]} dimensions; "
    + ", ".join(
        f"{TARGETS[t]} {first['versions']['observed'][t].shape[1]} columns" for t in TARGETS
    )
)
print(f"versions of the features: observed and {N_SHIFTS} shifts")
from_package = nulls.shifted_recordings(dataset, list(TARGETS), n_shifts=N_SHIFTS, seed=0)
assert all(
    np.array_equal(mine["versions"][version][t], theirs["versions"][version][t])
    for mine, theirs in zip(recordings, from_package, strict=True)
    for version in mine["versions"]
    for t in TARGETS
)

# %% [markdown]
# ## Orthogonal Procrustes, and how it relates to CKA
#
# Centre both point clouds and scale each to unit size (Frobenius norm 1). Orthogonal
# Procrustes asks for the rotation $R$ (reflections allowed) that brings $X$ closest to $Y$,
# and reports what is left: $d = \min_R \lVert XR - Y \rVert_F$. When the two spaces have
# different widths, the narrower one is padded with zero columns, i.e. placed inside the wider
# space. The solution needs only the singular values $\sigma_i$ of $X^\top Y$:
#
# $$d^2 = 2 - 2\sum_i \sigma_i, \qquad
# \text{Procrustes similarity} = \sum_i \sigma_i = \lVert X^\top Y \rVert_*, \qquad
# \text{linear CKA} = \frac{\sum_i \sigma_i^2}{\lVert X^\top X \rVert_F\,\lVert Y^\top Y
# \rVert_F}.$$
#
# Both measures compare centred configurations up to rotation and scale. CKA *squares* the
# singular values and divides by each space's own spread, so a few high-variance directions
# dominate it; Procrustes adds them up, so weaker shared directions count more. Here is all of
# it, written out for layer 0 of one recording against its EMA:

# %%
x = first["layers"][layers[0]].astype(np.float64)
y = first["versions"]["observed"]["ema"].astype(np.float64)
a = (x - x.mean(axis=0)) / np.linalg.norm(x - x.mean(axis=0))
b = (y - y.mean(axis=0)) / np.linalg.norm(y - y.mean(axis=0))
sigma = np.linalg.svd(a.T @ b, compute_uv=False)

b_padded = np.pad(b, ((0, 0), (0, a.shape[1] - b.shape[1])))  # EMA inside the layer's space
rotation, _ = orthogonal_procrustes(a, b_padded)
distance = np.linalg.norm(a @ rotation - b_padded)
print(f"{first['filename']}, layer {layers[0]} vs EMA ({len(x)} frames):")
print(
    f"  Procrustes distance: {distance:.4f} (scipy rotation), "
    f"{np.sqrt(2 - 2 * sigma.sum()):.4f} (from the singular values),\n"
    f"  {measures.procrustes_distance(x, y):.4f} (package)"
)
print(
    f"  Procrustes similarity Σσ = {sigma.sum():.4f}; "
    f"package {measures.procrustes_similarity(x, y):.4f}"
)
cka_by_hand = np.sum(sigma**2) / (np.linalg.norm(a.T @ a) * np.linalg.norm(b.T @ b))
print(
    f"  linear CKA Σσ² / (‖AᵀA‖ ‖BᵀB‖) = {cka_by_hand:.4f}; "
    f"package {feature_space_linear_cka(x, y):.4f}"
)
print(
    f"  the largest singular value makes up {sigma[0] / sigma.sum():.0%} of Σσ "
    f"and {sigma[0] ** 2 / np.sum(sigma**2):.0%} of Σσ²"
)

# %% [markdown]
# ## Local neighbourhoods: mutual k-nearest neighbours
#
# CKA and Procrustes are *global*: large distances between frames dominate them. Mutual
# k-nearest-neighbour overlap looks only at each frame's $k$ closest frames in each space and
# counts how many of them the two spaces share {cite:p}`huh2024platonic`. It is 1 when the
# neighbourhoods agree exactly and about $k/(n-1)$ for unrelated spaces. It captures whether the
# spaces agree on *which frames are alike* (e.g. the frames of the same vowel), however
# differently they lay out the rest. We use $k = 10$. `neighbour_sets` lists each frame's
# neighbours from the nearest out, so the first $k$ of its 40 nearest are its $k$ nearest.
#
# Speech adds a catch: neighbouring frames in time are similar in every space, so part of any
# overlap is just time. The circular-shift null keeps that part (both spaces stay smooth), so
# the gap above the null removes it.

# %%
K = 10
neighbours_x = measures.neighbour_sets(x, K)
neighbours_y = measures.neighbour_sets(y, K)
frame_index = np.arange(len(x))[:, None]
print(
    f"k = {K}, n = {len(x)}: chance overlap k/(n−1) = {K / (len(x) - 1):.3f}; "
    f"layer {layers[0]} vs EMA: {measures.neighbour_overlap(neighbours_x, neighbours_y):.3f}"
)
for name, found in (("layer", neighbours_x), ("EMA", neighbours_y)):
    within = np.mean(np.abs(found - frame_index) <= 2)
    print(f"  share of {name} neighbours within ±2 frames (±40 ms) in time: {within:.2f}")
K_MAX = 40  # exercise 1 compares k up to 40
assert np.array_equal(measures.neighbour_sets(x, K_MAX)[:, :K], neighbours_x)

# %% [markdown]
# ## CKA, Procrustes and mutual kNN for every recording and layer
#
# These three measures need no fitting, so they are computed per recording, exactly like CKA
# in chapter 02, on the observed and on every shifted version of the features. The neighbour
# sets are kept with each recording for exercise 1.

# %%
KNN = f"mutual kNN (k={K})"
rows = []
for rec in recordings:
    target_arrays = {
        (version, t): arrays
        for version, version_targets in rec["versions"].items()
        for t, arrays in version_targets.items()
    }
    cka_table = cka_matrix(rec["layers"], target_arrays)  # columns: (version, target)
    procrustes = measures.procrustes_similarity_pairs(rec["layers"], target_arrays)
    k_max = min(K_MAX, len(rec["versions"]["observed"]["ema"]) - 1)
    rec["target_neighbours"] = {
        key: measures.neighbour_sets(arrays, k_max) for key, arrays in target_arrays.items()
    }
    rec["layer_neighbours"] = {
        layer: measures.neighbour_sets(x_layer, k_max) for layer, x_layer in rec["layers"].items()
    }
    for layer, layer_sets in rec["layer_neighbours"].items():
        for version, t in target_arrays:
            target_sets = rec["target_neighbours"][version, t]
            values = {
                "CKA": cka_table.at[layer, (version, t)],
                "Procrustes": procrustes[layer, (version, t)],
                KNN: measures.neighbour_overlap(layer_sets[:, :K], target_sets[:, :K]),
            }
            rows += [
                agreement.score_row(layer, TARGETS[t], version, m, v, filename=rec["filename"])
                for m, v in values.items()
            ]
per_recording = pd.DataFrame(rows)
observed_means = per_recording[per_recording["version"] == "observed"].pivot_table(
    index="layer", columns=["target", "measure"], values="value"
)
print(observed_means.rename(columns={KNN: "kNN"}).round(3).to_string())

# %% [markdown]
# ## One null for every measure: the gap above chance
#
# The three measures live on different scales, and each has its own chance level, which need
# not be the textbook one: smooth but unaligned signals give CKA above 0, and neighbours in
# time give kNN overlap above $k/(n-1)$. So every measure is reported as its **gap above the
# null's mean** over the shifts. Each shift gives one null value per layer (the mean over
# recordings); the table gives, per measure and averaged over layers, the null's mean, its
# standard deviation over the shifts, its 95th percentile, and at how many layers the
# observed value lies above that percentile. The last column is how far the gap profile
# rises and falls over layers 0–10: a profile whose span is not well above the null's spread
# is mostly noise.

# %%
MEASURES = ["CKA", "Procrustes", KNN]
scores = per_recording.groupby(["measure", "target", "layer", "version"], as_index=False)[
    "value"
].mean()
gaps = agreement.null_summary(scores)
early = layers[:-2]
for label in TARGETS.values():
    part = gaps[gaps["target"] == label].groupby("measure")
    table = pd.DataFrame(
        {
            "observed": part["observed"].mean(),
            "null": part["null"].mean(),
            "sd over shifts": part["null sd"].mean(),
            "95th pct": part["threshold"].mean(),
            "layers above": part["above"].sum(),
            f"span {early[0]}–{early[-1]}": part.apply(
                lambda g: np.ptp(g.set_index("layer")["gap"][early]), include_groups=False
            ),
        }
    ).loc[MEASURES]
    print(f"{label}, means over the {len(layers)} layers:\n{table.round(3).to_string()}\n")
chance = np.mean([K / (n - 1) for n in lengths])
print(f"chance overlap k/(n−1), mean over recordings: {chance:.3f}")

# %% mystnb={"image": {"alt": "CKA, Procrustes and kNN per layer beside their nulls"}}
plots.show(plots.measures_with_nulls(scores, MEASURES, TARGETS.values()))

# %% [markdown]
# ## Do the measures agree, and where do they peak?
#
# To compare the *shapes* of the layer profiles, each measure's gap is rescaled to $[0, 1]$
# across layers, separately for MFCC and EMA. The rank correlation (Spearman $\rho$) between
# two measures' gap profiles says whether they order the layers alike, whatever their scales.
# A few layers far from the rest can carry a rank correlation on their own, so $\rho$ is
# given over all layers and without the last two (layers 0–10). The intervals come from a
# bootstrap over recordings: resample the recordings with replacement, recompute each
# measure's profile (from each recording's gap above its own shifts) and $\rho$, 1000 times.

# %% mystnb={"image": {"alt": "Gap profiles of the three measures rescaled to 0-1"}}
gaps["rescaled gap"] = gaps.groupby(["measure", "target"])["profile"].transform(
    lambda g: (g - g.min()) / (g.max() - g.min())
)
plots.show(plots.rescaled_profiles(gaps, MEASURES, TARGETS.values()))

# %%
profiles = agreement.layer_profiles(gaps, MEASURES, TARGETS.values())
by_recording = agreement.recording_profiles(per_recording)
sets = {f"all {len(layers)} layers": layers, f"layers {early[0]}–{early[-1]}": early}
intervals = agreement.rank_intervals(by_recording.replace({KNN: "kNN"}), sets)
for label, part in intervals.groupby(level="target", sort=False):
    rho = profiles[label].rename(columns={KNN: "kNN"}).corr(method="spearman")
    print(f"{label}: Spearman ρ [95% interval]  " + "   ".join(sets))
    for pair, row in part.droplevel("target").iterrows():
        assert np.isclose(row[next(iter(sets)), "ρ"], rho.loc[tuple(pair.split(" vs "))])
        cells = [f"{row[n, 'ρ']:5.2f} [{row[n, 'low']:5.2f}, {row[n, 'high']:5.2f}]" for n in sets]
        print(f"  {pair:<22}" + "   ".join(cells))
print("\n".join(agreement.summary(intervals)))

# %% [markdown]
# Each measure's peak layer gets the same bootstrap (`stats.peak_layers`): `peak` is the
# layer with the largest mean gap, `near-peak` the layers whose 95% interval reaches the
# peak's, and `p_peak` how often a layer is the peak over the resamples (the three most
# frequent).

# %%
peaks = agreement.peak_summary(by_recording, n_resamples=1000)
print(peaks.rename(index={KNN: "kNN"}).to_string())

# %% [markdown]
# ## On the sample: checking the measures on planted data
#
# The sample's simulated encoder plants each source in every layer with a chosen weight
# (`tutorial_utils.sample.ground_truth()`). This is a check of the *method*, not a finding:
# does each measure's gap profile follow the planted weight over layers (Spearman $\rho$)?
# On the real data there is no planted answer, and the cell says so.

# %%
if dataset.source == "sample":
    from tutorial_utils.sample import ground_truth

    recovery = agreement.planted_recovery(gaps, MEASURES, ground_truth())
    print(f"Spearman ρ with the planted weight over layers:\n{recovery.round(2).to_string()}")
else:
    print(f"This is the real data (source '{dataset.source}'): no planted answer exists.")

# %% [markdown]
# ## Summary
#
# - Orthogonal Procrustes and mutual k-nearest neighbours compare a layer with the features
#   without fitting anything, recording by recording, like CKA.
# - Procrustes and linear CKA are two functions of the same singular values of $X^\top Y$:
#   CKA squares them, so a few strong directions dominate it; Procrustes adds them.
# - Mutual kNN is local, and time alone makes neighbours: the printed shares of neighbours
#   within ±2 frames and the kNN null above $k/(n-1)$ show how much.
# - Every measure has its own chance level, so each is reported as its gap above the mean of
#   many circular shifts; the printed spread over shifts says how much of a profile is noise.
# - Agreement between measures is read over all layers and without layers 11–12, with
#   bootstrap intervals over recordings; a peak layer is a set of near-peak layers, not one.
#
# ## Exercises
#
# 1. Change $k$ in the mutual kNN overlap to 5, 20 and 40. Does the EMA layer profile (gap
#    above the null) keep its shape? Print the peak layers and the rank correlation with the
#    $k = 10$ profile.

# %% tags=["hide-cell"]
# Solution 1
# The main analysis kept each recording's K_MAX nearest neighbours, sorted by distance: the k
# nearest are their first k columns.
K_VALUES = (5, 10, 20, 40)
rows = []
for rec in recordings:
    for layer, layer_sets in rec["layer_neighbours"].items():
        for k in (k for k in K_VALUES if k <= layer_sets.shape[1]):
            rows += [
                agreement.score_row(
                    layer, "EMA", v, f"k = {k}",
                    measures.neighbour_overlap(
                        layer_sets[:, :k], rec["target_neighbours"][v, "ema"][:, :k]
                    ),
                    filename=rec["filename"],
                )
                for v in rec["versions"]
            ]  # fmt: skip
by_k = agreement.recording_profiles(pd.DataFrame(rows))
k_gaps = by_k.pivot_table(index="layer", columns="measure", values="value")
k_gaps = k_gaps[[f"k = {k}" for k in K_VALUES]]
print(k_gaps.round(3).to_string())
print(agreement.peak_summary(by_k, n_resamples=1000).droplevel("target").to_string())
rho_with_k = k_gaps.corr(method="spearman")[f"k = {K}"]
print(
    f"Answer: the other profiles keep a rank correlation of "
    f"{rho_with_k.drop(f'k = {K}').min():.2f}–{rho_with_k.drop(f'k = {K}').max():.2f}\n"
    f"with k = {K}; compare their near-peak layers above."
)
