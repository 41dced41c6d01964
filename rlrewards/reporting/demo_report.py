"""The demo table's outputs from its rows (one per run: recipe, seed, metrics): ``summary.csv``, ``claims.csv``,
``REPORT.md`` and the figures the spec names. Pure bookkeeping: no training, no model."""

from __future__ import annotations

import csv
import os
import platform
import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path

from rlrewards.reporting.demo_spec import RECORD_METRICS, Claim, DemoSpec, Figure
from rlrewards.reporting.formatting import mean_std
from rlrewards.reporting.plots import DEFAULT_CURVES, reliability_panels, training_curves, voting_panels
from rlrewards.reporting.runs import Run

# training curves: accuracy and length for every recipe, then one signal per recipe
CURVES = tuple(c for c in DEFAULT_CURVES if c != "train/reward")  # each recipe's reward has its own scale
BEFORE = "eval/before/accuracy_greedy"  # the chain leader's evaluation of the warm start
CLAIM_COLUMNS = (
    "claim",
    "recipe",
    "baseline",
    "metric",
    "n_seeds",
    "seeds_as_claimed",
    "difference_mean",
    "difference_std",
)


def write_summary(rows: Sequence[Mapping], path: Path) -> None:
    """One line per run; the columns are the rows' keys (recipe, seed, then the metrics in row order)."""
    columns = list(rows[0]) if rows else ["recipe", "seed"]
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        for row in rows:
            writer.writerow([_csv(row.get(c)) for c in columns])


def read_summary(path: Path) -> list[dict]:
    """The rows back from a summary.csv (cells rounded to 4 decimals): enough to rebuild the claim table without the
    runs, which is how a committed REPORT.md is checked against its claims.yaml."""
    with path.open(newline="") as handle:
        cells = list(csv.DictReader(handle))
    return [
        {
            "recipe": c["recipe"],
            "seed": int(c["seed"]),
            **{k: float(v) if v else None for k, v in c.items() if k not in ("recipe", "seed")},
        }
        for c in cells
    ]


def _csv(value) -> str:
    if value is None:
        return ""
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def claim_differences(claim: Claim, rows: Sequence[Mapping]) -> list[float]:
    """Per seed: the recipe's value minus what the claim compares it with (the baseline's run on the same seed, the
    same run's ``baseline_metric``, or the threshold); seeds where either side is missing are left out."""
    value = {(r["recipe"], r["seed"]): r for r in rows}
    diffs = []
    for seed in sorted({r["seed"] for r in rows}):
        ours = value[(claim.recipe, seed)].get(claim.metric)
        if claim.baseline is None and claim.baseline_metric is None:
            base = claim.threshold
        else:
            base = value[(claim.baseline or claim.recipe, seed)].get(claim.compared_metric)
        if ours is not None and base is not None:
            diffs.append(ours - base)
    return diffs


def seeds_as_claimed(claim: Claim, diffs: Sequence[float]) -> int:
    return sum(1 for d in diffs if d * claim.direction > -claim.margin)


def claim_rows(spec: DemoSpec, rows: Sequence[Mapping]) -> list[dict]:
    """``claims.csv``: one row per claim with the per-seed differences' mean and sample std."""
    out = []
    for claim in spec.claims:
        diffs = claim_differences(claim, rows)
        out.append(
            {
                "claim": claim.text,
                "recipe": claim.recipe,
                "baseline": claim.against,
                "metric": claim.metric,
                "n_seeds": len(diffs),
                "seeds_as_claimed": seeds_as_claimed(claim, diffs),
                "difference_mean": statistics.fmean(diffs) if diffs else None,
                "difference_std": (statistics.stdev(diffs) if len(diffs) > 1 else 0.0) if diffs else None,
            }
        )
    return out


def write_claims_csv(spec: DemoSpec, rows: Sequence[Mapping], path: Path) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(CLAIM_COLUMNS)
        for row in claim_rows(spec, rows):
            writer.writerow([_csv(row[c]) for c in CLAIM_COLUMNS])


def claim_table(spec: DemoSpec, rows: Sequence[Mapping]) -> list[str]:
    """Each claim against the demo as Markdown: the difference per seed (mean ± std) and how many seeds go the
    claimed way (within ``margin`` for "keeps" claims)."""
    lines = [
        "| paper's claim | metric | compared with | difference (mean ± std) | seeds as claimed |",
        "|---|---|---|---|---|",
    ]
    for claim in spec.claims:
        diffs = claim_differences(claim, rows)
        against = claim.against + (f" (within {claim.margin:g})" if claim.margin else "")
        agree = seeds_as_claimed(claim, diffs)
        lines.append(f"| {claim.text} | {claim.metric} | {against} | {mean_std(diffs)} | {agree}/{len(diffs)} |")
    return lines


