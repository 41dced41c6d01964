"""``rlrewards-launch``: ``accelerate launch`` of ``rlrewards.train`` with one run directory shared by every rank.

    rlrewards-launch --config_file conf/accelerate/zero2.yaml --num_processes 8 -- experiment=laser/qwen2.5-7b

Arguments before ``--`` go to ``accelerate launch``, those after it to Hydra. Every rank runs the Hydra entry point
and would name its own timestamped run directory; the launcher fixes the timestamp once (``RLREWARDS_RUN_ID``) before
the ranks start, and ``conf/hydra/default.yaml`` builds the run and sweep directories from it. Only the main process
writes configs, metrics and W&B; accelerate passes ranks by environment variables, so no ``--local_rank`` reaches
Hydra.

The same launch from inside one Hydra job (``launch=accelerate``, conf/launch/), e.g. one point of a SLURM sweep on
its own allocation (``train_in_child_processes``): the job runs ``accelerate launch ... -m rlrewards.train <its
overrides> hydra.run.dir=<its run directory>`` as a child process, waits for it and returns the run's
``optimized_metric``. The child gets the job's overrides without the ``launch`` ones, and every process a launcher
starts carries ``RLREWARDS_LAUNCHED=1``, so a child trains and never launches again.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

RUN_ID = "RLREWARDS_RUN_ID"
LAUNCHED = "RLREWARDS_LAUNCHED"
ACCELERATE_CONFIGS = Path(__file__).resolve().parent.parent / "conf" / "accelerate"
# characters a Hydra override value may hold without quotes
PLAIN_OVERRIDE_VALUE = re.compile(r"[\w./@:+~%-]+")


def accelerate_command(accelerate_args: list[str], overrides: list[str]) -> list[str]:
    return [sys.executable, "-m", "accelerate.commands.launch", *accelerate_args, "-m", "rlrewards.train", *overrides]


def launch_command(argv: list[str]) -> list[str]:
    if "--" not in argv:
        raise SystemExit("usage: rlrewards-launch [accelerate launch options] -- [rlrewards-train overrides]")
    split = argv.index("--")
    return accelerate_command(argv[:split], argv[split + 1 :])


def run_launched(command: list[str], run_id: str | None = None) -> int:
    """Run ``command`` marked as launched (its processes never launch again); ``run_id``: RLREWARDS_RUN_ID for all
    its ranks, for commands that leave the run directory to Hydra."""
    env = {**os.environ, LAUNCHED: "1"}
    shown = " ".join(command)
    if run_id is not None:
        env[RUN_ID] = run_id
        shown = f"{RUN_ID}={run_id} {shown}"
    print(shown, flush=True)
    return subprocess.call(command, env=env)


def main(argv: list[str] | None = None) -> int:
    command = launch_command(sys.argv[1:] if argv is None else list(argv))
    return run_launched(command, run_id=os.environ.get(RUN_ID) or time.strftime("%Y-%m-%d_%H-%M-%S"))


# --- one Hydra job trained by accelerate child processes (launch=accelerate) ---------------------------------------


def is_launched() -> bool:
    return os.environ.get(LAUNCHED) == "1"


def is_launch_override(override: str) -> bool:
    key = override.lstrip("~+").split("=", 1)[0]
    return key == "launch" or key.startswith("launch.")


def job_command(
    launch: Mapping[str, Any], overrides: list[str], run_dir: str, main_process_port: int | None = None
) -> list[str]:
    """The ``accelerate launch`` command that trains one Hydra job in ``run_dir``. ``launch``: the job's resolved
    ``launch`` config; ``overrides``: its Hydra task overrides, passed on without the ``launch`` ones."""
    accelerate_args = [*config_file_args(launch.get("config_file")), "--num_processes", str(num_processes(launch))]
    if main_process_port is not None:
        accelerate_args += ["--main_process_port", str(main_process_port)]
    accelerate_args += [str(arg) for arg in launch.get("args") or []]
    child_overrides = [override for override in overrides if not is_launch_override(override)]
    return accelerate_command(accelerate_args, [*child_overrides, f"hydra.run.dir={override_value(run_dir)}"])


def config_file_args(name: str | None) -> list[str]:
    """``launch.config_file``: a file name of conf/accelerate/ (``zero2``), a path to a .yaml file, or null."""
    if name is None:
        return []
    path = Path(str(name)) if str(name).endswith(".yaml") else ACCELERATE_CONFIGS / f"{name}.yaml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in ACCELERATE_CONFIGS.glob("*.yaml")))
        raise launch_error(f"launch.config_file={name}: no such accelerate config (conf/accelerate/ has {known})")
    return ["--config_file", str(path)]


def num_processes(launch: Mapping[str, Any]) -> int:
    value = launch.get("num_processes")
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise launch_error(f"launch.num_processes={value} must be a whole number >= 1")
    return value


def override_value(value: str) -> str:
    """``value`` as a Hydra override value: quoted when it holds characters the override grammar reserves."""
    if PLAIN_OVERRIDE_VALUE.fullmatch(value):
        return value
    return "'" + value.replace("'", "\\'") + "'"


def launch_error(message: str) -> Exception:
    from rlrewards.config import ConfigError

    return ConfigError(message)


def require_gpus(processes: int, launch: Mapping[str, Any]) -> None:
    """Fail before the child starts when the allocation has fewer GPUs than processes (e.g. a launcher config with
    fewer gpus_per_node), instead of a device error in every rank."""
    if "--cpu" in [str(arg) for arg in launch.get("args") or []]:
        return
    import torch

    visible = torch.cuda.device_count()
    if visible < processes:
        raise launch_error(
            f"launch.num_processes={processes}, but this job sees {visible} GPUs: match hydra.launcher.gpus_per_node "
            "(or pass launch.args=[--cpu] for CPU processes)"
        )


def free_port() -> int:
    """A TCP port free on this node now: sweep points that share a node must not share accelerate's default port."""
    with socket.socket() as sock:
        sock.bind(("", 0))
        return sock.getsockname()[1]


def train_in_child_processes(cfg) -> float | None:
    """Train the current Hydra job through ``accelerate launch`` into the job's run directory; returns the run's
    ``optimized_metric`` from its summary.json (None when the run resumed another directory, see ``resume``)."""
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import OmegaConf

    hydra_cfg = HydraConfig.get()
    run_dir = Path(hydra_cfg.runtime.output_dir)
    launch = OmegaConf.to_container(cfg.launch, resolve=True)
    processes = num_processes(launch)
    require_gpus(processes, launch)
    port = free_port() if processes > 1 else None
    exit_code = run_launched(job_command(launch, list(hydra_cfg.overrides.task), str(run_dir), port))
    if exit_code != 0:
        raise RuntimeError(f"the training processes of {run_dir} exited with code {exit_code} (their output is above)")
    return summary_metric(run_dir / "summary.json", cfg.get("optimized_metric"))


def summary_metric(summary_path: Path, metric: str | None) -> float | None:
    if not metric or not summary_path.exists():
        return None
    value = json.loads(summary_path.read_text()).get(metric)
    return float(value) if value is not None else None


if __name__ == "__main__":
    sys.exit(main())
