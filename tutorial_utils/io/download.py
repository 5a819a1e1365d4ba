"""The tutorial's original files, from its Google Drive folder or a local folder: pooch fetches
each missing file through gdown (into a temporary file, renamed when complete) and checks its
pinned sha256; the Drive folder is listed (gdown) only when a file is missing. gdown 5.2 and 6."""

from __future__ import annotations

import functools
import sys
from collections.abc import Iterable
from pathlib import Path

import gdown
import pooch

DRIVE_FOLDER_ID = "1IYSwALkhkPtdMXmZL7dnTLYP_FMnFn9U"
DRIVE_SUBFOLDER = "ema_probing_data"
BY_HAND = (
    f"download the folder '{DRIVE_SUBFOLDER}' by hand from https://drive.google.com/drive/"
    f"folders/{DRIVE_FOLDER_ID} and use --from-dir PATH"
)
KNOWN_SHA256: dict[str, str] = {}  # name -> sha256 (add those of ema_probing_data/* once seen)


class DownloadFailed(Exception):
    """Getting the data failed; the message is meant for the user as is."""


def _offline(what: str, err: BaseException) -> DownloadFailed:
    return DownloadFailed(
        f"Could not {what} from the tutorial's Google Drive folder ({type(err).__name__}: "
        f"{err}). You may be offline, or Drive may be refusing automated downloads for a while "
        "(quota). The notebooks run on the built-in synthetic sample without any download "
        f"(load_dataset('sample')). For the real data retry later, or {BY_HAND}."
    )


def fetch(names: Iterable[str], downloads: Path, quiet: bool = False) -> dict[str, Path]:
    """``{name: path}`` of the originals in ``downloads``, fetching those missing or not matching
    their sha256 in :data:`KNOWN_SHA256`."""

    @functools.cache
    def listing() -> dict[str, str]:  # {name: file id} in the Drive folder's ema_probing_data/
        try:  # (gdown writes nothing when skipping downloads)
            entries = gdown.download_folder(
                id=DRIVE_FOLDER_ID, quiet=True, skip_download=True, use_cookies=False
            )
            if entries is None:  # gdown 5.2 prints the error and returns None
                raise RuntimeError("gdown returned no listing")
        except Exception as err:  # gdown 5.2 and 6 raise different errors; requests, OSError
            raise _offline("list the files", err) from err
        parts = [Path(str(entry.path)).parts + (entry.id,) for entry in entries]
        return {p[-2]: p[-1] for p in parts if len(p) >= 3 and p[-3] == DRIVE_SUBFOLDER}

    def download(name: str, output: str, _: object) -> None:
        if name not in listing():
            raise DownloadFailed(
                f"The Drive folder has no {name} in '{DRIVE_SUBFOLDER}/' (it has "
                f"{', '.join(sorted(listing())) or 'nothing'}). Choose --participants, or "
                f"{BY_HAND}."
            )
        if not quiet:
            print(f"Downloading {name} ...", file=sys.stderr)
        try:
            gdown.download(id=listing()[name], output=output, quiet=quiet)
        except Exception as err:
            raise _offline(f"download {name}", err) from err

    pooch.get_logger().setLevel("WARNING")
    for name in names:
        try:
            pooch.retrieve(name, KNOWN_SHA256.get(name), name, downloads, downloader=download)
        except ValueError as err:  # pooch: not the pinned sha256 (the download is not kept)
            raise DownloadFailed(
                f"{name} from Google Drive is not the tutorial's file ({err}). Retry later, or "
                f"{BY_HAND}."
            ) from err
    return {n: downloads / n for n in names}


def find_local(names: Iterable[str], from_dir: Path) -> dict[str, Path]:
    """The named files in ``from_dir`` or below (the shallowest of each name)."""
    found = {n: min(from_dir.rglob(n), key=lambda p: len(p.parts), default=None) for n in names}
    if missing := [name for name, path in found.items() if path is None]:
        raise DownloadFailed(
            f"Could not find {', '.join(missing)} in {from_dir} or below. Point --from-dir at "
            "the folder holding the tutorial's files, or choose --participants."
        )
    return found
