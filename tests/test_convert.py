"""The conversion on the command line, tried as a hostile or unlucky user would: a run is a
transaction, one run per folder, every bad input one paragraph and exit code 2, the
real-format round trip."""

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from unittest import mock

import numpy as np
import pandas as pd
import pytest
from filelock import FileLock
from fixtures import io_setup

from tutorial_utils import load_dataset
from tutorial_utils.io import cli
from tutorial_utils.io.cli import main

ROOT = str(Path(__file__).resolve().parents[1])  # on PYTHONPATH, with the test's own config home

real_format, hostile = io_setup.real_format, io_setup.hostile
S18, S33, MANIFEST = io_setup.S18, io_setup.S33, "manifest.json"
A, F = "ema_audio_F02.pkl", "frame_states_p1_test.pkl"  # F02's audio and frame states
GOOD_AUDIO = {n: real_format.tiny_audio(n, k) for n, k in real_format.TINY_AUDIO_LENGTHS.items()}


@pytest.fixture
def first(tmp_path):
    """F02's originals, as in the Drive's ema_probing_data/."""
    return io_setup.write_f02(tmp_path / "first" / "ema_probing_data")


@pytest.fixture
def second(tmp_path):
    """Other originals of the same recordings: other audio values, same file sizes."""
    return io_setup.write_f02(tmp_path / "second", gain=0.5)


def _from(cache, folder, *extra):
    return main(
        ["--frame-states", "--data-dir", str(cache), "--from-dir", str(folder), "--quiet", *extra]
    )


def _cached_audio(cache, name=S18):
    return load_dataset("real", cache).audio("F02", name)


def _one_paragraph(err):
    assert "Traceback" not in err and err.strip(), err
    return " ".join(err.split())


# -- a conversion is a transaction -------------------------------------------------------------

FAIL_IN_STATES = """
import os, signal, sys
import numpy as np
real = np.savez
def failing(file, **arrays):
    if next(iter(arrays)).startswith("L"):  # hidden states: audio and csv are written
        with open(file, "wb") as handle:
            handle.write(b"PK half of a zip")
        if sys.argv[1] == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        code = 13 if sys.argv[1] == "read-only" else 28  # EACCES, ENOSPC
        raise OSError(code, os.strerror(code))
    real(file, **arrays)
np.savez = failing
from tutorial_utils.io.cli import main
sys.exit(main(sys.argv[2:]))
"""


@pytest.mark.parametrize("how", ["disk-full", "read-only", "kill"])
def test_a_failed_or_killed_reconversion_keeps_the_previous_cache_whole(
    tmp_path, first, second, how
):
    cache = tmp_path / "cache"
    assert _from(cache, first) == 0
    manifest = (cache / "manifest.json").read_bytes()
    args = ["--frame-states", "--quiet", "--data-dir", str(cache), "--from-dir", str(second)]
    command = [sys.executable, "-c", FAIL_IN_STATES, how, *args]
    env = {**os.environ, "PYTHONPATH": ROOT}
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
    if how == "kill":
        assert result.returncode == -signal.SIGKILL
        assert io_setup.leftovers(cache)  # the half-built generation
    else:
        assert result.returncode == 2
        err = _one_paragraph(result.stderr)
        why, fix = {"disk-full": ("No space left", "Free some disk"),
                    "read-only": ("Permission denied", "Make the folder")}[how]  # fmt: skip
        assert why in err and "previous cache is unchanged" in err and fix in err
        assert io_setup.leftovers(cache) == []
    assert (cache / "manifest.json").read_bytes() == manifest
    np.testing.assert_array_equal(_cached_audio(cache), GOOD_AUDIO[S18])  # not run 2's audio
    assert _from(cache, second) == 0
    np.testing.assert_array_equal(_cached_audio(cache), GOOD_AUDIO[S18] * np.float32(0.5))
    assert io_setup.leftovers(cache) == []


def test_a_failing_second_participant_keeps_the_previous_cache(tmp_path, first, second, capsys):
    io_setup.write_m02(first)
    io_setup.write_m02(second)
    cache = tmp_path / "cache"
    assert _from(cache, first) == 0
    states = second / "frame_states_p2_test.pkl"
    states.write_bytes(states.read_bytes()[:-50])  # F02 converts, then M02 fails
    assert _from(cache, second) == 2
    assert "frame_states_p2_test.pkl" in _one_paragraph(capsys.readouterr().err)
    np.testing.assert_array_equal(_cached_audio(cache), GOOD_AUDIO[S18])
    assert load_dataset("real", cache).participants == ["F02", "M02"]
    assert io_setup.leftovers(cache) == []


# -- what the run does not own, cannot read or does not replace -------------------------------


def _files(folder):
    return {p: p.read_bytes() if p.is_file() else None for p in sorted(folder.rglob("*"))}