def recipe_table(spec: DemoSpec, rows: Sequence[Mapping], groups: Mapping[str, Sequence[Run]]) -> list[str]:
    """Mean ± std per recipe of the record metrics and train_s (the columns some recipe fills)."""
    metrics = [m for m in (*RECORD_METRICS, "train_s") if any(r.get(m) is not None for r in rows)]
    lines = ["| recipe | experiment | seeds | accuracy before RL | " + " | ".join(metrics) + " |"]
    lines.append("|" + "---|" * (4 + len(metrics)))
    for recipe in spec.recipes:
        chosen = [r for r in rows if r["recipe"] == recipe.label]
        leader = groups.get(spec.chain_leader(recipe).label, [])
        before = [r.summary[BEFORE] for r in leader if BEFORE in r.summary]
        cells = [mean_std([r[m] for r in chosen if r.get(m) is not None]) for m in metrics]
        lines.append(
            f"| {recipe.label} | {recipe.experiment} | {len(chosen)} | {mean_std(before)} | " + " | ".join(cells) + " |"
        )
    return lines


def extra_metric_table(spec: DemoSpec, rows: Sequence[Mapping]) -> list[str]:
    """The claims' other metrics (curve metrics, summary keys), mean ± std per recipe that has them."""
    metrics = list(spec.extra_metrics())
    if not metrics:
        return []
    lines = ["| recipe | metric | seeds | mean ± std |", "|---|---|---|---|"]
    for recipe in spec.recipes:
        for metric in metrics:
            values = [r[metric] for r in rows if r["recipe"] == recipe.label and r.get(metric) is not None]
            if values:
                lines.append(f"| {recipe.label} | {metric} | {len(values)} | {mean_std(values)} |")
    return lines


def draw_figure(figure: Figure, groups: Mapping[str, Sequence[Run]], spec: DemoSpec, out: Path) -> Path | None:
    chosen = {label: groups[label] for label in (figure.recipes or list(groups)) if label in groups}
    path = out / figure.file
    if figure.kind == "curves":
        return training_curves(chosen, figure.curves or CURVES, path)
    if figure.kind == "voting":
        return voting_panels(chosen, path)
    key = figure.confidence_key or next(
        (spec.recipe(label).confidence_key for label in chosen if spec.recipe(label).confidence_key), "confidence"
    )
    return reliability_panels(chosen, path, confidence_key=key)


def write_report(
    spec: DemoSpec,
    out: Path,
    rows: Sequence[Mapping],
    groups: Mapping[str, Sequence[Run]],
    seeds: Sequence[int],
    wall: float | None,
    extra: Sequence[str],
) -> None:
    """REPORT.md (and the figures): settings, results per recipe, each claim, each paper's testbed, and the
    hand-written reading of the results (``findings.md`` beside it, when present)."""
    figures = [draw_figure(figure, groups, spec, out) for figure in spec.figures]
    timing = f"trained in {wall / 60:.1f} min of wall time" if wall is not None else "partly or wholly reused runs"
    steps = sorted({run.summary.get("steps") for runs in groups.values() for run in runs}, key=str)
    lines = [
        "# Demo table: each paper's mechanism in miniature",
        "",
        "Written by `make demo-table` (`python -m rlrewards.reporting.demo_table`), seeds "
        f"{', '.join(map(str, seeds))}, {timing}, on {platform.machine()} with {os.cpu_count()} CPU cores"
        + (f", extra overrides `{' '.join(extra)}`" if extra else "")
        + f". RL steps per run: {'/'.join(map(str, steps))}. Runs: `table_runs/` (not committed); one row per run in "
        "`summary.csv`, one row per claim in `claims.csv`; recipes, claims and figures from `claims.yaml`.",
        "",
        spec.description,
        "",
        "## Results (mean ± std over seeds)",
        "",
        *recipe_table(spec, rows, groups),
        "",
        *extra_metric_table(spec, rows),
        "",
        "## What each paper's claim predicts, and what the demo shows",
        "",
        "Difference = recipe - what it is compared with, on the same seed (same warm start). Claims were written in "
        "`claims.yaml` before the table's seeds were run. A paper-scale effect need not appear at this scale; the "
        "table says only what this demo shows.",
        "",
        *claim_table(spec, rows),
        "",
    ]
    if spec.testbeds:
        lines += ["## The testbeds", ""] + [f"- **{paper}**: {text}" for paper, text in spec.testbeds.items()] + [""]
    findings = out / "findings.md"
    if findings.exists():
        lines += [findings.read_text().rstrip(), ""]
    lines += ["## Figures", "", *[f"- `{f.name}`" for f in figures if f is not None], ""]
    (out / "REPORT.md").write_text("\n".join(line for line in lines))
