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
# # Comparing layers with each other
#
# ## Overview
#
# The previous chapters compared each layer with something *outside* the model (MFCCs, EMA).
# CKA compares any two spaces over the same stimuli, so it can also compare the model's layers
# with each other. Doing this for all pairs gives a 13 × 13 matrix that shows which layers
# arrange the stimuli alike, i.e. where the model's representation changes and where it only
# drifts.
#
# We build that matrix in four ways and keep track of what each one measures:
#
# 1. **within one speaker, on sentence means** — one vector per recording, as in the original
#    chapter;
# 2. **within one speaker, on frames** — the 20 ms frames of each recording;
# 3. **across two speakers**, on the sentences both of them read: rows are speaker A's layers,
#    columns speaker B's layers, so high values mean that the two speakers' recordings are
#    arranged alike *by sentence*;
# 4. each of them with **biased and debiased CKA**, because sentence means give only a handful
#    of stimuli in 768 dimensions, exactly where biased CKA is inflated. Section 1 shows that
#    inflation on pure noise before we meet it in the data.
#
# We finish by locating where the across-speaker similarity peaks and checking it against a
# baseline in which the sentences are deliberately mismatched.
# Section 7 then pools all of a speaker's frames and computes the same kind of matrix by
# streaming, one recording at a time — the way to take the method to a whole corpus.
#
# ## Prerequisites
#
# Chapter 01 (Gram matrices, centring, sentence means) and chapter 02 (CKA from centred Gram
# matrices, null baselines). The small-sample bias of CKA is introduced here, in section 1,
# where we first need it; chapter 04 maps it over many more settings.

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
import time

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import display

from tutorial_utils import (
    CKAAccumulator,
    cka_matrix,
    layers,
    load_dataset,
    notice,
    nulls,
    plots,
    sanity,
    sentences,
)

pd.set_option("display.precision", 3)
pd.set_option("display.width", 120)

# %%
dataset = load_dataset()
print(notice.data_line(dataset))
print(dataset)

# %% [markdown]
# We use the first two participants: speaker A for the within-speaker matrices, and the
# sentences that A and B both read for the across-speaker ones.

# %%
speaker_a, speaker_b = dataset.participants[:2]
shared = dataset.shared_sentences(speaker_a, speaker_b)
for label, speaker in (("A", speaker_a), ("B", speaker_b)):
    n_recordings = len(dataset.pick_filenames(speaker))
    print(f"speaker {label} = {speaker}: {n_recordings} recordings")
print(f"sentences read by both: {len(shared)}")
display(shared[["SENTENCE_ID", "SENTENCE"]])

# %% [markdown]
# ## 1. How many stimuli, how many features? The bias of biased CKA
#
# CKA compares the *geometry of a set of stimuli*. How trustworthy a biased CKA value is
# depends on how many stimuli `n` there are compared with the number of features `d`. The
# table lists the three views of this chapter.

# %%
n_dims = dataset.hidden_state(
    speaker_a, 0, dataset.pick_filenames(speaker_a)[0]
).shape[1]
frame_counts = [
    dataset.hidden_state(speaker_a, 0, f).shape[0]
    for f in dataset.pick_filenames(speaker_a)
]
views = pd.DataFrame(
    {
        "stimuli": [
            f"sentence means of {speaker_a}",
            f"sentence means, {speaker_a} vs {speaker_b}",
            f"frames of one {speaker_a} recording",
        ],
        "n": [len(frame_counts), len(shared), int(np.median(frame_counts))],
        "d": n_dims,
    }
)
views["d / n"] = views["d"] / views["n"]
display(views)
print(f"frames per recording of {speaker_a}: {min(frame_counts)}–{max(frame_counts)}")

# %% [markdown]
# What does biased CKA give for two representations that share *nothing*? We draw pairs of
# independent Gaussian noise matrices with exactly these shapes (`n × d`, 20 pairs per view)
# and compute biased and debiased linear CKA with the package's `cka_matrix`. An ideal index
# would give 0.

