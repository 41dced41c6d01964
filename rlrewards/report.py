"""``rlrewards-report``: finished runs side by side (mean ± std over seeds), the paper's numbers beside ours, plots.

rlrewards-report outputs/multiruns/<sweep>                      # every run directory below it, as Markdown
rlrewards-report outputs/runs/a outputs/runs/b --format csv
rlrewards-report outputs/reproduce --paper pure --out report/   # paper vs ours (+ evaluations found below the paths)
rlrewards-report --wandb my-entity/rlrewards --paper rlcr       # the same from a W&B project's finished runs

With ``--out DIR`` it writes ``runs.md``/``runs.csv`` (and ``paper.md``/``paper.csv`` with ``--paper``, plus
``paper_<table>_pass_at_k.png`` for a paper table of pass@k columns, ours beside the paper's methods) and the
figures: ``curves.png`` (training curves), ``reliability.png`` (stated confidence or LaSeR self-reward vs accuracy)
and ``voting.png`` (accuracy of each vote over K samples), each drawn where the runs have the data.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path

from rlrewards.reporting.formatting import format_mean_std
from rlrewards.reporting.paper import PAPERS_DIR, compare, load_paper, render_csv, render_markdown
from rlrewards.reporting.paper_plots import plot_pass_at_k
from rlrewards.reporting.plots import DEFAULT_CURVES, reliability_panels, training_curves, voting_panels
from rlrewards.reporting.runs import Run, find_runs, runs_from_wandb, unfinished_runs

DEFAULT_METRICS = (
    "eval/before/accuracy_greedy",
    "eval/accuracy_greedy",
    "eval/before/accuracy_sampled",
    "eval/accuracy_sampled",
    "train_s",
)


def find_summaries(paths: list[Path]) -> list[dict]:
    summaries = []
    for path in paths:
        files = [path] if path.name == "summary.json" else sorted(path.rglob("summary.json"))
        for file in files:
            summary = json.loads(file.read_text())
            summary["run_dir"] = str(file.parent)
            summaries.append(summary)
    return summaries


def aggregate(summaries: list[dict], metrics: tuple[str, ...]) -> list[dict]:
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for summary in summaries:
        groups[(summary.get("recipe"), summary.get("model"), summary.get("task"))].append(summary)
    rows = []
    for (recipe, model, task), members in sorted(groups.items(), key=lambda item: tuple(map(str, item[0]))):
        row = {"recipe": recipe, "model": model, "task": task, "seeds": len(members)}
        for metric in metrics:
            values = [m[metric] for m in members if isinstance(m.get(metric), int | float)]
            row[metric] = (
                (statistics.mean(values), statistics.stdev(values) if len(values) > 1 else 0.0) if values else None
            )
        rows.append(row)
    return rows


def render(rows: list[dict], metrics: tuple[str, ...], fmt: str) -> str:
    header = ["recipe", "model", "task", "seeds", *metrics]
    cells = [[str(row[h]) for h in header[:4]] + [_cell(row[m]) for m in metrics] for row in rows]
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(header)
        writer.writerows(cells)
        return buffer.getvalue()
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(c) + " |" for c in cells]
    return "\n".join(lines) + "\n"


def _cell(value) -> str:
    if value is None:
        return ""
    return format_mean_std(*value)


def missing_note(missing: list[Path]) -> str:
    """Which runs a report leaves out: a sweep with failed jobs must not read as complete."""
    listed = "\n".join(f"  {path}" for path in missing)
    return f"Left out {len(missing)} run(s) without summary.json (failed, killed or still running):\n{listed}"


def group_runs(runs: list[Run]) -> dict[str, list[Run]]:
    groups: dict[str, list[Run]] = defaultdict(list)
    for run in sorted(runs, key=lambda r: (r.label, str(r.summary.get("seed")))):
        groups[run.label].append(run)
    return dict(groups)


def write_figures(runs: list[Run], out: Path, curve_metrics: tuple[str, ...]) -> list[Path]:
    groups = group_runs(runs)
    figures = [
        training_curves(groups, curve_metrics, out / "curves.png"),
        reliability_panels(groups, out / "reliability.png", confidence_key="confidence"),
        reliability_panels(groups, out / "reliability_self_reward.png", confidence_key="self_reward"),
        voting_panels(groups, out / "voting.png"),
    ]
    return [f for f in figures if f is not None]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="rlrewards-report", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("paths", nargs="*", type=Path, help="run directories or folders holding them")
    parser.add_argument("--format", choices=("md", "csv"), default="md", help="what is printed")
    parser.add_argument("--metrics", nargs="+", default=list(DEFAULT_METRICS))
    parser.add_argument("--paper", help="compare with results/papers/<paper>.yaml (laser, pure, rlcr, tempo)")
    parser.add_argument("--papers-dir", type=Path, default=PAPERS_DIR, help=argparse.SUPPRESS)
    parser.add_argument("--wandb", metavar="ENTITY/PROJECT", help="read finished runs from a W&B project")
    parser.add_argument("--out", type=Path, help="write tables and figures here")
    parser.add_argument("--curve-metrics", nargs="+", default=list(DEFAULT_CURVES))
    args = parser.parse_args(argv)
    if not args.paths and not args.wandb:
        parser.error("give run directories, --wandb ENTITY/PROJECT, or both")
    runs = find_runs(args.paths) + (runs_from_wandb(args.wandb) if args.wandb else [])
    missing = unfinished_runs(args.paths)
    if missing:
        print(missing_note(missing), file=sys.stderr)
    if not runs:
        where = ", ".join(map(str, args.paths)) or args.wandb
        print(f"rlrewards-report: no finished run (summary.json) under {where}", file=sys.stderr)
        return 1
    metrics = tuple(args.metrics)
    rows = aggregate([r.summary for r in runs], metrics)
    outputs = {"runs.md": render(rows, metrics, "md"), "runs.csv": render(rows, metrics, "csv")}
    printed = outputs[f"runs.{args.format}"]
    if missing:  # printed on stderr above; runs.md records it too
        outputs["runs.md"] += f"\n{missing_note(missing)}\n"
    paper, cells = None, []
    if args.paper:
        paper = load_paper(args.paper, args.papers_dir)
        cells = compare(paper, runs)
        outputs.update({"paper.md": render_markdown(paper, cells), "paper.csv": render_csv(cells)})
        printed = outputs[f"paper.{args.format}"]
    sys.stdout.write(printed)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        for name, text in outputs.items():
            (args.out / name).write_text(text)
        figures = write_figures(runs, args.out, tuple(args.curve_metrics))
        figures += plot_pass_at_k(paper, cells, args.out) if paper else []
        for figure in figures:
            print(f"wrote {figure}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
