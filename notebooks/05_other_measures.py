# %% [markdown]
# # Do the conclusions survive another similarity measure? I: rotations and neighbourhoods
#
# ## Overview
#
# Chapter 02 described each layer by one number per feature space: its linear CKA with the
# MFCCs and with the EMA. CKA is one lens among many, and the literature on representational
# similarity shows that the lens matters: global measures such as CKA and local neighbourhood
# measures can disagree, and CCA-type results depend on whether they are scored on held-out
# data {cite:p}`ding2021grounding`. This chapter and the next put four other measures next to
# CKA, for every layer and against both feature spaces. This chapter takes the two that need
# no fitting and, like CKA, are computed recording by recording:
#
# 1. **orthogonal Procrustes**: how well one centred point cloud can be rotated onto the
#    other {cite:p}`schonemann1966procrustes,williams2021shape`, and its relation to CKA;
# 2. **mutual k-nearest neighbours**: do the two spaces agree on which frames are *close*
#    {cite:p}`huh2024platonic`?
# 3. **one temporal null for all of them**, so that every measure is reported as its gap above
#    chance, and an agreement analysis: do the measures rank the layers alike, and which of
#    chapter 02's statements survive every measure?
#
# Chapter 06 adds the two *fitted* measures, a linear probe and CCA, scored on held-out
# recordings, and repeats the agreement analysis with them. Every conclusion below is printed
# from the numbers of the data you loaded.
#
# ## Prerequisites
#
# Chapter 02 (per-recording CKA, the circular-shift null and the gap to it). Chapter 03 is not
# needed.

# %% tags=["remove-input"]
# Setup (hidden in the book): installs the package where it is missing, e.g. in Colab.
import importlib.util, os, subprocess, sys  # noqa: E401, I001
REPO_URL = "https://github.com/speech-interpretability/speech-cka-tutorial"
if importlib.util.find_spec("tutorial_utils") is None:  # pip upgrades nothing Colab has
    pip = [sys.executable, "-m", "pip", "install", "-q", f"git+{REPO_URL}"]
    if subprocess.run(pip, env={**os.environ, "GIT_TERMINAL_PROMPT": "0"}).returncode:
        raise RuntimeError(f"pip could not install {pip[-1]}: check the address and the network,"
                           " or install from a local copy: pip install /path/to/clone")
    importlib.invalidate_caches()
    if importlib.util.find_spec("tutorial_utils") is None:
        raise RuntimeError(f"pip installed the package where this kernel ({sys.executable}) "
                           "does not import from (PIP_TARGET? --user?): restart the kernel")

# %%
import time

import numpy as np
import pandas as pd
from scipy.linalg import orthogonal_procrustes

import tutorial_utils
from tutorial_utils import (
    agreement,
    cka_matrix,
    feature_space_linear_cka,
    load_dataset,
    measures,
    notice,
    nulls,
    plots,
    stats,
    targets,
)

print("tutorial_utils", tutorial_utils.__version__)
started = time.perf_counter()

# %%
dataset = load_dataset()
print(notice.data_line(dataset))

# %% [markdown]
# ## The frames, the recordings and one null for every measure
#
# As in chapter 02, every recording gives the hidden states of each layer and its MFCC and EMA
# frames on the model's 20 ms grid. We also draw the null baseline of chapter 02 *now*, once:
# each recording's features (MFCC and EMA together) are rolled in time by a random offset of
# at least 10% of the recording (`nulls.circular_shift`). Every measure below is computed
# on the same observed and the same shifted features, so all measures face the same null. One
# shift per recording keeps the chapter fast; the null of each measure is then an average
# over all recordings' shifts (`N_SHIFTS` sets how many per recording). Chapter 06 needs the
# same recordings and the same null: `nulls.shifted_recordings` repeats this loop with the
# same seed, and the cell checks that it gives the same arrays.

