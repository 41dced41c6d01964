"""rlrewards-report's pieces on hand-made runs: paper-vs-ours cells, curve and vote aggregation, W&B records."""

import json
import os
from pathlib import Path

import pytest
import yaml
from conftest import REPO_ROOT
from discovery import papers

from rlrewards.reporting.paper import compare, load_paper, render_csv, render_markdown
from rlrewards.reporting.plots import mean_curve, voting_curves
from rlrewards.reporting.runs import Run, find_runs, runs_from_wandb

PAPER = {
    "paper": "Synthetic",
    "tables": [
        {
            "name": "wide",
            "source": "s",
            "verified": True,
            "rows": [{"model": "M", "method": "X", "A": 40.0, "avg": 30.0}, {"model": "M", "method": "Base", "A": 1.0}],
        },
        {
            "name": "long",
            "source": "s",
            "verified": False,
            "rows": [
                {"model": "M", "method": "X", "benchmark": "Bench A", "ece": 0.1},
                {"model": "M", "method": "X", "benchmark": "Bench B", "ece": 0.2},
            ],
        },
    ],
    "compare": {
        "wide": {
            "columns": {
                "A": {"benchmarks": ["a"], "metric": "accuracy_greedy", "scale": 100},
                "avg": {"benchmarks": ["a", "b"], "metric": "accuracy_greedy", "scale": 100},
            }
        },
        "long": {"row_benchmarks": {"Bench A": "a", "Bench B": "b"}, "columns": {"ece": {"metric": "ece_greedy"}}},
    },
    "reproduce": [
        {"table": "wide", "model": "M", "method": "X", "experiments": ["x/one", "x/two"]},
        {"table": "long", "model": "M", "method": "X", "experiments": ["x/one"]},
    ],
}


def run(experiment, seed, evaluations, task="arith", **summary):
    return Run(None, {"seed": seed, "task": task, **summary}, experiment, evaluations)


def test_ours_is_the_mean_over_the_rows_runs_and_needs_every_benchmark():
    runs = [
        run("x/one", 0, {"a": {"accuracy_greedy": 0.5, "ece_greedy": 0.3}, "b": {"accuracy_greedy": 0.1}}),
        run("x/one", 1, {"a": {"accuracy_greedy": 0.3, "ece_greedy": 0.1}}),  # b not evaluated: no avg
        run("x/two", 0, {"a": {"accuracy_greedy": 0.4}}),
        run("other", 0, {"a": {"accuracy_greedy": 0.9}}),  # not listed for any row
    ]
    cells = {(c.table, c.benchmark, c.column): c for c in compare(PAPER, runs)}
    a = cells[("wide", None, "A")]
    assert a.ours == pytest.approx(40.0) and a.seeds == 3 and a.ours_std == pytest.approx(10.0)
    assert a.delta == pytest.approx(0.0)
    avg = cells[("wide", None, "avg")]
    assert avg.ours == pytest.approx(30.0) and avg.seeds == 1 and avg.delta == pytest.approx(0.0)
    bench_a, bench_b = cells[("long", "Bench A", "ece")], cells[("long", "Bench B", "ece")]
    assert bench_a.paper == 0.1 and bench_a.ours == pytest.approx(0.2) and bench_a.delta == pytest.approx(0.1)
    assert bench_b.ours is None and bench_b.delta is None and bench_b.seeds == 0
    assert len(cells) == 4  # the Base row is not reproduced
    markdown = render_markdown(PAPER, list(cells.values()))
    assert "| M | X | 3 | 40 / 40 (+0) | 30 / 30 (+0) |" in markdown
    assert "| M | X | Bench B | 0 | 0.2 / – |" in markdown
    lines = render_csv(list(cells.values())).splitlines()
    assert lines[0] == "table,model,method,benchmark,column,paper,ours,ours_std,delta,seeds"
    assert "long,M,X,Bench A,ece,0.1,0.2,0.141421,0.1,2" in lines  # two seeds of x/one: 0.3 and 0.1


def test_the_runs_own_final_evaluation_counts_for_its_training_task():
    trained = run("x/one", 0, {}, task="a", **{"eval/accuracy_greedy": 0.25})
    assert trained.benchmark_metric("a", "accuracy_greedy") == 0.25
    assert trained.benchmark_metric("b", "accuracy_greedy") is None
    evaluated = run("x/one", 0, {"a": {"accuracy_greedy": 0.5}}, task="a", **{"eval/accuracy_greedy": 0.25})
    assert evaluated.benchmark_metric("a", "accuracy_greedy") == 0.5


