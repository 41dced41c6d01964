"""PURE: min-form credit assignment for process rewards (Cheng et al., "Stop Summation", arXiv:2504.15275).

A process reward model scores each reasoning step, r_1..r_n. Sum-form credit (the usual return) lets a policy
farm reward by adding steps the PRM likes; PURE optimises the worst step instead, through a softmin weighting:

    r*_k = softmax_k(-r / T) * r_k          (T -> 0: r*_w = min_k r_k at the worst step w, 0 elsewhere)

so that the gamma = 1 return of r* is (about) the min-form value. Advantages follow the official OpenRLHF code
(``experience_maker.py::process_experiences``, which produced the headline numbers), not the veRL branch that users
report as collapsing:

- r*_k is placed on the last token of step k; step k's token baseline ``b_i * n_ik`` is subtracted there, with
  ``b_i = sum_{j != i} R_j / sum_{j != i} L_j`` the other completions' reward per token (R = sum_k r*, L = length)
  and ``n_ik`` step k's token count without its end token;
- optional verifiable reward ``v_i = solved_i - 1`` (0 for prompts without ground truth) with a leave-one-out
  baseline, added at the last token;
- optional per-token KL penalty in the reward, ``- beta * (log pi_old - log pi_ref)`` on every completion token (k1,
  OpenRLHF ``compute_reward`` with ``init_kl_coef`` 1e-3; not a loss term);
- return-to-go with gamma = 1; zero advantage on step-end tokens (separators and the last token), a toggle;
- whitening over the batch: mean over the non-zero entries, variance summing the squared deviations of every
  completion token (the official quirk keeps the zeroed tokens in that sum) over the non-zero count; entries that
  were zero stay zero.

With the KL penalty on, nearly every token's return is non-zero, so whitening then covers (almost) all tokens, as in
the official runs.

The loss is TRL's PPO-clip loss on these advantages. OpenRLHF's ``PolicyLoss`` takes each sequence's token mean
(step-end tokens count, with advantage 0), then the mean over sequences: TRL's ``loss_type: grpo``, which the paper
experiments set (the CPU demo keeps ``bnpo``, see ``conf/recipe/pure.yaml``). Not reproduced: OpenRLHF skips an
update whose mean ratio exceeds 10; with one optimizer step per generation batch (the paper's setting) the ratio is 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


def min_form_rewards(step_rewards: torch.Tensor, step_mask: torch.Tensor, temperature: float) -> torch.Tensor:
    """``r*_k = softmax_k(-r / T) * r_k`` over each row's valid steps; 0 at invalid steps (and for empty rows).

    Softmax subtracts the row maximum, so it stays finite for T down to 1e-3, where each row sums to its minimum.
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    mask = step_mask.bool()
    rewards = step_rewards.masked_fill(~mask, 0.0)
    logits = (-rewards / temperature).masked_fill(~mask, float("-inf"))
    weights = torch.softmax(logits, dim=-1)
    weights = torch.nan_to_num(weights, nan=0.0)  # rows with no valid step
    return weights * rewards


@dataclass(frozen=True)
class StepSeparators:
    """Token ids that end a step: those whose text ends with a blank line, and (for tokenizers that split it,
    e.g. character-level ones) a lone newline right after a token whose text ends with a newline."""

    blank_line: tuple[int, ...]  # decoded text ends with "\n\n" (".\n\n", ":\n\n", ...)
    newline: tuple[int, ...]  # decoded text is exactly "\n"
    ends_with_newline: tuple[int, ...]  # decoded text ends with "\n"


def separator_token_ids(tokenizer) -> StepSeparators:
    """Scan the whole vocabulary once (every id, not one separator id)."""
    blank, newline, trailing = [], [], []
    for token_id in range(len(tokenizer)):
        try:
            text = tokenizer.decode([token_id])
        except Exception:  # noqa: BLE001 - some ids do not decode on their own
            continue
        if text.endswith("\n\n"):
            blank.append(token_id)
        if text == "\n":
            newline.append(token_id)
        if text.endswith("\n"):
            trailing.append(token_id)
    return StepSeparators(tuple(blank), tuple(newline), tuple(trailing))


def _isin(ids: torch.Tensor, values: tuple[int, ...]) -> torch.Tensor:
    return torch.isin(ids, torch.tensor(values, dtype=ids.dtype, device=ids.device))


@dataclass
class StepLayout:
    ends: torch.Tensor  # (N, S) long: position of each step's last token, -1 past the row's steps
    mask: torch.Tensor  # (N, S) bool
    token_counts: torch.Tensor  # (N, S) long: tokens of the step without its end token
    lengths: torch.Tensor  # (N,) completion lengths


