"""The demo table's claim machinery beyond the v1 table: curve metrics (steps to a threshold), claims on any
summary.json key, claims comparing two metrics of one run, claims.csv, and the committed results/demo/claims.yaml."""

import json
from pathlib import Path

import pytest
from conftest import REPO_ROOT

from rlrewards.reporting import demo_report, demo_table
from rlrewards.reporting.demo_spec import RECORD_METRICS, CurveMetric, load_spec
from rlrewards.reporting.runs import Run

SPEC_YAML = """
seeds: [0, 1]
recipes:
  - {label: grpo, experiment: grpo/arith_tiny, chain: arith}
  - {label: nsr, experiment: grpo/arith_tiny, chain: arith}
curve_metrics:
  - {name: steps_to_half, curve: train/accuracy, at_least: 0.5, window: 2}
claims:
  - {recipe: nsr, baseline: grpo, metric: eval/pass@8_sampled, direction: 1, text: wider}
  - {recipe: grpo, baseline: null, metric: eval/borda@8_sampled, baseline_metric: eval/maj@8_sampled, direction: 1,
     text: borda beats majority}
  - {recipe: nsr, baseline: grpo, metric: steps_to_half, direction: -1, text: faster}
figures:
  - {file: v.png, kind: voting, recipes: [grpo]}
"""


def spec(tmp_path: Path, text: str = SPEC_YAML):
    path = tmp_path / "claims.yaml"
    path.write_text(text)
    return load_spec(path)


@pytest.mark.parametrize(
    ("points", "window", "expected"),
    [
        ([(5, 0.2), (10, 0.6), (15, 0.4), (20, 0.7)], 1, 10.0),  # the first value >= 0.5
        ([(5, 0.2), (10, 0.6), (15, 0.4), (20, 0.7)], 2, 15.0),  # window means 0.2, 0.4, 0.5: reached at step 15
        ([(5, 0.2), (10, 0.3)], 2, 10.0),  # never: censored at the last logged step
        ([], 1, None),  # no curve logged
    ],
)
def test_steps_to_reach(points, window, expected):
    assert demo_table.steps_to_reach(points, CurveMetric("m", "c", 0.5, window)) == expected


def test_a_final_curve_metric_is_the_mean_of_the_last_window(tmp_path):
    final = "  - {name: end, curve: train/accuracy, statistic: final, window: 2}\n"
    table = spec(tmp_path, SPEC_YAML.replace("curve_metrics:\n", "curve_metrics:\n" + final))
    run = make_run(tmp_path, "r", {}, [0.1, 0.2, 0.6, 0.9])
    assert demo_table.extra_metric(table, run, "end") == pytest.approx(0.75)  # (0.6 + 0.9) / 2
    assert demo_table.extra_metric(table, make_run(tmp_path, "empty", {}, []), "end") is None
    with pytest.raises(ValueError, match="statistic"):
        CurveMetric("bad", "c", statistic="final", at_least=0.5)


def test_window_means_need_a_full_window_except_at_the_start():
    metric = CurveMetric("m", "c", 0.5, 3)
    # step 5 alone (0.9) is a mean of one value: it counts, as a run cannot log earlier than its first step
    assert demo_table.steps_to_reach([(5, 0.9), (10, 0.0)], metric) == 5.0
    assert demo_table.steps_to_reach([(5, 0.0), (10, 0.6), (15, 0.9)], metric) == 15.0  # (0 + .6 + .9) / 3 = .5


def make_run(tmp_path: Path, name: str, summary: dict, curve: list[float]) -> Run:
    folder = tmp_path / name
    (folder / "eval").mkdir(parents=True)
    (folder / "eval" / "after.jsonl").write_text(json.dumps({"decoding": "greedy", "correct": True}))
    lines = [json.dumps({"step": 5 * (i + 1), "train/accuracy": v}) for i, v in enumerate(curve)]
    (folder / "metrics.jsonl").write_text("\n".join(lines))
    return Run(folder, summary, None)


