"""The tutorial's dataset object and its on-disk cache.

One call gives the notebooks their data::

    from tutorial_utils.data import load_dataset
    ds = load_dataset()          # real cache if complete, else the built-in synthetic sample

The real data are converted once by ``python data_download.py`` into a cache directory
(``$TUTORIAL_DATA_DIR`` or ``<repo>/data``) that holds no pickles::

    manifest.json                 source, model, frame rate, versions, sha256 + size of files
    <P>/recordings.csv            FILENAME, SENTENCE, N_SAMPLES, SAMPLE_RATE
    <P>/audio.npz                 one float32 16 kHz array per FILENAME
    <P>/ema.csv                   the 15 original EMA columns
    <P>/features.npz              float32 (T, d) arrays under keys ``L{layer}__{FILENAME}``

``manifest.json`` is written last, so a cache without it is incomplete. Every write goes to a
temporary file in the same directory that is then renamed over the target (``os.replace``),
so an interrupted run never leaves a half-written file under a cache name. Loading checks the
size of every file listed in the manifest (cheap, catches truncation); pass
``verify_hashes=True`` to also recompute the sha256 of each file.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import warnings
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .features import EMA_TABLE_COLUMNS, SAMPLE_RATE

FrameStates = dict[int, dict[str, np.ndarray]]
"""Hidden states of one participant: ``{layer: {filename: (T, d) float32}}``."""

CACHE_FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
RECORDINGS_NAME = "recordings.csv"
AUDIO_NAME = "audio.npz"
EMA_NAME = "ema.csv"
FEATURES_NAME = "features.npz"
RECORDINGS_COLUMNS = ("FILENAME", "SENTENCE", "N_SAMPLES", "SAMPLE_RATE")
DOWNLOAD_HINT = "python data_download.py"

_SENTENCE_ID = re.compile(r"(B\d+)_(S\d+)")


# --------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------


def sentence_id(filename: str) -> str:
    """Block and sentence id of a recording, shared across speakers.

    Parameters
    ----------
    filename : str
        E.g. ``"F02_B01_S18_R01_N.mat"`` or ``"SYN-F_B01_S18_R01_N.mat"``.

    Returns
    -------
    str
        E.g. ``"B01_S18"``.
    """
    match = _SENTENCE_ID.search(Path(str(filename)).name)
    if match is None:
        raise ValueError(
            f"Cannot find a block/sentence id like 'B01_S18' in the filename {filename!r}."
        )
    return f"{match.group(1)}_{match.group(2)}"


def feature_key(layer: int, filename: str) -> str:
    """Key of one recording's layer in ``features.npz``: ``L{layer}__{filename}``."""
    return f"L{int(layer)}__{filename}"


def parse_feature_key(key: str) -> tuple[int, str]:
    """Inverse of :func:`feature_key`."""
    head, sep, filename = key.partition("__")
    if not sep or not head.startswith("L") or not head[1:].isdigit():
        raise ValueError(f"Not a feature key of the form 'L<layer>__<filename>': {key!r}")
    return int(head[1:]), filename


def default_data_dir() -> Path:
    """Cache directory: ``$TUTORIAL_DATA_DIR`` if set, else ``<repo>/data`` in a source
    checkout, else ``~/.cache/speech-cka-tutorial`` (a pip-installed package, e.g. in Colab,
    must not write into site-packages)."""
    env = os.environ.get("TUTORIAL_DATA_DIR")
    if env:
        return Path(env).expanduser()
    repo = Path(__file__).resolve().parents[1]
    if (repo / "pyproject.toml").is_file():
        return repo / "data"
    return Path.home() / ".cache" / "speech-cka-tutorial"


def _valid(names: Iterable[Any]) -> str:
    """Comma-separated list for error messages (first 12 items)."""
    names = [str(n) for n in names]
    return ", ".join(names[:12]) + (f", ... ({len(names)} in all)" if len(names) > 12 else "")


# --------------------------------------------------------------------------------------------
# The dataset object
# --------------------------------------------------------------------------------------------


