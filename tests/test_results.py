"""The reference numbers under results/papers/ are well formed: every table names its source and says whether it
was verified, and numbers are numbers."""

import math
from pathlib import Path

import pytest
import yaml
from conftest import REPO_ROOT

PAPERS = sorted((REPO_ROOT / "results" / "papers").glob("*.yaml"))


def test_every_recipe_has_a_reference_file():
    assert {p.stem for p in PAPERS} >= {"laser", "pure", "rlcr", "tempo"}


@pytest.mark.parametrize("path", PAPERS, ids=[p.stem for p in PAPERS])
def test_reference_tables_are_sourced_and_numeric(path: Path):
    data = yaml.safe_load(path.read_text())
    assert data["paper"] and data["tables"]
    for table in data["tables"]:
        assert table["source"] and isinstance(table["verified"], bool)
        for row in table["rows"]:
            for key, value in row.items():
                if key not in ("model", "method", "benchmark"):
                    assert value is None or (isinstance(value, float) and math.isfinite(value)), (path.stem, row)


def test_rlcr_reference_matches_the_quoted_headline():
    data = yaml.safe_load((REPO_ROOT / "results" / "papers" / "rlcr.yaml").read_text())
    hotpot = {(r["method"], r["benchmark"]): r for r in data["tables"][0]["rows"]}
    assert hotpot[("RLCR", "HotpotQA vanilla")]["ece"] == 0.03 and hotpot[("RLVR", "HotpotQA vanilla")]["ece"] == 0.37


@pytest.mark.parametrize("path", PAPERS, ids=[p.stem for p in PAPERS])
def test_reproduce_entries_name_real_rows_and_experiments(path: Path):
    from rlrewards.reporting import reproduce

    data = yaml.safe_load(path.read_text())
    rows = {(t["name"], r["model"], r["method"]) for t in data["tables"] for r in t["rows"]}
    entries = data["reproduce"]
    assert entries
    for entry in entries:
        assert (entry["table"], entry["model"], entry["method"]) in rows, entry
        assert entry.get("experiments") or entry.get("base_model"), entry
        for experiment in entry.get("experiments") or []:
            assert (REPO_ROOT / "conf" / "experiment" / f"{experiment}.yaml").exists(), experiment
        if entry.get("base_model"):  # a conf/model option, evaluated untrained: only in an evaluate_only row
            assert (
                entry.get("evaluate_only") and (REPO_ROOT / "conf" / "model" / f"{entry['base_model']}.yaml").exists()
            )
        if entry.get("suite"):  # the row's own evaluation suite
            assert (REPO_ROOT / "conf" / "suite" / f"{entry['suite']}.yaml").exists(), entry
    lines = reproduce.commands(path.stem)
    # each experiment's (and base model's) eval command: the row's own suite where it names one, else the paper's
    # (conf/suite/<paper>); a command several rows share is printed once, the later rows point back to it
    paper_suite = path.stem if (REPO_ROOT / "conf" / "suite" / f"{path.stem}.yaml").exists() else None
    sources = [
        (entry, source)
        for entry in entries
        for source in [*(entry.get("experiments") or []), *([entry["base_model"]] if entry.get("base_model") else [])]
    ]
    expected = [entry.get("suite") or paper_suite for entry, _ in sources]
    evals = [line.split("(the same command as above: ")[-1].rstrip(")") for line in lines if "rlrewards-eval" in line]
    assert [line.split(" suite=")[1] if " suite=" in line else None for line in evals] == expected
    assert len({line for line in lines if line.startswith("rlrewards-eval")}) == len(
        [line for line in lines if line.startswith("rlrewards-eval")]
    )
    launches = [line for line in lines if line.startswith(("rlrewards-train", "rlrewards-launch"))]
    trained = [e for e in entries if not e.get("evaluate_only")]  # base-model rows: an evaluation, no training
    assert len(launches) == sum(len(e["experiments"]) for e in trained)
    base = [line for line in evals if "base_experiment=" in line or "base_model=" in line]
    assert len(base) == sum(1 for entry, _ in sources if entry.get("evaluate_only"))
    for line in launches:
        gpus, plan = reproduce.experiment_plan(line.split("experiment=")[1].split()[0])
        # no batch override: the run derives its accumulation from the paper's batch (rlrewards/plan.py)
        assert gpus >= 1 and "gradient_accumulation_steps" not in line
        assert plan["completions_per_step"] == plan["paper_completions_per_step"]
        assert line.startswith("rlrewards-launch") == (gpus > 1) and "hydra.run.dir=" in line
