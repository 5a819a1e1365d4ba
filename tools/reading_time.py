"""Estimate each chapter's reading time and the core path's (maintainers only).

Usage (from the repository root)::

    python -m tools.reading_time            # a table of minutes per chapter, then the core path

The estimate is the yardstick of issue 21: one minute per 100 words of prose (markdown cells
and code comments) plus 1.5 minutes per visible code cell (read it, run it, look at what it
prints). Cells tagged ``remove-input`` (the setup cell) or ``hide-cell`` (an exercise's folded
solution) are not counted. The **core path** is chapters 00-03 without their sections whose
heading starts with "Going further" and without their exercises; chapters 04-06 are going
further as a whole.
"""

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORE_CHAPTERS = ("00", "01", "02", "03")
WORDS_PER_MINUTE = 100
MINUTES_PER_CODE_CELL = 1.5
CHAPTER_LIMIT_MINUTES = 45
CORE_LIMIT_MINUTES = 90


def _words(text: str) -> int:
    return len(re.findall(r"[A-Za-z0-9]+", text))


def chapter_minutes(path: Path) -> tuple[float, float]:
    """Return (whole chapter, core part) reading minutes of one percent notebook."""
    import jupytext

    whole = core = 0.0
    in_core = path.name[:2] in CORE_CHAPTERS
    for cell in jupytext.read(path).cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                in_core = in_core and not re.match(r"##\s+(Going further|Exercises)", line)
                whole += _words(line) / WORDS_PER_MINUTE
                core += _words(line) / WORDS_PER_MINUTE if in_core else 0.0
            continue
        tags = cell.metadata.get("tags", [])
        if "remove-input" in tags or "hide-cell" in tags:
            continue
        comments = " ".join(re.findall(r"#(.*)", cell.source))
        minutes = MINUTES_PER_CODE_CELL + _words(comments) / WORDS_PER_MINUTE
        whole += minutes
        core += minutes if in_core else 0.0
    return whole, core


def main() -> int:
    total_core = 0.0
    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.py")):
        whole, core = chapter_minutes(path)
        total_core += core
        print(f"{path.stem:32s} {whole:5.0f} min   core part {core:5.0f} min")
    print(f"{'core path (00-03 without going further)':32s} {total_core:5.0f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
