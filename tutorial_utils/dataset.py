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

from .frames import SAMPLE_RATE
from .io import cache
from .sample import sample_tables

HiddenStates = dict[int, dict[str, np.ndarray]]


def sentence_id(filename: str) -> str:
    """Block and sentence id shared across speakers: ``"F02_B01_S18_R01_N.mat"`` → ``"B01_S18"``."""
    match = re.search(r"B\d+_S\d+", Path(str(filename)).name)
    if match is None:
        raise ValueError(f"Cannot find a block/sentence id like 'B01_S18' in {filename!r}.")
    return match.group()


def _unknown(what: str, valid: Iterable) -> KeyError:
    names = [str(n) for n in valid]
    more = f", ... ({len(names)} in all)" if len(names) > 12 else ""
    return KeyError(f"Unknown {what}; valid: {', '.join(names[:12])}{more}.")


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
        self.source, self.description, self.participants = source, description, list(recordings)
        self.model_name, self.sample_rate = model_name, int(sample_rate)
        self.manifest = dict(manifest or {})
        self._recordings = {p: table.reset_index(drop=True) for p, table in recordings.items()}
        self._ema, self._hidden = dict(ema), dict(hidden_states)

    @property
    def layers(self) -> list[int]:
        """Sorted layer indices (0 = encoder input, then one per transformer layer)."""
        return sorted(
            map(int, self.manifest.get("layers") or self.hidden_states(self.participants[0]))
        )

    def recordings(self, participant: str) -> pd.DataFrame:
        """Recordings of ``participant`` (``FILENAME``, ``SENTENCE``, ``AUDIO``)."""
        if participant not in self._recordings:
            raise _unknown(f"participant {participant!r}", self.participants)
        return self._recordings[participant]

    def ema(self, participant: str) -> pd.DataFrame:
        """EMA table of ``participant`` with the 15 original columns."""
        self.recordings(participant)
        return self._ema[participant]

    def hidden_states(self, participant: str) -> HiddenStates:
        """Hidden states ``{layer: {filename: (T, d) float32}}`` of ``participant`` (read once)."""
        self.recordings(participant)
        if callable(states := self._hidden[participant]):
            states = self._hidden[participant] = {int(k): v for k, v in states().items()}
        return states

    def filenames(self, participant: str, *, with_hidden_states: bool = False) -> list[str]:
        """Filenames in recording order (only those with hidden states, if asked)."""
        names = self.recordings(participant)["FILENAME"].tolist()
        if with_hidden_states:
            have = self.hidden_states(participant).get(self.layers[0], {})
            names = [name for name in names if name in have]
        return names

    def pick_filenames(self, participant: str, filenames: Iterable[str] | None = None) -> list[str]:
        """The recordings an analysis uses: ``filenames`` as given, else all with hidden states."""
        if filenames is None:
            return self.filenames(participant, with_hidden_states=True)
        self.recordings(participant)
        return list(filenames)

    def pick_recordings(self, participants: Iterable[str] | None = None) -> list[tuple[str, str]]:
        """``(participant, filename)`` of the recordings an analysis uses (all participants)."""
        chosen = self.participants if participants is None else list(participants)
        return [(p, name) for p in chosen for name in self.pick_filenames(p)]

    def audio(self, participant: str, filename: str) -> np.ndarray:
        """Audio of one recording (1-D float32 at :attr:`sample_rate`)."""
        table = self.recordings(participant)
        found = table.loc[table["FILENAME"] == filename, "AUDIO"]
        if found.empty:
            raise _unknown(f"recording {filename!r} of {participant!r}", table["FILENAME"])
        return np.asarray(found.iloc[0], np.float32)

    def hidden_state(self, participant: str, layer: int, filename: str) -> np.ndarray:
        """Hidden states ``(T, d)`` of one recording at one layer."""
        states = self.hidden_states(participant)
        if int(layer) not in states:
            raise _unknown(f"layer {layer!r}", sorted(states))
        if filename not in states[int(layer)]:
            raise _unknown(f"recording {filename!r} with hidden states", states[int(layer)])
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
            return table.assign(SENTENCE_ID=table.FILENAME.map(sentence_id)).drop_duplicates(
                "SENTENCE_ID"
            )

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


def load_dataset(source: str = "auto", data_dir: str | os.PathLike | None = None) -> Dataset:
    """Load the tutorial data.

    Parameters
    ----------
    source : {"auto", "real", "sample"}
        ``"real"``: the converted real data (``python -m tutorial_utils.io`` first), every
        file's sha256 checked before it is read; ``"sample"``: the built-in synthetic sample;
        ``"auto"``: the real data if the cache is usable, else the sample, with a warning when
        a cache was asked for (``data_dir``, ``$TUTORIAL_DATA_DIR``, the data command's record)
        or is there but damaged.
    data_dir : path, optional
        Cache directory (see README, "Where the cache goes").
    """
    if source not in ("auto", "real", "sample"):
        raise ValueError(f"source must be 'auto', 'real' or 'sample', got {source!r}.")
    if source == "sample":
        return Dataset(**sample_tables())
    where, origin = (Path(data_dir), "argument") if data_dir is not None else cache.find_data_dir()
    try:
        tables = cache.read_cache(where)
    except cache.CacheUnusable as err:
        if source == "real":
            raise
        if (where / cache.MANIFEST).exists() or origin in ("argument", "env", "pointer"):
            why = {"argument": "load_dataset(data_dir=...) names it",
                   "env": "$TUTORIAL_DATA_DIR names it",
                   "pointer": f"the data command recorded it in {cache.pointer_file()}; on "
                   "Colab, mount Google Drive first"}.get(origin, "the default")  # fmt: skip
            message = f"{err} ({why})" if where.is_dir() else (
                f"The real-data cache directory {where} does not exist ({why}). Run "
                f"`{cache.COMMAND} --data-dir {where}` to create it.")  # fmt: skip
            warnings.warn(f"{message} Using the synthetic sample instead.", stacklevel=2)
        return Dataset(**sample_tables())
    manifest = tables.pop("manifest")
    return Dataset(
        source="real", description=str(manifest.get("description", "Tutorial data (Haskins).")),
        model_name=str(manifest.get("model_name", "facebook/wav2vec2-base")),
        sample_rate=int(manifest.get("sample_rate", SAMPLE_RATE)), manifest=manifest, **tables,
    )  # fmt: skip
