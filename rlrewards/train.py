"""``rlrewards-train`` (also ``python -m rlrewards.train``): the Hydra entry point."""

from __future__ import annotations

from pathlib import Path

import hydra
from omegaconf import DictConfig

from rlrewards.launch import is_launched, train_in_child_processes
from rlrewards.pipeline import run

# An absolute path: console scripts import this module by name, and Hydra would otherwise look for a package "conf".
CONFIG_DIR = str(Path(__file__).resolve().parent.parent / "conf")


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="train")
def main(cfg: DictConfig) -> float | None:
    """Returns ``optimized_metric`` from the run's summary, which the Optuna sweeper maximises. With a ``launch``
    config (conf/launch/) the job trains in ``accelerate launch`` child processes instead, which never launch again."""
    if cfg.get("launch") is not None and not is_launched():
        return train_in_child_processes(cfg)
    return run(cfg)


if __name__ == "__main__":
    main()
