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
# The previous notebooks compared each layer with something *outside* the model (MFCCs, EMA).
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
# 4. each of them with **biased and debiased CKA**, because sentence means give only 5–10
#    stimuli in 768 dimensions, exactly where biased CKA is inflated.
#
# We finish by locating where the across-speaker similarity peaks and checking it against a
# baseline in which the sentences are deliberately mismatched.
#
# ## Prerequisites
#
# - Notebook 01 (Gram matrices, centring, sentence means) and notebook 02 (CKA, biased vs
#   debiased estimators, null baselines).
# - Notebook 04 explains the small-sample bias of CKA in detail with pure noise; here we only
#   need its headline: for *unrelated* random data with `n` stimuli and `d` features, biased
#   CKA is about `d / (d + n)`.

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

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import display

from tutorial_utils import cka_matrix, layers, load_dataset, notice, nulls, plots, sanity

pd.set_option("display.precision", 3)
pd.set_option("display.width", 120)

# %%
dataset = load_dataset()
display(notice.data_notice(dataset))
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
# ## 1. How many stimuli, how many features?
#
# CKA compares the *geometry of a set of stimuli*. How trustworthy a biased CKA value is
# depends on how many stimuli `n` there are compared with the number of features `d`. The
# table lists the two views of this notebook, with the value that biased CKA would give for
# two completely *unrelated* random representations of the same shape (`d / (d + n)`).

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
views["biased CKA of unrelated noise"] = [sanity.expected_noise_cka(n, n_dims) for n in views["n"]]
display(views)
print(f"frames per recording of {speaker_a}: {min(frame_counts)}–{max(frame_counts)}")

# %% [markdown]
# With one vector per recording there are far fewer stimuli than features, and two unrelated
# representations would already score close to 1 with biased CKA. On frames, `n` is larger,
# so the inflation is smaller but not gone. Keep the last column in mind when reading the
# matrices below.
#
# ## 2. Within one speaker, on sentence means (the original view)
#
# Each recording becomes the mean of its frames, separately for every layer; CKA then compares
# how two layers arrange the recordings. The original chapter drew this matrix with biased
# CKA and a colour scale starting at 0.8. We show it that way (left) and on the full 0–1 scale
# (right): the same numbers, but the left panel makes differences of a few hundredths look
# like strong contrasts.

# %%
within_sentence = layers.within_speaker_cka(dataset, speaker_a, unit="sentence")

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

# %% [markdown]
# ## 3. How much of that is the estimator? Debiased CKA
#
# Biased CKA estimates HSIC with a plug-in formula whose expected value is positive even for
# independent representations; the excess grows with `d / n`. Song et al.'s unbiased HSIC
# estimator removes it (Murphy et al., 2024, apply it to CKA): unrelated representations then
# score about 0, and can score slightly below. It needs `n ≥ 4`.
#
# We compute the same matrix with the debiased estimator and draw both on the full scale.

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
# value was partly produced by having few stimuli in many dimensions. Note that the noise level
# in section 1 (`d / (d + n)`) is the inflation for *isotropic* noise; real and simulated
# layers concentrate their variance in fewer directions, so their inflation is smaller and
# cannot be read off the biased number alone. That is why the debiased matrix belongs next to
# the biased one.
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
# should be close, because `n` (about a hundred or more frames) is much larger than on
# sentence means. Second, the frame-level matrix can reveal differences between layers that
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
# over shuffled pairings, `p` the share of shuffled pairings (plus one) that reach the matched
# value. With 5 sentences there are only 44 shuffled pairings, so the smallest possible `p`
# is 1/45 ≈ 0.022.

# %%
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
# in this notebook: sentences that do **not** match still get biased CKA values far above 0,
# simply because 5 stimuli in 768 dimensions leave little room to be dissimilar. The debiased
# baseline sits near 0 on average, but single shuffled pairings scatter widely
# (`shuffled_max`): with 5 stimuli every debiased estimate is noisy. At the frame level the
# shuffled baseline is above 0 for both estimators for a different reason: any two recordings
# share structure unrelated to their words (for instance silence at the start and the end),
# so only the gap above the baseline is about the sentence.
#
# ## 6. Where does the across-speaker similarity peak?
#
# Two readouts per view: the layer where the matched diagonal is highest, and the layer where
# its gap above the shuffled baseline is largest. When all matched values are within a few
# thousandths of each other (as can happen with biased CKA on sentence means), the first
# readout is not informative and the second one is the one to trust.