# %%
noise = sanity.noise_summary(
    sanity.noise_cka(n_stimuli=sorted(set(views["n"])), n_features=(n_dims,), n_repeats=20)
).droplevel("n_features")
display(noise)
for n in views["n"]:
    row = noise.loc[n]
    print(
        f"n = {n:3d}, d = {n_dims}: noise scores {row['biased mean']:.3f} with biased CKA "
        f"(d/(d+n) = {row['d/(d+n)']:.3f}) and {row['debiased mean']:+.3f} ± "
        f"{row['debiased std']:.3f} (sd) with debiased CKA"
    )

# %% [markdown]
# Biased CKA of pure noise follows `d / (d + n)` (the `d/(d+n)` column). The reason: biased
# CKA plugs the sample into HSIC, and for `n` noise vectors in `d ≫ n` dimensions every
# vector is nearly orthogonal to every other and all have about the same length. The centred
# Gram matrix of *any* such data is then close to a multiple of the centring matrix, so two
# unrelated noise sets produce nearly the same Gram matrix, and CKA calls them similar. The
# excess shrinks as `n` grows relative to `d`, but on frames it is still far from 0.
#
# The **debiased** estimator replaces the plug-in HSIC by an unbiased one
# {cite:p}`song2012feature`; applied to CKA {cite:p}`murphy2024debiased` it scores unrelated
# representations about 0 on average (the `debiased mean` column), at the price of more
# scatter when `n` is small (`debiased std`); it needs `n ≥ 4`. Keep both columns in mind when
# reading the matrices below: a biased sentence-mean value close to 1 is not, by itself,
# evidence of shared structure. (Real layers are not isotropic noise and concentrate their
# variance in fewer directions, so their inflation is smaller than these numbers, but it cannot
# be read off the biased value; that is why every matrix below comes in both versions.)
#
# ## 2. Within one speaker, on sentence means (the original view)
#
# Each recording becomes the mean of its frames, separately for every layer; CKA then compares
# how two layers arrange the recordings. We write the 13 × 13 loop out once in plain numpy, with
# the four steps of chapter 02 for every pair of layers: centre the features, form the linear
# Gram matrices, take HSIC (the sum of their elementwise product, i.e. `trace(K L)`), and
# normalise by the two self-similarities. Then we check it against the package's `cka_matrix`.

# %%
means = sentences.sentence_mean_layers(dataset, speaker_a)  # {layer: (n recordings, d)}
n_layers = len(dataset.layers)
start = time.perf_counter()
by_hand = np.empty((n_layers, n_layers))
for i, layer_i in enumerate(dataset.layers):
    for j, layer_j in enumerate(dataset.layers):
        x = means[layer_i] - means[layer_i].mean(axis=0)  # centre every feature
        y = means[layer_j] - means[layer_j].mean(axis=0)
        gram_x, gram_y = x @ x.T, y @ y.T  # n × n linear Gram matrices
        hsic = np.sum(gram_x * gram_y)  # trace(K L); the 1/(n-1)² factor cancels below
        by_hand[i, j] = hsic / np.sqrt(np.sum(gram_x * gram_x) * np.sum(gram_y * gram_y))
loop_seconds = time.perf_counter() - start

start = time.perf_counter()
package = cka_matrix(means)
package_seconds = time.perf_counter() - start
print(f"max |loop − cka_matrix| over {n_layers} × {n_layers} entries: "
      f"{np.abs(by_hand - np.asarray(package)).max():.1e}")
print(f"centrings: loop {2 * n_layers**2}, cka_matrix {n_layers}; "
      f"time: loop {1e3 * loop_seconds:.1f} ms, cka_matrix {1e3 * package_seconds:.1f} ms")