def split_steps(completion_ids: torch.Tensor, completion_mask: torch.Tensor, separators: StepSeparators) -> StepLayout:
    """Steps end where the text so far ends with a blank line; the last step ends at the last completion token
    (EOS or truncation)."""
    valid = completion_mask.bool()
    lengths = valid.sum(dim=1)
    previous = torch.cat([torch.full_like(completion_ids[:, :1], -1), completion_ids[:, :-1]], dim=1)
    split_newline = _isin(completion_ids, separators.newline) & _isin(previous, separators.ends_with_newline)
    is_end = (_isin(completion_ids, separators.blank_line) | split_newline) & valid
    rows = torch.arange(completion_ids.shape[0], device=completion_ids.device)
    has_tokens = lengths > 0
    is_end[rows[has_tokens], lengths[has_tokens] - 1] = True
    num_steps = is_end.sum(dim=1)
    width = max(int(num_steps.max()) if num_steps.numel() else 0, 1)
    ends = torch.full((completion_ids.shape[0], width), -1, dtype=torch.long, device=completion_ids.device)
    row_idx, col_idx = is_end.nonzero(as_tuple=True)
    step_idx = torch.cumsum(is_end.long(), dim=1)[row_idx, col_idx] - 1
    ends[row_idx, step_idx] = col_idx
    mask = ends >= 0
    previous = torch.cat([torch.full_like(ends[:, :1], -1), ends[:, :-1]], dim=1)
    token_counts = torch.where(mask, ends - previous - 1, torch.zeros_like(ends))
    return StepLayout(ends, mask, token_counts, lengths)


def _leave_one_out_sum(values: torch.Tensor, group_size: int) -> torch.Tensor:
    grouped = values.view(-1, group_size)
    return (grouped.sum(dim=1, keepdim=True) - grouped).view(-1)


def pure_advantages(
    step_rewards: torch.Tensor,
    layout: StepLayout,
    completion_mask: torch.Tensor,
    group_size: int,
    credit: str = "min",
    temperature: float = 0.1,
    verifiable: torch.Tensor | None = None,
    verifiable_coef: float = 1.0,
    mask_step_ends: bool = True,
    whiten: bool = True,
    kl: torch.Tensor | None = None,
    kl_coef: float = 0.0,
) -> torch.Tensor:
    """Token-level PURE advantages ``(N, T)`` (OpenRLHF semantics, see the module docstring).

    Args:
        step_rewards: ``(N, S)`` raw PRM step rewards aligned with ``layout``.
        credit: ``"min"`` (softmin transform at ``temperature``) or ``"sum"`` (raw step rewards: the ablation).
        verifiable: ``(N,)`` 1/0 solved flags, NaN for completions whose prompt carries no ground truth; None: off.
        kl: ``(N, T)`` per-token ``log pi_old - log pi_ref`` of the sampled tokens; ``kl_coef * kl`` is subtracted
            from each completion token's reward. None (or ``kl_coef`` 0): off.
    """
    if credit not in ("min", "sum"):
        raise ValueError(f"credit must be 'min' or 'sum', got {credit!r}")
    num_rows, seq_len = completion_mask.shape
    if num_rows % group_size:
        raise ValueError(f"{num_rows} rows do not split into groups of group_size={group_size}")
    valid = completion_mask.bool()
    mask = layout.mask
    rewards = step_rewards.float().masked_fill(~mask, 0.0)
    transformed = min_form_rewards(rewards, mask, temperature) if credit == "min" else rewards
    totals = transformed.sum(dim=1)
    lengths = layout.lengths.float()
    other_tokens = _leave_one_out_sum(lengths, group_size)
    baseline = torch.where(other_tokens > 0, _leave_one_out_sum(totals, group_size) / other_tokens.clamp(min=1.0), 0.0)

    token_rewards = torch.zeros(num_rows, seq_len, dtype=torch.float32, device=completion_mask.device)
    step_values = transformed - baseline.unsqueeze(1) * layout.token_counts.float()
    rows, steps = mask.nonzero(as_tuple=True)
    token_rewards[rows, layout.ends[rows, steps]] += step_values[rows, steps]

    if verifiable is not None:
        has_truth = ~torch.isnan(verifiable)
        v = torch.where(has_truth, verifiable.float() - 1.0, torch.zeros_like(verifiable, dtype=torch.float32))
        others = max(group_size - 1, 1)
        v_tilde = v - _leave_one_out_sum(v, group_size) / others if group_size > 1 else v
        last = (layout.lengths - 1).clamp(min=0)
        has_tokens = layout.lengths > 0
        token_rewards[torch.arange(num_rows)[has_tokens], last[has_tokens]] += verifiable_coef * v_tilde[has_tokens]

    if kl is not None and kl_coef != 0.0:
        token_rewards = token_rewards - kl_coef * torch.nan_to_num(kl.float(), nan=0.0) * valid
    returns = token_rewards.masked_fill(~valid, 0.0).flip(1).cumsum(1).flip(1).masked_fill(~valid, 0.0)
    if mask_step_ends:
        returns[rows, layout.ends[rows, steps]] = 0.0
    if not whiten:
        return returns
    nonzero = returns != 0
    count = nonzero.sum()
    if count == 0:
        return returns
    mean = returns.sum() / count
    variance = (((returns - mean) ** 2) * valid).sum() / count
    whitened = (returns - mean) * torch.rsqrt(variance.clamp(min=1e-8))
    return torch.where(nonzero, whitened, torch.zeros_like(whitened))
