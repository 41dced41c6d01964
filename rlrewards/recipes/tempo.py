"""Recipe ``tempo``: TEMPO's prefix-tree advantages through the trainer's advantage hook.

The estimator runs on the generation batch gathered over all processes (a prompt's group can span processes),
so the tree of each group is complete whatever the process count. Rows no reward function could score get reward
0, as TRL's own weighted ``nansum`` does. The trainer logs these advantages (a row's token mean) in place of TRL's
GRPO ones. Completions that TRL's ``mask_truncated_completions`` masks out are not in the prefix tree
(``rlrewards.algorithms.tempo``). Config: ``conf/recipe/tempo.yaml``; the HEPO baseline is plain GRPO with
TRL's ``top_entropy_quantile`` (``conf/recipe/hepo.yaml``).
"""

from __future__ import annotations

import torch
from omegaconf import DictConfig

from rlrewards.algorithms.tempo import tempo_decomposition, tempo_statistics
from rlrewards.config import ConfigError
from rlrewards.trainer.hooks import (
    ADVANTAGE_ESTIMATORS,
    CONFIG_CHECKS,
    AdvantageEstimator,
    AdvantageOutput,
    RolloutBatch,
)


@ADVANTAGE_ESTIMATORS.register("tempo")
def tempo_estimator(scale_by_std: bool = True, eps: float = 1e-6) -> AdvantageEstimator:
    """Per-token TEMPO advantages; logs ``tempo/branch_token_frac``, ``tempo/mean_branch_depth``, ``tempo/td_share``."""

    def estimate(batch: RolloutBatch) -> AdvantageOutput:
        rewards = torch.nan_to_num(batch.rewards.float(), nan=0.0)
        result = tempo_decomposition(
            batch.completion_ids, batch.completion_mask, rewards, batch.group_size, scale_by_std=scale_by_std, eps=eps
        )
        metrics = {f"tempo/{name}": value for name, value in tempo_statistics(result).items()}
        return AdvantageOutput(result.advantages, metrics)

    return estimate


# TRL's scale_rewards values and the scale_by_std each one means; "batch" (the batch std) has no TEMPO counterpart.
_SCALE_BY_STD = {"group": True, True: True, "none": False, False: False}


@CONFIG_CHECKS.register("tempo_scale_rewards")
def check_tempo_scale_rewards(cfg: DictConfig) -> None:
    """The TEMPO estimator replaces TRL's advantages, so ``trainer.scale_rewards`` would be ignored: refuse it unless
    it says what ``recipe.advantage.kwargs.scale_by_std`` (the one knob TEMPO reads) says. Not mapped onto it, so
    one setting never silently overrides the other."""
    advantage = cfg.recipe.get("advantage") or {}
    scale_rewards = cfg.trainer.get("scale_rewards")
    if advantage.get("name") != "tempo" or scale_rewards is None:
        return
    scale_by_std = bool((advantage.get("kwargs") or {}).get("scale_by_std", True))
    if _SCALE_BY_STD.get(scale_rewards) != scale_by_std:
        raise ConfigError(
            f"trainer.scale_rewards={scale_rewards!r} is ignored by the tempo estimator, which scales by the group "
            f"std iff recipe.advantage.kwargs.scale_by_std (= {scale_by_std}); set that instead and drop "
            "trainer.scale_rewards"
        )
