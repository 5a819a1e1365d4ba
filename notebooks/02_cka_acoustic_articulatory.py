# %% [markdown]
# # CKA between the layers, the acoustics and the articulation
#
# ## Overview
#
# How much does each layer of the model resemble the sound it hears, and how much the
# movements that produced that sound? This chapter answers with centered kernel alignment
# (CKA, {cite:p}`kornblith2019similarity`), computed per recording on the 20 ms frames:
#
# 1. CKA, biased and debiased, written from scratch in numpy and checked against the package;
# 2. the per-recording × per-layer loop, written out once;
# 3. the layer profiles with MFCCs (acoustics) and EMA (articulation), with bands over
#    recordings, how sure each peak layer is, and the reported numbers recomputed like for like;
# 4. what EMA CKA must be compared with: noise, and two null baselines that keep time.
#
# Going further: what "similarity to acoustics" measures (the energy coefficient c0, the MFCC
# recipe), and debiased CKA and an RBF kernel over all layers.
#
# **Core path:** about 25 minutes (up to the summary); going further: about 11 more.
#
# ## Prerequisites
#
# Chapter 00 (frame alignment) and chapter 01 (Gram matrices and centring).

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
import textwrap

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

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
# uniform scaling {cite:p}`kornblith2019similarity`. Its factor $1/(n-1)^2$ cancels in the
# ratio, and $\operatorname{tr}(K_c L_c)$ of two symmetric matrices is the sum of their
# elementwise product.
#
# This HSIC estimator is biased: with many dimensions and few frames, unrelated spaces score
# well above 0. Song et al.'s unbiased estimator {cite:p}`song2012feature` swaps the centring
# for *U-centring*, as the original chapter's reference code did: set the diagonal of $K$ to 0,
# subtract row and column sums divided by $n - 2$, add back the total divided by
# $(n-1)(n-2)$, and set the diagonal to 0 again. CKA built on it is *debiased* CKA
# {cite:p}`murphy2024debiased`; its factor $1/(n(n-3))$ cancels too.


# %%
def centre(gram):
    """H K H: subtract the row means and the column means, add back the grand mean."""
    return gram - gram.mean(axis=0) - gram.mean(axis=1)[:, None] + gram.mean()


def u_centre(gram):
    """U-centring: as centre, with the diagonal left out of every mean and set to 0."""
    n = len(gram)
    off = gram - np.diag(np.diag(gram))
    sums = off.sum(axis=0) / (n - 2)
    u = off - sums - sums[:, None] + off.sum() / ((n - 1) * (n - 2))
    return u - np.diag(np.diag(u))


def hsic(centred_k, centred_l):
    """tr(K_c L_c): HSIC up to a factor that cancels in CKA."""
    return np.sum(centred_k * centred_l)


