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
# with each other. All pairs give a 13 × 13 matrix that shows which layers arrange the stimuli
# alike: where the representation changes and where it only drifts.
#
# The core path follows the original chapter: the matrix within one speaker (A) on sentence
# means, once as a numpy loop and then from the package, and the matrix across two speakers,
# tested against every other pairing of their sentences. Section 1 first shows what CKA gives
# for *unrelated* data of the same shapes (a few stimuli in many dimensions).
#
# **Core path:** about 23 minutes (sections 1-3); going further: about 15 more.
#
# **Prerequisites:** chapter 01 (Gram matrices, centring, sentence means) and chapter 02 (CKA
# from centred Gram matrices, null baselines).

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
    CKAAccumulator,
    cka_matrix,
    layers,
    load_dataset,
    notice,
    nulls,
    plots,
    sanity,
    sentences,
    stats,
)

dataset = load_dataset()
print(textwrap.fill(notice.data_line(dataset), 88))
speaker_a, speaker_b = dataset.participants[:2]
shared = dataset.shared_sentences(speaker_a, speaker_b)
for label, speaker in (("A", speaker_a), ("B", speaker_b)):
    print(f"speaker {label} = {speaker}: {len(dataset.pick_filenames(speaker))} recordings")
display(shared[["SENTENCE_ID", "SENTENCE"]])

# %% [markdown]
# ## 1. Few stimuli in many dimensions: what CKA gives for noise
#
# CKA compares the geometry of `n` stimuli, each described by `d` features. Sentence means give
# a handful of stimuli in 768 dimensions. To see what that does, we draw pairs of independent
# Gaussian noise matrices with exactly this chapter's shapes (20 pairs per shape) and compute
# linear CKA, biased and debiased, with the package's `cka_matrix`. An ideal index would give 0.

# %%
n_dims = dataset.hidden_state(speaker_a, 0, shared.FILENAME_A.iloc[0]).shape[1]
frame_counts = [
    dataset.hidden_state(speaker_a, 0, f).shape[0] for f in dataset.pick_filenames(speaker_a)
]
n_frames = int(np.median(frame_counts))
views = {
    "A: sentence means": len(frame_counts),
    "A-B: sentence means": len(shared),
    "A: recording frames": n_frames,
}
noise = sanity.noise_summary(
    sanity.noise_cka(n_stimuli=sorted(set(views.values())), n_features=(n_dims,), n_repeats=20)
).droplevel("n_features")
noise = noise.loc[list(views.values()), ["d/(d+n)", "biased mean", "debiased mean", "debiased std"]]
noise.index = pd.MultiIndex.from_arrays([list(views), list(views.values())], names=["", "n"])
display(noise.round(3))

# %% [markdown]
# Biased CKA of pure noise is close to `d / (d + n)`: `n` noise vectors in `d ≫ n` dimensions
# are nearly orthogonal and equally long, so the centred Gram matrix of *any* such data is
# close to a multiple of the centring matrix, and two unrelated sets look alike. The
# **debiased** estimator replaces the plug-in HSIC by an unbiased one
# {cite:p}`song2012feature`; in CKA {cite:p}`murphy2024debiased` it scores unrelated data about
# 0 on average, with more scatter when `n` is small, and needs `n ≥ 4`. A biased sentence-mean
# value near 1 is therefore not, by itself, evidence of shared structure. Real layers are not
# isotropic noise and are less inflated (the frames section of "Going further" shows why), so
# the matrices below come in both versions.
#
# ## 2. Within one speaker, on sentence means (the original view)
#
# Each recording becomes the mean of its frames at every layer, and CKA compares how two layers
# arrange the recordings. Here is the 13 × 13 loop, written out once with chapter 02's four
# steps for every pair of layers: centre the features, form the linear Gram matrices, take HSIC
# (the sum of their elementwise product, `trace(K L)`), and normalise by the two
# self-similarities. `layers.within_speaker_cka` gives the same matrix from the package's
# `cka_matrix`, and does the work from here on.

