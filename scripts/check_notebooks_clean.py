#!/usr/bin/env python3
"""Fails if a committed notebook carries outputs or execution counts.

    python3 scripts/check_notebooks_clean.py [--fix] [NOTEBOOK_OR_DIR ...]

Default: every .ipynb under notebooks/ and scripts/tests/fixtures/. Executed copies belong in
target/notebooks (scripts/run_notebooks.py), never in the repository. --fix strips outputs
and execution counts in place (what `make clean-notebooks` runs). Uses only the standard
library, so it runs before the virtual environment exists.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PATHS = [REPO_ROOT / "notebooks", REPO_ROOT / "scripts" / "tests" / "fixtures"]


def notebooks(paths: list[Path]) -> list[Path]:
    found: list[Path] = []
    for p in paths:
        if p.is_dir():
            found.extend(q for q in sorted(p.rglob("*.ipynb")) if ".ipynb_checkpoints" not in q.parts)
        elif p.is_file():
            found.append(p)
        else:
            raise SystemExit(f"check_notebooks_clean: error: {p} does not exist")
    return found


def problems(nb: dict) -> list[str]:
    out = []
    for i, cell in enumerate(nb.get("cells", [])):
        if cell.get("cell_type") != "code":
            if cell.get("outputs"):
                out.append(f"cell {i}: {cell.get('cell_type')} cell has outputs")
            continue
        if cell.get("outputs"):
            out.append(f"cell {i}: {len(cell['outputs'])} output(s)")
        if cell.get("execution_count") is not None:
            out.append(f"cell {i}: execution_count {cell['execution_count']}")
    return out


def strip(nb: dict) -> None:
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
            cell.get("metadata", {}).pop("execution", None)


def main(argv: list[str]) -> int:
    fix = "--fix" in argv
    paths = [Path(a) for a in argv if a != "--fix"] or [p for p in DEFAULT_PATHS if p.exists()]
    bad = 0
    files = notebooks(paths)
    for path in files:
        try:
            nb = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            print(f"{path}: not a readable notebook: {exc}", file=sys.stderr)
            bad += 1
            continue
        found = problems(nb)
        if not found:
            continue
        if fix:
            strip(nb)
            path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
            print(f"{path}: stripped ({len(found)} problem(s))")
            continue
        bad += 1
        shown = "; ".join(found[:5]) + (f"; ... ({len(found) - 5} more)" if len(found) > 5 else "")
        print(f"{path}: has outputs: {shown}", file=sys.stderr)
    if bad:
        print(f"check_notebooks_clean: {bad} notebook(s) are not clean; run `make clean-notebooks` "
              "(executed copies belong in target/notebooks)", file=sys.stderr)
        return 1
    print(f"check_notebooks_clean: {len(files)} notebook(s) clean")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