def cka_from_scratch(x, y, centring=centre):
    """Linear CKA of two (frames × features) arrays; centring=u_centre gives debiased CKA."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    k_c, l_c = centring(x @ x.T), centring(y @ y.T)  # Gram, then centre
    return hsic(k_c, l_c) / np.sqrt(hsic(k_c, k_c) * hsic(l_c, l_c))  # HSIC, normalise


# %% [markdown]
# One recording through these lines and through the package (its Gram route `cka` and its
# feature route `feature_space_linear_cka`):

# %%
participant = dataset.participants[0]
filename = dataset.pick_filenames(participant)[0]
print("computing MFCCs; a fresh runtime first compiles librosa's kernels (up to a minute)")
states, mfcc_ema = targets.aligned_recording(dataset, participant, filename, ("mfcc", "ema"))
x = states[0]
print(f"{filename}: {x.shape[0]} frames; layer 0 has {x.shape[1]} dimensions, the targets 12")
rows = {}
for key, y in mfcc_ema.items():
    package = cka(gram_linear(x), gram_linear(y))
    assert abs(feature_space_linear_cka(x, y) - package) <= 1e-12
    rows[f"layer 0 vs {key.upper()}"] = {
        ("biased", "ours"): cka_from_scratch(x, y),
        ("biased", "package"): package,
        ("debiased", "ours"): cka_from_scratch(x, y, u_centre),
        ("debiased", "package"): cka(gram_linear(x), gram_linear(y), debiased=True),
    }
side_by_side = pd.DataFrame(rows).T
print(side_by_side.round(6).to_string())
ours = side_by_side.xs("ours", axis=1, level=1)
assert np.allclose(ours, side_by_side.xs("package", axis=1, level=1), rtol=0, atol=1e-12)

# %% [markdown]
# ## Every layer, every recording: the loop, once by hand
#
# One CKA value per recording, layer and target; written out, the loop is three lines deep:

# %%
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

observed = recordings.layer_target_cka(dataset, ("mfcc", "ema", "mfcc_original"))
check = by_hand.merge(observed, on=["filename", "layer", "target"], suffixes=("", "_package"))
largest = (check["value"] - check["value_package"]).abs().max()
print(
    f"{len(check)} values ({check['filename'].nunique()} recordings × "
    f"{check['layer'].nunique()} layers × {check['target'].nunique()} targets)"
)
print(f"largest difference from recordings.layer_target_cka: {largest:.1e}")
assert largest <= 1e-12

# %% [markdown]
# From here on the package does the repeated work (`recordings.layer_target_cka`; above also
# for the original MFCC recipe, used below).
#
# ## The layer profiles, with a band over recordings
#
# The curves show the mean over recordings and a 95% confidence band (Student *t* over
# recordings: frames within a recording are not independent, so the recording is the unit).
# The band treats recordings of the two speakers as independent samples; they share a voice
# and a vocal tract, so it can be too narrow (exercise 1 takes one speaker at a time).

# %% mystnb={"image": {"alt": "Linear CKA per layer with MFCC and EMA, 95% band"}}
main = observed[observed["target"].isin(["MFCC", "EMA"])]
ax = plots.cka_by_layer(
    main, errorbar=stats.errorbar(), title="Linear CKA of each layer with MFCC and EMA"
)
plots.show(ax)

# %% [markdown]
# Which layer peaks, and how sure is that? `stats.peak_layers` resamples the recordings with
# replacement (a bootstrap, 2,000 draws): `p_peak` is the share of draws in which a layer has
# the highest mean, and the *near-peak* layers are those whose bootstrap 95% interval reaches
# the interval of the highest layer. A high `p_peak` beside a wide near-peak set means that
# the layers rise and fall together from one recording to the next: the order of the means is
# stable, but each mean on its own is uncertain by its interval.


# %%
def show_peak(table, label):
    """The bootstrap's answer in one line: peak layer, its p_peak and the near-peak layers."""
    peak = stats.peak_layers(table)
    top = peak.loc[peak["mean"].idxmax()]
    near = peak.loc[peak["near_peak"], "layer"].tolist()
    print(
        f"{label}: highest at layer {top['layer']:.0f} ({top['mean']:.3f} "
        f"[{top['low']:.3f}, {top['high']:.3f}]), p_peak {top['p_peak']:.2f}"
    )
    print(textwrap.fill(f"  near-peak layers: {near}", 88, subsequent_indent="    "))
    return peak


peaks = {t: show_peak(main[main["target"] == t], t) for t in ("MFCC", "EMA")}
peak_table = pd.concat({t: peak.set_index("layer") for t, peak in peaks.items()}, axis=1)
print(peak_table.loc[:, (slice(None), ["mean", "low", "high", "p_peak"])].round(3).to_string())

# %% [markdown]
# In the real EMA file `_Y` is the lateral axis (chapter 00), so on the real data "CKA with
# EMA" leaves out vertical movement. The reported real MFCC values lie above the EMA values at
# every layer reported for both. The model only ever hears audio, and articulation is only
# partly recoverable from the sound; it may live in a small subspace that linear CKA, which
# weighs all directions by their variance, under-counts {cite:p}`deheerkloots2025dutch`.
#
# ## Compared like for like with the reported numbers
#
# The numbers reported for the real data come from one speaker (F02), five sentences that
# both speakers read, the original MFCC recipe and the original hidden states; they are read
# off the original chapter's figure, hence the ranges. The table below is computed on exactly
# that subset and recipe, as far as the loaded data have it; what was used is printed first.

