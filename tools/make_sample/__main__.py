"""Command line: ``python -m tools.make_sample [--out-dir DIR] [--keep-work]``.

Synthesises every recording of every speaker, writes its FLAC file, then the tables and the
manifest (see the package docstring for the pipeline and the outputs).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from ._package import SAMPLE_DIR, SAMPLE_RATE, n_model_frames
from .corpus import SENTENCES, SPEAKERS, Speaker, recording_filename
from .ema import ema_table, incisor_origin
from .phones import phone_rows
from .score import Signature
from .vtl import probe_all, synthesise
from .write import atomic_write_bytes, flac_bytes, remove_stale_audio, write_tables


def make_recording(
    speaker: Speaker,
    speaker_index: int,
    sentence_id: str,
    signatures: dict[str, Signature],
    work: Path,
    out_dir: Path,
    origin: np.ndarray,
) -> tuple[dict, pd.DataFrame, list[dict]]:
    """Synthesise one recording, write its FLAC file and return its table rows.

    Parameters
    ----------
    speaker : Speaker
        Speaker settings.
    speaker_index : int
        Seeds the duration jitter.
    sentence_id : str
        Key of :data:`tools.make_sample.corpus.SENTENCES`.
    signatures : dict
        Output of :func:`tools.make_sample.vtl.probe_all`.
    work : Path
        Scratch directory.
    out_dir : Path
        Sample folder.
    origin : numpy.ndarray
        Upper incisor edge of this speaker (cm).

    Returns
    -------
    record : dict
        ``recordings.csv`` row plus manifest extras.
    ema : pandas.DataFrame
        EMA rows of the recording.
    phones : list of dict
        Phone rows of the recording.
    """
    started = time.perf_counter()
    result = synthesise(speaker, speaker_index, sentence_id, signatures, work)
    filename = recording_filename(speaker.participant, sentence_id)
    audio_name = filename.replace(".mat", ".flac")
    atomic_write_bytes(out_dir / audio_name, flac_bytes(result["audio"]))
    n = len(result["audio"])
    n_frames = n_model_frames(n)
    ema = ema_table(filename, SENTENCES[sentence_id][0], result["states"], n_frames, origin)
    rms = float(np.sqrt(np.mean((result["audio"] / 32768.0) ** 2)))
    record = {
        "PARTICIPANT": speaker.participant,
        "FILENAME": filename,
        "SENTENCE": SENTENCES[sentence_id][0],
        "AUDIO_FILE": audio_name,
        "N_SAMPLES": n,
        "SAMPLE_RATE": SAMPLE_RATE,
        "duration_s": n / SAMPLE_RATE,
        "n_ema_frames": n_frames,
        "gain": round(result["gain"], 6),
        "rms": round(rms, 6),
    }
    print(
        f"{filename}: {n / SAMPLE_RATE:.2f} s, {n} samples, {n_frames} EMA frames, "
        f"RMS {rms:.3f}, gain {result['gain']:.2f}, made in {time.perf_counter() - started:.1f} s"
    )
    return record, ema, phone_rows(speaker.participant, filename, result["segments"])


def run(out_dir: Path, keep_work: bool) -> None:
    """Synthesise all recordings and write the sample.

    Parameters
    ----------
    out_dir : Path
        Destination folder (created if missing).
    keep_work : bool
        Keep VocalTractLab's intermediate files (their folder is printed).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="make_sample_"))
    signatures = probe_all(work)
    origin = incisor_origin()
    recordings, phones, ema_tables = [], [], {}
    for index, speaker in enumerate(SPEAKERS):
        tables = []
        for sid in speaker.sentence_ids:
            record, ema, rows = make_recording(
                speaker, index, sid, signatures, work, out_dir, origin
            )
            recordings.append(record)
            tables.append(ema)
            phones.extend(rows)
        ema_tables[speaker.participant] = pd.concat(tables, ignore_index=True)
    remove_stale_audio(out_dir, {r["AUDIO_FILE"] for r in recordings})
    write_tables(out_dir, recordings, phones, ema_tables)
    if keep_work:
        print(f"VocalTractLab files kept in {work}")
    else:
        shutil.rmtree(work)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse command-line arguments.

    Parameters
    ----------
    argv : list of str, optional
        Arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    argparse.Namespace
        ``out_dir`` and ``keep_work``.
    """
    parser = argparse.ArgumentParser(
        prog="python -m tools.make_sample",
        description="Regenerate tutorial_utils/data/sample (synthetic VocalTractLab speech, "
        "virtual EMA, phone labels). Needs vocaltractlab-cython (GPL-3, 'sample' extra).",
    )
    parser.add_argument("--out-dir", type=Path, default=SAMPLE_DIR, help="output folder")
    parser.add_argument(
        "--keep-work", action="store_true", help="keep VocalTractLab's intermediate files"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point.

    Parameters
    ----------
    argv : list of str, optional
        Arguments.

    Returns
    -------
    int
        Exit status.
    """
    args = parse_args(argv)
    run(args.out_dir, args.keep_work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
