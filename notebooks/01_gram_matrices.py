# %% [markdown]
# # Gram matrices: similarity within one space
#
# ## Overview
#
# Representation-space comparisons such as RSA {cite:p}`kriegeskorte2008rsa` and CKA
# {cite:p}`kornblith2019similarity` never compare features directly. Each space first
# describes itself by how similar every pair of stimuli is; only those similarity structures
# are compared. For `n` stimuli this description is an `n × n` matrix, the **Gram** (kernel)
# matrix. This chapter builds Gram matrices step by step:
#
# 1. linear and RBF Gram matrices on a toy example;
# 2. centring, and why centring the Gram matrix is the same as centring the features;
# 3. Gram matrices of real model frames;
# 4. sentence-level Gram matrices of two speakers, layer by layer, with a number that says
#    whether a layer groups recordings by speaker or by sentence;
# 5. the same data seen as dissimilarities (RDMs), and the exact bridge between RSA and CKA.
#
# ## Prerequisites
#
# Chapter 00 (the data). Linear algebra at the level of dot products and matrix products.

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
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import display

import tutorial_utils
from tutorial_utils import (
    center_gram,
    compare_rdms,
    feature_space_linear_cka,
    gram_linear,
    gram_rbf,
    load_dataset,
    notice,
    plots,
    rdm,
    sentences,
    targets,
)

print("tutorial_utils", tutorial_utils.__version__)

# %%
dataset = load_dataset()
print(notice.data_line(dataset))

# %% [markdown]
# ## A toy example: linear and RBF kernels
#
# Take 30 points in the plane: three clusters of ten, one of them far from the origin. The
# **linear** Gram matrix holds the dot products, $K = X X^\top$, so $K_{ij}$ grows with the
# lengths of both vectors and with how aligned they are. The **RBF** (Gaussian) Gram matrix
# holds $K_{ij} = \exp(-\lVert x_i - x_j \rVert^2 / 2\sigma^2)$: 1 for identical points,
# close to 0 for points far apart compared with the bandwidth $\sigma$. Following the
# original chapter, $\sigma$ is set as a fraction (`threshold`) of the median distance
# between points, so it adapts to the scale of the data.

# %%
rng = np.random.default_rng(0)
centres = np.array([[1.0, 0.0], [0.0, 1.0], [4.0, 4.0]])
toy = np.concatenate([c + 0.3 * rng.standard_normal((10, 2)) for c in centres])
toy_labels = [f"c{k}" for k in range(3) for _ in range(10)]

fig, axes = plt.subplots(1, 3, figsize=(15, 4.2), layout="constrained")
plots.gram(gram_linear(toy), ax=axes[0], title="linear: x_i · x_j",
           cbar_label="dot product (squared units)", axis_label="point")
plots.gram(gram_rbf(toy, threshold=1.0), ax=axes[1], vmin=0, vmax=1,
           title="RBF, σ = 1 × median distance", cbar_label="kernel value (0–1)",
           axis_label="point")
plots.gram(gram_rbf(toy, threshold=0.2), ax=axes[2], vmin=0, vmax=1,
           title="RBF, σ = 0.2 × median distance", cbar_label="kernel value (0–1)",
           axis_label="point")
plots.show(fig)

# %%
same = np.equal.outer(toy_labels, toy_labels) & ~np.eye(30, dtype=bool)
for name, gram in [("linear", gram_linear(toy)), ("RBF 1.0", gram_rbf(toy, 1.0)),
                   ("RBF 0.2", gram_rbf(toy, 0.2))]:
    print(f"{name:8s} mean within-cluster {gram[same].mean():6.2f}   "
          f"between clusters {gram[~same & ~np.eye(30, dtype=bool)].mean():6.2f}")

# %% [markdown]
# In the linear Gram matrix the far cluster dominates: its points have long vectors, so all
# their dot products are large, while the structure of the two clusters near the origin is
# barely visible on the same colour scale. The RBF kernel only looks at distances, so every
# cluster forms its own bright block; a small bandwidth makes the kernel more local (only
# close neighbours count).
#
# ## Centring
#
# CKA does not use $K$ itself but its centred version $HKH$, with $H = I - \frac{1}{n}
# \mathbf{1}\mathbf{1}^\top$. For a linear kernel this is the same as subtracting the mean
# point before taking dot products: $H X X^\top H = (HX)(HX)^\top$. Centring removes the
# dependence on where the origin happens to be: the similarities are now measured relative to
# the mean point.

