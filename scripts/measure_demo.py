"""Time the embedded default end to end (SFT warm start included) for several seeds and print before/after accuracy.

    python scripts/measure_demo.py --seeds 0 1 2            # each seed gets a fresh warm-start cache
    python scripts/measure_demo.py --seeds 0 -- trainer.max_steps=100

Prints one row per seed (wall time of the whole `rlrewards-train` process, accuracies before and after RL) and the
mean. Extra arguments after `--` are passed to rlrewards-train as overrides.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run_seed(seed: int, overrides: list[str], log_dir: Path) -> dict:
    cache = tempfile.mkdtemp(prefix=f"rlrewards-cache-s{seed}-")
    env = {**os.environ, "RLREWARDS_CACHE": cache}
    command = [
        sys.executable,
        "-m",
        "rlrewards.train",
        f"seed={seed}",
        "logger=none",
        f"paths.log_dir={log_dir}",
        f"hydra.run.dir={log_dir}/seed{seed}",
        *overrides,
    ]
    start = time.perf_counter()
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"seed {seed} failed:\n{result.stderr[-3000:]}")
    summary = json.loads((log_dir / f"seed{seed}" / "summary.json").read_text())
    return {"seed": seed, "process_s": wall, **summary}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--log-dir", type=Path, default=Path("outputs/measure_demo"))
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    keys = [
        "eval/before/accuracy_greedy",
        "eval/accuracy_greedy",
        "eval/before/accuracy_sampled",
        "eval/accuracy_sampled",
    ]
    print(f"{'seed':>4} {'wall_s':>7} {'sft_s':>6} {'rl_s':>6}  greedy before->after   sampled before->after")
    rows = []
    for seed in args.seeds:
        row = run_seed(seed, args.overrides, args.log_dir.resolve())
        rows.append(row)
        print(
            f"{seed:>4} {row['process_s']:>7.1f} {row['model_load_s']:>6.1f} {row['train_s']:>6.1f}  "
            f"{row[keys[0]]:.3f} -> {row[keys[1]]:.3f}          {row[keys[2]]:.3f} -> {row[keys[3]]:.3f}",
            flush=True,
        )
    mean = {k: sum(r[k] for r in rows) / len(rows) for k in ["process_s", *keys]}
    print(
        f"mean {mean['process_s']:>7.1f}                {mean[keys[0]]:.3f} -> {mean[keys[1]]:.3f}          "
        f"{mean[keys[2]]:.3f} -> {mean[keys[3]]:.3f}"
    )


if __name__ == "__main__":
    main()
