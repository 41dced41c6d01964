"""How fast ``rlrewards-train`` answers before any training: a config error, ``--help`` and ``dry_run=true``.

    python scripts/bench_startup.py            # 3 repeats of each
    python scripts/bench_startup.py --repeats 5 --experiment laser/qwen2.5-7b

Runs each command as a fresh process (``python -m rlrewards.train``, as the console script does) from a temporary
directory, and prints the wall seconds of each repeat, their median, the median CPU seconds (user + system: less
sensitive to a busy machine) and whether the process imported torch (a run that answers before the training stack
never should). The target (issue 14): about 2 s on 2 cores. A measurement,
not a test: the numbers depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# the entry point in-process, then one line saying whether torch was imported
PROBE = (
    "import sys; sys.argv = ['rlrewards-train', *sys.argv[1:]]\n"
    "try:\n    from rlrewards.train import main; main()\n"
    "finally:\n    print('TORCH_IMPORTED', 'torch' in sys.modules, file=sys.stderr)\n"
)


def cases(experiment: str) -> dict[str, list[str]]:
    return {
        "config error (trainer.learning_rate=-1)": ["trainer.learning_rate=-1"],
        "--help": ["--help"],
        f"dry_run=true experiment={experiment}": [f"experiment={experiment}", "dry_run=true"],
    }


def timed(args: list[str], cwd: str) -> tuple[float, float, int, bool]:
    """(wall seconds, CPU seconds of the child: user + system, exit code, whether it imported torch)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "WANDB_MODE": "disabled"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", PROBE, *args], cwd=cwd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return seconds, cpu, result.returncode, "TORCH_IMPORTED True" in result.stderr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--experiment", default="laser/qwen2.5-7b")
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory() as cwd:
        for name, command in cases(args.experiment).items():
            runs = [timed(command, cwd) for _ in range(args.repeats)]
            wall = statistics.median(run[0] for run in runs)
            cpu = statistics.median(run[1] for run in runs)
            codes = sorted({run[2] for run in runs})
            torch = any(run[3] for run in runs)
            shown = " ".join(f"{run[0]:.2f}" for run in runs)
            print(
                f"{name:<45} median wall {wall:6.2f} s (runs {shown}), CPU {cpu:5.2f} s, exit {codes}, "
                f"torch imported: {torch}"
            )


if __name__ == "__main__":
    main()