# %%
means = sentences.sentence_mean_layers(dataset, speaker_a)  # {layer: (n recordings, d)}
n_layers = len(dataset.layers)
by_hand = np.empty((n_layers, n_layers))
for i, layer_i in enumerate(dataset.layers):
    for j, layer_j in enumerate(dataset.layers):
        x = means[layer_i] - means[layer_i].mean(axis=0)  # centre every feature
        y = means[layer_j] - means[layer_j].mean(axis=0)
        gram_x, gram_y = x @ x.T, y @ y.T  # n × n linear Gram matrices
        hsic = np.sum(gram_x * gram_y)  # trace(K L); the 1/(n-1)² factor cancels below
        by_hand[i, j] = hsic / np.sqrt(np.sum(gram_x * gram_x) * np.sum(gram_y * gram_y))

within = layers.within_speaker_cka(dataset, speaker_a)  # sentence means, then cka_matrix
np.testing.assert_allclose(by_hand, within, rtol=0, atol=1e-12)
for i, j in [(0, 1), (0, n_layers - 1)]:
    layer_i, layer_j = dataset.layers[i], dataset.layers[j]
    print(f"layers {layer_i} and {layer_j}: loop {by_hand[i, j]:.4f}, "
          f"package {within.iloc[i, j]:.4f}")

# %% [markdown]
# The original chapter drew this matrix with biased CKA and a colour scale starting at 0.8. We
# show it that way (left) and on the full 0–1 scale (right): the same numbers, but the left
# panel makes small differences look like strong contrasts.

# %% mystnb={"image": {"alt": "Layer by layer CKA of sentence means, two colour scales"}}
fig, axes = plt.subplots(1, 2, figsize=(9, 4.2), layout="constrained")
for ax, vmin in zip(axes, (0.8, 0.0), strict=True):
    plots.layer_heatmap(
        within,
        ax=ax,
        vmin=vmin,
        annot=False,
        title=f"{speaker_a}, sentence means, biased CKA\ncolour scale from {vmin}",
        cbar_label="biased linear CKA",
        xlabel="layer (index)",
        ylabel="layer (index)",
    )
plots.show(fig)

# %% [markdown]
# On the real data the original chapter reports that layers 0–10 all have biased CKA above 0.95
# with each other, while layers 11–12 stand apart. The table gives the mean and minimum over
# the layer pairs of each block, for biased and, following section 1, debiased CKA.

# %%
within_debiased = layers.within_speaker_cka(dataset, speaker_a, debiased=True)
low, high = notice.REAL_FINDINGS["sentence_mean_within_block_layers"]
blocks = {f"{low}-{high}": range(low, high + 1), "11-12": [11, 12]}
block_tables = {
    name: layers.block_table(matrix, blocks).set_index(["block_a", "block_b"])
    for name, matrix in [("biased", within), ("debiased", within_debiased)]
}
display(pd.concat(block_tables, axis=1).round(3))
minimum = notice.REAL_FINDINGS["sentence_mean_within_block_min_cka"]
print(f"Real data (reported, read off the original's figure): layers {low}-{high} all "
      f"above {minimum}")
print(textwrap.fill(notice.by_design_note(dataset), 88))

# %% [markdown]
# Where biased and debiased CKA agree, the high values reflect structure the layers share.
# Where debiased CKA is clearly lower, part of the biased value came from having few stimuli in
# many dimensions.
#
# ## 3. Across two speakers, with a permutation test
#
# Now the rows are speaker A's layers, the columns speaker B's layers, and the stimuli are the
# shared sentences' means, sentence s of A paired with sentence s of B. Entry (i, j) is high
# when layer i of A and layer j of B arrange the sentences alike; the diagonal (the same layer
# in both speakers) is the readout.
#
# What counts as high? A **permutation test** recomputes the diagonal with B's sentences paired
# with A's in every other order: `s` shared sentences give `s!` pairings (120 for 5), the true
# one included. If a layer carried no sentence structure common to the speakers, all pairings
# would be equally likely to score highest, so the share scoring at least as high as the true
# one is an exact p-value, never below `1 / s!`. We use all pairings, not only the 44 that move
# every sentence (derangements): the test is sure to be exact when the orders form a group,
# which all 120 do and the derangements with the true order do not.

# %% mystnb={"image": {"alt": "Across-speaker layer by layer CKA, biased and debiased"}}
across, baselines = {}, {}
for estimator in ("biased", "debiased"):
    options = {"unit": "sentence", "debiased": estimator == "debiased"}
    across[estimator] = layers.across_speaker_cka(dataset, speaker_a, speaker_b, **options)
    baselines[estimator] = nulls.shuffled_diagonal(dataset, speaker_a, speaker_b, **options)