# %% [markdown]
# Why is `cka_matrix` faster? The loop recomputes a layer's centred features and Gram matrix
# for every pair that layer takes part in (the printed count of centrings); `cka_matrix`
# centres each layer once and reuses it for all pairs. It also picks the cheaper of two
# equivalent ways to get HSIC: through the `n × n` Gram matrices (cheap when there are few
# stimuli, as with sentence means) or directly from the features, without ever forming an
# `n × n` matrix (cheap when there are many frames). From here on,
# `layers.within_speaker_cka` does the repeated work: sentence means, then `cka_matrix`.
#
# The original chapter drew this matrix with biased CKA and a colour scale starting at 0.8.
# We show it that way (left) and on the full 0–1 scale (right): the same numbers, but the left
# panel makes differences of a few hundredths look like strong contrasts.

# %%
within_sentence = layers.within_speaker_cka(dataset, speaker_a, unit="sentence")
print(f"max |within_speaker_cka − loop|: {np.abs(within_sentence.to_numpy() - by_hand).max():.1e}")

fig, axes = plt.subplots(1, 2, figsize=(13, 5.5))
plots.layer_heatmap(
    within_sentence,
    ax=axes[0],
    vmin=0.8,
    annot=False,
    title=f"{speaker_a}, sentence means, biased CKA\ncolour scale from 0.8 (as in the original)",
    cbar_label="biased linear CKA",
    xlabel="layer (index)",
    ylabel="layer (index)",
)
plots.layer_heatmap(
    within_sentence,
    ax=axes[1],
    annot=False,
    title=f"{speaker_a}, sentence means, biased CKA\nfull colour scale 0–1",
    cbar_label="biased linear CKA",
    xlabel="layer (index)",
    ylabel="layer (index)",
)
fig.tight_layout()
plots.show(fig)

# %% [markdown]
# On the real data the chapter reports that layers 0–10 all have CKA above 0.95 with each
# other while layers 11–12 stand apart. The table summarises the same two groups of layers for
# the data loaded here (mean and minimum CKA over the layer pairs in each block).

# %%
low, high = notice.REAL_FINDINGS["sentence_mean_within_block_layers"]
blocks = {f"{low}-{high}": range(low, high + 1), "11-12": [11, 12]}
print(
    f"Real data (reported): min CKA among layers {low}-{high} > "
    f"{notice.REAL_FINDINGS['sentence_mean_within_block_min_cka']}"
)
display(layers.block_table(within_sentence, blocks))
print(notice.by_design_note(dataset))

# %% [markdown]
# ## 3. How much of that is the estimator? Debiased CKA
#
# Section 1 showed that biased CKA scores pure noise of this shape near 1, and that the
# debiased estimator scores it about 0. We compute the same matrix with the debiased estimator
# and draw both on the full scale.

# %%
within_sentence_debiased = layers.within_speaker_cka(
    dataset, speaker_a, unit="sentence", debiased=True
)

fig = plots.layer_heatmaps(
    {
        f"{speaker_a}, sentence means (n = {len(frame_counts)}), {name} CKA": matrix
        for name, matrix in [("biased", within_sentence), ("debiased", within_sentence_debiased)]
    }
)
plots.show(fig)

# %%
off_diagonal = ~np.eye(len(within_sentence), dtype=bool)
estimator_summary = (
    pd.DataFrame(
        {
            "biased": within_sentence.to_numpy()[off_diagonal],
            "debiased": within_sentence_debiased.to_numpy()[off_diagonal],
        }
    )
    .describe()
    .loc[["mean", "min", "max"]]
)
display(estimator_summary)
difference = (within_sentence - within_sentence_debiased).to_numpy()[off_diagonal]
print(
    f"biased minus debiased, over all layer pairs: mean {difference.mean():+.3f}, "
    f"largest {difference.max():+.3f}, smallest {difference.min():+.3f}"
)