@pytest.mark.parametrize("paper", papers())
def test_every_compared_column_names_a_registered_benchmark(paper):
    data = load_paper(paper)
    tasks = {p.stem for p in (REPO_ROOT / "conf" / "task").glob("*.yaml")}
    tables = {t["name"]: t for t in data["tables"]}
    for table, spec in data["compare"].items():
        assert table in tables
        row_benchmarks = spec.get("row_benchmarks", {})
        assert set(row_benchmarks.values()) <= tasks
        assert {r["benchmark"] for r in tables[table]["rows"] if "benchmark" in r} <= set(row_benchmarks)
        for column in spec["columns"].values():
            assert set(column.get("benchmarks", [])) <= tasks and column["metric"]


def test_evaluations_attach_to_their_run_and_the_latest_wins(tmp_path: Path):
    run_dir = tmp_path / "runs" / "r"
    (run_dir / "model").mkdir(parents=True)
    (run_dir / "summary.json").write_text(json.dumps({"seed": 0, "task": "arith", "experiment": "x/one"}))
    for name, accuracy in [("old", 0.1), ("new", 0.2)]:
        suite = tmp_path / "evals" / name
        (suite / "math500").mkdir(parents=True)
        entry = {"checkpoint": str(run_dir / "model"), "task": "math500", "num_problems": 5}
        (suite / "metrics.json").write_text(json.dumps({"math500": {**entry, "accuracy_greedy": accuracy}}))
    found = find_runs([tmp_path])
    assert len(found) == 1 and found[0].experiment == "x/one"
    assert found[0].benchmark_metric("math500", "accuracy_greedy") == 0.2


def test_a_base_model_row_reads_the_evaluations_of_its_experiment_s_untrained_model(tmp_path: Path):
    """``rlrewards-eval base_experiment=x/one`` outputs become evaluation-only runs, which only an ``evaluate_only``
    row (the paper's Base row) reads; the trained runs of x/one stay with the X row."""
    run_dir = tmp_path / "runs" / "r"
    run_dir.mkdir(parents=True)
    (run_dir / "summary.json").write_text(json.dumps({"seed": 0, "task": "arith", "experiment": "x/one"}))
    trained = tmp_path / "evals" / "trained"
    # seed 0 asked for by default and again by its hub id (the later one wins); seed 1 by default
    for name, seed, asked, accuracy in [("b0", 0, None, 0.5), ("b0_again", 0, "org/m", 0.02), ("b1", 1, None, 0.04)]:
        out = tmp_path / "evals" / name
        (out / ".hydra").mkdir(parents=True)
        config = {"run_dir": None, "base_experiment": "x/one", "checkpoint": asked, "seed": seed}
        (out / ".hydra" / "config.yaml").write_text(yaml.safe_dump(config))
        metrics = {"a": {"task": "a", "checkpoint": "org/m", "accuracy_greedy": accuracy}}
        (out / "metrics.json").write_text(json.dumps(metrics))
        os.utime(out / "metrics.json", (1000 + len(name), 1000 + len(name)))  # b0, b1, then b0_again
    (trained / ".hydra").mkdir(parents=True)
    (trained / ".hydra" / "config.yaml").write_text(yaml.safe_dump({"run_dir": str(run_dir), "seed": 0}))
    (trained / "metrics.json").write_text(json.dumps({"a": {"task": "a", "accuracy_greedy": 0.4}}))
    found = find_runs([tmp_path])
    assert sorted((r.evaluation_only, r.summary["seed"]) for r in found) == [(False, 0), (True, 0), (True, 1)]
    paper = {
        **PAPER,
        "reproduce": [*PAPER["reproduce"], {**PAPER["reproduce"][0], "method": "Base", "evaluate_only": True}],
    }
    cells = {(c.method, c.column): c for c in compare(paper, found) if c.table == "wide"}
    assert cells[("Base", "A")].ours == pytest.approx(3.0) and cells[("Base", "A")].seeds == 2
    assert cells[("Base", "A")].paper == 1.0
    assert cells[("X", "A")].ours == pytest.approx(40.0) and cells[("X", "A")].seeds == 1  # the trained run only


