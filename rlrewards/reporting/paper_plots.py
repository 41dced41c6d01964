"""pass@k curves of a paper's table beside ours (``rlrewards-report --paper <name> --out DIR``): for every table of
``results/papers/<paper>.yaml`` whose columns are ``pass@<k>`` at two or more k, one panel per benchmark, the paper's
rows dashed (every method it reports, PPO and the base model included) and our runs' means solid."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rlrewards.reporting.paper import Cell
from rlrewards.reporting.plots import _pyplot, _save

PASS_AT = re.compile(r"^pass@(\d+)$")
Series = dict[tuple[str, str, str], dict[int, float]]  # (benchmark, method, "paper" | "ours") -> {k: value}


def pass_at_k_series(table: dict[str, Any], cells: Sequence[Cell]) -> Series:
    """The table's pass@k values per (benchmark, method), the paper's and ours (from ``cells``, the comparison of
    that table); only k with a number, methods in the paper's row order."""
    series: Series = {}
    for row in table["rows"]:
        points = {int(m[1]): float(v) for c, v in row.items() if (m := PASS_AT.match(str(c))) and v is not None}
        if points:
            series[(str(row.get("benchmark") or ""), str(row["method"]), "paper")] = points
    for cell in cells:
        match = PASS_AT.match(cell.column)
        if cell.table == table["name"] and match and cell.ours is not None:
            key = (str(cell.benchmark or ""), str(cell.method), "ours")
            series.setdefault(key, {})[int(match[1])] = cell.ours
    return {key: dict(sorted(points.items())) for key, points in series.items()}


def pass_at_k_tables(paper: dict[str, Any]) -> list[dict[str, Any]]:
    """The paper's tables with at least two pass@k columns."""
    found = []
    for table in paper["tables"]:
        columns = {c for row in table["rows"] for c in row if PASS_AT.match(str(c))}
        if len(columns) >= 2:
            found.append(table)
    return found


def plot_pass_at_k(paper: dict[str, Any], cells: Sequence[Cell], out: Path) -> list[Path]:
    """``paper_<table>_pass_at_k.png`` per pass@k table; our curves appear where runs were compared."""
    written = []
    for table in pass_at_k_tables(paper):
        series = pass_at_k_series(table, cells)
        benchmarks = list(dict.fromkeys(key[0] for key in series))
        plt = _pyplot()
        figure, axes = plt.subplots(1, len(benchmarks), figsize=(4.4 * len(benchmarks), 3.6), squeeze=False)
        for axis, benchmark in zip(axes[0], benchmarks):
            colours: dict[str, str] = {}
            for (bench, method, source), points in series.items():
                if bench != benchmark or len(points) < 2:
                    continue
                style = {"linestyle": "--", "marker": "."} if source == "paper" else {"linestyle": "-", "marker": "o"}
                (line,) = axis.plot(
                    list(points),
                    list(points.values()),
                    color=colours.get(method),
                    label=f"{method} ({source})",
                    **style,
                )
                colours.setdefault(method, line.get_color())
            axis.set_xscale("log", base=2)
            axis.set_xlabel("k")
            axis.set_title(benchmark or table["name"], fontsize=9)
            axis.legend(fontsize=6)
        axes[0][0].set_ylabel("pass@k")
        written.append(_save(figure, out / f"paper_{table['name']}_pass_at_k.png"))
    return written
