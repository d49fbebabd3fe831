#!/usr/bin/env bash
# The `rust` Jupyter kernel of this project: evcxr_jupyter with a persistent build directory.
#
#     scripts/evcxr_kernel.sh EVCXR_JUPYTER [evcxr_jupyter arguments ...]
#
# scripts/setup.sh writes this command into .venv/share/jupyter/kernels/rust/kernel.json, so
# JupyterLab, scripts/run_notebooks.py and `pytest --nbmake` all start the kernel through it.
#
# Why: evcxr builds every kernel's code in a fresh temporary directory, so each new kernel
# recompiled vae-core (a path crate, which evcxr's `:cache` never stores) and, worse, evcxr's
# cache hands back dependency files naming the build directory of the kernel that filled it:
# serde/thiserror/pulp then look stale to cargo in every later build, and vae-core is rebuilt
# again and again. Here each kernel gets a build directory that outlives it,
# target/evcxr/kernel-N: cargo's own fingerprints keep vae-core and candle compiled between
# kernels, and a warm first cell only compiles the cell itself.
#
# Several kernels at once (JupyterLab) each lock their own kernel-N (flock, held until the
# kernel exits), so two kernels never share one. The evcxr cache that fills new kernel-N
# directories lives in target/evcxr/cache (XDG_CACHE_HOME, read by evcxr only) rather than
# ~/.cache/evcxr, so every entry in it names a directory that still exists. Without flock, or
# with EVCXR_TMPDIR already set, evcxr runs with its own defaults. VAE_EVCXR_DIR moves the
# folder (default: target/evcxr in the repository).
set -euo pipefail

if [[ $# -lt 1 ]]; then
  echo "evcxr_kernel: usage: $0 EVCXR_JUPYTER [ARGS ...]" >&2
  exit 2
fi
evcxr=$1
shift

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
base="${VAE_EVCXR_DIR:-$root/target/evcxr}"

if [[ -z "${EVCXR_TMPDIR:-}" ]] && command -v flock >/dev/null 2>&1 && mkdir -p "$base" 2>/dev/null; then
  for n in $(seq 0 63); do
    exec {lock}>"$base/kernel-$n.lock" || break
    if flock -n "$lock"; then
      dir="$base/kernel-$n"
      mkdir -p "$dir"
      # Each cell's library is kept as libcode_<cell number>.so; an earlier kernel's are dead.
      rm -f "$dir"/target/*/debug/deps/libcode_*.so
      export EVCXR_TMPDIR="$dir"
      export XDG_CACHE_HOME="$base/cache"
      # The lock stays held through the inherited descriptor until the kernel exits.
      break
    fi
    exec {lock}>&-
  done
fi

# evcxr's generated Cargo.toml hard-codes debug-assertions and overflow-checks in its dev
# profile; with them the library code (candle, gemm, vae-core's fused loops) ran 2-3x slower in
# the kernel than in the release CLI. Cargo lets the environment override a manifest's profile,
# so the kernel builds like a release build at evcxr's `:opt` level. Set either variable to
# `true` before starting Jupyter to get the checks back.
export CARGO_PROFILE_DEV_DEBUG_ASSERTIONS="${CARGO_PROFILE_DEV_DEBUG_ASSERTIONS:-false}"
export CARGO_PROFILE_DEV_OVERFLOW_CHECKS="${CARGO_PROFILE_DEV_OVERFLOW_CHECKS:-false}"

# The kernel builds with the dependency versions of the workspace's Cargo.lock, the ones
# `cargo test` checked, rather than whatever crates.io holds the day a kernel starts:
# scripts/kernel-bin/cargo says how. evcxr finds cargo through `rustup which cargo`, then PATH,
# so the folder goes first on the kernel's PATH. VAE_KERNEL_UNPINNED=1 turns this off.
bin="$root/scripts/kernel-bin"
if [[ "${VAE_KERNEL_UNPINNED:-0}" != 1 && -f "$root/Cargo.lock" && -x "$bin/cargo" ]]; then
  # Look the real tools up on a PATH without our folder (a kernel started from a kernel's shell
  # would otherwise find the stand-ins and call itself).
  plain_path="$(tr ':' '\n' <<<"$PATH" | grep -vxF "$bin" | paste -sd: -)"
  real_rustup="$(PATH="$plain_path" command -v rustup || true)"
  real_cargo=""
  [[ -n "$real_rustup" ]] && real_cargo="$(PATH="$plain_path" "$real_rustup" which cargo 2>/dev/null || true)"
  [[ -n "$real_cargo" ]] || real_cargo="$(PATH="$plain_path" command -v cargo || true)"
  if [[ -n "$real_cargo" ]]; then
    export VAE_KERNEL_REAL_CARGO="$real_cargo" VAE_KERNEL_REAL_RUSTUP="$real_rustup"
    export VAE_KERNEL_LOCK="$root/Cargo.lock" PATH="$bin:$plain_path"
  fi
fi

exec "$evcxr" "$@"