class Dataset:
    """Recordings, EMA and model hidden states of a few participants.

    Parameters
    ----------
    source : str
        ``"real"`` (the tutorial's data) or ``"sample"`` (the built-in synthetic sample).
    description : str
        One or two human-readable sentences about where the data come from.
    recordings : Mapping[str, pandas.DataFrame]
        Per participant (in display order) a table with at least ``FILENAME``, ``SENTENCE`` and
        ``AUDIO`` (1-D float32 arrays at ``sample_rate``).
    ema : Mapping[str, pandas.DataFrame]
        Per participant the EMA table with exactly the 15 columns of
        :data:`tutorial_utils.features.EMA_TABLE_COLUMNS`.
    frame_states : Mapping[str, FrameStates or Callable[[], FrameStates]]
        Per participant ``{layer: {filename: (T, d) float32}}``, or a callable returning it,
        called on first use and cached.
    model_name : str, default "facebook/wav2vec2-base"
        Model the hidden states come from.
    sample_rate : int, default 16000
        Sampling rate of the audio.
    manifest : dict, optional
        Cache manifest (provenance), kept as is.

    Attributes
    ----------
    source, description, participants, model_name, sample_rate, manifest
    """

    def __init__(
        self,
        *,
        source: str,
        description: str,
        recordings: Mapping[str, pd.DataFrame],
        ema: Mapping[str, pd.DataFrame],
        frame_states: Mapping[str, FrameStates | Callable[[], FrameStates]],
        model_name: str = "facebook/wav2vec2-base",
        sample_rate: int = SAMPLE_RATE,
        manifest: dict | None = None,
    ) -> None:
        if source not in ("real", "sample"):
            raise ValueError(f"source must be 'real' or 'sample', got {source!r}.")
        participants = list(recordings)
        for name, mapping in (("ema", ema), ("frame_states", frame_states)):
            if set(mapping) != set(participants):
                raise ValueError(
                    f"{name} has participants {sorted(mapping)} but recordings has "
                    f"{sorted(participants)}; give every participant all three."
                )
        for p in participants:
            _check_recordings_table(recordings[p], p)
            _check_ema_table(ema[p], p)
        self.source = source
        self.description = description
        self.participants = participants
        self.model_name = model_name
        self.sample_rate = int(sample_rate)
        self.manifest = dict(manifest) if manifest else {}
        self._recordings = {p: recordings[p].reset_index(drop=True) for p in participants}
        self._ema = {p: ema[p] for p in participants}
        self._states_source = dict(frame_states)
        self._states: dict[str, FrameStates] = {}

    # -- participants and layers ------------------------------------------------------------

    def _check_participant(self, participant: str) -> str:
        if participant not in self._recordings:
            raise KeyError(
                f"Unknown participant {participant!r}; valid: {_valid(self.participants)}."
            )
        return participant

    @property
    def layers(self) -> list[int]:
        """Sorted layer indices (0 = encoder input, then one per transformer layer)."""
        layers = self.manifest.get("layers")
        if layers is None:
            layers = self.frame_states(self.participants[0]).keys()
        return sorted(int(layer) for layer in layers)

    @property
    def n_layers(self) -> int:
        """Number of hidden states per recording (13 for wav2vec2-base)."""
        return len(self.layers)

    # -- per participant tables ---------------------------------------------------------------

    def recordings(self, participant: str) -> pd.DataFrame:
        """Recordings table of ``participant`` (``FILENAME``, ``SENTENCE``, ``AUDIO``, ...)."""
        return self._recordings[self._check_participant(participant)]

    def ema(self, participant: str) -> pd.DataFrame:
        """EMA table of ``participant`` with the 15 original columns."""
        return self._ema[self._check_participant(participant)]

    def frame_states(self, participant: str) -> FrameStates:
        """Hidden states ``{layer: {filename: (T, d) float32}}`` of ``participant``."""
        self._check_participant(participant)
        if participant not in self._states:
            value = self._states_source[participant]
            states = value() if callable(value) else value
            self._states[participant] = {int(k): v for k, v in states.items()}
        return self._states[participant]

    def filenames(self, participant: str, *, with_states: bool = False) -> list[str]:
        """Filenames of ``participant`` in recording order.

        With ``with_states=True`` only the recordings that have hidden states (e.g. the real
        original frame-states files cover only the 10 test sentences of F02).
        """
        names = self.recordings(participant)["FILENAME"].tolist()
        if with_states:
            have = self.frame_states(participant).get(self.layers[0], {})
            names = [name for name in names if name in have]
        return names

    def _check_filename(self, participant: str, filename: str) -> None:
        names = self.filenames(participant)
        if filename not in names:
            raise KeyError(
                f"Participant {participant!r} has no recording {filename!r}; "
                f"valid: {_valid(names)}."
            )

    def audio(self, participant: str, filename: str) -> np.ndarray:
        """Audio of one recording (1-D float32 at :attr:`sample_rate`)."""
        self._check_filename(participant, filename)
        table = self.recordings(participant)
        row = table.index[table["FILENAME"] == filename][0]
        return np.asarray(table.at[row, "AUDIO"], dtype=np.float32)

    def layer_frames(self, participant: str, layer: int, filename: str) -> np.ndarray:
        """Hidden states ``(T, d)`` of one recording at one layer."""
        states = self.frame_states(participant)
        if int(layer) not in states:
            raise KeyError(f"Unknown layer {layer!r}; valid: {_valid(sorted(states))}.")
        per_file = states[int(layer)]
        if filename not in per_file:
            self._check_filename(participant, filename)
            raise KeyError(
                f"No layer {layer} states for {filename!r} of {participant!r}; "
                f"recordings with states: {_valid(per_file)}."
            )
        return per_file[filename]

    # -- helpers for the notebooks ------------------------------------------------------------

    def shared_sentences(
        self, participant_a: str, participant_b: str, *, with_states: bool = True
    ) -> pd.DataFrame:
        """Recordings of the same sentences by two participants.

        A sentence is identified by :func:`sentence_id` (block and sentence number). When a
        participant read a sentence more than once, the first recording in table order is used.
        By default only recordings with hidden states count (``with_states=False``: all).

        Returns
        -------
        pandas.DataFrame
            Columns ``SENTENCE_ID, SENTENCE, FILENAME_A, FILENAME_B``, one row per sentence id
            both have, in ``participant_a``'s recording order; ``SENTENCE`` is A's text.
        """
        first_b: dict[str, str] = {}
        for name in self.filenames(participant_b, with_states=with_states):
            first_b.setdefault(sentence_id(name), name)
        usable_a = set(self.filenames(participant_a, with_states=with_states))
        rows, seen = [], set()
        for name, text in self.recordings(participant_a)[["FILENAME", "SENTENCE"]].itertuples(
            index=False
        ):
            sid = sentence_id(name)
            if name in usable_a and sid in first_b and sid not in seen:
                seen.add(sid)
                rows.append((sid, text, name, first_b[sid]))
        return pd.DataFrame(rows, columns=["SENTENCE_ID", "SENTENCE", "FILENAME_A", "FILENAME_B"])

    def sentence_means(
        self, participant: str, layer: int, filenames: Iterable[str] | None = None
    ) -> np.ndarray:
        """Mean over frames of each recording's hidden states at ``layer``.

        Parameters
        ----------
        participant : str
        layer : int
        filenames : iterable of str, optional
            Recordings in the wanted row order; default ``filenames(participant,
            with_states=True)``, in recording order.

        Returns
        -------
        numpy.ndarray
            Shape ``(n_recordings, d)`` float64.
        """
        names = (
            self.filenames(participant, with_states=True) if filenames is None else list(filenames)
        )
        if not names:
            raise ValueError("No recordings given to average.")
        means = [
            self.layer_frames(participant, layer, n).astype(np.float64).mean(axis=0) for n in names
        ]
        return np.stack(means)

    def __repr__(self) -> str:
        kind = "synthetic sample" if self.source == "sample" else "real data"
        counts = ", ".join(f"{p}: {len(self._recordings[p])}" for p in self.participants)
        return (
            f"<Dataset source={self.source!r} ({kind}); model={self.model_name}; "
            f"recordings per participant: {counts}>\n{self.description}"
        )


