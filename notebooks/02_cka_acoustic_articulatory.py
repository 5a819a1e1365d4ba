# %% [markdown]
# # CKA between the layers, the acoustics and the articulation
#
# ## Overview
#
# How much does each layer of the model resemble the sound it hears, and how much the
# movements that produced that sound? This chapter answers with centered kernel alignment
# (CKA, {cite:p}`kornblith2019similarity`), computed per recording on the 20 ms frames:
#
# 1. CKA of every layer with MFCCs (acoustics) and with EMA (articulation), with a confidence
#    band over recordings;
# 2. how much the frame alignment of the MFCCs matters (grid-aligned versus the original
#    recipe);
# 3. biased versus debiased CKA, and a linear versus an RBF kernel;
# 4. a null baseline that keeps the temporal structure of speech, drawn on the same axes;
# 5. an extension: shifting EMA in time against a middle layer (a lag curve).
#
# ## Prerequisites
#
# Chapter 00 (frame alignment) and chapter 01 (Gram matrices and centring).

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

import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import display

from tutorial_utils import (
    cka,
    feature_space_linear_cka,
    frames,
    gram_linear,
    load_dataset,
    notice,
    nulls,
    plots,
    recordings,
    stats,
    targets,
)

print("tutorial_utils", tutorial_utils.__version__)

# %%
dataset = load_dataset()
display(notice.data_notice(dataset))

# %% [markdown]
# ## CKA in one formula
#
# For two representations of the same $n$ frames, $X$ ($n \times d_x$) and $Y$
# ($n \times d_y$), build their Gram matrices $K$ and $L$, centre them, and measure how
# aligned they are:
#
# $$\mathrm{CKA}(K, L) = \frac{\mathrm{HSIC}(K, L)}{\sqrt{\mathrm{HSIC}(K, K)\,
# \mathrm{HSIC}(L, L)}}, \qquad \mathrm{HSIC}(K, L) \propto \operatorname{tr}(K H L H).$$
#
# It is 1 when the two spaces have the same similarity structure up to a rotation and a
# uniform scaling, and near 0 when their structures are unrelated. For a linear kernel it can
# be computed from the features without building $n \times n$ matrices. One recording:

# %%
participant = dataset.participants[0]
filename = dataset.pick_filenames(participant)[0]
states, mfcc_ema = targets.aligned_recording(dataset, participant, filename, ("mfcc", "ema"))
x = states[0]
print(
    f"{filename}: {x.shape[0]} frames; layer 0 has {x.shape[1]} dimensions, "
    f"MFCC {mfcc_ema['mfcc'].shape[1]}, EMA {mfcc_ema['ema'].shape[1]}"
)
for key in ("mfcc", "ema"):
    via_gram = cka(gram_linear(x), gram_linear(mfcc_ema[key]))
    via_features = feature_space_linear_cka(x, mfcc_ema[key])
    print(
        f"layer 0 vs {key.upper():4s}: CKA = {via_gram:.4f} (Gram route), "
        f"{via_features:.4f} (feature route)"
    )

# %% [markdown]
# ## Every layer, every recording
#
# Repeating this for all layers and all recordings gives one CKA value per recording and
# layer. The curves show the mean over recordings and a 95% confidence band (Student *t*,
# treating recordings as independent samples; frames within a recording are not independent,
# which is why the band is computed over recordings rather than frames).

# %%
observed = recordings.layer_target_cka(dataset, ("mfcc", "ema", "mfcc_original"))
main = observed[observed["target"].isin(["MFCC", "EMA"])]
summary = stats.summarise(main)
n_recordings = main["filename"].nunique()
print(f"{n_recordings} recordings × {main['layer'].nunique()} layers × 2 feature spaces")
print(summary.pivot(index="layer", columns="target", values="mean").round(3).to_string())

# %%
ax = plots.cka_by_layer(
    main, errorbar=stats.errorbar(), title="Linear CKA of each layer with MFCC and EMA"
)
plots.show(ax)

# %%
for target in ("MFCC", "EMA"):
    part = summary[summary["target"] == target].set_index("layer")["mean"]
    print(
        f"{target}: highest at layer {part.idxmax()} ({part.max():.3f}), "
        f"lowest at layer {part.idxmin()} ({part.min():.3f})"
    )
    print(notice.compare_with_real(summary, target).to_string(), end="\n\n")
gap = summary.pivot(index="layer", columns="target", values="mean")
print(f"MFCC minus EMA, averaged over layers: {(gap['MFCC'] - gap['EMA']).mean():.3f}")

