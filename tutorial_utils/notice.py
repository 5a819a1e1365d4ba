"""The data-source callout, and the numbers reported for the real data, kept once as data.

The synthetic sample lets every notebook run offline, but its numbers are not the tutorial's
results. :func:`data_notice` returns a visible callout that says which data a notebook runs on;
:data:`REAL_CKA` and :data:`REAL_FINDINGS` hold what the tutorial reports for the real data,
and both the callout and :func:`compare_with_real` are written from them.
"""

from __future__ import annotations

import html

import pandas as pd
from IPython.display import HTML

from .dataset import Dataset, sentence_id

__all__ = [
    "REAL_CKA",
    "REAL_FINDINGS",
    "BY_DESIGN",
    "REPORTED_SETUP",
    "by_design_note",
    "compare_with_real",
    "data_line",
    "data_notice",
    "real_value_text",
    "reported_recordings",
    "hidden_states_origin",
]

REAL_CKA = pd.DataFrame(
    [
        ("MFCC", 0, 0.66, 0.66),
        ("MFCC", 6, 0.52, 0.52),
        ("MFCC", 7, 0.52, 0.52),
        ("MFCC", 10, 0.58, 0.58),
        ("MFCC", 11, 0.39, 0.40),
        ("MFCC", 12, 0.39, 0.40),
        ("EMA", 0, 0.31, 0.31),
        ("EMA", 3, 0.34, 0.34),
        ("EMA", 10, 0.29, 0.29),
        ("EMA", 11, 0.12, 0.13),
        ("EMA", 12, 0.12, 0.13),
    ],
    columns=["target", "layer", "low", "high"],
)
"""Reported per-recording frame-level linear CKA of a layer with a target, mean over
recordings, as the range ``low``–``high`` (equal bounds for a single value), rounded as in the
original chapter."""


def _ranges(target: str) -> dict[int, tuple[float, float]]:
    part = REAL_CKA[REAL_CKA["target"] == target]
    return {int(r.layer): (float(r.low), float(r.high)) for r in part.itertuples()}


REAL_FINDINGS: dict[str, object] = {
    "source": (
        "Haskins Production Rate Comparison database (Tiede et al., 2017), speakers F02 and "
        "M02, five shared IEEE sentences; facebook/wav2vec2-base hidden states"
    ),
    # {layer: (low, high)} views of REAL_CKA.
    "mfcc_cka": _ranges("MFCC"),
    "ema_cka": _ranges("EMA"),
    # Sentence-mean layer × layer CKA (biased, n = 5 recordings per speaker).
    "sentence_mean_within_block_layers": (0, 10),
    "sentence_mean_within_block_min_cka": 0.95,
    "sentence_mean_outlier_layers": (11, 12),
    "across_speaker_peak_layers": (5, 8),
    # Sentence-level Gram matrices: which structure dominates where.
    "speaker_blocks_layers": (0, 4),
    "same_sentence_layers": (5, 8),
}
"""The real-data findings; layer pairs are inclusive ranges. ``"mfcc_cka"`` and
``"ema_cka"`` are :data:`REAL_CKA` by layer."""

REPORTED_SETUP: dict[str, object] = {
    "participant": "F02",
    "sentences": ("B01_S18", "B01_S33", "B01_S04", "B01_S52", "B01_S42"),
    "mfcc": "mfcc_original",
    "hidden_states": "frame_states",
}
"""What the reported CKA numbers were computed on: one speaker, five shared B01 sentences,
the original MFCC recipe (a key of :data:`tutorial_utils.targets.TARGETS`) and the original
tutorial's frame states."""


def reported_recordings(dataset: Dataset) -> list[tuple[str, str]]:
    """The recordings the reported numbers came from, as far as ``dataset`` has them.

    Real data: the :data:`REPORTED_SETUP` speaker's recordings of its five sentences. Sample:
    the first participant's recordings of the same sentence ids (a stand-in, not the same
    speech). Returns ``(participant, filename)`` pairs in the dataset's order.
    """
    wanted = set(REPORTED_SETUP["sentences"])
    speaker = REPORTED_SETUP["participant"]
    if dataset.source == "sample" or speaker not in dataset.participants:
        speaker = dataset.participants[0]
    return [(p, f) for p, f in dataset.pick_recordings([speaker]) if sentence_id(f) in wanted]