def _check_recordings_table(table: pd.DataFrame, participant: str) -> None:
    missing = [c for c in ("FILENAME", "SENTENCE", "AUDIO") if c not in table.columns]
    if missing:
        raise ValueError(
            f"Recordings of {participant!r} lack the columns {missing}; "
            "expected at least FILENAME, SENTENCE, AUDIO."
        )


def _check_ema_table(table: pd.DataFrame, participant: str) -> None:
    if tuple(table.columns) != EMA_TABLE_COLUMNS:
        raise ValueError(
            f"EMA table of {participant!r} has the columns {list(table.columns)}; "
            f"expected exactly {list(EMA_TABLE_COLUMNS)}."
        )


# --------------------------------------------------------------------------------------------
# Atomic writes and hashing
# --------------------------------------------------------------------------------------------


def sha256_file(path: str | os.PathLike, chunk_size: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def atomic_write(path: str | os.PathLike, write: Callable[[Any], None], mode: str = "wb") -> Path:
    """Write a file atomically: ``write(handle)`` into a temp file, then rename it to ``path``.

    The temporary file lives in the same directory (so the rename is atomic) and is removed if
    ``write`` fails; ``path`` is either untouched or complete.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode) as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_npz(path: str | os.PathLike, arrays: Mapping[str, np.ndarray]) -> Path:
    """Atomically write an uncompressed ``.npz`` (no object arrays, no pickles)."""
    plain = {k: np.asarray(v) for k, v in arrays.items()}
    return atomic_write(path, lambda h: np.savez(h, **plain))


def write_csv(path: str | os.PathLike, table: pd.DataFrame) -> Path:
    """Atomically write a csv without index column."""
    return atomic_write(path, lambda h: table.to_csv(h, index=False), mode="w")


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Atomically write indented, key-sorted JSON."""
    return atomic_write(path, lambda h: json.dump(obj, h, indent=2, sort_keys=True), mode="w")


def file_record(path: str | os.PathLike) -> dict[str, Any]:
    """``{"sha256": ..., "size": ...}`` of a file, as stored in the manifest."""
    return {"sha256": sha256_file(path), "size": Path(path).stat().st_size}


# --------------------------------------------------------------------------------------------
# Cache: write one participant, read everything
# --------------------------------------------------------------------------------------------


def participant_files(participant: str) -> list[str]:
    """Cache files of one participant, relative to the cache directory."""
    names = (RECORDINGS_NAME, AUDIO_NAME, EMA_NAME, FEATURES_NAME)
    return [f"{participant}/{name}" for name in names]


def write_recordings(data_dir: Path, participant: str, recordings: pd.DataFrame) -> list[Path]:
    """Write ``recordings.csv`` and ``audio.npz`` of one participant."""
    _check_recordings_table(recordings, participant)
    audio = {
        name: np.asarray(a, dtype=np.float32)
        for name, a in zip(recordings["FILENAME"], recordings["AUDIO"], strict=True)
    }
    table = pd.DataFrame(
        {
            "FILENAME": recordings["FILENAME"].astype(str),
            "SENTENCE": recordings["SENTENCE"].astype(str),
            "N_SAMPLES": [a.size for a in audio.values()],
            "SAMPLE_RATE": SAMPLE_RATE,
        }
    )
    folder = Path(data_dir) / participant
    return [
        write_npz(folder / AUDIO_NAME, audio),
        write_csv(folder / RECORDINGS_NAME, table),
    ]


def write_ema(data_dir: Path, participant: str, ema: pd.DataFrame) -> Path:
    """Write ``ema.csv`` of one participant (exactly the 15 original columns)."""
    _check_ema_table(ema, participant)
    return write_csv(Path(data_dir) / participant / EMA_NAME, ema)


def write_features(data_dir: Path, participant: str, states: Mapping[str, np.ndarray]) -> Path:
    """Write ``features.npz`` of one participant from ``{feature_key: (T, d) array}``."""
    arrays = {k: np.asarray(v, dtype=np.float32) for k, v in states.items()}
    for key in arrays:
        parse_feature_key(key)
    return write_npz(Path(data_dir) / participant / FEATURES_NAME, arrays)


def read_manifest(data_dir: str | os.PathLike) -> dict | None:
    """The cache manifest, or None when there is none (or it is unreadable)."""
    path = Path(data_dir) / MANIFEST_NAME
    try:
        with open(path) as handle:
            manifest = json.load(handle)
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) else None


