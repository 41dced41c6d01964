"""Bad input fails early, names the culprit, and leaves no run behind."""

import pytest
from datasets import Dataset
from test_configs import compose_train

from rlrewards.config import ConfigError, validate_config
from rlrewards.pipeline import run
from rlrewards.tasks.base import DatasetRowError, validate_rows


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("trainer.num_generations=1", r"trainer.num_generations=1 must be >= 2: GRPO needs at least 2"),
        ("trainer.per_device_train_batch_size=10", r"generation batch .* not divisible by trainer.num_generations=8"),
        ("+trainer.generation_batch_size=12", r"trainer.generation_batch_size=12\) is not divisible"),
        ("trainer.learning_rate=0", r"trainer.learning_rate=0.0 must be > 0"),
        ("trainer.learning_rate=-1e-5", r"trainer.learning_rate=-1e-05 must be > 0"),
        ("+trainer.output_dir=/tmp", r"trainer.output_dir is set by rlrewards"),
        ("task._target_=rlrewards.tasks.nothing.Task", r"task._target_: Cannot import task class"),
        ("optimized_metric=accuracy", r"optimized_metric=accuracy must name an eval/ or train/ metric"),
    ],
)
def test_bad_config_values_are_named(override, message):
    cfg = compose_train([override])
    with pytest.raises(ConfigError, match=message):
        validate_config(cfg)


def test_rows_without_prompt_or_answer_are_named():
    good = {"id": "a", "prompt": [{"role": "user", "content": "1+1"}], "answer": "2"}
    validate_rows([good], source="unit")
    with pytest.raises(DatasetRowError, match=r"unit: row 1 \(id='b'\) has no 'answer'"):
        validate_rows([good, {"id": "b", "prompt": good["prompt"], "answer": ""}], source="unit")
    with pytest.raises(DatasetRowError, match=r"unit: row 0 \(id='c'\) has no 'prompt'"):
        validate_rows([{"id": "c", "answer": "2"}], source="unit")
    with pytest.raises(DatasetRowError, match=r"row 0 \(id='d'\) has an empty prompt message"):
        validate_rows([{"id": "d", "prompt": [{"role": "user", "content": ""}], "answer": "2"}], source="unit")


class TaskWithABrokenRow:
    name: str = "broken"
    answer_format: str = "answer_tag"

    def __init__(self, **config):
        self.name = "broken"

    def load_split(self, split):
        rows = [
            {"id": "ok", "prompt": [{"role": "user", "content": "1+1"}], "answer": "2"},
            {"id": "bad", "prompt": [{"role": "user", "content": "2+2"}], "answer": None},
        ]
        validate_rows(rows, source=f"task broken ({split})")
        return Dataset.from_list(rows)


def test_run_rejects_bad_input_before_building_anything_and_removes_the_run_dir(tmp_path):
    run_dir = tmp_path / "run"
    (run_dir / ".hydra").mkdir(parents=True)  # what Hydra itself writes before the job starts
    cfg = compose_train(["task._target_=test_validation.TaskWithABrokenRow"])
    cfg.paths.output_dir = str(run_dir)
    with pytest.raises(ConfigError, match=r"task broken \(train\): row 1 \(id='bad'\) has no 'answer'"):
        run(cfg)
    assert not run_dir.exists()


def test_a_task_config_the_class_does_not_take_is_named(tmp_path):
    cfg = compose_train(["+task.difficulty=9"])
    cfg.paths.output_dir = str(tmp_path / "run")
    with pytest.raises(ConfigError, match="unexpected keyword argument 'difficulty'"):
        run(cfg)


def test_a_run_dir_with_user_files_is_never_removed(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "notes.txt").write_text("mine")
    cfg = compose_train(["trainer.num_generations=1"])
    cfg.paths.output_dir = str(run_dir)
    with pytest.raises(ConfigError):
        run(cfg)
    assert (run_dir / "notes.txt").exists()


def test_resume_of_a_missing_run_is_named_and_leaves_no_run(tmp_path):
    run_dir = tmp_path / "run"
    (run_dir / ".hydra").mkdir(parents=True)
    cfg = compose_train(["debug=fast", f"resume={tmp_path / 'nowhere'}"])
    cfg.paths.output_dir = str(run_dir)
    with pytest.raises(ConfigError, match=r"resume=.*nowhere: no rlrewards run there"):
        run(cfg)
    assert not run_dir.exists()


def test_a_failure_at_model_load_removes_the_run_dir(tmp_path, monkeypatch):
    run_dir = tmp_path / "run"
    (run_dir / ".hydra").mkdir(parents=True)
    cfg = compose_train(["debug=fast"])
    cfg.paths.output_dir = str(run_dir)

    def load_fails(*args, **kwargs):
        raise RuntimeError("injected: CUDA out of memory")

    monkeypatch.setattr("rlrewards.pipeline.load_policy", load_fails)
    with pytest.raises(RuntimeError, match="injected"):
        run(cfg)
    assert not run_dir.exists()


# debug=fast trains 2 steps: LaSeR's warm-ups must end before that or the run is refused for them first
SHORT_WARMUPS = ["recipe.advantage.kwargs.reasoning_warmup=0", "recipe.advantage.kwargs.self_reward_warmup=1"]


def test_a_slot_token_the_loaded_tokenizer_lacks_is_named_and_leaves_no_run(tmp_path, monkeypatch):
    from rlrewards.models.loading import Policy
    from rlrewards.models.tiny import build_tiny_tokenizer

    run_dir = tmp_path / "run"
    (run_dir / ".hydra").mkdir(parents=True)
    # a hub model's tokenizer is known only once loaded: the check runs right after the load, before any run file
    cfg = compose_train(
        ["debug=fast", "recipe=laser", "model=qwen2.5-0.5b", "recipe.slot_token='<|vision_start|>'", *SHORT_WARMUPS]
    )
    cfg.paths.output_dir = str(run_dir)
    monkeypatch.setattr("rlrewards.pipeline.load_policy", lambda *a, **k: Policy(None, build_tiny_tokenizer()))
    with pytest.raises(ConfigError, match=r"recipe.slot_token='<\|vision_start\|>' is not a single token"):
        run(cfg)
    assert not run_dir.exists()


def test_cli_refuses_a_bad_value_naming_the_key_and_leaves_no_run(tmp_path):
    from test_cli import cli

    result = cli(["debug=fast", "trainer.per_device_train_batch_size=0"], tmp_path, tmp_path / "cache", timeout=300)
    assert result.returncode != 0
    assert "trainer.per_device_train_batch_size=0 must be >= 1" in result.stderr
    assert not list(tmp_path.glob("runs/*"))
