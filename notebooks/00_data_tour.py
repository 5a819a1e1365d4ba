# %% [markdown]
# # A tour of the data
#
# ## Overview
#
# Every later chapter compares three descriptions of the same read sentences: the hidden
# layers of a speech model, acoustic features (MFCCs) and articulatory features (EMA). This
# chapter looks at the raw material before any similarity is computed:
#
# 1. what electromagnetic articulography (EMA) measures, and in which units;
# 2. the recordings: which speakers, which sentences, how long;
# 3. one recording as sound, waveform and spectrogram;
# 4. the six EMA sensors moving over time;
# 5. how model frames, MFCC frames and EMA rows line up on a common 20 ms grid — the detail
#    that decides whether a frame-by-frame comparison compares the right things.
#
# ## Prerequisites
#
# Basic Python and numpy. No machine-learning background is needed for this chapter. Audio
# playback needs a browser-based notebook (Jupyter, VS Code, Colab or the book).

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
import numpy as np
import pandas as pd
from IPython.display import Audio, display

import tutorial_utils
from tutorial_utils import frames, load_dataset, notice, plots, targets

print("tutorial_utils", tutorial_utils.__version__)

# %% [markdown]
# `load_dataset()` returns the real tutorial data when it has been downloaded (run
# `python -m tutorial_utils.io` once in a terminal, or the optional cell below in Colab), and
# otherwise the small synthetic sample that ships with the package, so the whole tutorial runs
# offline.
#
# ### Optional: the real data in Google Colab
#
# Skip this on a first read: everything below runs on the built-in sample. To work on the real
# data in Colab, set `GET_REAL_DATA = True` in the next cell and run it.
#
# - It mounts your Google Drive (Colab asks for permission) and writes the converted data to
#   `MyDrive/speech-cka-tutorial-data`. **Colab wipes the runtime's disk between sessions**, so
#   a cache in the default place (`~/.cache/speech-cka-tutorial`) would be gone next time;
#   on Drive it stays (with the original files, so that a rerun can verify the cache without
#   downloading).
# - **The first run takes a while, roughly 5–30 minutes:** the original audio and EMA files
#   come from the tutorial's Google Drive folder, then the 13 Wav2Vec2 layers are re-extracted
#   from the audio with the torch and transformers that Colab already has. Extraction is most
#   of the time on a CPU runtime (about 6 seconds of audio per second on two cores); a GPU
#   runtime (*Runtime → Change runtime type*) is many times faster. Progress is printed.
# - **In every later session, run the cell again:** it mounts Drive, finds the cache complete,
#   downloads nothing, and records where it is, so that `load_dataset()` in this and the other
#   notebooks finds it (`load_dataset(data_dir="/content/drive/MyDrive/speech-cka-tutorial-data")`
#   also works without this cell, once Drive is mounted). If Drive is not mounted,
#   `load_dataset()` says so and uses the sample.
#
# The same command in a terminal, anywhere: `python -m tutorial_utils.io --data-dir PATH`
# (also installed as `speech-cka-data`; `--help` lists every option).

# %%
GET_REAL_DATA = False  # True: fetch the real data into Google Drive (Colab only; see above)

if GET_REAL_DATA:
    from google.colab import drive

    from tutorial_utils.io.cli import main as data_command  # = python -m tutorial_utils.io

    drive.mount("/content/drive")
    data_command(["--data-dir", "/content/drive/MyDrive/speech-cka-tutorial-data"])

# %%
dataset = load_dataset()
display(notice.data_notice(dataset))
if notice.by_design_note(dataset):
    print(notice.by_design_note(dataset))
print(dataset)

# %% [markdown]
# ## What EMA measures
#
# In electromagnetic articulography small coils are glued to the articulators. An
# electromagnetic field induces currents in the coils, from which their positions are
# computed, typically 100 times per second and in millimetres. The tutorial uses six sensors
# placed along the midline of the vocal tract:
#
# | sensor | where |
# | --- | --- |
# | `TR` | tongue rear (dorsum) |
# | `TB` | tongue blade |
# | `TT` | tongue tip |
# | `UL` | upper lip |
# | `LL` | lower lip |
# | `JAW` | lower incisors (jaw) |
#
# Each sensor contributes two coordinates, `_X` and `_Y`, so an EMA frame has 12 numbers.
# `_X` runs from the back of the head to the front (posterior → anterior). In the real data
# file the `_Y` column is the lateral (left–right) axis; the synthetic sample stores the
# vertical axis instead, because its simulated vocal tract is symmetric and never moves
# sideways. So on the real data the EMA columns hold no vertical movement (jaw opening, lip
# closure, tongue height), and "similarity to articulation" there means similarity to
# front–back and small sideways positions. The original 100 Hz signal was downsampled to 50 Hz,
# one row every 20 ms; row `t` is the position at `t × 20 ms` (see the 20 ms grid below).