# %%
centred_features = toy - toy.mean(axis=0)
difference = center_gram(gram_linear(toy)) - gram_linear(centred_features)
print(f"max |HKH − (HX)(HX)ᵀ| = {np.abs(difference).max():.2e}")

fig, axes = plt.subplots(1, 2, figsize=(10, 4.2), layout="constrained")
plots.gram(gram_linear(toy), ax=axes[0], title="linear Gram, raw features",
           cbar_label="dot product", axis_label="point")
plots.gram(center_gram(gram_linear(toy)), ax=axes[1], title="centred: HKH",
           cbar_label="centred dot product", axis_label="point")
plots.show(fig)

# %% [markdown]
# ## Gram matrices of real frames
#
# Now the stimuli are the 20 ms frames of one recording. Each model layer gives a
# `(T, 768)` matrix, the MFCCs a `(T, 12)` matrix; their Gram matrices are both `T × T`, so
# they can be compared even though the features cannot. Frames close in time are similar in
# every space, which shows up as a bright diagonal band.

# %%
participant_a, participant_b = dataset.participants[:2]
filename = dataset.shared_sentences(participant_a, participant_b).loc[0, "FILENAME_A"]
states, values = targets.aligned_recording(dataset, participant_a, filename, "mfcc", layers=[6])
layer_frames, mfcc = states[6], values["mfcc"]
print(f"{filename}: layer 6 frames {layer_frames.shape}, MFCC frames {mfcc.shape}")

fig, axes = plt.subplots(1, 3, figsize=(16, 4.5), layout="constrained")
plots.gram(center_gram(gram_linear(layer_frames)), ax=axes[0],
           title="layer 6, linear (centred)", cbar_label="centred dot product",
           axis_label="frame (20 ms)")
plots.gram(gram_rbf(layer_frames), ax=axes[1], vmin=0, vmax=1,
           title="layer 6, RBF σ = 1 × median", cbar_label="kernel value (0–1)",
           axis_label="frame (20 ms)")
plots.gram(center_gram(gram_linear(mfcc)), ax=axes[2],
           title="MFCC, linear (centred)", cbar_label="centred dot product",
           axis_label="frame (20 ms)")
plots.show(fig)

# %% [markdown]
# Chapter 02 turns the resemblance between such matrices into a single number, CKA.
#
# ## Sentence-level Gram matrices of two speakers
#
# To see what a layer encodes about whole utterances, average each recording's frames into one
# 768-dimensional vector per layer, for the sentences both speakers read. Each feature is then
# z-scored across these recordings (both speakers together), and the linear Gram matrix is
# divided by the number of features, so an entry is the average product of two recordings'
# z-scores: positive when the two recordings lie on the same side of the average, negative when
# they lie on opposite sides. Rows are ordered speaker A's sentences, then speaker B's in the
# same order, so that two patterns are easy to spot:
#
# - two **speaker blocks** (top-left and bottom-right squares): a layer that mainly encodes who
#   is speaking;
# - two **off-diagonal stripes** where sentence $i$ of A meets sentence $i$ of B: a layer that
#   mainly encodes what is being said.

# %%
design = sentences.sentence_design(dataset, participant_a, participant_b)
labels = design["label"].tolist()
grams = sentences.sentence_grams(dataset, design)
display(design)

# %% [markdown]
# For live use, the slider shows one layer at a time (it needs a running kernel; the book
# shows the static figure below instead).

# %% tags=["nbval-ignore-output", "remove-output"]
from tutorial_utils.widgets import layer_slider

limit = max(np.abs(g).max() for g in grams.values())  # one colour scale for all layers


def show_layer(layer: int) -> None:
    ax = plots.gram(grams[layer], labels=labels, title=f"Sentence means, layer {layer}",
                    cbar_label="mean z-score product", axis_label="recording",
                    vmin=-limit, vmax=limit, cmap="RdBu_r")
    plots.show(ax)


