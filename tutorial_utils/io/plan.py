"""What a conversion will do: its request, its participants, its originals, and whether
the cache is already up to date (which needs no write at all, so it works read-only).
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import cache, extract, sources, validate
from .download import PARTICIPANTS, DownloadFailed, audio_name, find_local, labels_name
from .manifest import file_problems, generation_of, manifest_problems, participant_files

STORES = ("npz", "npy")
"""Formats of the hidden states: one npz per participant, or the npy store (``--store``)."""


@dataclass(frozen=True)
class Request:
    """What a run was asked to do (see :func:`~tutorial_utils.io.convert.run` for the fields)."""

    data_dir: Path
    from_dir: Path | None
    frame_states: bool
    model_name: str
    participants: tuple[str, ...] | None
    quiet: bool
    device: str = "auto"
    batch_size: int | None = None
    store: str = "npz"

    @property
    def hidden_origin(self) -> str:
        """``"frame_states"`` or ``"extracted:<model>"``."""
        return "frame_states" if self.frame_states else f"extracted:{self.model_name}"

    def recipe(self, participant: str, records: dict[str, dict]) -> dict[str, Any]:
        """The inputs of one participant's conversion, as recorded in the manifest (with the
        store format, so that switching it converts again)."""
        names = sources.names_for([participant], self.frame_states)
        recipe = {
            "hidden_states": self.hidden_origin,
            "sources": {n: records[n]["sha256"] for n in names},
        }
        return recipe if self.store == "npz" else {**recipe, "store": self.store}


def make_request(
    data_dir: Any,
    from_dir: Any,
    frame_states: bool,
    model_name: str,
    participants: Any,
    quiet: bool,
    device: str = "auto",
    batch_size: int | None = None,
    store: str = "npz",
) -> Request:
    """Check the arguments of :func:`~tutorial_utils.io.convert.run` before anything is read
    or written."""
    if store not in STORES:
        raise DownloadFailed(f"--store must be one of {', '.join(STORES)}, not {store!r}.")
    if batch_size is not None and (not isinstance(batch_size, numbers.Integral) or batch_size < 1):
        raise DownloadFailed(f"--batch-size must be a whole number >= 1, not {batch_size!r}.")
    if participants is not None:
        try:
            participants = tuple(validate.check_participant(p) for p in participants)
        except ValueError as err:
            raise DownloadFailed(str(err)) from None
        if not participants:
            raise DownloadFailed("--participants needs at least one participant id.")
    if not frame_states:
        try:
            extract.require_torch()
            extract.resolve_device(device)  # before any download: a missing GPU stops here
        except (ImportError, ValueError) as err:
            raise DownloadFailed(str(err)) from err
    return Request(
        data_dir=Path(data_dir) if data_dir is not None else cache.default_data_dir(),
        from_dir=Path(from_dir) if from_dir is not None else None,
        frame_states=frame_states,
        model_name=extract.DEFAULT_MODEL if frame_states else model_name,
        participants=participants,
        quiet=quiet,
        device=device,
        batch_size=batch_size,
        store=store,
    )


def valid_manifest(data_dir: Path) -> dict | None:
    """The current manifest if it is well formed and complete, else None."""
    manifest = cache.read_manifest(data_dir)
    return manifest if manifest is not None and not manifest_problems(manifest) else None


def participants_to_convert(request: Request, old: dict | None) -> list[str]:
    """Participants to convert: as asked, else those of the last run, else those available."""
    if request.participants is not None:
        return list(request.participants)
    wanted = list(old["participants"]) if old is not None else list(PARTICIPANTS)
    if request.from_dir is not None:
        wanted = [p for p in wanted if has_local(request.from_dir, p)] or wanted
    return wanted


def has_local(from_dir: Path, participant: str) -> bool:
    """True when the audio and EMA files of ``participant`` are in ``from_dir``."""
    try:
        find_local([audio_name(participant), labels_name(participant)], from_dir)
    except DownloadFailed:
        return False
    return True


def participant_is_good(data_dir: Path, old: dict, participant: str, recipe: dict) -> bool:
    """True when the participant's cache files hash as recorded and came from ``recipe``."""
    if old.get("conversions", {}).get(participant) != recipe:
        return False
    files = old["files"]
    rels = participant_files(participant, files, generation_of(old))
    return all(rel in files and not file_problems(data_dir, rel, files[rel], True) for rel in rels)


def up_to_date(request: Request) -> bool:
    """True when the cache is complete, verified, and made from the same inputs (no writes)."""
    old = valid_manifest(request.data_dir)
    if old is None or cache.cache_problems(request.data_dir):
        return False
    wanted = participants_to_convert(request, old)
    if wanted != old["participants"]:
        return False
    names = sources.names_for(wanted, request.frame_states)
    if request.from_dir is None:
        records = sources.downloads_are_good(request.data_dir, names)
    else:
        try:
            records = sources.local_sources(request.from_dir, wanted, request.frame_states)[1]
        except DownloadFailed:
            return False
    if records is None:
        return False
    recipes = {p: request.recipe(p, records) for p in wanted}
    return all(participant_is_good(request.data_dir, old, p, recipes[p]) for p in wanted)


def originals_for(request: Request, old: dict | None) -> tuple[list[str], dict, dict]:
    """``(participants, {name: path}, {name: record})`` of the originals to convert from."""
    wanted = participants_to_convert(request, old)
    if request.from_dir is not None:
        found, records = sources.local_sources(request.from_dir, wanted, request.frame_states)
    else:
        wanted, found, records = sources.drive_sources(
            request.data_dir,
            wanted,
            request.frame_states,
            explicit=request.participants is not None,
            quiet=request.quiet,
        )
    sources.check_pinned(request.data_dir, found, records, request.from_dir is None)
    return wanted, found, records