n_pairings = len(baselines["biased"]) + 1  # the other orders and the true one
p_floor = 1 / n_pairings
print(f"{len(shared)} shared sentences: {n_pairings} pairings, "
      f"smallest possible p = 1/{n_pairings} = {p_floor:.4f}")

fig = plots.layer_heatmaps(
    {f"{speaker_a} vs {speaker_b}, sentence means, {name} CKA": m for name, m in across.items()},
    xlabel=f"layer of {speaker_b} (index)",
    ylabel=f"layer of {speaker_a} (index)",
)
plots.show(fig)

# %% [markdown]
# The diagonals beside the other pairings: `matched` is the true pairing, `null_mean` and
# `null_max` the mean and maximum over the other pairings, `p` the permutation p-value.

# %%
diagonals = {name: layers.diagonal_table(across[name], baselines[name]) for name in across}
display(pd.concat(diagonals, axis=1).round(3))

# %% [markdown]
# The biased baseline is section 1's small-sample bias in the data: pairings of mostly
# *different* sentences still score far above 0, because five stimuli in 768 dimensions leave
# little room to be dissimilar. The debiased baseline averages about 0, but single pairings
# scatter widely (`null_max`), as section 1's `debiased std` for five stimuli predicts.
#
# Where does the across-speaker similarity peak? Two readouts per estimator: the layers whose
# matched value beats every other pairing (`p` at the floor), and how steady the highest layer
# is when one sentence at a time is left out of the diagonal.

# %%
reps_a, reps_b = layers.shared_sentence_layers(dataset, speaker_a, speaker_b)
for name, table in diagonals.items():
    debiased = name == "debiased"
    peaks_left_out = []  # debiased CKA needs 4 sentences left, biased 2
    for left_out in range(len(shared) if len(shared) > (4 if debiased else 2) else 0):
        keep = np.arange(len(shared)) != left_out  # the diagonal over the other sentences
        diagonal = [
            cka_matrix([reps_a[k][keep]], [reps_b[k][keep]], debiased=debiased)[0, 0]
            for k in dataset.layers
        ]
        peaks_left_out.append(dataset.layers[int(np.argmax(diagonal))])
    at_floor = table.index[np.isclose(table["p"], p_floor)].tolist()
    print(f"{name}: highest at layer {table['matched'].idxmax()}; "
          f"with one sentence left out: {peaks_left_out or 'too few sentences'}")
    print(f"  p = 1/{n_pairings} (beats every other pairing) at layers {at_floor}")
n_tests = 4 * n_layers
print(textwrap.fill(
    f"No correction for multiple comparisons: {n_layers} layers × 4 views (2 here, 2 on "
    f"frames under Going further) give {n_tests} p-values; if no layer carried sentence "
    f"structure, about {n_tests / n_pairings:.1f} of them would still reach 1/{n_pairings}.",
    88,
))
low, high = notice.REAL_FINDINGS["across_speaker_peak_layers"]
print(f"Real data (reported, biased, read off the original's figure): highest in layers "
      f"{low}-{high}")
print(textwrap.fill(notice.by_design_note(dataset), 88))

# %% [markdown]
# Read the printout one layer and one view at a time. A layer at the floor arranges the
# sentences alike in both speakers beyond every other pairing. Which of those layers is *most*
# sentence-like is another question: layers at the floor are tied, and a peak that moves when
# one sentence is left out is not a finding. That needs more shared sentences.
#
# ## Summary
#
# - A 13 × 13 CKA matrix shows which layers arrange the stimuli alike. Its loop is a few lines
#   of numpy per pair of layers; `cka_matrix` gives the same numbers.
# - With sentence means, `n` is a handful against 768 dimensions: biased CKA of unrelated noise
#   of that shape is close to 1, and a colour scale from 0.8 exaggerates small differences.
#   Show debiased CKA beside it, on the full scale.
# - Across speakers, a permutation test over all pairings of the shared sentences tells which
#   layers arrange the sentences alike beyond chance, with an exact p-value no smaller than
#   `1 / s!`. It cannot rank the layers at its floor, and its p-values over layers and views are
#   not corrected for multiple comparisons.

