"""Paper vs ours: the published cells of ``results/papers/<paper>.yaml`` beside the same cells computed from our runs.

The paper file says how to compute each of our cells (``compare``), per table::

    compare:
      <table name>:
        row_benchmarks: {<paper's benchmark name>: <conf/task option>}  # tables with one benchmark per row
        columns:
          <column>: {metric: accuracy_greedy, benchmarks: [math500, ...], scale: 100}

A column's value for one run is the mean of ``metric`` over ``benchmarks`` (default: the row's benchmark), times
``scale``; it is missing unless every benchmark was evaluated. The runs of a row are those whose experiment is listed
for it in the paper file's ``reproduce`` (for an ``evaluate_only`` row, the evaluations of that experiment's untrained
model, ``rlrewards-eval base_experiment=``, or of its ``base_model``, ``rlrewards-eval base_model=``); our cell is
their mean over seeds.
"""

from __future__ import annotations

import csv
import io
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from rlrewards.reporting.runs import Run, base_model_label

PAPERS_DIR = Path(__file__).resolve().parents[2] / "results" / "papers"
SUITES_DIR = Path(__file__).resolve().parents[2] / "conf" / "suite"


@dataclass
class Cell:
    table: str
    model: str
    method: str
    column: str
    benchmark: str | None
    paper: float | None
    ours: float | None
    ours_std: float | None
    seeds: int

    @property
    def delta(self) -> float | None:
        return None if self.paper is None or self.ours is None else self.ours - self.paper


def load_paper(name: str, papers_dir: Path = PAPERS_DIR) -> dict[str, Any]:
    path = papers_dir / f"{name}.yaml"
    if not path.exists():
        known = ", ".join(sorted(p.stem for p in papers_dir.glob("*.yaml")))
        raise SystemExit(f"--paper {name}: no {path}; known: {known}")
    return yaml.safe_load(path.read_text())


def row_suite(paper_name: str, entry: dict[str, Any], suites_dir: Path = SUITES_DIR) -> str | None:
    """The evaluation suite of one ``reproduce`` row: the row's own ``suite`` where it names one (the NSR paper's
    Qwen3-4B rows: ``nsr_qwen3``, their other decoding), else the paper's ``conf/suite/<paper>.yaml`` if it exists."""
    if entry.get("suite"):
        return str(entry["suite"])
    return paper_name if (suites_dir / f"{paper_name}.yaml").exists() else None


def row_sources(entry: dict[str, Any]) -> list[str]:
    """What a ``reproduce`` row's numbers come from: its experiments, and for a row of a paper that trains nothing its
    ``base_model`` (a conf/model option, evaluated with ``rlrewards-eval base_model=``), labelled as runs.py labels
    those evaluations."""
    model = entry.get("base_model")
    return [*(entry.get("experiments") or []), *([base_model_label(str(model))] if model else [])]


def row_suites(papers_dir: Path = PAPERS_DIR) -> dict[str, tuple[str, str]]:
    """Experiment -> (paper, suite) for every experiment a ``reproduce`` row names its own ``suite`` for."""
    found = {}
    for path in sorted(papers_dir.glob("*.yaml")):
        for entry in yaml.safe_load(path.read_text()).get("reproduce") or []:
            if entry.get("suite"):
                found.update({source: (path.stem, str(entry["suite"])) for source in row_sources(entry)})
    return found


def suite_paper(suite: str, papers_dir: Path = PAPERS_DIR) -> str | None:
    """The paper a suite evaluates for: the paper of the same name, else the one whose rows name it (None: neither)."""
    if (papers_dir / f"{suite}.yaml").exists():
        return suite
    return next((paper for paper, named in row_suites(papers_dir).values() if named == suite), None)