# %%
setup = notice.REPORTED_SETUP
subset = notice.reported_recordings(dataset)
used = {name for _, name in subset}
speaker = subset[0][0] if subset else "none"
print(f"speaker {speaker}; {len(used)} of the {len(setup['sentences'])} reported sentences:")
print(f"  {', '.join(sorted(sentence_id(n) for n in used))}")
print(f"MFCC recipe: {targets.TARGETS[setup['mfcc']]}; EMA rows as stored (window start)")
print(textwrap.fill(f"hidden states: {notice.hidden_states_origin(dataset, speaker)}", 88))
like = observed[observed["filename"].isin(used)]
like = like[like["target"].isin([targets.TARGETS[setup["mfcc"]], "EMA"])]
like = like.replace({"target": {targets.TARGETS[setup["mfcc"]]: "MFCC"}})
like_summary = stats.summarise(like)
for target in ("MFCC", "EMA"):
    print(f"\n{target}, like for like:")
    print(notice.compare_with_real(like_summary, target).to_string())
print(notice.by_design_note(dataset))

# %% [markdown]
# ## What EMA CKA must be compared with
#
# CKA of unrelated signals is not 0, and speech makes this worse: neighbouring frames are
# similar in *every* space because speech changes smoothly. Three references for EMA, on
# these recordings:
#
# - **noise**: independent Gaussian noise with the layer's and the EMA's number of columns
#   and each recording's number of frames (five draws per recording);
# - **circular shift**: the EMA rolled in time by a random offset (at least 10% of the
#   recording away from 0), five times per recording;
# - **mismatched recording**: a recording's layers paired with the EMA of another recording
#   by the same speaker, both cut to the shorter length.
#
# Noise depends only on the shapes. The two nulls keep each space as it is and break only the
# pairing; the *gap* (observed minus null, per recording) speaks for shared structure, and
# its peak gets the same bootstrap.

# %%
shifted = nulls.circular_shift_null(dataset, ("mfcc", "ema"), n_repeats=5, seed=0)
mismatched = nulls.mismatched_null(dataset, ("mfcc", "ema"), seed=0)
rng = np.random.default_rng(0)
n_frames = np.array([dataset.hidden_state(p, 0, f).shape[0] for p, f in dataset.pick_recordings()])
n_ema = mfcc_ema["ema"].shape[1]  # the noise's stand-in for the EMA has as many columns
noise_pairs = [
    (rng.standard_normal((n, x.shape[1])), rng.standard_normal((n, n_ema)))
    for n in n_frames
    for _ in range(5)
]
noise = [cka_from_scratch(a, b) for a, b in noise_pairs]
tables = {"observed": main, "shift null": shifted, "mismatch null": mismatched}
references = pd.DataFrame(
    {name: t[t["target"] == "EMA"].groupby("layer")["value"].mean() for name, t in tables.items()}
)
references.insert(1, "noise", np.mean(noise))
references["gap shift"] = references["observed"] - references["shift null"]
references["gap mismatch"] = references["observed"] - references["mismatch null"]
references.loc["mean"] = references.mean()
n_recordings = main["filename"].nunique()
print(f"EMA, mean over {n_recordings} recordings ({n_frames.min()}–{n_frames.max()} frames):")
print(references.round(3).to_string())
smallest = references.drop("mean").nsmallest(2, "gap mismatch")
low, high = references["observed"].drop("mean").agg(["min", "max"])
where = "inside" if low <= np.mean(noise) <= high else "outside"
print(
    f"observed EMA CKA spans {low:.3f}–{high:.3f} over layers; noise of these shapes scores "
    f"{np.mean(noise):.3f},"
)
print(f"{where} that range (sd {np.std(noise):.3f} over {len(noise)} draws)")
for layer, row in smallest.iterrows():
    print(
        f"small gap at layer {layer}: {row['gap shift']:.3f} (circular shift), "
        f"{row['gap mismatch']:.3f} (mismatched recording)"
    )