# %%
TARGETS = {"mfcc": "MFCC", "ema": "EMA"}
N_SHIFTS = 1
rng = np.random.default_rng(0)

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
    f"({', '.join(dataset.participants)}); {lengths.sum()} frames in all, "
    f"{lengths.min()}–{lengths.max()} per recording"
)
print(
    f"{len(layers)} layers of {first['layers'][layers[0]].shape[1]} dimensions; "
    + ", ".join(
        f"{TARGETS[t]} {first['versions']['observed'][t].shape[1]} columns" for t in TARGETS
    )
)
print(f"versions of the features: {', '.join(first['versions'])}")


from_package = nulls.shifted_recordings(dataset, list(TARGETS), n_shifts=N_SHIFTS, seed=0)
same = len(from_package) == len(recordings) and all(
    np.array_equal(mine["versions"][version][t], theirs["versions"][version][t])
    for mine, theirs in zip(recordings, from_package, strict=True)
    for version in mine["versions"]
    for t in TARGETS
)
print(f"nulls.shifted_recordings gives the same observed and shifted features: {same}")
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
    f"{np.sqrt(2 - 2 * sigma.sum()):.4f} (from the singular values), "
    f"{measures.procrustes_distance(x, y):.4f} (package)"
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
# differently they lay out the rest. We use $k = 10$.
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
same = np.array_equal(measures.neighbour_sets(x, K_MAX)[:, :K], neighbours_x)
print(f"  the first {K} of the layer's {K_MAX} nearest neighbours are its {K} nearest: {same}")

# %% [markdown]
# ## CKA, Procrustes and mutual kNN for every recording and layer
#
# These three measures need no fitting, so they are computed per recording, exactly like CKA
# in chapter 02, on the observed and on the shifted features. CKA of all layers with both
# features, observed and shifted, comes from one `cka_matrix` call per recording (chapter 02
# wrote that loop out). The neighbour sets of a layer do not depend on the features it is
# compared with, so they are found once per layer (and once per feature version);
# likewise `procrustes_similarity_pairs` centres and normalises each layer and each feature
# version once per recording. `kneighbors` lists each frame's neighbours from the nearest
# out, so one search for the `K_MAX` nearest serves every $k$ up to `K_MAX`: the first $k$
# columns (the check above). The sets are kept with each recording for exercise 1.

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
print(observed_means.round(3).to_string())

# %% [markdown]
# ## One null for every measure: the gap above chance
#
# The three measures live on different scales (CKA and the Procrustes similarity between 0
# and 1, the kNN overlap a share of neighbours), and each has its own chance level, which need
# not be the textbook one: smooth but unaligned signals give CKA above 0, and neighbours in
# time give kNN overlap above $k/(n-1)$. So every measure is reported as its **gap above the
# circular-shift null**, computed from the same shifted features for all of them, with
# chapter 02's `null_gap`: the observed value and the null are means over recordings. The
# tables also give the spread (standard deviation) of the observed values and of the null
# over layers (`agreement.gap_statistics`): where the null varies over layers about as much as
# the observed values do, part of a gap profile's shape is the null's noise.

# %%
scores = per_recording.groupby(["measure", "target", "layer", "version"], as_index=False)[
    "value"
].mean()
MEASURES = ["CKA", "Procrustes", KNN]
is_null = scores["version"] != "observed"
gaps = stats.null_gap(scores[~is_null], scores[is_null], by=["measure", "target", "layer"])
for label in TARGETS.values():
    table = agreement.gap_statistics(gaps, label, MEASURES)
    print(f"{label} (statistics over layers):\n{table.round(3).to_string()}\n")
chance = np.mean([K / (n - 1) for n in lengths])
null_means = gaps.groupby("measure")["null"].mean()
print(
    f"null levels, averaged over layers and features: CKA {null_means['CKA']:.3f} (vs 0), "
    f"Procrustes {null_means['Procrustes']:.3f}, {KNN} {null_means[KNN]:.3f} "
    f"(vs k/(n−1) = {chance:.3f})"
)

