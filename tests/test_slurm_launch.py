"""SLURM sweeps whose points are multi-process ``accelerate launch`` jobs: the launcher configs as submitit turns them
into an sbatch file, the child command of one sweep point, and one CPU sweep point end to end. Nothing here runs on a
SLURM cluster or with more than one process (neither is available to the tests)."""

import json
import os
import subprocess
import sys

import pytest
import yaml
from conftest import CONFIG_DIR, REPO_ROOT
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf

from rlrewards.config import ConfigError
from rlrewards.launch import LAUNCHED, job_command, override_value

ZERO2 = str(CONFIG_DIR / "accelerate" / "zero2.yaml")


def compose_with_hydra(overrides: list[str]):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return compose(config_name="train", overrides=overrides, return_hydra_config=True)


def sbatch_parameters(launcher_option: str, overrides: list[str], folder, monkeypatch) -> list[str]:
    """The #SBATCH lines submitit writes for ``hydra/launcher=<launcher_option>``, with its parameters converted as
    hydra_submitit_launcher's launch() does. submitit refuses to build an executor without ``srun`` on the PATH, so a
    stand-in that is never run takes its place."""
    import submitit
    from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf

    fake_bin = folder / "bin"
    fake_bin.mkdir()
    (fake_bin / "srun").write_text("#!/bin/sh\nexit 1\n")
    (fake_bin / "srun").chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake_bin}{os.pathsep}{os.environ['PATH']}")

    launcher = compose_with_hydra([f"hydra/launcher={launcher_option}", *overrides]).hydra.launcher
    params = OmegaConf.to_container(launcher, resolve=False)
    for key in ("_target_", "submitit_folder", "name"):  # name and folder resolve only inside a running Hydra app
        params.pop(key)
    executor = submitit.AutoExecutor(
        cluster="slurm", folder=folder / "submitit", slurm_max_num_timeout=params.pop("max_num_timeout")
    )
    shared = set(OmegaConf.structured(BaseQueueConf).keys())
    executor.update_parameters(**{key if key in shared else f"slurm_{key}": value for key, value in params.items()})
    text = executor._executor._make_submission_file_text("python -m rlrewards.train", "0")
    return sorted(line.removeprefix("#SBATCH ") for line in text.splitlines() if line.startswith("#SBATCH --"))


def test_slurm_launcher_asks_for_one_gpu_and_one_driver_task(tmp_path, monkeypatch):
    lines = sbatch_parameters("slurm", ["hydra.launcher.partition=gpu"], tmp_path, monkeypatch)
    expected = {
        "--cpus-per-task=8",
        "--gpus-per-node=1",
        "--mem=64GB",
        "--nodes=1",
        "--ntasks-per-node=1",
        "--partition=gpu",
        "--time=1440",
    }
    assert expected <= set(lines), lines
    assert not any(line.startswith(("--account", "--qos")) for line in lines)


def test_slurm_8gpu_launcher_takes_a_whole_node_for_one_driver(tmp_path, monkeypatch):
    lines = sbatch_parameters(
        "slurm_8gpu", ["hydra.launcher.partition=a100", "hydra.launcher.account=lab"], tmp_path, monkeypatch
    )
    expected = {
        "--account=lab",
        "--cpus-per-task=64",
        "--gpus-per-node=8",
        "--mem=512GB",
        "--nodes=1",
        "--ntasks-per-node=1",
        "--partition=a100",
        "--time=1440",
    }
    assert expected <= set(lines), lines


