"""The conversion on the command line, tried as a hostile or unlucky user would (issue 11).

Items 1 (a conversion is a transaction), 2 (one conversion at a time, hashes of the bytes
written), 4 (bad originals: one paragraph, exit 2), 5 (a bad download is never trusted),
6 (names), 7 (values) and 9 (read-only cache). Every input is written in the real formats.
"""

import hashlib
import importlib.util
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from tutorial_utils import load_dataset
from tutorial_utils.io import files as io_files
from tutorial_utils.io import lock, originals
from tutorial_utils.io.cli import main

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("io_setup", ROOT / "tests/fixtures/io_setup.py")
io_setup = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(io_setup)
real_format, hostile = io_setup.real_format, io_setup.hostile
S18, S33 = io_setup.S18, io_setup.S33
GOOD_AUDIO = {n: real_format.tiny_audio(n, k) for n, k in real_format.TINY_AUDIO_LENGTHS.items()}


@pytest.fixture
def first(tmp_path):
    """F02's originals, as in the Drive's ema_probing_data/."""
    return io_setup.write_f02(tmp_path / "first" / "ema_probing_data")


@pytest.fixture
def second(tmp_path):
    """Different originals of the same recordings: other audio values, same file sizes."""
    return io_setup.write_f02(tmp_path / "second", gain=0.5)


def _run(cache, *extra):
    return main(["--frame-states", "--data-dir", str(cache), "--quiet", *extra])


def _from(cache, folder, *extra):
    return _run(cache, "--from-dir", str(folder), *extra)


def _cached_audio(cache, name=S18):
    return load_dataset("real", cache, verify_hashes=True).audio("F02", name)


def _one_paragraph(err):
    assert "Traceback" not in err and err.strip(), err
    return " ".join(err.split())


# -- item 1: a conversion is a transaction ------------------------------------------------------


def test_disk_full_during_a_reconversion_keeps_the_old_cache(
    tmp_path, first, second, monkeypatch, capsys
):
    cache = tmp_path / "cache"
    assert _from(cache, first) == 0
    real_write = io_files._write_chunk

    def disk_full(target, handle, data):
        if target.name == "hidden_states.npz":  # audio, csv and EMA are already written
            raise OSError(28, "No space left on device")
        real_write(target, handle, data)

    monkeypatch.setattr(io_files, "_write_chunk", disk_full)
    assert _from(cache, second) == 2
    err = _one_paragraph(capsys.readouterr().err)
    assert "No space left on device" in err and "previous cache is unchanged" in err
    np.testing.assert_array_equal(_cached_audio(cache), GOOD_AUDIO[S18])  # not run 2's audio
    np.testing.assert_array_equal(load_dataset("auto", cache).audio("F02", S18), GOOD_AUDIO[S18])
    assert io_setup.leftovers(cache) == []
    monkeypatch.setattr(io_files, "_write_chunk", real_write)
    assert _from(cache, second) == 0
    np.testing.assert_array_equal(_cached_audio(cache), GOOD_AUDIO[S18] * np.float32(0.5))


