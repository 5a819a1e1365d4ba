"""The tutorial's data: recordings, EMA and model hidden states of a few participants, from
the real cache (``python -m tutorial_utils.io``) or the built-in synthetic sample. *Hidden
states* are per-frame activations ``{layer: {filename: (T, d) float32}}``."""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from .frames import EMA_TABLE_COLUMNS, SAMPLE_RATE
from .io import cache
from .sample import sample_tables

HiddenStates = dict[int, dict[str, np.ndarray]]


def sentence_id(filename: str) -> str:
    """Block and sentence id shared across speakers: ``"F02_B01_S18_R01_N.mat"`` → ``"B01_S18"``."""
    match = re.search(r"(B\d+)_(S\d+)", Path(str(filename)).name)
    if match is None:
        raise ValueError(f"Cannot find a block/sentence id like 'B01_S18' in {filename!r}.")
    return f"{match.group(1)}_{match.group(2)}"


def _valid(names: Iterable) -> str:
    names = [str(n) for n in names]
    return ", ".join(names[:12]) + (f", ... ({len(names)} in all)" if len(names) > 12 else "")


class Dataset:
    """Recordings, EMA and model hidden states of a few participants.

    ``source`` is "real" or "sample"; per participant (in display order) ``recordings`` holds
    ``FILENAME``, ``SENTENCE``, ``AUDIO`` (1-D float32 at ``sample_rate``), ``ema`` the 15
    columns of :data:`~tutorial_utils.frames.EMA_TABLE_COLUMNS` and ``hidden_states`` the
    states (or a callable returning them on first use); ``manifest`` is provenance.
    """

    def __init__(
        self,
        *,
        source: str,
        description: str,
        recordings: Mapping[str, pd.DataFrame],
        ema: Mapping[str, pd.DataFrame],
        hidden_states: Mapping[str, HiddenStates | Callable[[], HiddenStates]],
        model_name: str = "facebook/wav2vec2-base",
        sample_rate: int = SAMPLE_RATE,
        manifest: dict | None = None,
    ) -> None:
        if source not in ("real", "sample"):
            raise ValueError(f"source must be 'real' or 'sample', got {source!r}.")
        participants = list(recordings)
        if not set(participants) == set(ema) == set(hidden_states):
            raise ValueError(f"recordings, ema and hidden_states have the participants "
                             f"{list(recordings)}, {list(ema)}, {list(hidden_states)}; give every "
                             "participant all three.")  # fmt: skip
        for p in participants:
            if {"FILENAME", "SENTENCE", "AUDIO"} - set(recordings[p].columns):
                raise ValueError(f"Recordings of {p!r} lack FILENAME, SENTENCE or AUDIO.")
            if tuple(ema[p].columns) != EMA_TABLE_COLUMNS:
                raise ValueError(f"EMA table of {p!r} has the columns {list(ema[p].columns)}; "
                                 f"expected exactly {list(EMA_TABLE_COLUMNS)}.")  # fmt: skip
        self.source, self.description, self.participants = source, description, participants
        self.model_name, self.sample_rate = model_name, int(sample_rate)
        self.manifest = dict(manifest) if manifest else {}
        self._recordings = {p: recordings[p].reset_index(drop=True) for p in participants}
        self._ema, self._hidden_source = dict(ema), dict(hidden_states)
        self._hidden: dict[str, HiddenStates] = {}

    def _check_participant(self, participant: str) -> str:
        if participant not in self._recordings:
            raise KeyError(
                f"Unknown participant {participant!r}; valid: {_valid(self.participants)}."
            )
        return participant

    @property
    def layers(self) -> list[int]:
        """Sorted layer indices (0 = encoder input, then one per transformer layer)."""
        layers = self.manifest.get("layers") or self.hidden_states(self.participants[0])
        return sorted(map(int, layers))

    @property
    def n_layers(self) -> int:
        """Number of hidden states per recording (13 for wav2vec2-base)."""
        return len(self.layers)

    def recordings(self, participant: str) -> pd.DataFrame:
        """Recordings of ``participant`` (``FILENAME``, ``SENTENCE``, ``AUDIO``, ...)."""
        return self._recordings[self._check_participant(participant)]

    def ema(self, participant: str) -> pd.DataFrame:
        """EMA table of ``participant`` with the 15 original columns."""
        return self._ema[self._check_participant(participant)]

    def hidden_states(self, participant: str) -> HiddenStates:
        """Hidden states ``{layer: {filename: (T, d) float32}}`` of ``participant``."""
        if self._check_participant(participant) not in self._hidden:
            value = self._hidden_source[participant]
            states = value() if callable(value) else value
            self._hidden[participant] = {int(k): v for k, v in states.items()}
        return self._hidden[participant]

    def filenames(self, participant: str, *, with_hidden_states: bool = False) -> list[str]:
        """Filenames in recording order (only those with hidden states, if asked)."""
        names = self.recordings(participant)["FILENAME"].tolist()
        if with_hidden_states:
            have = self.hidden_states(participant).get(self.layers[0], {})
            names = [name for name in names if name in have]
        return names

    def pick_filenames(self, participant: str, filenames: Iterable[str] | None = None) -> list[str]:
        """The recordings an analysis uses: ``filenames`` as given, else all with hidden states."""
        self._check_participant(participant)
        if filenames is None:
            return self.filenames(participant, with_hidden_states=True)
        return list(filenames)

    def pick_recordings(self, participants: Iterable[str] | None = None) -> list[tuple[str, str]]:
        """``(participant, filename)`` of the recordings an analysis uses (all participants)."""
        chosen = self.participants if participants is None else list(participants)
        return [(p, name) for p in chosen for name in self.pick_filenames(p)]

    def _check_filename(self, participant: str, filename: str) -> None:
        if filename not in (names := self.filenames(participant)):
            raise KeyError(
                f"{participant!r} has no recording {filename!r}; valid: {_valid(names)}."
            )

    def audio(self, participant: str, filename: str) -> np.ndarray:
        """Audio of one recording (1-D float32 at :attr:`sample_rate`)."""
        self._check_filename(participant, filename)
        table = self.recordings(participant)
        return np.asarray(table.loc[table["FILENAME"] == filename, "AUDIO"].iloc[0], np.float32)

    def hidden_state(self, participant: str, layer: int, filename: str) -> np.ndarray:
        """Hidden states ``(T, d)`` of one recording at one layer."""
        states = self.hidden_states(participant)
        if int(layer) not in states:
            raise KeyError(f"Unknown layer {layer!r}; valid: {_valid(sorted(states))}.")
        if filename not in states[int(layer)]:
            self._check_filename(participant, filename)
            raise KeyError(f"No layer {layer} states for {filename!r} of {participant!r}.")
        return states[int(layer)][filename]

    def shared_sentences(
        self, participant_a: str, participant_b: str, *, with_hidden_states: bool = True
    ) -> pd.DataFrame:
        """``SENTENCE_ID, SENTENCE, FILENAME_A, FILENAME_B``: one row per sentence
        (:func:`sentence_id`) both read, in A's recording order, each by its first recording."""

        def first(p: str) -> pd.DataFrame:
            keep = self.filenames(p, with_hidden_states=with_hidden_states)
            table = self.recordings(p).loc[
                lambda t: t.FILENAME.isin(keep), ["FILENAME", "SENTENCE"]
            ]
            ids = table.FILENAME.map(sentence_id)
            return table.assign(SENTENCE_ID=ids).drop_duplicates("SENTENCE_ID")

        b = first(participant_b)[["SENTENCE_ID", "FILENAME"]]
        shared = first(participant_a).merge(b, on="SENTENCE_ID", suffixes=("_A", "_B"))
        return shared[["SENTENCE_ID", "SENTENCE", "FILENAME_A", "FILENAME_B"]]

    def __repr__(self) -> str:
        kind = "synthetic sample" if self.source == "sample" else "real data"
        counts = ", ".join(f"{p}: {len(self._recordings[p])}" for p in self.participants)
        return (
            f"<Dataset source={self.source!r} ({kind}); model={self.model_name}; "
            f"recordings per participant: {counts}>\n{self.description}"
        )


