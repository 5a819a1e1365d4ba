"""The tutorial's data: recordings, EMA and hidden states (per-frame activations ``{layer:
{filename: (T, d) float32}}``) of a few participants, from the real cache or the sample."""

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
    if (match := re.search(r"B\d+_S\d+", Path(str(filename)).name)) is None:
        raise ValueError(f"Cannot find a block/sentence id like 'B01_S18' in {filename!r}.")
    return match.group()


def _unknown(what: str, valid: Iterable) -> KeyError:
    names = [str(n) for n in valid]
    return KeyError(f"Unknown {what}; valid: {', '.join(names[:12])}{', ...' * (len(names) > 12)}.")


class Dataset:
    """Recordings, EMA and hidden states of a few participants (``source`` "real" or "sample").

    Per participant: ``recordings`` (``FILENAME``, ``SENTENCE``, ``AUDIO`` 1-D float32 at
    ``sample_rate``), ``ema`` (the 15 columns of :data:`~tutorial_utils.frames.EMA_TABLE_COLUMNS`)
    and ``hidden_states`` (or a callable returning them on first use)."""

    def __init__(self, *, source: str, description: str, recordings: Mapping[str, pd.DataFrame],
                 ema: Mapping[str, pd.DataFrame],
                 hidden_states: Mapping[str, HiddenStates | Callable[[], HiddenStates]],
                 model_name: str = "facebook/wav2vec2-base", sample_rate: int = SAMPLE_RATE,
                 manifest: dict | None = None) -> None:  # fmt: skip
        self.source, self.description, self.participants = source, description, list(recordings)
        self.model_name, self.sample_rate = model_name, int(sample_rate)
        self.manifest = dict(manifest or {})
        self._recordings = {p: table.reset_index(drop=True) for p, table in recordings.items()}
        self._ema, self._hidden = dict(ema), dict(hidden_states)

    @property
    def layers(self) -> list[int]:
        """Sorted layer indices (0 = encoder input, then one per transformer layer)."""
        layers = self.manifest.get("layers") or self.hidden_states(self.participants[0])
        return sorted(map(int, layers))

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
        if filename not in states.get(int(layer), {}):
            valid = states[int(layer)] if int(layer) in states else sorted(states)
            raise _unknown(f"layer {layer!r} or recording {filename!r} with states", valid)
        return states[int(layer)][filename]

    def shared_sentences(
        self, participant_a: str, participant_b: str, *, with_hidden_states: bool = True
    ) -> pd.DataFrame:
        """``SENTENCE_ID, SENTENCE, FILENAME_A, FILENAME_B``: one row per sentence
        (:func:`sentence_id`) both read, in A's recording order, each by its first recording."""

        def first(p: str) -> pd.DataFrame:
            keep = self.filenames(p, with_hidden_states=with_hidden_states)
            table = self.recordings(p)[["FILENAME", "SENTENCE"]]
            table = table[table.FILENAME.isin(keep)]
            ids = table.FILENAME.map(sentence_id)
            return table.assign(SENTENCE_ID=ids).drop_duplicates("SENTENCE_ID")

        b = first(participant_b)[["SENTENCE_ID", "FILENAME"]]
        shared = first(participant_a).merge(b, on="SENTENCE_ID", suffixes=("_A", "_B"))
        return shared[["SENTENCE_ID", "SENTENCE", "FILENAME_A", "FILENAME_B"]]

    def __repr__(self) -> str:
        kind = "synthetic sample" if self.source == "sample" else "real data"
        counts = ", ".join(f"{p}: {len(self._recordings[p])}" for p in self.participants)
        return (f"<Dataset source={self.source!r} ({kind}); model={self.model_name}; "
                f"recordings per participant: {counts}>\n{self.description}")  # fmt: skip


def load_dataset(source: str = "auto", data_dir: str | os.PathLike | None = None) -> Dataset:
    """Load the tutorial data: ``"real"`` (the cache ``python -m tutorial_utils.io`` wrote in
    ``data_dir`` or the default folder, each file's sha256 checked), ``"sample"`` (built in) or
    ``"auto"``: the real data if usable, else the sample, with a warning when a cache was asked
    for (``data_dir``, ``$TUTORIAL_DATA_DIR``, the data command's record) or is damaged."""
    if source not in ("auto", "real", "sample"):
        raise ValueError(f"source must be 'auto', 'real' or 'sample', got {source!r}.")
    if source == "sample":
        return Dataset(**sample_tables())
    where, origin = (Path(data_dir), "argument") if data_dir is not None else cache.find_data_dir()
    try:
        tables = cache.read_cache(where)
    except (cache.CacheUnusable, cache.CacheUnreadable) as err:
        if source == "real":
            raise
        named = {"argument": "load_dataset(data_dir=...)", "env": "$TUTORIAL_DATA_DIR",
                 "pointer": f"the data command's record {cache.pointer_file()}"}  # fmt: skip
        if (where / cache.MANIFEST).exists() or origin in named:
            why = f" (named by {named[origin]})" if origin in named else ""
            gone = origin == "pointer" and not where.is_dir()
            mount = " On Colab, mount Google Drive first." if gone else ""
            warnings.warn(f"{err}{why}{mount} Using the synthetic sample instead.", stacklevel=2)
        return Dataset(**sample_tables())
    m = tables.pop("manifest")
    return Dataset(source="real", description=m.get("description", "Tutorial data (Haskins)."),
                   model_name=m.get("model_name", "facebook/wav2vec2-base"),
                   sample_rate=m.get("sample_rate", SAMPLE_RATE), manifest=m, **tables)  # fmt: skip
