"""The tutorial's original files, from its Google Drive folder or a local folder: gdown lists
the folder, pooch fetches each missing file through gdown (into a temporary file, renamed when
complete) and checks the pinned sha256 (:data:`.originals.KNOWN_SHA256`). gdown 5.2 and 6."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

import gdown
import pooch

DRIVE_FOLDER_ID = "1IYSwALkhkPtdMXmZL7dnTLYP_FMnFn9U"
DRIVE_SUBFOLDER = "ema_probing_data"
DRIVE_URL = f"https://drive.google.com/drive/folders/{DRIVE_FOLDER_ID}"
PARTICIPANTS = ("F02", "M02")
FRAME_STATES_FILES = {"F02": "frame_states_p1_test.pkl", "M02": "frame_states_p2_test.pkl"}


class DownloadFailed(Exception):
    """Getting or converting the data failed; the message is meant for the user as is."""


# gdown 6 raises DownloadError (FileURLRetrievalError subclasses it); gdown 5.2 raises
# FileURLRetrievalError, FolderContentsMaximumLimitError or RuntimeError; requests: OSError.
_NAMES = ("DownloadError", "FileURLRetrievalError", "FolderContentsMaximumLimitError")
GDOWN_ERRORS = (OSError, RuntimeError, *(getattr(gdown.exceptions, n) for n in _NAMES
                                         if hasattr(gdown.exceptions, n)))  # fmt: skip


def source_names(participant: str, frame_states: bool) -> list[str]:
    """Original files needed to convert one participant."""
    names = [f"ema_audio_{participant}.pkl", f"ema_labels_{participant}.csv"]
    if frame_states and participant not in FRAME_STATES_FILES:
        raise DownloadFailed(
            f"There is no original frame-states file for {participant}, only for "
            f"{', '.join(FRAME_STATES_FILES)}. Drop --frame-states to re-extract the features."
        )
    return names + ([FRAME_STATES_FILES[participant]] if frame_states else [])


def _offline(what: str, err: BaseException) -> DownloadFailed:
    return DownloadFailed(
        f"Could not {what} from the tutorial's Google Drive folder ({type(err).__name__}: "
        f"{err}). You may be offline, or Drive may be refusing automated downloads for a while "
        "(quota). The notebooks run on the built-in synthetic sample without any download "
        "(load_dataset('sample')). For the real data retry later, or download the folder "
        f"'{DRIVE_SUBFOLDER}' by hand from {DRIVE_URL} and use --from-dir PATH."
    )


def list_drive(downloads: Path) -> dict[str, str]:
    """``{name: file_id}`` of the files in the Drive folder's ``ema_probing_data/``."""
    try:  # gdown writes nothing when skipping downloads (else only into the data folder)
        entries = gdown.download_folder(
            id=DRIVE_FOLDER_ID, output=f"{downloads}/", quiet=True, skip_download=True,
            use_cookies=False,
        )  # fmt: skip
    except GDOWN_ERRORS as err:
        raise _offline("list the files", err) from err
    if entries is None:  # gdown 5.2 returns None when the listing fails
        raise _offline("list the files", RuntimeError("gdown returned no listing"))
    parts = [Path(str(entry.path)).parts + (entry.id,) for entry in entries]
    return {p[-2]: p[-1] for p in parts if len(p) >= 3 and p[-3] == DRIVE_SUBFOLDER}


def fetch(
    names: Iterable[str], downloads: Path, known: Mapping[str, str], quiet: bool = False
) -> dict[str, Path]:
    """``{name: path}`` of the originals in ``downloads``, fetching those missing or not matching
    their pinned sha256 in ``known``; Drive is listed only when something is to be fetched."""
    names = list(names)
    pending = [
        n for n in names if not (downloads / n).is_file()
        or (n in known and pooch.file_hash(str(downloads / n)) != known[n])
    ]  # fmt: skip
    listing = list_drive(downloads) if pending else {}
    missing = [n for n in pending if n not in listing]
    if missing:
        raise DownloadFailed(
            f"The Drive folder has no {', '.join(missing)} in '{DRIVE_SUBFOLDER}/' (it has "
            f"{', '.join(sorted(listing)) or 'nothing'}). Choose --participants, or --from-dir."
        )
    pooch.get_logger().setLevel("WARNING")
    for name in pending:
        if not quiet:
            print(f"Downloading {name} ...", file=sys.stderr)

        def download(url: str, output: str, _: object, file_id: str = listing[name]) -> None:
            gdown.download(id=file_id, output=output, quiet=quiet)

        try:
            url = f"https://drive.google.com/uc?id={listing[name]}"
            pooch.retrieve(url, known.get(name), name, downloads, downloader=download)
        except GDOWN_ERRORS as err:
            raise _offline(f"download {name}", err) from err
        except ValueError as err:  # pooch: not the pinned sha256 (the download is not kept)
            raise DownloadFailed(
                f"{name} from Google Drive is not the tutorial's file ({err}). Retry later, or "
                f"download the folder '{DRIVE_SUBFOLDER}' by hand from {DRIVE_URL} and use "
                "--from-dir."
            ) from err
    return {n: downloads / n for n in names}


def find_local(names: Iterable[str], from_dir: Path) -> dict[str, Path]:
    """Locate the named files in ``from_dir`` (directly, in ``ema_probing_data/`` or below)."""
    if not from_dir.is_dir():
        raise DownloadFailed(f"--from-dir {from_dir} is not a directory.")
    found = {}
    for name in names:
        hits = [p for p in (from_dir / name, from_dir / DRIVE_SUBFOLDER / name) if p.is_file()]
        found[name] = (hits or sorted(from_dir.rglob(name)) or [None])[0]
    missing = [name for name, path in found.items() if path is None]
    if missing:
        raise DownloadFailed(
            f"Could not find {', '.join(missing)} in {from_dir} (nor in {DRIVE_SUBFOLDER}/ or "
            "below). Point --from-dir at the folder holding the tutorial's files, or choose "
            "participants with --participants."
        )
    return found