def cache_problems(data_dir: str | os.PathLike, verify_hashes: bool = False) -> list[str]:
    """What is missing or wrong in a cache directory; empty when the cache is complete.

    Checks that the manifest exists, lists every participant's four files, and that each
    listed file exists with the recorded size (and sha256 when ``verify_hashes``).
    """
    data_dir = Path(data_dir)
    manifest = read_manifest(data_dir)
    if manifest is None:
        return [f"no readable {MANIFEST_NAME} in {data_dir}"]
    if manifest.get("format_version") != CACHE_FORMAT_VERSION:
        return [f"cache format {manifest.get('format_version')!r} != {CACHE_FORMAT_VERSION}"]
    files = manifest.get("files", {})
    problems = [] if manifest.get("complete") else ["the conversion did not finish"]
    participants = manifest.get("participants") or []
    if not participants:
        problems.append("the manifest lists no participants")
    for p in participants:
        missing = [rel for rel in participant_files(p) if rel not in files]
        problems += [f"{rel} is not in the manifest" for rel in missing]
    for rel, record in files.items():
        problems += _file_problems(data_dir / rel, rel, record, verify_hashes)
    return problems


def _file_problems(path: Path, rel: str, record: Mapping, verify_hashes: bool) -> list[str]:
    if not path.is_file():
        return [f"{rel} is missing"]
    if path.stat().st_size != record.get("size"):
        return [f"{rel} has size {path.stat().st_size}, expected {record.get('size')}"]
    if verify_hashes and sha256_file(path) != record.get("sha256"):
        return [f"{rel} has a wrong sha256"]
    return []


