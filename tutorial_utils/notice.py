"""Notebook display helpers: the data-source callout and the real-data reference numbers.

The synthetic sample lets every notebook run offline, but its numbers are not the tutorial's
results. :func:`data_notice` returns a visible callout that says which data a notebook is
running on, and :data:`REAL_FINDINGS` holds the numbers reported for the real data so the
notebooks can print them next to their own.
"""

from __future__ import annotations

import html
from collections.abc import Mapping

import pandas as pd
from IPython.display import HTML

__all__ = ["REAL_FINDINGS", "compare_with_real", "data_notice", "real_value_text"]

REAL_FINDINGS: dict[str, object] = {
    "source": (
        "Haskins Production Rate Comparison database (Tiede et al., 2017), speakers F02 and "
        "M02, five shared IEEE sentences; facebook/wav2vec2-base hidden states"
    ),
    # Per-recording frame-level linear CKA, mean over recordings: {layer: (low, high)}.
    "mfcc_cka": {
        0: (0.66, 0.66),
        6: (0.52, 0.52),
        7: (0.52, 0.52),
        10: (0.58, 0.58),
        11: (0.39, 0.40),
        12: (0.39, 0.40),
    },
    "ema_cka": {
        0: (0.31, 0.31),
        3: (0.34, 0.34),
        10: (0.29, 0.29),
        11: (0.12, 0.13),
        12: (0.12, 0.13),
    },
    # Sentence-mean layer × layer CKA (biased, n = 5 recordings per speaker).
    "sentence_mean_within_block_layers": (0, 10),
    "sentence_mean_within_block_min_cka": 0.95,
    "sentence_mean_outlier_layers": (11, 12),
    "across_speaker_peak_layers": (5, 8),
    # Sentence-level Gram matrices: which structure dominates where.
    "speaker_blocks_layers": (0, 4),
    "same_sentence_layers": (5, 8),
}
"""Numbers reported for the real data (rounded as in the original chapter).

Keys ``"mfcc_cka"`` and ``"ema_cka"`` map a layer to the ``(low, high)`` range of the reported
mean CKA (equal bounds for a single value); layer pairs are inclusive ranges.
"""

FEATURE_KEYS = {"MFCC": "mfcc_cka", "EMA": "ema_cka", "mfcc": "mfcc_cka", "ema": "ema_cka"}


def real_value_text(measure: str, layer: int) -> str:
    """The real-data CKA of ``measure`` ("MFCC" or "EMA") at ``layer`` as text ("≈0.66").

    Returns an empty string when the chapter reported no number for that layer.
    """
    if measure not in FEATURE_KEYS:
        raise ValueError(f"measure must be one of {sorted(FEATURE_KEYS)}; got {measure!r}.")
    values: Mapping[int, tuple[float, float]] = REAL_FINDINGS[FEATURE_KEYS[measure]]
    if int(layer) not in values:
        return ""
    low, high = values[int(layer)]
    return f"≈{low:.2f}" if low == high else f"≈{low:.2f}–{high:.2f}"


def compare_with_real(summary: pd.DataFrame, measure: str) -> pd.DataFrame:
    """Put this notebook's per-layer means next to the real-data numbers.

    Parameters
    ----------
    summary : pandas.DataFrame
        Columns ``measure``, ``layer`` and ``mean`` (e.g. from
        :func:`tutorial_utils.analysis.summarise`).
    measure : str
        ``"MFCC"`` or ``"EMA"``.

    Returns
    -------
    pandas.DataFrame
        Indexed by the layers with a reported real-data value; columns ``this data`` (rounded
        to 2 decimals) and ``real data``.
    """
    part = summary[summary["measure"] == measure].set_index("layer")["mean"]
    layers = [layer for layer in sorted(REAL_FINDINGS[FEATURE_KEYS[measure]]) if layer in part]
    return pd.DataFrame(
        {
            "this data": [round(float(part[layer]), 2) for layer in layers],
            "real data": [real_value_text(measure, layer) for layer in layers],
        },
        index=pd.Index(layers, name="layer"),
    )


def _findings_html() -> str:
    """The real-data findings as a short HTML list."""
    mfcc = REAL_FINDINGS["mfcc_cka"]
    ema = REAL_FINDINGS["ema_cka"]

    def describe(values: Mapping[int, tuple[float, float]], name: str) -> str:
        parts = []
        for layer in sorted(values):
            parts.append(f"{real_value_text(name, layer)} at layer {layer}")
        return ", ".join(parts)

    items = [
        f"Frame-level CKA with MFCCs: {describe(mfcc, 'MFCC')} (highest at the input, a dip in "
        "the middle, a second peak at layer 10, lowest at the top).",
        f"Frame-level CKA with EMA: lower throughout, {describe(ema, 'EMA')}.",
        "Sentence means: layers 0–10 all have CKA > 0.95 with each other; layers 11–12 stand "
        "apart. Across speakers, similarity is highest in layers 5–8.",
        "Sentence-level Gram matrices: speaker blocks in layers 0–4, same-sentence similarity "
        "across speakers in layers 5–8.",
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


def data_notice(dataset) -> HTML:
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
        f"<p>This notebook is running on the <b>real tutorial data</b> (speakers {speakers}); "
        "its numbers should be close to those reported in the tutorial.</p>"
    )
    return _box("note", "Real data", body)