@pytest.mark.parametrize("case", ["F02 links out", "downloads link out", "EIO", "newer format"])
def test_what_is_not_its_own_or_cannot_be_read_is_refused_and_left_whole(
    tmp_path, first, second, capsys, monkeypatch, case
):
    cache, outside, read_text = tmp_path / "cache", tmp_path / "outside", Path.read_text
    argv = ["--frame-states", "--quiet", "--data-dir", str(cache), "--from-dir", str(second)]
    if case == "downloads link out":  # someone's damaged file, once deleted as a bad download
        shutil.copytree(first, outside)
        (outside / "ema_audio_F02.pkl").write_bytes(b"")
        cache.mkdir()
        (cache / "downloads").symlink_to(outside)
        argv[-2:] = ["--participants", "F02"]
    else:
        assert _from(cache, first) == 0
        generation, manifest = next(cache.glob("cache-*")), json.loads(read_text(cache / MANIFEST))
    if case == "F02 links out":  # a schema-valid cache whose F02 is a link to the same files
        shutil.copytree(generation / "F02", outside / "F02")
        shutil.rmtree(generation / "F02")
        (generation / "F02").symlink_to(outside / "F02")
    elif case == "newer format":
        (cache / MANIFEST).write_text(json.dumps({**manifest, "format_version": 99}))
    elif case == "EIO":  # a Drive/FUSE mount failing for the length of the run

        def failing(path, *args, **kwargs):
            if path.name == MANIFEST:
                raise OSError(errno.EIO, "Input/output error")
            return read_text(path, *args, **kwargs)

        monkeypatch.setattr(Path, "read_text", failing)
    before = _files(tmp_path)
    assert main(argv) == 2
    expected = {"EIO": "Input/output error", "newer format": "newer version"}
    assert expected.get(case, "outside the data folder") in _one_paragraph(capsys.readouterr().err)
    assert _files(tmp_path) == before
    if case == "newer format":  # the notebooks say why and use the sample
        with pytest.warns(UserWarning, match="newer version"):
            assert load_dataset("auto", cache).source == "sample"


def test_a_rerun_keeps_the_participants_it_does_not_replace(tmp_path, first, second, capsys):
    io_setup.write_m02(first)
    cache = tmp_path / "cache"
    assert _from(cache, first) == 0
    m02 = load_dataset("real", cache).hidden_states("M02")
    assert _from(cache, second) == 0  # second/ holds F02's originals only
    dataset = load_dataset("real", cache)
    assert dataset.participants == ["F02", "M02"] and io_setup.leftovers(cache) == []
    np.testing.assert_array_equal(dataset.audio("F02", S18), GOOD_AUDIO[S18] * np.float32(0.5))
    for layer, per_file in m02.items():
        for name, frames in per_file.items():
            np.testing.assert_array_equal(dataset.hidden_state("M02", layer, name), frames)
    manifest = json.loads((cache / MANIFEST).read_bytes())
    (cache / MANIFEST).write_text(json.dumps({**manifest, "hidden_states": "other"}))
    before = _files(cache)
    assert _from(cache, second) == 2  # M02's hidden states are of another kind: refused
    assert "also holds M02 (other)" in _one_paragraph(capsys.readouterr().err)
    assert _files(cache) == before


@pytest.mark.parametrize(
    ("case", "said"),
    [("EIO", "/M02/recordings.csv (I/O error); nothing was changed. Retry in a moment"),
     ("damaged", "also holds M02, which cannot be kept (cache-"),
     ("other layers", "(F02: [0, 1, 2]; kept M02: [0, 1]): add M02's originals to --from-dir")],
    ids=["EIO", "damaged", "other layers"],
)  # fmt: skip
def test_a_kept_participant_that_cannot_be_kept_now_is_named_and_nothing_changes(
    tmp_path, first, second, capsys, monkeypatch, case, said
):  # items 2, 3: M02 was dropped (exit 0, no word), or refused without its name
    cache = tmp_path / "cache"
    assert _from(cache, io_setup.write_m02(first)) == 0
    if case == "EIO":  # a Drive/FUSE mount failing on M02's files for a moment
        real, eio = cli.pooch.file_hash, mock.Mock(side_effect=OSError(errno.EIO, "I/O error"))
        flaky = lambda path, *a: (eio if "/M02/" in str(path) else real)(path, *a)  # noqa: E731
        monkeypatch.setattr(cli.pooch, "file_hash", flaky)
    elif case == "damaged":
        ema = next(cache.glob("cache-*/M02/ema.csv"))
        ema.write_bytes(ema.read_bytes().replace(b"-", b"+", 1))
    else:  # F02's frame states with a third layer
        frames = {layer: {n: real_format.expected_frames(layer, i, t) for i, (n, t)
                  in enumerate(io_setup.F02_FRAMES.items())} for layer in range(3)}  # fmt: skip
        (second / "frame_states_p1_test.pkl").write_bytes(hostile.frame_states(frames))
    before = _files(cache)
    assert _from(cache, second) == 2
    assert said in _one_paragraph(capsys.readouterr().err)
    assert _files(cache) == before


