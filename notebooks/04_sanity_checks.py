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
# A similarity index always returns a number. Before we interpret CKA values of Wav2Vec2
# layers, we should know three things about the index itself:
#
# 1. **What it ignores.** CKA is designed to be unchanged by some transformations of a
#    representation (rotations, overall scale, shifts) and to react to others. We check this
#    on a real layer of the dataset.
# 2. **What it invents.** With few stimuli and many features, biased CKA reports high
#    similarity between *completely unrelated* random data. Chapter 03 met this on its own
#    comparisons; here we map it over a grid of `n` and `d`, as a function of the ratio of
#    features to stimuli `d / n`, and compare with the debiased estimator.
# 3. **Whether it finds a known answer.** The synthetic sample's encoder is built from four
#    planted sources with known weights per layer. If CKA is a good readout, its layer profile
#    for each source should follow the planted one.
#
# ## Prerequisites
#
# Chapter 02 (linear CKA from centred Gram matrices). Chapter 03, section 1, introduces the
# bias of biased CKA on its own stimuli; section 2 below repeats the idea from scratch, so this
# chapter can be read on its own.

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
# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import display
from scipy import stats

from tutorial_utils import cka_matrix, load_dataset, notice, plots, sample, sanity, targets

pd.set_option("display.precision", 3)
pd.set_option("display.width", 120)

# %%
dataset = load_dataset()
print(notice.data_line(dataset))
print(dataset)

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
states, mfcc = targets.aligned_recording(
    dataset, participant, filename, targets="mfcc", layers=[middle]
)
x, y = states[middle], mfcc["mfcc"]
print(f"{participant} / {filename}: layer {middle} frames {x.shape}, MFCCs {y.shape}")

invariances = sanity.invariance_table(x, y, seed=0)
display(invariances)

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
#   linear CKA, and why per-feature standardisation (z-scoring) changes CKA values.
#
# ## 2. What CKA invents: unrelated data and the ratio d / n
#
# Two independent matrices of Gaussian noise share nothing, so an ideal similarity index
# would give 0. We draw pairs of `n × d` noise matrices for several `n` and two values of
# `d` (12 like MFCC or EMA, 768 like a layer), 10 pairs per setting, and compute biased and
# debiased linear CKA (the debiased estimator replaces the plug-in HSIC by an unbiased one
# {cite:p}`song2012feature`, {cite:p}`murphy2024debiased`).

# %%
noise = sanity.noise_cka(n_stimuli=(5, 10, 25, 50, 100, 200), n_features=(12, 768), n_repeats=10)
display(sanity.noise_summary(noise))

# %% [markdown]
# The biased values follow `d / (d + n)` closely (column `d/(d+n)`): the expected centred Gram
# matrix of noise is proportional to the centring matrix, so two noise Gram matrices look
# alike whenever `d` is large compared with `n`. The debiased estimator is centred on 0 but
# varies more from draw to draw when `n` is small (column `debiased std`).
#
# Where do this tutorial's own comparisons sit on this curve? The dotted lines mark them.

# %%
first, second = dataset.participants[:2]
n_dims = x.shape[1]
n_shared = len(dataset.shared_sentences(first, second))
frames_per_recording = int(
    np.median(
        [
            dataset.hidden_state(first, middle, f).shape[0]
            for f in dataset.pick_filenames(first)
        ]
    )
)
settings = {
    f"sentence means, n = {len(dataset.pick_filenames(first))}": n_dims
    / len(dataset.pick_filenames(first)),
    f"shared sentences, n = {n_shared}": n_dims / n_shared,
    f"frames of a recording, n ≈ {frames_per_recording}": n_dims / frames_per_recording,
}
for name, ratio in settings.items():
    print(
        f"{name}: d / n = {ratio:.1f}, biased CKA of noise ≈ "
        f"{sanity.expected_noise_cka(round(n_dims / ratio), n_dims):.3f}"
    )

fig, ax = plt.subplots(figsize=(9, 5))
plots.noise_cka(noise, ax=ax, marks=settings)
plots.show(fig)

# %% [markdown]
# With one mean vector per recording (the sentence-mean rows above), biased CKA of pure noise
# is already at the printed values, close to 1: a colour scale that starts at 0.8 cannot
# distinguish structure from this artefact. Even on the frames of one recording, unrelated
# 768-dimensional data would reach the value printed above. Real representations are not
# isotropic noise, so their inflation is smaller, but it cannot be read off the biased value:
# report the debiased estimate, or compare with a baseline computed the same way.
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
# So this section always loads the sample, whatever the rest of the chapter uses.

# %%
synthetic = dataset if dataset.source == "sample" else load_dataset("sample")
if dataset.source != "sample":
    print("The chapter runs on the real data; this section uses the synthetic sample.")
truth = sample.ground_truth()
print("Planted weight of each source in each layer:")
display(truth.T)

# %% [markdown]
# For every layer and every source we compute linear CKA between the layer's frames and the
# source's values on the same frames. The frames of all recordings of both speakers are pooled
# into one set of stimuli: the speaker vector is constant within a recording, so it is only
# visible when frames of different speakers are compared.

# %%
recovered = sanity.planted_profile(synthetic)
n_pooled = sum(
    synthetic.hidden_state(p, 0, f).shape[0]
    for p in synthetic.participants
    for f in synthetic.pick_filenames(p)
)
print(f"stimuli: {n_pooled} frames from the recordings of {', '.join(synthetic.participants)}")
display(recovered.T)
recovery = sanity.profile_recovery(recovered, truth)
recovery["planted range"] = truth.max() - truth.min()
display(recovery)