# %%
plots.show(plots.measures_with_nulls(scores, MEASURES, TARGETS.values()))

# %% [markdown]
# ## Do the measures agree?
#
# To compare the *shapes* of the layer profiles, each measure's gap is rescaled to $[0, 1]$
# across layers (0 at its lowest layer, 1 at its highest), separately for MFCC and EMA. The
# rank correlation (Spearman $\rho$) between two measures' gap profiles says whether they order
# the layers alike, whatever their scales. The next cells compute all of it in pandas and then
# check `tutorial_utils.agreement`, which chapter 06 uses for the same analysis.

# %%
gaps["rescaled gap"] = gaps.groupby(["measure", "target"])["gap"].transform(
    lambda g: (g - g.min()) / (g.max() - g.min())
)
plots.show(plots.rescaled_profiles(gaps, MEASURES, TARGETS.values()))

# %%
profiles = {
    label: gaps[gaps["target"] == label].pivot(index="layer", columns="measure", values="gap")[
        MEASURES
    ]
    for label in TARGETS.values()
}
rho = {label: wide.corr(method="spearman") for label, wide in profiles.items()}
for label, table in rho.items():
    print(f"Spearman ρ between layer profiles, {label}:\n{table.round(2).to_string()}\n")
top_layers = pd.DataFrame({label: wide.idxmax() for label, wide in profiles.items()})
print(f"layer with the largest gap above the null:\n{top_layers.to_string()}")

# %% [markdown]
# What holds across measures? The next cell checks three statements, each taken from chapter
# 02's CKA story, against every measure's gap profile: the features' gap is larger for MFCC
# than for EMA at most layers; the last two layers have the smallest gaps for MFCC; the same
# for EMA. Then `agreement.summary` turns the tables into sentences, so that they are true for
# whichever data you loaded.

# %%
late, rest = layers[-2:], layers[:-2]
mfcc_wins = (profiles["MFCC"] > profiles["EMA"]).sum()
claims = pd.DataFrame(
    {
        "MFCC gap > EMA gap at most layers": mfcc_wins > len(layers) / 2,
        f"layers {late[0]}–{late[1]} lowest (MFCC)": profiles["MFCC"].loc[late].max()
        < profiles["MFCC"].loc[rest].min(),
        f"layers {late[0]}–{late[1]} lowest (EMA)": profiles["EMA"].loc[late].max()
        < profiles["EMA"].loc[rest].min(),
    }
)
print(f"{claims.to_string()}\n")
package = agreement.layer_profiles(gaps, MEASURES, TARGETS.values())
same = (
    np.allclose(gaps["rescaled gap"], agreement.rescaled_gaps(gaps))
    and all(agreement.rank_agreement(package)[label].equals(rho[label]) for label in rho)
    and agreement.top_layers(package).equals(top_layers)
    and agreement.chapter02_claims(package).equals(claims)
)
print(f"tutorial_utils.agreement gives the same rescaled gaps, ρ, top layers and claims: {same}")
print("\n".join(agreement.summary(profiles, claims)))
print(f"(MFCC gap > EMA gap at this many of {len(layers)} layers: {mfcc_wins.to_dict()})")
if dataset.source == "sample":
    print(
        "On the sample, the layer profiles follow weights planted by the simulated encoder "
        "(next section): agreement here tests the measures, not wav2vec 2.0."
    )

# %% [markdown]
# ## On the sample: the known answers
#
# On the built-in sample the "model" is the simulated encoder of `tutorial_utils.sample`,
# which **plants** each source with a chosen weight per layer. Its articulatory source is the
# 12 EMA coordinates themselves, mapped by a fixed random projection into the 768 dimensions:
# the EMA is present in every layer, but as a small share of the layer's variance (the other
# sources and the noise take the rest). This is an answer built into the sample, not a finding
# about speech models; it lets us ask which measures follow the planted weight over layers.
# The rank correlations are given for the gap profiles and for the observed values alone (no
# null subtracted). On the real data there is no planted answer, and the cell says so.