# %% mystnb={"image": {"alt": "Linear CKA per layer beside the circular-shift null"}}
def gaps_per_recording(null):
    """Observed minus the null's mean over its repeats, per recording, target and layer."""
    keys = ["filename", "target", "layer"]
    gap = main.set_index(keys)["value"] - null.groupby(keys)["value"].mean()
    return gap.rename("value").reset_index()


for baseline, null in {"circular shift": shifted, "mismatched": mismatched}.items():
    gaps = gaps_per_recording(null)
    for target in ("MFCC", "EMA"):
        show_peak(gaps[gaps["target"] == target], f"{target}, gap to {baseline}")
ax = plots.cka_by_layer(
    main, null=shifted, errorbar=stats.errorbar(), title="Linear CKA and a circular-shift null"
)
plots.show(ax)

# %% [markdown]
# Read the table by columns. A raw EMA value has to be read beside the noise column: where
# unrelated noise of the same shapes scores as much, the raw value says nothing on its own.
# Nor is noise the baseline: it spreads its variance evenly over all its columns, while a
# layer's variance sits in a few directions, which the nulls keep. The gaps are the evidence.
# Where the gap to the mismatched recording is near 0 (the layers printed last), a layer
# shares with the articulation little more than the EMA of another recording by the same
# speaker would. The peak of the gap, with its near-peak layers, is the readout to report.
#
# ## Summary
#
# - CKA is a few lines of numpy (Gram, centre, HSIC, normalise); U-centring instead of
#   centring gives debiased CKA. Both, and the loop over recordings and layers, match the
#   package to within $10^{-12}$.
# - Per-recording linear CKA gives each layer a similarity to the acoustics (MFCC) and to the
#   articulation (EMA), with a band over recordings. A peak layer comes with its bootstrap:
#   `p_peak` and the layers that cannot be told apart from it.
# - The reported real-data numbers, read off the original figure, are compared only on their
#   own subset and recipe; the pooled, grid-aligned analysis is ours.
# - Raw CKA is not the evidence: read it beside noise of the same shapes and two nulls that
#   keep time, and report the gap to the null and its peak.
#
# ## Going further: what "similarity to acoustics" measures
#
# The first MFCC, c0, is the frame's log energy: how loud the frame is. Linear CKA weighs
# every direction by its variance, so if c0 varies much more than the other coefficients,
# "CKA with MFCCs" mostly asks whether a layer tracks loudness. Three versions side by side:
# raw MFCCs, MFCCs without c0, and z-scored MFCCs (each coefficient with variance 1, per
# recording). The original chapter used MFCCs with c0, so its numbers carry the same caveat.
#
# The original MFCC recipe (chapter 00) also differs from the grid MFCCs in three ways at
# once. The second table changes one at a time: **A** the original recipe; **B** the grid
# only (windows on the model's frames, hop 320, still 12 mel bands and a 320-sample window);
# **C** B with 40 mel bands; **D** C with a 400-sample window, the grid MFCCs used above.


# %%
def mfcc_variants(p, name):
    """Every MFCC variant of one recording, on the hidden states' frame count."""
    layer_states, t = targets.aligned_recording(dataset, p, name, ("mfcc", "mfcc_original"))
    audio, mfcc, sr = dataset.audio(p, name), t["mfcc"], dataset.sample_rate
    variants = {
        "MFCC raw": mfcc,
        "without c0": mfcc[:, 1:],
        "z-scored": (mfcc - mfcc.mean(axis=0)) / mfcc.std(axis=0),
        "A: original": t["mfcc_original"],
        "B: grid": frames.mfcc_frames(audio, sr, n_mels=12, n_fft=320),
        "C: + 40 mels": frames.mfcc_frames(audio, sr, n_mels=40, n_fft=320),
        "D: + n_fft 400": mfcc,
    }
    return layer_states, {label: v[: len(mfcc)] for label, v in variants.items()}


