#!/usr/bin/env python3
"""Builds the course notebooks (notebooks/NN-*.ipynb) from readable sources in notebooks/src/.

Each source file is a sequence of cells. A line `%% md` starts a Markdown cell, a line `%% rust`
a code cell; everything up to the next marker belongs to that cell (blank lines at the ends are
dropped). The notebooks are written with no outputs and no execution counts, kernel `rust`
(evcxr), so that git only ever holds what a person wrote.

    python3 scripts/make_notebooks.py          # rebuild every notebook
    python3 scripts/make_notebooks.py --check  # exit 1 if a notebook differs from its source
"""
import json
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
SRC = ROOT / "notebooks" / "src"
OUT = ROOT / "notebooks"


def parse(text, name):
    cells, kind, lines = [], None, []

    def flush():
        if kind is None:
            if any(l.strip() for l in lines):
                raise SystemExit(f"{name}: text before the first '%% md' or '%% rust' marker")
            return
        while lines and not lines[0].strip():
            lines.pop(0)
        while lines and not lines[-1].strip():
            lines.pop()
        if not lines:
            raise SystemExit(f"{name}: an empty {kind} cell")
        cells.append((kind, "\n".join(lines)))

    for line in text.splitlines():
        if line.strip() in ("%% md", "%% rust"):
            flush()
            kind, lines = ("markdown" if line.strip() == "%% md" else "code"), []
        else:
            lines.append(line)
    flush()
    return cells


def notebook(cells, stem):
    out = []
    for i, (kind, src) in enumerate(cells):
        source = [l + "\n" for l in src.split("\n")]
        source[-1] = source[-1].rstrip("\n")
        cell = {"cell_type": kind, "id": f"{stem[:2]}-{i:02d}", "metadata": {}, "source": source}
        if kind == "code":
            cell["execution_count"] = None
            cell["outputs"] = []
        out.append(cell)
    return {
        "cells": out,
        "metadata": {
            "kernelspec": {"display_name": "Rust", "language": "rust", "name": "rust"},
            "language_info": {"codemirror_mode": "rust", "file_extension": ".rs", "mimetype": "text/rust", "name": "rust", "pygment_lexer": "rust", "version": ""},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def main():
    check = "--check" in sys.argv[1:]
    sources = sorted(SRC.glob("[0-9][0-9]-*.md"))
    if not sources:
        raise SystemExit(f"no sources in {SRC}")
    stale = []
    for src in sources:
        stem = src.name[: -len(".md")]
        text = json.dumps(notebook(parse(src.read_text(), src.name), stem), indent=1, ensure_ascii=False) + "\n"
        target = OUT / f"{stem}.ipynb"
        if check:
            if not target.exists() or target.read_text() != text:
                stale.append(target.name)
        else:
            target.write_text(text)
            print(f"wrote {target.relative_to(ROOT)}")
    if stale:
        raise SystemExit(f"out of date with notebooks/src (run scripts/make_notebooks.py): {', '.join(stale)}")


if __name__ == "__main__":
    main()