display(layer_slider(sorted(grams), show_layer))

# %% [markdown]
# All 13 layers on one colour scale. The number under each layer is the readout defined
# below: mean same-speaker similarity minus mean same-sentence similarity.

# %%
readout = sentences.sentence_readout(dataset, participant_a, participant_b)
panel_text = {row.layer: f"speaker − sentence = {row.difference:+.2f}"
              for row in readout.itertuples()}
fig = plots.gram_grid(grams, labels=labels, panel_titles=panel_text,
                      cbar_label="mean z-score product",
                      title=f"Sentence-mean Gram matrices, {participant_a} and "
                                    f"{participant_b}")
plots.show(fig)

# %% [markdown]
# The readout per layer: the mean similarity of two different recordings by the same speaker,
# the mean similarity of the same sentence read by the two speakers, and their difference.
# A positive difference means speaker identity shapes the layer more than the sentence does; a
# negative one means the content wins.
#
# That difference mixes two kinds of pairs: same-speaker pairs (within a speaker) and
# same-sentence pairs (across speakers). A layer can lower it by losing speaker information
# alone, without bringing the same sentences any closer. The last column,
# `same_minus_other_sentence`, compares **cross-speaker pairs only**: the same sentence read by
# the two speakers minus different sentences read by the two speakers (`other`). Both sides
# cross the speakers, so speaker identity cancels, and a positive value means that the layer
# brings the same sentence together across speakers.

# %%
print(readout.round(3).to_string(index=False))
speaker_layer = int(readout.loc[readout["difference"].idxmax(), "layer"])
content_layer = int(readout.loc[readout["difference"].idxmin(), "layer"])
print(f"\nstrongest speaker grouping: layer {speaker_layer} "
      f"(difference {readout['difference'].max():+.3f})")
print(f"weakest speaker grouping, i.e. most sentence-like: layer {content_layer} "
      f"(difference {readout['difference'].min():+.3f})")
contrast = readout.set_index("layer")["same_minus_other_sentence"]
print(f"same minus other sentence, across speakers: largest at layer {contrast.idxmax()} "
      f"({contrast.max():+.3f}), smallest at layer {contrast.idxmin()} ({contrast.min():+.3f}); "
      f"positive in {int((contrast > 0).sum())} of {len(contrast)} layers")
low, high = notice.REAL_FINDINGS["speaker_blocks_layers"]
mid_low, mid_high = notice.REAL_FINDINGS["same_sentence_layers"]
print(f"real data, for comparison: speaker blocks in layers {low}–{high}, "
      f"same-sentence similarity in layers {mid_low}–{mid_high}")
print(notice.by_design_note(dataset))

# %%
ax = plots.layer_profile(
    readout, ["same_speaker", "same_sentence", "difference", "same_minus_other_sentence"],
    labels={"same_speaker": "same speaker", "same_sentence": "same sentence, other speaker",
            "difference": "difference",
            "same_minus_other_sentence": "same minus other sentence, across speakers"},
    ylabel="mean z-score product", title="Speaker versus sentence similarity per layer")
plots.show(ax)

# %% [markdown]
# With only a handful of recordings per speaker these means rest on few pairs (printed below),
# so small differences between neighbouring layers should not be over-read; chapter 03 adds a
# shuffled-pairing baseline for exactly this reason.

# %%
speaker_of, sentence_of = design["participant"].to_numpy(), design["sentence_id"].to_numpy()
pairs = np.triu(np.ones((len(design), len(design)), dtype=bool), k=1)
same_speaker = np.equal.outer(speaker_of, speaker_of) & pairs
same_sentence = np.equal.outer(sentence_of, sentence_of) & pairs & ~same_speaker
print(f"same-speaker pairs: {same_speaker.sum()}, same-sentence pairs (across speakers): "
      f"{same_sentence.sum()}, other-sentence pairs across speakers: "
      f"{(pairs & ~same_speaker & ~same_sentence).sum()}")