rows, c0_share = [], []
for p, name in dataset.pick_recordings():
    layer_states, variants = mfcc_variants(p, name)
    variance = variants["MFCC raw"].astype(np.float64).var(axis=0)
    c0_share.append(variance[0] / variance.sum())
    table = recordings.recording_cka(layer_states, variants)
    for label in variants:
        rows += recordings.table_rows(table[label], filename=name, target=label)
variant_means = stats.summarise(pd.DataFrame(rows)).pivot(
    index="layer", columns="target", values="mean"
)
c0_share = np.array(c0_share)
print(
    f"c0's share of the MFCC variance per recording: mean {c0_share.mean():.0%} "
    f"(range {c0_share.min():.0%}–{c0_share.max():.0%})"
)
energy = variant_means[["MFCC raw", "without c0", "z-scored"]]
print(energy.round(3).to_string())
rho = energy["MFCC raw"].corr(energy["without c0"], method="spearman")
print(f"layers ranked by CKA, raw vs without c0: Spearman ρ = {rho:.2f}")

# %%
steps = variant_means[["A: original", "B: grid", "C: + 40 mels", "D: + n_fft 400"]]
print(steps.round(3).to_string())
change = {
    "grid (B − A)": steps["B: grid"] - steps["A: original"],
    "n_mels 12 → 40 (C − B)": steps["C: + 40 mels"] - steps["B: grid"],
    "n_fft 320 → 400 (D − C)": steps["D: + n_fft 400"] - steps["C: + 40 mels"],
}
print("\nchange in CKA, mean over layers (min to max):")
for what, delta in change.items():
    print(f"  {what:24s} {delta.mean():+.3f} ({delta.min():+.3f} to {delta.max():+.3f})")
if dataset.source == "sample":
    built_in = (
        "Built into the sample: the simulated encoder's acoustic source is a 40-band log-mel "
        "spectrum of exactly the 400-sample window on this grid (hop 320). Every step, the "
        "grid (B) as much as C and D, moves the MFCCs towards what was planted, so none of "
        "these gains is evidence about Wav2Vec2."
    )
    print("\n" + textwrap.fill(built_in, 88))

# %% [markdown]
# ## Going further: debiased CKA and an RBF kernel
#
# Debiased CKA (section 1) removes the bias that lifts unrelated spaces above 0. CKA is a
# ratio, and debiasing changes its numerator and both self terms in the denominator, so the
# debiased value can end up on either side of the biased one. The RBF kernel (bandwidth = the
# median distance, as in the original chapter) weighs which frames are close to which. Their
# numbers need not match the linear ones; what matters is whether the *shape over layers*
# stays, which the rank correlation of the layer profiles answers.

# %%
debiased = recordings.layer_target_cka(dataset, ("mfcc", "ema"), debiased=True)
rbf = recordings.layer_target_cka(dataset, ("mfcc", "ema"), kernel="rbf")
estimators = pd.concat([main, debiased, rbf], ignore_index=True)
table = stats.summarise(estimators, by=["target", "estimator", "layer"])
wide = table.pivot(index="layer", columns=["target", "estimator"], values="mean")
for target in ("MFCC", "EMA"):
    linear = wide[(target, "linear")]
    gap = linear - wide[(target, "linear, debiased")]
    print(
        f"{target}: biased − debiased {gap.min():+.3f} to {gap.max():+.3f} over layers; "
        "rank correlation ρ"
    )
    for estimator in ("linear, debiased", "RBF σ=1×median"):
        rho = linear.corr(wide[(target, estimator)], method="spearman")
        print(f"  of the linear and the {estimator} profiles: {rho:.3f}")
noise_debiased = [cka_from_scratch(a, b, u_centre) for a, b in noise_pairs]
print(
    f"noise of the reference table: biased CKA {np.mean(noise):.3f}, "
    f"debiased {np.mean(noise_debiased):+.3f}"
)

