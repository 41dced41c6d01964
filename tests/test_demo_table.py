"""rlrewards/reporting/demo_table.py's bookkeeping on hand-made runs: the summary.csv cells and the claim table,
checked on the first demo table as committed (results/demo/v1/: its claims.yaml, summary.csv and REPORT.md)."""

import json
from pathlib import Path

import pytest
from conftest import REPO_ROOT

from rlrewards.reporting import demo_report, demo_table
from rlrewards.reporting.demo_spec import Claim, DemoRecipe, load_spec
from rlrewards.reporting.runs import Run

V1 = REPO_ROOT / "results" / "demo" / "v1"
SPEC = load_spec(V1 / "claims.yaml")


def fake_run(tmp_path: Path, records: list[dict], **summary) -> Run:
    (tmp_path / "eval").mkdir(parents=True)
    (tmp_path / "eval" / "after.jsonl").write_text("\n".join(json.dumps(r) for r in records))
    return Run(tmp_path, summary, None)


def test_every_recipe_names_an_experiment_and_has_a_claim_or_is_a_baseline():
    labels = {r.label for r in SPEC.recipes}
    for recipe in SPEC.recipes:
        assert (REPO_ROOT / "conf" / "experiment" / f"{recipe.experiment}.yaml").exists(), recipe.experiment
    claimed = {c.recipe for c in SPEC.claims}
    baselines = {c.baseline for c in SPEC.claims if c.baseline}
    assert claimed == {"tempo", "pure", "laser", "rlcr"} and baselines == {"grpo", "rlvr"}
    assert claimed | baselines == labels
    # each chain starts with its baseline, which builds the warm start and evaluates it before RL for the chain
    assert {SPEC.chain_leader(r).label for r in SPEC.recipes} == {"grpo", "rlvr"}
    assert set(SPEC.chain_order) == {r.chain for r in SPEC.recipes}


def test_claims_yaml_holds_the_numbers_the_table_was_built_with():
    """The move from code to data keeps every row and claim as it was (REPORT.md's claim rows depend on them)."""
    default_demo = ("task.direct_answer_fraction=0.5", "trainer.learning_rate=3e-5")
    assert SPEC.recipe("laser") == DemoRecipe("laser", "laser/arith_tiny", default_demo, "arith", "self_reward")
    assert SPEC.recipe("rlcr") == DemoRecipe("rlcr", "rlcr/arith_tiny", (), "levels", "confidence")
    assert [r.label for r in SPEC.recipes] == ["grpo", "tempo", "pure", "laser", "rlvr", "rlcr"]
    assert SPEC.chain_order == ("levels", "arith")
    auroc = Claim("laser", None, "auroc", 1, "LaSeR's last-token score separates right from wrong (AUROC > 0.5)", 0.5)
    assert auroc in SPEC.claims and len(SPEC.claims) == 9
    assert [c.margin for c in SPEC.claims] == [0.0, 0.02, 0.02, 0.0, 0.0, 0.0, 0.0, 0.0, 0.02]
    assert [c.direction for c in SPEC.claims if c.recipe == "rlcr"] == [-1, -1, 1, 1]


def test_a_claim_about_a_recipe_the_table_does_not_run_is_refused(tmp_path):
    path = tmp_path / "claims.yaml"
    path.write_text(
        "recipes: [{label: grpo, experiment: grpo/arith_tiny, chain: arith}]\n"
        "claims: [{recipe: tempo, baseline: grpo, metric: accuracy, direction: 1, text: t}]\n"
    )
    with pytest.raises(ValueError, match="tempo"):
        load_spec(path)


def test_laser_row_scores_its_self_reward_on_greedy_records(tmp_path):
    records = [
        {"decoding": "greedy", "correct": True, "self_reward": 0.9},
        {"decoding": "greedy", "correct": True, "self_reward": 0.4},
        {"decoding": "greedy", "correct": False, "self_reward": 0.2},
        {"decoding": "greedy", "correct": False, "self_reward": None},  # no score: counts as 0
        {"decoding": "sampled", "correct": True, "self_reward": 0.0},  # another decoding: ignored
    ]
    laser = SPEC.recipe("laser")
    row = demo_table.row_metrics(SPEC, laser, fake_run(tmp_path, records, train_s=12.5))
    assert row["accuracy"] == 0.5 and row["train_s"] == 12.5
    assert row["brier"] == pytest.approx((0.1**2 + 0.6**2 + 0.2**2 + 0.0) / 4)
    assert row["auroc"] == 1.0  # both correct answers score above both wrong ones
    # predicted correct: 0.9 only -> accuracy on correct 1/2, on incorrect 2/2 -> F1 = 2 * 0.5 * 1 / 1.5
    assert row["sv_f1"] == pytest.approx(2 / 3)


def test_a_recipe_without_a_confidence_leaves_those_cells_empty(tmp_path):
    grpo = SPEC.recipe("grpo")
    row = demo_table.row_metrics(SPEC, grpo, fake_run(tmp_path, [{"decoding": "greedy", "correct": True}], train_s=1.0))
    assert row["accuracy"] == 1.0 and row["ece"] is None and row["sv_f1"] is None