def test_rows_carry_the_metrics_the_claims_name_and_claims_csv_pairs_them(tmp_path):
    table = spec(tmp_path)
    assert table.seeds == (0, 1) and table.extra_metrics() == (
        "eval/pass@8_sampled",
        "eval/borda@8_sampled",
        "eval/maj@8_sampled",
        "steps_to_half",
    )
    values = {  # (recipe, seed): (pass@8, borda@8, maj@8, accuracy curve)
        ("grpo", 0): (0.50, 0.40, 0.30, [0.1, 0.2, 0.6, 0.6]),
        ("grpo", 1): (0.60, 0.30, 0.35, [0.6, 0.6]),
        ("nsr", 0): (0.70, None, None, [0.5, 0.5]),
        ("nsr", 1): (0.55, None, None, [0.0, 0.0]),
    }
    rows = []
    for (label, seed), (pass8, borda, maj, curve) in values.items():
        summary = {"eval/pass@8_sampled": pass8, "eval/borda@8_sampled": borda, "eval/maj@8_sampled": maj}
        run = make_run(tmp_path, f"{label}{seed}", summary, curve)
        rows.append({"recipe": label, "seed": seed, **demo_table.row_metrics(table, table.recipe(label), run)})
    # grpo seed 0: window means 0.1, 0.15, 0.4, 0.6 at steps 5..20 -> 20; seed 1: 0.6 at step 5 -> 5
    # nsr seed 0: 0.5 at step 5 -> 5; seed 1: never -> censored at its last logged step, 10
    assert [r["steps_to_half"] for r in rows] == [20.0, 5.0, 5.0, 10.0]
    assert list(rows[0])[:8] == ["recipe", "seed", *RECORD_METRICS, "train_s"]
    claims = demo_report.claim_rows(table, rows)
    # nsr - grpo pass@8: +0.20, -0.05 -> mean 0.075, sample std 0.1767767, one seed as claimed
    assert claims[0]["baseline"] == "grpo" and claims[0]["seeds_as_claimed"] == 1
    assert claims[0]["difference_mean"] == pytest.approx(0.075)
    assert claims[0]["difference_std"] == pytest.approx(0.17677669)
    # same run: borda - maj = +0.10, -0.05
    assert claims[1]["baseline"] == "grpo eval/maj@8_sampled" and claims[1]["n_seeds"] == 2
    assert claims[1]["difference_mean"] == pytest.approx(0.025) and claims[1]["seeds_as_claimed"] == 1
    # nsr - grpo steps: 5 - 20 = -15 (fewer: as claimed), 10 - 5 = +5
    assert claims[2]["difference_mean"] == pytest.approx(-5.0) and claims[2]["seeds_as_claimed"] == 1
    demo_report.write_claims_csv(table, rows, tmp_path / "claims.csv")
    lines = (tmp_path / "claims.csv").read_text().splitlines()
    assert lines[0] == "claim,recipe,baseline,metric,n_seeds,seeds_as_claimed,difference_mean,difference_std"
    assert lines[2] == "borda beats majority,grpo,grpo eval/maj@8_sampled,eval/borda@8_sampled,2,1,0.0250,0.1061"
    demo_report.write_summary(rows, tmp_path / "summary.csv")
    assert demo_report.read_summary(tmp_path / "summary.csv")[3]["steps_to_half"] == 10.0


@pytest.mark.parametrize(
    ("figure", "message"),
    [("{file: x.png, kind: pie}", "kind 'pie' must be one of"), ("{file: x.png, kind: voting, recipes: [ppo]}", "ppo")],
)
def test_a_figure_of_an_unknown_kind_or_recipe_is_refused(tmp_path, figure, message):
    text = SPEC_YAML.replace("{file: v.png, kind: voting, recipes: [grpo]}", figure)
    with pytest.raises(ValueError, match=message):
        spec(tmp_path, text)


COMMITTED = REPO_ROOT / "results" / "demo" / "claims.yaml"


@pytest.mark.skipif(not COMMITTED.exists(), reason="no demo table spec committed")
def test_the_committed_demo_spec_runs_what_exists_and_claims_what_it_runs():
    table = load_spec(COMMITTED)
    assert len(table.seeds) >= 5, "issue 18: every claim over at least 5 seeds"
    for recipe in table.recipes:
        assert (REPO_ROOT / "conf" / "experiment" / f"{recipe.experiment}.yaml").exists(), recipe.experiment
    compared = {c.recipe for c in table.claims} | {c.baseline for c in table.claims if c.baseline}
    assert compared == {r.label for r in table.recipes}, "every recipe is claimed about or a baseline"
    for name in table.extra_metrics():  # a curve metric of the spec or a summary.json key
        assert table.curve_metric(name) or name.startswith(("eval/", "train/")), name
