# %% [markdown]
# # Gram matrices: similarity within one space
#
# ## Overview
#
# **Core path:** about 21 minutes (toy kernels, centring, frames of one recording,
# sentence-level Gram matrices); going further: about 8 more.
#
# Representation-space comparisons such as RSA {cite:p}`kriegeskorte2008rsa` and CKA
# {cite:p}`kornblith2019similarity` never compare features directly. Each space first
# describes itself by how similar every pair of stimuli is; only those similarity structures
# are compared. For `n` stimuli this description is an `n × n` matrix, the **Gram** (kernel)
# matrix. This chapter builds Gram matrices on a toy example (linear and RBF kernels,
# centring), on the frames of one recording, and on sentence means of two speakers, with a
# number that says whether a layer groups recordings by speaker or by sentence. Going further:
# a layer slider, and the same data seen as dissimilarities (RSA) with its exact bridge to CKA.
#
# ## Prerequisites
#
# Chapter 00 (the data). Linear algebra at the level of dot products and matrix products.

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

# %%
dataset = load_dataset()
print(textwrap.fill(notice.data_line(dataset), 88))

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

# %% mystnb={"image": {"alt": "Linear and two RBF Gram matrices of 30 toy points"}}
rng = np.random.default_rng(0)
centres = np.array([[1.0, 0.0], [0.0, 1.0], [4.0, 4.0]])
toy = np.concatenate([c + 0.3 * rng.standard_normal((10, 2)) for c in centres])
toy_labels = [f"c{k}" for k in range(3) for _ in range(10)]
toy_grams = {"linear: x_i · x_j": gram_linear(toy),
             "RBF, σ = 1 × median": gram_rbf(toy, threshold=1.0),
             "RBF, σ = 0.2 × median": gram_rbf(toy, threshold=0.2)}  # fmt: skip
fig, axes = plt.subplots(1, 3, figsize=(9, 3.2), layout="constrained")
for ax, (title, gram) in zip(axes, toy_grams.items(), strict=True):
    rbf = title.startswith("RBF")
    plots.gram(gram, ax=ax, title=title, axis_label="point", vmin=0 if rbf else None,
               vmax=1 if rbf else None, cbar_label="kernel value" if rbf else "dot product")
