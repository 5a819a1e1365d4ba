"""Get the tutorial's original files: from its public Google Drive folder, or a local folder.

The Drive folder is listed with gdown (``skip_download=True``), then each file is fetched with
``resume=True`` into ``<data-dir>/downloads/``; ``--from-dir`` finds the same files on disk.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

import gdown

from .cache import DOWNLOAD_HINT
from .files import file_record, sha256_file

DRIVE_FOLDER_ID = "1IYSwALkhkPtdMXmZL7dnTLYP_FMnFn9U"
DRIVE_SUBFOLDER = "ema_probing_data"
PARTICIPANTS = ("F02", "M02")
FRAME_STATES_FILES = {"F02": "frame_states_p1_test.pkl", "M02": "frame_states_p2_test.pkl"}
DOWNLOADS_DIR = "downloads"


class DownloadFailed(Exception):
    """Getting or converting the data failed; the message is meant for the user as is."""


def _gdown_errors() -> tuple[type[BaseException], ...]:
    """What gdown raises when Drive is unreachable or refuses, in every supported version.

    gdown 6 raises ``DownloadError`` (``FileURLRetrievalError`` is a subclass). gdown 5.2 has
    no ``DownloadError``: it raises ``FileURLRetrievalError`` for a refused file,
    ``FolderContentsMaximumLimitError`` for a large folder and ``RuntimeError`` when the folder
    page cannot be parsed. Network failures are ``requests`` exceptions, which are ``OSError``.
    """
    names = ("DownloadError", "FileURLRetrievalError", "FolderContentsMaximumLimitError")
    found = [getattr(gdown.exceptions, name, None) for name in names]
    return (OSError, RuntimeError, *(e for e in found if isinstance(e, type)))


GDOWN_ERRORS = _gdown_errors()
"""Exception types that mean "Drive did not give us the file" (never a bug in this package)."""


def audio_name(participant: str) -> str:
    """Original recordings pickle of a participant."""
    return f"ema_audio_{participant}.pkl"


def labels_name(participant: str) -> str:
    """Original EMA csv of a participant."""
    return f"ema_labels_{participant}.csv"


def source_names(participant: str, frame_states: bool) -> list[str]:
    """Original files needed to convert one participant."""
    names = [audio_name(participant), labels_name(participant)]
    if frame_states:
        if participant not in FRAME_STATES_FILES:
            raise DownloadFailed(
                f"There is no original frame-states file for {participant}; the tutorial has "
                f"them for {', '.join(FRAME_STATES_FILES)} only. Drop --frame-states to "
                "re-extract the features."
            )
        names.append(FRAME_STATES_FILES[participant])
    return names


def _offline_message(what: str, err: BaseException) -> str:
    return (
        f"Could not {what} from the tutorial's Google Drive folder ({type(err).__name__}: "
        f"{err}). You may be offline, or Google Drive may be refusing automated downloads "
        "for a while (quota). Nothing is lost: the notebooks run on the built-in synthetic "
        "sample without any download (load_dataset('sample'), or just load_dataset()). To get "
        "the real data, retry later (finished files are kept and skipped), or download the "
        f"folder '{DRIVE_SUBFOLDER}' by hand from "
        f"https://drive.google.com/drive/folders/{DRIVE_FOLDER_ID} and run "
        f"`{DOWNLOAD_HINT} --from-dir PATH`."
    )


def list_drive_files(folder_id: str = DRIVE_FOLDER_ID) -> dict[str, str]:
    """Files of the Drive folder's ``ema_probing_data/`` subfolder as ``{name: file_id}``."""
    try:
        with tempfile.TemporaryDirectory() as scratch:
            entries = gdown.download_folder(
                id=folder_id, output=scratch, quiet=True, skip_download=True, use_cookies=False
            )
    except GDOWN_ERRORS as err:
        raise DownloadFailed(_offline_message("list the files", err)) from err
    if entries is None:  # gdown 5.2 returns None instead of raising when the listing fails
        raise DownloadFailed(
            _offline_message("list the files", RuntimeError("gdown returned no listing"))
        )
    files = {}
    for entry in entries:
        parts = Path(str(entry.path)).parts
        if len(parts) >= 2 and parts[-2] == DRIVE_SUBFOLDER:
            files[parts[-1]] = entry.id
    return files