def hidden_states_origin(dataset: Dataset, participant: str) -> str:
    """Where ``participant``'s hidden states come from, in words, read from the manifest."""
    if dataset.source == "sample":
        return "the sample's simulated encoder (not Wav2Vec2)"
    recipe = dataset.manifest.get("conversions", {}).get(participant, {})
    origin = str(recipe.get("hidden_states", ""))
    if origin == REPORTED_SETUP["hidden_states"]:
        return "the original tutorial's frame states (the reported features)"
    if origin.startswith("extracted:"):
        return (
            f"re-extracted with {origin.removeprefix('extracted:')}, which can differ from "
            "the original features (library versions, numerics)"
        )
    return "not recorded in the cache manifest (may differ from the original features)"


TARGET_NAMES = {"MFCC": "MFCC", "EMA": "EMA", "mfcc": "MFCC", "ema": "EMA"}


def real_value_text(target: str, layer: int) -> str:
    """The real-data CKA of ``target`` ("MFCC" or "EMA") at ``layer`` as text ("≈0.66").

    Returns an empty string when the chapter reported no number for that layer.
    """
    if target not in TARGET_NAMES:
        raise ValueError(f"target must be one of {sorted(TARGET_NAMES)}; got {target!r}.")
    values = _ranges(TARGET_NAMES[target])
    if int(layer) not in values:
        return ""
    low, high = values[int(layer)]
    return f"≈{low:.2f}" if low == high else f"≈{low:.2f}–{high:.2f}"


def compare_with_real(summary: pd.DataFrame, target: str) -> pd.DataFrame:
    """Put this notebook's per-layer means next to the real-data numbers.

    ``summary`` has the columns ``target``, ``layer`` and ``mean`` (e.g.
    :func:`tutorial_utils.stats.summarise`); ``target`` is ``"MFCC"`` or ``"EMA"``. Returns a
    table indexed by the layers with a reported real-data value: ``this data`` (rounded to 2
    decimals) and ``real data``.
    """
    part = summary[summary["target"] == target].set_index("layer")["mean"]
    layers = [layer for layer in sorted(_ranges(TARGET_NAMES[target])) if layer in part]
    return pd.DataFrame(
        {
            "this data": [round(float(part[layer]), 2) for layer in layers],
            "real data": [real_value_text(target, layer) for layer in layers],
        },
        index=pd.Index(layers, name="layer"),
    )


def _layers(key: str) -> str:
    low, high = REAL_FINDINGS[key]
    return f"{low}–{high}"


def _findings_html() -> str:
    """The real-data findings as a short HTML list, written from the tables above."""

    def describe(target: str) -> str:
        return ", ".join(
            f"{real_value_text(target, layer)} at layer {layer}" for layer in _ranges(target)
        )

    items = [
        f"Frame-level CKA with MFCCs: {describe('MFCC')} (highest at the input, a dip in "
        "the middle, a second peak at layer 10, lowest at the top).",
        f"Frame-level CKA with EMA: lower throughout, {describe('EMA')}.",
        f"Sentence means: layers {_layers('sentence_mean_within_block_layers')} all have CKA > "
        f"{REAL_FINDINGS['sentence_mean_within_block_min_cka']} with each other; layers "
        f"{_layers('sentence_mean_outlier_layers')} stand apart. Across speakers, similarity "
        f"is highest in layers {_layers('across_speaker_peak_layers')}.",
        f"Sentence-level Gram matrices: speaker blocks in layers "
        f"{_layers('speaker_blocks_layers')}, same-sentence similarity across speakers in "
        f"layers {_layers('same_sentence_layers')}.",
    ]
    return "<ul>" + "".join(f"<li>{html.escape(item)}</li>" for item in items) + "</ul>"