plots.show(fig)
same = np.equal.outer(toy_labels, toy_labels) & ~np.eye(30, dtype=bool)
for title, gram in toy_grams.items():
    print(f"{title:22s} mean within-cluster {gram[same].mean():6.2f}   "
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

# %% mystnb={"image": {"alt": "Linear Gram matrix before and after centring"}}
centred_features = toy - toy.mean(axis=0)
difference = center_gram(gram_linear(toy)) - gram_linear(centred_features)
print(f"max |HKH − (HX)(HX)ᵀ| = {np.abs(difference).max():.2e}")

fig, axes = plt.subplots(1, 2, figsize=(8, 3.4), layout="constrained")
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
# they can be compared even though the features cannot.

# %% mystnb={"image": {"alt": "Gram matrices of one recording: layer 6 and MFCC"}}
participant_a, participant_b = dataset.participants[:2]
filename = dataset.shared_sentences(participant_a, participant_b).loc[0, "FILENAME_A"]
print("computing MFCCs; a fresh runtime first compiles librosa's kernels (up to a minute)")
states, values = targets.aligned_recording(dataset, participant_a, filename, "mfcc", layers=[6])
layer_frames, mfcc = states[6], values["mfcc"]
print(f"{filename}: layer 6 frames {layer_frames.shape}, MFCC frames {mfcc.shape}")
c0_share = mfcc.var(axis=0)[0] / mfcc.var(axis=0).sum()
print(f"share of the MFCC variance in c0 (the first coefficient): {c0_share:.0%}")

fig, axes = plt.subplots(1, 3, figsize=(9, 3.3), layout="constrained")
panels = [("layer 6, linear", center_gram(gram_linear(layer_frames)), {}),
          ("layer 6, RBF", gram_rbf(layer_frames), {"vmin": 0, "vmax": 1}),
          ("MFCC, linear", center_gram(gram_linear(mfcc)), {})]  # fmt: skip
for ax, (title, gram, limits) in zip(axes, panels, strict=True):
    plots.gram(gram, ax=ax, title=title, axis_label="frame (20 ms)", cbar_label="", **limits)
plots.show(fig)

# %% [markdown]
# The linear panels are centred ($HKH$, red above the mean similarity, blue below); the RBF
# panel runs from 0 to 1. In the layer's panels, frames close in time are similar: a band
# along the diagonal. The MFCC panel looks different, a plaid of whole rows and columns. Its
# linear Gram is dominated by c0, the frame's log energy, which carries the printed share of
# the MFCC variance: frames of similar loudness resemble each other (the quiet frames at both
# ends most of all) and differ from the rest, wherever they lie in time. Chapter 02 measures
# what c0 does to "similarity to acoustics", and turns the resemblance between such matrices
# into a single number, CKA.
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

# %% mystnb={"image": {"alt": "Sentence-mean Gram matrices of all 13 layers"}}
design = sentences.sentence_design(dataset, participant_a, participant_b)
labels = design["label"].tolist()
grams = sentences.sentence_grams(dataset, design)
display(design)
# All 13 layers on one colour scale; the number under each layer is the readout defined
# below (mean same-speaker minus mean same-sentence similarity).
readout = sentences.sentence_readout(dataset, participant_a, participant_b)
fig = plots.gram_grid(grams, labels=labels, cbar_label="mean z-score product",
                      panel_titles={r.layer: f"{r.difference:+.2f}" for r in readout.itertuples()},
                      title=f"Sentence-mean Gram matrices, {participant_a} and {participant_b}")
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
# brings the same sentence together across speakers. The means rest on few pairs (printed
# last): chapter 03 adds a shuffled-pairing baseline for exactly this reason.

# %% mystnb={"image": {"alt": "Speaker and sentence similarity per layer"}}
print(readout.round(3).to_string(index=False))
speaker_layer = int(readout.loc[readout["difference"].idxmax(), "layer"])
content_layer = int(readout.loc[readout["difference"].idxmin(), "layer"])
print(f"\nstrongest speaker grouping: layer {speaker_layer} "
      f"(difference {readout['difference'].max():+.3f})")
print(f"weakest speaker grouping, i.e. most sentence-like: layer {content_layer} "
      f"(difference {readout['difference'].min():+.3f})")
contrast = readout.set_index("layer")["same_minus_other_sentence"]
print(f"same minus other sentence, across speakers: largest at layer {contrast.idxmax()} "
      f"({contrast.max():+.3f}),\nsmallest at layer {contrast.idxmin()} "
      f"({contrast.min():+.3f}); positive in {int((contrast > 0).sum())} of {len(contrast)} layers")
low, high = notice.REAL_FINDINGS["speaker_blocks_layers"]
mid_low, mid_high = notice.REAL_FINDINGS["same_sentence_layers"]
print(f"real data, as reported: speaker blocks in layers {low}–{high}, "
      f"same-sentence in layers {mid_low}–{mid_high}")
if notice.by_design_note(dataset):
    print(textwrap.fill(notice.by_design_note(dataset), 88))
speaker_of, sentence_of = design["participant"].to_numpy(), design["sentence_id"].to_numpy()
pairs = np.triu(np.ones((len(design), len(design)), dtype=bool), k=1)
same_speaker = np.equal.outer(speaker_of, speaker_of) & pairs
same_sentence = np.equal.outer(sentence_of, sentence_of) & pairs & ~same_speaker
print(f"pairs: {same_speaker.sum()} same-speaker, {same_sentence.sum()} same-sentence "
      f"and {(pairs & ~same_speaker & ~same_sentence).sum()} other-sentence across speakers")
ax = plots.layer_profile(
    readout, ["same_speaker", "same_sentence", "difference", "same_minus_other_sentence"],
    labels={"same_speaker": "same speaker", "same_sentence": "same sentence, other speaker",
            "difference": "difference",
            "same_minus_other_sentence": "same minus other sentence"},
    ylabel="mean z-score product", title="Speaker versus sentence similarity per layer")
plots.show(ax)

# %% [markdown]
# ## Summary
#
# - A Gram matrix describes a space by the similarity of every pair of stimuli; spaces with
#   different features become comparable as soon as they describe the same stimuli.
# - Linear kernels depend on vector length and on the origin; centring ($HKH$) removes the
#   origin and equals centring the features. RBF kernels are local, with a bandwidth set as a
#   fraction of the median distance.
# - A linear Gram matrix follows the features with the largest variance: the MFCCs' c0 (log
#   energy) makes their frame Gram a plaid of loud and quiet frames.
# - On sentence means, the printed readout says per layer whether recordings group by speaker
#   (positive) or by sentence (negative). Because it mixes within- and cross-speaker pairs, the
#   cross-speaker contrast (same minus other sentence) is the cleaner measure of sentence
#   information; the printed layers where each peaks are the answer on the data loaded (on
#   the synthetic sample, agreement with the real-data finding is by design).
#
# ## Going further: one layer at a time
#
# In a live notebook, the slider shows one layer at a time (the book shows the grid above).

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
# ## Going further: the RDM view (RSA) and its bridge to CKA
#
# RSA describes a space by **dissimilarities** instead: a representational dissimilarity matrix
# (RDM) holds, for every pair of recordings, e.g. one minus the correlation of their vectors.
# Two spaces are compared by rank-correlating their RDMs. A convenient trick is to compare a
# layer with *model RDMs* that encode a hypothesis: "recordings by the same speaker are alike"
# (0 for same-speaker pairs, 1 otherwise) or "recordings of the same sentence are alike".

# %% mystnb={"image": {"alt": "Two layers' RDMs, then RSA with two model RDMs"}}
fig, axes = plt.subplots(1, 2, figsize=(9, 4), layout="constrained")
for ax, layer in zip(axes, (speaker_layer, content_layer), strict=True):
    means = sentences.design_means(dataset, design, layer)
    plots.gram(rdm(means, "correlation", square=True), labels=labels, ax=ax, vmin=0,
               title=f"RDM, layer {layer}", cbar_label="1 − Pearson correlation",
               axis_label="recording", cmap="viridis")
plots.show(fig)
rsa = sentences.rsa_by_layer(dataset, design)
rsa_wide = rsa.pivot(index="layer", columns="model", values="value")
ax = plots.layer_profile(
    rsa_wide.reset_index(), ["speaker", "sentence"],
    labels={"speaker": "speaker model RDM", "sentence": "sentence model RDM"},
    ylabel="Spearman ρ (layer vs model RDM)", title="RSA with two hypotheses per layer")
plots.show(ax)

# %% [markdown]
# A rank correlation can hide structure. Suppose every same-speaker pair is closer than every
# cross-speaker pair, and among the cross-speaker pairs the same-sentence ones are the closest.
# The same-sentence pairs then sit in the middle of the overall ranking, and their correlation
# with the sentence model can be close to 0 (even exactly 0) although the layer does bring the
# same sentences together. The Gram-matrix readout, which works on the values rather than
# their ranks, does not have this blind spot.
#
# RSA and linear CKA are nevertheless close relatives. If the RDM holds **squared
# Euclidean** distances, then double-centring it gives $-2HKH$, minus twice the centred linear
# Gram matrix. Comparing two such RDMs by the cosine of their double-centred forms is therefore
# exactly linear CKA. Here for the sentence means of two layers:

# %%
x = sentences.design_means(dataset, design, speaker_layer)
y = sentences.design_means(dataset, design, content_layer)
via_rdms = compare_rdms(rdm(x, "sqeuclidean"), rdm(y, "sqeuclidean"), method="centered_cosine")
via_cka = feature_space_linear_cka(x, y)
assert np.isclose(via_rdms, via_cka, rtol=1e-9)
print(f"layers {speaker_layer} and {content_layer}: linear CKA = centred cosine of "
      f"squared-Euclidean RDMs = {via_cka:.4f}")
spearman = compare_rdms(rdm(x, "correlation"), rdm(y, "correlation"))
print(f"for contrast, the usual RSA (Spearman of correlation RDMs) = {spearman:.4f}")

# %% [markdown]
# ## Exercises
#
# 1. Re-run the toy example with the far cluster moved to `[40, 40]`. What happens to the
#    linear Gram matrix, and to the RBF one with `threshold=1.0`?
# 2. Recompute the sentence readout without z-scoring (only centring each feature). Which
#    layers change most? (Hint: `sentences.sentence_means` gives the raw means.)

# %% tags=["hide-cell"]
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
print(textwrap.fill(
    f"Answer: the linear c2–c2 block grows from {gram_linear(toy)[20:, 20:].mean():.1f} to "
    f"{gram_linear(far)[20:, 20:].mean():.1f} and swamps the rest even more. The RBF "
    f"matrix changes by at most {rbf_change:.3f}: its bandwidth is the median distance, "
    f"{median_before:.2f} before and {median_after:.2f} after (over half of all pairs lie "
    f"in or between the two near clusters, so the far cluster does not move the median), "
    f"and c0–c2 was already {before[:10, 20:].mean():.2f}.", 88))

# %% tags=["hide-cell"]
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
print(textwrap.fill(
    f"Answer: the layers that change most in size are {top} (by up to {change.max():.3f}); "
    f"without z-scoring the entries are in the features' own units, so sizes are not "
    f"comparable. The rank correlation over layers is {rho:.3f}, so the layer pattern "
    + ("is kept" if rho > 0.9 else "changes")
    + f"; the sign flips in {int(flipped.sum())} of {len(comparison)} layers"
    + (f", all with |z-scored value| ≤ {comparison['z-scored'][flipped].abs().max():.3f}."
       if flipped.any() else "."), 88))
