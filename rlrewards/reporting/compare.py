"""Run several experiments over the same seeds and budget, then tabulate accuracy and reward curves side by side.

    python scripts/compare_recipes.py --experiments tempo/arith_tiny tempo/arith_tiny_grpo --seeds 0 1 2 \\
        --out results/demo/tempo_vs_grpo --reward-threshold 0.5

Each seed's SFT warm start is built once and shared by every experiment (same cache). Writes to ``--out``:
``table.md`` (held-out accuracy before/after RL, mean ± std over seeds; final training reward; steps until the
smoothed training reward first reaches the threshold), ``curves.csv`` (step, reward per run) and ``runs.json``.
``--reuse`` tabulates existing run directories without training; ``--rebuild DIR`` rewrites ``DIR/table.md`` from
its own ``runs.json`` and ``curves.csv`` with the settings recorded on the table's first line (no run directories
needed: this is how the committed ``results/demo/*/table.md`` are checked against the code).
``python -m rlrewards.reporting.compare`` is the same; the script is a thin wrapper.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

from rlrewards.reporting.formatting import mean_std

ACCURACY_KEYS = [
    ("greedy", "eval/before/accuracy_greedy", "eval/accuracy_greedy"),
    ("sampled", "eval/before/accuracy_sampled", "eval/accuracy_sampled"),
]


def run(experiment: str, seed: int, run_dir: Path, cache: Path, overrides: list[str]) -> None:
    command = [
        sys.executable,
        "-m",
        "rlrewards.train",
        f"experiment={experiment}",
        f"seed={seed}",
        "logger=none",
        f"hydra.run.dir={run_dir}",
        *overrides,
    ]
    env = {**os.environ, "RLREWARDS_CACHE": str(cache)}
    start = time.perf_counter()
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"{experiment} seed {seed} failed:\n{result.stderr[-3000:]}")
    print(f"  {experiment} seed {seed}: {time.perf_counter() - start:.0f} s", flush=True)


def metric_curve(run_dir: Path, metric: str) -> list[tuple[int, float]]:
    curve = []
    for line in (run_dir / "metrics.jsonl").read_text().splitlines():
        record = json.loads(line)
        if metric in record:
            curve.append((int(record["step"]), float(record[metric])))
    return curve


def steps_to_threshold(curve: list[tuple[int, float]], threshold: float, window: int) -> int | None:
    """First step at which the mean of the last ``window`` logged rewards reaches ``threshold``."""
    for index in range(window - 1, len(curve)):
        if statistics.fmean(r for _, r in curve[index - window + 1 : index + 1]) >= threshold:
            return curve[index][0]
    return None


def mean_std_na(values: list[float]) -> str:
    return mean_std(values, empty="n/a")


def tabulate(
    runs: list[dict], threshold: float, window: int, curve_metric: str, extra: list[str], summary_keys: list[str]
) -> str:
    header = (
        "| experiment | seeds | greedy before | greedy after | sampled before | sampled after | "
        f"final {curve_metric} | steps to {curve_metric} ≥ {threshold} |"
        + "".join(f" final {m} |" for m in extra)
        + "".join(f" {k} |" for k in summary_keys)
    )
    lines = [header, "|" + "---|" * (8 + len(extra) + len(summary_keys))]
    for experiment in dict.fromkeys(r["experiment"] for r in runs):
        rows = [r for r in runs if r["experiment"] == experiment]
        cells = [experiment, str(len(rows))]
        for _, before, after in ACCURACY_KEYS:
            cells += [
                mean_std_na([r["summary"][before] for r in rows]),
                mean_std_na([r["summary"][after] for r in rows]),
            ]
        finals = [statistics.fmean(v for _, v in r["curve"][-window:]) for r in rows if r["curve"]]
        reached = [steps_to_threshold(r["curve"], threshold, window) for r in rows]
        steps = ", ".join("not reached" if s is None else str(s) for s in reached)
        cells += [mean_std_na(finals), steps]
        for metric in extra:
            values = [statistics.fmean(v for _, v in r["extra"][metric][-window:]) for r in rows if r["extra"][metric]]
            cells.append(mean_std_na(values))
        for key in summary_keys:
            cells.append(mean_std_na([r["summary"][key] for r in rows if r["summary"].get(key) is not None]))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--experiments", nargs="+")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", type=Path)
    parser.add_argument("--reward-threshold", type=float, default=0.5)
    parser.add_argument("--window", type=int, default=4, help="logged points averaged for the reward curve")
    parser.add_argument("--curve-metric", default="train/reward", help="the logged metric to follow")
    parser.add_argument("--extra-metrics", nargs="*", default=[], help="more logged metrics to tabulate (final)")
    parser.add_argument("--summary-metrics", nargs="*", default=[], help="summary.json keys to tabulate")
    parser.add_argument("--reuse", action="store_true", help="only tabulate existing runs under --out")
    parser.add_argument("--rebuild", type=Path, metavar="DIR", help="rewrite DIR/table.md from its runs.json")
    parser.add_argument("overrides", nargs="*", help="extra rlrewards-train overrides for every run")
    return parser


def collect_runs(args: argparse.Namespace, out: Path) -> list[dict]:
    """Train (unless ``--reuse``) and read every run: its summary and the logged curves the table follows."""
    runs = []
    for seed in args.seeds:
        cache = out / "cache" / f"seed{seed}"
        for experiment in args.experiments:
            run_dir = out / "runs" / f"{experiment.replace('/', '--')}-s{seed}"
            if not args.reuse:
                run(experiment, seed, run_dir, cache, args.overrides)
            summary = json.loads((run_dir / "summary.json").read_text())
            runs.append(
                {
                    "experiment": experiment,
                    "seed": seed,
                    "summary": summary,
                    "curve": metric_curve(run_dir, args.curve_metric),
                    "extra": {m: metric_curve(run_dir, m) for m in args.extra_metrics},
                }
            )
    return runs


def write_outputs(out: Path, runs: list[dict], args: argparse.Namespace, command: str) -> str:
    table = tabulate(
        runs, args.reward_threshold, args.window, args.curve_metric, args.extra_metrics, args.summary_metrics
    )
    (out / "table.md").write_text(f"<!-- {command} -->\n\n{table}")
    with (out / "curves.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["experiment", "seed", "metric", "step", "value"])
        for r in runs:
            for metric, curve in {args.curve_metric: r["curve"], **r["extra"]}.items():
                writer.writerows([r["experiment"], r["seed"], metric, step, value] for step, value in curve)
    kept = [{k: v for k, v in r.items() if k not in ("curve", "extra")} for r in runs]
    (out / "runs.json").write_text(json.dumps(kept, indent=1))
    return table


def load_outputs(out: Path, args: argparse.Namespace) -> list[dict]:
    """The runs as ``collect_runs`` read them, back from ``runs.json`` and ``curves.csv``."""
    runs = json.loads((out / "runs.json").read_text())
    curves: dict[tuple, list[tuple[int, float]]] = {}
    with (out / "curves.csv").open(newline="") as handle:
        for row in csv.DictReader(handle):
            key = (row["experiment"], int(row["seed"]), row["metric"])
            curves.setdefault(key, []).append((int(row["step"]), float(row["value"])))
    for r in runs:
        key = (r["experiment"], r["seed"])
        r["curve"] = curves.get((*key, args.curve_metric), [])
        r["extra"] = {m: curves.get((*key, m), []) for m in args.extra_metrics}
    return runs


def rebuild(out: Path) -> str:
    """Rewrite ``out/table.md`` from its recorded outputs, with the settings on its first line (the command)."""
    first, _ = (out / "table.md").read_text().split("\n", 1)
    command = first.removeprefix("<!-- ").removesuffix(" -->")
    args = parser().parse_args(shlex.split(command)[2:])  # drop "python scripts/compare_recipes.py"
    runs = load_outputs(out, args)
    table = tabulate(
        runs, args.reward_threshold, args.window, args.curve_metric, args.extra_metrics, args.summary_metrics
    )
    (out / "table.md").write_text(f"{first}\n\n{table}")
    return table


def main() -> None:
    args = parser().parse_args()
    if args.rebuild:
        print(rebuild(args.rebuild))
        return
    if not args.experiments or not args.out:
        parser().error("--experiments and --out are required (unless --rebuild)")
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    runs = collect_runs(args, out)
    print(write_outputs(out, runs, args, "python scripts/compare_recipes.py " + " ".join(sys.argv[1:])))


if __name__ == "__main__":
    main()
