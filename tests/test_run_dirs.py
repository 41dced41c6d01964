"""One run per directory, resume that finds the right run, and writes a crash cannot tear.

The pipeline tests run ``rlrewards.pipeline.run`` in-process with the training replaced by a stub: what is under test
is what happens to the run directory before and after training, not training itself.
"""

import json
import os
from pathlib import Path

import pytest
from omegaconf import OmegaConf
from test_configs import compose_train

from rlrewards import pipeline, rundir
from rlrewards.config import ConfigError
from rlrewards.resume import find_resume_point, rewind_metrics


@pytest.fixture
def stub_training(monkeypatch):
    """Replace model loading, training and evaluation; record what each run was asked to do."""
    calls = []

    def load_before_training(cfg, task, train_dataset):
        return None, None

    def train_and_evaluate(
        cfg, task, policy, slot_token_id, train, evaluation, run_dir, tracker, resume_point=None, before=None
    ):
        calls.append({"run_dir": Path(run_dir), "resume_point": resume_point, "seed": int(cfg.seed)})
        tracker.log({"train/loss": 1.0}, step=1)
        return {"eval/accuracy_greedy": 0.25, "seed": int(cfg.seed)}

    monkeypatch.setattr(pipeline, "load_before_training", load_before_training)
    monkeypatch.setattr(pipeline, "train_and_evaluate", train_and_evaluate)
    return calls


def run_in(run_dir: Path, log_dir: Path, overrides: list[str]):
    cfg = compose_train(["debug=fast", "logger=none", *overrides])
    cfg.paths.output_dir = str(run_dir)
    cfg.paths.log_dir = str(log_dir)
    return pipeline.run(cfg)