# %% mystnb={"image": {"alt": "Biased, debiased and RBF CKA per layer for MFCC and EMA"}}
fig, axes = plt.subplots(1, 2, figsize=(7, 3.6), layout="constrained", sharey=True)
for ax, target in zip(axes, ("MFCC", "EMA"), strict=True):
    plots.cka_by_layer(
        estimators[estimators["target"] == target], hue="estimator", ax=ax,
        errorbar=stats.errorbar(),
    )  # fmt: skip
    ax.set(title=target, xlabel="layer", ylabel="")
    ax.get_legend().remove()
axes[0].set_ylabel("CKA (mean over recordings)")
fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center", ncols=3)
fig.suptitle("Three estimators (lines: mean; bands: 95% CI over recordings)")
plots.show(fig)

# %% [markdown]
# ## Exercises
#
# 1. Repeat the per-recording analysis for one speaker at a time (`participants=[...]`). Do
#    the two speakers give the same layer profile, and the same near-peak layers?
# 2. Compute CKA with only the tongue sensors (`TR`, `TB`, `TT`) and only the lip and jaw
#    sensors. Which subset is closer to the model? (Hint: `targets.aligned_recording` gives
#    the EMA frames; `frames.EMA_COLUMNS` gives the column order.)
# 3. How does the circular-shift null for EMA change if the minimum shift is 40% instead of
#    10% of the recording? Why might very small shifts give a misleadingly high null? (Try
#    1% too.)
# 4. EMA row $t$ is the sensor position at $20t$ ms, the *start* of frame $t$'s 25 ms
#    window, 12.5 ms before its centre. The target `"ema_centre"` interpolates the EMA to the
#    window centre. Does the half window change CKA?
# 5. Articulators move before the sound they shape is heard. Pair frame $t$ of layer 6 with
#    EMA row $t + k$ for $k = -10 \dots 10$ (±200 ms): at which lag does CKA peak?

# %% tags=["hide-cell"]
# Solution 1
for p in dataset.participants:
    own = main[main["participant"] == p]
    for target in ("MFCC", "EMA"):
        show_peak(own[own["target"] == target], f"{p}, {target}")
profiles = stats.summarise(main, by=["participant", "target", "layer"]).pivot(
    index="layer", columns=["target", "participant"], values="mean"
)
first, second = dataset.participants[:2]
for target in ("MFCC", "EMA"):
    a, b = profiles[(target, first)], profiles[(target, second)]
    print(
        f"Answer for {target}: Spearman ρ of the two speakers' profiles "
        f"{a.corr(b, method='spearman'):.2f}, largest difference {(a - b).abs().max():.3f}"
    )

# %% tags=["hide-cell"]
# Solution 2
subsets = {"tongue": ("TR", "TB", "TT"), "lips and jaw": ("UL", "LL", "JAW")}
rows = []
for p, name in dataset.pick_recordings():
    layer_states, ema_target = targets.aligned_recording(dataset, p, name, "ema")
    columns = [c.split("_")[0] for c in frames.EMA_COLUMNS]
    parts = {
        subset: ema_target["ema"][:, [sensor in sensors for sensor in columns]]
        for subset, sensors in subsets.items()
    }
    scores = recordings.recording_cka(layer_states, parts)  # layers × subsets
    for subset in parts:
        rows += recordings.table_rows(scores[subset], filename=name, subset=subset)
subset_table = stats.summarise(pd.DataFrame(rows), by=["subset", "layer"])
subset_wide = subset_table.pivot(index="layer", columns="subset", values="mean")
print(subset_wide.round(3).to_string())
tongue_ahead = (subset_wide["tongue"] > subset_wide["lips and jaw"]).sum()
closer = "tongue" if tongue_ahead > len(subset_wide) / 2 else "lips and jaw"
answer = (
    f"Answer: the {closer} subset is closer at "
    f"{max(tongue_ahead, len(subset_wide) - tongue_ahead)} of {len(subset_wide)} layers (mean "
    f"over layers: tongue {subset_wide['tongue'].mean():.3f}, lips and jaw "
    f"{subset_wide['lips and jaw'].mean():.3f})."
)
print(textwrap.fill(answer, 88))

