"""Per-recipe median step time (first step left out), peak GPU memory and the ratio to GRPO, from gpu_check runs.

python scripts/gpu_check_report.py outputs/gpu_check grpo tempo rlcr laser pure
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path


def run_stats(run_dir: Path) -> tuple[float, float | None, int]:
    times, peak = [], None
    for line in (run_dir / "metrics.jsonl").read_text().splitlines():
        record = json.loads(line)
        if record.get("train/step_time") is not None:
            times.append(record["train/step_time"])
        if record.get("train/gpu/peak_memory_gb") is not None:
            peak = max(peak or 0.0, record["train/gpu/peak_memory_gb"])
    if len(times) < 2:
        raise SystemExit(f"{run_dir}: fewer than 2 logged steps")
    return statistics.median(times[1:]), peak, len(times)


def main(out: Path, recipes: list[str]) -> None:
    stats = {recipe: run_stats(out / "runs" / f"gpu_check_{recipe}") for recipe in recipes}
    base = stats.get("grpo", (None,))[0]
    print(f"{'recipe':<8} {'steps':>5} {'median step s':>14} {'peak GB':>8} {'x GRPO':>7}")
    for recipe, (step, peak, count) in stats.items():
        ratio = f"{step / base:.3f}" if base else "-"
        memory = f"{peak:.2f}" if peak is not None else "-"
        print(f"{recipe:<8} {count:>5} {step:>14.3f} {memory:>8} {ratio:>7}")


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2:] or ["grpo", "tempo", "rlcr", "laser", "pure"])