# %% [markdown]
# Compare the shape of the two curves with the real-data numbers printed next to them. On the
# real data, MFCC similarity is highest at the model's input, dips in the middle layers,
# recovers around layer 10 and falls in the last two layers; EMA similarity is lower
# throughout. The model only ever hears audio, so the acoustic space is its natural neighbour;
# articulation is only partly recoverable from the sound, and it may live in a small subspace
# that unweighted CKA, which weighs all directions by their variance, under-counts
# {cite:p}`deheerkloots2025dutch`.
#
# ## Does the frame alignment matter?
#
# The original chapter computed MFCCs with a hop of `N // T` samples and centred 20 ms
# windows (chapter 00). Those frames drift against the model's by up to 12.5 ms. Here is the
# same analysis with both recipes:

# %%
recipes = stats.summarise(observed[observed["target"].str.startswith("MFCC")])
recipes = recipes.pivot(index="layer", columns="target", values="mean")
recipes["aligned − original"] = recipes["MFCC"] - recipes["MFCC (original recipe)"]
print(recipes.round(3).to_string())
print(f"\nmean difference over layers: {recipes['aligned − original'].mean():+.3f}")

# %% [markdown]
# ## Biased versus debiased CKA
#
# The usual (biased) HSIC estimator is inflated when there are many dimensions relative to
# the number of stimuli; the debiased estimator {cite:p}`song2012feature` removes that bias
# {cite:p}`murphy2024debiased`. Per recording we have a few hundred frames at most against 768
# model dimensions, so some inflation is expected; how much is printed below.

# %%
lengths = targets.frame_counts(dataset)["hidden_states"]
print(f"frames per recording: {lengths.min()}–{lengths.max()} (model dimensions: {x.shape[1]})")
debiased = recordings.layer_target_cka(dataset, ("mfcc", "ema"), debiased=True)
rbf = recordings.layer_target_cka(dataset, ("mfcc", "ema"), kernel="rbf")
estimators = pd.concat([main, debiased, rbf], ignore_index=True)
table = stats.summarise(estimators, by=["target", "estimator", "layer"])
wide = table.pivot(index="layer", columns=["target", "estimator"], values="mean")
print(wide.round(3).to_string())

# %%
for target in ("MFCC", "EMA"):
    biased_minus_debiased = wide[(target, "linear")] - wide[(target, "linear, debiased")]
    print(
        f"{target}: biased − debiased = {biased_minus_debiased.min():.3f} to "
        f"{biased_minus_debiased.max():.3f} across layers"
    )

# %%
fig, axes = plt.subplots(1, 2, figsize=(14, 4.5), layout="constrained", sharey=True)
for ax, target in zip(axes, ("MFCC", "EMA"), strict=True):
    plots.cka_by_layer(
        estimators[estimators["target"] == target],
        hue="estimator",
        ax=ax,
        errorbar=stats.errorbar(),
        title=f"{target}: three estimators",
    )
plots.show(fig)

# %% [markdown]
# ## Linear versus RBF kernel
#
# The RBF kernel (bandwidth = median distance, as in the original chapter) emphasises local
# neighbourhoods: which frames are close to which. Its numbers need not match the linear ones;
# what matters for the story is whether the *shape over layers* is the same. The rank
# correlation of the two layer profiles answers that:

# %%
for target in ("MFCC", "EMA"):
    linear_profile = wide[(target, "linear")]
    rbf_profile = wide[(target, "RBF σ=1×median")]
    rho = linear_profile.corr(rbf_profile, method="spearman")
    print(
        f"{target}: Spearman ρ between the linear and RBF layer profiles = {rho:.3f}; "
        f"RBF − linear = {(rbf_profile - linear_profile).mean():+.3f} on average"
    )

# %% [markdown]
# ## Is it more than chance? A null baseline that keeps time
#
# CKA is never exactly 0 for unrelated signals, and speech makes this worse: neighbouring
# frames are similar in *every* space simply because speech changes smoothly. Shuffling the
# frames would destroy that smoothness and give a far too easy baseline. Instead we keep each
# space intact and only break the alignment between them:
#
# - **circular shift**: roll the feature matrix in time by a random offset (at least 10% of
#   the recording away from 0), five times per recording;
# - **mismatched recording**: pair a recording's layers with the features of another recording
#   by the same speaker, truncated to the shorter length.

# %%
shifted = nulls.circular_shift_null(dataset, ("mfcc", "ema"), n_repeats=5, seed=0)
mismatched = nulls.mismatched_null(dataset, ("mfcc", "ema"), seed=0)
ax = plots.cka_by_layer(
    main,
    null=shifted,
    errorbar=stats.errorbar(),
    title="Linear CKA with a circular-shift null baseline",
)
plots.show(ax)

# %%
gaps = pd.concat(
    [
        stats.null_gap(main, shifted).assign(baseline="circular shift"),
        stats.null_gap(main, mismatched).assign(baseline="mismatched recording"),
    ]
)
print(gaps.pivot(index="layer", columns=["target", "baseline"], values="gap").round(3).to_string())
for (target, baseline), part in gaps.groupby(["target", "baseline"]):
    print(
        f"{target}, {baseline}: null CKA {part['null'].mean():.3f} on average; "
        f"gap {part['gap'].min():.3f}–{part['gap'].max():.3f}"
    )