# %% [markdown]
# ## The RDM view: representational similarity analysis
#
# RSA describes a space by **dissimilarities** instead: a representational dissimilarity matrix
# (RDM) holds, for every pair of recordings, e.g. one minus the correlation of their vectors.
# Two spaces are compared by rank-correlating their RDMs. A convenient trick is to compare a
# layer with *model RDMs* that encode a hypothesis: "recordings by the same speaker are alike"
# (0 for same-speaker pairs, 1 otherwise) or "recordings of the same sentence are alike".

# %%
fig, axes = plt.subplots(1, 2, figsize=(12, 4.8), layout="constrained")
for ax, layer in zip(axes, (speaker_layer, content_layer), strict=True):
    means = sentences.design_means(dataset, design, layer)
    plots.gram(rdm(means, "correlation", square=True), labels=labels, ax=ax, vmin=0,
               title=f"RDM, layer {layer}", cbar_label="1 − Pearson correlation",
               axis_label="recording", cmap="viridis")
plots.show(fig)

rsa = sentences.rsa_by_layer(dataset, design)
rsa_wide = rsa.pivot(index="layer", columns="model", values="value")
print("Spearman correlation of each layer's RDM with the model RDMs:")
print(rsa_wide.round(3).to_string())

# %% [markdown]
# A rank correlation can hide structure. Suppose every same-speaker pair is closer than every
# cross-speaker pair, and among the cross-speaker pairs the same-sentence ones are the closest.
# The same-sentence pairs then sit in the middle of the overall ranking, and their correlation
# with the sentence model can be close to 0 (even exactly 0) although the layer does bring the
# same sentences together. The Gram-matrix readout above, which works on the values rather than
# their ranks, does not have this blind spot.

# %%
ax = plots.layer_profile(
    rsa_wide.reset_index(), ["speaker", "sentence"],
    labels={"speaker": "speaker model RDM", "sentence": "sentence model RDM"},
    ylabel="Spearman ρ (layer RDM vs model RDM)", title="RSA with two hypotheses per layer")
plots.show(ax)

# %% [markdown]
# ### The bridge between RSA and CKA
#
# RSA and linear CKA look different but are close relatives. If the RDM holds **squared
# Euclidean** distances, then double-centring it gives $-2HKH$, minus twice the centred linear
# Gram matrix. Comparing two such RDMs by the cosine of their double-centred forms is therefore
# exactly linear CKA. Here for the sentence means of two layers:

# %%
x = sentences.design_means(dataset, design, speaker_layer)
y = sentences.design_means(dataset, design, content_layer)
via_rdms = compare_rdms(rdm(x, "sqeuclidean"), rdm(y, "sqeuclidean"), method="centered_cosine")
via_cka = feature_space_linear_cka(x, y)
print(f"layers {speaker_layer} and {content_layer}: centred cosine of squared-Euclidean "
      f"RDMs = {via_rdms:.6f}, linear CKA = {via_cka:.6f}")
spearman = compare_rdms(rdm(x, "correlation"), rdm(y, "correlation"))
print(f"for contrast, the usual RSA (Spearman of correlation RDMs) = {spearman:.4f}")

# %% [markdown]
# ## Summary
#
# - A Gram matrix describes a space by the similarity of every pair of stimuli; spaces with
#   different features become comparable as soon as they describe the same stimuli.
# - Linear kernels depend on vector length and on the origin; centring ($HKH$) removes the
#   origin and equals centring the features. RBF kernels are local, with a bandwidth set as a
#   fraction of the median distance.
# - On sentence means, the printed readout says per layer whether recordings group by speaker
#   (positive) or by sentence (negative). Because it mixes within- and cross-speaker pairs, the
#   cross-speaker contrast (same minus other sentence) is the cleaner measure of sentence
#   information; the printed layers where each peaks are the answer on the data loaded (on
#   the synthetic sample, agreement with the real-data finding is by design).
# - RDMs with squared Euclidean distances and a centred cosine comparison give linear CKA
#   exactly; the usual rank-based RSA gives a related but different number.
#
# ## Exercises
#
# 1. Re-run the toy example with the far cluster moved to `[40, 40]`. What happens to the
#    linear Gram matrix, and to the RBF one with `threshold=1.0`?
# 2. Recompute the sentence readout without z-scoring (only centring each feature). Which
#    layers change most? (Hint: `sentences.sentence_means` gives the raw means.)
# 3. Show numerically that linear CKA between two layers' sentence means does not change when
#    every feature of one layer is multiplied by the same constant, but does change when each
#    feature is scaled by a different random factor.

