"""The tutorial's dataset: recordings, EMA and model hidden states of a few participants.

One call gives the notebooks their data (see :func:`tutorial_utils.load_dataset`)::

    from tutorial_utils import load_dataset
    ds = load_dataset()          # real cache if complete, else the built-in synthetic sample

Names used everywhere: *hidden states* are the model's per-frame activations
(``{layer: {filename: (T, d) float32}}``); *targets* are what they are compared with
(MFCC and EMA frames).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .frames import EMA_TABLE_COLUMNS, SAMPLE_RATE

HiddenStates = dict[int, dict[str, np.ndarray]]
"""Hidden states of one participant: ``{layer: {filename: (T, d) float32}}``."""

_SENTENCE_ID = re.compile(r"(B\d+)_(S\d+)")


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


def _valid(names: Iterable[Any]) -> str:
    """Comma-separated list for error messages (first 12 items)."""
    names = [str(n) for n in names]
    return ", ".join(names[:12]) + (f", ... ({len(names)} in all)" if len(names) > 12 else "")


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
        :data:`tutorial_utils.frames.EMA_TABLE_COLUMNS`.
    hidden_states : Mapping[str, HiddenStates or Callable[[], HiddenStates]]
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
        hidden_states: Mapping[str, HiddenStates | Callable[[], HiddenStates]],
        model_name: str = "facebook/wav2vec2-base",
        sample_rate: int = SAMPLE_RATE,
        manifest: dict | None = None,
    ) -> None:
        if source not in ("real", "sample"):
            raise ValueError(f"source must be 'real' or 'sample', got {source!r}.")
        participants = list(recordings)
        for name, mapping in (("ema", ema), ("hidden_states", hidden_states)):
            if set(mapping) != set(participants):
                raise ValueError(
                    f"{name} has participants {sorted(mapping)} but recordings has "
                    f"{sorted(participants)}; give every participant all three."
                )
        for p in participants:
            check_recordings_table(recordings[p], p)
            check_ema_table(ema[p], p)
        self.source = source
        self.description = description
        self.participants = participants
        self.model_name = model_name
        self.sample_rate = int(sample_rate)
        self.manifest = dict(manifest) if manifest else {}
        self._recordings = {p: recordings[p].reset_index(drop=True) for p in participants}
        self._ema = {p: ema[p] for p in participants}
        self._hidden_source = dict(hidden_states)
        self._hidden: dict[str, HiddenStates] = {}

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
            layers = self.hidden_states(self.participants[0]).keys()
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

    def hidden_states(self, participant: str) -> HiddenStates:
        """Hidden states ``{layer: {filename: (T, d) float32}}`` of ``participant``."""
        self._check_participant(participant)
        if participant not in self._hidden:
            value = self._hidden_source[participant]
            states = value() if callable(value) else value
            self._hidden[participant] = {int(k): v for k, v in states.items()}
        return self._hidden[participant]

    def filenames(self, participant: str, *, with_hidden_states: bool = False) -> list[str]:
        """Filenames of ``participant`` in recording order.

        With ``with_hidden_states=True`` only the recordings that have hidden states (e.g. the real
        original frame-states files cover only the 10 test sentences of F02).
        """
        names = self.recordings(participant)["FILENAME"].tolist()
        if with_hidden_states:
            have = self.hidden_states(participant).get(self.layers[0], {})
            names = [name for name in names if name in have]
        return names

    def pick_filenames(self, participant: str, filenames: Iterable[str] | None = None) -> list[str]:
        """The recordings of ``participant`` an analysis uses.

        This is the one default every analysis follows: ``filenames`` as given (in that order),
        or, when it is None, every recording of ``participant`` that has hidden states.
        """
        self._check_participant(participant)
        if filenames is None:
            return self.filenames(participant, with_hidden_states=True)
        return list(filenames)

    def pick_recordings(self, participants: Iterable[str] | None = None) -> list[tuple[str, str]]:
        """``(participant, filename)`` of the recordings an analysis uses, in order.

        ``participants`` default to all of them; each one's recordings follow
        :meth:`pick_filenames`.
        """
        chosen = self.participants if participants is None else list(participants)
        return [(p, name) for p in chosen for name in self.pick_filenames(p)]

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

    def hidden_state(self, participant: str, layer: int, filename: str) -> np.ndarray:
        """Hidden states ``(T, d)`` of one recording at one layer."""
        states = self.hidden_states(participant)
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
        self, participant_a: str, participant_b: str, *, with_hidden_states: bool = True
    ) -> pd.DataFrame:
        """Recordings of the same sentences by two participants.

        A sentence is identified by :func:`sentence_id` (block and sentence number). When a
        participant read a sentence more than once, the first recording in table order is used.
        By default only recordings with hidden states count (``with_hidden_states=False``: all).

        Returns
        -------
        pandas.DataFrame
            Columns ``SENTENCE_ID, SENTENCE, FILENAME_A, FILENAME_B``, one row per sentence id
            both have, in ``participant_a``'s recording order; ``SENTENCE`` is A's text.
        """
        first_b: dict[str, str] = {}
        for name in self.filenames(participant_b, with_hidden_states=with_hidden_states):
            first_b.setdefault(sentence_id(name), name)
        usable_a = set(self.filenames(participant_a, with_hidden_states=with_hidden_states))
        rows, seen = [], set()
        for name, text in self.recordings(participant_a)[["FILENAME", "SENTENCE"]].itertuples(
            index=False
        ):
            sid = sentence_id(name)
            if name in usable_a and sid in first_b and sid not in seen:
                seen.add(sid)
                rows.append((sid, text, name, first_b[sid]))
        return pd.DataFrame(rows, columns=["SENTENCE_ID", "SENTENCE", "FILENAME_A", "FILENAME_B"])

    def __repr__(self) -> str:
        kind = "synthetic sample" if self.source == "sample" else "real data"
        counts = ", ".join(f"{p}: {len(self._recordings[p])}" for p in self.participants)
        return (
            f"<Dataset source={self.source!r} ({kind}); model={self.model_name}; "
            f"recordings per participant: {counts}>\n{self.description}"
        )


def check_recordings_table(table: pd.DataFrame, participant: str) -> None:
    missing = [c for c in ("FILENAME", "SENTENCE", "AUDIO") if c not in table.columns]
    if missing:
        raise ValueError(
            f"Recordings of {participant!r} lack the columns {missing}; "
            "expected at least FILENAME, SENTENCE, AUDIO."
        )


def check_ema_table(table: pd.DataFrame, participant: str) -> None:
    if tuple(table.columns) != EMA_TABLE_COLUMNS:
        raise ValueError(
            f"EMA table of {participant!r} has the columns {list(table.columns)}; "
            f"expected exactly {list(EMA_TABLE_COLUMNS)}."
        )
