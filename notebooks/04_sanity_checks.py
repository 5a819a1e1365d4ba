# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Sanity checks: test your method where you know the answer
#
# ## Overview
#
# **Going further** chapter: about 27 minutes; not needed for the core path.
#
# Chapters 02 and 03 already relied on three properties of CKA: that it ignores some
# transformations of a representation, that biased CKA inflates with few stimuli in many
# dimensions, and that its layer profiles can be read as "how much of X a layer holds". This
# chapter revisits each where the answer is known:
#
# 1. **What it ignores**, checked on a real layer of the dataset: rotations, overall scale and
#    shifts, but not per-feature scaling or general linear maps.
# 2. **What it invents**: chapter 03, section 1 printed biased CKA of pure noise at its own
#    shapes; here the whole curve over the ratio of features to stimuli `d / n`, with the
#    debiased estimator beside it.
# 3. **Whether it finds a known answer**: the synthetic sample's encoder is built from four
#    planted sources with known weights per layer. Does each source's CKA profile follow its
#    planted weight?
#
# ## Prerequisites
#
# Chapters 02 (linear CKA from centred Gram matrices) and 03, section 1 (the bias of biased
# CKA).

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
from IPython.display import display
from scipy import stats

from tutorial_utils import cka_matrix, load_dataset, notice, plots, sample, sanity, targets

# %%
dataset = load_dataset()
print(textwrap.fill(notice.data_line(dataset), 88))

# %% [markdown]
# ## 1. What CKA ignores: invariances
#
# We take one recording, the frames of a middle layer (`x`, 768 features) and the recording's
# MFCCs on the same frame grid (`y`, 12 features), and compute linear CKA between them. Then
# we transform `x` in five ways and compute CKA again:
#
# - an **orthogonal rotation** of the 768 dimensions (a random orthogonal matrix);
# - **isotropic scaling**: every feature multiplied by the same number;
# - **translation**: the same vector added to every frame;
# - **per-feature scaling**: every feature multiplied by its own number (up to 100× apart);
# - a **general invertible linear map** (singular values spread over a factor of 100).
#
# None of these transformations destroys any information: each can be undone. CKA is
# nevertheless built to ignore only the first three. `cka_with_original` is the CKA between
# `x` and its transformed version.