def drive_download(file_id: str, output: Path, quiet: bool = False) -> Path:
    """Download one Drive file with gdown (resumes a partial ``.part`` file)."""
    output.parent.mkdir(parents=True, exist_ok=True)
    try:
        gdown.download(id=file_id, output=str(output), quiet=quiet, resume=True)
    except GDOWN_ERRORS as err:
        raise DownloadFailed(_offline_message(f"download {output.name}", err)) from err
    if not output.is_file():
        raise DownloadFailed(_offline_message(f"download {output.name}", OSError("no file")))
    return output


def _good_download(path: Path, record: dict | None) -> bool:
    """True when ``path`` exists and matches its manifest record (size and sha256)."""
    if record is None or not path.is_file() or path.stat().st_size != record.get("size"):
        return False
    return sha256_file(path) == record.get("sha256")


def fetch_from_drive(
    participants: Sequence[str],
    frame_states: bool,
    downloads: Path,
    records: dict,
    *,
    drop_missing: bool = False,
    quiet: bool = False,
) -> tuple[list[str], dict[str, Path]]:
    """Download the participants' files that are not already good; update ``records``.

    The Drive folder is listed only when something has to be downloaded, so a run on a complete
    cache needs no network.

    Parameters
    ----------
    participants : sequence of str
    frame_states : bool
        Also fetch the original frame-states pickles.
    downloads : Path
        Folder for the downloaded originals.
    records : dict
        ``manifest["downloads"]``: ``{name: {"sha256", "size", "drive_id"}}``, updated in place.
    drop_missing : bool, default False
        Skip participants whose files are not in the folder instead of failing.

    Returns
    -------
    (participants, {name: path})
    """
    wanted = list(participants)
    names = [n for p in wanted for n in source_names(p, frame_states)]
    pending = [n for n in names if not _good_download(downloads / n, records.get(n))]
    if pending:
        listing = list_drive_files()
        if drop_missing:
            kept = [p for p in wanted if all(n in listing for n in source_names(p, frame_states))]
            for p in sorted(set(wanted) - set(kept)):
                _say(f"{p}: not in the Drive folder, skipped.", quiet)
            wanted = kept or wanted
            names = [n for p in wanted for n in source_names(p, frame_states)]
            pending = [n for n in pending if n in names]
        missing = [n for n in pending if n not in listing]
        if missing:
            raise DownloadFailed(
                f"The Drive folder has no {', '.join(missing)} in '{DRIVE_SUBFOLDER}/' (it has: "
                f"{', '.join(sorted(listing)) or 'nothing'}). Choose other participants with "
                "--participants, or use --from-dir with files you have."
            )
        for name in pending:
            path = downloads / name
            path.unlink(missing_ok=True)
            _say(f"Downloading {name} ...", quiet)
            drive_download(listing[name], path, quiet=quiet)
            records[name] = {**file_record(path), "drive_id": listing[name]}
    return wanted, {n: downloads / n for n in names}


def find_local(names: Iterable[str], from_dir: Path) -> dict[str, Path]:
    """Locate the named files in ``from_dir`` (directly, or anywhere below it)."""
    if not from_dir.is_dir():
        raise DownloadFailed(f"--from-dir {from_dir} is not a directory.")
    found, missing = {}, []
    for name in names:
        direct = [from_dir / name, from_dir / DRIVE_SUBFOLDER / name]
        hits = [p for p in direct if p.is_file()] or sorted(from_dir.rglob(name))
        if hits:
            found[name] = hits[0]
        else:
            missing.append(name)
    if missing:
        raise DownloadFailed(
            f"Could not find {', '.join(missing)} in {from_dir} (looked there, in "
            f"{DRIVE_SUBFOLDER}/ and below). Point --from-dir at the folder holding the "
            "tutorial's files, or choose participants with --participants."
        )
    return found


def _say(message: str, quiet: bool) -> None:
    if not quiet:
        print(message, file=sys.stderr)
