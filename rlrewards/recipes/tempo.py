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

from rlrewards.algorithms.tempo import tempo_decomposition, tempo_statistics
from rlrewards.trainer.hooks import (
    ADVANTAGE_ESTIMATORS,
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
