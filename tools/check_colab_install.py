"""Check that installing this package into Google Colab changes no preinstalled package.

Three modes (maintainers and CI; not installed with the package)::

    python tools/check_colab_install.py [--python PY]
        pip's dry run of ``pip install --ignore-installed -c ci/colab-constraints.txt .``:
        every package it resolves must be pinned in the constraint list (so Colab already has
        it at that version) or be one of the few expected new ones. Prints the summary.

    python tools/check_colab_install.py --python VENV/bin/python --setup-cell NOTEBOOK.py \\
        --repo-url file:///path/to/checkout
        Runs the notebook's setup cell in a Colab-like venv with ``REPO_URL`` pointing at this
        checkout, and compares ``pip list`` before and after (``make colab-check``).

    python tools/check_colab_install.py --update FREEZE [FREEZE ...]
        Rewrites the pins of ci/colab-constraints.txt from Colab's published ``pip freeze``
        lists (googlecolab/backend-info), keeping the file's header.

Exit status 0 when nothing preinstalled would change, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONSTRAINTS = ROOT / "ci" / "colab-constraints.txt"
PROJECT = "speech-cka-tutorial"
ALLOWED_NEW = {
    PROJECT: "this package",
    "jedi": "Colab ships ipython 7.34 without its declared dependency jedi; pip adds it",
}
"""Packages Colab does not have that the install may add (nothing else may appear)."""
EXTRA_RUNTIME = ["scikit-learn"]
"""Pinned with the runtime although not (yet) a direct dependency."""
TOOLING = ["ipykernel", "pytest", "pip"]
"""Colab's kernel, test runner and installer, pinned for ``make colab-check``."""


def canonical(name: str) -> str:
    """PEP 503 normalised package name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def read_pins(path: Path) -> dict[str, str]:
    """``{canonical name: version}`` of the ``name==version`` lines of a constraint/freeze file."""
    pins = {}
    for line in path.read_text().splitlines():
        requirement = line.split("#", 1)[0].split(";", 1)[0].strip()
        if "==" in requirement:
            name, version = requirement.split("==", 1)
            pins[canonical(name)] = version.strip()
    return pins


def dry_run(python: str, requirements: Sequence[str], constraints: Path) -> list[dict]:
    """What ``pip install --ignore-installed`` would install, from pip's JSON report."""
    with tempfile.TemporaryDirectory() as scratch:
        report_path = Path(scratch) / "report.json"
        command = [python, "-m", "pip", "install", "--dry-run", "--ignore-installed"]
        command += ["--report", str(report_path), "-c", str(constraints), *requirements]
        result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
        if result.returncode != 0:
            why = ("ERROR", "conflict", "depends on", "requested")
            lines = (result.stdout + result.stderr).splitlines()
            errors = [line for line in lines if any(word in line for word in why)]
            sys.exit("FAIL: pip cannot install this under Colab's pins:\n" + "\n".join(errors))
        report = json.loads(report_path.read_text())
    return [item["metadata"] for item in report["install"]]


def classify(resolved: Iterable[dict], pins: dict[str, str]) -> dict[str, list[str]]:
    """Sort resolved packages into kept (Colab's pin), new (allowed), changed and unexpected."""
    groups: dict[str, list[str]] = {"kept": [], "new": [], "changed": [], "unexpected": []}
    for meta in resolved:
        name, version = canonical(meta["name"]), meta["version"]
        if name in pins:
            key = "kept" if pins[name] == version else "changed"
            groups[key].append(f"{name} {version}" + ("" if key == "kept" else f" != {pins[name]}"))
        else:
            why = ALLOWED_NEW.get(name)
            label = f"{name} {version}" + (f" ({why})" if why else "")
            groups["new" if why else "unexpected"].append(label)
    return groups


def report_groups(groups: dict[str, list[str]], what: str) -> int:
    """Print the summary; return the exit status."""
    print(f"  {what}: {sum(map(len, groups.values()))} packages")
    print(f"  at Colab's pinned version: {len(groups['kept'])}")
    print(f"  new: {'; '.join(groups['new']) or 'none'}")
    print(f"  changed: {'; '.join(groups['changed']) or 'none'}")
    print(f"  unexpected: {'; '.join(groups['unexpected']) or 'none'}")
    if groups["changed"] or groups["unexpected"]:
        print("FAIL: the install would change Colab's preinstalled packages (see above).")
        return 1
    print("OK: no preinstalled Colab package changes.")
    return 0


def check(python: str, constraints: Path) -> int:
    """Dry-run mode: resolve this checkout under the Colab pins."""
    pins = read_pins(constraints)
    resolved = dry_run(python, [str(ROOT)], constraints)
    version = subprocess.run(
        [python, "-c", "import sys; print(sys.version.split()[0])"], capture_output=True, text=True
    ).stdout.strip()
    print(f"Colab install check: pip install --dry-run --ignore-installed -c {constraints.name} .")
    print(f"  Python {version}, {len(pins)} pins in {constraints.relative_to(ROOT)}")
    project = next(m for m in resolved if canonical(m["name"]) == PROJECT)
    found = {canonical(m["name"]): m["version"] for m in resolved}
    floors = [r for r in project.get("requires_dist", []) if "extra ==" not in r]
    print("  runtime floors -> resolved:")
    for floor in floors:
        name = canonical(re.split(r"[<>=!~ \[;]", floor, maxsplit=1)[0])
        print(f"    {floor:<22} -> {found.get(name, '?')}")
    return report_groups(classify(resolved, pins), "resolved")