def _read_recordings(folder: Path) -> pd.DataFrame:
    table = pd.read_csv(folder / RECORDINGS_NAME, dtype={"FILENAME": str, "SENTENCE": str})
    with np.load(folder / AUDIO_NAME, allow_pickle=False) as npz:
        audio = [npz[name].astype(np.float32, copy=False) for name in table["FILENAME"]]
    table.insert(2, "AUDIO", audio)
    return table


def _read_ema(folder: Path) -> pd.DataFrame:
    return pd.read_csv(folder / EMA_NAME, dtype={"FILENAME": str, "SENTENCE": str})


def read_features(path: str | os.PathLike) -> FrameStates:
    """Read a ``features.npz`` into ``{layer: {filename: (T, d) float32}}``."""
    states: FrameStates = {}
    with np.load(path, allow_pickle=False) as npz:
        for key in npz.files:
            layer, filename = parse_feature_key(key)
            states.setdefault(layer, {})[filename] = npz[key]
    return dict(sorted(states.items()))


def load_cache(data_dir: str | os.PathLike | None = None, verify_hashes: bool = False) -> Dataset:
    """Load the converted real data from a cache directory.

    Parameters
    ----------
    data_dir : path, optional
        Cache directory; default :func:`default_data_dir`.
    verify_hashes : bool, default False
        Also recompute every file's sha256 (slower); sizes are always checked.

    Raises
    ------
    FileNotFoundError
        When the cache is missing or incomplete (the message names ``python data_download.py``).
    """
    data_dir = Path(data_dir) if data_dir is not None else default_data_dir()
    problems = cache_problems(data_dir, verify_hashes=verify_hashes)
    if problems:
        raise FileNotFoundError(
            f"The real-data cache in {data_dir} is missing or incomplete ({'; '.join(problems[:3])}"
            f"). Run `{DOWNLOAD_HINT}` (add `--data-dir {data_dir}` for this directory, or "
            "`--from-dir PATH` if you already have the files), or use load_dataset('sample')."
        )
    manifest = read_manifest(data_dir) or {}
    participants = list(manifest["participants"])
    folders = {p: data_dir / p for p in participants}
    return Dataset(
        source="real",
        description=manifest.get(
            "description", "Tutorial data (Haskins rate comparison database, F02 and M02)."
        ),
        recordings={p: _read_recordings(f) for p, f in folders.items()},
        ema={p: _read_ema(f) for p, f in folders.items()},
        frame_states={p: _lazy_features(f / FEATURES_NAME) for p, f in folders.items()},
        model_name=manifest.get("model_name", "facebook/wav2vec2-base"),
        sample_rate=int(manifest.get("sample_rate", SAMPLE_RATE)),
        manifest=manifest,
    )


def _lazy_features(path: Path) -> Callable[[], FrameStates]:
    return lambda: read_features(path)


def _load_sample() -> Dataset:
    try:
        from .sample import load_sample_dataset
    except ImportError as err:
        raise FileNotFoundError(
            "The built-in sample (tutorial_utils.sample) is not available in this install "
            f"({err}). Reinstall the package with `pip install -e .`, or get the real data with "
            f"`{DOWNLOAD_HINT}`."
        ) from err
    return load_sample_dataset()


def load_dataset(
    source: str = "auto",
    data_dir: str | os.PathLike | None = None,
    *,
    verify_hashes: bool = False,
) -> Dataset:
    """Load the tutorial data.

    Parameters
    ----------
    source : {"auto", "real", "sample"}
        ``"real"``: the converted real data (run ``python data_download.py`` first);
        ``"sample"``: the built-in synthetic sample (no download); ``"auto"``: the real data if
        the cache is complete, else the sample.
    data_dir : path, optional
        Cache directory; default ``$TUTORIAL_DATA_DIR`` or ``<repo>/data``.
    verify_hashes : bool, default False
        Recompute the sha256 of every cache file (sizes are always checked).

    Returns
    -------
    Dataset
    """
    if source not in ("auto", "real", "sample"):
        raise ValueError(f"source must be 'auto', 'real' or 'sample', got {source!r}.")
    if source == "sample":
        return _load_sample()
    if source == "real":
        return load_cache(data_dir, verify_hashes=verify_hashes)
    directory = Path(data_dir) if data_dir is not None else default_data_dir()
    problems = cache_problems(directory, verify_hashes=verify_hashes)
    if not problems:
        return load_cache(directory, verify_hashes=verify_hashes)
    if read_manifest(directory) is not None:
        warnings.warn(
            f"The real-data cache in {directory} is incomplete ({'; '.join(problems[:2])}); "
            f"using the synthetic sample. Run `{DOWNLOAD_HINT}` to repair the cache.",
            stacklevel=2,
        )
    return _load_sample()
