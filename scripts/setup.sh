#!/usr/bin/env bash
# Prepares everything the notebooks need; safe to run again (each step skips work already done):
#   1. .venv: a Python virtual environment with the exact pins of requirements.txt
#   2. evcxr_jupyter (the Rust Jupyter kernel): `cargo install --locked` unless already on PATH
#   3. the `rust` kernelspec, installed inside .venv (never in ~/.local), so it is found by the
#      venv's jupyter / nbclient and by `make lab`
#   4. the data sets (scripts/fetch_data.sh)
# Options: --no-data skips step 4. Environment: PYTHON (interpreter for the venv, default
# python3.11 or python3), EVCXR_VERSION (default 0.22.0).
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$REPO_ROOT/.venv"
EVCXR_VERSION="${EVCXR_VERSION:-0.22.0}"
WITH_DATA=1
for arg in "$@"; do
  case "$arg" in
    --no-data) WITH_DATA=0 ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "setup: error: unknown option $arg (try --help)" >&2; exit 2 ;;
  esac
done

log() { printf 'setup: %s\n' "$*" >&2; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }
now() { date +%s; }
step_start=0
begin() { step_start=$(now); log "$*"; }
end() { log "  ... $* ($(( $(now) - step_start )) s)"; }

# ---- 0. system tools (only what is missing; only as root on apt systems) ---------------------
missing=()
command -v npm >/dev/null 2>&1 || [[ $WITH_DATA == 0 ]] || missing+=(npm)
command -v cc >/dev/null 2>&1 || missing+=(build-essential)
if ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1 && [[ -z "${PYTHON:-}" ]] \
   && ! command -v python3.11 >/dev/null 2>&1; then
  missing+=(python3-venv)
fi
if (( ${#missing[@]} )); then
  if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null 2>&1; then
    begin "system packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get -q update >/dev/null || die "apt-get update failed"
    apt-get -q install -y --no-install-recommends "${missing[@]}" >/dev/null \
      || die "apt-get install ${missing[*]} failed"
    end "installed"
  else
    die "missing system packages: ${missing[*]}; install them (e.g. sudo apt-get install ${missing[*]}) and rerun"
  fi
fi

# ---- 1. Python virtual environment -----------------------------------------------------------
pick_python() {
  if [[ -n "${PYTHON:-}" ]]; then echo "$PYTHON"; return; fi
  local c
  for c in python3.11 python3; do
    if command -v "$c" >/dev/null 2>&1; then echo "$c"; return; fi
  done
  die "no python3 found; install Python 3.11 (e.g. apt-get install python3 python3-venv) or set PYTHON"
}

begin "Python environment in .venv"
req_sum="$(sha256sum "$REPO_ROOT/requirements.txt" | cut -d' ' -f1)"
stamp="$VENV/.requirements.sha256"
if [[ -x "$VENV/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$req_sum" ]]; then
  end "up to date"
else
  py="$(pick_python)"
  "$py" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)' \
    || die "$py is $("$py" --version 2>&1); Python >= 3.10 is needed (3.11 recommended); set PYTHON"
  if [[ ! -x "$VENV/bin/python" ]]; then
    "$py" -m venv "$VENV" \
      || die "could not create $VENV with $py -m venv (on Debian/Ubuntu: apt-get install python3-venv)"
  fi
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-input -r "$REPO_ROOT/requirements.txt" \
    || die "pip could not install requirements.txt into $VENV (is PyPI reachable?)"
  echo "$req_sum" >"$stamp"
  end "installed requirements.txt"
fi

# ---- 2. evcxr_jupyter ------------------------------------------------------------------------
begin "evcxr_jupyter (Rust Jupyter kernel)"
# A fresh rustup install puts cargo binaries in ~/.cargo/bin, which may not be on PATH yet.
CARGO_BIN="${CARGO_HOME:-$HOME/.cargo}/bin"
if ! command -v evcxr_jupyter >/dev/null 2>&1 && [[ -x "$CARGO_BIN/evcxr_jupyter" ]]; then
  export PATH="$CARGO_BIN:$PATH"
fi
if command -v evcxr_jupyter >/dev/null 2>&1; then
  end "found $(command -v evcxr_jupyter)"
else
  command -v cargo >/dev/null 2>&1 || die "cargo not found; install Rust (https://rustup.rs) first"
  log "  installing evcxr_jupyter $EVCXR_VERSION with cargo (7-20 minutes on 2 cores, once)"
  cargo install --locked "evcxr_jupyter@$EVCXR_VERSION" </dev/null \
    || die "cargo install evcxr_jupyter failed (needs a C compiler; see the log above)"
  export PATH="$CARGO_BIN:$PATH"
  command -v evcxr_jupyter >/dev/null 2>&1 || die "evcxr_jupyter was installed but is not on PATH; add $CARGO_BIN to PATH"
  end "installed"
fi

# ---- 3. the `rust` kernelspec inside .venv ---------------------------------------------------
begin "Jupyter kernel 'rust' in .venv/share/jupyter/kernels/rust"
# evcxr_jupyter --install writes to $JUPYTER_PATH/kernels/rust when JUPYTER_PATH is set, and to
# ~/.local/share/jupyter otherwise. The venv's own share/jupyter is on every venv jupyter's
# search path, so the kernel is found without touching the user's home. The kernel then starts
# through scripts/evcxr_kernel.sh, which gives it a build directory that outlives it
# (target/evcxr), so a new kernel does not recompile vae-core.
KERNEL_DIR="$VENV/share/jupyter/kernels/rust"
evcxr_path="$(command -v evcxr_jupyter)"
launcher="$REPO_ROOT/scripts/evcxr_kernel.sh"
if [[ -f "$KERNEL_DIR/kernel.json" ]] && grep -qF "\"$evcxr_path\"" "$KERNEL_DIR/kernel.json" \
   && grep -qF "\"$launcher\"" "$KERNEL_DIR/kernel.json"; then
  end "up to date"
else
  JUPYTER_PATH="$VENV/share/jupyter" evcxr_jupyter --install >/dev/null \
    || die "evcxr_jupyter --install failed"
  [[ -f "$KERNEL_DIR/kernel.json" ]] || die "evcxr_jupyter --install did not write $KERNEL_DIR/kernel.json"
  "$VENV/bin/python" - "$KERNEL_DIR/kernel.json" "$launcher" "$evcxr_path" <<'PY' \
    || die "could not point $KERNEL_DIR/kernel.json at scripts/evcxr_kernel.sh"
import json, sys
path, launcher, evcxr = sys.argv[1:]
spec = json.load(open(path))
assert spec["argv"][0] == evcxr, f"unexpected kernel.json argv {spec['argv']}"
spec["argv"] = ["bash", launcher, evcxr] + spec["argv"][1:]
with open(path, "w") as f:
    json.dump(spec, f, indent=2)
    f.write("\n")
PY
  end "installed"
fi
"$VENV/bin/jupyter" kernelspec list --json | "$VENV/bin/python" -c \
  'import json, sys; specs = json.load(sys.stdin)["kernelspecs"]; sys.exit(0 if "rust" in specs else 1)' \
  || die "the venv's jupyter does not see the 'rust' kernel in $KERNEL_DIR"

# ---- 4. data ---------------------------------------------------------------------------------
if [[ $WITH_DATA == 1 ]]; then
  begin "data sets"
  "$REPO_ROOT/scripts/fetch_data.sh"
  end "done"
fi
log "ready: run 'make lab' for JupyterLab or 'make notebooks' to execute the notebooks"
