"""rlrewards-report's pass@k figure: a paper table's pass@k rows beside our compared cells (issue 19: NSR's curves
against the paper's GRPO and PPO)."""

from rlrewards.reporting.paper import Cell, load_paper
from rlrewards.reporting.paper_plots import pass_at_k_series, pass_at_k_tables, plot_pass_at_k

TABLE = {
    "name": "t1",
    "rows": [
        {"model": "m", "method": "PPO", "benchmark": "MATH", "pass@1": 70.0, "pass@4": 80.0, "note": "x"},
        {"model": "m", "method": "NSR", "benchmark": "MATH", "pass@1": 72.0, "pass@4": None},
    ],
}


def cell(column: str, ours: float | None, table: str = "t1") -> Cell:
    return Cell(table, "m", "NSR", column, "MATH", None, ours, None, 2)


def test_series_hold_the_papers_rows_and_our_cells_by_k():
    series = pass_at_k_series(
        TABLE,
        [
            cell("pass@4", 81.5),
            cell("pass@1", 71.0),
            cell("pass@2", None),
            cell("pass@1", 1.0, table="other"),
            cell("accuracy", 5.0),
        ],
    )
    assert series == {
        ("MATH", "PPO", "paper"): {1: 70.0, 4: 80.0},
        ("MATH", "NSR", "paper"): {1: 72.0},  # a null cell is left out
        ("MATH", "NSR", "ours"): {1: 71.0, 4: 81.5},  # sorted by k; other tables and columns ignored
    }


def test_the_nsr_paper_table_is_plotted_per_benchmark(tmp_path):
    paper = load_paper("nsr")
    assert [t["name"] for t in pass_at_k_tables(paper)] == ["table1", "qwen3_text"]
    series = pass_at_k_series(paper["tables"][0], [])
    assert series[("AIME 2025", "PPO", "paper")][256] == 43.3 and len(series[("MATH", "NSR", "paper")]) == 9
    written = plot_pass_at_k(paper, [], tmp_path)
    assert [p.name for p in written] == ["paper_table1_pass_at_k.png", "paper_qwen3_text_pass_at_k.png"]
    assert all(p.stat().st_size > 0 for p in written)
