# %% [markdown]
# # Do the conclusions survive another similarity measure? II: probes and CCA
#
# ## Overview
#
# **Going further** chapter: about 34 minutes; not needed for the core path.
#
# Chapter 05 put two measures that need no fitting next to CKA. This chapter adds two that
# are *fitted*: they learn a map between the two spaces on some frames, so they must be scored
# on others, and how they are scored decides what they mean {cite:p}`ding2021grounding`:
#
# 1. **linear predictivity** (probing): ridge regression from a layer to the features, scored
#    on held-out sentences, at every layer; at one layer also the other way round;
# 2. **CCA**: SVCCA {cite:p}`raghu2017svcca` fitted on some sentences and evaluated on others,
#    next to its in-sample value;
# 3. chapter 05's **null and agreement analysis** for the fitted measures and CKA.
#
# ## Prerequisites
#
# Chapter 05 (the circular-shift null drawn many times, the agreement analysis) and chapter
# 02. Some familiarity with linear regression and cross-validation helps.

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
from sklearn.model_selection import GroupKFold

from tutorial_utils import (
    agreement,
    cka_matrix,
    frames,
    load_dataset,
    measures,
    notice,
    nulls,
    plots,
)
from tutorial_utils.dataset import sentence_id

# %%
dataset = load_dataset()
print(notice.data_line(dataset))

# %% [markdown]
# ## The recordings, the null and CKA, as in chapter 05
#
# `nulls.shifted_recordings` is chapter 05's loop: for every recording, the hidden states of
# each layer and its MFCC and EMA frames on the model's 20 ms grid, observed and rolled in
# time together by `N_SHIFTS` random offsets, with the same seed. So this chapter's null is
# chapter 05's, and the fitted measures face the same shifted features as CKA, the reference
# they are compared with.

# %%
TARGETS = {"mfcc": "MFCC", "ema": "EMA"}
N_SHIFTS = 20
print("computing MFCCs; a fresh runtime first compiles librosa's kernels (up to a minute)")
recordings = nulls.shifted_recordings(dataset, list(TARGETS), n_shifts=N_SHIFTS, seed=0)
layers = dataset.layers
lengths = np.array([len(r["versions"]["observed"]["ema"]) for r in recordings])
versions = list(recordings[0]["versions"])
print(
    f"{len(recordings)} recordings from {len(dataset.participants)} speakers; "
    f"{lengths.sum()} frames in all,\n{lengths.min()}–{lengths.max()} per recording; "
    f"versions of the features: observed and {N_SHIFTS} shifts"
)

rows = []
for rec in recordings:
    target_arrays = {(v, t): rec["versions"][v][t] for v in versions for t in TARGETS}
    cka_table = cka_matrix(rec["layers"], target_arrays)  # columns: (version, target)
    rows += [
        agreement.score_row(
            layer, TARGETS[t], v, "CKA", cka_table.at[layer, (v, t)], filename=rec["filename"]
        )
        for layer in layers
        for v, t in target_arrays
    ]
per_recording = pd.DataFrame(rows)


def observed_and_null(table):
    """Mean over recordings of the observed value, and the null's mean and 95th percentile."""
    means = table.groupby(["target", "layer", "version"])["value"].mean().unstack("version")
    shifts = means.drop(columns="observed")
    table = pd.DataFrame(
        {"observed": means["observed"], "null": shifts.mean(axis=1),
         "95th pct": shifts.quantile(0.95, axis=1)}
    ).unstack("target")  # fmt: skip
    return table.swaplevel(axis=1)[list(TARGETS.values())]


print(f"CKA, mean over recordings:\n{observed_and_null(per_recording).round(3).to_string()}")

# %% [markdown]
# ## Linear predictivity: probing with held-out sentences
#
# A probe asks a different question: can the features be *read out* of the layer by a linear
# map? We fit ridge regression from the layer's 768 dimensions to the 12 feature columns and
# score it on frames it has not seen. Three choices make this honest:
#
# - **Held-out sentences, not held-out frames or recordings.** Neighbouring frames are nearly
#   identical, so a random split of frames would test the probe on near-copies of its
#   training data. And both speakers read some of the same sentences: a test recording whose
#   sentence the other speaker read in training lets the probe recognise content it has seen.
#   `GroupKFold` with the *sentence* as group keeps every sentence on one side.
# - **The penalty is chosen on the training sentences only**, by `RidgeCV`'s efficient
#   leave-one-out cross-validation there (one penalty per target column).
# - **The score is the held-out $R^2$ of each recording** (1: perfect; 0: no better than the
#   recording's own mean), averaged over the 12 columns and then over recordings, so that a
#   bootstrap over recordings can give it an interval.
#
# The fitted measures use one frame in three (neighbouring frames carry little extra
# information) and three folds:

# %%
STEP = 3
N_SPLITS = 3


def pool_frames(arrays):
    """Every STEP-th frame of each recording's array, stacked in recording order."""
    return np.concatenate([np.asarray(array, dtype=np.float64)[::STEP] for array in arrays])


units = pool_frames([np.full(n, i) for i, n in enumerate(lengths)]).astype(int)
names = np.array([r["filename"] for r in recordings])
sentences = np.array([sentence_id(name) for name in names])[units]
layer_pool = {layer: pool_frames([r["layers"][layer] for r in recordings]) for layer in layers}
target_pool = {
    (version, t): pool_frames([r["versions"][version][t] for r in recordings])
    for version in versions
    for t in TARGETS
}
print(f"{len(units)} pooled frames (one in {STEP}, {STEP * 20} ms apart)")
for fold, (train, test) in enumerate(GroupKFold(N_SPLITS).split(units, groups=sentences)):
    print(
        f"fold {fold}: test {len(set(units[test]))} recordings of {len(set(sentences[test]))} "
        f"sentences; sentences also in training: "
        f"{len(set(sentences[train]) & set(sentences[test]))}"
    )

# %% [markdown]
# Ridge fits each target column separately, so all feature versions can be stacked into one
# target matrix per layer:

# %%
FORWARD, BACKWARD = "ridge layer→features", "ridge features→layer"
blocks = list(target_pool)  # (version, target) in stacking order
block_edges = np.cumsum([target_pool[block].shape[1] for block in blocks])[:-1]
rows, forward_columns = [], {}
for layer in layers:
    stacked = np.hstack([target_pool[block] for block in blocks])
    scores = measures.ridge_scores(
        layer_pool[layer], stacked, sentences, n_splits=N_SPLITS, units=units
    )  # (recordings, columns)
    for (v, t), block in zip(blocks, np.split(scores, block_edges, axis=1), strict=True):
        forward_columns[layer, v, t] = block
        rows += [
            agreement.score_row(layer, TARGETS[t], v, FORWARD, r2, filename=name)
            for name, r2 in zip(names, block.mean(axis=1), strict=True)
        ]
probing = pd.DataFrame(rows)
print(f"held-out R², layer → features:\n{observed_and_null(probing).round(3).to_string()}")

# %% [markdown]
# Grouping by recording instead would leave sentences on both sides of a fold. The last
# layer's EMA probe, scored both ways:

# %%
last, ema = layers[-1], target_pool["observed", "ema"]
by = {
    "sentence": measures.ridge_predictivity(layer_pool[last], ema, sentences, units=units),
    "recording": measures.ridge_predictivity(layer_pool[last], ema, units, units=units),
}
print(
    f"layer {last}, layer→EMA held-out R²: {by['sentence'].mean():.3f} grouped by sentence, "
    f"{by['recording'].mean():.3f} by recording"
)

# %% [markdown]
# The probe can also run **backwards**, from the 12 feature columns to the layer's 768
# dimensions. *Layer → features* asks whether the features are linearly decodable from the
# layer; the layer may use only a small subspace for them and the probe will find it.
# *Features → layer* asks how much of the layer, averaged over all its dimensions, the
# features explain; everything else the layer encodes (content, speaker, noise) counts
# against it. We compare the two directions at the middle layer, for the observed features:

# %%
middle = layers[len(layers) // 2]
for t, label in TARGETS.items():
    forward = forward_columns[middle, "observed", t].mean()
    backward = measures.ridge_predictivity(
        target_pool["observed", t], layer_pool[middle], sentences, units=units
    ).mean()
    print(
        f"layer {middle}, {label}: layer→features R² {forward:.2f}, features→layer R² "
        f"{backward:.2f}\n  (the mean over the layer's {layer_pool[middle].shape[1]} dimensions)"
    )

# %% [markdown]
# ## CCA: in sample, even unaligned features score high
#
# CCA finds pairs of directions, one in each space, whose projections are maximally
# correlated. SVCCA first reduces each space to the principal components that keep 99% of its
# variance and then runs CCA {cite:p}`raghu2017svcca`. With hundreds of kept dimensions and a
# few hundred frames, CCA can find directions that correlate strongly *on the frames it was
# fitted to* whether or not the spaces are related. A direct test: the circularly shifted
# features are not aligned with the layer at all. Compare them with the observed features,
# in sample and on held-out sentences:

# %%
folds = list(GroupKFold(N_SPLITS).split(units, groups=sentences))
n_train = min(len(train) for train, _ in folds)
kept = measures.svcca_dimensions(layer_pool[middle][folds[0][0]])
print(f"layer {middle}: 99% of the variance needs {kept} components; a fold trains on {n_train}")
x_middle = {middle: layer_pool[middle]}
in_sample = measures.svcca_pairs(x_middle, target_pool, dims=0.99)
held_out = measures.heldout_cca_pairs(x_middle, target_pool, sentences, dims=0.99)
in_vs_out = pd.DataFrame(
    [
        {"target": TARGETS[t], "features": "observed" if v == "observed" else "shifted",
         "in-sample": in_sample[middle, (v, t)], "held-out": held_out[middle, (v, t)]}
        for v, t in blocks
    ]
).groupby(["target", "features"]).mean()  # fmt: skip
print(f"{in_vs_out.round(3).to_string()}\n(shifted: the mean over the {N_SHIFTS} shifts)")

# %% [markdown]
# In sample, the shifted features reach values that say how many free directions CCA had,
# not how aligned the spaces are; observed features still score higher, but the difference
# is far smaller than held out, where unaligned spaces score near 0. For the layer profiles
# we therefore fit the canonical directions on the training sentences and report, per
# recording, the mean held-out correlation of the canonical pairs. Each layer is reduced to
# fewer components than 99% would keep: one for every ten frames of the smallest training
# fold (the features keep all theirs).

# %%
CCA = "held-out SVCCA"
cca_dims = max(1, n_train // 10)
values = measures.heldout_cca_pairs(layer_pool, target_pool, sentences, dims=cca_dims, units=units)
cca = pd.DataFrame(
    [
        agreement.score_row(layer, TARGETS[t], v, CCA, r, filename=name)
        for (layer, (v, t)), per_unit in values.items()
        for name, r in zip(names, per_unit, strict=True)
    ]
)
print(f"{cca_dims} components per layer\n{observed_and_null(cca).round(3).to_string()}")

# %% [markdown]
# ## The null, and do the measures agree?
#
# CKA is reported, as in chapter 05, as its gap above the null's mean: CKA of unaligned but
# smooth signals lies above 0. A held-out score needs no such correction: it is already
# measured on data the fit has not seen. Its null is a **threshold** instead: is the observed
# score above the 95th percentile of the shifts' scores? So the layer profile of the two
# fitted measures is the held-out score itself.

# %%
MEASURES = ["CKA", FORWARD, CCA]
per_recording = pd.concat([per_recording, probing, cca], ignore_index=True)
scores = per_recording.groupby(["measure", "target", "layer", "version"], as_index=False)[
    "value"
].mean()
gaps = agreement.null_summary(scores, held_out=[FORWARD, CCA])
above = gaps.pivot_table(index="measure", columns="target", values="above", aggfunc="sum")
print(f"layers (of {len(layers)}) above the shifts' 95th percentile:\n{above.loc[MEASURES]}")
spread = gaps.pivot_table(index="measure", columns="target", values="null sd")
print(f"the null's sd over shifts, mean over layers:\n{spread.loc[MEASURES].round(3)}")

# %% mystnb={"image": {"alt": "CKA, ridge and SVCCA per layer beside their nulls"}}
plots.show(plots.measures_with_nulls(scores, MEASURES, TARGETS.values()))

# %% mystnb={"image": {"alt": "Layer profiles of the three measures rescaled to 0-1"}}
gaps["rescaled gap"] = gaps.groupby(["measure", "target"])["profile"].transform(
    lambda g: (g - g.min()) / (g.max() - g.min())
)
plots.show(plots.rescaled_profiles(gaps, MEASURES, TARGETS.values()))

# %% [markdown]
# As in chapter 05: Spearman $\rho$ between the profiles over all layers and over layers 0–10,
# and each measure's peak layer, with bootstrap intervals over recordings.

# %%
SHORT = {FORWARD: "ridge", CCA: "SVCCA"}
by_recording = agreement.recording_profiles(per_recording, held_out=[FORWARD, CCA])
early = layers[:-2]
sets = {f"all {len(layers)} layers": layers, f"layers {early[0]}–{early[-1]}": early}
intervals = agreement.rank_intervals(by_recording.replace(SHORT), sets)
for label, part in intervals.groupby(level="target", sort=False):
    print(f"{label}: Spearman ρ [95% interval]  " + "   ".join(sets))
    for pair, row in part.droplevel("target").iterrows():
        cells = [f"{row[n, 'ρ']:5.2f} [{row[n, 'low']:5.2f}, {row[n, 'high']:5.2f}]" for n in sets]
        print(f"  {pair:<22}" + "   ".join(cells))
print("\n".join(agreement.summary(intervals)))
print(agreement.peak_summary(by_recording.replace(SHORT), n_resamples=1000).to_string())

# %% [markdown]
# ## On the sample: checking the probe on planted data
#
# The sample's simulated encoder plants the 12 EMA coordinates in every layer, as a small
# share of the layer's variance, with a chosen weight per layer. This checks the *method*, not
# a finding: a probe can find a linear subspace whatever its share of the layer's variance,
# while CKA weighs directions by their variance. Does each profile follow the planted weight
# over layers (Spearman $\rho$)? The fitted measures' profiles are their held-out scores, so
# they do not depend on which shifts the null drew. On the real data there is no planted
# answer, and the cell says so.

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
# - A probe (ridge regression) and held-out SVCCA compare a layer with the features by
#   fitting a map between them, so both are scored on sentences they were not fitted to:
#   when speakers share sentences, holding out recordings is not enough.
# - In-sample CCA with hundreds of dimensions and a few hundred frames reaches high values
#   even for features that are not aligned with the layer; held out, those score near 0.
# - Probing in the two directions answers two questions (is the feature decodable from the
#   layer; how much of the layer the feature explains), and the printed values at the middle
#   layer show how far apart the answers can be.
# - A held-out score's null is a threshold (the shifts' 95th percentile), not an offset; CKA
#   is reported as its gap above the null's mean. The printed intervals say how far the
#   measures agree on the order of the layers, and how sure each peak layer is.
#
# ## Exercises
#
# 1. Probe with only the tongue sensors (`TR`, `TB`, `TT`) and only the lip and jaw sensors.
#    Which group is better predicted from the layers, and at which layer? (Hint: ridge fits
#    each column separately, so `forward_columns` already holds the per-recording, per-column
#    scores; `tutorial_utils.frames.EMA_COLUMNS` gives the column order. On the real data `_Y`
#    is the lateral axis.)
# 2. Compare in-sample and held-out SVCCA (99% variance) for the middle layer and EMA as the
#    number of frames grows (use every 12th, 6th and 3rd frame). What happens to the gap
#    between the two, and why?

# %% tags=["hide-cell"]
# Solution 1
sensor_groups = {"tongue": ("TR", "TB", "TT"), "lips and jaw": ("UL", "LL", "JAW")}
rows = []  # per recording: the mean R² over the chosen columns
for name, sensors in sensor_groups.items():
    chosen = np.array([column.split("_")[0] in sensors for column in frames.EMA_COLUMNS])
    for layer in layers:
        r2 = forward_columns[layer, "observed", "ema"][:, chosen].mean(axis=1)
        rows += [
            {"measure": name, "target": "EMA", "layer": layer, "filename": f, "value": value}
            for f, value in zip(names, r2, strict=True)
        ]
sensor_r2 = pd.DataFrame(rows)
print(sensor_r2.pivot_table(index="layer", columns="measure", values="value").round(3))
print(agreement.peak_summary(sensor_r2, n_resamples=1000).droplevel("target").to_string())
means = sensor_r2.groupby("measure")["value"].mean()
print(
    f"Answer: {means.idxmax()} is better predicted on average ({means.max():.3f} vs "
    f"{means.min():.3f});\nsee the near-peak layers for where."
)

# %% tags=["hide-cell"]
# Solution 2
x_all = np.concatenate([r["layers"][middle] for r in recordings]).astype(np.float64)
y_all = np.concatenate([r["versions"]["observed"]["ema"] for r in recordings]).astype(np.float64)
all_sentences = np.repeat([sentence_id(name) for name in names], lengths)
rows = []
for step in (12, 6, 3):
    x_s, y_s, g_s = x_all[::step], y_all[::step], all_sentences[::step]
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
    f"{fewer['in-sample']:.3f} → {more['in-sample']:.3f}\nand the held-out value "
    f"{fewer['held-out']:.3f} → {more['held-out']:.3f}: the difference "
    f"{'shrinks' if more['difference'] < fewer['difference'] else 'does not shrink'} "
    f"({fewer['difference']:.3f} → {more['difference']:.3f}).\nWith more frames per kept "
    "dimension CCA has less room to fit noise,\nso less of the in-sample value is overfitting."
)