def test_claims_pair_each_recipe_with_its_baseline_on_the_same_seed():
    rows = []
    for seed, (grpo, tempo, laser_auroc) in enumerate([(0.50, 0.60, 0.40), (0.50, 0.45, 0.70)]):
        values = {"grpo": grpo, "tempo": tempo, "pure": grpo - 0.01, "laser": grpo, "rlvr": 0.3, "rlcr": 0.3}
        for label, accuracy in values.items():
            row = {"recipe": label, "seed": seed, "accuracy": accuracy, "ece": None, "brier": None, "auroc": None}
            rows.append({**row, "sv_f1": None})
        next(r for r in rows if r["recipe"] == "laser" and r["seed"] == seed)["auroc"] = laser_auroc
    lines = {line.split(" | ")[0].lstrip("| "): line for line in demo_report.claim_table(SPEC, rows)}
    assert lines["TEMPO beats GRPO in accuracy (in and out of distribution)"].endswith("| 0.025 ± 0.106 | 1/2 |")
    # 0.01 below GRPO on both seeds: within the 0.02 margin of a "does as well" claim
    assert lines["PURE's min-form PRM credit does as well as verifiable rewards"].endswith("| 2/2 |")
    laser_auroc = lines["LaSeR's last-token score separates right from wrong (AUROC > 0.5)"]
    assert "| 0.5 |" in laser_auroc and laser_auroc.endswith("| 0.050 ± 0.212 | 1/2 |")
    assert lines["RLCR lowers calibration error (ECE) compared with RLVR"].endswith("|  | 0/0 |")


def test_committed_summary_and_claims_rebuild_the_committed_report_claim_rows(tmp_path):
    """results/demo/summary.csv round-trips byte for byte, and with claims.yaml it gives REPORT.md's claim rows."""
    summary = V1 / "summary.csv"
    rows = demo_report.read_summary(summary)
    demo_report.write_summary(rows, tmp_path / "summary.csv")
    assert (tmp_path / "summary.csv").read_bytes() == summary.read_bytes()
    report = (V1 / "REPORT.md").read_text().splitlines()
    claim_rows = demo_report.claim_table(SPEC, rows)
    start = report.index(claim_rows[0])
    assert report[start : start + len(claim_rows)] == claim_rows


def test_reuse_rebuilds_summary_and_report_from_run_directories(tmp_path, monkeypatch):
    """``--reuse`` end to end on hand-made runs: one row per (recipe, seed) and a report row per recipe and claim."""
    for index, recipe in enumerate(SPEC.recipes):
        for seed in (0, 1):
            target = demo_table.run_dir(tmp_path, recipe, seed)
            (target / "eval").mkdir(parents=True)
            correct = [True, bool(index % 2), False, True]
            records = [
                {"decoding": "greedy", "correct": c, "confidence": 0.8, "self_reward": 0.3 + 0.5 * c} for c in correct
            ]
            (target / "eval" / "after.jsonl").write_text("\n".join(json.dumps(r) for r in records))
            (target / "metrics.jsonl").write_text(json.dumps({"step": 1, "train/completions/mean_length": 9.0}))
            summary = {"eval/before/accuracy_greedy": 0.5, "steps": 2, "train_s": 10.0 + seed}
            (target / "summary.json").write_text(json.dumps(summary))
    argv = ["demo_table", "--out", str(tmp_path), "--seeds", "0", "1", "--reuse", "--claims", str(V1 / "claims.yaml")]
    monkeypatch.setattr("sys.argv", argv)
    demo_table.main()
    rows = demo_report.read_summary(tmp_path / "summary.csv")
    assert len(rows) == 2 * len(SPEC.recipes)
    laser = next(r for r in rows if r["recipe"] == "laser")
    assert laser["accuracy"] == 0.75 and laser["auroc"] == 1.0 and laser["sv_f1"] == 1.0  # index 3: 3 of 4 right
    assert next(r for r in rows if r["recipe"] == "grpo")["ece"] is None
    report = (tmp_path / "REPORT.md").read_text()
    assert "| tempo | tempo/arith_tiny | 2 | 0.500 ± 0.000 | 0.750 ± 0.000 |" in report
    assert all(claim.text in report for claim in SPEC.claims)
    claims = (tmp_path / "claims.csv").read_text().splitlines()
    assert claims[0] == ",".join(demo_report.CLAIM_COLUMNS) and len(claims) == 1 + len(SPEC.claims)
    # grpo (index 0) gets 2 of 4 right, tempo (index 1) 3 of 4, on both seeds: +0.25 with no spread, 2 seeds of 2
    tempo_claim = "TEMPO beats GRPO in accuracy (in and out of distribution)"
    assert claims[1] == f"{tempo_claim},tempo,grpo,accuracy,2,2,0.2500,0.0000"
    assert "- `curves.png`" in report and (tmp_path / "curves.png").exists()
