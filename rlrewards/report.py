"""``rlrewards-report``: tabulate finished runs side by side (mean ± std over seeds), as Markdown or CSV.

rlrewards-report outputs/multiruns/<sweep>          # every run directory below it
rlrewards-report outputs/runs/a outputs/runs/b --format csv
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
    mean, std = value
    return f"{mean:.3f} ± {std:.3f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="rlrewards-report", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("paths", nargs="+", type=Path, help="run directories or folders holding them")
    parser.add_argument("--format", choices=("md", "csv"), default="md")
    parser.add_argument("--metrics", nargs="+", default=list(DEFAULT_METRICS))
    args = parser.parse_args(argv)
    summaries = find_summaries(args.paths)
    if not summaries:
        print(f"rlrewards-report: no summary.json under {', '.join(map(str, args.paths))}", file=sys.stderr)
        return 1
    sys.stdout.write(render(aggregate(summaries, tuple(args.metrics)), tuple(args.metrics), args.format))
    return 0


if __name__ == "__main__":
    sys.exit(main())