def test_a_base_model_row_reads_the_evaluations_of_that_model(tmp_path: Path):
    """``rlrewards-eval base_model=m`` outputs (a paper that trains nothing) become evaluation-only runs labelled
    ``model=m``, which the ``evaluate_only`` rows naming ``base_model: m`` read, and no other row."""
    for name, seed, model, accuracy in [("m0", 0, "m", 0.25), ("m1", 1, "m", 0.75), ("other", 0, "n", 0.9)]:
        out = tmp_path / "evals" / name
        (out / ".hydra").mkdir(parents=True)
        config = {"run_dir": None, "base_experiment": None, "base_model": model, "checkpoint": None, "seed": seed}
        (out / ".hydra" / "config.yaml").write_text(yaml.safe_dump(config))
        metrics = {"a": {"task": "a", "checkpoint": f"org/{model}", "accuracy_greedy": accuracy}}
        (out / "metrics.json").write_text(json.dumps(metrics))
    found = find_runs([tmp_path])
    assert sorted((r.experiment, r.summary["seed"]) for r in found) == [("model=m", 0), ("model=m", 1), ("model=n", 0)]
    assert all(r.evaluation_only for r in found)
    base_row = {"table": "wide", "model": "M", "method": "Base", "base_model": "m", "evaluate_only": True}
    cells = {(c.method, c.column): c for c in compare({**PAPER, "reproduce": [base_row]}, found) if c.table == "wide"}
    assert cells[("Base", "A")].ours == pytest.approx(50.0) and cells[("Base", "A")].seeds == 2
    trained_row = {**base_row, "evaluate_only": False}  # evaluations of an untrained model never fill a trained row
    assert all(c.ours is None for c in compare({**PAPER, "reproduce": [trained_row]}, found))


def test_mean_curve_keeps_the_steps_every_seed_logged(tmp_path: Path):
    runs = []
    for seed, points in enumerate([[(5, 0.2), (10, 0.4)], [(5, 0.4), (10, 0.8), (15, 1.0)]]):
        run_dir = tmp_path / str(seed)
        run_dir.mkdir()
        lines = [json.dumps({"step": s, "train/reward": v}) for s, v in points]
        (run_dir / "metrics.jsonl").write_text("\n".join(lines + [json.dumps({"step": 10, "eval/x": 1})]))
        runs.append(Run(run_dir, {}, None))
    steps, mean, low, high = mean_curve(runs, "train/reward")
    assert steps == [5, 10] and mean == pytest.approx([0.3, 0.6]) and low == [0.2, 0.4] and high == [0.4, 0.8]


def test_voting_curves_average_each_method_over_runs():
    runs = [
        run(None, 0, {}, **{"eval/maj@1_sampled": 0.2, "eval/maj@2_sampled": 0.4, "eval/rm@2_sampled": 0.5}),
        run(None, 1, {}, **{"eval/maj@1_sampled": 0.4, "eval/maj@2_sampled": 0.6, "eval/accuracy_sampled": 0.3}),
    ]
    runs[0].summary["eval/maj@2_sampled_stderr"] = 0.05  # an error bar, not a method
    curves = voting_curves(runs)
    assert set(curves) == {("maj", "sampled"), ("rm", "sampled")}
    assert curves[("maj", "sampled")] == pytest.approx({1: 0.3, 2: 0.5})
    assert curves[("rm", "sampled")] == {}  # only one of the two runs reports it


def test_wandb_runs_become_records_with_their_experiment():
    class Remote:
        config = {"experiment": "x/one", "recipe": {"name": "tempo"}, "task": {"name": "math"}, "seed": 2}
        summary = {"eval/accuracy_greedy": 0.7, "_step": 100}

    class Api:
        def runs(self, project, filters):
            assert project == "me/proj" and filters == {"state": "finished"}
            return [Remote()]

    (record,) = runs_from_wandb("me/proj", api=Api())
    assert record.experiment == "x/one" and record.summary["recipe"] == "tempo" and record.summary["seed"] == 2
    assert record.benchmark_metric("math", "accuracy_greedy") == 0.7 and "_step" not in record.summary


def test_reference_files_parse_with_their_compare_sections():
    for path in sorted((REPO_ROOT / "results" / "papers").glob("*.yaml")):
        assert "compare" in yaml.safe_load(path.read_text()), path.name