# %%
participant = dataset.participants[0]
filename = dataset.pick_filenames(participant)[0]
middle = dataset.layers[len(dataset.layers) // 2]
print("computing MFCCs; a fresh runtime first compiles librosa's kernels (up to a minute)")
states, mfcc = targets.aligned_recording(
    dataset, participant, filename, targets="mfcc", layers=[middle]
)
x, y = states[middle], mfcc["mfcc"]
print(f"{participant} / {filename}: layer {middle} frames {x.shape}, MFCCs {y.shape}")
invariances = sanity.invariance_table(x, y, seed=0)
invariances.round(4)

# %% [markdown]
# The first three rows leave CKA unchanged up to rounding (`change` ≈ 0 and
# `cka_with_original` = 1), the last two change it. That is by design
# {cite:p}`kornblith2019similarity`:
#
# - Centring removes translations, and the normalisation by both self-similarities removes
#   overall scale.
# - Rotations change no distance or angle between stimuli, so the Gram matrix `X Xᵀ` is
#   unchanged.
# - A general invertible map changes which directions are large. An index that ignored every
#   invertible linear map could not tell representations apart at all when there are fewer
#   stimuli than features (`n ≤ d`): any two such representations can be mapped onto each
#   other. CKA weights directions by their variance, so a large-variance direction counts
#   more than a small one. That is also why a few dimensions with huge variance can dominate
#   linear CKA (chapter 02's c0), and why per-feature standardisation (z-scoring) changes CKA
#   values.
#
# ## 2. What CKA invents: unrelated data and the ratio d / n
#
# Chapter 03, section 1 printed the table: two independent Gaussian noise matrices share
# nothing, yet biased CKA scores them near `d / (d + n)`, while the debiased estimator
# {cite:p}`song2012feature`, {cite:p}`murphy2024debiased` is centred on 0. The figure draws
# the whole curve for `d` = 12 (like MFCC or EMA) and 768 (like a layer), 10 pairs per
# setting, with this tutorial's own comparisons marked by dotted lines.

# %% mystnb={"image": {"alt": "CKA of unrelated noise against d / n"}}
noise = sanity.noise_cka(n_stimuli=(5, 10, 25, 50, 100, 200), n_features=(12, 768), n_repeats=10)
first, second = dataset.participants[:2]
n_dims = x.shape[1]
n_means = len(dataset.pick_filenames(first))
n_shared = len(dataset.shared_sentences(first, second))
n_frames = int(np.median([dataset.hidden_state(first, middle, f).shape[0]
                          for f in dataset.pick_filenames(first)]))  # fmt: skip
settings = {f"sentence means, n = {n_means}": n_dims / n_means,
            f"shared sentences, n = {n_shared}": n_dims / n_shared,
            f"frames of a recording, n ≈ {n_frames}": n_dims / n_frames}  # fmt: skip
for name, ratio in settings.items():
    print(f"{name}: d / n = {ratio:.1f}, biased CKA of noise ≈ "
          f"{sanity.expected_noise_cka(round(n_dims / ratio), n_dims):.3f}")
fig, ax = plt.subplots(figsize=(8, 4.5), layout="constrained")
plots.noise_cka(noise, ax=ax, marks=settings)
plots.show(fig)

# %% [markdown]
# With one mean vector per recording, biased CKA of pure noise is already at the printed
# values, close to 1; even on the frames of one recording, unrelated 768-dimensional data
# reach the value printed last. The debiased estimator stays near 0 but spreads widely when
# `n` is small (the bands). Real representations are not isotropic noise, so their inflation
# is smaller, but it cannot be read off the biased value: report the debiased estimate, or
# compare with a baseline computed the same way.
#
# ## 3. Test your method where you know the answer: the planted profile
#
# The real data have no ground truth: nobody knows how much acoustic or articulatory
# information each Wav2Vec2 layer "really" holds, which is exactly why we measure it. The
# synthetic sample was built so that we *do* know: each simulated layer is a weighted mixture
# of four sources, passed through fixed random 768-dimensional projections, plus noise (see
# `tutorial_utils.sample`):
#
# - `acoustic`: the log-mel spectrum of the frame;
# - `articulatory`: the 12 virtual EMA coordinates;
# - `content`: an embedding of the phone being spoken (the same for both speakers);
# - `speaker`: a constant vector per speaker plus the frame's spectral tilt.
#
# So this section always loads the sample, whatever the rest of the chapter uses. For every
# layer and every source we compute linear CKA between the layer's frames and the source's
# values on the same frames, pooling the frames of all recordings of both speakers (the
# speaker vector is constant within a recording, so it is only visible across speakers).

# %%
synthetic = dataset if dataset.source == "sample" else load_dataset("sample")
if dataset.source != "sample":
    print("The chapter runs on the real data; this section uses the synthetic sample.")
truth = sample.ground_truth()
recovered = sanity.planted_profile(synthetic)
recovery = sanity.profile_recovery(recovered, truth)
recovery["planted range"] = truth.max() - truth.min()
display(truth.T.rename_axis("planted weight"), recovered.T.rename_axis("recovered CKA").round(2))
recovery.round(3)

# %% mystnb={"image": {"alt": "Planted weights and recovered CKA per layer"}}
fig, axes = plt.subplots(1, 2, figsize=(9, 3.8), layout="constrained", sharex=True)
for ax, table, title, ylabel in [
    (axes[0], truth, "Planted weight per layer", "planted amplitude weight"),
    (axes[1], recovered, "Recovered: CKA with each source", "linear CKA (pooled frames)"),
]:
    plots.layer_profile(table.reset_index(), list(truth.columns), ax=ax, title=title,
                        ylabel=ylabel)  # fmt: skip
    ax.set_xticks(truth.index[::2])
    ax.get_legend().remove()  # one legend for both, off the curves
fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center", ncols=4)
plots.show(fig)

# %% [markdown]
# The `spearman` column is the rank correlation, over the 13 layers, between the recovered
# CKA profile and the planted weights; `peak_recovered` and `peak_planted` are the layers where
# each profile is highest; `planted range` is how much the planted weight varies over layers
# (a source whose weight hardly changes leaves little to rank). Which sources follow their
# planted weight closely, and which do not?

# %%
followed = recovery.index[recovery["spearman"] >= 0.9].tolist()
print(f"rank correlation >= 0.9 with the planted weight: {', '.join(followed) or 'none'}")
for source, row in recovery.drop(followed).iterrows():
    print(f"{source}: rho = {row['spearman']:.3f} (p = {row['p_value']:.3f}), "
          f"peak at layer {row['peak_recovered']:.0f}, planted peak at layer "
          f"{row['peak_planted']:.0f}")

# %% [markdown]
# One explanation to test: CKA measures how much of a layer's *geometry* a source explains,
# not how much of the source the layer holds, so a source's CKA also depends on every other
# source and on the noise in that layer. If so, the profile should follow each source's share
# of the layer's planted variance (its squared weight over the sum of all squared weights,
# noise and the large-variance "rogue" dimensions included) better than the raw weight. The
# second cell measures how much the sources themselves resemble each other on these frames.

# %%
squared = sample.LAYER_PROFILE**2
share = squared[truth.columns].div(squared.sum(axis=1), axis=0)
by_share = sanity.profile_recovery(recovered, share)
pd.DataFrame({"spearman with weight": recovery["spearman"],
              "spearman with variance share": by_share["spearman"],
              "peak of share": by_share["peak_planted"],
              "peak recovered": recovery["peak_recovered"]}).round(3)  # fmt: skip

# %%
pooled: dict[str, list] = {}
for p in synthetic.participants:
    for f in synthetic.pick_filenames(p):
        planted = sample.planted_sources(synthetic, p, f)
        n = min(len(v) for v in planted.values())
        for source, values in planted.items():
            pooled.setdefault(source, []).append(values[:n])
between = cka_matrix(*[{k: np.concatenate(v) for k, v in pooled.items()}] * 2)
between.rename_axis("CKA between the sources").round(3)

# %% [markdown]
# The variance share changes the rank correlations only a little (compare the first two
# columns), so it does not rescue a source whose profile did not follow its weight. A
# plausible reason is in the last table: the planted sources are not independent (the phone
# being spoken shapes both the sound and the articulators), and CKA of a layer with one
# source also counts the geometry it shares with a correlated source that has its own layer
# profile. CKA cannot separate correlated sources. A test on planted data tells us which of a
# method's readings to trust before we apply it where there is no answer key; chapter 05
# repeats it for other measures on the articulatory source, with each measure's score taken
# relative to a circular-shift null.
#
# ## Summary
#
# - Linear CKA ignores rotations, isotropic scaling and translations, and reacts to per-feature
#   scaling and general linear maps; large-variance directions dominate it.
# - Biased CKA of unrelated data is about `d / (d + n)`: near 1 for sentence means in 768
#   dimensions, clearly above 0 even for the frames of one recording. The debiased estimator is
#   centred on 0 but noisy when `n` is small.
# - On the synthetic sample, the printed rank correlations show which planted profiles CKA
#   recovers. Where it fails, neither the raw weight nor the variance share explains the
#   profile: sources that resemble each other (printed) are mixed in each one's CKA.
#
# ## Exercises
#
# 1. Make the general invertible map much more anisotropic (`condition=1e4`). How does
#    `change` in the invariance table respond? Which rows stay at 0, and why?
# 2. Layer-vs-MFCC comparisons pair 768 features with 12. Simulate independent noise of those
#    shapes for `n = 100` frames and compare the biased CKA with
#    `sqrt(d_x d_y / ((d_x + n) (d_y + n)))`, the two-sided version of `d / (d + n)`.
# 3. Recompute the planted profile from one speaker only
#    (`participants=[synthetic.participants[0]]`). What happens to the `speaker` column, and
#    why?

# %% tags=["hide-cell"]
# Solution 1
harsh = sanity.invariance_table(x, y, seed=0, condition=1e4)
display(pd.DataFrame({"change, condition 1e2": invariances["change"],
                      "change, condition 1e4": harsh["change"]}).round(4))
at_zero = harsh.index[harsh["change"].abs() < 1e-10].tolist()
moved = [row for row in harsh.index if row not in at_zero]
sizes = {row: (abs(invariances.loc[row, "change"]), abs(harsh.loc[row, "change"])) for row in moved}
print(textwrap.fill(
    f"Answer: {len(at_zero)} rows stay at 0 ({', '.join(at_zero)}): the condition number does "
    "not enter them. For the others, |change| goes "
    + "; ".join(f"{old:.4f} → {new:.4f} ({row})" for row, (old, new) in sizes.items())
    + ". "
    + ("It grows for both, so a more anisotropic map moves CKA further."
       if all(new > old for old, new in sizes.values())
       else "It does not grow with the spread alone: how far CKA moves depends on which of "
       "x's directions the map enlarges relative to the others."), 88))

# %% tags=["hide-cell"]
# Solution 2
rng = np.random.default_rng(0)
n, d_x, d_y = 100, 768, 12
draws = [
    cka_matrix([rng.standard_normal((n, d_x))], [rng.standard_normal((n, d_y))])[0, 0]
    for _ in range(20)
]
approximation = np.sqrt(d_x * d_y / ((d_x + n) * (d_y + n)))
print(f"simulated mean {np.mean(draws):.3f} (sd {np.std(draws):.3f}), formula {approximation:.3f}")
print(textwrap.fill(
    f"Answer: the formula is off by {np.mean(draws) - approximation:+.4f}, i.e. "
    f"{abs(np.mean(draws) - approximation) / np.std(draws):.1f} draw standard deviations: a "
    f"768-dimensional layer and 12 unrelated features on {n} frames already score "
    f"{np.mean(draws):.2f} with biased CKA.", 88))

# %% tags=["hide-cell"]
# Solution 3
one_speaker = sanity.planted_profile(synthetic, participants=[synthetic.participants[0]])
display(
    pd.DataFrame({"both speakers": recovered["speaker"], "one speaker": one_speaker["speaker"]})
    .round(3)
)
rho_one = stats.spearmanr(one_speaker["speaker"], truth["speaker"])[0]
rho_both = recovery.loc["speaker", "spearman"]
print(textwrap.fill(
    f"Answer: with one speaker the speaker column is flatter (range over layers "
    f"{np.ptp(one_speaker['speaker']):.3f} vs {np.ptp(recovered['speaker']):.3f}) and follows "
    f"the planted weights less (Spearman {rho_one:.2f} vs {rho_both:.2f}). Why: by "
    "construction the speaker source is a constant vector per speaker plus the frame's "
    "spectral tilt; within one speaker the constant is removed by centring, so only the tilt "
    "varies, and the tilt is also part of the acoustics.", 88))
