# %% [markdown]
# # A tour of the data
#
# ## Overview
#
# **Core path:** about 20 minutes (EMA, the recordings, one recording, the sensors, the 20 ms
# grid); going further: about 7 more.
#
# Every later chapter compares three descriptions of the same read sentences: the hidden
# layers of a speech model, acoustic features (MFCCs) and articulatory features (EMA). This
# chapter looks at the raw material before any similarity is computed: what EMA measures,
# the recordings, one recording as sound and as sensor movements, and how model frames, MFCC
# frames and EMA rows line up on a common 20 ms grid — the detail that decides whether a
# frame-by-frame comparison compares the right things.
#
# ## Prerequisites
#
# Basic Python and numpy. Audio playback needs a browser-based notebook (Jupyter, VS Code,
# Colab or the book).

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

import numpy as np
import pandas as pd
from IPython.display import Audio, display

from tutorial_utils import frames, load_dataset, notice, plots

# %% [markdown]
# `load_dataset()` returns the real tutorial data when it has been downloaded (see *Going
# further: the real data* at the end), and otherwise the small synthetic sample that ships
# with the package, so the whole tutorial runs offline. The box below says which one you
# have; on the sample it also lists the real-data results, read off the original chapter's
# figures.

# %%
dataset = load_dataset()
display(notice.data_notice(dataset))
if notice.by_design_note(dataset):
    print(textwrap.fill(notice.by_design_note(dataset), 88))

# %% [markdown]
# ## What EMA measures
#
# In electromagnetic articulography small coils are glued to the articulators; an
# electromagnetic field induces currents in them, from which their positions are computed,
# typically 100 times per second and in millimetres. The tutorial uses six sensors:
# `TR`, `TB`, `TT` (tongue rear, blade and tip), `UL`, `LL` (upper and lower lip) and `JAW`
# (lower incisors). Each gives two coordinates, `_X` and `_Y`, so an EMA frame has 12
# numbers. `_X` runs from the back of the head to the front. The signal was downsampled to
# 50 Hz: row `t` is the position at `t × 20 ms`.
#
# What is `_Y`? If it were vertical, the upper lip would sit well above the lower lip. The
# cell below prints the two lips' `_Y` in the first row, and how much they move over the
# first five rows (100 ms).

# %%
participant = dataset.participants[0]
ema_table = dataset.ema(participant)
kind = "synthetic sample" if dataset.source == "sample" else "real data"
print(f"EMA table of {participant} ({kind}): {len(ema_table)} rows × {ema_table.shape[1]} columns")
first = ema_table.iloc[0]
lip_gap = first["UL_Y"] - first["LL_Y"]
print(f"first row: UL_Y = {first['UL_Y']:.2f} mm, LL_Y = {first['LL_Y']:.2f} mm "
      f"(upper minus lower: {lip_gap:+.2f} mm)")
still = ema_table.head(5)[["UL_Y", "LL_Y"]].std()
print(f"sd over the first five rows: UL_Y {still['UL_Y']:.2f} mm, LL_Y {still['LL_Y']:.2f} mm")
ema_table.head()

# %% [markdown]
# In the synthetic sample the upper lip lies about 20 mm above the lower lip: its `_Y` is
# vertical (its simulated vocal tract is symmetric and never moves sideways). In the real
# file the upper lip lies *below* the lower lip (F02's first row: `UL_Y` −1.61 mm, `LL_Y`
# 1.04 mm), impossible on a vertical axis, and both barely move (about 0.2 mm sd over five
# rows): its `_Y` is the lateral (left–right) axis. So the real EMA columns hold no vertical
# movement (jaw opening, lip closure, tongue height); that would have to come from the `z`
# column of the Haskins `.mat` files, which the tutorial's data do not include. On the real
# data, "similarity to articulation" means similarity to front–back and small sideways
# positions.
#
# ## The recordings
#
# File names encode the block (`B01`), the sentence (`S18`), the repetition (`R01`) and the
# speaking rate (`N`, normal), so the same sentence read by two speakers can be matched by its
# block and sentence id.

# %%
rows = []
for p, name in dataset.pick_recordings():  # the recordings with hidden states
    recording = dataset.recordings(p).set_index("FILENAME").loc[name]
    n_samples = dataset.audio(p, name).size
    rows.append({"participant": p, "filename": name, "sentence": recording["SENTENCE"],
                 "duration_s": round(n_samples / dataset.sample_rate, 3),
                 "n_samples": n_samples, "model_frames": frames.n_model_frames(n_samples),
                 "hidden_states": dataset.hidden_state(p, 0, name).shape[0],
                 "ema_rows": int((dataset.ema(p)["FILENAME"] == name).sum())})  # fmt: skip
counts = pd.DataFrame(rows)
for p, part in counts.groupby("participant", sort=False):
    print(f"{p}: {len(part)} recordings, {part['duration_s'].sum():.1f} s of speech, "
          f"{part['duration_s'].min():.2f}–{part['duration_s'].max():.2f} s each")
