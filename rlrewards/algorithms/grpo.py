"""GRPO's group-relative advantage, as TRL 1.16 computes it.

For a prompt with G completions and scalar rewards r_1..r_G (DeepSeekMath, Eq. 3 of the GRPO section):

    A_i = (r_i - mean(r)) / (std(r) + eps)

TRL's semantics, which we match exactly so that estimators built on top (LaSeR's mixing) start from the same
numbers as the stock trainer: ``std`` is the unbiased (n-1) standard deviation, ``eps = 1e-4``, NaN rewards (rows no
reward function scored) are left out of the group statistics and get advantage 0, ``scale="none"`` skips the
division (Dr. GRPO), and ``scale="batch"`` divides by the std of the whole batch instead of the group's.
"""

from __future__ import annotations

import torch

TRL_EPS = 1e-4


def _nanstd(x: torch.Tensor, dim: int | None = None) -> torch.Tensor:
    """Unbiased std ignoring NaNs; NaN where fewer than two values are present (as TRL's ``nanstd``)."""
    mean = torch.nanmean(x, dim=dim, keepdim=True)
    variance = torch.nanmean((x - mean) ** 2, dim=dim, keepdim=True)
    count = (~torch.isnan(x)).sum(dim=dim, keepdim=True)
    correction = torch.where(count > 1, count / (count - 1), torch.full_like(variance, float("nan")))
    std = torch.sqrt(variance * correction)
    return std.squeeze(dim) if dim is not None else std.reshape(())


def group_advantages(
    rewards: torch.Tensor, group_size: int, scale: str = "group", eps: float = TRL_EPS
) -> torch.Tensor:
    """Per-completion GRPO advantages for rows grouped as ``group_size`` consecutive completions per prompt.

    Args:
        rewards: ``(N,)`` scalar rewards, N divisible by ``group_size``; NaN marks unscorable rows.
        group_size: completions per prompt (G).
        scale: ``"group"`` (divide by the group std), ``"batch"`` (by the batch std) or ``"none"``.
        eps: added to the std before dividing.

    Returns:
        ``(N,)`` advantages, 0 for NaN rows.
    """
    if rewards.dim() != 1 or rewards.numel() % group_size:
        raise ValueError(
            f"rewards must be 1-D with a length divisible by group_size={group_size}, got {tuple(rewards.shape)}"
        )
    grouped = rewards.view(-1, group_size)
    mean = torch.nanmean(grouped, dim=1).repeat_interleave(group_size)
    advantages = rewards - mean
    if scale == "group":
        std = _nanstd(grouped, dim=1).repeat_interleave(group_size) if group_size > 1 else torch.zeros_like(rewards)
        advantages = advantages / (std + eps)
    elif scale == "batch":
        std = _nanstd(rewards) if rewards.numel() > 1 else torch.zeros(())
        advantages = advantages / (std + eps)
    elif scale != "none":
        raise ValueError(f"Unknown scale '{scale}'. Known: group, batch, none")
    return torch.nan_to_num(advantages, nan=0.0)
