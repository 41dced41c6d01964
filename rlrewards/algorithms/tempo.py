"""TEMPO (Prefix-to-Tree) token-level advantages on GRPO groups.

Paper: Tran, Yao, Yu, "Exploiting Tree Structure for Credit Assignment in RL Training of LLMs" (arXiv:2509.18314).
The completions of one prompt form an implicit token-level trie (merged exactly at identical token prefixes). With
``V(s)`` the mean reward of the group's completions passing through prefix ``s`` (each completion counted once,
duplicates included) and ``s_t`` the prefix before token ``t`` of completion ``i``:

    A[i, t] = (r_i - mean_G(r) + V(s_{t+1}) - V(s_t)) / (std_G(r) + eps)

with the unbiased group std (no division when ``scale_by_std=False``). The TD term ``V(s_{t+1}) - V(s_t)`` is
non-zero only at *branch tokens*, where another completion of the group leaves the prefix; elsewhere ``A`` is the
GRPO advantage. The TD terms of a completion telescope to ``r_i - mean``.

Official code (fatebreaker/tempo, ``core_algos.compute_tempo_outcome_advantage``) runs a Python loop over
completions x tokens x group members. Differences here, all deliberate:
- a completion leaves the prefix when its token is masked (padding), not when its pad id differs, so a completion
  that happens to emit the pad id never merges with a finished one;
- a group of one completion gives 0 (the official loop takes ``torch.std`` of one element: NaN);
- a row with no valid token is not in the tree: TRL's ``mask_truncated_completions`` zeroes the whole mask of a
  truncated completion, which would otherwise "leave" every other path at token 0 and make token 0 a spurious
  branch token of each of them, carrying ``mean(others) - mean(all)``. The masked row still counts in the group's
  mean and std (the GRPO part), as in TRL's own GRPO with that option; the TD terms then telescope to
  ``r_i - mean`` over the rows in the tree. (The official code compares pad ids and has no such masking.)

Implementation: the trie is never built. For completions ``i, k`` of a group let ``lcp[i, k]`` be their longest
common valid prefix (``lcp[i, i]`` = the completion's length). Completion ``k`` shares ``i``'s prefix through token
``t`` iff ``lcp[i, k] > t``, so ``V(s_{t+1})`` and ``V(s_t)`` are means over ``{k : lcp[i,k] > t}`` and
``{k : lcp[i,k] >= t}``, and the branch tokens of ``i`` are ``{lcp[i, k] : k != i, lcp[i, k] < len_i}``. The
pairwise LCPs are found chunk by chunk over the sequence, dropping pairs as soon as they differ, so the work is
proportional to the shared openings, not the full length; the rest is one masked broadcast over ``(N, T)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class TempoResult:
    advantages: torch.Tensor  # (N, T)
    td: torch.Tensor  # (N, T) the TD term V(s_{t+1}) - V(s_t), before any std scaling
    branch_mask: torch.Tensor  # (N, T) bool: token t of completion i is a branch token
    valid: torch.Tensor  # (N, T) bool
    centered: torch.Tensor  # (N,) r_i - mean of its group: the GRPO part, before any std scaling


def _valid_lengths(valid: torch.Tensor) -> torch.Tensor:
    """Index of the first invalid token of each row (the row's length when its mask is a prefix)."""
    invalid = ~valid
    first = invalid.to(torch.uint8).argmax(dim=-1)
    return torch.where(invalid.any(dim=-1), first, torch.full_like(first, valid.shape[-1]))


def pairwise_lcp(ids: torch.Tensor, valid: torch.Tensor, first_chunk: int = 64) -> torch.Tensor:
    """Longest common valid prefix of every pair of rows within each group.

    Args:
        ids: ``(P, G, T)`` token ids.
        valid: ``(P, G, T)`` bool mask.

    Returns:
        ``(P, G, G)`` int64, symmetric; the diagonal holds each row's valid length.
    """
    num_groups, group_size, seq_len = ids.shape
    lengths = _valid_lengths(valid)
    lcp = torch.diag_embed(lengths)
    if group_size < 2 or seq_len == 0:
        return lcp
    left, right = torch.triu_indices(group_size, group_size, offset=1, device=ids.device)
    num_pairs = left.numel()
    pair_lcp = torch.full((num_groups * num_pairs,), seq_len, dtype=torch.long, device=ids.device)
    alive = torch.arange(num_groups * num_pairs, device=ids.device)  # flat (group, pair) indices still equal
    start, chunk = 0, first_chunk
    while alive.numel() and start < seq_len:
        end = min(seq_len, start + chunk)
        group, pair = alive // num_pairs, alive % num_pairs
        a, b = left[pair], right[pair]
        differs = ids[group, a, start:end] != ids[group, b, start:end]
        differs |= ~(valid[group, a, start:end] & valid[group, b, start:end])
        found = differs.any(dim=-1)
        pair_lcp[alive[found]] = start + differs[found].to(torch.uint8).argmax(dim=-1)
        alive = alive[~found]
        start, chunk = end, chunk * 2  # long shared prefixes are rare: grow the window geometrically
    pair_lcp = pair_lcp.view(num_groups, num_pairs)
    lcp[:, left, right] = pair_lcp
    lcp[:, right, left] = pair_lcp
    return lcp


def tempo_decomposition(
    completion_ids: torch.Tensor,
    completion_mask: torch.Tensor,
    rewards: torch.Tensor,
    group_size: int,
    scale_by_std: bool = True,
    eps: float = 1e-6,
) -> TempoResult:
    """TEMPO advantages plus the TD term and branch positions they are built from (see the module docstring)."""
    if completion_ids.dim() != 2 or completion_mask.shape != completion_ids.shape:
        raise ValueError(
            f"completion_ids and completion_mask must both be (N, T); got {tuple(completion_ids.shape)} and "
            f"{tuple(completion_mask.shape)}"
        )
    num_rows, seq_len = completion_ids.shape
    if group_size < 1 or num_rows % group_size:
        raise ValueError(f"{num_rows} rows do not split into groups of group_size={group_size}")
    if rewards.shape != (num_rows,):
        raise ValueError(f"rewards must have shape ({num_rows},), got {tuple(rewards.shape)}")
    if not torch.isfinite(rewards).all():
        raise ValueError("rewards must be finite (map unscorable rows to a value before calling tempo)")
    out_dtype = rewards.dtype if rewards.is_floating_point() else torch.float32
    valid = completion_mask.bool() if completion_mask.dtype != torch.bool else completion_mask
    num_groups = num_rows // group_size
    r = rewards.to(torch.float64).view(num_groups, group_size)

    mean = r.mean(dim=1, keepdim=True)
    std = r.std(dim=1, keepdim=True) if group_size > 1 else torch.zeros_like(mean)
    lcp = pairwise_lcp(completion_ids.view(num_groups, group_size, seq_len), valid.view(num_groups, group_size, -1))
    lengths = torch.diagonal(lcp, dim1=1, dim2=2)  # (P, G)

    in_tree = lengths > 0  # (P, G): fully masked rows (truncated under mask_truncated_completions) are not paths
    member = in_tree.view(num_groups, 1, 1, group_size).to(torch.float64)

    # Candidate branch position t = lcp[i, j] for each other completion j that leaves i's path before i ends.
    t = lcp.unsqueeze(-1)  # (P, G_i, G_j, 1)
    through = lcp.unsqueeze(2)  # (P, G_i, 1, G_k): lcp[i, k]
    after = (through > t).to(torch.float64) * member  # k shares i's prefix through token t
    before = (through >= t).to(torch.float64) * member  # k shares i's prefix before token t
    reward_k = r.view(num_groups, 1, 1, group_size)
    v_next = (after * reward_k).sum(-1) / after.sum(-1).clamp(min=1.0)
    v_prev = (before * reward_k).sum(-1) / before.sum(-1).clamp(min=1.0)
    others = ~torch.eye(group_size, dtype=torch.bool, device=lcp.device)
    is_branch = others & (lcp < lengths.unsqueeze(-1)) & in_tree.unsqueeze(1)  # (P, G_i, G_j)

    td = torch.zeros(num_rows, seq_len, dtype=torch.float64, device=completion_ids.device)
    branch_mask = torch.zeros(num_rows, seq_len, dtype=torch.bool, device=completion_ids.device)
    group_idx, i_idx, j_idx = is_branch.nonzero(as_tuple=True)
    rows = group_idx * group_size + i_idx
    cols = lcp[group_idx, i_idx, j_idx]
    # Several j can branch off at the same token; they give the same value, so plain assignment is exact.
    td[rows, cols] = (v_next - v_prev)[group_idx, i_idx, j_idx]
    branch_mask[rows, cols] = True

    base = (r - mean).reshape(num_rows, 1)
    scale = (std + eps).repeat_interleave(group_size).unsqueeze(1) if scale_by_std else 1.0
    advantages = ((base + td) / scale).masked_fill(~valid, 0.0)
    if scale_by_std and group_size == 1:
        advantages.zero_()
    return TempoResult(advantages.to(out_dtype), td.to(out_dtype), branch_mask, valid, base.squeeze(1).to(out_dtype))


def tempo_advantages(
    completion_ids: torch.Tensor,
    completion_mask: torch.Tensor,
    rewards: torch.Tensor,
    group_size: int,
    scale_by_std: bool = True,
    eps: float = 1e-6,
) -> torch.Tensor:
    """TEMPO's per-token advantages ``(N, T)``.

    Args:
        completion_ids: ``(N, T)`` completion token ids (prompt excluded); rows are groups of ``group_size``
            consecutive completions of one prompt.
        completion_mask: ``(N, T)`` bool/int/float, non-zero on completion tokens.
        rewards: ``(N,)`` finite scalar rewards.
        group_size: completions per prompt.
        scale_by_std: divide by the group's unbiased reward std plus ``eps`` (official default); False gives the
            Dr. GRPO-style unscaled form.
        eps: added to the std.

    Returns:
        ``A[i, t] = (r_i - mean + V(s_{t+1}) - V(s_t)) / (std + eps)``, 0 at masked positions; 0 everywhere for a
        group of one completion or with equal rewards.
    """
    return tempo_decomposition(completion_ids, completion_mask, rewards, group_size, scale_by_std, eps).advantages


def tempo_statistics(result: TempoResult) -> dict[str, float]:
    """Per-step diagnostics: how much of the batch TEMPO actually touches.

    - ``branch_token_frac``: branch tokens / valid completion tokens;
    - ``mean_branch_depth``: mean 0-based position of the branch tokens (0 when there are none);
    - ``td_share``: ``sum |TD| / (sum |r - mean| + sum |TD|)`` over valid tokens, i.e. the TD term's share of the
      (unscaled) advantage mass;
    - ``td_share_at_branches``: the same share counted at branch tokens only, ``sum |TD| / (sum_branch |r - mean| +
      sum |TD|)``: how much TEMPO changes the advantage where it changes it at all;
    - ``branch_flip_frac``: the fraction of branch tokens whose advantage has the opposite sign to GRPO's
      (``(r - mean) * (r - mean + TD) < 0``), e.g. a good early pick in a completion that fails later.
    """
    valid_tokens = result.valid.sum().clamp(min=1)
    num_branch = result.branch_mask.sum()
    positions = torch.arange(result.valid.shape[1], device=result.valid.device).expand_as(result.valid)
    depth = (positions * result.branch_mask).sum() / num_branch.clamp(min=1)
    td_mass = result.td.abs().sum()
    sequence_mass = (result.centered.abs() * result.valid.sum(dim=1)).sum()
    total = td_mass + sequence_mass
    base = result.centered.unsqueeze(1).expand_as(result.td)[result.branch_mask]
    branch_total = td_mass + base.abs().sum()
    flips = (base * (base + result.td[result.branch_mask]) < 0).sum()
    return {
        "branch_token_frac": float(num_branch / valid_tokens),
        "mean_branch_depth": float(depth),
        "td_share": float(td_mass / total) if total > 0 else 0.0,
        "td_share_at_branches": float(td_mass / branch_total) if branch_total > 0 else 0.0,
        "branch_flip_frac": float(flips / num_branch.clamp(min=1)),
    }


def tempo_advantages_loop(
    completion_ids: torch.Tensor,
    completion_mask: torch.Tensor,
    rewards: torch.Tensor,
    group_size: int,
    scale_by_std: bool = True,
    eps: float = 1e-6,
) -> torch.Tensor:
    """Reference: the official per-token loop (same semantics as ``tempo_advantages``), for tests and benchmarks.

    For each completion, walk its tokens keeping the set of group members still on its path; stop refining once it
    is alone (the rest of its tokens keep the GRPO value). Rows with no valid token are not members of the tree.
    """
    ids = completion_ids.tolist()
    valid = completion_mask.bool().tolist()
    r = rewards.double().tolist()
    num_rows, seq_len = completion_ids.shape
    out = torch.zeros(num_rows, seq_len, dtype=torch.float64)
    for g0 in range(0, num_rows, group_size):
        members = list(range(g0, g0 + group_size))
        group_r = [r[k] for k in members]
        mean = sum(group_r) / group_size
        std = (sum((x - mean) ** 2 for x in group_r) / (group_size - 1)) ** 0.5 if group_size > 1 else 0.0
        scale = (std + eps) if scale_by_std else 1.0
        in_tree = [k for k in members if any(valid[k])]
        for i in members:
            previous = in_tree
            for t in range(seq_len):
                if not valid[i][t]:
                    break
                if len(previous) == 1:
                    for rest in range(t, seq_len):
                        if valid[i][rest]:
                            out[i, rest] = (r[i] - mean) / scale
                    break
                branch = [k for k in previous if valid[k][t] and ids[k][t] == ids[i][t]]
                v_next = sum(r[k] for k in branch) / len(branch)
                v_prev = sum(r[k] for k in previous) / len(previous)
                out[i, t] = (r[i] - mean + v_next - v_prev) / scale
                previous = branch
        if scale_by_std and group_size == 1:
            out[g0] = 0.0
    return out.to(rewards.dtype if rewards.is_floating_point() else torch.float32)