# %% [markdown]
# How to read the comparison: where debiased and biased CKA agree, the high values reflect
# structure that the layers really share. Where debiased CKA is clearly lower, the biased
# value was partly produced by having few stimuli in many dimensions. The noise level of
# section 1 is the inflation for *isotropic* noise; layers concentrate their variance in fewer
# directions, so their inflation is smaller and cannot be read off the biased number alone.
#
# ## 4. Within one speaker, on frames
#
# Sentence means keep only what differs *between* sentences; everything that changes within
# a sentence (phones, articulator movements) is averaged away. On frames, the stimuli are the
# 20 ms frames of one recording. We compute one 13 × 13 matrix per recording and average the
# matrices over recordings. We do not concatenate the recordings into one long set of frames:
# that would mix differences between sentences into the frame-level comparison, and separate
# matrices also tell us how much the result varies from recording to recording.

# %%
per_recording = layers.per_recording_layer_cka(dataset, speaker_a)
within_frames = layers.mean_over_recordings(per_recording, dataset.layers)
within_frames_debiased = layers.within_speaker_cka(dataset, speaker_a, unit="frame", debiased=True)

fig = plots.layer_heatmaps(
    {
        f"{speaker_a}, frames, {name} CKA\n(mean over {len(frame_counts)} recordings)": matrix
        for name, matrix in [("biased", within_frames), ("debiased", within_frames_debiased)]
    }
)
plots.show(fig)

# %%
print("Frames, biased CKA:")
display(layers.block_table(within_frames, blocks))
print("Frames, debiased CKA:")
display(layers.block_table(within_frames_debiased, blocks))
spread = per_recording.std(axis=0, ddof=1)[off_diagonal]
print(
    f"standard deviation over recordings of a layer pair's CKA: median {np.median(spread):.3f}, "
    f"largest {spread.max():.3f}"
)
gap = (within_sentence - within_frames).to_numpy()[off_diagonal]
print(
    f"sentence means minus frames (biased), over layer pairs: mean {gap.mean():+.3f}, "
    f"largest {gap.max():+.3f}"
)

# %% [markdown]
# Two things to look for in these numbers. First, on frames the biased and debiased matrices
# should be close, because `n` (the frames per recording printed in section 1) is much larger
# than on sentence means. Second, the frame-level matrix can reveal differences between layers that
# sentence means hide: a layer can change *how it represents the frames inside a sentence*
# without changing the sentence averages, and only the frame view sees that. Compare the
# "0-10 vs 11-12" rows of the block tables of sections 2 and 4.
#
# ## 5. Across two speakers
#
# Now the rows are speaker A's layers and the columns speaker B's layers, and the stimuli are
# the shared sentences. Entry (i, j) is high when layer i of A and layer j of B arrange the
# sentences alike. The diagonal (the same layer in both speakers) is the natural readout.
#
# **Sentence means** pair up directly: sentence s of A with sentence s of B.
#
# **Frames** do not: the two speakers read each sentence at different speeds, so their
# recordings have different numbers of frames. We resample both recordings of a sentence to
# one common number of frames (the length of the shortest recording involved) by linear
# interpolation in time, so that frame t of A and frame t of B sit at the same *relative*
# position in the sentence. This ignores changes of speaking rate within a sentence, so it
# underestimates how similar the speakers' frames are; CKA is computed per sentence and
# averaged over sentences.
#
# To know what "high" means, we need a baseline. The **shuffled pairing** pairs every sentence
# of A with a *different* sentence of B (every such reordering, a derangement, when there are
# few) and recomputes the diagonal. It keeps the speakers, layers, number of stimuli and
# lengths, and removes only the match in content.

# %%
n_common = layers.common_length(dataset, shared, speaker_a, speaker_b)
print(f"frame-level alignment: every recording resampled to {n_common} frames")
print(f"shuffled pairings of {len(shared)} sentences: {len(nulls.derangements(len(shared)))}")