def compare(paper: dict[str, Any], runs: list[Run]) -> list[Cell]:
    """One cell per (reproduced row, column) of every table the paper file says how to compare."""
    cells = []
    tables = {table["name"]: table for table in paper["tables"]}
    for entry in paper.get("reproduce", []):
        table_name = entry["table"]
        spec = paper.get("compare", {}).get(table_name)
        if spec is None:
            continue
        base_row = bool(entry.get("evaluate_only"))  # a base-model row reads evaluations of the untrained model
        members = [r for r in runs if r.experiment in set(row_sources(entry)) and r.evaluation_only == base_row]
        for row in tables[table_name]["rows"]:
            if (row["model"], row["method"]) != (entry["model"], entry["method"]):
                continue
            benchmark = spec.get("row_benchmarks", {}).get(row.get("benchmark"))
            for column, column_spec in spec["columns"].items():
                values = [v for v in (_run_value(run, column_spec, benchmark) for run in members) if v is not None]
                cells.append(
                    Cell(
                        table=table_name,
                        model=row["model"],
                        method=row["method"],
                        column=column,
                        benchmark=row.get("benchmark"),
                        paper=row.get(column),
                        ours=statistics.fmean(values) if values else None,
                        ours_std=statistics.stdev(values) if len(values) > 1 else None,
                        seeds=len(values),
                    )
                )
    return cells


def _run_value(run: Run, spec: dict[str, Any], row_benchmark: str | None) -> float | None:
    benchmarks = spec.get("benchmarks") or ([row_benchmark] if row_benchmark else [])
    values = [run.benchmark_metric(b, spec["metric"]) for b in benchmarks]
    if not values or any(v is None for v in values):
        return None
    return statistics.fmean(values) * float(spec.get("scale", 1.0))


def render_markdown(paper: dict[str, Any], cells: list[Cell]) -> str:
    """One Markdown table per paper table: a row per (model, method), each cell ``paper / ours (delta)``."""
    lines = [f"# {paper['paper']}", ""]
    sources = {t["name"]: t for t in paper["tables"]}
    for table in dict.fromkeys(c.table for c in cells):
        chosen = [c for c in cells if c.table == table]
        columns = list(dict.fromkeys(c.column for c in chosen))
        verified = "verified" if sources[table]["verified"] else "not verified"
        lines += [
            f"## {table}",
            "",
            f"Paper: {sources[table]['source']} ({verified}). Cell: paper / ours (ours - paper).",
        ]
        keys = ["model", "method", "benchmark"] if any(c.benchmark for c in chosen) else ["model", "method"]
        header = [*keys, "seeds", *columns]
        lines += ["", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for key in dict.fromkeys((c.model, c.method, c.benchmark) for c in chosen):
            row = {c.column: c for c in chosen if (c.model, c.method, c.benchmark) == key}
            seeds = max((c.seeds for c in row.values()), default=0)
            shown = [str(k) for k in key[: len(keys)]] + [str(seeds)] + [_md_cell(row.get(col)) for col in columns]
            lines.append("| " + " | ".join(shown) + " |")
        lines.append("")
    if not cells:
        lines.append("No table of this paper says how to compare (`compare:` in its results/papers file).")
    return "\n".join(lines) + "\n"


def _md_cell(cell: Cell | None) -> str:
    if cell is None:
        return ""
    paper = "–" if cell.paper is None else f"{cell.paper:g}"
    ours = "–" if cell.ours is None else f"{cell.ours:.3g}"
    delta = "" if cell.delta is None else f" ({cell.delta:+.3g})"
    return f"{paper} / {ours}{delta}"


def render_csv(cells: list[Cell]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["table", "model", "method", "benchmark", "column", "paper", "ours", "ours_std", "delta", "seeds"])
    for c in cells:
        numbers = [_num(c.paper), _num(c.ours), _num(c.ours_std), _num(c.delta)]
        writer.writerow([c.table, c.model, c.method, c.benchmark or "", c.column, *numbers, c.seeds])
    return buffer.getvalue()


def _num(value: float | None) -> str:
    return "" if value is None else f"{value:.6g}"
