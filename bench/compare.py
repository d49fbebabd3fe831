#!/usr/bin/env python3
"""Side-by-side training speed: vae-core (`vae bench`) against PyTorch CPU
(`bench/pytorch_reference.py`) or, for the conv VAE, TensorFlow CPU (`bench/tf_reference.py`,
`--reference tensorflow`), run in alternation on the same machine and the same IDX files,
printing each run and the ratio of the medians (vae-core / reference; below 1 is faster).

Usage:
  python3 bench/compare.py --model mlp-vae --rounds 3 [--max-batches 200] \
      [--python /path/to/venv-with-torch/bin/python] [--vae target/release/vae] [--threads 2]

`--python` names the interpreter of the reference's venv. TensorFlow traces its training step on
the first call (seconds), so its runs start with 20 untimed steps.

Both sides time the same number of batches and report seconds per full epoch (extrapolated
when --max-batches is given). The `vae` binary is built with `cargo build --release --bin vae`.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FULL_BATCHES = {"mlp-vae": 469, "conv-vae": 1875}  # 60 000 images at batch 128 / 32


def last_json(out):
    rows = [json.loads(l) for l in out.splitlines() if l.startswith("{")]
    if not rows:
        raise RuntimeError("no JSON line in the output:\n" + out)
    return rows[-1]


def run(cmd, env):
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if p.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stderr}")
    return last_json(p.stdout)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", choices=sorted(FULL_BATCHES), default="mlp-vae")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--max-batches", type=int, default=0)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--reference", choices=["pytorch", "tensorflow"], default="pytorch")
    ap.add_argument("--python", default=sys.executable, help="a Python with the reference (torch or tensorflow) and numpy")
    ap.add_argument("--vae", default=os.path.join(ROOT, "target", "release", "vae"))
    ap.add_argument("--candle-threads", type=int, default=0,
                    help="CANDLE_NUM_THREADS for vae-core's elementwise pool (0: leave the environment's)")
    a = ap.parse_args()
    env = dict(os.environ, RAYON_NUM_THREADS=str(a.threads))
    if a.candle_threads > 0:
        env["CANDLE_NUM_THREADS"] = str(a.candle_threads)
    limit = ["--max-batches", str(a.max_batches)] if a.max_batches else []
    full = FULL_BATCHES[a.model]
    if a.reference == "tensorflow":
        if a.model != "conv-vae":
            sys.exit("--reference tensorflow: bench/tf_reference.py has the conv VAE only (use --model conv-vae)")
        reference_cmd = [a.python, os.path.join(ROOT, "bench", "tf_reference.py"), "--epochs", "1", "--warmup", "20",
                         "--threads", str(a.threads)] + limit
    else:
        reference_cmd = [a.python, os.path.join(ROOT, "bench", "pytorch_reference.py"), "--model", a.model,
                         "--epochs", "1", "--threads", str(a.threads)] + limit
    ours, theirs = [], []
    for r in range(a.rounds):
        v = run([a.vae, "bench", "--model", a.model, "--epochs", "1", "--json"] + limit, env)
        ours.append(v["epoch_seconds"] * full / v["batches"])
        t = run(reference_cmd, env)
        theirs.append(t.get("extrapolated_epoch_seconds", t["epoch_seconds"]))
        print(json.dumps({"round": r + 1, "model": a.model, "vae_core_epoch_seconds": round(ours[-1], 2),
                          f"{a.reference}_epoch_seconds": round(theirs[-1], 2)}), flush=True)
    mo, mt = statistics.median(ours), statistics.median(theirs)
    print(json.dumps({"model": a.model, "threads": a.threads, "rounds": a.rounds, "median_vae_core": round(mo, 2),
                      f"median_{a.reference}": round(mt, 2), "ratio": round(mo / mt, 3)}))


if __name__ == "__main__":
    main()