across = {}
baselines = {}
for unit in ("sentence", "frame"):
    for debiased in (False, True):
        key = (unit, "debiased" if debiased else "biased")
        across[key] = layers.across_speaker_cka(
            dataset, speaker_a, speaker_b, unit=unit, debiased=debiased
        )
        baselines[key] = nulls.shuffled_diagonal(
            dataset, speaker_a, speaker_b, unit=unit, debiased=debiased
        )

# %%
fig = plots.layer_heatmaps(
    {
        f"{speaker_a} vs {speaker_b}, {unit} level, {estimator} CKA": matrix
        for (unit, estimator), matrix in across.items()
    },
    xlabel=f"layer of {speaker_b} (index)",
    ylabel=f"layer of {speaker_a} (index)",
)
plots.show(fig)

# %% [markdown]
# The diagonals next to their shuffled baselines. `gap` is the matched value minus the mean
# over shuffled pairings, `gap_sd` the same gap in standard deviations of the shuffled values
# (`shuffled_sd`), and `p` the share of shuffled pairings (plus one) that reach the matched
# value. With few sentences there are few shuffled pairings, and `p` cannot go below
# 1 / (number of pairings + 1): the *permutation floor*, printed first.

# %%
n_shuffles = len(baselines[("sentence", "biased")])
p_floor = 1 / (n_shuffles + 1)
print(f"{len(shared)} shared sentences → {n_shuffles} shuffled pairings → "
      f"smallest possible p = 1/{n_shuffles + 1} = {p_floor:.3f}")
diagonals = {key: layers.diagonal_table(across[key], baselines[key]) for key in across}
for (unit, estimator), table in diagonals.items():
    print(f"{unit} level, {estimator} CKA")
    display(table.T)

# %%
fig, axes = plt.subplots(2, 2, figsize=(13, 8), sharex=True)
for ax, ((unit, estimator), table) in zip(axes.ravel(), diagonals.items(), strict=True):
    plots.layer_profile(
        table.reset_index(),
        ["matched", "shuffled_mean", "shuffled_max"],
        ax=ax,
        title=f"Across-speaker diagonal, {unit} level, {estimator} CKA",
        ylabel=f"{estimator} linear CKA",
        labels={
            "matched": "same sentence",
            "shuffled_mean": "shuffled pairing (mean)",
            "shuffled_max": "shuffled pairing (max)",
        },
    )
    ax.set_xlabel("layer (index, same layer in both speakers)")
fig.tight_layout()
plots.show(fig)

# %% [markdown]
# The biased sentence-level baseline is the clearest demonstration of the small-sample bias
# in this chapter: sentences that do **not** match still get biased CKA values far above 0,
# simply because so few stimuli in 768 dimensions leave little room to be dissimilar
# (section 1). The debiased
# baseline sits near 0 on average, but single shuffled pairings scatter widely
# (`shuffled_max`): with 5 stimuli every debiased estimate is noisy. At the frame level the
# shuffled baseline is above 0 for both estimators for a different reason: any two recordings
# share structure unrelated to their words (for instance silence at the start and the end),
# so only the gap above the baseline is about the sentence.
#
# ## 6. Where does the across-speaker similarity peak?
#
# Three readouts per view: the layer where the matched diagonal is highest, the layer where
# its gap above the shuffled baseline is largest (raw and in shuffled standard deviations),
# and how many layers reach the permutation floor, i.e. beat *every* shuffled pairing.

# %%
peaks = []
for (unit, estimator), table in diagonals.items():
    at_floor = table.index[np.isclose(table["p"], p_floor)].tolist()
    peaks.append(
        {
            "stimuli": unit,
            "estimator": estimator,
            "peak layer": int(table["matched"].idxmax()),
            "range of diagonal": table["matched"].max() - table["matched"].min(),
            "largest-gap layer": int(table["gap"].idxmax()),
            "largest gap_sd layer": int(table["gap_sd"].idxmax()),
            "layers at p floor": len(at_floor),
            "floor layers": ", ".join(str(layer) for layer in at_floor) or "none",
        }
    )
