"""The data-source callout and the real-data reference numbers, each number kept once."""

from types import SimpleNamespace

import pandas as pd
import pytest

from tutorial_utils import notice as D


def _dataset(source, participants=("SYN-F", "SYN-M"), manifest=None):
    def pick_recordings(chosen):
        return [(p, f"{p}_B01_S{s}_R01_N.mat") for p in chosen for s in "59 18 33 04 52 42".split()]

    return SimpleNamespace(source=source, participants=list(participants),
                           manifest=manifest or {}, pick_recordings=pick_recordings)  # fmt: skip


def test_callouts_and_lines_say_which_data_and_cite_every_reported_number():
    html = D.data_notice(_dataset("sample")).data
    assert 'class="admonition warning"' in html and "differs from the real data" in html
    assert "read off its figure" in html
    for target, layers in D.REAL_CKA.items():
        for layer in layers:
            assert f"{D.real_value_text(target, layer)} at layer {layer}" in html
    html = D.data_notice(_dataset("real")).data
    assert "real tutorial data" in html and "may differ" in html and "synthetic" not in html
    sample, real = D.data_line(_dataset("sample")), D.data_line(_dataset("real"))
    for line in (sample, real, D.BY_DESIGN):  # one sentence, lines of at most 88 characters
        assert max(map(len, line.splitlines())) <= 88 and line.count(". ") == 0
    assert "SYN-F, SYN-M" in sample.replace("\n", " ") and "SYN-F, SYN-M" in real
    assert "synthetic sample" in sample and "synthetic" not in real
    assert D.by_design_note(_dataset("sample")) == D.BY_DESIGN
    assert D.by_design_note(_dataset("real")) == ""


def test_real_values_as_text_and_beside_this_data():
    texts = [D.real_value_text(*key) for key in [("MFCC", 0), ("mfcc", 12), ("EMA", 5)]]
    assert texts == ["≈0.66", "≈0.39–0.40", ""]
    with pytest.raises(ValueError):
        D.real_value_text("pitch", 0)
    summary = pd.DataFrame({"target": "EMA", "layer": range(13), "mean": 0.123456})
    table = D.compare_with_real(summary, "EMA")
    assert table.index.tolist() == [0, 3, 10, 11, 12] and table["this data"].eq(0.12).all()
    assert table.loc[11, "real (read off figure)"] == "≈0.12–0.13"


def test_reported_recordings_are_f02_and_the_five_sentences():
    chosen = D.reported_recordings(_dataset("real", ["M02", "F02"]))
    assert {p for p, _ in chosen} == {"F02"} and len(chosen) == 5
    assert "F02_B01_S59_R01_N.mat" not in [f for _, f in chosen]
    sample = D.reported_recordings(_dataset("sample"))
    assert {p for p, _ in sample} == {"SYN-F"} and len(sample) == 5


def test_hidden_states_origin_reads_the_manifest():
    for source, recipe, text in [
        ("real", "frame_states", "original tutorial's frame states"),
        ("real", "extracted:facebook/wav2vec2-base", "re-extracted with facebook/wav2vec2-base"),
        ("real", None, "not recorded"),
        ("sample", None, "simulated encoder"),
    ]:
        manifest = {"hidden_states": recipe} if recipe else {}
        assert text in D.hidden_states_origin(_dataset(source, ["F02"], manifest), "F02")