# %%
if dataset.source == "sample":
    from tutorial_utils.sample import LAYER_PROFILE, ground_truth

    planted = ground_truth()
    squared = LAYER_PROFILE**2  # each term adds about w² of variance per dimension
    share = squared["articulatory"] / squared.sum(axis=1)
    print(
        f"planted articulatory share of a layer's variance (≈ w²/Σw²): "
        f"{share.min():.1%}–{share.max():.1%}"
    )
    recovery = agreement.planted_recovery(gaps, MEASURES, planted)
    print(f"Spearman ρ with the planted weight over layers:\n{recovery.round(2).to_string()}")
    print(agreement.recovery_sentence(recovery))
else:
    print(
        f"This is the real data (source '{dataset.source}'): no planted answer exists, and "
        "the agreement tables above are the result."
    )

# %%
elapsed = time.perf_counter() - started
print(f"This chapter's computations took {elapsed:.0f} s on this machine.")

# %% [markdown]
# ## Summary
#
# - Orthogonal Procrustes and mutual k-nearest neighbours compare a layer with the features
#   without fitting anything, recording by recording, like CKA; the printed tables give their
#   values for every layer.
# - Procrustes and linear CKA are two functions of the same singular values of $X^\top Y$; the
#   printed check shows both computed by hand. CKA squares them, so a few strong directions
#   dominate it; Procrustes adds them.
# - Mutual kNN is local, and time alone makes neighbours: the printed shares of neighbours
#   within ±2 frames and the kNN null above $k/(n-1)$ show how much.
# - Every measure has its own chance level, so each is reported as its gap above one shared
#   circular-shift null; the printed rank correlations and top layers say how far the
#   measures agree on the data you loaded, and the printed claims which of chapter 02's
#   statements survive every measure. Chapter 06 asks the same of a probe and of CCA.
# - On the sample the articulatory information is planted in a small subspace; the printed
#   comparison shows which measures follow that planted profile. This checks the measures;
#   it says nothing about wav2vec 2.0.
#
# ## Exercises
#
# 1. Change $k$ in the mutual kNN overlap to 5, 20 and 40. Does the EMA layer profile (gap
#    above the null) keep its shape? Print the top layer and the rank correlation with the
#    $k = 10$ profile.

# %% tags=["hide-input"]
# Solution 1
# The main analysis kept each recording's K_MAX nearest neighbours, sorted by distance: the k
# nearest are their first k columns, so every k up to K_MAX needs no new search.
K_VALUES = (5, 10, 20, 40)
rows = []
for rec in recordings:
    for layer, layer_sets in rec["layer_neighbours"].items():
        for k in (k for k in K_VALUES if k <= layer_sets.shape[1]):
            rows += [
                {
                    "k": k,
                    "layer": layer,
                    "version": v,
                    "value": measures.neighbour_overlap(
                        layer_sets[:, :k], rec["target_neighbours"][v, "ema"][:, :k]
                    ),
                }
                for v in rec["versions"]
            ]
by_k = pd.DataFrame(rows).groupby(["k", "version", "layer"])["value"].mean().unstack("version")
k_gaps = (by_k["observed"] - by_k.drop(columns="observed").mean(axis=1)).unstack("k")
print(k_gaps.round(3).to_string())
rho_with_k = k_gaps.corr(method="spearman")[K].drop(K)
for k in k_gaps.columns:
    print(
        f"k = {k:2d}: top layer {k_gaps[k].idxmax()}, Spearman ρ with the k = {K} profile: "
        f"{k_gaps[k].corr(k_gaps[K], method='spearman'):.2f}"
    )
print(
    f"Answer: across k = {', '.join(map(str, k_gaps.columns))} the top layer lies in "
    f"{k_gaps.idxmax().min()}–{k_gaps.idxmax().max()}, and the other profiles keep a rank "
    f"correlation of {rho_with_k.min():.2f}–{rho_with_k.max():.2f} with k = {K}."
)
