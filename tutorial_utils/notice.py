"""Which data a notebook runs on (the offline sample's numbers are not the tutorial's
results), and the numbers reported for the real data, kept once in :data:`REAL_CKA` and
:data:`REAL_FINDINGS`: the callout and the comparison tables are written from them."""

from __future__ import annotations

import html
import textwrap
from typing import TYPE_CHECKING

import pandas as pd

from .dataset import Dataset, sentence_id

if TYPE_CHECKING:
    from IPython.display import HTML

REAL_CKA: dict[str, dict[int, tuple[float, float]]] = {
    "MFCC": {0: (0.66, 0.66), 6: (0.52, 0.52), 7: (0.52, 0.52), 10: (0.58, 0.58),
             11: (0.39, 0.40), 12: (0.39, 0.40)},
    "EMA": {0: (0.31, 0.31), 3: (0.34, 0.34), 10: (0.29, 0.29), 11: (0.12, 0.13),
            12: (0.12, 0.13)},
}  # fmt: skip
"""Reported frame-level linear CKA, mean over recordings, read off the original chapter's
figure (hence ranges): ``{target: {layer: (low, high)}}``."""

REAL_FINDINGS: dict[str, object] = {
    "source": (
        "Haskins Production Rate Comparison database (Tiede et al., 2017), speakers F02 and "
        "M02, five shared IEEE sentences; facebook/wav2vec2-base hidden states"
    ),
    # Sentence-mean layer × layer CKA (biased, n = 5 recordings per speaker).
    "sentence_mean_within_block_layers": (0, 10),
    "sentence_mean_within_block_min_cka": 0.95,
    "sentence_mean_outlier_layers": (11, 12),
    "across_speaker_peak_layers": (5, 8),
    # Sentence-level Gram matrices: which structure dominates where.
    "speaker_blocks_layers": (0, 4),
    "same_sentence_layers": (5, 8),
}
"""The other real-data findings; layer pairs are inclusive ranges."""

REPORTED_SETUP: dict[str, object] = {
    "participant": "F02",
    "sentences": ("B01_S18", "B01_S33", "B01_S04", "B01_S52", "B01_S42"),
    "mfcc": "mfcc_original",
    "hidden_states": "frame_states",
}
"""What the reported CKA was computed on (``mfcc``: a key of ``targets.TARGETS``)."""

BY_DESIGN = (
    "On the synthetic sample, agreement with the real numbers is by design: the simulated\n"
    "encoder's layer profile was chosen to resemble them, so it is not evidence."
)


def reported_recordings(dataset: Dataset) -> list[tuple[str, str]]:
    """``(participant, filename)`` of the :data:`REPORTED_SETUP` recordings in ``dataset`` (on
    the sample: the first participant's recordings of the same sentence ids, a stand-in)."""
    speaker = REPORTED_SETUP["participant"]
    if dataset.source == "sample" or speaker not in dataset.participants:
        speaker = dataset.participants[0]
    wanted = REPORTED_SETUP["sentences"]
    return [(p, f) for p, f in dataset.pick_recordings([speaker]) if sentence_id(f) in wanted]


def hidden_states_origin(dataset: Dataset, participant: str) -> str:
    """Where ``participant``'s hidden states come from, in words, read from the manifest (one
    recipe for every participant of a cache)."""
    if dataset.source == "sample":
        return "the sample's simulated encoder (not Wav2Vec2)"
    origin = str(dataset.manifest.get("hidden_states", ""))
    if origin == REPORTED_SETUP["hidden_states"]:
        return "the original tutorial's frame states (the reported features)"
    if origin.startswith("extracted:"):
        return (
            f"re-extracted with {origin.removeprefix('extracted:')}, which can differ from "
            "the original features (library versions, numerics)"
        )
    return "not recorded in the cache manifest (may differ from the original features)"


def real_value_text(target: str, layer: int) -> str:
    """The reported CKA of ``target`` ("MFCC" or "EMA") at ``layer`` as text ("≈0.66",
    "≈0.39–0.40"); an empty string where none was reported."""
    if target.upper() not in REAL_CKA:
        raise ValueError(f"target must be 'MFCC' or 'EMA'; got {target!r}.")
    low, high = REAL_CKA[target.upper()].get(int(layer), (None, None))
    return "" if low is None else f"≈{low:.2f}" if low == high else f"≈{low:.2f}–{high:.2f}"