# %% [markdown]
# ## Going further: frames instead of sentence means
#
# Sentence means keep only what differs *between* sentences; what changes within a sentence
# (phones, articulator movements) is averaged away. On frames, the stimuli are the 20 ms frames
# of one recording: one 13 × 13 matrix per recording, averaged over recordings. (Pooling the
# recordings would mix differences between sentences back in; exercise 2 tries it.) Compare the
# blocks with those of section 2: a layer can change how it represents the frames inside a
# sentence without changing the sentence averages.

# %% mystnb={"image": {"alt": "Layer by layer CKA on frames, biased and debiased"}}
per_recording = layers.per_recording_layer_cka(dataset, speaker_a)
within_frames = layers.mean_over_recordings(per_recording, dataset.layers)
within_frames_debiased = layers.within_speaker_cka(
    dataset, speaker_a, unit="frame", debiased=True
)
frame_matrices = {"biased": within_frames, "debiased": within_frames_debiased}
fig = plots.layer_heatmaps(
    {
        f"{speaker_a}, frames, {name} CKA\n(mean over {len(frame_counts)} recordings)": matrix
        for name, matrix in frame_matrices.items()
    }
)
plots.show(fig)
frame_blocks = {
    name: layers.block_table(matrix, blocks).set_index(["block_a", "block_b"])
    for name, matrix in frame_matrices.items()
}
display(pd.concat(frame_blocks, axis=1).round(3))

# %% [markdown]
# On frames the biased and debiased matrices are close, yet section 1 printed a biased CKA of
# about 0.87 for noise of the frames' shape, against about 0 debiased. A larger `n` alone does
# not explain the closeness; the layers' frames are far from isotropic noise. A measure of their
# *effective* number of dimensions is the participation ratio `(Σλ)² / Σλ²` of the covariance
# eigenvalues λ, which equals `trace(K)² / ‖K‖²` for the centred Gram matrix `K`: `d` for
# isotropic data, 1 when all variance lies along one direction.

# %%
def participation_ratio(x):
    """Effective number of dimensions of (n, d) data, from its centred Gram matrix."""
    centred = x - x.mean(axis=0)
    gram = centred @ centred.T
    return np.trace(gram) ** 2 / np.sum(gram * gram)


ratios = [
    participation_ratio(dataset.hidden_state(speaker_a, k, f).astype(np.float64))
    for k in dataset.layers
    for f in dataset.pick_filenames(speaker_a)
]
noise_ratio = participation_ratio(np.random.default_rng(0).standard_normal((n_frames, n_dims)))
d_eff = round(float(np.median(ratios)))
off_diagonal = ~np.eye(n_layers, dtype=bool)
excess = (within_frames - within_frames_debiased).to_numpy()[off_diagonal]
print(f"participation ratio of a layer's frames in one recording: median {d_eff}, "
      f"range {min(ratios):.0f}-{max(ratios):.0f}")
print(f"the same for isotropic noise of {n_frames} frames × {n_dims}: {noise_ratio:.0f}")
print(f"biased CKA of noise with d = {d_eff}, n = {n_frames}: about d/(d+n) = "
      f"{sanity.expected_noise_cka(n_frames, d_eff):.3f}")
print(f"biased minus debiased CKA on frames, over layer pairs: mean {excess.mean():+.3f}, "
      f"largest {excess.max():+.3f}")

# %% [markdown]
# Compare the last two lines, and the isotropic 0.87: the excess of biased over debiased CKA on
# frames is of the order that noise with the layers' few effective dimensions gives. The
# closeness comes from the layers' low effective dimensionality, not from `n` alone.
#
# ## Going further: across speakers on frames
#
# Frames of two speakers do not pair up directly: they read each sentence at different speeds.
# We resample both recordings of a sentence to one common number of frames (the shortest
# recording involved) by linear interpolation in time, so that frame t of A and frame t of B sit
# at the same *relative* position in the sentence. This ignores changes of speaking rate within
# a sentence, so it underestimates how alike the speakers' frames are. CKA is computed per
# sentence and averaged; the permutation test reorders the sentences as in section 3.

# %%
n_common = layers.common_length(dataset, shared, speaker_a, speaker_b)
print(f"frame-level alignment: every recording resampled to {n_common} frames")
frame_across, frame_diagonals = {}, {}
for estimator in ("biased", "debiased"):
    options = {"unit": "frame", "debiased": estimator == "debiased"}
    frame_across[estimator] = layers.across_speaker_cka(dataset, speaker_a, speaker_b, **options)
    null = nulls.shuffled_diagonal(dataset, speaker_a, speaker_b, **options)
    frame_diagonals[estimator] = layers.diagonal_table(frame_across[estimator], null)
