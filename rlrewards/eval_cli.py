"""``rlrewards-eval``'s Hydra entry point, import-light: ``--help`` and Hydra's own errors (an unknown override, a
missing suite) answer before torch and transformers load; ``rlrewards.evaluate`` is imported only to evaluate."""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from rlrewards.train import CONFIG_DIR


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="eval")
def main(cfg: DictConfig) -> float | None:
    from rlrewards.evaluate import evaluate_run

    result = evaluate_run(cfg)
    if cfg.get("benchmarks"):
        return None
    return result.get("accuracy_greedy")


if __name__ == "__main__":
    main()
