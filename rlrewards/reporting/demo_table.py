"""The demo table: every recipe and its baseline on the embedded ``arith`` task, 3 seeds, on CPU (``make demo-table``).

    python scripts/demo_table.py                      # train what is missing, then write the table, report, plots
    python scripts/demo_table.py --reuse              # only rebuild the table, report and plots from the runs
    python scripts/demo_table.py --workers 1 --seeds 0
    python scripts/demo_table.py --out /tmp/smoke --seeds 0 -- debug=fast   # extra overrides for every run

(``python -m rlrewards.reporting.demo_table`` is the same; the script is a thin wrapper.) The recipes, their chains
and the paper claims checked come from ``results/demo/claims.yaml`` (``--claims``).

Writes to ``--out`` (default ``results/demo``): ``summary.csv`` (one row per run: recipe, seed, accuracy, ece, brier,
auroc, sv_f1, train_s; empty where a metric does not apply), ``REPORT.md`` (mean ± std per recipe; each paper's claim
beside what the demo shows, paired by seed) and ``curves.png``, ``reliability.png``, ``reliability_self_reward.png``,
``voting.png``. Runs go to ``<out>/table_runs/`` (git-ignored) and a finished run is not trained again.

All metrics are over the final greedy evaluation (500 held-out problems). ``ece``/``brier``/``auroc`` score the stated
confidence (RLCR's format) or LaSeR's self-reward score as a probability of being correct; ``sv_f1`` is LaSeR's
self-verification F1 (score > 0.5 means "correct"). Runs that share a warm start (same seed and SFT data) form a
chain; ``--workers`` chains run at once, each on one CPU thread. The chain's first run evaluates the warm start
before RL for all of them (the others set ``evaluation.before_training=false``).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from rlrewards.eval.metrics import auroc, brier_score, expected_calibration_error, self_verification_f1
from rlrewards.reporting.demo_spec import CLAIMS_FILE, DemoRecipe, DemoSpec, load_spec
from rlrewards.reporting.formatting import mean_std
from rlrewards.reporting.plots import DEFAULT_CURVES, reliability_panels, training_curves, voting_panels
from rlrewards.reporting.runs import Run, find_runs

ROOT = Path(__file__).resolve().parents[2]

# training curves: accuracy and length for every recipe, then one signal per recipe
CURVES = tuple(c for c in DEFAULT_CURVES if c != "train/reward")  # each recipe's reward has its own scale
COLUMNS = ("recipe", "seed", "accuracy", "ece", "brier", "auroc", "sv_f1", "train_s")


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


def row_metrics(recipe: DemoRecipe, run: Run) -> dict[str, float | None]:
    """The summary.csv cells of one run, from its final greedy evaluation records."""
    records = [r for r in run.eval_records("after") if r.get("decoding") == "greedy"]
    if not records:
        raise SystemExit(f"{run.run_dir}: no greedy records in eval/after.jsonl")
    correct = [bool(r["correct"]) for r in records]
    row: dict[str, float | None] = {"accuracy": sum(correct) / len(correct), "train_s": run.summary.get("train_s")}
    row.update(ece=None, brier=None, auroc=None, sv_f1=None)
    if recipe.confidence_key:
        scores = [float(r.get(recipe.confidence_key) or 0.0) for r in records]  # a missing confidence counts as 0
        row.update(
            ece=expected_calibration_error(scores, correct),
            brier=brier_score(scores, correct),
            auroc=auroc(scores, correct),
        )
        if recipe.confidence_key == "self_reward":
            row["sv_f1"] = self_verification_f1(scores, correct, threshold=0.5)
    return row


def collect(spec: DemoSpec, out: Path, seeds: list[int]) -> tuple[list[dict], dict[str, list[Run]]]:
    rows, groups = [], {}
    for recipe in spec.recipes:
        for seed in seeds:
            found = find_runs([run_dir(out, recipe, seed)])
            if not found:
                raise SystemExit(f"missing run {run_dir(out, recipe, seed)}; run without --reuse")
            (run,) = found
            groups.setdefault(recipe.label, []).append(run)
            rows.append({"recipe": recipe.label, "seed": seed, **row_metrics(recipe, run)})
    return rows, groups


def write_summary(rows: list[dict], path: Path) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for row in rows:
            writer.writerow([_csv(row[c]) for c in COLUMNS])


def read_summary(path: Path) -> list[dict]:
    """The rows back from a summary.csv (cells rounded to 4 decimals): enough to rebuild the claim table without the
    runs, which is how the committed REPORT.md is checked against results/demo/claims.yaml."""
    with path.open(newline="") as handle:
        cells = list(csv.DictReader(handle))
    numbers = [c for c in COLUMNS if c not in ("recipe", "seed")]
    return [
        {"recipe": c["recipe"], "seed": int(c["seed"]), **{k: float(c[k]) if c[k] else None for k in numbers}}
        for c in cells
    ]


def _csv(value) -> str:
    if value is None:
        return ""
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def recipe_table(spec: DemoSpec, rows: list[dict], groups: dict[str, list[Run]]) -> list[str]:
    metrics = ("accuracy", "ece", "brier", "auroc", "sv_f1", "train_s")
    lines = ["| recipe | experiment | seeds | accuracy before RL | " + " | ".join(metrics) + " |"]
    lines.append("|" + "---|" * (4 + len(metrics)))
    for recipe in spec.recipes:
        chosen = [r for r in rows if r["recipe"] == recipe.label]
        before = [r.summary["eval/before/accuracy_greedy"] for r in groups[spec.chain_leader(recipe).label]]
        cells = [mean_std([r[m] for r in chosen if r[m] is not None]) for m in metrics]
        lines.append(
            f"| {recipe.label} | {recipe.experiment} | {len(chosen)} | {mean_std(before)} | " + " | ".join(cells)
        )
        lines[-1] += " |"
    return lines


def claim_table(spec: DemoSpec, rows: list[dict]) -> list[str]:
    """Each claim against the demo: the recipe minus its baseline per seed (same seed = same warm start), or the
    recipe's own value against the claim's threshold; how many seeds go the claimed way."""
    value = {(r["recipe"], r["seed"]): r for r in rows}
    seeds = sorted({r["seed"] for r in rows})
    lines = [
        "| paper's claim | metric | compared with | difference (mean ± std) | seeds as claimed |",
        "|---|---|---|---|---|",
    ]
    for claim in spec.claims:
        diffs = []
        for seed in seeds:
            ours = value[(claim.recipe, seed)][claim.metric]
            base = claim.threshold if claim.baseline is None else value[(claim.baseline, seed)][claim.metric]
            if ours is not None and base is not None:
                diffs.append(ours - base)
        agree = sum(1 for d in diffs if d * claim.direction > -claim.margin)
        against = (claim.baseline or f"{claim.threshold:g}") + (f" (within {claim.margin:g})" if claim.margin else "")
        lines.append(f"| {claim.text} | {claim.metric} | {against} | {mean_std(diffs)} | {agree}/{len(diffs)} |")
    return lines


def write_report(
    spec: DemoSpec, out: Path, rows: list[dict], groups: dict, seeds: list[int], wall: float | None, extra: list[str]
):
    figures = [
        training_curves(groups, CURVES, out / "curves.png"),
        reliability_panels({k: groups[k] for k in ("rlvr", "rlcr")}, out / "reliability.png"),
        reliability_panels(
            {"laser": groups["laser"]}, out / "reliability_self_reward.png", confidence_key="self_reward"
        ),
        voting_panels({k: groups[k] for k in ("grpo", "laser", "rlvr", "rlcr")}, out / "voting.png"),
    ]
    timing = f"trained in {wall / 60:.1f} min of wall time" if wall is not None else "partly or wholly reused runs"
    steps = sorted({run.summary.get("steps") for runs in groups.values() for run in runs})
    problems = sorted({sum(r.get("decoding") == "greedy" for r in runs[0].eval_records()) for runs in groups.values()})
    lines = [
        "# Demo table: every recipe and its baseline on the embedded arith task",
        "",
        f"Written by `make demo-table` (`python scripts/demo_table.py`), seeds {', '.join(map(str, seeds))}, "
        f"{timing}, on {platform.machine()} with {os.cpu_count()} CPU cores"
        + (f", extra overrides `{' '.join(extra)}`" if extra else "")
        + ". Runs: `table_runs/` (not committed); one row per run in `summary.csv`.",
        "",
        f"Tiny model (built from scratch, SFT warm start on worked solutions), {'/'.join(map(str, steps))} RL "
        "steps (8 prompts x 8 completions by default) on CPU. grpo/tempo/pure/laser run the default demo (half the "
        "SFT solutions skip their working, lr 3e-5); rlvr/rlcr run RLCR's demo (difficulty level in the prompt, a "
        "stated confidence, lr 1e-5). Runs with the same seed start from the same warm start. Metrics: final greedy "
        f"evaluation on {'/'.join(map(str, problems))} held-out problems; ece/brier/auroc score the stated confidence "
        "(rlvr, rlcr) or LaSeR's self-reward (laser); sv_f1 is LaSeR's self-verification F1. train_s is the RL phase "
        "only, measured with the runs sharing the CPU (see --workers), so it compares runs of this table, not "
        "machines.",
        "",
        "## Results (mean ± std over seeds)",
        "",
        *recipe_table(spec, rows, groups),
        "",
        "## What each paper's claim predicts, and what the demo shows",
        "",
        "Difference = recipe - baseline on the same seed (or the recipe's value - the threshold). A paper-scale "
        "effect need not appear at this scale; the table says only what this demo shows.",
        "",
        *claim_table(spec, rows),
        "",
        "## Figures",
        "",
        *[f"- `{f.name}`" for f in figures if f is not None],
        "",
    ]
    (out / "REPORT.md").write_text("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "demo")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--workers", type=int, default=2, help="chains trained at once")
    parser.add_argument("--reuse", action="store_true", help="only tabulate existing runs")
    parser.add_argument("--claims", type=Path, default=CLAIMS_FILE, help="the recipes and claims (YAML)")
    parser.add_argument("overrides", nargs="*", help="extra rlrewards-train overrides for every run")
    args = parser.parse_args()
    out = args.out.resolve()
    spec = load_spec(args.claims)
    out.mkdir(parents=True, exist_ok=True)
    wall = None
    if not args.reuse:
        started = time.perf_counter()
        if train_all(spec, out, args.seeds, args.workers, tuple(args.overrides)) == len(spec.recipes) * len(args.seeds):
            wall = time.perf_counter() - started  # only a complete training pass says how long the table takes
            timing = {"wall_s": wall, "workers": args.workers, "seeds": args.seeds, "date": time.strftime("%Y-%m-%d")}
            (out / "table_runs" / "timing.json").write_text(json.dumps(timing))
        print(f"trained in {(time.perf_counter() - started) / 60:.1f} min", flush=True)
    if wall is None and (out / "table_runs" / "timing.json").exists():  # the runs' own complete training pass
        wall = json.loads((out / "table_runs" / "timing.json").read_text())["wall_s"]
    rows, groups = collect(spec, out, args.seeds)
    write_summary(rows, out / "summary.csv")
    write_report(spec, out, rows, groups, args.seeds, wall, args.overrides)
    print((out / "REPORT.md").read_text())


if __name__ == "__main__":
    main()