# %%
participant = dataset.participants[0]
ema_table = dataset.ema(participant)
print(f"EMA table of {participant}: {len(ema_table)} rows × {ema_table.shape[1]} columns")
print("coordinate columns:", ", ".join(frames.EMA_COLUMNS))
ema_table.head()

# %% [markdown]
# ## The recordings
#
# Each participant has a table of recordings. File names encode the block (`B01`), the
# sentence (`S18`), the repetition (`R01`) and the speaking rate (`N`, normal), so the same
# sentence read by two speakers can be matched by its block and sentence id.

# %%
counts = targets.frame_counts(dataset)
sentences = pd.concat(
    [dataset.recordings(p)[["FILENAME", "SENTENCE"]].assign(participant=p)
     for p in dataset.participants]
)
overview = counts.merge(sentences, left_on=["participant", "filename"],
                        right_on=["participant", "FILENAME"])
overview[["participant", "filename", "SENTENCE", "duration_s"]]

# %%
for p in dataset.participants:
    part = counts[counts["participant"] == p]
    print(f"{p}: {len(part)} recordings, {part['duration_s'].sum():.1f} s of speech, "
          f"{part['duration_s'].min():.2f}–{part['duration_s'].max():.2f} s each")
a, b = dataset.participants[:2]
shared = dataset.shared_sentences(a, b)
print(f"sentences read by both {a} and {b}: {len(shared)}")

# %% [markdown]
# ## Listening to one recording
#
# We pick the first sentence both speakers read and listen to the first speaker's version.

# %%
filename = shared.loc[0, "FILENAME_A"]
audio = dataset.audio(participant, filename)
print(f"{filename}: '{shared.loc[0, 'SENTENCE']}'")
duration = audio.size / dataset.sample_rate
print(f"{audio.size} samples at {dataset.sample_rate} Hz = {duration:.2f} s")
display(Audio(audio, rate=dataset.sample_rate))

# %% [markdown]
# The waveform shows the loudness envelope (syllables appear as bursts). The spectrogram shows
# how the energy is spread over frequency: the bright horizontal bands in voiced stretches are
# the formants, which depend on the shape of the vocal tract — the link between articulation and
# acoustics that the later chapters quantify.

# %%
fig = plots.waveform_spectrogram(audio, dataset.sample_rate, title=f"{participant}: {filename}")
plots.show(fig)

# %% [markdown]
# ## The six sensors over time
#
# Below, each coordinate is drawn minus its mean over the recording, so that movements of a
# few millimetres are visible; the legend gives the mean position. The printed ranges show
# which articulators travel furthest in this sentence.

# %%
n_frames = dataset.hidden_state(participant, 0, filename).shape[0]
ema = frames.ema_frames(ema_table, filename, n_frames)
y_axis = "Y (vertical)" if dataset.source == "sample" else "Y (lateral)"
fig = plots.ema_trajectories(ema, y_axis=y_axis, title=f"EMA of {filename}")
plots.show(fig)
ranges = pd.Series(np.ptp(ema.astype(float), axis=0), index=frames.EMA_COLUMNS)
print("range of each coordinate in this recording (mm):")
print(ranges.round(1).to_string())

# %% [markdown]
# ## One clock for three streams: the 20 ms grid
#
# Wav2Vec2-base reads 16 kHz audio through a stack of convolutions (the CNN) that outputs one
# frame every 320 samples (20 ms); each CNN output frame is computed from a window of 400
# samples (25 ms). CNN frame `t` therefore covers samples `[320 t, 320 t + 400)`, and a
# recording of `N` samples gives
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
#   12.5 ms before its centre at `(320 t + 200) / 16000` s `= 20 t + 12.5` ms.
#   `frames.ema_frames(..., at="centre")` interpolates the rows to the centre; chapter 02
#   measures what the difference does to CKA.
#
# The original version of this tutorial computed MFCCs with a hop of `N // T` samples, a
# 320-sample window and librosa's default centring, and then cut the result to `T` rows. Those
# frames are centred on `t × hop`, up to 12.5 ms before the model's window centre, and their
# hop differs slightly from 20 ms, so the offset changes along the recording.

# %%
row = counts.set_index("filename").loc[filename]
print(f"N = {row['n_samples']} samples")
print(f"model frames from the formula: ({row['n_samples']} - {frames.FRAME_LENGTH}) // "
      f"{frames.FRAME_HOP} + 1 = {frames.n_model_frames(row['n_samples'])}")