display(pd.concat(frame_diagonals, axis=1).round(3))

# %% [markdown]
# Here the other pairings score above 0 with both estimators, for a reason other than in
# section 3: any two recordings share structure unrelated to their words (silence at the start
# and the end, for instance), so only the margin above the null is about the sentence.
#
# Frames give one diagonal per shared sentence, so the peak can be bootstrapped over sentences
# with `stats.peak_layers`: resample the sentences with replacement, average their diagonals,
# and note which layer is highest (`p_peak`) and which layers' 95% intervals reach the interval
# of the observed peak (`near_peak`).

# %%
frames_a, frames_b = layers.shared_sentence_layers(dataset, speaker_a, speaker_b, unit="frame")
per_sentence = pd.DataFrame(
    {"sentence": s, "layer": k, "value": cka_matrix([frames_a[k][s]], [frames_b[k][s]])[0, 0]}
    for s in range(len(shared))
    for k in dataset.layers
)
peaks = stats.peak_layers(per_sentence, unit="sentence").set_index("layer")
display(peaks.round(3))
peak = int(peaks["mean"].idxmax())
print(f"biased CKA on frames peaks at layer {peak}; it does so in "
      f"{peaks.loc[peak, 'p_peak']:.0%} of the sentence resamples")
print(textwrap.fill("layers whose interval reaches the peak's: "
                    + ", ".join(str(k) for k in peaks.index[peaks["near_peak"]]), 88))

# %% [markdown]
# Five sentences make a coarse bootstrap (five values per layer to resample), and it speaks for
# these sentences, not for sentences in general. A layer whose interval reaches the peak's
# cannot be told apart from it here.
#
# ## Going further: all frames of a speaker, one recording at a time
#
# Sometimes you want all frames of a speaker, or of a corpus, pooled into one set of stimuli.
# Linear CKA needs only a few running sums over the frames: the cross products $X^\top X$, the
# column sums and each frame's squared norm. A `CKAAccumulator` adds them up one chunk at a time
# (here: one recording) in float64 and returns the same matrix as `cka_matrix` on the pooled
# frames, biased or debiased from the same sums. Its memory depends on the number of features,
# not of frames. We stream four layers; all thirteen work the same way.

# %%
stream_layers = [dataset.layers[i] for i in (0, 4, 8, -1)]
names = dataset.pick_filenames(speaker_a)
accumulator = CKAAccumulator()
for name in names:  # one recording at a time
    accumulator.update({k: dataset.hidden_state(speaker_a, k, name) for k in stream_layers})
pooled = {
    k: np.concatenate([dataset.hidden_state(speaker_a, k, name) for name in names])
    for k in stream_layers
}
for debiased in (False, True):
    streamed = accumulator.result(debiased=debiased)
    np.testing.assert_allclose(streamed, cka_matrix(pooled, debiased=debiased), atol=1e-10)
display(accumulator.result().round(3))

# %% [markdown]
# ## Exercises
#
# 1. Compute the within-speaker sentence-mean matrix for speaker B instead of A, and compare the
#    numbers of recordings. How does the difference between biased and debiased CKA change, and
#    why?
# 2. Instead of averaging per-recording matrices, concatenate the frames of all of speaker A's
#    recordings into one set of stimuli and compute linear CKA between layers 0, 4, 8 and 12.
#    Is the result higher or lower than the per-recording average, and why? (Hint: compare with
#    the concatenation after removing each recording's mean, and with debiased CKA.)
# 3. The frame-level across-speaker comparison resampled every recording to the *shortest*
#    length. Repeat it with the *longest* length (`n_frames=`) and check whether the peak layer
#    of the biased diagonal changes.

# %% tags=["hide-cell"]
# Solution 1
excess = {}
for participant in (speaker_a, speaker_b):
    n = len(dataset.pick_filenames(participant))
    biased = layers.within_speaker_cka(dataset, participant, unit="sentence")
    debiased = layers.within_speaker_cka(dataset, participant, unit="sentence", debiased=True)
    mask = ~np.eye(len(biased), dtype=bool)
    excess[participant] = (n, (biased - debiased).to_numpy()[mask].mean())
    print(f"{participant}: n = {n}, mean off-diagonal CKA biased "
          f"{biased.to_numpy()[mask].mean():.3f}, debiased {debiased.to_numpy()[mask].mean():.3f},")
    print(f"  noise level d/(d+n) = {sanity.expected_noise_cka(n, n_dims):.3f}")
