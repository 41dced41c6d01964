"""Degrading gracefully: W&B without a network, debug=fast on hub tasks, an unreachable hub dataset, reports of sweeps
with failed jobs."""

import json
from pathlib import Path

import pytest
from conftest import FIXTURES
from test_run_dirs import run_in, stub_training  # noqa: F401 - the fixture is used by name

from rlrewards import report, tracking
from rlrewards.config import ConfigError
from rlrewards.tasks import hub

MATH_FIXTURES = [
    f"+task.data_files.train={FIXTURES / 'math_lighteval' / 'train.jsonl'}",
    f"+task.data_files.test={FIXTURES / 'math_lighteval' / 'test.jsonl'}",
]


class FakeWandb:
    """wandb.init that fails online the way an unreachable server does, and works offline."""

    def __init__(self):
        self.calls = []

    def init(self, mode, settings, **kwargs):
        self.calls.append({"mode": mode, "init_timeout": settings.init_timeout})
        if mode == "online":
            raise TimeoutError("Run initialization has timed out")
        return object()


def test_wandb_that_cannot_start_online_falls_back_to_offline_with_a_warning(tmp_path, monkeypatch, capsys):
    fake = FakeWandb()
    monkeypatch.setattr(tracking, "_wandb_init", lambda init, mode, timeout: fake.init(mode, _Settings(timeout)))
    monkeypatch.setenv("WANDB_MODE", "online")  # credentials present, network absent
    tracker = tracking.Tracker(tmp_path, {"name": "wandb", "project": "p"}, {}, run_name="r")
    assert [c["mode"] for c in fake.calls] == ["online", "offline"]
    assert all(c["init_timeout"] == tracking.WANDB_INIT_TIMEOUT_S <= 30 for c in fake.calls)
    assert tracker.mode == "offline" and tracker.report_to == ["wandb"]
    assert "W&B could not start online (TimeoutError: Run initialization has timed out)" in capsys.readouterr().err


def test_wandb_init_is_given_the_short_timeout(tmp_path, monkeypatch):
    import wandb

    seen = {}

    def init(**kwargs):
        seen.update(mode=kwargs["mode"], timeout=kwargs["settings"].init_timeout)
        return object()

    monkeypatch.setattr(wandb, "init", init)
    monkeypatch.delenv("WANDB_MODE", raising=False)
    tracking.Tracker(tmp_path, {"name": "wandb", "mode": "online", "init_timeout_s": 7}, {}, run_name="r")
    assert seen == {"mode": "online", "timeout": 7.0}
    tracking.Tracker(tmp_path, {"name": "wandb", "mode": "online"}, {}, run_name="r")
    assert seen == {"mode": "online", "timeout": tracking.WANDB_INIT_TIMEOUT_S}


class _Settings:
    def __init__(self, timeout):
        self.init_timeout = timeout


def test_an_offline_failure_is_not_hidden(tmp_path, monkeypatch):
    def init(init, mode, timeout):
        raise RuntimeError("disk full")

    monkeypatch.setattr(tracking, "_wandb_init", init)
    monkeypatch.delenv("WANDB_MODE", raising=False)
    with pytest.raises(RuntimeError, match="disk full"):
        tracking.Tracker(tmp_path, {"name": "wandb", "mode": "offline"}, {}, run_name="r")


def test_debug_fast_runs_with_a_hub_task(tmp_path, stub_training):  # noqa: F811
    run_dir = tmp_path / "run"
    run_in(run_dir, tmp_path, ["task=math", *MATH_FIXTURES])
    assert json.loads((run_dir / "summary.json").read_text())["eval/accuracy_greedy"] == 0.25
    assert "split_sizes" not in (run_dir / "config.yaml").read_text()


def test_an_unreachable_hub_dataset_leaves_no_run_directory(tmp_path, monkeypatch, stub_training):  # noqa: F811
    def offline(*args, **kwargs):
        raise ConnectionError(
            "Couldn't reach 'DigitalLearningGmbH/MATH-lighteval' on the Hub (LocalEntryNotFoundError)"
        )

    monkeypatch.setattr(hub, "load_dataset", offline)
    run_dir = tmp_path / "run"
    (run_dir / ".hydra").mkdir(parents=True)
    with pytest.raises(ConnectionError, match="Couldn't reach"):
        run_in(run_dir, tmp_path, ["task=math"])
    assert not run_dir.exists() and stub_training == []


def test_a_bad_task_option_still_reads_as_a_config_error(tmp_path):
    with pytest.raises(ConfigError):
        run_in(tmp_path / "run", tmp_path, ["+task.difficulty=9"])


def sweep_job(sweep: Path, name: str, finished: bool) -> Path:
    job = sweep / name
    (job / ".hydra").mkdir(parents=True)
    (job / ".hydra" / "config.yaml").write_text("recipe: {name: grpo}\nseed: 0\n")
    if finished:
        (job / "summary.json").write_text(json.dumps({"recipe": "grpo", "model": "tiny", "task": "arith", "seed": 0}))
    return job


def test_report_names_the_sweep_jobs_it_leaves_out(tmp_path, capsys):
    sweep = tmp_path / "multiruns" / "2026-01-01_10-00-00"
    sweep_job(sweep, "0_grpo-s0", finished=True)
    failed = sweep_job(sweep, "1_grpo-s1", finished=False)
    killed = sweep_job(sweep, "2_grpo-s2", finished=False)
    (killed / "run_info.json").write_text("{}")
    evaluation = tmp_path / "evals" / "e"
    (evaluation / ".hydra").mkdir(parents=True)
    (evaluation / ".hydra" / "config.yaml").write_text("run_dir: x\n")  # an rlrewards-eval directory is not a run
    assert report.main([str(tmp_path), "--out", str(tmp_path / "report")]) == 0
    captured = capsys.readouterr()
    expected = f"Left out 2 run(s) without summary.json (failed, killed or still running):\n  {failed}\n  {killed}"
    assert expected in captured.err
    assert "| grpo | tiny | arith | 1 |" in captured.out
    assert expected in (tmp_path / "report" / "runs.md").read_text()
