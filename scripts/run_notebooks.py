#!/usr/bin/env python3
"""Executes the Rust notebooks headlessly and exports them to HTML.

    .venv/bin/python scripts/run_notebooks.py [--quick] [NOTEBOOK_OR_DIR ...]

By default runs notebooks/NN-*.ipynb in name order with the `rust` (evcxr) kernel, each with
its own folder as working directory (so evcxr reads notebooks/evcxr.toml). Executed copies go to
target/notebooks/NAME.ipynb and NAME.html (images embedded, no network needed). The committed
notebooks are never modified.

`--quick` sets VAE_QUICK=1 in the kernel's environment: notebooks train for a few steps only.
Each notebook's line reports its wall time and its first code cell's (the `:dep vae-core` cell,
which compiles vae-core inside the kernel).

Exits non-zero on the first failing notebook (all of them with --keep-going), naming the
notebook, the cell (index and first source line) and the error. Finding no notebook is an
error unless --allow-empty, so a missing notebooks folder never passes silently.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DIR = REPO_ROOT / "notebooks"
DEFAULT_OUT = REPO_ROOT / "target" / "notebooks"
NOTEBOOK_GLOB = "[0-9][0-9]-*.ipynb"


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("paths", nargs="*", type=Path,
                   help=f"notebooks or folders (a folder means its {NOTEBOOK_GLOB}); default: notebooks/")
    p.add_argument("--quick", action="store_true", help="set VAE_QUICK=1 for the kernel (short training runs)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where executed .ipynb and .html go (default: target/notebooks)")
    p.add_argument("--kernel", default="rust", help="Jupyter kernel name (default: rust)")
    p.add_argument("--timeout", type=int, default=int(os.environ.get("VAE_CELL_TIMEOUT", "3600")),
                   help="seconds one cell may run (default 3600: the first cell compiles candle cold)")
    p.add_argument("--startup-timeout", type=int, default=300, help="seconds for the kernel to start")
    p.add_argument("--keep-going", action="store_true", help="run the remaining notebooks after a failure")
    p.add_argument("--allow-empty", action="store_true", help="succeed when no notebook is found")
    p.add_argument("--no-html", action="store_true", help="skip the HTML export")
    p.add_argument("--backtrace", action="store_true",
                   help="keep RUST_BACKTRACE from the environment (default: RUST_BACKTRACE=0 for the kernel)")
    return p.parse_args(argv)


def find_notebooks(paths: list[Path]) -> list[Path]:
    found: list[Path] = []
    for path in paths or [DEFAULT_DIR]:
        if path.is_dir():
            found.extend(sorted(path.glob(NOTEBOOK_GLOB)))
        elif path.is_file():
            found.append(path)
        else:
            raise SystemExit(f"run_notebooks: error: {path} does not exist")
    return [p.resolve() for p in found]


def first_line(source: str) -> str:
    for line in source.splitlines():
        if line.strip():
            return line.strip()[:120]
    return "(empty cell)"


def error_text(cell) -> str:
    """The error a failed cell reported: its stderr (where evcxr prints panics and compile
    errors) followed by its error outputs, with Rust backtraces cut out."""
    stderr: list[str] = []
    errors: list[str] = []
    for out in cell.get("outputs", []):
        if out.get("output_type") == "error":
            errors.append(f"{out.get('ename', '')}: {out.get('evalue', '')}".strip(": "))
            tb = strip_ansi("\n".join(out.get("traceback", []))).strip()
            if tb and tb not in errors[-1]:
                errors.append(tb)
        elif out.get("output_type") == "stream" and out.get("name") == "stderr":
            stderr.append(out.get("text", ""))
    lines = [ln for ln in drop_backtraces(strip_ansi("".join(stderr))).splitlines() if ln.strip()]
    lines += [ln for e in errors for ln in e.splitlines() if ln.strip()]
    if len(lines) > 40:  # keep the start (the first error) and the end (the final status)
        lines = lines[:30] + [f"... ({len(lines) - 40} lines omitted; see the executed notebook)"] + lines[-10:]
    return "\n".join(lines)


def drop_backtraces(text: str) -> str:
    """Removes `stack backtrace:` blocks (numbered frames and their `at` lines)."""
    out, skipping = [], False
    for line in text.splitlines():
        if line.strip() == "stack backtrace:":
            skipping = True
            continue
        if skipping and re.match(r"\s*(\d+:|at\s)", line):
            continue
        skipping = False
        out.append(line)
    return "\n".join(out)


def strip_ansi(s: str) -> str:
    return re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", s)


def export_html(nb, dest: Path) -> None:
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name="lab")
    exporter.embed_images = True
    body, _ = exporter.from_notebook_node(nb)
    dest.write_text(body, encoding="utf-8")


SENTINEL_PREFIX = "__vae_cell_ok_"


class CellReturnedErr(Exception):
    """A cell's top-level `?` returned an Err. evcxr prints the error to stderr but reports the
    cell as successful, so the runner detects it itself (see `ErrDetector`)."""


class ErrDetector:
    """Detects cells that stop early through `?`.

    evcxr runs a cell's statements in a function returning `Result`; an `Err` from `?` is only
    printed, the cell still counts as executed, and the variables it defined are dropped. So the
    runner defines one marker variable at the top of each cell it sends (the committed notebook
    keeps its source) and asks evcxr with `:vars` afterwards: if the marker is missing, the cell
    returned early with an error.
    """

    def __init__(self, client):
        self.client = client
        self.originals: dict[int, str] = {}

    @staticmethod
    def instrument(source: str, marker: str) -> str | None:
        lines = source.splitlines()
        # Leading evcxr commands (`:dep ...`), comments and blank lines stay first.
        at = 0
        while at < len(lines) and (not lines[at].strip() or lines[at].lstrip().startswith((":", "//", "#!["))):
            at += 1
        if at == len(lines):
            return None  # only commands/comments: nothing can return an Err
        return "\n".join(lines[:at] + [f"let {marker} = 0u8;"] + lines[at:])

    async def on_cell_execute(self, cell, cell_index, **_kw):
        if cell.get("metadata", {}).get("vae_probe"):
            return
        instrumented = self.instrument(cell.source, f"{SENTINEL_PREFIX}{cell_index}")
        if instrumented is not None:
            self.originals[cell_index] = cell.source
            cell.source = instrumented

    async def on_cell_complete(self, cell, cell_index, **_kw):
        # The execute request is on its way: put the notebook's own source back.
        if cell_index in self.originals and not cell.get("metadata", {}).get("vae_probe"):
            cell.source = self.originals[cell_index]

    async def on_cell_executed(self, cell, cell_index, execute_reply, **_kw):
        import nbformat

        if cell.get("metadata", {}).get("vae_probe") or cell_index not in self.originals:
            return
        del self.originals[cell_index]
        if execute_reply.get("content", {}).get("status") != "ok":
            return  # nbclient reports this failure itself
        probe = nbformat.v4.new_code_cell(":vars", metadata={"vae_probe": True})
        await self.client.async_execute_cell(probe, cell_index, store_history=False)
        # nbclient stores the executed cell at its index and counts it: undo both for the probe.
        self.client.nb.cells[cell_index] = cell
        self.client.code_cells_executed -= 1
        seen = "".join(
            str(o.get("text", "")) + str(o.get("data", {}).get("text/plain", "")) + str(o.get("data", {}).get("text/html", ""))
            for o in probe.outputs
        )
        # evcxr forwards the program's stderr asynchronously: the printed error can arrive
        # after the cell's reply, attributed to the probe. It belongs to the cell.
        cell.outputs.extend(o for o in probe.outputs if o.get("output_type") == "stream" and o.get("name") == "stderr")
        if f"{SENTINEL_PREFIX}{cell_index}" not in seen:
            cell.outputs.append(nbformat.v4.new_output(
                "error", ename="CellReturnedErr",
                evalue="the cell stopped early: a `?` returned an Err (printed above)", traceback=[]))
            raise CellReturnedErr(f"cell {cell_index} returned an Err through `?`")


def first_cell_seconds(nb) -> float | None:
    """Wall time of the notebook's first code cell (it compiles vae-core in the kernel), from
    the timing nbclient records; None when that cell did not run."""
    from datetime import datetime

    for cell in nb.cells:
        if cell.get("cell_type") != "code":
            continue
        timing = cell.get("metadata", {}).get("execution", {})
        start, end = timing.get("iopub.execute_input"), timing.get("shell.execute_reply")
        if not (start and end):
            return None
        parse = lambda t: datetime.fromisoformat(t.replace("Z", "+00:00"))
        return (parse(end) - parse(start)).total_seconds()
    return None


# A struct's Debug form: `Name { ...`, possibly with a module path.
DEBUG_STRUCT = re.compile(r"^\s*(?:\w+::)*[A-Z]\w*\s*\{")
# The vae-core types that display as pictures (they have `evcxr_display`): their Debug form is a
# failed display however short it is (a quick run's four-point loss curve is a few hundred bytes).
FIGURE_DEBUG = re.compile(r"^\s*(?:\w+::)*(?:ImageGrid|LatentScatter|LossCurves|Animation|Panel|Explorer)\s*\{")


def debug_dumps(nb) -> str | None:
    """A cell whose result was shown as Debug text where a picture was meant, or None.

    evcxr shows a cell's final expression with its `evcxr_display` method, but falls back to
    `{:?}` when that attempt does not compile, which happens for instance when the expression
    moves a variable the notebook keeps: the figure then arrives as kilobytes of numbers and the
    run would still pass. A bare `()` (a final `for` loop or block) is noise of the same kind."""
    for index, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if out.get("output_type") != "execute_result" or set(data) != {"text/plain"}:
                continue
            text = data["text/plain"]
            text = "".join(text) if isinstance(text, list) else text
            if text.strip() == "()":
                why = "shows `()`: end the cell's last statement with `;`"
            elif FIGURE_DEBUG.match(text) or (DEBUG_STRUCT.match(text) and len(text) > 1000):
                why = (f"shows its result as {len(text)} characters of Debug text (`{text.strip()[:40]}...`) "
                       "instead of a figure: evcxr could not call `evcxr_display` on the final expression, "
                       "usually because it moves a variable the notebook keeps (pass a reference or a clone)")
            else:
                continue
            return f"cell {index} (`{first_line(cell.get('source', ''))}`) {why}"
    return None


def run_one(path: Path, args: argparse.Namespace) -> tuple[str | None, float | None]:
    """Executes one notebook; returns (None on success or a message naming the failing cell,
    the first code cell's wall time)."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    nb = nbformat.read(path, as_version=4)
    current = {"index": None}

    def on_cell_start(cell, cell_index, **_kwargs):
        if not cell.get("metadata", {}).get("vae_probe"):
            current["index"] = cell_index

    client = NotebookClient(
        nb,
        kernel_name=args.kernel,
        timeout=args.timeout,
        startup_timeout=args.startup_timeout,
        allow_errors=False,
        record_timing=True,
        resources={"metadata": {"path": str(path.parent)}},
        on_cell_start=on_cell_start,
    )
    if args.kernel == "rust":
        detector = ErrDetector(client)
        client.on_cell_execute = detector.on_cell_execute
        client.on_cell_complete = detector.on_cell_complete
        client.on_cell_executed = detector.on_cell_executed
    failure: str | None = None
    try:
        client.execute()
    except (CellExecutionError, CellTimeoutError, DeadKernelError, CellReturnedErr, RuntimeError, TimeoutError) as exc:
        failure = describe_failure(path, nb, current["index"], exc)
    except Exception as exc:  # kernel missing, bad notebook JSON, ...: still name the notebook
        failure = f"{display(path)}: {type(exc).__name__}: {exc}"
        if "No such kernel" in str(exc):
            failure += "\n  the Jupyter kernel is not installed: run scripts/setup.sh (make setup)"

    if failure is None and (dump := debug_dumps(nb)):
        failure = f"{display(path)}: {dump}"

    args.out.mkdir(parents=True, exist_ok=True)
    out_nb = args.out / path.name
    nbformat.write(nb, out_nb)
    if not args.no_html:
        try:
            export_html(nb, out_nb.with_suffix(".html"))
        except Exception as exc:  # a broken export must not hide a notebook failure
            msg = f"{display(path)}: HTML export failed: {type(exc).__name__}: {exc}"
            failure = f"{failure}\n{msg}" if failure else msg
    return failure, first_cell_seconds(nb)


def describe_failure(path: Path, nb, index: int | None, exc: BaseException) -> str:
    if index is None:
        return f"{display(path)}: failed before the first cell ran: {type(exc).__name__}: {exc}"
    cell = nb.cells[index]
    head = f"{display(path)}: cell {index} (`{first_line(cell.get('source', ''))}`) failed"
    detail = error_text(cell)
    if not detail or type(exc).__name__ in ("CellTimeoutError", "DeadKernelError"):
        detail = (detail + "\n" if detail else "") + f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
    return head + ":\n" + "\n".join("    " + line for line in detail.splitlines())


def display(path: Path) -> str:
    try:
        return str(path.relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    args.out = args.out.resolve()
    notebooks = find_notebooks(args.paths)
    if not notebooks:
        where = ", ".join(str(p) for p in args.paths) or display(DEFAULT_DIR)
        if args.allow_empty:
            print(f"run_notebooks: no notebooks ({NOTEBOOK_GLOB}) in {where}; nothing to do (--allow-empty)")
            return 0
        print(f"run_notebooks: error: no notebooks ({NOTEBOOK_GLOB}) found in {where}; "
              "pass --allow-empty if that is expected", file=sys.stderr)
        return 1

    if args.quick:
        os.environ["VAE_QUICK"] = "1"
    # The kernel inherits this environment. Point evcxr at the repository's notebooks/ for
    # evcxr.toml, init.evcxr and prelude.rs, so a user's ~/.config/evcxr cannot change results.
    # (evcxr reads ./evcxr.toml first, so a notebook folder with its own file still wins.)
    os.environ.setdefault("EVCXR_CONFIG_DIR", str(DEFAULT_DIR))
    if not args.backtrace:
        # A panic message is what the reader needs; backtraces through evcxr's runtime are noise.
        os.environ["RUST_BACKTRACE"] = "0"

    mode = "quick" if args.quick else "full"
    print(f"run_notebooks: {len(notebooks)} notebook(s), {mode} mode, kernel {args.kernel}, output in {display(args.out)}",
          flush=True)
    failures: list[str] = []
    total = time.monotonic()
    for path in notebooks:
        print(f"run_notebooks: {display(path)} ...", flush=True)
        start = time.monotonic()
        failure, first_cell = run_one(path, args)
        took = time.monotonic() - start
        status = "FAILED" if failure else "ok"
        first = f" (first code cell {first_cell:.1f} s)" if first_cell is not None else ""
        print(f"run_notebooks: {display(path)} {status} in {took:.1f} s{first}", flush=True)
        if failure:
            failures.append(failure)
            print(f"run_notebooks: FAILED {failure}", file=sys.stderr, flush=True)
            if not args.keep_going:
                break
    print(f"run_notebooks: total {time.monotonic() - total:.1f} s", flush=True)
    if failures:
        print(f"run_notebooks: {len(failures)} notebook(s) failed:", file=sys.stderr)
        for f in failures:
            lines = [ln.strip() for ln in f.splitlines() if ln.strip()]
            summary = lines[0].rstrip(":") + (f": {lines[1]}" if len(lines) > 1 else "")
            print(f"  - {summary}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
