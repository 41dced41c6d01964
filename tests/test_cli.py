"""End to end through the real command line: the demo cut to a few steps, W&B offline, a multirun, Optuna."""

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO_ROOT

FAST = ["debug=fast"]


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


def cli(args: list[str], log_dir: Path, cache_dir: Path, env: dict | None = None, timeout: int = 600):
    command = [sys.executable, "-m", "rlrewards.train", *args, f"paths.log_dir={log_dir}"]
    full_env = {**os.environ, "RLREWARDS_CACHE": str(cache_dir), "HYDRA_FULL_ERROR": "0", **(env or {})}
    return subprocess.run(command, cwd=REPO_ROOT, env=full_env, capture_output=True, text=True, timeout=timeout)


def compose_eval(run_dir: Path, output_dir: Path, overrides: list[str]):
    """The rlrewards-eval config for ``run_dir``, writing to ``output_dir``."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(REPO_ROOT / "conf"), version_base="1.3"):
        return compose(
            config_name="eval", overrides=[f"run_dir={run_dir}", f"paths.output_dir={output_dir}", *overrides]
        )


def only_run_dir(log_dir: Path) -> Path:
    runs = list((log_dir / "runs").iterdir())
    assert len(runs) == 1, runs
    return runs[0]


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory, cache_dir):
    log_dir = tmp_path_factory.mktemp("demo")
    # grpo/arith_tiny is the plain demo as a versioned experiment; the summary records the experiment's name
    args = [*FAST, "experiment=grpo/arith_tiny", "logger.name=wandb"]
    result = cli(args, log_dir, cache_dir, env={"WANDB_MODE": "offline"})
    assert result.returncode == 0, result.stderr[-3000:]
    return result, only_run_dir(log_dir)


def test_demo_end_to_end_with_wandb_offline(demo_run):
    result, run_dir = demo_run
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["steps"] == 2
    assert summary["recipe"] == "grpo" and summary["model"] == "tiny" and summary["task"] == "arith"
    assert summary["experiment"] == "grpo/arith_tiny"
    for key in ("eval/before/accuracy_greedy", "eval/accuracy_greedy", "wall_time_s", "config_hash"):
        assert key in summary
    assert 0.0 <= summary["eval/accuracy_greedy"] <= 1.0
    info = json.loads((run_dir / "run_info.json").read_text())
    assert info["seed"] == 0 and info["versions"]["trl"] == "1.16.0" and "torch" in info["versions"]
    assert "deepspeed" in info["versions"]
    assert "seed: 0" in (run_dir / "config.yaml").read_text()
    metrics = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert any("train/reward" in m for m in metrics)
    assert any("eval/accuracy_greedy" in m for m in metrics)
    records = [json.loads(line) for line in (run_dir / "eval" / "after.jsonl").open()]
    assert len(records) == 16 + 16 * 4  # greedy once, sampled four times, for each of the 16 problems
    greedy = [r["correct"] for r in records if r["decoding"] == "greedy"]
    assert summary["eval/accuracy_greedy"] == pytest.approx(sum(greedy) / 16)
    assert (run_dir / "model" / "config.json").exists()
    assert list((run_dir / "wandb").glob("offline-run-*"))
    assert "wandb sync" in result.stdout
    assert "before RL" in result.stdout


def test_eval_reloads_the_saved_model_and_reproduces_its_greedy_accuracy(demo_run, tmp_path):
    from rlrewards.evaluate import evaluate_run

    _, run_dir = demo_run
    cfg = compose_eval(run_dir, tmp_path, ["limit=16", "max_new_tokens=24"])
    metrics = evaluate_run(cfg)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert metrics["num_problems"] == 16
    assert metrics["accuracy_greedy"] == pytest.approx(summary["eval/accuracy_greedy"])
    records = [json.loads(line) for line in (tmp_path / "samples.jsonl").open()]
    assert len(records) == 16 + 16 * 4
    # completion lengths in tokens: at most max_new_tokens (EOS not counted), and some completions are not empty
    assert all(0 <= r["tokens"] <= 24 for r in records) and any(r["tokens"] > 0 for r in records)
    assert json.loads((tmp_path / "metrics.json").read_text())["split"] == "test"


def test_report_puts_a_paper_table_beside_real_runs_and_their_evaluation(demo_run, tmp_path):
    import yaml

    from rlrewards.evaluate import evaluate_run
    from rlrewards.report import main as report

    _, run_dir = demo_run
    evaluation = evaluate_run(compose_eval(run_dir, tmp_path / "eval", ["limit=8", "max_new_tokens=24"]))
    papers = tmp_path / "papers"
    papers.mkdir()
    reference = {  # a made-up paper whose one row is reproduced by the demo experiment
        "paper": "A test paper",
        "tables": [{"name": "t", "source": "test", "verified": False, "rows": [{"model": "tiny", "method": "GRPO"}]}],
        "compare": {"t": {"columns": {"arith": {"benchmarks": ["arith"], "metric": "accuracy_greedy", "scale": 100}}}},
        "reproduce": [{"table": "t", "model": "tiny", "method": "GRPO", "experiments": ["grpo/arith_tiny"]}],
    }
    reference["tables"][0]["rows"][0]["arith"] = 50.0
    (papers / "demo.yaml").write_text(yaml.safe_dump(reference))
    out = tmp_path / "report"
    args = [str(run_dir), str(tmp_path / "eval"), "--paper", "demo", "--papers-dir", str(papers), "--out", str(out)]
    assert report([*args, "--format", "csv"]) == 0
    rows = list(csv.DictReader((out / "paper.csv").open()))
    assert len(rows) == 1 and rows[0]["seeds"] == "1" and float(rows[0]["paper"]) == 50.0
    # the rlrewards-eval result (8 problems) takes precedence over the run's own final evaluation (16)
    assert float(rows[0]["ours"]) == pytest.approx(100 * evaluation["accuracy_greedy"])
    assert float(rows[0]["delta"]) == pytest.approx(100 * evaluation["accuracy_greedy"] - 50.0)
    assert "| tiny | GRPO | 1 | 50 / " in (out / "paper.md").read_text()
    assert (out / "curves.png").stat().st_size > 0 and (out / "runs.md").exists()


def test_eval_suite_scores_each_benchmark_with_its_own_sample_count(demo_run, tmp_path):
    from omegaconf import OmegaConf

    from rlrewards.evaluate import evaluate_run

    _, run_dir = demo_run
    cfg = compose_eval(run_dir, tmp_path, ["suite=laser"])
    counts = {name: spec.decodings.sampled.num_samples for name, spec in cfg.benchmarks.items()}
    assert counts == {"math500": 2, "olympiadbench": 2, "amc23": 32, "aime24": 32, "aime25": 32}
    assert cfg.max_new_tokens == 8192
    # offline: two of the suite's benchmarks from their fixtures, short generations
    fixtures = REPO_ROOT / "tests" / "fixtures"
    cfg.benchmarks = OmegaConf.create(
        {
            name: {
                **OmegaConf.to_container(cfg.benchmarks[name]),
                "task_overrides": {"data_files": {"test": str(path)}},
            }
            for name, path in [("math500", fixtures / "math500/test.jsonl"), ("aime24", fixtures / "aime24/test.jsonl")]
        }
    )
    cfg.max_new_tokens = 8
    results = evaluate_run(cfg)
    assert set(results) == {"math500", "aime24"}
    for name, samples in [("math500", 2), ("aime24", 32)]:
        assert results[name]["num_problems"] == 1 and results[name]["task"] == name
        records = [json.loads(line) for line in (tmp_path / name / "samples.jsonl").open()]
        assert len(records) == samples
        assert results[name]["accuracy_sampled"] == pytest.approx(sum(r["correct"] for r in records) / samples)
        assert f"pass@{samples}_sampled" in results[name] and f"maj@{samples}_sampled" in results[name]
    assert json.loads((tmp_path / "metrics.json").read_text())["aime24"]["num_problems"] == 1


def test_eval_suite_with_an_unknown_task_fails_before_loading_the_model(demo_run, tmp_path):
    from rlrewards.config import ConfigError
    from rlrewards.evaluate import evaluate_run

    _, run_dir = demo_run
    cfg = compose_eval(run_dir, tmp_path, ["+benchmarks.mystery.task=no_such_task"])
    with pytest.raises(ConfigError, match=r"benchmarks.mystery.task='no_such_task'.*Known: .*aime24"):
        evaluate_run(cfg)
    assert not list(tmp_path.iterdir())


def test_second_run_reuses_the_cached_warm_start(tmp_path, cache_dir):
    first = cli([*FAST, "save_model=false"], tmp_path / "a", cache_dir)
    second = cli([*FAST, "save_model=false"], tmp_path / "b", cache_dir)
    assert first.returncode == 0 and second.returncode == 0, second.stderr[-3000:]
    assert "Reusing the SFT warm start" in second.stdout + second.stderr
    one = json.loads((only_run_dir(tmp_path / "a") / "summary.json").read_text())
    two = json.loads((only_run_dir(tmp_path / "b") / "summary.json").read_text())
    assert one["warm_start"]["key"] == two["warm_start"]["key"]
    assert one["eval/before/accuracy_greedy"] == two["eval/before/accuracy_greedy"]


def test_multirun_gives_each_job_its_own_directory(tmp_path, cache_dir):
    result = cli(["-m", *FAST, "seed=1,2", "save_model=false"], tmp_path, cache_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    (sweep,) = list((tmp_path / "multiruns").iterdir())
    jobs = sorted(p for p in sweep.iterdir() if p.is_dir() and (p / "summary.json").exists())
    assert [p.name for p in jobs] == ["0_grpo-tiny-arith-s1", "1_grpo-tiny-arith-s2"]
    seeds = [json.loads((p / "summary.json").read_text())["seed"] for p in jobs]
    assert seeds == [1, 2]

    from rlrewards.report import aggregate, find_summaries, render

    metrics = ("eval/accuracy_greedy",)
    rows = aggregate(find_summaries([sweep]), metrics)
    assert len(rows) == 1 and rows[0]["seeds"] == 2 and rows[0]["recipe"] == "grpo"
    values = [json.loads((p / "summary.json").read_text())["eval/accuracy_greedy"] for p in jobs]
    mean, _ = rows[0]["eval/accuracy_greedy"]
    assert mean == pytest.approx(sum(values) / 2)
    table = render(rows, metrics, "md")
    assert table.splitlines()[0] == "| recipe | model | task | seeds | eval/accuracy_greedy |"
    assert f"{mean:.3f} ±" in table


def test_optuna_search_runs_and_reports_the_best_trial(tmp_path, cache_dir):
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper")
    result = cli(
        ["hparams_search=demo_optuna", *FAST, "hydra.sweeper.n_trials=2", "save_model=false"], tmp_path, cache_dir
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (sweep,) = list((tmp_path / "multiruns").iterdir())
    best = (sweep / "optimization_results.yaml").read_text()
    assert "best_params" in best and "trainer.learning_rate" in best
    assert "Best parameters" in result.stdout + result.stderr


def test_unknown_option_lists_the_choices_and_leaves_no_run(tmp_path, cache_dir):
    result = cli(["recipe=nope"], tmp_path, cache_dir)
    assert result.returncode != 0
    assert "Could not find 'recipe/nope'" in result.stderr and "grpo" in result.stderr
    assert not (tmp_path / "runs").exists()


def test_invalid_value_fails_before_any_model_and_leaves_no_run(tmp_path, cache_dir):
    result = cli([*FAST, "trainer.num_generations=1"], tmp_path, cache_dir)
    assert result.returncode != 0
    assert "trainer.num_generations=1" in result.stderr
    assert "SFT" not in result.stdout + result.stderr
    assert not any((tmp_path / "runs").iterdir()) if (tmp_path / "runs").exists() else True


def test_launcher_splits_its_arguments_and_requires_the_separator():
    from rlrewards.launch import launch_command

    command = launch_command(["--num_processes", "2", "--", "experiment=tempo/arith_tiny", "seed=1"])
    assert command[1:] == [
        "-m",
        "accelerate.commands.launch",
        "--num_processes",
        "2",
        "-m",
        "rlrewards.train",
        "experiment=tempo/arith_tiny",
        "seed=1",
    ]
    with pytest.raises(SystemExit, match="usage"):
        launch_command(["experiment=tempo/arith_tiny"])


def test_launch_form_runs_the_demo_through_accelerate_into_the_run_id_directory(tmp_path, cache_dir):
    command = [sys.executable, "-m", "rlrewards.launch", "--cpu", "--num_processes", "1", "--", *FAST]
    command += ["save_model=false", f"paths.log_dir={tmp_path}"]
    env = {**os.environ, "RLREWARDS_CACHE": str(cache_dir), "RLREWARDS_RUN_ID": "fixed-id"}
    result = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    run_dir = only_run_dir(tmp_path)
    assert run_dir.name.startswith("fixed-id_")
    assert json.loads((run_dir / "summary.json").read_text())["steps"] == 2


def test_gpu_check_cpu_path_reports_each_recipe_against_grpo(tmp_path, cache_dir):
    env = {**os.environ, "OUT": str(tmp_path), "RECIPES": "grpo laser", "RLREWARDS_CACHE": str(cache_dir)}
    env["PYTHON"] = sys.executable
    result = subprocess.run(
        ["bash", "scripts/gpu_check.sh", "--cpu"], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    rows = {line.split()[0]: line.split() for line in result.stdout.splitlines() if line.startswith(("grpo", "laser"))}
    assert rows["grpo"][1] == "3" and rows["grpo"][-1] == "1.000"  # 3 logged steps, GRPO is the unit
    assert float(rows["laser"][-1]) > 0
    laser = (tmp_path / "runs" / "gpu_check_laser" / "metrics.jsonl").read_text()
    assert '"train/laser/mixing_active": 1.0' in laser  # every LaSeR phase ran


def test_killed_run_resumes_from_its_checkpoint_and_ends_like_an_uninterrupted_run(tmp_path, cache_dir):
    import signal
    import time

    args = [*FAST, "logger=none", "save_model=false", "trainer.max_steps=6", "trainer.save_strategy=steps"]
    args += ["+trainer.save_steps=1"]
    whole = cli(args, tmp_path / "whole", cache_dir)
    assert whole.returncode == 0, whole.stderr[-3000:]
    expected = json.loads((only_run_dir(tmp_path / "whole") / "summary.json").read_text())

    log_dir = tmp_path / "cut"
    command = [sys.executable, "-m", "rlrewards.train", *args, f"paths.log_dir={log_dir}"]
    env = {**os.environ, "RLREWARDS_CACHE": str(cache_dir)}
    process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while not list(log_dir.glob("runs/*/checkpoints/checkpoint-2/trainer_state.json")):
        assert process.poll() is None and time.monotonic() < deadline, "the run ended before its second checkpoint"
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    run_dir = only_run_dir(log_dir)
    assert not (run_dir / "summary.json").exists()

    resumed = cli([*args, "resume=auto"], log_dir, cache_dir)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "Resuming" in resumed.stdout
    summary = json.loads((run_dir / "summary.json").read_text())  # finished in the interrupted run's directory
    for key in ("eval/before/accuracy_greedy", "eval/accuracy_greedy", "eval/accuracy_sampled", "steps"):
        assert summary[key] == expected[key], key
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    train_steps = [record["step"] for record in records if "train/loss" in record]
    assert train_steps == [1, 2, 3, 4, 5, 6]  # every step logged once: nothing lost, nothing twice
    uninterrupted = [
        json.loads(line) for line in (only_run_dir(tmp_path / "whole") / "metrics.jsonl").read_text().splitlines()
    ]
    # the steps after the checkpoint sample the same completions and reach the same weights as the uninterrupted run
    for key in ("train/completions/mean_length", "train/entropy", "train/grad_norm"):
        assert [r[key] for r in records if key in r] == [r[key] for r in uninterrupted if key in r], key
