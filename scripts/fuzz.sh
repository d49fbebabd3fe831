#!/usr/bin/env bash
# Coverage-guided fuzzing with libFuzzer on stable Rust (`make fuzz`; not part of `make test`).
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]      default: 600 s, targets idx checkpoint
#
# Builds fuzz/ with the sanitizer-coverage flags that cargo-fuzz passes (all stable rustc flags;
# no sanitizer, so no nightly), seeds each target from tests/fuzz_corpus.rs, fuzzes, then
# minimises the corpus (-merge=1) back into fuzz/corpus/<target>/. Crashers land in
# fuzz/artifacts/<target>/: fix the bug, keep the file (the corpus replay test runs it).
# Finally replays everything with `cargo test --test fuzz_corpus`.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SECONDS_PER_TARGET="${1:-600}"
shift || true
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(idx checkpoint)
CARGO="${CARGO:-cargo}"
# Instrumented builds get their own target folder: they share nothing with normal builds.
OUT="${VAE_FUZZ_TARGET_DIR:-$ROOT/target/fuzz}"
HOST="$(rustc -vV | sed -n 's/^host: //p')"

export RUSTFLAGS="--cfg fuzzing -Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares"
# --target keeps RUSTFLAGS off build scripts and proc macros, which must not be instrumented.
(cd "$ROOT/fuzz" && CARGO_TARGET_DIR="$OUT" $CARGO build --release --target "$HOST" --bins)
unset RUSTFLAGS

SEEDS="$OUT/seeds"
rm -rf "$SEEDS"
(cd "$ROOT" && VAE_FUZZ_SEEDS="$SEEDS" $CARGO test -q -p vae-core --test fuzz_corpus seeds_are_accepted)

for t in "${TARGETS[@]}"; do
  bin="$OUT/$HOST/release/$t"
  corpus="$ROOT/fuzz/corpus/$t"
  work="$OUT/work/$t"
  mkdir -p "$corpus" "$work" "$ROOT/fuzz/artifacts/$t"
  flags=(-rss_limit_mb=2048 -timeout=10 -print_final_stats=1 "-artifact_prefix=$ROOT/fuzz/artifacts/$t/")
  case "$t" in
    checkpoint) flags+=(-max_len=8192 "-dict=$ROOT/fuzz/checkpoint.dict") ;;
    idx) flags+=(-max_len=4096) ;;
  esac
  echo "== fuzzing $t for ${SECONDS_PER_TARGET}s"
  "$bin" "${flags[@]}" "-max_total_time=$SECONDS_PER_TARGET" "$work" "$corpus" "$SEEDS/$t"
  echo "== minimising the $t corpus"
  rm -rf "$corpus.new" && mkdir "$corpus.new"
  # -use_counters=0: keep a file only if it reaches an edge no other kept file reaches
  # (hit-count variety is left to the work folder): a small corpus with the same coverage.
  "$bin" "${flags[@]}" -merge=1 -use_counters=0 "$corpus.new" "$corpus" "$work" "$SEEDS/$t"
  rm -rf "$corpus" && mv "$corpus.new" "$corpus"
  echo "== $t: $(ls "$corpus" | wc -l) files, $(du -sh "$corpus" | cut -f1) kept in fuzz/corpus/$t"
done

cd "$ROOT" && $CARGO test -q -p vae-core --test fuzz_corpus