peaks = pd.DataFrame(peaks)
display(peaks)

# %% [markdown]
# What the table supports is computed from it and printed, so that it holds for whichever
# data are loaded.

# %%
n_views = len(peaks)
gap_layers = sorted(set(peaks["largest-gap layer"]) | set(peaks["largest gap_sd layer"]))
most_at_floor = peaks["layers at p floor"].max()
print(f"Largest-gap layers over the {n_views} views (raw gap and gap_sd): {gap_layers}; "
      + ("they agree." if len(gap_layers) == 1 else "they disagree, so no single peak layer "
         "is supported."))
print(f"Up to {most_at_floor} of {n_layers} layers sit at the permutation floor p = "
      f"{p_floor:.3f}: the matched sentences beat all {n_shuffles} shuffled pairings in each.")
can_rank = most_at_floor <= 1
print(f"Can {len(shared)} sentences rank the layers by the permutation test? "
      + ("yes." if can_rank else "no: layers at the floor are tied, and no smaller p exists. "
         "The test supports 'matched > shuffled' for those layers, not an order among them."))
low, high = notice.REAL_FINDINGS["across_speaker_peak_layers"]
biased_peak = peaks.set_index(["stimuli", "estimator"]).loc[("sentence", "biased")]
print(f"Biased CKA on sentence means peaks at layer {biased_peak['peak layer']}, but its "
      f"diagonal spans only {biased_peak['range of diagonal']:.3f} over all layers. "
      f"Real data (reported, same view): highest in layers {low}-{high}.")
print(notice.by_design_note(dataset))

# %% [markdown]
# Read the printout with the earlier sections in mind. A layer whose matched value beats every
# shuffled pairing shows that the two speakers' recordings are arranged by sentence in that
# layer; that is what the table supports. Which of those layers is *most* sentence-like is a
# different question: with this few sentences the permutation test cannot separate them, and
# the raw and normalised gaps need not agree with each other or across views. Answering it
# needs more shared sentences (a finer p-value floor and steadier gaps), not a different
# colour scale.

# %% [markdown]
# ## 7. All frames of a speaker, one recording at a time (streaming)
#
# Section 4 averaged one matrix per recording. Sometimes you want the other view: all frames
# of a speaker (or of a whole corpus) pooled into one set of stimuli. In memory that means
# holding every frame of every layer at once, which stops working long before a corpus of
# hours. Linear CKA does not need the frames themselves, only a few running sums over them:
# the cross products of the features $X^\top X$, their column sums and each frame's squared
# norm. A `CKAAccumulator` adds these up one chunk at a time (here: one recording), in
# float64, and returns the same matrix as `cka_matrix` on the pooled frames; the same sums
# give the biased and the debiased estimate, so one pass over the recordings serves both
# (`streaming_cka_matrix(chunks)` does the pass and returns one of them). Its memory depends
# on the feature count, not on the number of frames, so the same code works for a speaker or
# for a corpus that does not fit in memory. To keep this chapter quick we stream four layers;
# all thirteen work the same way.

# %%
stream_layers = [dataset.layers[i] for i in (0, 4, 8, -1)]
stream_names = dataset.pick_filenames(speaker_a)


def recording_chunks():
    """Speaker A's hidden states, one recording at a time: {layer: (T, d)}."""
    for name in stream_names:
        yield {layer: dataset.hidden_state(speaker_a, layer, name) for layer in stream_layers}


pooled = {
    layer: np.concatenate([dataset.hidden_state(speaker_a, layer, n) for n in stream_names])
    for layer in stream_layers
}
n_pooled = len(next(iter(pooled.values())))
accumulator = CKAAccumulator()
for chunk in recording_chunks():
    accumulator.update(chunk)
