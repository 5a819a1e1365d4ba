# %% [markdown]
# # CKA between the layers, the acoustics and the articulation
#
# ## Overview
#
# How much does each layer of the model resemble the sound it hears, and how much the
# movements that produced that sound? This chapter answers with centered kernel alignment
# (CKA, {cite:p}`kornblith2019similarity`), computed per recording on the 20 ms frames:
#
# 1. CKA written from scratch in a few lines of numpy, and the per-recording × per-layer loop
#    written out once, both checked against the package;
# 2. CKA of every layer with MFCCs (acoustics) and with EMA (articulation), with a confidence
#    band over recordings, and the reported numbers recomputed like for like;
# 3. what the MFCCs' first coefficient c0 (log energy) does to "similarity to acoustics";
# 4. how much the frame alignment of the MFCCs matters, one factor at a time, and where the
#    EMA rows sit in time;
# 5. biased versus debiased CKA, and a linear versus an RBF kernel;
# 6. a null baseline that keeps the temporal structure of speech, drawn on the same axes;
# 7. an extension: shifting EMA in time against a middle layer (a lag curve).
#
# ## Prerequisites
#
# Chapter 00 (frame alignment) and chapter 01 (Gram matrices and centring).

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

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import tutorial_utils
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
    sentence_id,
    stats,
    targets,
)

print("tutorial_utils", tutorial_utils.__version__)

# %%
dataset = load_dataset()
print(notice.data_line(dataset))

# %% [markdown]
# ## CKA in one formula, written as code
#
# For two representations of the same $n$ frames, $X$ ($n \times d_x$) and $Y$
# ($n \times d_y$), build their Gram matrices $K = XX^\top$ and $L = YY^\top$, centre them
# with $H = I - \frac{1}{n}\mathbf{1}\mathbf{1}^\top$, and measure how aligned they are:
#
# $$\mathrm{CKA}(K, L) = \frac{\mathrm{HSIC}(K, L)}{\sqrt{\mathrm{HSIC}(K, K)\,
# \mathrm{HSIC}(L, L)}}, \qquad \mathrm{HSIC}(K, L) \propto \operatorname{tr}(K H L H).$$
#
# It is 1 when the two spaces have the same similarity structure up to a rotation and a
# uniform scaling, and near 0 when their structures are unrelated
# {cite:p}`kornblith2019similarity`. Here are the four steps — centre, Gram, HSIC, normalise —
# in plain numpy. The factor $1/(n-1)^2$ of HSIC cancels in the ratio, so it is left out, and
# $\operatorname{tr}(K_c L_c)$ of two symmetric matrices is the sum of their elementwise
# product.

# %%
def centre(gram):
    """H K H: subtract the row means and the column means, add back the grand mean."""
    return gram - gram.mean(axis=0) - gram.mean(axis=1)[:, None] + gram.mean()


def hsic(centred_k, centred_l):
    """tr(K_c L_c), the (unscaled) biased HSIC of two centred Gram matrices."""
    return np.sum(centred_k * centred_l)