def compare_with_real(summary: pd.DataFrame, target: str) -> pd.DataFrame:
    """Per reported layer: ``this data``, the ``mean`` of ``target`` in ``summary`` (a
    :func:`tutorial_utils.stats.summarise` table) to 2 decimals, and ``real (read off figure)``."""
    part = summary[summary["target"] == target].set_index("layer")["mean"]
    layers = pd.Index([n for n in sorted(REAL_CKA[target.upper()]) if n in part], name="layer")
    ours = [round(float(part[n]), 2) for n in layers]
    real = [real_value_text(target, n) for n in layers]
    return pd.DataFrame({"this data": ours, "real (read off figure)": real}, index=layers)


def by_design_note(dataset: Dataset) -> str:
    """:data:`BY_DESIGN` on the sample, else "": printed under comparisons with real numbers."""
    return BY_DESIGN if dataset.source == "sample" else ""


def data_line(dataset: Dataset) -> str:
    """The data the notebook runs on and its speakers in one sentence, lines <= 88 characters
    (chapter 00: the callout)."""
    speakers = ", ".join(str(p) for p in dataset.participants)
    if dataset.source == "sample":
        line = (
            f"Data: the built-in synthetic sample (speakers {speakers}; simulated encoder); "
            "its numbers are not the tutorial's results (see chapter 00)."
        )
    else:
        line = (
            f"Data: the real tutorial data (speakers {speakers}); see chapter 00 for what may "
            "differ from the reported numbers."
        )
    return textwrap.fill(line, 88)


def data_notice(dataset: Dataset) -> HTML:
    """A callout (Jupyter, VS Code, Jupyter Book) on the data the notebook runs on: on the sample
    a warning that every number differs, with the reported findings; else what may differ."""
    from IPython.display import HTML

    speakers = ", ".join(html.escape(str(p)) for p in dataset.participants)
    if dataset.source == "sample":
        kind, heading, colours = "warning", "Synthetic sample data", ("#b45309", "#fff7ed")
        f = REAL_FINDINGS
        span = {key: f"{f[key][0]}–{f[key][1]}" for key in f if key.endswith("_layers")}
        cka = {t: [f"{real_value_text(t, n)} at layer {n}" for n in v] for t, v in REAL_CKA.items()}
        items = [
            f"Frame-level CKA with MFCCs: {', '.join(cka['MFCC'])} (highest at the input, a dip in "
            "the middle, a second peak at layer 10, lowest at the top).",
            f"Frame-level CKA with EMA: lower throughout, {', '.join(cka['EMA'])}.",
            f"Sentence means: layers {span['sentence_mean_within_block_layers']} all have CKA > "
            f"{f['sentence_mean_within_block_min_cka']} with each other; layers "
            f"{span['sentence_mean_outlier_layers']} stand apart. Across speakers, similarity "
            f"is highest in layers {span['across_speaker_peak_layers']}.",
            f"Sentence-level Gram matrices: speaker blocks in layers "
            f"{span['speaker_blocks_layers']}, same-sentence similarity across speakers in "
            f"layers {span['same_sentence_layers']}.",
        ]
        body = (
            "<p>This notebook is running on the built-in <b>synthetic sample</b> "
            f"(speakers {speakers}): speech synthesised with the articulatory synthesiser "
            "VocalTractLab, virtual EMA sensors read from the same simulation, and a "
            "<b>simulated 13-layer encoder</b> in place of Wav2Vec2. The code and the method "
            "are the same as for the real data, but <b>every number and figure differs from "
            "the real data</b>. For comparison, the tutorial reports on the real data "
            f"({html.escape(str(f['source']))}; CKA values read off its figure):</p><ul>"
            + "".join(f"<li>{html.escape(item)}</li>" for item in items)
            + "</ul><p>Run <code>python -m tutorial_utils.io</code> to get the real data; the "
            "notebooks then use it automatically.</p>"
        )
    else:
        kind, heading, colours = "note", "Real data", ("#1d4ed8", "#eff6ff")
        body = (
            f"<p>This notebook is running on the <b>real tutorial data</b> (speakers {speakers})."
            " The reported numbers come from speaker F02's five shared sentences, the original "
            "MFCC recipe and the original hidden states; chapter 02 recomputes them on exactly "
            "that subset. Numbers on other subsets, recipes or re-extracted hidden states may "
            "differ (another speaker, other sentences, frame alignment, library versions).</p>"
        )
    return HTML(
        f'<div class="admonition {kind}" style="border-left: 6px solid {colours[0]}; background: '
        f"{colours[1]}; color: #111827; padding: 0.6em 1em; margin: 0.5em 0; border-radius: 4px;"
        '"><p class="admonition-title" style="font-weight: bold; margin: 0 0 0.4em 0;">'
        f"{heading}</p>{body}</div>"
    )