def _load_sample() -> Dataset:
    return Dataset(**sample_tables())


def load_dataset(
    source: str = "auto", data_dir: str | os.PathLike | None = None, *, verify_hashes: bool = False
) -> Dataset:
    """Load the tutorial data.

    Parameters
    ----------
    source : {"auto", "real", "sample"}
        ``"real"``: the converted real data (``python -m tutorial_utils.io`` first);
        ``"sample"``: the built-in synthetic sample; ``"auto"``: the real data if the cache is
        complete, else the sample, with a warning when a cache was asked for (``data_dir``,
        ``$TUTORIAL_DATA_DIR``, the data command's record) or is there but damaged.
    data_dir : path, optional
        Cache directory (see README, "Where the cache goes").
    verify_hashes : bool, default False
        Recompute the sha256 of every cache file, not only of the csv files.
    """
    if source not in ("auto", "real", "sample"):
        raise ValueError(f"source must be 'auto', 'real' or 'sample', got {source!r}.")
    if source == "sample":
        return _load_sample()
    directory, origin = (
        (Path(data_dir), "argument") if data_dir is not None else cache.find_data_dir()
    )
    try:
        tables = cache.read_cache(directory, verify_hashes=verify_hashes)
    except cache.CacheUnusable as err:
        if source == "real":
            raise
        if origin in ("argument", "env", "pointer") or (directory / cache.MANIFEST_NAME).exists():
            warnings.warn(_not_found(directory, origin, str(err)), stacklevel=2)
        return _load_sample()
    manifest = tables.pop("manifest")
    return Dataset(
        source="real", description=str(manifest.get("description", "Tutorial data (Haskins).")),
        model_name=str(manifest.get("model_name", "facebook/wav2vec2-base")),
        sample_rate=int(manifest.get("sample_rate", SAMPLE_RATE)), manifest=manifest, **tables,
    )  # fmt: skip


def _not_found(directory: Path, origin: str, reason: str) -> str:
    state = (
        "does not exist" if not directory.is_dir()
        else "holds no real-data cache" if not (directory / cache.MANIFEST_NAME).exists()
        else f"holds a cache that is incomplete or damaged ({reason})"
    )  # fmt: skip
    why = {
        "argument": "load_dataset(data_dir=...) names it",
        "env": "$TUTORIAL_DATA_DIR names it",
        "pointer": f"the data command recorded it in {cache.pointer_file()}",
    }.get(origin, "it is the default cache directory")
    mounted = " (On Colab, mount Google Drive first, e.g. with 00_data_tour's optional cell.)"
    return (
        f"The real-data cache directory {directory} {state}; {why}. Using the synthetic sample "
        f"instead. Run `{cache.DOWNLOAD_HINT} --data-dir {directory}` to create or repair it."
        + (mounted if origin == "pointer" else "")
    )