def cka_from_scratch(x, y):
    """Linear CKA of two (frames × features) arrays, in float64."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    k_c, l_c = centre(x @ x.T), centre(y @ y.T)  # Gram, then centre
    return hsic(k_c, l_c) / np.sqrt(hsic(k_c, k_c) * hsic(l_c, l_c))  # HSIC, normalise


# %% [markdown]
# The same recording through our four lines and through the package (its Gram route `cka`
# and its feature route `feature_space_linear_cka`):

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
    ours = cka_from_scratch(x, mfcc_ema[key])
    via_gram = cka(gram_linear(x), gram_linear(mfcc_ema[key]))
    via_features = feature_space_linear_cka(x, mfcc_ema[key])
    difference = max(abs(ours - via_gram), abs(ours - via_features))
    print(
        f"layer 0 vs {key.upper():4s}: from scratch {ours:.6f}, package {via_gram:.6f} (Gram) "
        f"and {via_features:.6f} (features); largest difference {difference:.1e}"
    )
    assert difference <= 1e-12

# %% [markdown]
# ## Every layer, every recording: the loop, once by hand
#
# One CKA value per recording, layer and target. Written out, the loop is three lines deep:

# %%
start = time.perf_counter()
rows = []
for p, name in dataset.pick_recordings():
    layer_states, features = targets.aligned_recording(dataset, p, name, ("mfcc", "ema"))
    for layer, states_of_layer in layer_states.items():
        for key, feature in features.items():
            value = cka_from_scratch(states_of_layer, feature)
            rows.append(
                {"filename": name, "layer": layer, "target": targets.TARGETS[key], "value": value}
            )
by_hand = pd.DataFrame(rows)
seconds_by_hand = time.perf_counter() - start

start = time.perf_counter()
observed = recordings.layer_target_cka(dataset, ("mfcc", "ema", "mfcc_original"))
seconds_package = time.perf_counter() - start
check = by_hand.merge(observed, on=["filename", "layer", "target"], suffixes=("", "_package"))
largest = (check["value"] - check["value_package"]).abs().max()
print(
    f"{len(check)} values ({check['filename'].nunique()} recordings × "
    f"{check['layer'].nunique()} layers × {check['target'].nunique()} targets); largest "
    f"difference from recordings.layer_target_cka: {largest:.1e}"
)
print(
    f"time: by hand {seconds_by_hand:.2f} s for 2 targets; package {seconds_package:.2f} s "
    "for 3 targets"
)
assert largest <= 1e-12

# %% [markdown]
# From here on the package does the repeated work. It gives the same numbers, faster, for two
# reasons: it centres each layer's frames once and reuses them for every target, and for a
# linear kernel it works with whichever is smaller, the $n \times n$ Gram matrices or the
# products of the centred features ($d_x \times d_y$), which give the same traces. The timings
# above were measured in this run.
#
# ## The layer profiles, with a band over recordings
#
# The curves show the mean over recordings and a 95% confidence band (Student *t* over
# recordings; frames within a recording are not independent, which is why the band is
# computed over recordings rather than frames). That band treats every recording as an
# independent sample, including recordings of the *two speakers*; recordings by one speaker
# share a voice and a vocal tract, so the pooled band can be too narrow. The per-speaker bands
# are printed below it.

# %%
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
per_speaker = stats.summarise(main, by=["participant", "target", "layer"])
per_speaker["band"] = [
    f"{m:.3f} [{lo:.3f}, {hi:.3f}] n={n}"
    for m, lo, hi, n in per_speaker[["mean", "low", "high", "n"]].itertuples(index=False)
]
shown = per_speaker[per_speaker["layer"].isin([0, 6, 12])]
print("mean [95% band] per speaker, layers 0, 6, 12:")
print(shown.pivot(index="layer", columns=["target", "participant"], values="band").to_string())
width = (summary["high"] - summary["low"]).mean()
width_speaker = (per_speaker["high"] - per_speaker["low"]).mean()
print(
    f"average band width: pooled {width:.3f}, per speaker {width_speaker:.3f} "
    "(fewer recordings per band)"
)

# %% [markdown]
# ## Compared like for like with the reported numbers
#
# The numbers reported for the real data come from one speaker (F02), five sentences that
# both speakers read, the original MFCC recipe and the original hidden states. The table below
# is computed on exactly that subset and recipe, as far as the loaded data have it; what was
# used is printed first.

# %%
setup = notice.REPORTED_SETUP
subset = notice.reported_recordings(dataset)
used = {name for _, name in subset}
speaker = subset[0][0] if subset else "none"
print(
    f"speaker {speaker}; {len(used)} of the {len(setup['sentences'])} reported sentences "
    f"found: {', '.join(sorted(sentence_id(n) for n in used))}"
)
print(f"MFCC recipe: {targets.TARGETS[setup['mfcc']]}; EMA rows as stored (window start)")
print(f"hidden states: {notice.hidden_states_origin(dataset, speaker)}")
like = observed[observed["filename"].isin(used)]
like = like[like["target"].isin([targets.TARGETS[setup["mfcc"]], "EMA"])]
like = like.replace({"target": {targets.TARGETS[setup["mfcc"]]: "MFCC"}})
like_summary = stats.summarise(like)
for target in ("MFCC", "EMA"):
    print(f"\n{target}, like for like:")
    print(notice.compare_with_real(like_summary, target).to_string())
print(notice.by_design_note(dataset))

# %% [markdown]
# Our own analysis — every recording of both speakers, grid-aligned MFCCs — is a different
# question and is kept separate from the table above:

# %%
for target in ("MFCC", "EMA"):
    part = summary[summary["target"] == target].set_index("layer")["mean"]
    print(
        f"ours, {target}: highest at layer {part.idxmax()} ({part.max():.3f}), "
        f"lowest at layer {part.idxmin()} ({part.min():.3f})"
    )
gap = summary.pivot(index="layer", columns="target", values="mean")
print(f"MFCC minus EMA, averaged over layers: {(gap['MFCC'] - gap['EMA']).mean():.3f}")

# %% [markdown]
# On the real data the reported MFCC similarity is highest at the model's input, dips in the
# middle layers, recovers around layer 10 and falls in the last two layers; EMA similarity is
# lower throughout. The model only ever hears audio, so the acoustic space is its natural
# neighbour; articulation is only partly recoverable from the sound, and it may live in a small
# subspace that unweighted CKA, which weighs all directions by their variance, under-counts
# {cite:p}`deheerkloots2025dutch`.
#
# ## Variants of the targets, computed in one pass
#
# The next three sections ask what the targets themselves contribute: the MFCCs' energy
# coefficient, the MFCC recipe, and the timing of the EMA rows. One loop computes every
# variant for every recording; the package's `recordings.recording_cka` does the CKA.

# %%
def target_variants(p, name):
    """Every variant of the targets of one recording, on one frame count."""
    layer_states, t = targets.aligned_recording(
        dataset, p, name, ("mfcc", "mfcc_original", "ema", "ema_centre")
    )
    audio = dataset.audio(p, name)
    mfcc = t["mfcc"]
    variants = {
        "MFCC raw": mfcc,
        "MFCC without c0": mfcc[:, 1:],
        "MFCC z-scored": (mfcc - mfcc.mean(axis=0)) / mfcc.std(axis=0),
        "A: original recipe": t["mfcc_original"],
        "B: grid only": frames.mfcc_frames(audio, dataset.sample_rate, n_mels=12, n_fft=320),
        "C: + 40 mels": frames.mfcc_frames(audio, dataset.sample_rate, n_mels=40, n_fft=320),
        "D: + n_fft 400": mfcc,
        "EMA at window start": t["ema"],
        "EMA at window centre": t["ema_centre"],
    }
    n = len(mfcc)
    return layer_states, {label: v[:n] for label, v in variants.items()}, mfcc


rows, c0_share = [], []
for p, name in dataset.pick_recordings():
    layer_states, variants, mfcc = target_variants(p, name)
    variance = mfcc.astype(np.float64).var(axis=0)
    c0_share.append(variance[0] / variance.sum())
    table = recordings.recording_cka(layer_states, variants)
    for label in variants:
        rows += recordings.table_rows(table[label], participant=p, filename=name, target=label)
variant_means = stats.summarise(pd.DataFrame(rows)).pivot(
    index="layer", columns="target", values="mean"
)
c0_share = np.array(c0_share)

# %% [markdown]
# ## What does "similarity to acoustics" measure? The energy coefficient c0
#
# The first MFCC, c0, is the frame's log energy: how loud the frame is. Linear CKA weighs
# every direction by its variance, so if c0 varies much more than the other coefficients,
# "CKA with MFCCs" mostly asks whether a layer tracks loudness. Three versions side by side:
# the raw MFCCs, the MFCCs without c0, and z-scored MFCCs (every coefficient with variance 1,
# per recording).

# %%
print(
    f"c0's share of the MFCC variance per recording: mean {c0_share.mean():.0%} "
    f"(range {c0_share.min():.0%}–{c0_share.max():.0%})"
)
energy = variant_means[["MFCC raw", "MFCC without c0", "MFCC z-scored"]]
print(energy.round(3).to_string())
raw0, no_c0_0, z0 = energy.loc[0]
print(
    f"\nAt layer 0, CKA is {raw0:.2f} with raw MFCCs, {no_c0_0:.2f} without c0 and "
    f"{z0:.2f} with z-scored coefficients. With c0 carrying {c0_share.mean():.0%} of the "
    "variance, 'similarity to acoustics' on raw MFCCs is largely similarity to frame energy; "
    "the spectral shape (c1–c11) alone gives the middle column."
)
print(
    "Layers ranked by CKA, raw vs without c0: Spearman ρ = "
    f"{energy['MFCC raw'].corr(energy['MFCC without c0'], method='spearman'):.2f}"
)

# %% [markdown]
# The original chapter used MFCCs with c0, so the same caveat applies to the reported numbers.
#
# ## Does the frame alignment matter? One factor at a time
#
# The original chapter computed MFCCs with a hop of `N // T` samples, centred 320-sample
# windows and 12 mel bands (chapter 00); our grid-aligned MFCCs use the model's grid, 40 mel
# bands and a 400-sample window. That changes three things at once. The table varies one at a
# time:
#
# - **A**: the original recipe;
# - **B**: grid only — windows centred on each model frame's window centre, hop 320, with the
#   original 12 mel bands and 320-sample window;
# - **C**: B with 40 mel bands;
# - **D**: C with a 400-sample window (the grid-aligned MFCCs used above).
#
# What "aligned" means here needs care. Only the output of the model's convolutional encoder
# has a 400-sample window: CNN frame $t$ is computed from the samples $[320t, 320t + 400)$.
# Hidden state 0 already adds a positional convolution over neighbouring frames (128 frames
# wide in wav2vec2-base {cite:p}`baevski2020wav2vec2`), and layers 1–12 attend to the whole
# utterance. Aligning the MFCC window with the CNN window puts both on the same *grid
# positions*; it does not make a layer "see" only that window.

# %%
steps = variant_means[["A: original recipe", "B: grid only", "C: + 40 mels", "D: + n_fft 400"]]
print(steps.round(3).to_string())
change = {
    "grid (B − A)": steps["B: grid only"] - steps["A: original recipe"],
    "n_mels 12 → 40 (C − B)": steps["C: + 40 mels"] - steps["B: grid only"],
    "n_fft 320 → 400 (D − C)": steps["D: + n_fft 400"] - steps["C: + 40 mels"],
}
print("\nchange in CKA, mean over layers (min to max):")
for what, delta in change.items():
    print(f"  {what:24s} {delta.mean():+.3f} ({delta.min():+.3f} to {delta.max():+.3f})")
if dataset.source == "sample":
    print(
        "\nBuilt into the sample: the simulated encoder's acoustic source is a 40-band log-mel "
        "spectrum of exactly the 400-sample CNN window on this grid (n_fft=400, hop 320). "
        "Steps C and D move the MFCCs towards what was planted, so their gains here are by "
        "construction, not evidence about Wav2Vec2; only step B (the grid) is a fair test."
    )

# %% [markdown]
# ## Where do the EMA rows sit in time?
#
# EMA row $t$ is the sensor position at $20t$ ms, the *start* of frame $t$'s CNN window; the
# window's centre is at $(320t + 200) / 16000$ s $= 20t + 12.5$ ms. That is the same size of
# offset that the original MFCC recipe is criticised for. `frames.ema_frames(..., at="centre")`
# (target `"ema_centre"`) linearly interpolates every coordinate to the window centre; the
# table compares the two.

# %%
timing = variant_means[["EMA at window start", "EMA at window centre"]]
timing = timing.assign(**{"centre − start": timing.iloc[:, 1] - timing.iloc[:, 0]})
print(timing.round(3).to_string())
delta = timing["centre − start"]
print(
    f"\ncentre − start: {delta.mean():+.4f} on average over layers "
    f"({delta.min():+.4f} to {delta.max():+.4f})"
)
if dataset.source == "sample":
    print(
        "Built into the sample: the simulated encoder was given EMA row t for frame t (the "
        "window start), so the start version matches what was planted."
    )

# %% [markdown]
# Which way the EMA `_Y` axis points matters as much as when. In the real EMA file `_Y` is
# the *lateral* (left–right) axis: vertical movement — jaw opening, lip closure, tongue
# height — is not in its columns, so on the real data "CKA with EMA" measures similarity to the
# front–back positions and small sideways movements only. The synthetic sample stores the
# vertical axis in `_Y`, because its simulated vocal tract never moves sideways.

# %%
if dataset.source == "sample":
    print("Loaded: the synthetic sample; its EMA _Y columns are vertical.")
else:
    print("Loaded: real data; its EMA _Y columns are lateral (no vertical movement).")
y_columns = [c for c in frames.EMA_COLUMNS if c.endswith("_Y")]
ema_sd = dataset.ema(participant)[list(frames.EMA_COLUMNS)].std()
print(
    f"{participant}: mean standard deviation of the _X columns {ema_sd.drop(y_columns).mean():.2f} "
    f"mm, of the _Y columns {ema_sd[y_columns].mean():.2f} mm"
)

# %% [markdown]
# ## Biased versus debiased CKA
#
# The usual (biased) HSIC estimator is biased when there are many dimensions relative to the
# number of stimuli: for unrelated representations it inflates CKA. The debiased estimator
# {cite:p}`song2012feature` removes that bias {cite:p}`murphy2024debiased`. Per recording we
# have a few hundred frames at most against 768 model dimensions; how much the two differ is
# printed below.

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
        f"{target}: biased − debiased = {biased_minus_debiased.min():+.3f} to "
        f"{biased_minus_debiased.max():+.3f} across layers; debiased is higher at "
        f"{(biased_minus_debiased < 0).sum()} of {len(biased_minus_debiased)} layers"
    )
print(
    "Why either way: CKA is a ratio, and debiasing changes its numerator HSIC(K, L) and both "
    "self terms HSIC(K, K) and HSIC(L, L) in the denominator; when the denominator shrinks "
    "more than the numerator the ratio rises, so debiased CKA can end up on either side."
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

# %%
lowest_null = gaps["null"].min()
print(
    f"The lowest null mean is {lowest_null:.3f}: smooth but unaligned signals reach at least "
    "that level; only the gap above the null speaks for shared structure."
)

# %% [markdown]
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
if dataset.source == "sample":
    print("Built into the sample: EMA row t was planted at frame t, i.e. at lag 0.")
ax = plots.lag_curve(lags, errorbar=stats.errorbar())
plots.show(ax)

# %% [markdown]
# A peak away from 0 ms would suggest the layer is better aligned with articulation from
# slightly earlier or later than its own frame; the slow fall-off on both sides reflects how
# smoothly articulators move.
#
# ## Summary
#
# - CKA is four lines of numpy (centre, Gram, HSIC, normalise); the package gives the same
#   values to the printed precision and does the per-recording × per-layer loop faster.
# - Per-recording linear CKA gives each layer a similarity to the acoustics (MFCC) and to the
#   articulation (EMA). The reported real-data numbers are compared only on their own subset
#   and recipe; the pooled, grid-aligned analysis is ours.
# - With raw MFCCs, "similarity to acoustics" is dominated by c0 (frame energy) by the printed
#   variance share; report CKA without c0 or with standardised coefficients next to it.
# - The MFCC recipe changes grid, mel bands and window at once; varied one at a time, each step
#   has its printed effect. On the sample, the 40-band, 400-sample log-mel is what was planted.
# - EMA rows sit at the window start, 12.5 ms before its centre; in the real file `_Y` is
#   lateral, so vertical movement is absent from the real EMA.
# - Debiasing and the choice of kernel change the numbers by the printed amounts; check
#   whether they change the shape over layers before interpreting it. Report the gap to a null
#   that keeps temporal structure, not the raw CKA.
#
# ## Exercises
#
# 1. Repeat the per-recording analysis for one speaker at a time (`participants=[...]`). Do
#    the two speakers give the same layer profile?
# 2. Compute CKA with only the tongue sensors (`TR`, `TB`, `TT`) and only the lip and jaw
#    sensors. Which subset is closer to the model? (Hint: `targets.aligned_recording` gives
#    the EMA frames; `frames.EMA_COLUMNS` gives the column order.)
# 3. How does the circular-shift null for EMA change if the minimum shift is 40% instead of
#    10% of the recording? Why might very small shifts give a misleadingly high null? (Try
#    1% too.)

# %% tags=["hide-input"]
# Solution 1
per_speaker_means = stats.summarise(main, by=["participant", "target", "layer"])
profiles = per_speaker_means.pivot(index="layer", columns=["target", "participant"], values="mean")
print(profiles.round(3).to_string())
first, second = dataset.participants[:2]
for target in ("MFCC", "EMA"):
    a, b = profiles[(target, first)], profiles[(target, second)]
    print(
        f"{target}: Spearman ρ between the two speakers' profiles = "
        f"{a.corr(b, method='spearman'):.2f}; peak at layer {a.idxmax()} ({first}) and "
        f"{b.idxmax()} ({second}); largest difference {(a - b).abs().max():.3f}"
    )
    same = a.corr(b, method="spearman") > 0.9 and a.idxmax() == b.idxmax()
    print(f"  Answer for {target}: {'the same' if same else 'a different'} layer profile shape")

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
subset_wide = subset_table.pivot(index="layer", columns="subset", values="mean")
print(subset_wide.round(3).to_string())
tongue_ahead = (subset_wide["tongue"] > subset_wide["lips and jaw"]).sum()
closer = "tongue" if tongue_ahead > len(subset_wide) / 2 else "lips and jaw"
print(
    f"Answer: the {closer} subset is closer at {max(tongue_ahead, len(subset_wide) - tongue_ahead)}"
    f" of {len(subset_wide)} layers (mean over layers: tongue "
    f"{subset_wide['tongue'].mean():.3f}, lips and jaw {subset_wide['lips and jaw'].mean():.3f})."
)

# %% tags=["hide-input"]
# Solution 3
wide_null = nulls.circular_shift_null(dataset, "ema", min_fraction=0.4, seed=0)
narrow_mean = stats.summarise(shifted[shifted["target"] == "EMA"])["mean"].mean()
wide_mean = stats.summarise(wide_null)["mean"].mean()
print(
    f"random shifts, mean null over layers: ≥ 10% {narrow_mean:.3f}, ≥ 40% {wide_mean:.3f} "
    f"(difference {narrow_mean - wide_mean:+.3f}); the offsets are drawn uniformly between the "
    "minimum and T minus the minimum, so most draws are far from 0 either way"
)
# The effect of the shift itself: every recording's EMA rolled by exactly 1%, 10% or 40%.
fractions = (0.01, 0.1, 0.4)
rows = []
for p, name in dataset.pick_recordings():
    layer_states, ema_target = targets.aligned_recording(dataset, p, name, "ema")
    ema_rows = ema_target["ema"]
    rolled = {f: np.roll(ema_rows, int(np.ceil(f * len(ema_rows))), axis=0) for f in fractions}
    table = recordings.recording_cka(layer_states, rolled)
    for f in fractions:
        rows += recordings.table_rows(table[f], filename=name, target=f"shift {f:.0%}")
exact = stats.summarise(pd.DataFrame(rows)).pivot(index="layer", columns="target", values="mean")
print(exact[[f"shift {f:.0%}" for f in fractions]].round(3).to_string())
by_shift = exact.mean()
unshifted = summary.loc[summary["target"] == "EMA", "mean"].mean()
print(
    f"Answer: shifted by exactly 1% the EMA gives CKA {by_shift['shift 1%']:.3f} on average "
    f"over layers, against {by_shift['shift 10%']:.3f} at 10%, {by_shift['shift 40%']:.3f} "
    f"at 40% and {unshifted:.3f} unshifted."
)
if by_shift["shift 1%"] > by_shift["shift 10%"]:
    print(
        "A tiny shift leaves most frames next to their true partners, and because speech is "
        "smooth those neighbours are still similar, so such a 'null' still contains signal."
    )
