"""Where a conversion's original files come from, and what happens to a bad one.

From ``--from-dir`` the files are found on disk and hashed. From Google Drive they are fetched
into ``<data_dir>/downloads/`` (:mod:`tutorial_utils.io.download`), and their records
(``{name: {"sha256", "size", "drive_id"}}``) are kept in ``downloads/downloads.json`` so that a
rerun resumes instead of fetching again; a file whose name is in
:data:`~tutorial_utils.io.originals.KNOWN_SHA256` must hash to that value.

A downloaded file that turns out bad (wrong pinned hash, or it fails to parse) is deleted and
its record dropped, so the next run fetches it afresh instead of trusting it again. Files in
``--from-dir`` belong to the user and are never deleted.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, NoReturn

from .download import (
    DOWNLOADS_DIR,
    DRIVE_FOLDER_ID,
    DRIVE_SUBFOLDER,
    DownloadFailed,
    _good_download,
    fetch_from_drive,
    find_local,
    source_names,
)
from .files import file_record, write_json
from .manifest import read_manifest
from .originals import BadOriginal, check_known_hash
from .transaction import DOWNLOADS_RECORDS


def records_path(data_dir: Path) -> Path:
    """``<data_dir>/downloads/downloads.json``."""
    return Path(data_dir) / DOWNLOADS_DIR / DOWNLOADS_RECORDS


def download_records(data_dir: Path) -> dict[str, dict[str, Any]]:
    """Records of the files downloaded so far (also read from manifests of older versions)."""
    try:
        stored = json.loads(records_path(data_dir).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        stored = {}
    older = (read_manifest(data_dir) or {}).get("downloads")
    records = {}
    for source in (older, stored):
        if isinstance(source, dict):
            records.update({n: r for n, r in source.items() if isinstance(r, dict)})
    return {n: r for n, r in records.items() if "drive_id" in r}


def save_download_records(data_dir: Path, records: dict[str, dict[str, Any]]) -> None:
    """Keep the download records for the next run (atomically)."""
    if records or records_path(data_dir).exists():
        write_json(records_path(data_dir), records)


def names_for(participants: list[str], frame_states: bool) -> list[str]:
    """Original file names needed for ``participants``."""
    return [name for p in participants for name in source_names(p, frame_states)]


def local_sources(from_dir: Path, participants: list[str], frame_states: bool) -> tuple:
    """``(sources, records)`` of the originals in ``from_dir`` (hashed now)."""
    sources = find_local(names_for(participants, frame_states), from_dir)
    records = {n: {**file_record(path), "path": str(path)} for n, path in sources.items()}
    return sources, records


def drive_sources(
    data_dir: Path, participants: list[str], frame_states: bool, *, explicit: bool, quiet: bool
) -> tuple:
    """``(participants, sources, records)`` after fetching what is not downloaded yet."""
    records = download_records(data_dir)
    try:
        wanted, sources = fetch_from_drive(
            participants,
            frame_states,
            Path(data_dir) / DOWNLOADS_DIR,
            records,
            drop_missing=not explicit,
            quiet=quiet,
        )
    finally:
        save_download_records(data_dir, records)
    return wanted, sources, {n: records[n] for n in sources}


def downloads_are_good(data_dir: Path, names: list[str]) -> dict[str, dict[str, Any]] | None:
    """The records of ``names`` if every one is downloaded and intact, else None."""
    records = download_records(data_dir)
    folder = Path(data_dir) / DOWNLOADS_DIR
    if all(_good_download(folder / n, records.get(n)) for n in names):
        return {n: records[n] for n in names}
    return None


def check_pinned(data_dir: Path, sources: dict[str, Path], records: dict, downloaded: bool) -> None:
    """Refuse (see :func:`reject`) any source whose sha256 is pinned to another value."""
    for name, path in sources.items():
        try:
            check_known_hash(name, path, records[name]["sha256"])
        except BadOriginal as err:
            reject(data_dir, err, downloaded)


def reject(data_dir: Path, err: BadOriginal, downloaded: bool) -> NoReturn:
    """Stop with ``err``'s message and advice; a bad download is deleted first."""
    if downloaded:
        err.path.unlink(missing_ok=True)
        records = download_records(data_dir)
        records.pop(err.path.name, None)
        save_download_records(data_dir, records)
        advice = (
            "The download was deleted, so the next run fetches it again. If that fails the "
            "same way, Google Drive is not sending the file itself: download the folder "
            f"'{DRIVE_SUBFOLDER}' by hand from "
            f"https://drive.google.com/drive/folders/{DRIVE_FOLDER_ID} and use --from-dir."
        )
    else:
        advice = (
            f"Replace it with a good copy (e.g. download the folder '{DRIVE_SUBFOLDER}' again) "
            "and run the command again."
        )
    raise DownloadFailed(f"{err} {advice}") from err