for debiased in (False, True):
    streamed = accumulator.result(debiased=debiased)
    in_memory = cka_matrix(pooled, debiased=debiased)
    difference = np.abs(streamed.to_numpy() - in_memory.to_numpy()).max()
    print(
        f"{'debiased' if debiased else 'biased':8s}: {len(stream_names)} recordings, "
        f"{n_pooled} frames; largest |streamed - in memory| = {difference:.1e}"
    )
accumulator_mb = 8 * sum(pooled[layer].shape[1] for layer in stream_layers) ** 2 / 1e6
frames_mb = sum(x.nbytes for x in pooled.values()) / 1e6
print(
    f"the running sums take {accumulator_mb:.0f} MB whatever the number of frames; the pooled "
    f"frames take {frames_mb:.1f} MB here and grow with every recording"
)
display(streamed.round(3))

# %% [markdown]
# ## Summary
#
# - A 13 × 13 CKA matrix shows which layers arrange the stimuli alike; it can be computed on
#   sentence means (few stimuli) or on frames (many stimuli), and the two answer different
#   questions: between-sentence differences vs within-sentence dynamics. The loop behind it is
#   four lines of numpy per pair; `cka_matrix` gives the same numbers (printed difference) with
#   each layer centred once.
# - With sentence means, `n` is a handful against 768 dimensions (section 1). Biased CKA of
#   unrelated noise of that shape is then close to 1, and a colour scale starting at 0.8
#   exaggerates small differences. Always show debiased CKA next to it, on the full scale.
# - Across speakers, a shuffled-pairing baseline shows how much similarity remains when the
#   sentences do not match; the gap above it, not the raw value, is about shared content. With
#   few shared sentences the permutation test has a floor, and layers at the floor cannot be
#   ranked against each other (section 6 prints whether that happens here).
# - Frame-level comparisons across speakers need an alignment; we resampled linearly to a
#   common length, which is simple and conservative.
# - Pooling all frames of a speaker or a corpus does not need them all in memory:
#   a `CKAAccumulator` (or `streaming_cka_matrix`) adds up the sums linear CKA needs one
#   recording at a time and gives the in-memory result, biased and debiased from one pass
#   (section 7 prints the difference).
#
# ## Exercises
#
# 1. Compute the within-speaker sentence-mean matrix for speaker B instead of A, and compare
#    the numbers of recordings. How does the difference between biased and debiased CKA
#    change, and why?
# 2. Instead of averaging per-recording matrices, concatenate the frames of all of speaker A's
#    recordings into one set of stimuli and compute linear CKA between layers 0, 4, 8 and 12.
#    Is the result higher or lower than the per-recording average, and why? (Hint: compare
#    with the concatenation after removing each recording's mean, and with debiased CKA.)
# 3. The frame-level across-speaker comparison resampled every recording to the *shortest*
#    length. Repeat it with the *longest* length (`n_frames=`) and check whether the peak layer
#    of the biased diagonal changes.

# %% tags=["hide-input"]
# Solution 1
excess = {}
for participant in (speaker_a, speaker_b):
    n = len(dataset.pick_filenames(participant))
    biased = layers.within_speaker_cka(dataset, participant, unit="sentence")
    debiased = layers.within_speaker_cka(dataset, participant, unit="sentence", debiased=True)
    mask = ~np.eye(len(biased), dtype=bool)
    excess[participant] = (n, (biased - debiased).to_numpy()[mask].mean())
    print(
        f"{participant}: n = {n}, mean off-diagonal biased {biased.to_numpy()[mask].mean():.3f}, "
        f"debiased {debiased.to_numpy()[mask].mean():.3f}, "
        f"noise level d/(d+n) = {sanity.expected_noise_cka(n, n_dims):.3f}"
    )
