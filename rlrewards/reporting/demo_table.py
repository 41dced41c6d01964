"""The demo table: each paper's mechanism on a CPU testbed built for it, against its baseline, over seeds
(``make demo-table``).

    python -m rlrewards.reporting.demo_table             # train what is missing, then write the outputs
    python -m rlrewards.reporting.demo_table --reuse     # only rebuild the outputs from the runs
    python -m rlrewards.reporting.demo_table --workers 1 --seeds 0
    python -m rlrewards.reporting.demo_table --out /tmp/smoke --seeds 0 -- debug=fast   # extra overrides, every run

(``scripts/demo_table.py`` is a thin wrapper.) The recipes (experiment files and overrides), their chains, seeds,
the paper claims checked, curve metrics and figures come from ``results/demo/claims.yaml`` (``--claims``;
``rlrewards/reporting/demo_spec.py`` documents the fields).

Writes to ``--out`` (default ``results/demo``): ``summary.csv`` (one row per run: recipe, seed, accuracy, ece, brier,
auroc, sv_f1, train_s, then every other metric a claim names; empty where a metric does not apply), ``claims.csv``
(one row per claim: claim, recipe, baseline, metric, n_seeds, seeds_as_claimed, difference_mean, difference_std),
``REPORT.md`` and the spec's figures (``rlrewards/reporting/demo_report.py``). Runs go to ``<out>/table_runs/``
(git-ignored) and a finished run is not trained again.

accuracy/ece/brier/auroc/sv_f1 are over the final greedy evaluation records: ``ece``/``brier``/``auroc`` score the
recipe's ``confidence_key`` field (RLCR's stated confidence, LaSeR's self-reward) as a probability of being correct;
``sv_f1`` is LaSeR's self-verification F1 (score > 0.5 means "correct"). Runs that share a warm start (same seed and
SFT data) form a chain; ``--workers`` chains run at once, each on one CPU thread. The chain's first run evaluates the
warm start before RL for all of them (the others set ``evaluation.before_training=false``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from rlrewards.eval.metrics import auroc, brier_score, expected_calibration_error, self_verification_f1
from rlrewards.reporting.demo_report import write_claims_csv, write_report, write_summary
from rlrewards.reporting.demo_spec import CLAIMS_FILE, CurveMetric, DemoRecipe, DemoSpec, load_spec
from rlrewards.reporting.runs import Run, find_runs

ROOT = Path(__file__).resolve().parents[2]


def run_dir(out: Path, recipe: DemoRecipe, seed: int) -> Path:
    return out / "table_runs" / f"{recipe.label}-s{seed}"


def train(spec: DemoSpec, recipe: DemoRecipe, seed: int, out: Path, threads: int, extra: tuple[str, ...]) -> bool:
    """Train one run unless it finished before; True when it trained."""
    target = run_dir(out, recipe, seed)
    if (target / "summary.json").exists():
        print(f"{recipe.label} seed {seed}: reused", flush=True)
        return False
    command = [
        sys.executable,
        "-m",
        "rlrewards.train",
        f"experiment={recipe.experiment}",
        f"seed={seed}",
        "logger=none",
        f"hydra.run.dir={target}",
        *recipe.overrides,
        *extra,
    ]
    if spec.chain_leader(recipe) != recipe:  # the leader evaluated this warm start already (same seed, same evaluation)
        command.append("evaluation.before_training=false")
    cache = out / "table_runs" / "cache" / f"{recipe.chain}-s{seed}"
    env = {
        **os.environ,
        "RLREWARDS_CACHE": str(cache),
        "OMP_NUM_THREADS": str(threads),
        "MKL_NUM_THREADS": str(threads),
    }
    started = time.perf_counter()
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{recipe.experiment} seed {seed} failed:\n{result.stderr[-3000:]}")
    print(f"{recipe.label} seed {seed}: {time.perf_counter() - started:.0f} s", flush=True)
    return True


def train_all(spec: DemoSpec, out: Path, seeds: list[int], workers: int, extra: tuple[str, ...] = ()) -> int:
    """Train every missing run, ``workers`` chains at once; the number of runs trained. Chains alternate between
    families in ``spec.chain_order`` (longest first), so two workers finish close together."""
    chains = {}
    for seed in seeds:
        for chain in sorted({r.chain for r in spec.recipes}, key=spec.chain_order.index):
            chains[(chain, seed)] = [r for r in spec.recipes if r.chain == chain]
    threads = max(1, (os.cpu_count() or 1) // workers)

    def run_chain(key) -> int:
        return sum(train(spec, recipe, key[1], out, threads, extra) for recipe in chains[key])

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return sum(future.result() for future in [pool.submit(run_chain, key) for key in chains])


def row_metrics(spec: DemoSpec, recipe: DemoRecipe, run: Run) -> dict[str, float | None]:
    """The summary.csv cells of one run: accuracy and the confidence metrics from its final greedy evaluation
    records, ``train_s``, then every other metric a claim names (a curve metric of the spec or a summary.json key;
    empty where the run has none)."""
    records = [r for r in run.eval_records("after") if r.get("decoding") == "greedy"]
    if not records:
        raise SystemExit(f"{run.run_dir}: no greedy records in eval/after.jsonl")
    correct = [bool(r["correct"]) for r in records]
    row: dict[str, float | None] = {"accuracy": sum(correct) / len(correct)}
    row.update(ece=None, brier=None, auroc=None, sv_f1=None, train_s=run.summary.get("train_s"))
    if recipe.confidence_key:
        scores = [float(r.get(recipe.confidence_key) or 0.0) for r in records]  # a missing confidence counts as 0
        row.update(
            ece=expected_calibration_error(scores, correct),
            brier=brier_score(scores, correct),
            auroc=auroc(scores, correct),
        )
        if recipe.confidence_key == "self_reward":
            row["sv_f1"] = self_verification_f1(scores, correct, threshold=0.5)
    for name in spec.extra_metrics():
        row[name] = extra_metric(spec, run, name)
    return row


def extra_metric(spec: DemoSpec, run: Run, name: str) -> float | None:
    curve_metric = spec.curve_metric(name)
    if curve_metric is not None:
        points = run.curve(curve_metric.curve)
        if curve_metric.statistic == "final":
            last = [value for _, value in points[-curve_metric.window :]]
            return sum(last) / len(last) if last else None
        return steps_to_reach(points, curve_metric)
    value = run.summary.get(name)
    return float(value) if isinstance(value, int | float) else None


def steps_to_reach(points: list[tuple[int, float]], metric: CurveMetric) -> float | None:
    """The first logged step at which the mean of the last ``metric.window`` logged values reaches
    ``metric.at_least``; the last logged step when it never does (censored at the budget); None without a curve."""
    if not points:
        return None
    for index in range(len(points)):
        recent = [value for _, value in points[max(0, index - metric.window + 1) : index + 1]]
        if len(recent) == min(metric.window, index + 1) and sum(recent) / len(recent) >= metric.at_least:
            return float(points[index][0])
    return float(points[-1][0])


def collect(spec: DemoSpec, out: Path, seeds: list[int]) -> tuple[list[dict], dict[str, list[Run]]]:
    rows, groups = [], {}
    for recipe in spec.recipes:
        for seed in seeds:
            found = find_runs([run_dir(out, recipe, seed)])
            if not found:
                raise SystemExit(f"missing run {run_dir(out, recipe, seed)}; run without --reuse")
            (run,) = found
            groups.setdefault(recipe.label, []).append(run)
            rows.append({"recipe": recipe.label, "seed": seed, **row_metrics(spec, recipe, run)})
    return rows, groups


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "demo")
    parser.add_argument("--seeds", type=int, nargs="+", default=None, help="default: the spec's seeds")
    parser.add_argument("--workers", type=int, default=2, help="chains trained at once")
    parser.add_argument("--reuse", action="store_true", help="only tabulate existing runs")
    parser.add_argument("--claims", type=Path, default=CLAIMS_FILE, help="the recipes and claims (YAML)")
    parser.add_argument("overrides", nargs="*", help="extra rlrewards-train overrides for every run")
    args = parser.parse_args()
    out = args.out.resolve()
    spec = load_spec(args.claims)
    seeds = args.seeds if args.seeds is not None else list(spec.seeds)
    out.mkdir(parents=True, exist_ok=True)
    wall = None
    if not args.reuse:
        started = time.perf_counter()
        if train_all(spec, out, seeds, args.workers, tuple(args.overrides)) == len(spec.recipes) * len(seeds):
            wall = time.perf_counter() - started  # only a complete training pass says how long the table takes
            timing = {"wall_s": wall, "workers": args.workers, "seeds": seeds, "date": time.strftime("%Y-%m-%d")}
            (out / "table_runs" / "timing.json").write_text(json.dumps(timing))
        print(f"trained in {(time.perf_counter() - started) / 60:.1f} min", flush=True)
    if wall is None and (out / "table_runs" / "timing.json").exists():  # the runs' own complete training pass
        wall = json.loads((out / "table_runs" / "timing.json").read_text())["wall_s"]
    rows, groups = collect(spec, out, seeds)
    write_summary(rows, out / "summary.csv")
    write_claims_csv(spec, rows, out / "claims.csv")
    write_report(spec, out, rows, groups, seeds, wall, args.overrides)
    print((out / "REPORT.md").read_text())


if __name__ == "__main__":
    main()