(n_few, gap_few), (n_many, gap_many) = sorted(excess.values())
print(textwrap.fill(
    f"Answer: biased minus debiased is {gap_few:+.3f} with n = {n_few} and {gap_many:+.3f} "
    f"with n = {n_many}; "
    + ("fewer recordings, larger excess, as the noise levels d/(d+n) predict (section 1; "
       "the two n belong to different speakers, so the comparison is not controlled)."
       if gap_few > gap_many else "here the excess does not grow with fewer recordings: the "
       "layers' own structure, not only d/n, sets the inflation."),
    88,
))

# %% tags=["hide-cell"]
# Solution 2
chosen = [0, 4, 8, 12]
recording_frames = {
    layer: [dataset.hidden_state(speaker_a, layer, f).astype(np.float64) for f in names]
    for layer in chosen
}
pooled = {layer: np.concatenate(parts) for layer, parts in recording_frames.items()}
pooled_within = {
    layer: np.concatenate([x - x.mean(axis=0) for x in parts])
    for layer, parts in recording_frames.items()
}
pair_mask = ~np.eye(len(chosen), dtype=bool)
means_of = {
    "concatenated": cka_matrix(pooled),
    "concatenated, recording means removed": cka_matrix(pooled_within),
    "per-recording mean": within_frames.loc[chosen, chosen],
    "concatenated, debiased": cka_matrix(pooled, debiased=True),
    "per-recording mean, debiased": within_frames_debiased.loc[chosen, chosen],
}
means_of = {name: np.asarray(m)[pair_mask].mean() for name, m in means_of.items()}
for name, value in means_of.items():
    print(f"{name:40s} mean CKA over {pair_mask.sum() // 2} layer pairs {value:.3f}")
lengths = np.array([len(x) for x in recording_frames[chosen[0]]])
cross_share = 1 - np.sum(lengths**2) / lengths.sum() ** 2
gap_biased = means_of["concatenated"] - means_of["per-recording mean"]
gap_debiased = means_of["concatenated, debiased"] - means_of["per-recording mean, debiased"]
means_shift = means_of["concatenated, recording means removed"] - means_of["concatenated"]
print(textwrap.fill(
    f"Answer: concatenated is {'lower' if gap_biased < 0 else 'higher'} by "
    f"{abs(gap_biased):.3f}. Removing each recording's mean changes it by only "
    f"{means_shift:+.3f}, so the recordings' different means are not the reason; but "
    f"{cross_share:.0%} of the concatenated frame pairs come from two different recordings, "
    f"which the per-recording matrices never compare. Debiasing leaves a gap of "
    f"{gap_debiased:+.3f}, so the smaller bias of the larger n ({len(pooled[chosen[0]])} "
    f"frames) accounts for only {abs(gap_biased - gap_debiased):.3f} of the "
    f"{abs(gap_biased):.3f}.",
    88,
))

# %% tags=["hide-cell"]
# Solution 3
layer_0 = dataset.layers[0]
longest = max(
    [dataset.hidden_state(speaker_a, layer_0, f).shape[0] for f in shared.FILENAME_A]
    + [dataset.hidden_state(speaker_b, layer_0, f).shape[0] for f in shared.FILENAME_B]
)
stretched = layers.diagonal_peak(
    layers.across_speaker_cka(dataset, speaker_a, speaker_b, unit="frame", n_frames=longest)
)
squeezed = layers.diagonal_peak(frame_across["biased"])
print(f"resampled to {longest} frames: peak layer {stretched['layer']}, CKA {stretched['cka']:.3f}")
print(f"resampled to {n_common} frames: peak layer {squeezed['layer']}, CKA {squeezed['cka']:.3f}")
print(
    "Answer: the peak layer "
    + ("does not change" if stretched["layer"] == squeezed["layer"] else "changes")
    + f" (layer {squeezed['layer']} → {stretched['layer']}); the peak value moves by "
    f"{stretched['cka'] - squeezed['cka']:+.4f}."
)
