"""``rlrewards-train`` (also ``python -m rlrewards.train``): the Hydra entry point."""

from __future__ import annotations

from pathlib import Path

import hydra
from omegaconf import DictConfig

from rlrewards.pipeline import run

# An absolute path: console scripts import this module by name, and Hydra would otherwise look for a package "conf".
CONFIG_DIR = str(Path(__file__).resolve().parent.parent / "conf")


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="train")
def main(cfg: DictConfig) -> float | None:
    """Returns ``optimized_metric`` from the run's summary, which the Optuna sweeper maximises."""
    return run(cfg)


if __name__ == "__main__":
    main()
