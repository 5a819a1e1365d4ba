# %% [markdown]
# # Do the conclusions survive another similarity measure?
#
# ## Overview
#
# Chapter 02 described each layer by one number per feature space: its linear CKA with the
# MFCCs and with the EMA. CKA is one lens among many, and the literature on representational
# similarity shows that the lens matters: global measures such as CKA and local neighbourhood
# measures can disagree, and CCA-type results depend on whether they are scored on held-out
# data {cite:p}`ding2021grounding`. This chapter puts five other measures next to CKA, for
# every layer and against both feature spaces:
#
# 1. **linear predictivity** (probing): ridge regression from a layer to the features and
#    back, scored on held-out recordings;
# 2. **CCA**: SVCCA {cite:p}`raghu2017svcca` fitted on some recordings and evaluated on
#    others, printed next to its meaningless in-sample value;
# 3. **orthogonal Procrustes**: how well one centred point cloud can be rotated onto the
#    other {cite:p}`schonemann1966procrustes,williams2021shape`, and its relation to CKA;
# 4. **mutual k-nearest neighbours**: do the two spaces agree on which frames are *close*
#    {cite:p}`huh2024platonic`?
# 5. **one temporal null for all of them**, so that every measure is reported as its gap above
#    chance, and an agreement table: do the measures rank the layers alike?
#
# Every conclusion below is printed from the numbers of the data you loaded.
#
# ## Prerequisites
#
# Chapter 02 (per-recording CKA, the circular-shift null and the gap to it). Chapter 03 is not
# needed. Some familiarity with linear regression and cross-validation helps.

# %%
# Setup: installs the tutorial package when it is missing (Colab, a fresh environment). pip adds
# only what is missing and upgrades nothing. Locally: `pip install -e .` or `make lab` first.
REPO_URL = "https://github.com/speech-interpretability/speech-cka-tutorial"
import importlib
import json
import subprocess
import sys

try:
    import tutorial_utils  # noqa: F401
except ImportError:
    pip = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--report", "-",
         f"speech-cka-tutorial @ git+{REPO_URL}"],
        capture_output=True, text=True,
    )
    if pip.returncode != 0:
        raise RuntimeError(f"Installing the tutorial package failed:\n{pip.stderr}") from None
    added = [f"{p['metadata']['name']} {p['metadata']['version']}"
             for p in json.loads(pip.stdout)["install"]]
    print("Installed:", ", ".join(added))
    importlib.invalidate_caches()
    import tutorial_utils  # noqa: F401

import time

import numpy as np
import pandas as pd
import seaborn as sns
from scipy.linalg import orthogonal_procrustes
from sklearn.model_selection import GroupKFold

