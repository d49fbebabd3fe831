"""Tests for the notebook runner and the repository checks.

    .venv/bin/python -m pytest scripts/tests

The runner tests that execute Rust need the `rust` kernel (evcxr_jupyter, installed by
scripts/setup.sh). Without it they are skipped, unless VAE_REQUIRE_EVCXR=1 (set by `make test`)
turns a missing kernel into a failure, so CI can never skip them silently.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = REPO_ROOT / "scripts"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
PY = sys.executable


def have_rust_kernel() -> bool:
    if shutil.which("evcxr_jupyter") is None:
        return False
    out = subprocess.run([PY, "-m", "jupyter", "kernelspec", "list", "--json"],
                         capture_output=True, text=True, check=False)
    return out.returncode == 0 and "rust" in json.loads(out.stdout or "{}").get("kernelspecs", {})


needs_kernel = pytest.mark.skipif(
    os.environ.get("VAE_REQUIRE_EVCXR") != "1" and not have_rust_kernel(),
    reason="no `rust` Jupyter kernel (run scripts/setup.sh)",
)


def run_notebooks(*args: str | Path, tmp_path: Path) -> subprocess.CompletedProcess:
    cmd = [PY, str(SCRIPTS / "run_notebooks.py"), "--out", str(tmp_path / "out"), "--timeout", "900", *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=1800, check=False)


# ---- runner: no Rust needed -------------------------------------------------------------

def test_runner_fails_when_there_are_no_notebooks(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    res = run_notebooks(empty, tmp_path=tmp_path)
    assert res.returncode != 0
    assert "no notebooks" in res.stderr and str(empty) in res.stderr


def test_runner_allow_empty_succeeds(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    res = run_notebooks("--allow-empty", empty, tmp_path=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "nothing to do" in res.stdout


def test_runner_fails_on_missing_path(tmp_path):
    res = run_notebooks(tmp_path / "nope", tmp_path=tmp_path)
    assert res.returncode != 0
    assert "does not exist" in res.stderr


def test_runner_names_notebook_when_kernel_is_unknown(tmp_path):
    res = run_notebooks("--kernel", "no-such-kernel-xyz", FIXTURES / "01-passes.ipynb", tmp_path=tmp_path)
    assert res.returncode != 0
    assert "01-passes.ipynb" in res.stderr and "no-such-kernel-xyz" in res.stderr


# ---- runner: real evcxr kernel ----------------------------------------------------------

@needs_kernel
def test_runner_executes_a_passing_notebook_and_exports_html(tmp_path):
    res = run_notebooks(FIXTURES / "01-passes.ipynb", tmp_path=tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "01-passes.ipynb ok in" in res.stdout
    assert "(first code cell " in res.stdout
    executed = json.loads((tmp_path / "out" / "01-passes.ipynb").read_text())
    outputs = executed["cells"][0]["outputs"]
    assert any("answer = 42" in "".join(o.get("text", "")) for o in outputs), outputs
    result = executed["cells"][1]["outputs"]
    assert any("42" in "".join(o.get("data", {}).get("text/plain", "")) for o in result), result
    html = (tmp_path / "out" / "01-passes.html").read_text()
    assert "answer = 42" in html
    # The committed fixture itself is untouched.
    assert json.loads((FIXTURES / "01-passes.ipynb").read_text())["cells"][0]["outputs"] == []


@needs_kernel
def test_runner_reports_a_panicking_cell(tmp_path):
    res = run_notebooks(FIXTURES / "02-panics.ipynb", tmp_path=tmp_path)
    assert res.returncode != 0, res.stdout
    err = res.stderr
    assert "02-panics.ipynb: cell 1 (`// this cell must fail`) failed" in err, err
    # evcxr forwards stderr asynchronously, so under load the panic message can miss the reply;
    # the kernel's own error (the aborted subprocess) is always there.
    assert "boom from the fixture" in err or "Subprocess terminated" in err, err
    assert "02-panics.ipynb FAILED in" in res.stdout
    # The executed copy is still written, for inspection.
    assert (tmp_path / "out" / "02-panics.ipynb").exists()
    assert (tmp_path / "out" / "02-panics.html").exists()


@needs_kernel
def test_runner_reports_a_cell_returning_err(tmp_path):
    res = run_notebooks(FIXTURES / "03-returns-err.ipynb", tmp_path=tmp_path)
    assert res.returncode != 0, res.stdout
    err = res.stderr
    assert "03-returns-err.ipynb: cell 1 (`let n = parse_count(\"not a number\")?;`) failed" in err, err
    assert "CellReturnedErr: the cell stopped early: a `?` returned an Err" in err, err
    # Later cells did not run.
    executed = json.loads((tmp_path / "out" / "03-returns-err.ipynb").read_text())
    assert executed["cells"][2]["execution_count"] is None


@needs_kernel
def test_runner_fails_when_a_figure_is_shown_as_debug_text(tmp_path):
    res = run_notebooks(FIXTURES / "04-debug-dump.ipynb", tmp_path=tmp_path)
    assert res.returncode != 0, res.stdout
    err = res.stderr
    assert "04-debug-dump.ipynb: cell 2 (`// moves a variable the notebook keeps" in err, err
    assert "characters of Debug text (`Figure {" in err, err
    executed = json.loads((tmp_path / "out" / "04-debug-dump.ipynb").read_text())
    # The cell that clones shows the figure itself.
    shown = [o for o in executed["cells"][1]["outputs"] if o.get("output_type") == "execute_result"]
    assert shown and "text/html" in shown[0]["data"], shown


def test_debug_dump_detector_on_synthetic_outputs():
    import nbformat
    sys.path.insert(0, str(SCRIPTS))
    import run_notebooks as rn

    def nb_with(text):
        cell = nbformat.v4.new_code_cell("x")
        cell.outputs = [nbformat.v4.new_output("execute_result", data={"text/plain": text}, execution_count=1)]
        return nbformat.v4.new_notebook(cells=[cell])

    assert rn.debug_dumps(nb_with("ImageGrid { tiles: [" + "0.0, " * 500 + "] }")) is not None
    assert "`;`" in rn.debug_dumps(nb_with("()"))
    assert rn.debug_dumps(nb_with("Optimization: 2\ncache: 4000 MiB")) is None
    assert rn.debug_dumps(nb_with("Model { small: 1 }")) is None  # short Debug output is fine
    # ... unless it is a figure's: a quick run's loss curve is short and still a failed display.
    assert rn.debug_dumps(nb_with('LossCurves { series: [("train", [346.5, 224.2])], title: None }')) is not None


@needs_kernel
def test_runner_stops_at_first_failure_unless_keep_going(tmp_path):
    nbs = [FIXTURES / "02-panics.ipynb", FIXTURES / "01-passes.ipynb"]
    res = run_notebooks(*nbs, tmp_path=tmp_path)
    assert res.returncode != 0
    assert "01-passes.ipynb" not in res.stdout
    res = run_notebooks("--keep-going", *nbs, tmp_path=tmp_path / "k")
    assert res.returncode != 0
    assert "01-passes.ipynb ok in" in res.stdout
    assert "1 notebook(s) failed" in res.stderr


@needs_kernel
def test_rust_kernelspec_starts_through_the_launcher():
    out = subprocess.run([PY, "-m", "jupyter", "kernelspec", "list", "--json"],
                         capture_output=True, text=True, check=True)
    argv = json.loads(out.stdout)["kernelspecs"]["rust"]["spec"]["argv"]
    assert argv[:2] == ["bash", str(SCRIPTS / "evcxr_kernel.sh")], argv
    assert Path(argv[2]).name == "evcxr_jupyter" and argv[3:] == ["--control_file", "{connection_file}"], argv


# ---- evcxr_kernel.sh (with a stand-in for evcxr_jupyter) ---------------------------------

def fake_evcxr(tmp_path: Path) -> Path:
    """A stand-in kernel: records its arguments and evcxr-related environment, then stays
    alive until `release` exists (holding its build directory's lock like a real kernel)."""
    fake = tmp_path / "fake_evcxr"
    fake.write_text(
        "#!/usr/bin/env bash\n"
        'out="$1"; shift\n'
        'printf "%s\\n" "args=$*" "tmpdir=${EVCXR_TMPDIR:-}" "cache=${XDG_CACHE_HOME:-}" '
        '"path0=${PATH%%:*}" "real_cargo=${VAE_KERNEL_REAL_CARGO:-}" "lock=${VAE_KERNEL_LOCK:-}" > "$out.tmp"\n'
        'mv "$out.tmp" "$out"\n'
        f'while [ ! -e "{tmp_path}/release" ]; do sleep 0.05; done\n'
    )
    fake.chmod(0o755)
    return fake


def start_launcher(tmp_path: Path, name: str, env: dict[str, str]) -> tuple[subprocess.Popen, Path]:
    report = tmp_path / f"{name}.txt"
    proc = subprocess.Popen(["bash", str(SCRIPTS / "evcxr_kernel.sh"), str(fake_evcxr(tmp_path)), str(report),
                             "--control_file", "conn.json"], env=env)
    return proc, report


def wait_report(report: Path) -> dict[str, str]:
    import time

    deadline = time.monotonic() + 30
    while not report.exists():
        assert time.monotonic() < deadline, f"{report} never appeared"
        time.sleep(0.05)
    return dict(line.split("=", 1) for line in report.read_text().splitlines())


@pytest.mark.skipif(shutil.which("flock") is None, reason="no flock(1)")
def test_launcher_gives_simultaneous_kernels_their_own_build_directory(tmp_path):
    base = tmp_path / "evcxr"
    env = {k: v for k, v in os.environ.items() if k not in ("EVCXR_TMPDIR", "XDG_CACHE_HOME")}
    env["VAE_EVCXR_DIR"] = str(base)
    first, first_report = start_launcher(tmp_path, "first", env)
    a = wait_report(first_report)
    second, second_report = start_launcher(tmp_path, "second", env)
    b = wait_report(second_report)
    assert a["args"] == "--control_file conn.json"
    assert a["tmpdir"] == str(base / "kernel-0") and b["tmpdir"] == str(base / "kernel-1"), (a, b)
    assert a["cache"] == b["cache"] == str(base / "cache")
    (tmp_path / "release").touch()
    assert first.wait(timeout=30) == 0 and second.wait(timeout=30) == 0
    # Both kernels are gone: the next one gets the first (warm) directory back.
    (tmp_path / "release").unlink()
    third, third_report = start_launcher(tmp_path, "third", env)
    c = wait_report(third_report)
    (tmp_path / "release").touch()
    assert third.wait(timeout=30) == 0
    assert c["tmpdir"] == str(base / "kernel-0"), c


def test_launcher_leaves_an_explicit_evcxr_tmpdir_alone(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "XDG_CACHE_HOME"}
    env.update(VAE_EVCXR_DIR=str(tmp_path / "evcxr"), EVCXR_TMPDIR=str(tmp_path / "mine"))
    (tmp_path / "release").touch()
    proc, report = start_launcher(tmp_path, "explicit", env)
    assert proc.wait(timeout=30) == 0
    got = wait_report(report)
    assert got["tmpdir"] == str(tmp_path / "mine") and got["cache"] == "", got
    assert not (tmp_path / "evcxr").exists()


def test_launcher_puts_the_pinning_cargo_first_on_the_kernels_path(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("VAE_KERNEL_")}
    env.update(VAE_EVCXR_DIR=str(tmp_path / "evcxr"))
    (tmp_path / "release").touch()
    proc, report = start_launcher(tmp_path, "pinned", env)
    assert proc.wait(timeout=30) == 0
    got = wait_report(report)
    assert got["path0"] == str(KERNEL_BIN), got
    assert got["lock"] == str(REPO_ROOT / "Cargo.lock"), got
    real = Path(got["real_cargo"])
    assert real.name == "cargo" and real.parent != KERNEL_BIN and os.access(real, os.X_OK), got


def test_launcher_can_leave_dependency_resolution_to_evcxr(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("VAE_KERNEL_")}
    env.update(VAE_EVCXR_DIR=str(tmp_path / "evcxr"), VAE_KERNEL_UNPINNED="1")
    (tmp_path / "release").touch()
    proc, report = start_launcher(tmp_path, "unpinned", env)
    assert proc.wait(timeout=30) == 0
    got = wait_report(report)
    assert got["path0"] != str(KERNEL_BIN) and got["real_cargo"] == "" and got["lock"] == "", got


# ---- scripts/kernel-bin: the kernel's cargo pins the workspace's lock -------------------

KERNEL_BIN = SCRIPTS / "kernel-bin"
WORKSPACE_LOCK = 'version = 4\n\n[[package]]\nname = "vae-core"\nversion = "0.1.0"\n'


def kernel_cargo(crate: Path, manifest: str, lock: str | None, tmp_path: Path) -> tuple[subprocess.CompletedProcess, str]:
    """Runs scripts/kernel-bin/cargo in `crate` with a stand-in for the real cargo that prints
    the lock file it was handed; returns the run and what the stand-in saw."""
    crate.mkdir(parents=True, exist_ok=True)
    (crate / "Cargo.toml").write_text(manifest)
    if lock is not None:
        (crate / "Cargo.lock").write_text(lock)
    real = tmp_path / "real_cargo"
    real.write_text('#!/usr/bin/env bash\necho "args=$*"\ncat Cargo.lock 2>/dev/null || echo "(no lock)"\n')
    real.chmod(0o755)
    workspace_lock = tmp_path / "workspace.lock"
    workspace_lock.write_text(WORKSPACE_LOCK)
    env = dict(os.environ, VAE_KERNEL_REAL_CARGO=str(real), VAE_KERNEL_LOCK=str(workspace_lock))
    res = subprocess.run([str(KERNEL_BIN / "cargo"), "metadata", "--format-version=1"], cwd=crate, env=env,
                         capture_output=True, text=True, check=False)
    return res, res.stdout


def test_kernel_cargo_seeds_the_workspace_lock_when_vae_core_arrives(tmp_path):
    # evcxr's dependency check writes a manifest with the new dependency alone, indented.
    manifest = '[package]\nname = "evcxr_dummy_validate_dep"\n[dependencies]\n    vae-core = { path = "/x/vae-core" }\n'
    res, seen = kernel_cargo(tmp_path / "k", manifest, 'version = 4\n[[package]]\nname = "ctx"\n', tmp_path)
    assert res.returncode == 0, res.stderr
    assert seen == "args=metadata --format-version=1\n" + WORKSPACE_LOCK, seen
    assert not list((tmp_path / "k").glob("*.vae-kernel")), "the temporary copy was left behind"


def test_kernel_cargo_keeps_a_lock_that_already_pins_vae_core(tmp_path):
    # A student's own `:dep` added after vae-core lives in this lock: it must not be reset.
    lock = 'version = 4\n[[package]]\nname = "vae-core"\nversion = "0.1.0"\n[[package]]\nname = "rand_distr"\n'
    res, seen = kernel_cargo(tmp_path / "k", '[dependencies]\nvae_core = { path = "/x" }\n', lock, tmp_path)
    assert res.returncode == 0 and seen.endswith(lock), seen


def test_kernel_cargo_leaves_notebooks_without_vae_core_alone(tmp_path):
    res, seen = kernel_cargo(tmp_path / "k", '[dependencies]\nmy-vae-core-fork = "1"\n', None, tmp_path)
    assert res.returncode == 0 and seen.endswith("(no lock)\n"), seen


def test_kernel_cargo_without_the_real_cargo_says_so(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("VAE_KERNEL_")}
    res = subprocess.run([str(KERNEL_BIN / "cargo"), "build"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, check=False)
    assert res.returncode == 127 and "VAE_KERNEL_REAL_CARGO" in res.stderr, res.stderr


def test_kernel_rustup_answers_which_cargo_and_passes_the_rest_on(tmp_path):
    real = tmp_path / "real_rustup"
    real.write_text('#!/usr/bin/env bash\necho "real $*"\n')
    real.chmod(0o755)
    env = dict(os.environ, VAE_KERNEL_REAL_RUSTUP=str(real))
    which = subprocess.run([str(KERNEL_BIN / "rustup"), "which", "cargo"], env=env, capture_output=True, text=True)
    assert which.returncode == 0 and which.stdout.strip() == str(KERNEL_BIN / "cargo"), which
    other = subprocess.run([str(KERNEL_BIN / "rustup"), "+nightly", "which", "cargo"], env=env,
                           capture_output=True, text=True)
    assert other.stdout.strip() == "real +nightly which cargo", other


@needs_kernel
def test_kernel_builds_vae_core_with_the_workspace_lock():
    """A real kernel, as the notebooks start it: every crate it resolves for vae-core must be
    the version in the workspace's Cargo.lock. (The first kernel of a fresh checkout compiles
    candle here, minutes; the notebooks then start warm.)"""
    import tomllib

    from jupyter_client.manager import start_new_kernel

    env = dict(os.environ, EVCXR_CONFIG_DIR=str(REPO_ROOT / "notebooks"), RUST_BACKTRACE="0")
    km, kc = start_new_kernel(kernel_name="rust", cwd=str(REPO_ROOT / "notebooks"), startup_timeout=300, env=env)
    try:
        def run(code: str) -> str:
            out: list[str] = []

            def hook(msg):
                content = msg["content"]
                if msg["msg_type"] == "stream":
                    out.append(content["text"])
                elif msg["msg_type"] == "execute_result":
                    out.append(content["data"].get("text/plain", ""))
                elif msg["msg_type"] == "error":
                    out.append("\n".join([content["ename"], content["evalue"], *content.get("traceback", [])]))

            reply = kc.execute_interactive(code, timeout=3600, output_hook=hook)
            assert reply["content"]["status"] == "ok", f"{code!r} failed:\n" + "".join(out)
            return "".join(out)

        run(':dep vae-core = { path = "../vae-core" }')
        crate_dir = Path(run('std::env::var("EVCXR_TMPDIR").unwrap()').strip().strip('"'))
    finally:
        km.shutdown_kernel(now=True)
    pinned = {(p["name"], p["version"]) for p in tomllib.loads((REPO_ROOT / "Cargo.lock").read_text())["package"]}
    kernel = tomllib.loads((crate_dir / "Cargo.lock").read_text())["package"]
    names = {p["name"] for p in kernel}
    assert {"vae-core", "candle-core", "candle-nn"} <= names, sorted(names)
    drift = sorted((p["name"], p["version"]) for p in kernel
                   if (p["name"], p["version"]) not in pinned and "source" in p)
    assert not drift, f"the kernel in {crate_dir} resolved versions the workspace lock does not have: {drift}"


# ---- check_notebooks_clean.py -----------------------------------------------------------

def write_nb(path: Path, outputs: list, count) -> Path:
    nb = json.loads((FIXTURES / "01-passes.ipynb").read_text())
    nb["cells"][1]["outputs"] = outputs
    nb["cells"][1]["execution_count"] = count
    path.write_text(json.dumps(nb))
    return path


def check_clean(*args) -> subprocess.CompletedProcess:
    return subprocess.run([PY, str(SCRIPTS / "check_notebooks_clean.py"), *map(str, args)],
                          capture_output=True, text=True, check=False)


def test_clean_check_passes_on_committed_notebooks():
    res = check_clean()
    assert res.returncode == 0, res.stderr


def test_clean_check_names_notebooks_with_outputs(tmp_path):
    write_nb(tmp_path / "a.ipynb", [{"output_type": "stream", "name": "stdout", "text": "x"}], None)
    write_nb(tmp_path / "b.ipynb", [], 3)
    write_nb(tmp_path / "c.ipynb", [], None)
    res = check_clean(tmp_path)
    assert res.returncode != 0
    assert "a.ipynb: has outputs: cell 1: 1 output(s)" in res.stderr
    assert "b.ipynb: has outputs: cell 1: execution_count 3" in res.stderr
    assert "c.ipynb" not in res.stderr


def test_clean_check_fix_strips_outputs(tmp_path):
    p = write_nb(tmp_path / "a.ipynb", [{"output_type": "stream", "name": "stdout", "text": "x"}], 7)
    assert check_clean("--fix", p).returncode == 0
    assert check_clean(p).returncode == 0
    cell = json.loads(p.read_text())["cells"][1]
    assert cell["outputs"] == [] and cell["execution_count"] is None


# ---- check_env_agrees.py ----------------------------------------------------------------

def check_env(req: str, env: str, tmp_path: Path) -> subprocess.CompletedProcess:
    (tmp_path / "requirements.txt").write_text(req)
    (tmp_path / "environment.yml").write_text(env)
    return subprocess.run([PY, str(SCRIPTS / "check_env_agrees.py"), str(tmp_path / "requirements.txt"),
                           str(tmp_path / "environment.yml")], capture_output=True, text=True, check=False)


ENV = "name: x\nchannels:\n  - conda-forge\ndependencies:\n  - python=3.11\n  - pip\n  - pip:\n      - pytest==9.2.0\n      - nbclient==0.11.0\n"


def test_env_check_passes_on_repository_files():
    res = subprocess.run([PY, str(SCRIPTS / "check_env_agrees.py")], capture_output=True, text=True, check=False)
    assert res.returncode == 0, res.stderr


def test_env_check_accepts_agreeing_files(tmp_path):
    assert check_env("pytest==9.2.0\nnbclient==0.11.0\n", ENV, tmp_path).returncode == 0


def test_env_check_names_version_mismatch(tmp_path):
    res = check_env("pytest==9.1.0\nnbclient==0.11.0\n", ENV, tmp_path)
    assert res.returncode != 0
    assert "pytest: requirements.txt pins 9.1.0, environment.yml has 9.2.0" in res.stderr


def test_env_check_names_missing_packages_both_ways(tmp_path):
    res = check_env("pytest==9.2.0\nnbmake==1.5.5\n", ENV, tmp_path)
    assert res.returncode != 0
    assert "nbmake==1.5.5 is in requirements.txt but not in environment.yml" in res.stderr
    assert "nbclient==0.11.0 is under pip: in environment.yml but not in requirements.txt" in res.stderr


def test_env_check_rejects_unpinned_requirement(tmp_path):
    res = check_env("pytest>=9\n", ENV, tmp_path)
    assert res.returncode != 0
    assert "exact pin" in res.stderr