a, b = dataset.participants[:2]
shared = dataset.shared_sentences(a, b)
print(f"sentences read by both {a} and {b}: {len(shared)}")
counts[["participant", "filename", "sentence", "duration_s"]]

# %% [markdown]
# ## Listening to one recording
#
# The first sentence both speakers read, in the first speaker's version. The waveform shows
# the loudness envelope (syllables appear as bursts). The spectrogram shows how the energy is
# spread over frequency: the bright horizontal bands in voiced stretches are the formants,
# which depend on the shape of the vocal tract — the link between articulation and acoustics
# that the later chapters quantify.

# %% mystnb={"image": {"alt": "Waveform above a spectrogram of one sentence"}}
filename = shared.loc[0, "FILENAME_A"]
audio = dataset.audio(participant, filename)
print(f"{filename}: '{shared.loc[0, 'SENTENCE']}'")
print(f"{audio.size} samples at {dataset.sample_rate} Hz = "
      f"{audio.size / dataset.sample_rate:.2f} s")
display(Audio(audio, rate=dataset.sample_rate))
print("drawing; a fresh runtime first compiles librosa's kernels (up to a minute)")
plots.show(plots.waveform_spectrogram(audio, dataset.sample_rate, title=filename))

# %% [markdown]
# ## The six sensors over time
#
# Each coordinate is drawn minus its mean over the recording, so that movements of a few
# millimetres are visible; the printed ranges show which articulators travel furthest.

# %% mystnb={"image": {"alt": "Six panels: X and Y of each EMA sensor over time"}}
n_frames = dataset.hidden_state(participant, 0, filename).shape[0]
ema = frames.ema_frames(ema_table, filename, n_frames)
y_axis = "Y (vertical)" if dataset.source == "sample" else "Y (lateral)"
plots.show(plots.ema_trajectories(ema, y_axis=y_axis, title=f"EMA of {filename}"))
ranges = pd.Series(np.ptp(ema.astype(float), axis=0), index=frames.EMA_COLUMNS).round(1)
print("range of each coordinate in this recording (mm):")
print(textwrap.fill(", ".join(f"{k} {v}" for k, v in ranges.items()), 88))

# %% [markdown]
# ## One clock for three streams: the 20 ms grid
#
# Wav2Vec2-base reads 16 kHz audio through a stack of convolutions (the CNN) that outputs one
# frame every 320 samples (20 ms), each computed from a window of 400 samples (25 ms). CNN
# frame `t` covers samples `[320 t, 320 t + 400)`, and a recording of `N` samples gives
#
# $$T = \left\lfloor \frac{N - 400}{320} \right\rfloor + 1$$
#
# frames. Only the CNN output has that 25 ms window: hidden state 0 already adds a positional
# convolution over neighbouring frames, and layers 1–12 attend to the whole utterance
# {cite:p}`baevski2020wav2vec2`. Frame `t` is a position on a common grid, not what a layer
# "sees". Three streams have to be put on that grid:
#
# - **model frames**: `T` rows of 768 numbers per layer;
# - **MFCCs**: computed with a 400-sample window, a 320-sample hop and no padding
#   (`n_fft=400, hop_length=320, center=False`), so MFCC frame `t` sees exactly the samples of
#   CNN frame `t`;
# - **EMA**: row `t` is the sensor position at `t × 20 ms`, the *start* of frame `t`'s window,
#   12.5 ms before its centre. `frames.ema_frames(..., at="centre")` interpolates the rows to
#   the centre; chapter 02 measures what the difference does to CKA.

# %% mystnb={"image": {"alt": "Model, MFCC and EMA frames on the 20 ms grid"}}
row = counts.set_index("filename").loc[filename]
print(f"N = {row['n_samples']} samples")
print(f"model frames from the formula: ({row['n_samples']} - {frames.FRAME_LENGTH}) // "
      f"{frames.FRAME_HOP} + 1 = {row['model_frames']}")
print(f"hidden states stored per layer: {dataset.hidden_state(participant, 0, filename).shape}")
print(f"EMA rows: {row['ema_rows']} (every 20 ms)")
print(f"grid-aligned MFCCs: {frames.mfcc_frames(audio).shape}")
centre_ms = 1000 * (frames.FRAME_HOP + frames.FRAME_LENGTH / 2) / frames.SAMPLE_RATE
start_ms = 1000 * frames.frame_times(2)[1]
print(f"frame 1: EMA row at {start_ms:.1f} ms, window centre at {centre_ms:.1f} ms "
      f"({centre_ms - start_ms:.1f} ms later)")
plots.show(plots.frame_grid(int(row["n_samples"])))

