"""Recipes ``psr``, ``nsr`` and ``w_reinforce``: signed, baseline-free advantages through the advantage hook
(``rlrewards.algorithms.nsr``; configs ``conf/recipe/{psr,nsr,w_reinforce}.yaml``).

Difference from the official trainer: it drops the rows whose side has weight 0 from the batch (PSR trains on correct
samples only, NSR on incorrect ones), so they leave the loss's token mean; here they stay in the batch with advantage
0, which scales each update by the fraction of tokens in kept rows. ``nsr/kept_frac`` logs that fraction.
"""

from __future__ import annotations

from rlrewards.algorithms.nsr import signed_advantages, trained_rows
from rlrewards.trainer.hooks import ADVANTAGE_ESTIMATORS, AdvantageEstimator, AdvantageOutput, RolloutBatch


@ADVANTAGE_ESTIMATORS.register("signed")
def signed_estimator(positive_weight: float = 1.0, negative_weight: float = 1.0) -> AdvantageEstimator:
    """+positive_weight for correct completions, -negative_weight for incorrect ones; logs ``nsr/correct_frac`` and
    ``nsr/kept_frac`` (completions the official trainer would keep)."""

    def estimate(batch: RolloutBatch) -> AdvantageOutput:
        rewards = batch.rewards.float()
        kept = trained_rows(rewards, positive_weight, negative_weight)
        metrics = {
            "nsr/correct_frac": float((rewards > 0.5).float().mean()),
            "nsr/kept_frac": float(kept.float().mean()),
        }
        return AdvantageOutput(signed_advantages(rewards, positive_weight, negative_weight), metrics)

    return estimate