print(f"hidden states stored per layer: {dataset.hidden_state(participant, 0, filename).shape}")
print(f"grid-aligned MFCCs: {frames.mfcc_frames(audio).shape}")
print(f"original-recipe MFCCs: {frames.mfcc_frames_original(audio, n_frames).shape}, "
      f"hop {row['original_hop']} samples = "
      f"{1000 * row['original_hop'] / frames.SAMPLE_RATE:.2f} ms")
print(f"EMA rows: {row['ema_rows']} (every 20 ms)")
centre_ms = 1000 * (frames.FRAME_HOP * 1 + frames.FRAME_LENGTH / 2) / frames.SAMPLE_RATE
start_ms = 1000 * frames.frame_times(2)[1]
print(f"frame 1: EMA row at {start_ms:.1f} ms, window centre at {centre_ms:.1f} ms "
      f"({centre_ms - start_ms:.1f} ms later)")

# %%
fig = plots.frame_grid(int(row["n_samples"]))
plots.show(fig)

# %% [markdown]
# The same check for every recording: the formula, the stored hidden states, the MFCCs and
# the EMA rows should agree (a difference of a frame or two is trimmed later by
# `frames.trim_to_common_length`, which refuses larger mismatches).

# %%
columns = ["model_frames", "hidden_states", "mfcc_rows", "ema_rows"]
print(counts[["participant", "filename", *columns]].to_string(index=False))
spread = counts[columns].max(axis=1) - counts[columns].min(axis=1)
print(f"\nlargest disagreement between the four counts: {spread.max()} frame(s)")

# %% [markdown]
# ## Summary
#
# - EMA gives 12 numbers per 20 ms frame: X and Y positions (mm) of six sensors on the tongue,
#   lips and jaw. Beware that `_Y` is lateral in the real data and vertical in the sample.
# - Wav2Vec2-base emits `floor((N − 400) / 320) + 1` frames, one every 20 ms; only its CNN
#   output frame is computed from one 25 ms window, later layers see more. MFCCs computed with
#   the same window and hop line up with the CNN windows frame by frame; EMA rows sit at the
#   window start, 12.5 ms before its centre. The printed counts show how far the four streams
#   agree.
# - The original MFCC recipe stretches its hop to `N // T` samples and centres its windows, so
#   its frames are offset from the model's. Chapter 02 measures what this costs.
#
# ## Exercises
#
# 1. How many Wav2Vec2 frames does a 3-second recording at 16 kHz produce? And one of exactly
#    400 samples?
# 2. Which EMA coordinate varies most across all recordings of the first participant? Use the
#    standard deviation of each column of the EMA table.
# 3. For the longest recording, how far apart (in ms) are the centre of model frame `t` and
#    the centre of the original recipe's MFCC frame `t`, at the first and at the last frame?

# %% tags=["hide-input"]
# Solution 1
three_s, one_window = frames.n_model_frames(3 * frames.SAMPLE_RATE), frames.n_model_frames(400)
print(f"Answer: a 3-second recording gives ({3 * frames.SAMPLE_RATE} - 400) // 320 + 1 = "
      f"{three_s} frames, and one of exactly 400 samples gives {one_window} frame.")

# %% tags=["hide-input"]
# Solution 2
spread_mm = ema_table[list(frames.EMA_COLUMNS)].std().sort_values(ascending=False)
print("standard deviation per coordinate (mm):")
print(spread_mm.round(2).to_string())
print(f"Answer: {spread_mm.index[0]} varies most in {participant}'s recordings "
      f"(standard deviation {spread_mm.iloc[0]:.2f} mm).")

# %% tags=["hide-input"]
# Solution 3
longest = counts.loc[counts["n_samples"].idxmax()]
hop = longest["original_hop"]
first_last = np.array([0, longest["hidden_states"] - 1])
model_centre_ms = (
    1000 * (first_last * frames.FRAME_HOP + frames.FRAME_LENGTH / 2) / frames.SAMPLE_RATE
)
original_centre_ms = 1000 * first_last * hop / frames.SAMPLE_RATE
for t, offset in zip(first_last, original_centre_ms - model_centre_ms, strict=True):
    print(f"{longest['filename']}, frame {t}: original MFCC centre is {offset:+.1f} ms "
          "from the model frame centre")
offsets = original_centre_ms - model_centre_ms
print(f"Answer: {abs(offsets[0]):.1f} ms apart at the first frame and {abs(offsets[1]):.1f} ms at "
      f"the last, so the offset changes by {offsets[1] - offsets[0]:+.1f} ms along the recording.")