# %%
fig, axes = plt.subplots(1, 2, figsize=(13, 4.5))
plots.layer_profile(
    truth.reset_index(),
    list(truth.columns),
    ax=axes[0],
    title="Planted: weight of each source per layer",
    ylabel="planted amplitude weight (unitless)",
)
plots.layer_profile(
    recovered.reset_index(),
    list(truth.columns),
    ax=axes[1],
    title="Recovered: CKA of each layer with each source",
    ylabel="linear CKA (pooled frames)",
)
for ax in axes:
    ax.set_xlabel("layer (index)")
fig.tight_layout()
plots.show(fig)

# %% [markdown]
# The `spearman` column is the rank correlation, over the 13 layers, between the recovered
# CKA profile and the planted weights; `peak_recovered` and `peak_planted` are the layers where
# each profile is highest; `planted range` is how much the planted weight varies over layers.
# A source whose weight hardly changes from layer to layer leaves little to rank, so for it a
# modest rank correlation is a weak test rather than a failure. Where the two peaks differ,
# keep in mind what CKA measures: not how
# much of a source a layer contains in absolute terms, but how much of the layer's *geometry*
# the source explains. A source's CKA therefore also depends on the weights of all the other
# sources and of the noise in that layer. The next cell tests this explanation: it computes
# each source's share of a layer's planted variance (its squared weight divided by the sum of
# all squared weights, noise and the large-variance "rogue" dimensions included) and
# correlates the recovered profile with that share instead.

# %%
squared = sample.LAYER_PROFILE**2
share = squared[truth.columns].div(squared.sum(axis=1), axis=0)
by_share = sanity.profile_recovery(recovered, share)
display(
    pd.DataFrame(
        {
            "spearman with weight": recovery["spearman"],
            "spearman with variance share": by_share["spearman"],
            "peak of share": by_share["peak_planted"],
            "peak recovered": recovery["peak_recovered"],
        }
    )
)

# %% [markdown]
# This is the point of the exercise: a method can be *correct* (it finds the structure that
# is there) and still be easy to misread (its number is a share of the geometry, not an
# amount). Testing on data with a planted answer tells us which of its readings we can trust
# before we apply it where there is no answer key.
#
# ## Summary
#
# - Linear CKA ignores rotations, isotropic scaling and translations, and reacts to per-feature
#   scaling and general linear maps; large-variance directions dominate it.
# - Biased CKA of unrelated data is about `d / (d + n)`: near 1 for sentence means in 768
#   dimensions, clearly above 0 even for the frames of one recording. The debiased estimator is
#   centred on 0 but noisy when `n` is small.
# - On the synthetic sample, CKA's layer profiles can be checked against the planted sources
#   (rank correlations and peak layers printed above). CKA measures how much of a layer's
#   geometry a source accounts for, which depends on every other source in that layer too;
#   compare the correlations with the raw weights and with the variance shares.
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

# %% tags=["hide-input"]
# Solution 1
harsh = sanity.invariance_table(x, y, seed=0, condition=1e4)
display(pd.DataFrame({"change, condition 1e2": invariances["change"],
                      "change, condition 1e4": harsh["change"]}))
at_zero = harsh.index[harsh["change"].abs() < 1e-10].tolist()
moved = [row for row in harsh.index if row not in at_zero]
sizes = {row: (abs(invariances.loc[row, "change"]), abs(harsh.loc[row, "change"])) for row in moved}
print(
    f"Answer: {len(at_zero)} rows stay at 0 ({', '.join(at_zero)}): the condition number does "
    "not enter them. For the others, |change| goes "
    + "; ".join(f"{old:.4f} → {new:.4f} ({row})" for row, (old, new) in sizes.items())
    + ". "
    + ("It grows for both, so a more anisotropic map moves CKA further."
       if all(new > old for old, new in sizes.values())
       else "It does not grow with the spread alone: how far CKA moves depends on which of "
       "x's directions the map enlarges relative to the others.")
)

# %% tags=["hide-input"]
# Solution 2
rng = np.random.default_rng(0)
n, d_x, d_y = 100, 768, 12
draws = [
    cka_matrix([rng.standard_normal((n, d_x))], [rng.standard_normal((n, d_y))])[0, 0]
    for _ in range(20)
]
approximation = np.sqrt(d_x * d_y / ((d_x + n) * (d_y + n)))
print(f"simulated mean {np.mean(draws):.3f} (sd {np.std(draws):.3f}), formula {approximation:.3f}")
print(
    f"Answer: the formula is off by {np.mean(draws) - approximation:+.4f}, i.e. "
    f"{abs(np.mean(draws) - approximation) / np.std(draws):.1f} draw standard deviations: a "
    f"768-dimensional layer and 12 unrelated features on {n} frames already score "
    f"{np.mean(draws):.2f} with biased CKA."
)

# %% tags=["hide-input"]
# Solution 3
one_speaker = sanity.planted_profile(synthetic, participants=[synthetic.participants[0]])
display(
    pd.DataFrame({"both speakers": recovered["speaker"], "one speaker": one_speaker["speaker"]})
)
rho_one = stats.spearmanr(one_speaker["speaker"], truth["speaker"])[0]
rho_both = recovery.loc["speaker", "spearman"]
print(
    f"Answer: with one speaker the speaker column is flatter (range over layers "
    f"{np.ptp(one_speaker['speaker']):.3f} vs {np.ptp(recovered['speaker']):.3f}) and follows "
    f"the planted weights less (Spearman {rho_one:.2f} vs {rho_both:.2f}). Why: by "
    "construction the speaker source is a constant vector per speaker plus the frame's "
    "spectral tilt; within one speaker the constant is removed by centring, so only the tilt "
    "varies, and the tilt is also part of the acoustics."
)