@pytest.mark.parametrize("case", ["text", "list", "torn", "missing"])
def test_a_manifest_is_ours_if_it_says_so_or_sits_beside_our_generations(
    tmp_path, first, second, capsys, case
):  # item 7: text or a list (someone else's) was overwritten; 2: reported missing, swept
    cache, content = tmp_path / "cache", {"text": b"CACHE MANIFEST\n", "list": b'[{"a": 1}]'}
    if case in content:
        cache.mkdir()
        (cache / MANIFEST).write_bytes(content[case])
        assert _from(cache, first) == 2
        assert "not this tutorial's" in _one_paragraph(capsys.readouterr().err)
        assert _files(cache) == {cache / MANIFEST: content[case]}
        return
    assert _from(cache, first) == 0
    old = next(cache.glob("cache-*"))
    (cache / MANIFEST).write_bytes(b"[1, 2") if case == "torn" else (cache / MANIFEST).unlink()
    assert _from(cache, second) == 0
    assert old.exists() == (case == "missing")  # (a Drive mount may report it missing)


@pytest.mark.parametrize("case", ["--data-dir", "TUTORIAL_DATA_DIR", "--from-dir", "a file"])
def test_a_blank_folder_or_a_file_as_data_folder_is_refused(
    tmp_path, first, monkeypatch, capsys, case
):  # items 7, 9: ' ' was written into and recorded; a file: "Retry in a moment"
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("mine")
    argv = ["--frame-states", "--quiet", "--from-dir", str(first)]
    if case == "TUTORIAL_DATA_DIR":
        monkeypatch.setenv(case, " ")
    argv += {"a file": ["--data-dir", "notes.txt"], "TUTORIAL_DATA_DIR": []}.get(case, [case, " "])
    before = _files(tmp_path)
    assert main(argv) == 2
    said = "is a file, not a folder" if case == "a file" else "not '' (the current one) or spaces"
    assert said in _one_paragraph(capsys.readouterr().err)
    assert _files(tmp_path) == before


def test_ctrl_c_after_the_switch_says_the_new_cache_is_in_place(
    tmp_path, first, second, monkeypatch, capsys
):  # item 8: it said "unchanged" (removing the old generation is slow on Drive)
    cache = tmp_path / "cache"
    assert _from(cache, first) == 0
    monkeypatch.setattr(shutil, "rmtree", mock.Mock(side_effect=KeyboardInterrupt))
    assert _from(cache, second) == 130
    said = f"{cli.cache.COMMAND}: interrupted; the new cache in {cache} is complete and in place."
    assert capsys.readouterr().err == said + "\n"
    np.testing.assert_array_equal(_cached_audio(cache), GOOD_AUDIO[S18] * np.float32(0.5))


# -- one conversion per folder ------------------------------------------------------------------


def test_a_second_conversion_waits_then_stops_with_a_clear_message(
    tmp_path, first, monkeypatch, capsys
):
    monkeypatch.setattr(cli, "LOCK_WAIT_S", 0.2)
    cache = tmp_path / "cache"
    cache.mkdir()
    with FileLock(cache / ".lock"):
        assert _from(cache, first) == 2
    assert "Another conversion is writing the cache" in _one_paragraph(capsys.readouterr().err)
    assert not (cache / "manifest.json").exists() and not list(cache.glob("cache-*"))


def test_concurrent_conversions_never_mix(tmp_path, first, second):
    cache = tmp_path / "cache"
    commands = [
        ["-m", "tutorial_utils.io", "--frame-states", "--quiet", "--data-dir", str(cache),
         "--from-dir", str(folder)] for folder in (first, second)
    ]  # fmt: skip
    runs = [
        subprocess.Popen([sys.executable, *c], env={**os.environ, "PYTHONPATH": ROOT})
        for c in commands
    ]
    assert [r.wait(timeout=120) for r in runs] == [0, 0]
    dataset = load_dataset("real", cache)
    gains = {float(dataset.audio("F02", n)[0] / GOOD_AUDIO[n][0]) for n in GOOD_AUDIO}
    assert gains in ({1.0}, {0.5})  # every recording from one and the same run
    assert io_setup.leftovers(cache) == []