def _box(kind: str, heading: str, body: str) -> HTML:
    """An admonition-like box that renders in Jupyter, VS Code and Jupyter Book."""
    colours = {"warning": ("#b45309", "#fff7ed"), "note": ("#1d4ed8", "#eff6ff")}
    border, background = colours[kind]
    style = (
        f"border-left: 6px solid {border}; background: {background}; color: #111827; "
        "padding: 0.6em 1em; margin: 0.5em 0; border-radius: 4px;"
    )
    return HTML(
        f'<div class="admonition {kind}" style="{style}">'
        f'<p class="admonition-title" style="font-weight: bold; margin: 0 0 0.4em 0;">'
        f"{html.escape(heading)}</p>{body}</div>"
    )


BY_DESIGN = (
    "On the synthetic sample, agreement with the real numbers is by design: the simulated "
    "encoder's layer profile was chosen to resemble them, so it is not evidence."
)
"""The one line printed wherever sample numbers stand next to the real data's."""


def by_design_note(dataset: Dataset) -> str:
    """:data:`BY_DESIGN` for the synthetic sample, an empty string for the real data.

    Print it under every table or sentence that puts the dataset's numbers next to the
    reported real-data numbers.
    """
    return BY_DESIGN if dataset.source == "sample" else ""


def data_line(dataset: Dataset) -> str:
    """One sentence that says which data the notebook runs on.

    Chapter 00 shows the full callout (:func:`data_notice`); every other chapter prints this
    line instead, so the tutorial speaks with one voice.

    Parameters
    ----------
    dataset : tutorial_utils.dataset.Dataset
        The data loaded; its source and participants are named.

    Returns
    -------
    str
        One sentence naming the data source and the speakers.
    """
    speakers = ", ".join(str(p) for p in dataset.participants)
    if dataset.source == "sample":
        return (
            f"Data: the built-in synthetic sample (speakers {speakers}; simulated encoder); "
            "its numbers are not the tutorial's results (see chapter 00)."
        )
    return (
        f"Data: the real tutorial data (speakers {speakers}); see chapter 00 for what may "
        "differ from the reported numbers."
    )


def data_notice(dataset: Dataset) -> HTML:
    """A callout that says which data the notebook runs on.

    Parameters
    ----------
    dataset : tutorial_utils.dataset.Dataset
        Only ``dataset.source`` (``"sample"`` or ``"real"``) and ``dataset.participants`` are
        used.

    Returns
    -------
    IPython.display.HTML
        For the synthetic sample a warning box stating that the data are synthetic, that the
        numbers differ from the real data, and listing the real-data findings; for the real
        data a short note.
    """
    speakers = ", ".join(html.escape(str(p)) for p in dataset.participants)
    if dataset.source == "sample":
        body = (
            "<p>This notebook is running on the built-in <b>synthetic sample</b> "
            f"(speakers {speakers}): speech synthesised with the articulatory synthesiser "
            "VocalTractLab, virtual EMA sensors read from the same simulation, and a "
            "<b>simulated 13-layer encoder</b> in place of Wav2Vec2. The code and the method "
            "are the same as for the real data, but <b>every number and figure differs from "
            "the real data</b>. For comparison, the tutorial reports on the real data "
            f"({html.escape(str(REAL_FINDINGS['source']))}):</p>"
            f"{_findings_html()}"
            "<p>Run <code>python -m tutorial_utils.io</code> to get the real data; the notebooks "
            "then use it automatically.</p>"
        )
        return _box("warning", "Synthetic sample data", body)
    body = (
        f"<p>This notebook is running on the <b>real tutorial data</b> (speakers {speakers}). "
        "The reported numbers come from speaker F02's five shared sentences, the original MFCC "
        "recipe and the original hidden states; chapter 02 recomputes them on exactly that "
        "subset. Numbers on other subsets, recipes or re-extracted hidden states may differ "
        "(another speaker, other sentences, frame alignment, library versions).</p>"
    )
    return _box("note", "Real data", body)
