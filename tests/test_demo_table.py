"""scripts/demo_table.py's bookkeeping on hand-made runs: the summary.csv cells and the claim table."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest
from conftest import REPO_ROOT

from rlrewards.reporting.runs import Run


def load_script():
    spec = importlib.util.spec_from_file_location("demo_table", REPO_ROOT / "scripts" / "demo_table.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["demo_table"] = module  # dataclasses look their module up while the script executes
    spec.loader.exec_module(module)
    return module


demo_table = load_script()


def fake_run(tmp_path: Path, records: list[dict], **summary) -> Run:
    (tmp_path / "eval").mkdir(parents=True)
    (tmp_path / "eval" / "after.jsonl").write_text("\n".join(json.dumps(r) for r in records))
    return Run(tmp_path, summary, None)


def test_every_recipe_names_an_experiment_and_has_a_claim_or_is_a_baseline():
    labels = {r.label for r in demo_table.RECIPES}
    for recipe in demo_table.RECIPES:
        assert (REPO_ROOT / "conf" / "experiment" / f"{recipe.experiment}.yaml").exists(), recipe.experiment
    claimed = {c.recipe for c in demo_table.CLAIMS}
    baselines = {c.baseline for c in demo_table.CLAIMS if c.baseline}
    assert claimed == {"tempo", "pure", "laser", "rlcr"} and baselines == {"grpo", "rlvr"}
    assert claimed | baselines == labels
    # each chain starts with its baseline, which builds the warm start and evaluates it before RL for the chain
    assert {demo_table.chain_leader(r).label for r in demo_table.RECIPES} == {"grpo", "rlvr"}
    assert set(demo_table.CHAIN_ORDER) == {r.chain for r in demo_table.RECIPES}


def test_laser_row_scores_its_self_reward_on_greedy_records(tmp_path):
    records = [
        {"decoding": "greedy", "correct": True, "self_reward": 0.9},
        {"decoding": "greedy", "correct": True, "self_reward": 0.4},
        {"decoding": "greedy", "correct": False, "self_reward": 0.2},
        {"decoding": "greedy", "correct": False, "self_reward": None},  # no score: counts as 0
        {"decoding": "sampled", "correct": True, "self_reward": 0.0},  # another decoding: ignored
    ]
    laser = next(r for r in demo_table.RECIPES if r.label == "laser")
    row = demo_table.row_metrics(laser, fake_run(tmp_path, records, train_s=12.5))
    assert row["accuracy"] == 0.5 and row["train_s"] == 12.5
    assert row["brier"] == pytest.approx((0.1**2 + 0.6**2 + 0.2**2 + 0.0) / 4)
    assert row["auroc"] == 1.0  # both correct answers score above both wrong ones
    # predicted correct: 0.9 only -> accuracy on correct 1/2, on incorrect 2/2 -> F1 = 2 * 0.5 * 1 / 1.5
    assert row["sv_f1"] == pytest.approx(2 / 3)


def test_a_recipe_without_a_confidence_leaves_those_cells_empty(tmp_path):
    grpo = next(r for r in demo_table.RECIPES if r.label == "grpo")
    row = demo_table.row_metrics(grpo, fake_run(tmp_path, [{"decoding": "greedy", "correct": True}], train_s=1.0))
    assert row["accuracy"] == 1.0 and row["ece"] is None and row["sv_f1"] is None


def test_claims_pair_each_recipe_with_its_baseline_on_the_same_seed():
    rows = []
    for seed, (grpo, tempo, laser_auroc) in enumerate([(0.50, 0.60, 0.40), (0.50, 0.45, 0.70)]):
        values = {"grpo": grpo, "tempo": tempo, "pure": grpo - 0.01, "laser": grpo, "rlvr": 0.3, "rlcr": 0.3}
        for label, accuracy in values.items():
            row = {"recipe": label, "seed": seed, "accuracy": accuracy, "ece": None, "brier": None, "auroc": None}
            rows.append({**row, "sv_f1": None})
        next(r for r in rows if r["recipe"] == "laser" and r["seed"] == seed)["auroc"] = laser_auroc
    lines = {line.split(" | ")[0].lstrip("| "): line for line in demo_table.claim_table(rows)}
    assert lines["TEMPO beats GRPO in accuracy (in and out of distribution)"].endswith("| 0.025 ± 0.106 | 1/2 |")
    # 0.01 below GRPO on both seeds: within the 0.02 margin of a "does as well" claim
    assert lines["PURE's min-form PRM credit does as well as verifiable rewards"].endswith("| 2/2 |")
    laser_auroc = lines["LaSeR's last-token score separates right from wrong (AUROC > 0.5)"]
    assert "| 0.5 |" in laser_auroc and laser_auroc.endswith("| 0.050 ± 0.212 | 1/2 |")
    assert lines["RLCR lowers calibration error (ECE) compared with RLVR"].endswith("|  | 0/0 |")
