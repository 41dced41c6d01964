"""LaSeR: last-token self-rewarding (Yang et al., arXiv:2510.14943).

The policy scores its own solution with the log-probability of a reserved, never-used token ``z_c`` placed right
after the solution's EOS:

    r_s = beta_v * (log pi(z_c | x, y, EOS) - c_ref)            c_ref ~ E[log pi_ref(z_c | x, y)], a constant

trained towards the verifier reward r_v in {0, 1} with a class-balanced MSE (coefficient alpha added to the policy
loss), and optionally mixed into the GRPO advantage. Official code: RUCBM/LaSeR (verl fork); see
docs/papers/laser.md. Its self-rewarding *advantages* read a log-prob from a forward pass that never inserted
z_c (``old_log_probs``), so the mixing there may be a silent no-op; here the scores come from a pass that really
contains z_c.
"""

from __future__ import annotations

import torch


def self_reward_scores(logp_zc: torch.Tensor, c_ref: float, beta_v: float) -> torch.Tensor:
    """``beta_v * (logp_zc - c_ref)``: about 1 for a solution the model believes correct, 0 for a wrong one."""
    return beta_v * (logp_zc - c_ref)


def class_weights(verifier_rewards: torch.Tensor, finished: torch.Tensor, balanced: bool = True) -> torch.Tensor:
    """Per-row weight ``w / (N_c + N_i)`` of the balanced MSE; 0 for unfinished rows.

    ``w = (N_c + N_i) / (2 N_c)`` for correct and ``(N_c + N_i) / (2 N_i)`` for incorrect rows (1 when not balanced),
    counts over finished rows; a class with no rows gets weight 0, as in the official code.
    """
    finished = finished.bool()
    correct = (verifier_rewards > 0.5) & finished
    incorrect = ~(verifier_rewards > 0.5) & finished
    n_correct, n_incorrect = correct.sum().item(), incorrect.sum().item()
    total = n_correct + n_incorrect
    weights = torch.zeros_like(verifier_rewards, dtype=torch.float32)
    if total == 0:
        return weights
    if balanced:
        if n_correct:
            weights[correct] = 1.0 / (2 * n_correct)
        if n_incorrect:
            weights[incorrect] = 1.0 / (2 * n_incorrect)
    else:
        weights[correct | incorrect] = 1.0 / total
    return weights


def self_reward_loss(
    scores: torch.Tensor, verifier_rewards: torch.Tensor, finished: torch.Tensor, balanced: bool = True
) -> torch.Tensor:
    """``1/(N_c + N_i) * sum_finished w * (score - r_v)^2`` (scalar); 0 when nothing finished.

    ``w = (N_c+N_i)/(2 N_c)`` for correct, ``(N_c+N_i)/(2 N_i)`` for incorrect completions, 1 when not balanced.
    """
    weights = class_weights(verifier_rewards, finished, balanced).to(scores.dtype)
    squared = (scores - verifier_rewards.to(scores.dtype)) ** 2
    return (weights * torch.where(weights > 0, squared, torch.zeros_like(squared))).sum()


def mixed_advantages(
    verifier_advantages: torch.Tensor,
    scores: torch.Tensor,
    finished: torch.Tensor,
    group_size: int,
    tau: float = 0.1,
    std_threshold: float = 0.1,
) -> torch.Tensor:
    """Mix the self-reward into the verifier advantage, per group of ``group_size`` consecutive rows.

    ``s = clamp(score, 0, 1)`` (0 for unfinished rows); where the group's unbiased std of ``s`` exceeds
    ``std_threshold``: ``A = (1 - tau) * A_v + tau * (s - mean) / std``; elsewhere ``A = A_v``.
    """
    if verifier_advantages.shape != scores.shape or scores.dim() != 1 or scores.numel() % group_size:
        raise ValueError(
            f"need 1-D advantages and scores of equal length divisible by group_size={group_size}; got "
            f"{tuple(verifier_advantages.shape)} and {tuple(scores.shape)}"
        )
    s = torch.where(
        finished.bool(), scores.detach().float().clamp(0.0, 1.0), torch.zeros_like(scores, dtype=torch.float)
    )
    grouped = s.view(-1, group_size)
    mean = grouped.mean(dim=1, keepdim=True)
    std = grouped.std(dim=1, keepdim=True) if group_size > 1 else torch.zeros_like(mean)
    informative = std > std_threshold
    self_advantages = torch.where(
        informative, (grouped - mean) / torch.where(informative, std, torch.ones_like(std)), 0.0
    )
    mixed = (1 - tau) * verifier_advantages.view(-1, group_size).float() + tau * self_advantages
    result = torch.where(informative, mixed, verifier_advantages.view(-1, group_size).float())
    return result.view(-1).to(verifier_advantages.dtype)
