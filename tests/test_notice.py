"""The data-source callout and the real-data reference numbers."""

from types import SimpleNamespace

import pandas as pd
import pytest

from tutorial_utils import notice as D


def _dataset(source):
    return SimpleNamespace(source=source, participants=["SYN-F", "SYN-M"])


def test_sample_notice_says_synthetic_and_cites_real_numbers():
    html = D.data_notice(_dataset("sample")).data
    assert "synthetic sample" in html.lower()
    assert "VocalTractLab" in html and "simulated" in html
    assert "differs from the real data" in html
    for number in ("0.66", "0.52", "0.58", "0.31", "0.34", "0.29", "0.95"):
        assert number in html
    assert 'class="admonition warning"' in html


def test_real_notice_is_short_and_different():
    html = D.data_notice(_dataset("real")).data
    assert "real tutorial data" in html and "synthetic" not in html.lower()


def test_real_findings_numbers():
    assert D.REAL_FINDINGS["mfcc_cka"][0] == (0.66, 0.66)
    assert D.REAL_FINDINGS["ema_cka"][11] == (0.12, 0.13)
    assert D.REAL_FINDINGS["across_speaker_peak_layers"] == (5, 8)
    assert D.REAL_FINDINGS["sentence_mean_within_block_min_cka"] == 0.95


@pytest.mark.parametrize(
    ("measure", "layer", "text"),
    [("MFCC", 0, "≈0.66"), ("MFCC", 12, "≈0.39–0.40"), ("EMA", 3, "≈0.34"), ("EMA", 5, "")],
)
def test_real_value_text(measure, layer, text):
    assert D.real_value_text(measure, layer) == text


def test_real_value_text_rejects_unknown_measure():
    with pytest.raises(ValueError):
        D.real_value_text("pitch", 0)


def test_compare_with_real():
    summary = pd.DataFrame({"target": ["EMA"] * 13, "layer": range(13), "mean": [0.123456] * 13})
    table = D.compare_with_real(summary, "EMA")
    assert table.index.tolist() == [0, 3, 10, 11, 12]
    assert table["this data"].tolist() == [0.12] * 5
    assert table.loc[11, "real data"] == "≈0.12–0.13"


def test_reported_numbers_are_kept_once():
    """The callout and the findings are written from REAL_CKA; no number is typed twice."""
    assert list(D.REAL_CKA.columns) == ["target", "layer", "low", "high"]
    html = D.data_notice(_dataset("sample")).data
    for row in D.REAL_CKA.itertuples():
        assert f"{D.real_value_text(row.target, row.layer)} at layer {row.layer}" in html
    assert D.REAL_FINDINGS["mfcc_cka"] == {
        r.layer: (r.low, r.high) for r in D.REAL_CKA[D.REAL_CKA.target == "MFCC"].itertuples()
    }


def test_by_design_note_only_on_the_sample():
    sample = SimpleNamespace(source="sample", participants=["A"])
    real = SimpleNamespace(source="real", participants=["A"])
    assert D.by_design_note(sample) == D.BY_DESIGN and "by design" in D.BY_DESIGN
    assert D.by_design_note(real) == ""


def test_data_line_is_one_sentence_per_source():
    sample = D.data_line(_dataset("sample"))
    real = D.data_line(_dataset("real"))
    for line in (sample, real):
        assert isinstance(line, str) and "\n" not in line
        assert line.count(". ") == 0 and line.endswith(".")
        assert "SYN-F, SYN-M" in line
    assert "synthetic sample" in sample
    assert "real tutorial data" in real and "synthetic" not in real