@pytest.mark.parametrize(("name", "content", "reason"), [
    (A, b"", "empty (0 bytes)"), (A, b"<!DOCTYPE html><html>Quota exceeded</html>", "HTML page"),
    (A, None, "truncated"), (A, b"\x80\x040.", "it is damaged, or not a file of this kind"),
    (F, b"PK\x03\x04 not a zip", "it is damaged"), (F, hostile.nested_load_from_bytes(), "nested"),
    (F, hostile.stride_zero_bomb(), "4 x its size"),
    ("ema_labels_F02.csv", b"FILENAME,SENTENCE\nx,y\n", "of exactly"),
], ids="empty html truncated damaged bad-zip nested bomb csv-columns".split())  # fmt: skip
def test_bad_originals_give_one_paragraph_and_exit_2(
    tmp_path, first, capsys, name, content, reason
):
    path = first / name
    path.write_bytes(content if content is not None else path.read_bytes()[:-40])
    assert _from(tmp_path / "cache", first) == 2
    err = _one_paragraph(capsys.readouterr().err)
    assert name in err and reason in err and "Replace it with a good copy" in err
    assert path.exists()  # the user's own files are never deleted
    assert not (tmp_path / "cache" / "manifest.json").exists()


@pytest.mark.parametrize("participant", ["../OUTSIDE", "a/b", "*", ".."])
def test_participants_with_path_or_glob_characters_write_nothing(
    tmp_path, first, capsys, participant
):
    before = sorted(tmp_path.rglob("*"))
    assert _from(tmp_path / "data" / "cache", first, "--participants", participant) == 2
    assert "not a participant id" in _one_paragraph(capsys.readouterr().err)
    assert sorted(tmp_path.rglob("*")) == before


@pytest.mark.parametrize("filename", ["", "F02\x00S18", "../S18", 7])
def test_filenames_a_cache_cannot_keep(tmp_path, first, capsys, filename):
    table = pd.read_pickle(first / "ema_audio_F02.pkl")
    extra = {"FILENAME": filename, "SENTENCE": "No EMA, no states.", "AUDIO": np.zeros(800, "f4")}
    pd.concat([table, pd.DataFrame([extra])], ignore_index=True).to_pickle(
        first / "ema_audio_F02.pkl"
    )
    assert _from(tmp_path / "cache", first) == 2
    assert "FILENAME values" in _one_paragraph(capsys.readouterr().err)


def test_bad_values_are_refused(tmp_path, first, capsys):
    labels = first / "ema_labels_F02.csv"
    good = labels.read_text()
    labels.write_text(good.replace("-50.0", "nan", 1))
    assert _from(tmp_path / "cache", first) == 2
    assert "missing or non-numeric values" in _one_paragraph(capsys.readouterr().err)
    labels.write_text(good)
    table = pd.read_pickle(first / "ema_audio_F02.pkl")
    table["AUDIO"] = [np.round(a * 30000).astype(np.int16) for a in table["AUDIO"]]
    table.to_pickle(first / "ema_audio_F02.pkl")
    assert _from(tmp_path / "cache", first) == 2
    assert f"the audio of {S18} is int16 (1100,); expected 1-D floats" in _one_paragraph(
        capsys.readouterr().err
    )


# -- the real formats, round trip ---------------------------------------------------------------


def test_real_format_round_trip_and_nothing_to_do_the_second_time(
    tmp_path, first, monkeypatch, capsys
):
    monkeypatch.delenv("TUTORIAL_DATA_DIR", raising=False)
    io_setup.write_m02(first)
    cache = tmp_path / "cache"
    outside = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*")}
    assert _from(cache, first) == 0
    assert {
        p: p.stat().st_mtime_ns for p in tmp_path.rglob("*") if cache not in (p, *p.parents)
    } == outside  # nothing written outside the data folder
    stamps = {p: p.stat().st_mtime_ns for p in cache.rglob("*") if p.is_file()}
    assert main(["--frame-states", "--data-dir", str(cache), "--from-dir", str(first)]) == 0
    assert "nothing to do" in capsys.readouterr().err
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps
    ds = load_dataset()  # found through the command's record
    assert ds.source == "real" and ds.participants == ["F02", "M02"] and ds.layers == [0, 1]
    for name, audio in GOOD_AUDIO.items():
        np.testing.assert_array_equal(ds.audio("F02", name), audio)
    for index, (name, n) in enumerate(io_setup.F02_FRAMES.items()):
        expected = real_format.expected_frames(1, index, n)
        np.testing.assert_array_equal(ds.hidden_state("F02", 1, name), expected)
    for layer, per_file in io_setup.m02_states().items():
        for name, frames in per_file.items():
            np.testing.assert_array_equal(ds.hidden_state("M02", layer, name), frames)
    ema = pd.read_csv(first / "ema_labels_F02.csv")
    np.testing.assert_array_equal(ds.ema("F02")["TR_X"], ema["TR_X"])
    assert ds.shared_sentences("F02", "M02").SENTENCE_ID.tolist() == ["B01_S18"]
    assert not list(cache.rglob("*.pkl"))
