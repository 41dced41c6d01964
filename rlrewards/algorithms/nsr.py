"""Negative-sample reinforcement: PSR, NSR and W-REINFORCE advantages (Zhu et al., 2025, "The Surprising
Effectiveness of Negative Reinforcement in LLM Reasoning", arXiv:2506.01347).

With a binary verifiable reward, the RLVR objective splits into positive-sample reinforcement (raise the likelihood
of correct samples) and negative-sample reinforcement (lower that of incorrect ones). With no baseline:

    A_i = +w_pos   if r_i = 1 (correct)
    A_i = -w_neg   if r_i = 0 (incorrect)

PSR is (w_pos, w_neg) = (1, 0), NSR (0, 1), W-REINFORCE (lambda, 1) with lambda = 0.1 in the paper.

Official code (TianHongZXY/RLVR-Decomposed @ a5d4e7c, ``verl/trainer/ppo/core_algos.py``
``compute_psr_nsr_outcome_advantage`` and ``ray_trainer.py``): the advantage is the outcome return (1 or 0), minus 1
for NSR, times ``positive_advantage_weight`` on correct rows and minus 1 on incorrect rows for W-REINFORCE, broadcast
over the response tokens. PSR and NSR also *drop* the other rows from the batch before the update, so they never enter
the loss's token mean; W-REINFORCE keeps every row. ``trained_rows`` gives that selection. Correctness there is a
score of exactly 1 or 0; here a reward above 0.5 counts as correct, so a recipe's reward may be any 0/1-valued one.
"""

from __future__ import annotations

import torch

CORRECT_ABOVE = 0.5


def signed_advantages(rewards: torch.Tensor, positive_weight: float, negative_weight: float) -> torch.Tensor:
    """Per-completion advantages without a baseline.

    Args:
        rewards: ``(N,)`` scalar rewards; > 0.5 is correct, otherwise incorrect; NaN marks an unscored row.
        positive_weight: advantage of a correct completion (w_pos >= 0).
        negative_weight: magnitude of the (negative) advantage of an incorrect completion (w_neg >= 0).

    Returns:
        ``(N,)`` advantages: ``+positive_weight`` for correct rows, ``-negative_weight`` for incorrect ones, 0 for
        NaN rows.
    """
    if rewards.dim() != 1:
        raise ValueError(f"rewards must be 1-D, got shape {tuple(rewards.shape)}")
    if positive_weight < 0 or negative_weight < 0:
        raise ValueError(f"weights must be >= 0, got positive={positive_weight}, negative={negative_weight}")
    correct = rewards > CORRECT_ABOVE
    advantages = torch.where(correct, float(positive_weight), -float(negative_weight)).to(rewards.dtype)
    return torch.where(torch.isnan(rewards), torch.zeros_like(advantages), advantages)


def trained_rows(rewards: torch.Tensor, positive_weight: float, negative_weight: float) -> torch.Tensor:
    """``(N,)`` bool: the rows the official trainer keeps in the update. A side whose weight is 0 is dropped
    (PSR keeps only correct rows, NSR only incorrect ones); NaN rows are never trained."""
    correct = rewards > CORRECT_ABOVE
    keep = torch.where(correct, positive_weight > 0, negative_weight > 0)
    return keep & ~torch.isnan(rewards)