# %% [markdown]
# The figure's third row is the MFCC recipe of the original version of this tutorial (see
# *Going further* below): its windows drift against the model's.
#
# ## Summary
#
# - EMA gives 12 numbers per 20 ms frame: X and Y positions (mm) of six sensors on the tongue,
#   lips and jaw. `_Y` is lateral in the real data (the lips' printed order shows it) and
#   vertical in the sample.
# - Wav2Vec2-base emits `floor((N − 400) / 320) + 1` frames, one every 20 ms; only its CNN
#   output frame is computed from one 25 ms window. MFCCs with the same window and hop line up
#   with those windows frame by frame; EMA rows sit at the window start, 12.5 ms before its
#   centre.
#
# ## Going further: the real data in Colab
#
# To work on the real data in Colab, set `GET_REAL_DATA = True` in the next cell and run it.
# It mounts your Google Drive (Colab asks for permission) and writes the converted data to
# `MyDrive/speech-cka-tutorial-data`, where it survives the end of the session (Colab wipes
# the runtime's disk). The first run downloads the original audio and EMA files and
# re-extracts the 13 Wav2Vec2 layers, which takes minutes (the README gives measured speeds;
# a GPU runtime is many times faster); progress is printed. In a later session, run the cell
# again: it finds the data complete, downloads nothing, and records where it is, so that
# `load_dataset()` in every notebook finds it (rerun this chapter from the top to use it). In
# a terminal, the same command is `python -m tutorial_utils.io --data-dir PATH` (`--help`
# lists every option).

# %%
GET_REAL_DATA = False  # True: fetch the real data into Google Drive (Colab only; see above)

if GET_REAL_DATA:
    from google.colab import drive

    from tutorial_utils.io.cli import main as data_command  # = python -m tutorial_utils.io

    drive.mount("/content/drive")
    data_command(["--data-dir", "/content/drive/MyDrive/speech-cka-tutorial-data"])

# %% [markdown]
# ## Going further: every recording, and the original MFCC recipe
#
# The same check for every recording: the formula, the stored hidden states and the EMA rows
# should agree (grid MFCCs have the formula's count by construction: same window, same hop, no
# padding). A difference of a frame or two is trimmed later by
# `frames.trim_to_common_length`, which refuses larger mismatches.
#
# The original version of this tutorial computed MFCCs with a hop of `N // T` samples, a
# 320-sample window and librosa's default centring, and then cut the result to `T` rows. Those
# frames are centred on `t × hop`, up to 12.5 ms before the model's window centre, and their
# hop differs slightly from 20 ms, so the offset changes along the recording. Chapter 02
# measures what this costs.

# %%
columns = ["model_frames", "hidden_states", "ema_rows"]
spread = counts[columns].max(axis=1) - counts[columns].min(axis=1)
print(f"largest disagreement between the three counts: {spread.max()} frame(s)")
hop = row["n_samples"] // row["hidden_states"]
print(f"original recipe for {filename}: "
      f"{frames.mfcc_frames_original(audio, n_frames).shape} MFCCs, "
      f"hop {hop} samples = {1000 * hop / frames.SAMPLE_RATE:.2f} ms")
counts[["participant", "filename", *columns]]

# %% [markdown]
# ## Exercises
#
# 1. How many Wav2Vec2 frames does a 3-second recording at 16 kHz produce? And one of exactly
#    400 samples?
# 2. Which EMA coordinate varies most across all recordings of the first participant? Use the
#    standard deviation of each column of the EMA table.
# 3. For the longest recording, how far apart (in ms) are the centre of model frame `t` and
#    the centre of the original recipe's MFCC frame `t`, at the first and at the last frame?

# %% tags=["hide-cell"]
# Solution 1
three_s, one_window = frames.n_model_frames(3 * frames.SAMPLE_RATE), frames.n_model_frames(400)
print(f"Answer: a 3-second recording gives ({3 * frames.SAMPLE_RATE} - 400) // 320 + 1 = "
      f"{three_s} frames;\none of exactly 400 samples gives {one_window} frame.")

# %% tags=["hide-cell"]
# Solution 2
spread_mm = ema_table[list(frames.EMA_COLUMNS)].std().sort_values(ascending=False).round(2)
print("standard deviation per coordinate (mm):")
print(textwrap.fill(", ".join(f"{k} {v}" for k, v in spread_mm.items()), 88))
print(f"Answer: {spread_mm.index[0]} varies most in {participant}'s recordings "
      f"(standard deviation {spread_mm.iloc[0]:.2f} mm).")

# %% tags=["hide-cell"]
# Solution 3
longest = counts.loc[counts["n_samples"].idxmax()]
hop = longest["n_samples"] // longest["hidden_states"]
first_last = np.array([0, longest["hidden_states"] - 1])
model_centre_ms = (
    1000 * (first_last * frames.FRAME_HOP + frames.FRAME_LENGTH / 2) / frames.SAMPLE_RATE
)
offsets = 1000 * first_last * hop / frames.SAMPLE_RATE - model_centre_ms
print(f"{longest['filename']}: original MFCC centre minus model frame centre\n"
      f"{offsets[0]:+.1f} ms at frame {first_last[0]}, {offsets[1]:+.1f} ms at frame "
      f"{first_last[1]}")
print(f"Answer: {abs(offsets[0]):.1f} ms apart at the first frame and {abs(offsets[1]):.1f} ms "
      f"at the last,\nso the offset changes by {offsets[1] - offsets[0]:+.1f} ms along the "
      "recording.")