def snapshot(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def interrupt(run_dir: Path, step: int = 2) -> None:
    """Make a finished stub run look killed after a checkpoint at ``step``."""
    (run_dir / "summary.json").unlink()
    checkpoint = run_dir / "checkpoints" / f"checkpoint-{step}"
    checkpoint.mkdir(parents=True)
    (checkpoint / "trainer_state.json").write_text("{}")


def test_a_second_run_in_the_same_directory_is_refused_and_the_first_is_untouched(tmp_path, stub_training):
    # RLREWARDS_RUN_ID=x exported for two runs of one run_name gives both the same directory
    shared = tmp_path / "runs" / "x_grpo"
    run_in(shared, tmp_path, ["seed=0"])
    first = snapshot(shared)
    assert {"config.yaml", "run_info.json", "metrics.jsonl", "summary.json"} <= set(first)
    for overrides in (["seed=1"], ["seed=0"]):  # another config, or the same config without resume
        with pytest.raises(ConfigError, match=r"x_grpo already holds another run .*unset RLREWARDS_RUN_ID"):
            run_in(shared, tmp_path, overrides)
    assert snapshot(shared) == first
    assert len(stub_training) == 1


def test_only_the_main_process_guards_and_writes(tmp_path, stub_training, monkeypatch):
    shared = tmp_path / "runs" / "x_grpo"
    run_in(shared, tmp_path, [])
    first = snapshot(shared)
    monkeypatch.setenv("RANK", "1")  # another rank of the same launch: the directory rank 0 just wrote is its own
    run_in(shared, tmp_path, [])
    assert snapshot(shared) == first


def test_a_fixed_run_id_resumes_its_own_directory(tmp_path, stub_training):
    shared = tmp_path / "runs" / "x_grpo"
    run_in(shared, tmp_path, [])
    interrupt(shared)
    run_in(shared, tmp_path, ["resume=auto"])
    point = stub_training[-1]["resume_point"]
    assert point.run_dir == shared.resolve() and point.step == 2
    assert (shared / "summary.json").exists()


def test_resume_leaves_no_stray_hydra_directory(tmp_path, stub_training):
    first = tmp_path / "runs" / "2026-01-01_00-00-00_grpo-tiny-arith-s0"
    run_in(first, tmp_path, [])
    interrupt(first)
    invocation = tmp_path / "runs" / "2026-01-02_00-00-00_grpo-tiny-arith-s0"
    (invocation / ".hydra").mkdir(parents=True)  # what Hydra creates for the resuming command
    (invocation / "train.log").write_text("")
    run_in(invocation, tmp_path, ["resume=auto"])
    assert stub_training[-1]["resume_point"].run_dir == first.resolve()
    assert not invocation.exists()


def fake_run(path: Path, config_hash: str, started: float, finished: bool = False, checkpoint: bool = True) -> Path:
    path.mkdir(parents=True)
    (path / "config.yaml").write_text("seed: 0\n")
    (path / "run_info.json").write_text(json.dumps({"config_hash": config_hash}))
    os.utime(path / "run_info.json", (started, started))
    if finished:
        (path / "summary.json").write_text("{}")
    if checkpoint:
        (path / "checkpoints" / "checkpoint-4").mkdir(parents=True)
        (path / "checkpoints" / "checkpoint-4" / "trainer_state.json").write_text("{}")
    return path


def auto(log_dir: Path, current: Path | None = None):
    cfg = OmegaConf.create({"resume": "auto", "run_name": "grpo-tiny", "paths": {"log_dir": str(log_dir)}})
    return find_resume_point(cfg, current or log_dir / "runs" / "now_grpo-tiny", "abc")


def test_resume_auto_chooses_the_run_with_the_same_config_over_a_newer_one(tmp_path):
    wanted = fake_run(tmp_path / "runs" / "2026-01-01_grpo-tiny", "abc", started=1000)
    fake_run(tmp_path / "runs" / "2026-01-03_grpo-tiny", "other", started=3000)  # newer, another config
    fake_run(tmp_path / "runs" / "2026-01-04_grpo-tiny", "abc", started=4000, finished=True)
    fake_run(tmp_path / "runs" / "2026-01-05_grpo-tiny", "abc", started=5000, checkpoint=False)
    point = auto(tmp_path)
    assert point.run_dir == wanted.resolve() and point.step == 4


def test_resume_auto_finds_a_killed_sweep_job(tmp_path):
    job = fake_run(tmp_path / "multiruns" / "2026-01-01_10-00-00" / "3_grpo-tiny", "abc", started=1000)
    assert auto(tmp_path).run_dir == job.resolve()


def test_resume_auto_with_only_other_configs_starts_afresh_and_says_why(tmp_path, capsys):
    other = fake_run(tmp_path / "runs" / "2026-01-03_grpo-tiny", "other", started=3000)
    assert auto(tmp_path) is None
    assert f"1 with another config: {other.resolve()}" in capsys.readouterr().out


def test_rewind_skips_a_line_the_kill_cut_short(tmp_path):
    metrics = tmp_path / "metrics.jsonl"
    metrics.write_text(
        '{"step": 0, "eval/before/accuracy_greedy": 0.5}\n{"step": 1, "train/loss": 2.0}\n'
        '{"step": 2, "train/loss": 1.5}\n{"step": 3, "train/lo'
    )
    assert rewind_metrics(metrics, step=2) == {"eval/before/accuracy_greedy": 0.5}
    assert [json.loads(line)["step"] for line in metrics.read_text().splitlines()] == [0, 1, 2]


def test_an_interrupted_write_leaves_the_old_file_whole_and_no_partial_file(tmp_path, monkeypatch):
    summary = tmp_path / "summary.json"
    rundir.atomic_write_json(summary, {"steps": 1})

    def crash(*args):
        raise KeyboardInterrupt  # a kill between writing the new file and renaming it

    monkeypatch.setattr(rundir.os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        rundir.atomic_write_json(summary, {"steps": 2})
    assert json.loads(summary.read_text()) == {"steps": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]


def test_a_model_save_that_crashes_keeps_the_old_model(tmp_path):
    model = tmp_path / "model"
    rundir.atomic_replace_dir(model, lambda d: (d / "weights").write_text("old"))

    def half_written(directory: Path):
        (directory / "weights").write_text("new, partly")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        rundir.atomic_replace_dir(model, half_written)
    assert (model / "weights").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["model"]
    rundir.atomic_replace_dir(model, lambda d: (d / "weights").write_text("new"))
    assert (model / "weights").read_text() == "new" and [p.name for p in tmp_path.iterdir()] == ["model"]


def test_the_pipeline_saves_the_model_through_a_directory_aside(tmp_path):
    class Saver:
        def __init__(self, name):
            self.name = name

        def save_model(self, directory):
            assert Path(directory).name != "model"  # never straight into the final place
            Path(directory, self.name).write_text("weights")

        def save_pretrained(self, directory):
            Path(directory, self.name).write_text("tokenizer")

    pipeline.save_final_model(Saver("model.safetensors"), Saver("tokenizer.json"), tmp_path / "model")
    assert sorted(p.name for p in (tmp_path / "model").iterdir()) == ["model.safetensors", "tokenizer.json"]