# %% tags=["hide-input"]
# Solution 1
far = np.concatenate([toy[:20], toy[20:] + 36.0])
blocks = {"c0–c0": (slice(0, 10), slice(0, 10)), "c0–c1": (slice(0, 10), slice(10, 20)),
          "c0–c2": (slice(0, 10), slice(20, 30)), "c2–c2": (slice(20, 30), slice(20, 30))}
for name, gram in [("linear", gram_linear(far)), ("RBF 1.0", gram_rbf(far, 1.0))]:
    means = "  ".join(f"{key} {gram[rows, cols].mean():8.2f}" for key, (rows, cols)
                      in blocks.items())
    print(f"{name:8s} {means}")
before, after = gram_rbf(toy, 1.0), gram_rbf(far, 1.0)
median_before, median_after = (np.sqrt(np.median(rdm(points, "sqeuclidean", square=True)))
                                 for points in (toy, far))  # as gram_rbf defines it
rbf_change = np.abs(after - before).max()
print(f"Answer: the linear c2–c2 block grows from {gram_linear(toy)[20:, 20:].mean():.1f} to "
      f"{gram_linear(far)[20:, 20:].mean():.1f} and swamps the rest even more. The RBF "
      f"matrix changes by at most {rbf_change:.3f}: its bandwidth is the median distance, "
      f"{median_before:.2f} before and {median_after:.2f} after (over half of all pairs lie "
      f"in or between the two near clusters, so the far cluster does not move the median), "
      f"and c0–c2 was already {before[:10, 20:].mean():.2f}.")

# %% tags=["hide-input"]
# Solution 2
rows = []
for layer in dataset.layers:
    raw = np.concatenate([
        sentences.sentence_means(dataset, p, layer, group["filename"])
        for p, group in design.groupby("participant", sort=False)
    ])
    centred = raw - raw.mean(axis=0)
    gram = centred @ centred.T / centred.shape[1]
    rows.append({"layer": layer, **sentences.block_contrast(gram, design)})
unscaled = pd.DataFrame(rows)
comparison = pd.DataFrame({"z-scored": readout["difference"],
                           "centred only": unscaled["difference"]})
print(comparison.round(3).to_string())
change = (comparison["centred only"] - comparison["z-scored"]).abs()
top = change.sort_values(ascending=False).index[:3].tolist()
flipped = np.sign(comparison["centred only"]) != np.sign(comparison["z-scored"])
rho = comparison.corr(method="spearman").iloc[0, 1]
print(f"Answer: the layers that change most in size are {top} (by up to {change.max():.3f}); "
      f"without z-scoring the entries are in the features' own units, so sizes are not "
      f"comparable. The rank correlation over layers is {rho:.3f}, so the layer pattern "
      + ("is kept" if rho > 0.9 else "changes")
      + f"; the sign flips in {int(flipped.sum())} of {len(comparison)} layers"
      + (f", all with |z-scored value| ≤ {comparison['z-scored'][flipped].abs().max():.3f}."
         if flipped.any() else "."))

# %% tags=["hide-input"]
# Solution 3
rng_ex = np.random.default_rng(1)
original = feature_space_linear_cka(x, y)
scaled = feature_space_linear_cka(7 * x, y)
scales = rng_ex.uniform(0.1, 10, size=x.shape[1])
reweighted = feature_space_linear_cka(x * scales, y)
print(f"original              {original:.6f}")
print(f"x times 7             {scaled:.6f}")
print(f"x, per-feature scales {reweighted:.6f}")
print(f"Answer: a common factor changes CKA by {scaled - original:+.1e}, because it multiplies "
      f"HSIC(x, y) by 7² and the normalisation sqrt(HSIC(x, x)) by 7² too, so it cancels. "
      f"Per-feature factors change CKA by {reweighted - original:+.4f}: they change which "
      f"directions of x have large variance, and CKA weights directions by their variance.")
