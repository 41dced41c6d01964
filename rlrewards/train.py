"""``rlrewards-train`` (also ``python -m rlrewards.train``): the Hydra entry point.

Fail fast means fast: this module imports neither torch nor transformers, TRL or datasets. A run first checks its
config (``rlrewards.plan.check_run``: the paper's batch for this many processes, the cheap validation, the context
lengths); only then is ``rlrewards.pipeline`` (torch, TRL) imported. ``dry_run=true`` stops after the checks: it
prints the plan, then the same plan as one JSON object on the last line of stdout, and leaves no run directory.
"""

from __future__ import annotations

import json
from pathlib import Path

import hydra
from omegaconf import DictConfig

from rlrewards.launch import is_launched, train_in_child_processes

# An absolute path: console scripts import this module by name, and Hydra would otherwise look for a package "conf".
CONFIG_DIR = str(Path(__file__).resolve().parent.parent / "conf")


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="train")
def main(cfg: DictConfig) -> float | None:
    """Returns ``optimized_metric`` from the run's summary, which the Optuna sweeper maximises. With a ``launch``
    config (conf/launch/) the job trains in ``accelerate launch`` child processes instead, which never launch again."""
    from rlrewards.config import ConfigError
    from rlrewards.plan import check_run, format_plan
    from rlrewards.rundir import discard_unstarted_run

    parent = cfg.get("launch") is not None and not is_launched()
    try:
        # a launching job plans for launch.num_processes; its children validate with their own WORLD_SIZE
        plan = check_run(cfg, validate=not parent)
    except ConfigError:
        discard_unstarted_run(job_dir())
        raise
    if cfg.get("dry_run", False):
        print(format_plan(plan))
        print(json.dumps(plan), flush=True)
        discard_unstarted_run(job_dir())
        return None
    if parent:
        return train_in_child_processes(cfg)
    from rlrewards.pipeline import run

    return run(cfg)


def job_dir() -> Path | None:
    from hydra.core.hydra_config import HydraConfig

    return Path(HydraConfig.get().runtime.output_dir) if HydraConfig.initialized() else None


if __name__ == "__main__":
    main()
