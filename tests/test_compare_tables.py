"""rlrewards/reporting/compare.py: every committed comparison table (results/demo/*/table.md) rebuilds byte for byte
from its own runs.json and curves.csv with the settings recorded on its first line."""

import shutil
from pathlib import Path

import pytest
from conftest import REPO_ROOT

from rlrewards.reporting.compare import mean_std_na, rebuild

COMPARISONS = sorted(p.parent for p in (REPO_ROOT / "results" / "demo").glob("*/table.md"))


def test_the_demo_keeps_its_comparisons():
    assert {p.name for p in COMPARISONS} >= {"tempo_vs_grpo", "laser_vs_grpo", "rlcr_vs_rlvr", "pure_credit"}


@pytest.mark.parametrize("committed", COMPARISONS, ids=[p.name for p in COMPARISONS])
def test_committed_table_rebuilds_byte_for_byte(committed: Path, tmp_path):
    copy = tmp_path / committed.name
    shutil.copytree(committed, copy)
    (copy / "table.md").write_text((committed / "table.md").read_text().split("\n", 1)[0] + "\n")  # header only
    rebuild(copy)
    assert (copy / "table.md").read_bytes() == (committed / "table.md").read_bytes()


def test_an_empty_comparison_cell_reads_n_a():
    assert mean_std_na([]) == "n/a" and mean_std_na([0.5, 0.7]) == "0.600 ± 0.141"