(n_few, gap_few), (n_many, gap_many) = sorted(excess.values())
print(
    f"Answer: biased minus debiased is {gap_few:+.3f} with n = {n_few} and {gap_many:+.3f} "
    f"with n = {n_many}; "
    + ("fewer recordings, larger excess, as the noise levels d/(d+n) predict (section 1; "
       "the two n belong to different speakers, so the comparison is not controlled)."
       if gap_few > gap_many else "here the excess does not grow with fewer recordings: the "
       "layers' own structure, not only d/n, sets the inflation.")
)

# %% tags=["hide-input"]
# Solution 2
chosen = [0, 4, 8, 12]
names = dataset.pick_filenames(speaker_a)
recording_frames = {
    layer: [dataset.hidden_state(speaker_a, layer, f).astype(np.float64) for f in names]
    for layer in chosen
}
pooled = {layer: np.concatenate(parts) for layer, parts in recording_frames.items()}
pooled_within = {
    layer: np.concatenate([x - x.mean(axis=0) for x in parts])
    for layer, parts in recording_frames.items()
}
per_recording_debiased = layers.mean_over_recordings(
    layers.per_recording_layer_cka(dataset, speaker_a, debiased=True), dataset.layers
)
pair_mask = ~np.eye(len(chosen), dtype=bool)
means_of = {
    "concatenated": cka_matrix(pooled),
    "concatenated, recording means removed": cka_matrix(pooled_within),
    "per-recording mean": within_frames.loc[chosen, chosen],
    "concatenated, debiased": cka_matrix(pooled, debiased=True),
    "per-recording mean, debiased": per_recording_debiased.loc[chosen, chosen],
}
means_of = {name: np.asarray(m)[pair_mask].mean() for name, m in means_of.items()}
for name, value in means_of.items():
    print(f"{name:40s} mean CKA over {pair_mask.sum() // 2} layer pairs {value:.3f}")
lengths = np.array([len(x) for x in recording_frames[chosen[0]]])
cross_share = 1 - np.sum(lengths**2) / lengths.sum() ** 2
gap_biased = means_of["concatenated"] - means_of["per-recording mean"]
gap_debiased = means_of["concatenated, debiased"] - means_of["per-recording mean, debiased"]
means_shift = means_of["concatenated, recording means removed"] - means_of["concatenated"]
print(
    f"Answer: concatenated is {'lower' if gap_biased < 0 else 'higher'} by {abs(gap_biased):.3f}. "
    f"Removing each recording's mean changes it by only {means_shift:+.3f}, so the recordings' "
    f"different means are not the reason; but {cross_share:.0%} of the concatenated frame "
    f"pairs come from two different recordings, which the per-recording matrices never "
    f"compare. Debiasing leaves a gap of {gap_debiased:+.3f}, so the smaller bias of the "
    f"larger n ({len(pooled[chosen[0]])} frames) accounts for only "
    f"{abs(gap_biased - gap_debiased):.3f} of the {abs(gap_biased):.3f}."
)

# %% tags=["hide-input"]
# Solution 3
layer_0 = dataset.layers[0]
longest = max(
    [dataset.hidden_state(speaker_a, layer_0, f).shape[0] for f in shared.FILENAME_A]
    + [dataset.hidden_state(speaker_b, layer_0, f).shape[0] for f in shared.FILENAME_B]
)
stretched = layers.diagonal_peak(
    layers.across_speaker_cka(dataset, speaker_a, speaker_b, unit="frame", n_frames=longest)
)
squeezed = layers.diagonal_peak(across[("frame", "biased")])
print(f"resampled to {longest} frames: peak layer {stretched['layer']}, CKA {stretched['cka']:.3f}")
print(f"resampled to {n_common} frames: peak layer {squeezed['layer']}, CKA {squeezed['cka']:.3f}")
print(
    "Answer: the peak layer "
    + ("does not change" if stretched["layer"] == squeezed["layer"] else "changes")
    + f" (layer {squeezed['layer']} → {stretched['layer']}); the peak value moves by "
    f"{stretched['cka'] - squeezed['cka']:+.4f}."
)
