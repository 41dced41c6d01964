"""Recipes ``psr``, ``nsr`` and ``w_reinforce``: signed, baseline-free advantages through the advantage hook
(``rlrewards.algorithms.nsr``; configs ``conf/recipe/{psr,nsr,w_reinforce}.yaml``).

As the official trainer does, the rows whose side has weight 0 are dropped from the loss (PSR trains on correct
samples only, NSR on incorrect ones): the estimator returns them as ``AdvantageOutput.keep`` = False, so they leave the
loss's token mean (``loss_type: bnpo``) instead of diluting it. Rows without a reward (NaN) are dropped too, under
W-REINFORCE as well. ``nsr/kept_frac`` logs the fraction of rows kept.
"""

from __future__ import annotations

from rlrewards.algorithms.nsr import signed_advantages, trained_rows
from rlrewards.trainer.hooks import ADVANTAGE_ESTIMATORS, AdvantageEstimator, AdvantageOutput, RolloutBatch


@ADVANTAGE_ESTIMATORS.register("signed")
def signed_estimator(positive_weight: float = 1.0, negative_weight: float = 1.0) -> AdvantageEstimator:
    """+positive_weight for correct completions, -negative_weight for incorrect ones; the rows the official trainer
    drops leave the loss (``keep``); logs ``nsr/correct_frac`` and ``nsr/kept_frac``."""

    def estimate(batch: RolloutBatch) -> AdvantageOutput:
        rewards = batch.rewards.float()
        kept = trained_rows(rewards, positive_weight, negative_weight)
        metrics = {
            "nsr/correct_frac": float((rewards > 0.5).float().mean()),
            "nsr/kept_frac": float(kept.float().mean()),
        }
        return AdvantageOutput(signed_advantages(rewards, positive_weight, negative_weight), metrics, keep=kept)

    return estimate