# %% tags=["hide-cell"]
# Solution 3
wide_null = nulls.circular_shift_null(dataset, "ema", min_fraction=0.4, seed=0)
narrow_mean = stats.summarise(shifted[shifted["target"] == "EMA"])["mean"].mean()
wide_mean = stats.summarise(wide_null)["mean"].mean()
print(
    textwrap.fill(
        f"random shifts, mean null over layers: ≥ 10% {narrow_mean:.3f}, ≥ 40% {wide_mean:.3f} "
        f"(difference {narrow_mean - wide_mean:+.3f}); the offsets are drawn uniformly between "
        "the minimum and T minus the minimum, so most draws are far from 0 either way",
        88,
    )
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
answer = (
    f"Answer: shifted by exactly 1% the EMA gives CKA {by_shift['shift 1%']:.3f} on average "
    f"over layers, against {by_shift['shift 10%']:.3f} at 10%, {by_shift['shift 40%']:.3f} "
    f"at 40% and {references.loc['mean', 'observed']:.3f} unshifted."
)
if by_shift["shift 1%"] > by_shift["shift 10%"]:
    answer += (
        " A tiny shift leaves most frames next to their true partners, and because speech is "
        "smooth those neighbours are still similar, so such a 'null' still contains signal."
    )
print(textwrap.fill(answer, 88))

# %% tags=["hide-cell"]
# Solution 4
timing = stats.summarise(recordings.layer_target_cka(dataset, ("ema", "ema_centre")))
timing = timing.pivot(index="layer", columns="target", values="mean")
delta = timing[targets.TARGETS["ema_centre"]] - timing["EMA"]
print(timing.assign(**{"centre − start": delta}).round(3).to_string())
half_band = (peaks["EMA"]["high"] - peaks["EMA"]["low"]).mean() / 2
answer = (
    f"Answer: centre − start is {delta.mean():+.4f} on average over layers "
    f"({delta.min():+.4f} to {delta.max():+.4f}), against a 95% interval of ±{half_band:.3f}."
)
if dataset.source == "sample":
    answer += (
        " Built into the sample: the simulated encoder was given EMA row t for frame t (the "
        "window start), so the start version matches what was planted."
    )
print(textwrap.fill(answer, 88))

# %% tags=["hide-cell"]
# Solution 5
rows = []
for p, name in dataset.pick_recordings():
    layer_states, ema_target = targets.aligned_recording(dataset, p, name, "ema", layers=[6])
    layer_6, ema_rows = layer_states[6], ema_target["ema"]
    n = len(ema_rows)
    for k in range(-10, 11):
        a, b = max(0, -k), max(0, k)  # frame t meets EMA row t + k
        value = feature_space_linear_cka(layer_6[a : n - b], ema_rows[b : n - a])
        rows.append({"filename": name, "layer": k, "value": value})  # "layer" holds the lag
lag_peak = stats.peak_layers(pd.DataFrame(rows)).rename(columns={"layer": "lag"})
lag_peak["lag_ms"] = 20 * lag_peak["lag"]
print(lag_peak.set_index("lag_ms").loc[::5, ["mean", "low", "high", "p_peak"]].round(3).to_string())
top = lag_peak.loc[lag_peak["mean"].idxmax()]
near = lag_peak.loc[lag_peak["near_peak"], "lag_ms"].tolist()
answer = (
    f"Answer: CKA peaks at {top['lag_ms']:+.0f} ms ({top['mean']:.3f}, p_peak "
    f"{top['p_peak']:.2f}); lags whose interval reaches the peak's: {near} ms."
)
if dataset.source == "sample":
    answer += " Built into the sample: EMA row t was planted at frame t, i.e. at lag 0."
print(textwrap.fill(answer, 88))
