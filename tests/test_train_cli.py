"""rlrewards-train answers config errors, --help and dry_run=true before importing the training stack."""

import json
import os
import subprocess
import sys

from conftest import REPO_ROOT

HEAVY = ("torch", "transformers", "trl", "datasets", "rlrewards.pipeline")
# runs the entry point in-process, then reports which heavy modules it imported (on stderr, after Hydra's output)
WRAPPER = """
import sys
args = sys.argv[1:]
sys.argv = ["rlrewards-train", *args]
try:
    from rlrewards.train import main
    main()
finally:
    print("IMPORTED", [m for m in {heavy!r} if m in sys.modules], file=sys.stderr)
"""


def train_cli(args: list[str], tmp_path, world_size: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "WANDB_MODE": "disabled"}
    env.pop("WORLD_SIZE", None)
    if world_size is not None:
        env["WORLD_SIZE"] = world_size
    code = WRAPPER.format(heavy=HEAVY)
    return subprocess.run(
        [sys.executable, "-c", code, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )


def imported(result: subprocess.CompletedProcess) -> list[str]:
    line = [line for line in result.stderr.splitlines() if line.startswith("IMPORTED")][-1]
    return eval(line.split(" ", 1)[1])  # a list literal printed by WRAPPER


def test_importing_the_entry_point_loads_no_training_stack():
    code = f"import sys, rlrewards.train; print([m for m in {HEAVY!r} if m in sys.modules])"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_help_answers_without_the_training_stack(tmp_path):
    result = train_cli(["--help"], tmp_path)
    assert result.returncode == 0 and "== Configuration groups ==" in result.stdout
    assert imported(result) == []


def test_dry_run_prints_the_plan_as_json_and_leaves_no_run(tmp_path):
    run_dir = tmp_path / "outputs" / "the-run"
    args = ["experiment=laser/qwen2.5-7b", "dry_run=true", f"hydra.run.dir={run_dir}"]
    result = train_cli(args, tmp_path, world_size="8")
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout.strip().splitlines()[-1])
    assert plan["experiment"] == "laser/qwen2.5-7b" and plan["world_size"] == 8
    # 1024 completions per step on 8 processes of 8: 16 accumulation steps (the trainer file says 128, for 1 GPU)
    assert (plan["completions_per_step"], plan["gradient_accumulation_steps"], plan["generation_batch_size"]) == (
        1024,
        16,
        1024,
    )
    assert (plan["reasoning_warmup"], plan["self_reward_warmup"], plan["model_max_positions"]) == (200, 200, 32768)
    assert "optimizer step:" in result.stdout
    assert not run_dir.exists()
    assert "rlrewards.pipeline" not in imported(result)


def test_a_config_error_is_refused_before_the_pipeline_and_leaves_no_run(tmp_path):
    run_dir = tmp_path / "outputs" / "bad"
    result = train_cli(["trainer.learning_rate=-1", f"hydra.run.dir={run_dir}"], tmp_path)
    assert result.returncode != 0
    assert "trainer.learning_rate=-1.0 must be > 0" in result.stderr
    assert not run_dir.exists()
    assert "rlrewards.pipeline" not in imported(result)