# %%
peaks = []
for (unit, estimator), table in diagonals.items():
    peak = layers.diagonal_peak(across[(unit, estimator)])
    peaks.append(
        {
            "stimuli": unit,
            "estimator": estimator,
            "peak layer": peak["layer"],
            "peak CKA": peak["cka"],
            "range of diagonal": table["matched"].max() - table["matched"].min(),
            "largest-gap layer": int(table["gap"].idxmax()),
            "largest gap": table["gap"].max(),
        }
    )
peaks = pd.DataFrame(peaks)
display(peaks)
low, high = notice.REAL_FINDINGS["across_speaker_peak_layers"]
print(f"Real data (reported, biased CKA on sentence means): highest in layers {low}-{high}")

# %% [markdown]
# Read the table with the earlier sections in mind. The frame-level diagonal compares the
# speakers moment by moment within each sentence, so its peak marks the layers in which the
# *same words* are represented most alike by the two speakers; the gap column says how much of
# that is more than any two recordings share. On sentence means, with 5 stimuli, differences
# between layers are small compared with the estimator's bias and with the spread of the
# shuffled baseline, so a peak there is weak evidence on its own.
#
# ## Summary
#
# - A 13 × 13 CKA matrix shows which layers arrange the stimuli alike; it can be computed on
#   sentence means (few stimuli) or on frames (many stimuli), and the two answer different
#   questions: between-sentence differences vs within-sentence dynamics.
# - With sentence means, `n` is 5–10 against 768 dimensions. Biased CKA of unrelated data is
#   then close to 1, and a colour scale starting at 0.8 exaggerates small differences. Always
#   show debiased CKA next to it, on the full scale.
# - Across speakers, a shuffled-pairing baseline shows how much similarity remains when the
#   sentences do not match; the gap above it, not the raw value, is about shared content.
# - Frame-level comparisons across speakers need an alignment; we resampled linearly to a
#   common length, which is simple and conservative.
#
# ## Exercises
#
# **Exercise 1.** Compute the within-speaker sentence-mean matrix for speaker B instead of A.
# B has fewer recordings. How does the difference between biased and debiased CKA change?

# %% tags=["hide-input"]
# Solution
for participant in (speaker_a, speaker_b):
    n = len(dataset.pick_filenames(participant))
    biased = layers.within_speaker_cka(dataset, participant, unit="sentence")
    debiased = layers.within_speaker_cka(dataset, participant, unit="sentence", debiased=True)
    mask = ~np.eye(len(biased), dtype=bool)
    print(
        f"{participant}: n = {n}, mean off-diagonal biased {biased.to_numpy()[mask].mean():.3f}, "
        f"debiased {debiased.to_numpy()[mask].mean():.3f}, "
        f"noise level d/(d+n) = {sanity.expected_noise_cka(n, n_dims):.3f}"
    )

# %% [markdown]
# **Exercise 2.** Instead of averaging per-recording matrices, concatenate the frames of all
# of speaker A's recordings into one set of stimuli and compute linear CKA between layers 0,
# 4, 8 and 12. Is the result higher or lower than the per-recording average, and why might
# that be? (Hint: concatenated frames also differ *between* recordings.)

# %% tags=["hide-input"]
# Solution
chosen = [0, 4, 8, 12]
pooled = {
    layer: np.concatenate(
        [
            dataset.hidden_state(speaker_a, layer, f)
            for f in dataset.pick_filenames(speaker_a)
        ]
    )
    for layer in chosen
}
print(f"pooled frames: {len(pooled[0])}")
comparison = pd.concat(
    {
        "concatenated": cka_matrix(pooled),
        "per-recording mean": within_frames.loc[chosen, chosen],
    },
    axis=1,
)
display(comparison)

# %% [markdown]
# **Exercise 3.** The frame-level across-speaker comparison resampled every recording to the
# *shortest* length. Repeat it with the *longest* length (`n_frames=`) and check whether the
# peak layer of the biased diagonal changes.

# %% tags=["hide-input"]
# Solution
layer_0 = dataset.layers[0]
longest = max(
    [dataset.hidden_state(speaker_a, layer_0, f).shape[0] for f in shared.FILENAME_A]
    + [dataset.hidden_state(speaker_b, layer_0, f).shape[0] for f in shared.FILENAME_B]
)
stretched = layers.across_speaker_cka(dataset, speaker_a, speaker_b, unit="frame", n_frames=longest)
shortest = across[("frame", "biased")]
print(f"resampled to {longest} frames: peak {dict(layers.diagonal_peak(stretched))}")
print(f"resampled to {n_common} frames: peak {dict(layers.diagonal_peak(shortest))}")