def test_a_point_of_the_worked_sweep_becomes_an_8_process_zero2_job_without_launch_overrides():
    sweep_point = [
        "experiment=tempo/math_qwen3-1.7b",
        "trainer.learning_rate=2e-06",
        "launch=accelerate",
    ]
    cfg = compose_with_hydra(["hydra/launcher=slurm_8gpu", *sweep_point])
    launch = OmegaConf.to_container(cfg.launch, resolve=True)
    assert launch == {"config_file": "zero2", "num_processes": 8, "args": []}

    command = job_command(launch, sweep_point, "/runs/2026_lr/1_tempo-qwen3-1.7b-math-s0", main_process_port=29617)
    assert command == [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--config_file",
        ZERO2,
        "--num_processes",
        "8",
        "--main_process_port",
        "29617",
        "-m",
        "rlrewards.train",
        "experiment=tempo/math_qwen3-1.7b",
        "trainer.learning_rate=2e-06",
        "hydra.run.dir=/runs/2026_lr/1_tempo-qwen3-1.7b-math-s0",
    ]


def test_only_the_launch_overrides_are_dropped_from_the_child():
    overrides = [
        "launch=accelerate",
        "+launch.extra=1",
        "++launch.args=[--cpu]",
        "~launch.args",
        "launchpad=1",
        "seed=3",
    ]
    command = job_command({"config_file": None, "num_processes": 1}, overrides, "/runs/a")
    assert command[command.index("rlrewards.train") + 1 :] == ["launchpad=1", "seed=3", "hydra.run.dir=/runs/a"]


def test_extra_accelerate_args_follow_the_chosen_ones_and_a_null_config_file_is_left_out():
    launch = {"config_file": None, "num_processes": 1, "args": ["--cpu"]}
    command = job_command(launch, ["seed=3"], "/runs/a")
    assert command[3:] == ["--num_processes", "1", "--cpu", "-m", "rlrewards.train", "seed=3", "hydra.run.dir=/runs/a"]


@pytest.mark.parametrize(
    ("launch", "message"),
    [
        ({"config_file": "zero9", "num_processes": 8}, "launch.config_file=zero9: no such accelerate config"),
        ({"config_file": "zero2", "num_processes": 0}, "launch.num_processes=0"),
        ({"config_file": "zero2", "num_processes": "8"}, "launch.num_processes=8 must be a whole number"),
    ],
)
def test_bad_launch_settings_name_their_key(launch, message):
    with pytest.raises(ConfigError, match=message):
        job_command(launch, [], "/runs/a")


def test_run_directories_with_reserved_characters_reach_the_child_unchanged():
    for run_dir in ["/runs/plain-dir_1.0", "/runs/with space,comma=and'quote"]:
        override = OverridesParser.create().parse_overrides([f"hydra.run.dir={override_value(run_dir)}"])[0]
        assert override.value() == run_dir


def test_a_cpu_sweep_point_trains_in_one_accelerate_child_inside_its_own_job_directory(tmp_path):
    log_dir = tmp_path / "logs"
    command = [sys.executable, "-m", "rlrewards.train", "-m", "debug=fast", "launch=accelerate"]
    command += ["launch.num_processes=1", "launch.config_file=null", "launch.args=[--cpu]"]
    command += ["save_model=false", "logger=none", f"paths.log_dir={log_dir}"]
    env = {key: value for key, value in os.environ.items() if key != LAUNCHED}
    env["RLREWARDS_CACHE"] = str(tmp_path / "cache")
    result = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]

    job_dirs = list(log_dir.glob("multiruns/*/0_grpo-tiny-arith-s0"))
    assert len(job_dirs) == 1 and not (log_dir / "runs").exists()  # no run directory of the child's own
    job_dir = job_dirs[0]
    launches = [line for line in result.stdout.splitlines() if "accelerate.commands.launch" in line]
    assert len(launches) == 1  # the child trained; it did not launch again
    assert launches[0].endswith(f"hydra.run.dir={job_dir}") and " --cpu " in launches[0]
    assert not any(arg.startswith("launch") for arg in launches[0].split())
    assert json.loads((job_dir / "summary.json").read_text())["steps"] == 2
    assert f"hydra.run.dir={job_dir}" in json.loads((job_dir / "run_info.json").read_text())["command"]
    child_overrides = yaml.safe_load((job_dir / ".hydra" / "overrides.yaml").read_text())
    assert child_overrides == ["debug=fast", "save_model=False", "logger=none", f"paths.log_dir={log_dir}"]
