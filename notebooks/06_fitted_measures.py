# %% [markdown]
# # Do the conclusions survive another similarity measure? II: probes and CCA
#
# ## Overview
#
# Chapter 05 put two measures that need no fitting next to CKA. This chapter adds two that
# are *fitted*: they learn a map between the two spaces on some frames, so they must be scored
# on others, and how they are scored decides what they mean {cite:p}`ding2021grounding`:
#
# 1. **linear predictivity** (probing): ridge regression from a layer to the features,
#    scored on held-out recordings, at every layer; at one layer also the other way round;
# 2. **CCA**: SVCCA {cite:p}`raghu2017svcca` fitted on some recordings and evaluated on
#    others, printed next to its meaningless in-sample value;
# 3. chapter 05's **null and agreement analysis** for the fitted measures and CKA, now done by
#    `tutorial_utils.agreement`: do they rank the layers alike, and which of chapter 02's
#    statements survive them?
#
# Every conclusion below is printed from the numbers of the data you loaded.
#
# ## Prerequisites
#
# Chapter 05 (the shared circular-shift null, the gap above it and the agreement analysis)
# and chapter 02. Some familiarity with linear regression and cross-validation helps.

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
from sklearn.model_selection import GroupKFold

import tutorial_utils
from tutorial_utils import (
    agreement,
    cka_matrix,
    frames,
    load_dataset,
    measures,
    notice,
    nulls,
    plots,
    stats,
)

print("tutorial_utils", tutorial_utils.__version__)
started = time.perf_counter()

# %%
dataset = load_dataset()
print(notice.data_line(dataset))

# %% [markdown]
# ## The recordings, the null and CKA, as in chapter 05
#
# `nulls.shifted_recordings` is chapter 05's loop: for every recording, the hidden states of
# each layer and its MFCC and EMA frames on the model's 20 ms grid, observed and rolled in
# time together by one random offset of at least 10% of the recording, with the same seed. So
# this chapter's null is chapter 05's, and the fitted measures face the same shifted features
# as CKA. CKA of every layer with both versions of the features (one `cka_matrix` call per
# recording) is the reference the fitted measures are compared with.

# %%
TARGETS = {"mfcc": "MFCC", "ema": "EMA"}
N_SHIFTS = 1
recordings = nulls.shifted_recordings(dataset, list(TARGETS), n_shifts=N_SHIFTS, seed=0)
layers = dataset.layers
lengths = np.array([len(r["versions"]["observed"]["ema"]) for r in recordings])
first = recordings[0]
versions = list(first["versions"])
print(
    f"{len(recordings)} recordings from {len(dataset.participants)} speakers; "
    f"{lengths.sum()} frames in all, {lengths.min()}–{lengths.max()} per recording; "
    f"versions of the features: {', '.join(versions)}"
)


rows = []
for rec in recordings:
    target_arrays = {(v, t): rec["versions"][v][t] for v in versions for t in TARGETS}
    cka_table = cka_matrix(rec["layers"], target_arrays)  # columns: (version, target)
    rows += [
        agreement.score_row(layer, TARGETS[t], version, "CKA", cka_table.at[layer, (version, t)])
        for layer in layers
        for version, t in target_arrays
    ]
per_recording = pd.DataFrame(rows)
print(
    "CKA, mean over recordings:\n"
    + per_recording.pivot_table(index="layer", columns=["target", "version"], values="value")
    .round(3)
    .to_string()
)

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
# Ridge fits each target column separately, so all feature versions can be stacked into one
# target matrix per layer (the package's tests check that stacking changes nothing):

# %%
FORWARD, BACKWARD = "ridge layer→features", "ridge features→layer"
blocks = list(target_pool)  # (version, target) in stacking order
block_edges = np.cumsum([target_pool[block].shape[1] for block in blocks])[:-1]
rows, forward_columns = [], {}
for layer in layers:
    stacked = np.hstack([target_pool[block] for block in blocks])
    scores = measures.ridge_scores(layer_pool[layer], stacked, groups, n_splits=N_SPLITS)
    for (version, t), block_scores in zip(blocks, np.split(scores, block_edges), strict=True):
        forward_columns[layer, version, t] = block_scores
        rows.append(agreement.score_row(layer, TARGETS[t], version, FORWARD, block_scores.mean()))
probing = pd.DataFrame(rows)
print(
    "held-out R², layer → features (mean over the 12 columns):\n"
    + probing.pivot_table(index="layer", columns=["target", "version"], values="value")
    .round(3)
    .to_string()
)

# %% [markdown]
# The probe can also run **backwards**, from the 12 feature columns to the layer's 768
# dimensions. The two directions answer different questions. *Layer → features* asks whether
# the features are linearly decodable from the layer; the layer may use only a small subspace
# for them and the probe will find it. *Features → layer* asks how much of the layer, averaged
# over all its dimensions, the features explain; everything else the layer encodes (content,
# speaker, noise) counts against it. A layer can score high in the first direction and low in
# the second. The backward probe fits 768 regressions (one per dimension, each with its own
# penalty) per layer, feature version and fold; at every layer it would take longer than the
# whole forward probe above. To keep the chapter fast we run it at the middle layer only and
# compare the two directions there, for the observed and the shifted features:

# %%
middle = layers[len(layers) // 2]
directions = pd.DataFrame(
    [
        {
            "target": TARGETS[t],
            "version": version,
            FORWARD: forward_columns[middle, version, t].mean(),
            BACKWARD: measures.ridge_predictivity(
                target_pool[version, t], layer_pool[middle], groups, n_splits=N_SPLITS
            ),
        }
        for version, t in blocks
    ]
).set_index(["target", "version"])
print(f"layer {middle}, held-out R² in both directions:\n{directions.round(3).to_string()}")
for label in TARGETS.values():
    observed_r2 = directions.loc[(label, versions[0])]
    print(
        f"{label}: layer→features R² {observed_r2[FORWARD]:.2f}, features→layer R² "
        f"{observed_r2[BACKWARD]:.2f} (the mean over the layer's "
        f"{layer_pool[middle].shape[1]} dimensions)"
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
    [
        agreement.score_row(layer, TARGETS[t], version, CCA, value)
        for (layer, (version, t)), value in values.items()
    ]
)
print(f"{cca_dims} components per layer")
print(cca.pivot_table(index="layer", columns=["target", "version"], values="value").round(3))

# %% [markdown]
# ## One null for every measure, and do the measures agree?
#
# As in chapter 05, every measure is reported as its **gap above the circular-shift null**:
# a probe that fits noise scores below 0 held out, and CKA of unaligned but smooth signals
# lies above 0, so their raw values are not comparable. For CKA the observed value and the
# null are means over recordings; for the two fitted measures they come from the pooled,
# cross-validated fit. `tutorial_utils.agreement` then does chapter 05's analysis: the
# statistics over layers, the rescaled gap profiles, their rank correlations (Spearman
# $\rho$), the top layers and chapter 02's three statements.

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
MEASURES = ["CKA", FORWARD, CCA]
is_null = scores["version"] != "observed"
gaps = stats.null_gap(scores[~is_null], scores[is_null], by=["measure", "target", "layer"])
for label in TARGETS.values():
    table = agreement.gap_statistics(gaps, label, MEASURES)
    print(f"{label} (statistics over layers):\n{table.round(3).to_string()}\n")
null_means = gaps.groupby("measure")["null"].mean()
print(
    f"null levels, averaged over layers and features: CKA {null_means['CKA']:.3f} (vs 0), "
    f"{FORWARD} R² {null_means[FORWARD]:.3f} (vs 0), {CCA} {null_means[CCA]:.3f} (vs 0); "
    "a negative null R² makes the R² gap larger than the R² itself"
)

# %%
plots.show(plots.measures_with_nulls(scores, MEASURES, TARGETS.values()))

# %%
gaps["rescaled gap"] = agreement.rescaled_gaps(gaps)
plots.show(plots.rescaled_profiles(gaps, MEASURES, TARGETS.values()))

# %%
profiles = agreement.layer_profiles(gaps, MEASURES, TARGETS.values())
for label, rho in agreement.rank_agreement(profiles).items():
    print(f"Spearman ρ between layer profiles, {label}:\n{rho.round(2).to_string()}\n")
print(f"layer with the largest gap above the null:\n{agreement.top_layers(profiles)}\n")
claims = agreement.chapter02_claims(profiles)
print(f"{claims.to_string()}\n")
print("\n".join(agreement.summary(profiles, claims)))
if dataset.source == "sample":
    print(
        "On the sample, the layer profiles follow weights planted by the simulated encoder "
        "(next section): agreement here tests the measures, not wav2vec 2.0."
    )

# %% [markdown]
# ## On the sample: the known answers
#
# As chapter 05 explained, the sample's simulated encoder **plants** the 12 EMA coordinates in
# every layer through a fixed random projection, as a small share of the layer's variance and
# with a chosen weight per layer. That is an answer built into the sample, not a finding about
# speech models. Here it asks a sharper question than in chapter 05: a probe can *find* a
# linear subspace whatever its share of the layer's variance, while CKA weighs directions by
# their variance. The cell prints both at the middle layer, and how closely each measure
# follows the planted weight over layers. On the real data there is no planted answer, and
# the cell says so.

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
# - A probe (ridge regression) and held-out SVCCA compare a layer with the features by
#   fitting a map between them, so both are scored on recordings they were not fitted to;
#   the printed tables give their values for every layer.
# - Held-out recordings, not held-out frames: the printed folds keep every recording on one
#   side, and the penalty is chosen on the training recordings only.
# - In-sample CCA with hundreds of dimensions and a few hundred frames reaches high values
#   even for features that are not aligned with the layer (the printed shifted rows); only
#   held-out canonical correlations separate aligned from unaligned features.
# - Probing in the two directions answers two questions (is the feature decodable from the
#   layer; how much of the layer the feature explains), and the printed values at the middle
#   layer show how far apart the answers can be.
# - Each measure is reported as its gap above the same null as in chapter 05; the printed
#   rank correlations, top layers and claims say how far the fitted measures and CKA agree on
#   the data you loaded. A statement that holds for CKA but not for a probe is a statement
#   about CKA's weighting, not about the layer.
# - On the sample the articulatory information is planted in a small subspace; the printed
#   comparison shows which measures recover that planted profile. This checks the measures;
#   it says nothing about wav2vec 2.0.
#
# ## Exercises
#
# 1. Probe with only the tongue sensors (`TR`, `TB`, `TT`) and only the lip and jaw sensors.
#    Which group is better predicted from the layers, and at which layer? (Hint: ridge fits
#    each column separately, so `forward_columns` already holds the per-column scores;
#    `tutorial_utils.frames.EMA_COLUMNS` gives the column order. On the real data `_Y` is
#    the lateral axis.)
# 2. Compare in-sample and held-out SVCCA (99% variance) for the middle layer and EMA as the
#    number of frames grows (use every 12th, 6th and 3rd frame). What happens to the gap
#    between the two, and why?

# %% tags=["hide-input"]
# Solution 1

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
# Solution 2
x_all = np.concatenate([r["layers"][middle] for r in recordings]).astype(np.float64)
y_all = np.concatenate([r["versions"]["observed"]["ema"] for r in recordings]).astype(np.float64)
all_groups = np.repeat(np.arange(len(recordings)), lengths)
rows = []
for step in (12, 6, 3):
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