from tutorial_utils import (
    cka_matrix,
    feature_space_linear_cka,
    frames,
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
# over all recordings' shifts (`N_SHIFTS` sets how many per recording).

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


def tidy_row(layer, t, version, measure, value, **extra):
    """One row of this chapter's tidy tables."""
    row = {"layer": layer, "target": TARGETS[t], "version": version, "measure": measure}
    return row | extra | {"value": float(value)}


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

# %% [markdown]
# ## CKA, Procrustes and mutual kNN for every recording and layer
#
# These three measures need no fitting, so they are computed per recording, exactly like CKA
# in chapter 02, on the observed and on the shifted features. CKA of all layers with both
# features, observed and shifted, comes from one `cka_matrix` call per recording (chapter 02
# wrote that loop out). The neighbour sets of a layer do not depend on the features it is
# compared with, so they are found once per layer; likewise `procrustes_similarity_pairs`
# centres and normalises each layer and each feature version once per recording.

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
    target_neighbours = {
        key: measures.neighbour_sets(arrays, K) for key, arrays in target_arrays.items()
    }
    for layer, x_layer in rec["layers"].items():
        layer_neighbours = measures.neighbour_sets(x_layer, K)
        for version, t in target_arrays:
            values = {
                "CKA": cka_table.at[layer, (version, t)],
                "Procrustes": procrustes[layer, (version, t)],
                KNN: measures.neighbour_overlap(layer_neighbours, target_neighbours[version, t]),
            }
            rows += [
                tidy_row(layer, t, version, m, v, filename=rec["filename"])
                for m, v in values.items()
            ]
per_recording = pd.DataFrame(rows)
observed_means = per_recording[per_recording["version"] == "observed"].pivot_table(
    index="layer", columns=["target", "measure"], values="value"
)
print(observed_means.round(3).to_string())

# %% [markdown]
# ## Linear predictivity: probing with held-out recordings
#
# A probe asks a different question: can the features be *read out* of the layer by a linear
# map? We fit ridge regression from the layer's 768 dimensions to the 12 feature columns and
# score it on frames it has not seen. Two choices make this honest:
#
# - **Held-out recordings, not held-out frames.** Neighbouring frames are nearly identical, so
#   a random split of frames would test the probe on near-copies of its training data.
#   `GroupKFold` with the recording as group keeps every recording entirely on one side.
# - **The penalty is chosen on the training recordings only**, by `RidgeCV`'s efficient
#   leave-one-out cross-validation there (one penalty per target column). Leaving out one
#   frame at a time may favour too weak a penalty, because the neighbouring frames help; that
#   can cost held-out accuracy, but it cannot leak the test recordings into the score
#   (`measures.ridge_scores(..., inner_splits=k)` chooses by recordings instead, more slowly).
#
# The score is the held-out $R^2$ of each feature column (1: perfect; 0: no better than the
# test recordings' mean; negative: worse), averaged over columns and folds. To keep the
# chapter fast, the fitted measures use one frame in three (neighbouring frames carry little
# extra information) and three folds:

# %%
STEP = 3
N_SPLITS = min(3, len(recordings))


def pool_frames(arrays):
    """Every STEP-th frame of each recording's array, stacked in recording order."""
    return np.concatenate([np.asarray(array, dtype=np.float64)[::STEP] for array in arrays])


groups = pool_frames([np.full(n, i) for i, n in enumerate(lengths)]).astype(int)
layer_pool = {layer: pool_frames([r["layers"][layer] for r in recordings]) for layer in layers}
versions = list(first["versions"])
target_pool = {
    (version, t): pool_frames([r["versions"][version][t] for r in recordings])
    for version in versions
    for t in TARGETS
}
print(
    f"{len(groups)} pooled frames (one in {STEP} of each recording's frames, {STEP * 20} ms apart)"
)
folds = list(GroupKFold(n_splits=N_SPLITS).split(groups, groups=groups))
for fold, (train, test) in enumerate(folds):
    held_out = [recordings[i]["filename"] for i in np.unique(groups[test])]
    print(
        f"fold {fold}: train {len(train)} frames of {len(set(groups[train]))} recordings, "
        f"test {len(test)} frames of {len(held_out)} recordings; recordings on both sides: "
        f"{len(set(groups[train]) & set(groups[test]))}; first test recording {held_out[0]}"
    )

# %% [markdown]
# The probe also runs **backwards**, from the 12 feature columns to the layer's 768
# dimensions. The two directions answer different questions. *Layer → features* asks whether
# the features are linearly decodable from the layer; the layer may use only a small subspace
# for them and the probe will find it. *Features → layer* asks how much of the layer, averaged
# over all its dimensions, the features explain; everything else the layer encodes (content,
# speaker, noise) counts against it. A layer can score high in the first direction and low in
# the second.
#
# Ridge fits each target column separately, so all feature versions can be stacked into one
# target matrix per layer (the package's tests check that stacking changes nothing):

# %%
FORWARD, BACKWARD = "ridge layer→features", "ridge features→layer"
blocks = list(target_pool)  # (version, target) in stacking order
rows, forward_columns = [], {}
for layer in layers:
    stacked = np.hstack([target_pool[block] for block in blocks])
    scores = measures.ridge_scores(layer_pool[layer], stacked, groups, n_splits=N_SPLITS)
    per_block = np.split(scores, np.cumsum([target_pool[b].shape[1] for b in blocks])[:-1])
    for (version, t), block_scores in zip(blocks, per_block, strict=True):
        forward_columns[layer, version, t] = block_scores
        rows.append(tidy_row(layer, t, version, FORWARD, block_scores.mean()))
        backward = measures.ridge_predictivity(
            target_pool[version, t], layer_pool[layer], groups, n_splits=N_SPLITS
        )
        rows.append(tidy_row(layer, t, version, BACKWARD, backward))
probing = pd.DataFrame(rows)
print(
    probing[probing["version"] == "observed"]
    .pivot_table(index="layer", columns=["target", "measure"], values="value")
    .round(3)
    .to_string()
)

# %%
for label in TARGETS.values():
    part = probing[(probing["version"] == "observed") & (probing["target"] == label)]
    by = part.pivot_table(index="layer", columns="measure", values="value")
    print(
        f"{label}: layer→features R² {by[FORWARD].min():.2f}–{by[FORWARD].max():.2f}; "
        f"features→layer R² {by[BACKWARD].min():.2f}–{by[BACKWARD].max():.2f} "
        f"(mean over the layer's {layer_pool[layers[0]].shape[1]} dimensions)"
    )

# %% [markdown]
# ## CCA: in-sample numbers mean nothing here
#
# CCA finds pairs of directions, one in each space, whose projections are maximally
# correlated. SVCCA first reduces each space to the principal components that keep 99% of its
# variance and then runs CCA {cite:p}`raghu2017svcca`. With hundreds of kept dimensions and a
# few hundred frames, CCA can find directions that correlate strongly *on the frames it was
# fitted to* whether or not the spaces are related. A direct test: the circularly shifted
# features are not aligned with the layer at all, so whatever CCA reaches on them is
# overfitting. Compare them with the observed features, in sample and on held-out
# recordings:

# %%
middle = layers[len(layers) // 2]
n_train = min(len(train) for train, _ in folds)
kept = measures.svcca_dimensions(layer_pool[middle][folds[0][0]])  # PCA(0.99)'s n_components_
print(
    f"layer {middle}: 99% of the variance needs {kept} components; "
    f"a training fold has {n_train} frames"
)
# The layer's PCA does not depend on the features it is compared with: the *_pairs functions
# fit it once (per fold) for all four feature blocks, with the values of svcca / heldout_cca.
compared = {(version, t): target_pool[version, t] for t in TARGETS for version in versions[:2]}
in_sample = measures.svcca_pairs({middle: layer_pool[middle]}, compared, dims=0.99)
held_out = measures.heldout_cca_pairs(
    {middle: layer_pool[middle]}, compared, groups, n_splits=N_SPLITS, dims=0.99
)
in_vs_out = pd.DataFrame(
    [
        {
            "target": TARGETS[t],
            "version": version,
            "in-sample": in_sample[middle, (version, t)],
            "held-out": held_out[middle, (version, t)],
        }
        for version, t in compared
    ]
).set_index(["target", "version"])
print(in_vs_out.round(3).to_string())
unaligned = in_vs_out.xs(versions[1], level="version")
print(
    f"features that are not aligned with the layer reach {unaligned['in-sample'].min():.2f}–"
    f"{unaligned['in-sample'].max():.2f} in sample and {unaligned['held-out'].min():.2f}–"
    f"{unaligned['held-out'].max():.2f} held out"
)

# %% [markdown]
# Everything the shifted features reach in sample is overfitting: it measures how many free
# directions CCA had, not the layer. Held out, an unaligned pair of spaces should score near 0
# and only real alignment survives. For the layer profiles we therefore fit the canonical
# directions on the training recordings and report the mean held-out correlation of the
# canonical pairs. To keep the chapter fast, each layer is reduced to fewer components than
# 99% would keep: one for every ten frames of the smallest training fold (the features keep
# all their components). A layer's PCA does not depend on the features it is compared with,
# so `heldout_cca_pairs` fits it once per fold and reuses it for every feature version (and
# each feature block's PCA for every layer): the same values as one `heldout_cca` per pair.

# %%
CCA = "held-out SVCCA"
cca_dims = max(1, n_train // 10)
values = measures.heldout_cca_pairs(
    layer_pool, target_pool, groups, n_splits=N_SPLITS, dims=cca_dims
)
cca = pd.DataFrame(
    [tidy_row(layer, t, version, CCA, value) for (layer, (version, t)), value in values.items()]
)
print(f"{cca_dims} components per layer")
print(cca.pivot_table(index="layer", columns=["target", "version"], values="value").round(3))

# %% [markdown]
# ## One null for every measure: the gap above chance
#
# The six measures live on different scales (an $R^2$, a correlation, a share of neighbours,
# ...), and each has its own chance level, which need not be the textbook one: smooth but
# unaligned signals give CKA above 0, neighbours in time give kNN overlap above $k/(n-1)$,
# and an overfitted probe scores below 0. So every measure is reported as its **gap above the
# circular-shift null**, computed from the same shifted features for all of them, with
# chapter 02's `null_gap`. For the three per-recording measures the observed value and the
# null are means over recordings; for the three fitted measures they come from the pooled,
# cross-validated fit. The tables also give the spread (standard deviation) of the observed
# values and of the null over layers: where the null varies over layers about as much as the
# observed values do, part of a gap profile's shape is the null's noise.

# %%
scores = pd.concat(
    [
        per_recording.groupby(["measure", "target", "layer", "version"], as_index=False)[
            "value"
        ].mean(),
        probing,
        cca,
    ],
    ignore_index=True,
)
MEASURES = ["CKA", "Procrustes", KNN, FORWARD, BACKWARD, CCA]
is_null = scores["version"] != "observed"
gaps = stats.null_gap(scores[~is_null], scores[is_null], by=["measure", "target", "layer"])
for label in TARGETS.values():
    part = gaps[gaps["target"] == label]
    table = part.pivot(index="measure", columns="layer", values=["observed", "null"])
    summary = pd.DataFrame(
        {
            "observed: mean": table["observed"].mean(axis=1),
            "observed: sd": table["observed"].std(axis=1),
            "null: mean": table["null"].mean(axis=1),
            "null: sd": table["null"].std(axis=1),
            "smallest gap": part.groupby("measure")["gap"].min(),
            "largest gap": part.groupby("measure")["gap"].max(),
        }
    ).loc[MEASURES]
    print(f"{label} (statistics over layers):\n{summary.round(3).to_string()}\n")
chance = np.mean([K / (n - 1) for n in lengths])
null_means = gaps.groupby("measure")["null"].mean()
print(
    f"null levels, averaged over layers and features: CKA {null_means['CKA']:.3f} (vs 0), "
    f"{KNN} {null_means[KNN]:.3f} (vs k/(n−1) = {chance:.3f}), "
    f"{FORWARD} R² {null_means[FORWARD]:.3f} (vs 0); a negative null R² makes the R² gap "
    "larger than the R² itself"
)

# %%
long = scores.assign(kind=np.where(is_null, "null (circular shift)", "observed"))
grid = sns.relplot(
    data=long,
    x="layer",
    y="value",
    hue="target",
    hue_order=list(TARGETS.values()),
    style="kind",
    col="measure",
    col_order=MEASURES,
    col_wrap=3,
    kind="line",
    errorbar=None,
    height=2.6,
    aspect=1.3,
    facet_kws={"sharey": False},
)
grid.set_titles("{col_name}").set(xticks=layers[::2])
grid.figure.suptitle("Each measure on its own scale, with its circular-shift null", y=1.03)
plots.show(grid.figure)

# %% [markdown]
# ## Do the measures agree?
#
# To compare the *shapes* of the layer profiles, each measure's gap is rescaled to $[0, 1]$
# across layers (0 at its lowest layer, 1 at its highest), separately for MFCC and EMA. The
# rank correlation (Spearman $\rho$) between two measures' gap profiles says whether they order
# the layers alike, whatever their scales.

# %%
gaps["normalised gap"] = gaps.groupby(["measure", "target"])["gap"].transform(
    lambda g: (g - g.min()) / (g.max() - g.min())
)
grid = sns.relplot(
    data=gaps,
    x="layer",
    y="normalised gap",
    hue="measure",
    hue_order=MEASURES,
    style="measure",
    style_order=MEASURES,
    col="target",
    col_order=list(TARGETS.values()),
    kind="line",
    markers=True,
    dashes=False,
    height=3.4,
    aspect=1.3,
)
grid.set_titles("{col_name}").set(xticks=layers[::2])
grid.figure.suptitle("Layer profiles of six measures (gap above the null, rescaled)", y=1.04)
plots.show(grid.figure)

# %%
profiles = {
    label: gaps[gaps["target"] == label].pivot(index="layer", columns="measure", values="gap")[
        MEASURES
    ]
    for label in TARGETS.values()
}
agreement = {label: wide.corr(method="spearman") for label, wide in profiles.items()}
for label, rho in agreement.items():
    print(f"Spearman ρ between layer profiles, {label}:\n{rho.round(2).to_string()}\n")
top_layers = pd.DataFrame({label: wide.idxmax() for label, wide in profiles.items()})
print(f"layer with the largest gap above the null:\n{top_layers.to_string()}")

# %% [markdown]
# What holds across measures? The next cell turns the tables into sentences, so that they are
# true for whichever data you loaded. It checks three statements, each taken from chapter 02's
# CKA story, against every measure's gap profile: the features' gap is larger for MFCC than
# for EMA at most layers; the last two layers have the smallest gaps for MFCC; the same for
# EMA.

# %%
off_diagonal = ~np.eye(len(MEASURES), dtype=bool)
for label, rho in agreement.items():
    pairs = rho.where(np.triu(off_diagonal)).stack()
    low_pair = pairs.idxmin()
    tops = top_layers[label]
    where = (
        f"all {len(tops)} measures put their top layer at {tops.iloc[0]}"
        if tops.nunique() == 1
        else f"their top layers range over {tops.min()}–{tops.max()} (layer "
        f"{tops.value_counts().idxmax()} for {tops.value_counts().max()} of {len(tops)})"
    )
    print(
        f"{label}: the {len(pairs)} pairs of measures have ρ from {pairs.min():.2f} "
        f"({low_pair[0]} vs {low_pair[1]}) to {pairs.max():.2f}, median {pairs.median():.2f}; "
        f"{where}."
    )
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
print(f"\n{claims.to_string()}\n")
for claim, holds in claims.items():
    verdict = (
        f"holds for all {len(holds)} measures"
        if holds.all()
        else f"holds for {holds.sum()} of {len(holds)} measures "
        f"(not for: {', '.join(holds.index[~holds])})"
    )
    print(f"- '{claim}' {verdict}.")
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
# about speech models; it lets us ask which measures *find* a small linear subspace and follow
# its planted weight over layers. The rank correlations are given for the gap profiles and for
# the observed values alone (no null subtracted). On the real data there is no planted
# answer, and the cell says so.

# %%
if dataset.source == "sample":
    from tutorial_utils.sample import LAYER_PROFILE, ground_truth

    planted = ground_truth()
    squared = LAYER_PROFILE**2  # each term adds about w² of variance per dimension
    share = squared["articulatory"] / squared.sum(axis=1)
    observed = gaps.pivot_table(index="layer", columns=["target", "measure"], values="observed")
    print(
        f"planted articulatory share of a layer's variance (≈ w²/Σw²): "
        f"{share.min():.1%}–{share.max():.1%}; at layer {middle}: {share[middle]:.1%}"
    )
    print(
        f"at layer {middle}: layer→EMA held-out R² {observed['EMA', FORWARD][middle]:.2f}, "
        f"EMA CKA {observed['EMA', 'CKA'][middle]:.2f}; layer→MFCC R² "
        f"{observed['MFCC', FORWARD][middle]:.2f}, MFCC CKA {observed['MFCC', 'CKA'][middle]:.2f}"
    )
    recovery = pd.DataFrame(
        {
            "EMA gap vs articulatory": profiles["EMA"].corrwith(
                planted["articulatory"], method="spearman"
            ),
            "EMA observed vs articulatory": observed["EMA"][MEASURES].corrwith(
                planted["articulatory"], method="spearman"
            ),
            "MFCC gap vs acoustic": profiles["MFCC"].corrwith(
                planted["acoustic"], method="spearman"
            ),
        }
    )
    print(f"Spearman ρ with the planted weight over layers:\n{recovery.round(2).to_string()}")
    ema_rho = recovery["EMA gap vs articulatory"]
    print(
        f"The planted articulatory profile is followed most closely by the gap of "
        f"{ema_rho.idxmax()} (ρ = {ema_rho.max():.2f}) and least by that of {ema_rho.idxmin()} "
        f"(ρ = {ema_rho.min():.2f}; its observed values alone: "
        f"ρ = {recovery['EMA observed vs articulatory'][ema_rho.idxmin()]:.2f})."
    )
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
# - Probing (ridge regression, scored on held-out *recordings*), held-out SVCCA, orthogonal
#   Procrustes and mutual k-nearest neighbours all compare a layer with the features, each
#   from its own angle; the printed tables give their values for every layer.
# - In-sample CCA with hundreds of dimensions and a few hundred frames reaches high values
#   even for features that are not aligned with the layer (the printed shifted rows); only
#   held-out canonical correlations separate aligned from unaligned features.
# - Procrustes and linear CKA are two functions of the same singular values of $X^\top Y$; the
#   printed check shows both computed by hand.
# - Every measure has its own chance level, so each is reported as its gap above one shared
#   circular-shift null; the printed rank correlations and top layers say how far the
#   measures agree on the data you loaded, and the printed claims which of chapter 02's
#   statements survive every measure. A statement that holds for CKA but not for a probe is
#   a statement about CKA's weighting, not about the layer.
# - Probing in the two directions answers two questions (is the feature decodable from the
#   layer; how much of the layer the feature explains), and the printed ranges show how far
#   apart the answers can be.
# - On the sample the articulatory information is planted in a small subspace; the printed
#   comparison shows which measures recover that planted profile. This checks the measures;
#   it says nothing about wav2vec 2.0.
#
# ## Exercises
#
# 1. Change $k$ in the mutual kNN overlap to 5, 20 and 40. Does the EMA layer profile (gap
#    above the null) keep its shape? Print the top layer and the rank correlation with the
#    $k = 10$ profile.
# 2. Probe with only the tongue sensors (`TR`, `TB`, `TT`) and only the lip and jaw sensors.
#    Which group is better predicted from the layers, and at which layer? (Hint: ridge fits
#    each column separately, so `forward_columns` already holds the per-column scores;
#    `tutorial_utils.frames.EMA_COLUMNS` gives the column order. On the real data `_Y` is
#    the lateral axis.)
# 3. Compare in-sample and held-out SVCCA (99% variance) for the middle layer and EMA as the
#    number of frames grows (use every 8th, 4th, 2nd frame). What happens to the gap between
#    the two, and why?

# %% tags=["hide-input"]
# Solution 1
# kneighbors returns each row's neighbours sorted by distance, so the k nearest are the first
# k columns of the 40 nearest: one search per layer and feature version serves every k.
K_VALUES = (5, 10, 20, 40)
rows = []
for rec in recordings:
    k_max = min(max(K_VALUES), len(rec["versions"]["observed"]["ema"]) - 1)
    ema_sets = {v: measures.neighbour_sets(f["ema"], k_max) for v, f in rec["versions"].items()}
    for layer, x_layer in rec["layers"].items():
        layer_sets = measures.neighbour_sets(x_layer, k_max)
        for k in (k for k in K_VALUES if k <= k_max):
            rows += [
                {
                    "k": k,
                    "layer": layer,
                    "version": v,
                    "value": measures.neighbour_overlap(layer_sets[:, :k], found[:, :k]),
                }
                for v, found in ema_sets.items()
            ]
by_k = pd.DataFrame(rows).groupby(["k", "version", "layer"])["value"].mean().unstack("version")
k_gaps = (by_k["observed"] - by_k.drop(columns="observed").mean(axis=1)).unstack("k")
difference = np.abs(k_gaps[K] - profiles["EMA"][KNN]).max()
print(k_gaps.round(3).to_string())
print(f"(k = {K} from the sliced sets differs from the main analysis by at most {difference:.1e})")
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

# %% tags=["hide-input"]
# Solution 2

sensor_groups = {"tongue": ("TR", "TB", "TT"), "lips and jaw": ("UL", "LL", "JAW")}
rows = []
for layer in layers:
    null_r2 = np.mean([forward_columns[layer, v, "ema"] for v in versions[1:]], axis=0)
    for name, sensors in sensor_groups.items():
        chosen = np.array([column.split("_")[0] in sensors for column in frames.EMA_COLUMNS])
        rows.append(
            {
                "layer": layer,
                "sensors": name,
                "held-out R²": forward_columns[layer, "observed", "ema"][chosen].mean(),
                "null R²": null_r2[chosen].mean(),
            }
        )
sensor_table = pd.DataFrame(rows).pivot(index="layer", columns="sensors")
print(sensor_table.round(3).to_string())
for name in sensor_groups:
    r2 = sensor_table["held-out R²", name]
    print(
        f"{name}: best predicted at layer {r2.idxmax()} (R² {r2.max():.3f}); "
        f"mean over layers {r2.mean():.3f}"
    )
means = sensor_table["held-out R²"].mean()
better = (sensor_table["held-out R²", "tongue"] > sensor_table["held-out R²", "lips and jaw"]).sum()
print(
    f"Answer: {means.idxmax()} is better predicted on average ({means.max():.3f} vs "
    f"{means.min():.3f}); the tongue sensors score higher at {better} of {len(layers)} layers."
)

# %% tags=["hide-input"]
# Solution 3
x_all = np.concatenate([r["layers"][middle] for r in recordings]).astype(np.float64)
y_all = np.concatenate([r["versions"]["observed"]["ema"] for r in recordings]).astype(np.float64)
all_groups = np.repeat(np.arange(len(recordings)), lengths)
rows = []
for step in (8, 4, 2):
    x_s, y_s, g_s = x_all[::step], y_all[::step], all_groups[::step]
    rows.append(
        {
            "frames": len(x_s),
            "components (99%)": measures.svcca_dimensions(x_s, dims=0.99),
            "in-sample": measures.svcca(x_s, y_s, dims=0.99),
            "held-out": measures.heldout_cca(x_s, y_s, g_s, n_splits=N_SPLITS, dims=0.99),
        }
    )
growth = pd.DataFrame(rows).assign(difference=lambda t: t["in-sample"] - t["held-out"])
print(growth.round(3).to_string(index=False))
fewer, more = growth.iloc[0], growth.iloc[-1]
print(
    f"From {fewer['frames']:.0f} to {more['frames']:.0f} frames the in-sample value goes "
    f"{fewer['in-sample']:.3f} → {more['in-sample']:.3f} and the held-out value "
    f"{fewer['held-out']:.3f} → {more['held-out']:.3f}: the difference "
    f"{'shrinks' if more['difference'] < fewer['difference'] else 'does not shrink'} "
    f"({fewer['difference']:.3f} → {more['difference']:.3f}). With more frames per kept "
    "dimension CCA has less room to fit noise, so less of the in-sample value is overfitting."
)