def pip_list(python: str) -> dict[str, str]:
    """``{canonical name: version}`` installed in the environment of ``python``."""
    out = subprocess.run(
        [python, "-m", "pip", "list", "--format=json"], capture_output=True, text=True, check=True
    ).stdout
    return {canonical(p["name"]): p["version"] for p in json.loads(out)}


def setup_cell_code(notebook: Path, repo_url: str) -> str:
    """The first code cell of a percent-format notebook, with ``REPO_URL`` set to ``repo_url``."""
    cells = re.split(r"^# %%.*$", notebook.read_text(), flags=re.MULTILINE)
    headers = re.findall(r"^# %%.*$", notebook.read_text(), flags=re.MULTILINE)
    code = next(c for h, c in zip(headers, cells[1:], strict=True) if "[markdown]" not in h)
    code, n = re.subn(r"^REPO_URL = .*$", f"REPO_URL = {repo_url!r}", code, flags=re.MULTILINE)
    if n != 1:
        sys.exit(f"{notebook.name}: the setup cell must assign REPO_URL exactly once")
    return code


def run_setup_cell(python: str, notebook: Path, repo_url: str, constraints: Path) -> int:
    """Setup-cell mode: run the cell in a Colab-like venv, compare ``pip list`` around it."""
    before = pip_list(python)
    print(f"Running the setup cell of {notebook.name} (REPO_URL = {repo_url}):")
    with tempfile.TemporaryDirectory() as scratch:  # not the checkout: the import must fail
        subprocess.run([python, "-c", setup_cell_code(notebook, repo_url)], cwd=scratch, check=True)
    after = pip_list(python)
    groups: dict[str, list[str]] = {"kept": [], "new": [], "changed": [], "unexpected": []}
    for name in sorted(before.keys() | after.keys()):
        if before.get(name) == after.get(name):
            groups["kept"].append(name)
        elif name in before:
            groups["changed"].append(f"{name} {before[name]} -> {after.get(name, 'removed')}")
        else:
            key = "new" if name in ALLOWED_NEW else "unexpected"
            groups[key].append(f"{name} {after[name]}")
    pinned = read_pins(constraints)
    drift = [f"{n} {before.get(n)} != {v}" for n, v in pinned.items() if before.get(n) != v]
    if drift:
        print(f"  note: the venv differs from {constraints.name}: {'; '.join(drift[:5])}")
    return report_groups(groups, "installed before and after")


def update(freezes: Sequence[Path], python: str, constraints: Path) -> int:
    """Rewrite the pins of the constraint list from Colab's freeze files."""
    pins = [read_pins(f) for f in freezes]
    header = [line for line in constraints.read_text().splitlines() if line.startswith("#")]
    header = header[: next((i for i, h in enumerate(header) if h.startswith("# ---")), len(header))]
    with tempfile.NamedTemporaryFile("w", suffix=".txt") as freeze:
        freeze.write("\n".join(f"{n}=={v}" for n, v in pins[0].items()))
        freeze.flush()
        runtime = dry_run(python, [str(ROOT), *EXTRA_RUNTIME], Path(freeze.name))
        tooling = dry_run(python, TOOLING, Path(freeze.name))
    sections = {"runtime": sorted({canonical(m["name"]) for m in runtime} - {PROJECT})}
    sections["tooling"] = sorted({canonical(m["name"]) for m in tooling} - set(sections["runtime"]))
    lines, problems = list(header), []
    titles = {
        "runtime": "# --- The runtime dependencies and all they pull in, as Colab has them",
        "tooling": "# --- Colab's kernel, test runner and pip (make colab-check uses them)",
    }
    for key, names in sections.items():
        lines += ["", titles[key]]
        for name in names:
            versions = {p.get(name) for p in pins}
            if None in versions and name not in ALLOWED_NEW:
                problems.append(f"{name} is not in every freeze list")
            if len(versions - {None}) > 1:
                problems.append(f"{name} differs between the freeze lists: {sorted(versions)}")
            if pins[0].get(name):
                lines.append(f"{name}=={pins[0][name]}")
    constraints.write_text("\n".join(lines) + "\n")
    print(f"wrote {constraints}: {len(read_pins(constraints))} pins")
    for problem in problems:
        print(f"  warning: {problem}")
    return 1 if problems else 0


def main(argv: Sequence[str] | None = None) -> int:
    """Command line; see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--python", default=sys.executable, help="interpreter whose pip to use")
    parser.add_argument("--constraints", type=Path, default=CONSTRAINTS)
    parser.add_argument("--setup-cell", type=Path, metavar="NOTEBOOK", help="percent .py source")
    parser.add_argument("--repo-url", help="REPO_URL for --setup-cell, e.g. file:///checkout")
    parser.add_argument("--update", type=Path, nargs="+", metavar="FREEZE")
    args = parser.parse_args(argv)
    constraints = args.constraints.resolve()
    if args.update:
        return update(args.update, args.python, constraints)
    if args.setup_cell:
        url = args.repo_url or ROOT.as_uri()
        return run_setup_cell(args.python, args.setup_cell, url, constraints)
    return check(args.python, constraints)


if __name__ == "__main__":
    sys.exit(main())