# %% [markdown]
# The printed null values are the level that smooth but unaligned signals reach; they are
# clearly above 0. Only the gap above the null speaks for shared structure between a layer and
# the features.
#
# ## Extension: a lag curve
#
# Articulators move before the sound they shape is heard. If a layer encodes articulation,
# shifting EMA in time against it may change CKA. At lag $k$, model frame $t$ is paired with
# EMA row $t + k$ (positive $k$: articulation from later), for $k = -10 \dots 10$ frames
# (±200 ms), here for layer 6 in the middle of the network.

# %%
lags = recordings.lag_curve(dataset, layer=6, target="ema")
lag_summary = stats.summarise(lags, by=["lag_ms"])
best = lag_summary.loc[lag_summary["mean"].idxmax()]
at = lag_summary.set_index("lag_ms")["mean"]
print(
    f"peak at {best['lag_ms']:+.0f} ms (CKA {best['mean']:.3f}); at 0 ms {at[0.0]:.3f}; "
    f"at −200 ms {at[-200.0]:.3f}; at +200 ms {at[200.0]:.3f}"
)
ax = plots.lag_curve(lags, errorbar=stats.errorbar())
plots.show(ax)

# %% [markdown]
# A peak away from 0 ms would suggest the layer is better aligned with articulation from
# slightly earlier or later than its own frame; the slow fall-off on both sides reflects how
# smoothly articulators move.
#
# ## Summary
#
# - Per-recording linear CKA gives each layer a similarity to the acoustics (MFCC) and to the
#   articulation (EMA); the curves above show their means with 95% bands over recordings, and
#   the printed tables put them next to the real-data findings.
# - Computing MFCCs on the model's exact frame grid is the correct comparison; the printed
#   difference shows what the original recipe changed.
# - Debiasing and the choice of kernel change the numbers by the printed amounts; check
#   whether they change the shape over layers before interpreting it.
# - A null baseline that keeps temporal structure sits well above 0; report the gap to it, not
#   the raw CKA.
#
# ## Exercises
#
# 1. Repeat the per-recording analysis for one speaker at a time (`participants=[...]`). Do
#    the two speakers give the same layer profile?
# 2. Compute CKA with only the tongue sensors (`TR`, `TB`, `TT`) and only the lip and jaw
#    sensors. Which subset is closer to the model? (Hint: `targets.aligned_recording` gives
#    the EMA frames; `frames.EMA_COLUMNS` gives the column order.)
# 3. How does the circular-shift null for EMA change if the minimum shift is 40% instead of
#    10% of the recording? Why might very small shifts give a misleadingly high null?

# %% tags=["hide-input"]
# Solution 1
per_speaker = stats.summarise(main, by=["participant", "target", "layer"])
print(
    per_speaker.pivot(index="layer", columns=["target", "participant"], values="mean")
    .round(3)
    .to_string()
)

# %% tags=["hide-input"]
# Solution 2
subsets = {"tongue": ("TR", "TB", "TT"), "lips and jaw": ("UL", "LL", "JAW")}
rows = []
for p in dataset.participants:
    for name in dataset.pick_filenames(p):
        layer_states, ema_target = targets.aligned_recording(dataset, p, name, "ema")
        columns = [c.split("_")[0] for c in frames.EMA_COLUMNS]
        parts = {
            subset: ema_target["ema"][:, [sensor in sensors for sensor in columns]]
            for subset, sensors in subsets.items()
        }
        scores = recordings.recording_cka(layer_states, parts)  # layers × subsets
        rows += [
            {"filename": name, "layer": layer, "subset": subset, "value": value}
            for subset in parts
            for layer, value in scores[subset].items()
        ]
subset_table = stats.summarise(pd.DataFrame(rows), by=["subset", "layer"])
print(subset_table.pivot(index="layer", columns="subset", values="mean").round(3).to_string())

# %% tags=["hide-input"]
# Solution 3
wide_null = nulls.circular_shift_null(dataset, "ema", min_fraction=0.4, seed=0)
narrow = stats.summarise(shifted[shifted["target"] == "EMA"])
wide_shift = stats.summarise(wide_null)
print(
    pd.DataFrame(
        {
            "null, shift ≥ 10%": narrow["mean"].to_numpy(),
            "null, shift ≥ 40%": wide_shift["mean"].to_numpy(),
        },
        index=narrow["layer"],
    )
    .round(3)
    .to_string()
)
print(
    "A tiny shift leaves most frames next to their true partners, and because speech is "
    "smooth those neighbours are still similar, so the 'null' would still contain signal."
)
