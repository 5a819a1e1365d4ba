"""The index of a hidden-state store (:mod:`tutorial_utils.io.store`): its schema and checks.

``<P>/hidden_states/index.json`` lists the store's layers and, per recording, its ``.npy``
file with shape, dtype, size and the sha256 of the bytes written. In a cache the manifest lists
``index.json`` with its own sha256 (:mod:`tutorial_utils.io.manifest`): the manifest vouches
for the index, the index for the ``.npy`` files. Their sizes are checked on every load (the
files are not hashed then: a corpus is too large), their sha256 on request.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from .files import sha256_file

STORE_DIR = "hidden_states"
INDEX_NAME = "index.json"
STORE_INDEX = f"{STORE_DIR}/{INDEX_NAME}"
"""Path of a participant's store index relative to its cache folder."""
STORE_FORMAT = "speech-cka-tutorial hidden-state store"
STORE_VERSION = 1
_STORED_FILE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,200}\.npy")
_SHA256 = re.compile(r"[0-9a-f]{64}")


def read_index(folder: str | Path) -> dict[str, Any]:
    """The index of a store folder; FileNotFoundError / ValueError when absent or not a store."""
    path = Path(folder) / INDEX_NAME
    try:
        with open(path, encoding="utf-8") as handle:
            index = json.load(handle)
    except FileNotFoundError as err:
        raise FileNotFoundError(
            f"No hidden-state store in {path.parent} (no {INDEX_NAME}); rerun "
            "`python -m tutorial_utils.io --store npy`."
        ) from err
    except ValueError as err:
        raise ValueError(f"{path} is not valid JSON ({err}); rerun the conversion.") from err
    problem = _index_problem(index)
    if problem:
        raise ValueError(f"{path} {problem}; rerun the conversion.")
    return index


def _index_problem(index: Any) -> str | None:
    """What is malformed in a parsed index (its schema), or None."""
    if not isinstance(index, dict) or index.get("format") != STORE_FORMAT:
        return "is not the index of a hidden-state store"
    if index.get("version") != STORE_VERSION:
        return f"has store version {index.get('version')!r}, not {STORE_VERSION}"
    layers, recordings = index.get("layers"), index.get("recordings")
    if not (isinstance(layers, list) and layers and all(type(x) is int for x in layers)):
        return f"lists the layers {layers!r}"
    if not isinstance(recordings, list) or not recordings:
        return "lists no recordings"
    if not all(_good_record(record, len(layers)) for record in recordings):
        return "has a malformed record of a recording"
    return None


def _good_record(record: Any, n_layers: int) -> bool:
    """One recording's record: its names, (L, T, d) shape, dtype, size and sha256."""
    if not isinstance(record, dict):
        return False
    name, file, shape = record.get("filename"), record.get("file"), record.get("shape")
    size, sha, dtype = record.get("size"), record.get("sha256"), record.get("dtype")
    return (
        isinstance(name, str)
        and isinstance(file, str)
        and _STORED_FILE.fullmatch(file) is not None
        and isinstance(shape, list)
        and len(shape) == 3
        and all(type(n) is int and n >= 0 for n in shape)
        and shape[0] == n_layers
        and isinstance(dtype, str)
        and type(size) is int
        and size >= 0
        and isinstance(sha, str)
        and _SHA256.fullmatch(sha) is not None
    )


def store_files(folder: str | Path) -> list[str]:
    """Names of the ``.npy`` files the index of a store folder lists (for linking them)."""
    return [record["file"] for record in read_index(folder)["recordings"]]


def store_problems(folder: str | Path, verify_hashes: bool = False) -> list[str]:
    """What is missing or wrong in a store; empty when every file has its recorded size
    (and sha256 with ``verify_hashes``)."""
    folder = Path(folder)
    try:
        index = read_index(folder)
    except (OSError, ValueError) as err:
        return [str(err)]
    problems = []
    for record in index["recordings"]:
        path = folder / record["file"]
        if not path.is_file():
            problems.append(f"{path.name} (hidden states of {record['filename']}) is missing")
        elif path.stat().st_size != record["size"]:
            problems.append(f"{path.name} has size {path.stat().st_size}, not {record['size']}")
        elif verify_hashes and sha256_file(path) != record["sha256"]:
            problems.append(f"{path.name} has a wrong sha256")
    return problems