KILL_DURING_STATES = """
import os, signal, sys
from tutorial_utils.io import files
real = files._write_chunk
def killed(target, handle, data):
    if target.name == "hidden_states.npz":
        real(target, handle, data[: len(data) // 2])
        handle.flush()
        os.kill(os.getpid(), signal.SIGKILL)
    real(target, handle, data)
files._write_chunk = killed
from tutorial_utils.io.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _environment():
    """This checkout first on the path of a child Python."""
    paths = [str(ROOT), os.environ.get("PYTHONPATH", "")]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}


def _python(*args, **kwargs):
    command = [sys.executable, *args]
    return subprocess.run(command, capture_output=True, text=True, env=_environment(), **kwargs)


def test_kill_9_during_a_reconversion_keeps_the_old_cache(tmp_path, first, second):
    cache = tmp_path / "cache"
    assert _from(cache, first) == 0
    manifest = (cache / "manifest.json").read_bytes()
    args = ["--frame-states", "--quiet", "--data-dir", str(cache), "--from-dir", str(second)]
    result = _python("-c", KILL_DURING_STATES, *args, timeout=120)
    assert result.returncode == -signal.SIGKILL
    assert (cache / "manifest.json").read_bytes() == manifest
    np.testing.assert_array_equal(_cached_audio(cache), GOOD_AUDIO[S18])
    assert io_setup.leftovers(cache)  # the half-built generation and its temporary file
    assert _from(cache, first) == 0  # nothing to convert: it only cleans up
    assert io_setup.leftovers(cache) == []
    assert (cache / "manifest.json").read_bytes() == manifest


def test_a_failing_second_participant_keeps_the_old_cache(tmp_path, first, second, capsys):
    io_setup.write_m02(first)
    io_setup.write_m02(second)
    cache = tmp_path / "cache"
    assert _from(cache, first) == 0
    assert load_dataset("real", cache).participants == ["F02", "M02"]
    states = second / "frame_states_p2_test.pkl"
    states.write_bytes(states.read_bytes()[:-50])  # F02 converts, then M02 fails
    assert _from(cache, second) == 2
    assert "frame_states_p2_test.pkl" in _one_paragraph(capsys.readouterr().err)
    np.testing.assert_array_equal(_cached_audio(cache), GOOD_AUDIO[S18])
    assert io_setup.leftovers(cache) == []


# -- item 2: one conversion at a time; hashes of the bytes written ------------------------------


def test_a_second_conversion_stops_with_a_clear_message(tmp_path, first, monkeypatch, capsys):
    monkeypatch.setattr(lock, "LOCK_WAIT_S", 0.2)
    cache = tmp_path / "cache"
    with lock.cache_lock(cache):
        assert _from(cache, first) == 2
    err = _one_paragraph(capsys.readouterr().err)
    assert f"Another conversion (process {os.getpid()}) is writing the cache" in err
    assert not (cache / "manifest.json").exists() and not list(cache.glob("gen-*"))


def test_a_second_conversion_waits_for_the_first(tmp_path, first):
    cache = tmp_path / "cache"
    held = threading.Event()

    def hold_briefly():
        with lock.cache_lock(cache):
            held.set()
            time.sleep(0.5)

    thread = threading.Thread(target=hold_briefly)
    thread.start()
    held.wait()
    start = time.monotonic()
    assert _from(cache, first) == 0
    assert time.monotonic() - start >= 0.4
    thread.join()


def test_concurrent_conversions_never_mix(tmp_path, first, second):
    cache = tmp_path / "cache"
    commands = [
        ["-m", "tutorial_utils.io", "--frame-states", "--quiet", "--data-dir", str(cache)]
        + ["--from-dir", str(folder)]
        for folder in (first, second)
    ]
    runs = [subprocess.Popen([sys.executable, *c], env=_environment()) for c in commands]
    assert [r.wait(timeout=120) for r in runs] == [0, 0]
    dataset = load_dataset("real", cache, verify_hashes=True)
    gains = {float(dataset.audio("F02", n)[0] / GOOD_AUDIO[n][0]) for n in GOOD_AUDIO}
    assert gains in ({1.0}, {0.5})  # every recording from one and the same run
    assert io_setup.leftovers(cache) == []


def test_recorded_hash_is_of_the_bytes_written(tmp_path, monkeypatch):
    real_replace = os.replace

    def replace_then_overwritten(src, dst):
        real_replace(src, dst)
        Path(dst).write_bytes(b"Y" * 10)  # another writer wins the race for the path

    monkeypatch.setattr(os, "replace", replace_then_overwritten)
    record = io_files.write_text(tmp_path / "x.csv", "X" * 10)
    assert record == {"sha256": hashlib.sha256(b"X" * 10).hexdigest(), "size": 10}
    assert io_files.sha256_file(tmp_path / "x.csv") != record["sha256"]  # so verify catches it


# -- item 4: bad originals ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("ema_audio_F02.pkl", b"", "empty (0 bytes)"),
        ("ema_audio_F02.pkl", b"<!DOCTYPE html><html>Quota exceeded</html>", "HTML page"),
        ("ema_audio_F02.pkl", None, "truncated"),
        ("frame_states_p1_test.pkl", b"PK\x03\x04 not a zip", "damaged zip archive"),
        ("frame_states_p1_test.pkl", hostile.nested_load_from_bytes(), "nested"),
        ("frame_states_p1_test.pkl", hostile.frame_states({0: [np.ones((3, 4))]}), "a list"),
        ("frame_states_p1_test.pkl", hostile.stride_zero_bomb(), "4 x its size"),
        ("ema_labels_F02.csv", b"FILENAME,SENTENCE\nx,y\n", "expected exactly"),
    ],
    ids=["empty", "html", "truncated", "bad-zip", "nested", "list", "bomb", "csv-columns"],
)
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


def test_bad_original_through_python_dash_m(tmp_path, first):
    (first / "ema_audio_F02.pkl").write_bytes(b"<html><body>Sorry</body></html>")
    args = ["--frame-states", "--data-dir", str(tmp_path / "cache"), "--from-dir", str(first)]
    result = _python("-m", "tutorial_utils.io", *args, timeout=120)
    assert result.returncode == 2
    err = _one_paragraph(result.stderr)
    assert "ema_audio_F02.pkl" in err and "HTML page" in err


# -- item 5: a bad download is never trusted ----------------------------------------------------


def test_a_download_that_fails_to_parse_is_discarded_and_fetched_again(
    tmp_path, first, monkeypatch, capsys
):
    drive = io_setup.FakeDrive(first).install(monkeypatch)
    drive.serve["ema_audio_F02.pkl"] = b"<!DOCTYPE html><html>Virus scan warning</html>"
    cache = tmp_path / "cache"
    assert _run(cache) == 2
    err = _one_paragraph(capsys.readouterr().err)
    assert "HTML page" in err and "The download was deleted" in err
    assert not (cache / "downloads" / "ema_audio_F02.pkl").exists()
    records = json.loads((cache / "downloads" / "downloads.json").read_text())
    assert "ema_audio_F02.pkl" not in records and "ema_labels_F02.csv" in records
    del drive.serve["ema_audio_F02.pkl"]
    assert _run(cache) == 0  # fetched again, not trusted from the broken record
    assert drive.downloads.count("ema_audio_F02.pkl") == 2
    assert drive.downloads.count("ema_labels_F02.csv") == 1
    np.testing.assert_array_equal(_cached_audio(cache), GOOD_AUDIO[S18])


def test_pinned_hashes_are_checked(tmp_path, first, monkeypatch, capsys):
    drive = io_setup.FakeDrive(first).install(monkeypatch)
    labels = first / "ema_labels_F02.csv"
    good = io_files.sha256_file(labels)
    monkeypatch.setitem(originals.KNOWN_SHA256, "ema_labels_F02.csv", "0" * 64)
    cache = tmp_path / "cache"
    assert _run(cache) == 2
    err = _one_paragraph(capsys.readouterr().err)
    assert f"its sha256 is {good}" in err and "deleted" in err
    assert not (cache / "downloads" / "ema_labels_F02.csv").exists()
    assert _from(tmp_path / "other", first) == 2  # --from-dir: refused, but not deleted
    assert labels.exists()
    monkeypatch.setitem(originals.KNOWN_SHA256, "ema_labels_F02.csv", good)
    assert _run(cache) == 0
    assert drive.downloads.count("ema_labels_F02.csv") == 2


# -- item 6: names ------------------------------------------------------------------------------


@pytest.mark.parametrize("participant", ["../OUTSIDE", "a/b", "*", "F0?", "..", "[F]"])
def test_participants_with_path_or_glob_characters(tmp_path, first, capsys, participant):
    cache = tmp_path / "data" / "cache"
    before = sorted(tmp_path.rglob("*"))
    assert _from(cache, first, "--participants", participant) == 2
    assert "not a participant id" in _one_paragraph(capsys.readouterr().err)
    assert sorted(tmp_path.rglob("*")) == before  # nothing written anywhere


@pytest.mark.parametrize("filename", ["NA", "null", "", "F02\x00S18", 7, b"F02.mat"])
def test_filenames_a_cache_cannot_keep(tmp_path, first, capsys, filename):
    import pandas as pd

    table = pd.read_pickle(first / "ema_audio_F02.pkl")
    extra = {"FILENAME": filename, "SENTENCE": "No EMA, no states.", "AUDIO": np.zeros(800, "f4")}
    table = pd.concat([table, pd.DataFrame([extra])], ignore_index=True)
    table.to_pickle(first / "ema_audio_F02.pkl")  # earlier: a "complete" cache that never loads
    cache = tmp_path / "cache"
    assert _from(cache, first) == 2
    assert "FILENAME values" in _one_paragraph(capsys.readouterr().err)
    assert not (cache / "manifest.json").exists()


@pytest.mark.parametrize("participant", ["*", ".."])
def test_participants_that_are_globs_or_parents_write_nothing(
    tmp_path, first, monkeypatch, capsys, participant
):
    """Earlier, '*' matched F02's files and wrote a folder named '*'; '..' (with files named
    ema_audio_...pkl) wrote audio.npz above the cache directory."""
    pytest.importorskip("torch", reason="the extraction path needs the extract extra")
    pytest.importorskip("transformers", reason="the extraction path needs the extract extra")
    from tutorial_utils.io import extract

    monkeypatch.setattr(extract, "load_model", lambda name: real_format.tiny_model(layers=1))
    for kind, suffix in (("audio", "pkl"), ("labels", "csv")):
        source = first / f"ema_{kind}_F02.{suffix}"
        (first / f"ema_{kind}_{participant}.{suffix}").write_bytes(source.read_bytes())
    cache = tmp_path / "data" / "cache"
    args = ["--data-dir", str(cache), "--from-dir", str(first), "--model", "tiny/random"]
    assert main([*args, "--quiet", "--participants", participant]) == 2
    assert "not a participant id" in _one_paragraph(capsys.readouterr().err)
    assert not (tmp_path / "data").exists()


# -- item 7: values -----------------------------------------------------------------------------


def test_int16_audio_is_converted_with_a_warning(tmp_path, first, capsys):
    import pandas as pd

    table = pd.read_pickle(first / "ema_audio_F02.pkl")
    table["AUDIO"] = [np.round(a * 30000).astype(np.int16) for a in table["AUDIO"]]
    table.to_pickle(first / "ema_audio_F02.pkl")
    cache = tmp_path / "cache"
    assert _from(cache, first) == 0
    err = capsys.readouterr().err
    assert f"warning: ema_audio_F02.pkl: {S18}: int16 PCM audio divided by 32768" in err
    expected = np.round(GOOD_AUDIO[S18] * 30000).astype(np.int16) / np.float32(32768)
    np.testing.assert_allclose(_cached_audio(cache), expected, rtol=1e-6)


def test_audio_shorter_than_one_frame_on_the_extraction_path(tmp_path, first, monkeypatch, capsys):
    pytest.importorskip("torch", reason="re-extraction needs the extract extra")
    pytest.importorskip("transformers", reason="re-extraction needs the extract extra")
    from tutorial_utils.io import extract

    monkeypatch.setattr(extract, "load_model", lambda name: real_format.tiny_model(layers=1))
    real_format.write_ema_audio(first / "ema_audio_F02.pkl", {S18: 1100, S33: 399})
    real_format.write_ema_labels(first / "ema_labels_F02.csv", {S18: 3})
    args = ["--data-dir", str(tmp_path / "cache"), "--from-dir", str(first), "--quiet"]
    assert main([*args, "--model", "tiny/random"]) == 2
    err = _one_paragraph(capsys.readouterr().err)
    assert f"{S33}: the audio has 399 samples, fewer than one model frame" in err


# -- item 9: a complete cache on a read-only filesystem -----------------------------------------


def test_read_only_complete_cache_has_nothing_to_do(tmp_path, first, monkeypatch, capsys):
    cache = tmp_path / "cache"
    assert _from(cache, first) == 0
    stamps = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in cache.rglob("*") if p.is_file()}
    capsys.readouterr()
    io_setup.read_only_disk(monkeypatch)
    assert main(["--frame-states", "--data-dir", str(cache), "--from-dir", str(first)]) == 0
    assert "nothing to do" in capsys.readouterr().err
    monkeypatch.undo()
    assert {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in stamps} == stamps


# -- caches written before generations ----------------------------------------------------------


def test_a_cache_without_generations_is_read_then_replaced(tmp_path, first, second):
    cache = tmp_path / "cache"
    assert _from(cache, first) == 0
    manifest = json.loads((cache / "manifest.json").read_text())
    generation = manifest.pop("generation")
    (cache / generation / "F02").rename(cache / "F02")  # the layout of earlier versions
    (cache / generation).rmdir()
    manifest["files"] = {k.removeprefix(f"{generation}/"): v for k, v in manifest["files"].items()}
    (cache / "manifest.json").write_text(json.dumps(manifest))
    assert _from(cache, first) == 0  # still complete and verified: nothing to do
    assert not list(cache.glob("gen-*"))
    np.testing.assert_array_equal(_cached_audio(cache), GOOD_AUDIO[S18])
    assert _from(cache, second) == 0  # a new generation replaces the flat files
    assert not (cache / "F02").exists() and len(list(cache.glob("gen-*"))) == 1
    np.testing.assert_array_equal(_cached_audio(cache), GOOD_AUDIO[S18] * np.float32(0.5))


def test_unchanged_participants_are_carried_over(tmp_path, first, capsys):
    io_setup.write_m02(first)
    cache = tmp_path / "cache"
    assert _from(cache, first) == 0
    f02_audio = next(cache.glob("gen-*/F02/audio.npz"))
    inode = f02_audio.stat().st_ino
    labels = first / "ema_labels_M02.csv"
    labels.write_text(labels.read_text().replace("-50.0", "-50.5"))  # only M02's input changes
    capsys.readouterr()
    assert main(["--frame-states", "--data-dir", str(cache), "--from-dir", str(first)]) == 0
    err = capsys.readouterr().err
    assert "F02: cache verified, carried over." in err and "Converting M02" in err
    assert not f02_audio.exists()  # the old generation is gone ...
    assert next(cache.glob("gen-*/F02/audio.npz")).stat().st_ino == inode  # ... its file linked
    dataset = load_dataset("real", cache, verify_hashes=True)
    assert dataset.ema("M02")["TR_X"].iloc[0] == -50.5
    assert io_setup.leftovers(cache) == []


def test_read_only_mount_has_nothing_to_do(tmp_path, first):
    """The same on a real read-only bind mount, where a user namespace allows one."""
    if shutil.which("unshare") is None:
        pytest.skip("needs unshare (util-linux) for a read-only bind mount")
    cache = tmp_path / "cache"
    assert _from(cache, first) == 0
    c, probe, python, originals = map(
        shlex.quote, (str(cache), f"{cache}/probe", sys.executable, str(first))
    )
    script = (
        f"mount --bind {c} {c} && mount -o remount,bind,ro {c} && ! touch {probe} 2>/dev/null "
        f"&& exec {python} -m tutorial_utils.io --frame-states --data-dir {c} "
        f"--from-dir {originals}"
    )
    result = subprocess.run(
        ["unshare", "-rm", "sh", "-c", script], capture_output=True, text=True, env=_environment()
    )
    if "nothing to do" not in result.stderr and result.returncode != 0:
        if "Operation not permitted" in result.stderr or "unshare" in result.stderr:
            pytest.skip(f"no read-only mount here: {result.stderr.strip()[:200]}")
    assert result.returncode == 0, result.stderr
    assert "nothing to do" in result.stderr
