"""RLPR: the probability reward, its debiasing and the std filter (Yu et al., 2025, "RLPR: Extrapolating RLVR to
General Domains without Verifiers", arXiv:2506.18254).

A completion o = z || y is split into its reasoning z and its answer y; the answer is replaced by the reference y*
(o' = z || y*) and the policy scores the reference tokens after the reasoning:

    r     = 1/|y*| * sum_i pi_theta(y*_i | x, z, y*_<i)          (mean of per-token probabilities)
    r_0   = the same mean with z removed (the prompt followed directly by y*)
    r_hat = clip(r - r_0, 0, 1)                                     (debiased probability reward)

Prompts whose group of rewards has a small standard deviation carry no signal and are dropped: a prompt is kept when
std(group) >= beta * EMA(mean std), the EMA being over training steps.

Official code (OpenBMB/RLPR @ 8490fca, a fork of verl), read for these facts:

- ``verl/workers/reward_manager/prob.py`` ``compute_scoreB`` (l.299-325): r ("scoreB") is ``mean(exp(logp))`` over
  the tokens of ``ground_truth_mask`` (``compute_score_name=mean_exp_log_softmax`` in every reproduce script), in
  float32, then rounded through bfloat16; 0 when the mask is empty. ``__call__`` (l.254-266): ``delta = scoreB -
  scoreA``, then the shaping ``threshold_0`` (l.174-176) sets negative values to 0 (there is no upper clip; r <= 1 and
  r_0 >= 0 make it redundant), then ``score = 0.9 * delta + 0.1 * format`` (``format_coefficient`` 0.1,
  ``main_ppo.py`` l.138; -1 means ``delta if format else -1``). ``format_reward`` (l.130-151): each of ``<think>``,
  ``</think>``, ``<answer>``, ``</answer>`` exactly once and the text matching
  ``<think>.*</think>.*<answer>.*</answer>.*`` (mode ``R1``; ``R1_nothink`` only the answer tags).
- ``verl/trainer/ppo/ray_trainer.py`` ``replace_answer_with_gt_batch`` (l.2353-2560): the scoring text is the
  generated text up to the last ``</think>``, the text between ``</think>`` and ``<answer>``, ``<answer>``, the
  generated answer's leading whitespace (one space if none), y*, one space, ``</answer>``, EOS. A completion without
  exactly one ``<think>``/``</think>``/``<answer>`` (its blank-answer check never fires: EOS is appended first), or
  whose spliced text is longer than prompt + response lengths, gets an all-zero mask, hence r = 0. The mask covers
  every token overlapping the characters of y* (``batch_locate_substring_tokens``, last occurrence before
  ``</answer>`` + EOS).
- ``get_scoreA`` / ``compute_promptgt2scoreA`` (l.2248-2349, l.2945-3010): r_0 ("scoreA") is scored on
  ``prompt + ' ' + y* + ' ' + EOS`` once, with the *initial* policy before training, and cached per (prompt, y*).
- Repetition penalty (``reward_score/repetition.py``; ray_trainer l.1929-1940): -1 is added to the reward when some
  10-word window occurs 10 times, but only where the reward is non-zero.
- Std filter (ray_trainer l.1552-1590, 1725-1777, 1388-1459, 2108-2119; ``core_algos.py`` l.112-167): the filtered
  value is the group's unbiased std of the final reward (after the repetition penalty), as GRPO computes it (1.0 for a
  group of one). Steps are 1-based. From ``filter_ema_start_step`` (6) to ``filter_start_step - 1`` (10) the mean
  group std of each step's training batch is recorded; at ``filter_start_step`` (11) the EMA starts as the mean of
  those step means, and at each later step it folds in the previous step's mean with ``filter_ema_ratio`` 0.99
  (non-finite means skipped). The lower bound is ``std_filter_beta * EMA``; before step 11 it is 0 and nothing is
  filtered. A prompt is kept when its std is finite and lower <= std <= upper (``accuracy_upper_bound`` 1e6). From
  step 11 the recorded std covers every generated group, kept or not. ``std_filter_beta_per_data_source`` multiplies
  a prompt's std by a per-source factor before the comparison (not the recorded one).

Where these functions differ from the official code: empty masks give 0 for r_0 too (the official r_0 is NaN and the
comment says it errors); NaN inputs give 0 instead of propagating; the EMA without any warm-up means stays unset
(lower bound 0) where the official code divides by zero. Everything is explicit input/output; no state is hidden.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

import torch

AGGREGATIONS = ("mean_prob", "geometric_mean", "sequence_prob", "mean_logp")
FORMAT_TAGS = {"R1": ("<think>", "</think>", "<answer>", "</answer>"), "R1_nothink": ("<answer>", "</answer>")}
FORMAT_PATTERNS = {
    "R1": re.compile(r"<think>.*</think>.*<answer>.*</answer>.*", re.DOTALL),
    "R1_nothink": re.compile(r".*<answer>.*</answer>.*", re.DOTALL),
}
WHITESPACE = " \n\t\r"


def probability_reward(
    answer_logps: torch.Tensor, answer_mask: torch.Tensor, aggregation: str = "mean_prob", bf16_round: bool = False
) -> torch.Tensor:
    """Score of the reference answer's tokens, one per row.

    Args:
        answer_logps: ``(N, T)`` log pi(token | everything before it) of the scored sequence's tokens (the policy's
            log-probs after prompt + reasoning, or after the prompt alone for r_0). Masked-out entries may hold
            anything, -inf and NaN included.
        answer_mask: ``(N, T)`` bool or 0/1, True on the reference answer's tokens.
        aggregation: ``"mean_prob"`` (the paper's and the official default: mean of exp(logp)),
            ``"geometric_mean"`` (exp of the mean logp), ``"sequence_prob"`` (exp of the sum) or ``"mean_logp"``.
        bf16_round: round the result through bfloat16, as the official r ("scoreB") is.

    Returns:
        ``(N,)`` float32; 0 for a row whose mask is empty (the official r for an unparseable completion).
    """
    if answer_logps.dim() != 2 or answer_logps.shape != answer_mask.shape:
        raise ValueError(
            f"answer_logps and answer_mask must both be (N, T), got {tuple(answer_logps.shape)} and "
            f"{tuple(answer_mask.shape)}"
        )
    if aggregation not in AGGREGATIONS:
        raise ValueError(f"Unknown aggregation '{aggregation}'. Known: {', '.join(AGGREGATIONS)}")
    mask = answer_mask.bool()
    logps = torch.where(mask, answer_logps.float(), torch.zeros((), dtype=torch.float32, device=answer_logps.device))
    count = mask.sum(dim=1)
    safe_count = count.clamp(min=1).float()
    if aggregation == "mean_prob":
        score = torch.where(mask, logps.exp(), torch.zeros_like(logps)).sum(dim=1) / safe_count
    elif aggregation == "geometric_mean":
        score = (logps.sum(dim=1) / safe_count).exp()
    elif aggregation == "sequence_prob":
        score = logps.sum(dim=1).exp()
    else:
        score = logps.sum(dim=1) / safe_count
    score = torch.where(count > 0, score, torch.zeros_like(score))
    score = torch.nan_to_num(score, nan=0.0)
    return score.to(torch.bfloat16).float() if bf16_round else score


def debiased_reward(
    with_reasoning: torch.Tensor, without_reasoning: torch.Tensor | float, low: float = 0.0, high: float = 1.0
) -> torch.Tensor:
    """r_hat = clip(r - r_0, low, high).

    Args:
        with_reasoning: ``(N,)`` r, the reference answer's score after the completion's reasoning.
        without_reasoning: ``(N,)`` or a scalar, r_0, its score after the prompt alone (the official code takes it
            once from the initial policy; pass 0 for no debiasing).
        low, high: the clip; the official ``threshold_0`` shaping is (0, +inf), the same for probabilities.

    Returns:
        ``(N,)``; NaN differences give 0.
    """
    if with_reasoning.dim() != 1:
        raise ValueError(f"with_reasoning must be 1-D (N,), got {tuple(with_reasoning.shape)}")
    base = torch.as_tensor(without_reasoning, dtype=with_reasoning.dtype, device=with_reasoning.device)
    if base.dim() > 1 or (base.dim() == 1 and base.shape != with_reasoning.shape):
        raise ValueError(
            f"without_reasoning must be a scalar or shaped like with_reasoning {tuple(with_reasoning.shape)}, "
            f"got {tuple(base.shape)}"
        )
    return torch.nan_to_num((with_reasoning - base).clamp(low, high), nan=0.0)


def combined_reward(
    probability: torch.Tensor,
    format_ok: torch.Tensor,
    format_coefficient: float = 0.1,
    repetitive: torch.Tensor | None = None,
) -> torch.Tensor:
    """The official final reward: ``(1 - c) * r_hat + c * format`` (c = 0.1), or ``r_hat if format else -1`` for
    c = -1; then -1 for a repetitive completion whose reward is not 0.

    Args:
        probability: ``(N,)`` the debiased reward r_hat.
        format_ok: ``(N,)`` bool or 0/1, ``format_reward`` of each completion.
        format_coefficient: c.
        repetitive: ``(N,)`` bool, ``is_repetitive`` of each completion, or None for no penalty.

    Returns:
        ``(N,)``.
    """
    if probability.dim() != 1 or format_ok.shape != probability.shape:
        raise ValueError(
            f"probability and format_ok must both be (N,), got {tuple(probability.shape)} and {tuple(format_ok.shape)}"
        )
    fmt = format_ok.to(probability.dtype)
    if format_coefficient == -1:
        reward = torch.where(fmt > 0, probability, torch.full_like(probability, -1.0))
    else:
        reward = (1 - format_coefficient) * probability + format_coefficient * fmt
    if repetitive is not None:
        if repetitive.shape != probability.shape:
            raise ValueError(f"repetitive must be (N,) like probability, got {tuple(repetitive.shape)}")
        reward = torch.where(repetitive.bool() & (reward != 0), reward - 1.0, reward)
    return reward


def group_std(rewards: torch.Tensor, group_size: int) -> torch.Tensor:
    """``(P,)`` unbiased std of each prompt's ``group_size`` consecutive rewards (``(N,)``, N = P * group_size), as
    the official GRPO computes it: 1.0 for a group of one; NaN if a reward is NaN (such a prompt is never kept)."""
    if group_size < 1 or rewards.dim() != 1 or rewards.numel() % group_size:
        raise ValueError(
            f"rewards must be 1-D with a length divisible by group_size={group_size}, got {tuple(rewards.shape)}"
        )
    grouped = rewards.float().view(-1, group_size)
    if group_size == 1:
        return torch.where(torch.isnan(grouped[:, 0]), grouped[:, 0], torch.ones_like(grouped[:, 0]))
    return grouped.std(dim=1)


def std_filter(
    rewards: torch.Tensor,
    group_size: int,
    lower: float,
    upper: float = math.inf,
    source_scale: torch.Tensor | None = None,
) -> torch.Tensor:
    """Which prompts to keep: ``(P,)`` bool, True where ``lower <= scale * std <= upper`` and the std is finite.

    Args:
        rewards: ``(N,)`` final rewards, ``group_size`` consecutive rows per prompt.
        group_size: completions per prompt.
        lower: the bound, ``beta * EMA`` from ``begin_step`` (0 keeps every finite group, zero-std ones included).
        upper: the official ``accuracy_upper_bound`` (1e6 in the scripts).
        source_scale: ``(P,)`` optional per-prompt factor (``std_filter_beta_per_data_source``).
    """
    std = group_std(rewards, group_size)
    if source_scale is not None:
        if source_scale.shape != std.shape:
            raise ValueError(f"source_scale must be (P,)={tuple(std.shape)}, got {tuple(source_scale.shape)}")
        std = std * source_scale.to(std.dtype)
    return torch.isfinite(std) & (std >= lower) & (std <= upper)


def mean_group_std(stds: torch.Tensor) -> float | None:
    """The step's recorded value: the mean of the finite group stds (``(P,)``); None when there is none."""
    finite = stds[torch.isfinite(stds)]
    return float(finite.mean()) if finite.numel() else None


@dataclass(frozen=True)
class StdFilterState:
    """The EMA and the warm-up step means it starts from; pass it from one ``begin_step`` to the next."""

    ema: float | None = None
    warmup: tuple[float, ...] = ()


def ema_update(ema: float, value: float | None, ratio: float = 0.99) -> float:
    """``ratio * ema + (1 - ratio) * value``; a missing or non-finite value leaves the EMA as it is."""
    if value is None or not math.isfinite(value):
        return ema
    return ratio * ema + (1 - ratio) * value


def begin_step(
    state: StdFilterState,
    step: int,
    previous_mean: float | None,
    ema_start_step: int = 6,
    filter_start_step: int = 11,
    ema_ratio: float = 0.99,
    beta: float = 0.5,
) -> tuple[StdFilterState, float]:
    """Advance the filter's state at the start of ``step`` (1-based) and return ``(state, lower_bound)``.

    Args:
        state: from the previous call (``StdFilterState()`` at step 1).
        step: the step about to run.
        previous_mean: ``mean_group_std`` recorded during step - 1 (None if nothing was recorded). Steps before
            ``ema_start_step`` are ignored; until ``filter_start_step`` they are warm-up means, afterwards EMA inputs.
        ema_start_step, filter_start_step, ema_ratio, beta: the official ``filter_ema_start_step`` (6),
            ``filter_start_step`` (11), ``filter_ema_ratio`` (0.99), ``std_filter_beta`` (0.5 Qwen, 0.9 Llama, 1.0
            Gemma).

    Returns:
        The new state and the lower bound for ``std_filter`` (0 before ``filter_start_step``, and while no warm-up
        mean exists).
    """
    if not 1 <= ema_start_step <= filter_start_step:
        raise ValueError(f"need 1 <= ema_start_step <= filter_start_step, got {ema_start_step}, {filter_start_step}")
    recorded = step - 1
    if previous_mean is not None and recorded >= ema_start_step:
        if recorded < filter_start_step:
            state = replace(state, warmup=state.warmup + (float(previous_mean),))
        elif state.ema is not None:
            state = replace(state, ema=ema_update(state.ema, previous_mean, ema_ratio))
    if step < filter_start_step:
        return state, 0.0
    if state.ema is None:
        finite = [m for m in state.warmup if math.isfinite(m)]
        if not finite:
            return state, 0.0
        state = replace(state, ema=sum(finite) / len(finite))
    return state, beta * state.ema


def format_reward(completion: str, mode: str = "R1") -> float:
    """1.0 when every tag of ``mode`` occurs exactly once and the text has the mode's shape, else 0.0."""
    if mode not in FORMAT_TAGS:
        raise ValueError(f"Unknown format mode '{mode}'. Known: {', '.join(FORMAT_TAGS)}")
    if any(completion.count(tag) != 1 for tag in FORMAT_TAGS[mode]):
        return 0.0
    return 1.0 if FORMAT_PATTERNS[mode].fullmatch(completion) else 0.0


def splice_reference(
    completion: str, reference: str, mode: str = "R1", default_space: str = " "
) -> tuple[str, str, bool]:
    """Replace the completion's answer by the reference: ``(head, tail, valid)``; the text to score is
    ``prompt + head + reference + tail`` (then EOS), and the reference's tokens are those overlapping the characters
    ``[len(prompt + head), len(prompt + head + reference))`` (``token_span_mask``).

    ``valid`` is False (the official r is then 0, no forward pass needed) unless the completion has exactly one
    ``<answer>`` (and, for ``R1``, one ``<think>`` and one ``</think>``, in that order). The official code also
    refuses a blank answer, but it appends EOS to the text first, so that check never fires; nor does it here.
    ``head`` ends with the generated answer's leading whitespace (one space if none: ``default_space``, the official
    " "), ``tail`` is `` </answer>``.
    """
    if mode not in FORMAT_TAGS:
        raise ValueError(f"Unknown format mode '{mode}'. Known: {', '.join(FORMAT_TAGS)}")
    valid = completion.count("<answer>") == 1
    if mode == "R1":
        valid = valid and completion.count("<think>") == 1 and completion.count("</think>") == 1
        valid = valid and re.fullmatch(r".*<think>.*</think>.*<answer>.*", completion, re.DOTALL) is not None
    if not valid:
        return "", "", False
    answer = completion.split("<answer>")[1]
    leading = answer[: len(answer) - len(answer.lstrip(WHITESPACE))] or default_space
    head = completion[: completion.rfind("<answer>")] + "<answer>" + leading
    return head, " </answer>", True


def token_span_mask(offsets: Sequence[tuple[int, int]], start: int, end: int) -> list[bool]:
    """True for each token whose character range ``(s, e)`` overlaps ``[start, end)`` (a tokenizer's
    ``offset_mapping``), the official rule for the answer's tokens."""
    return [s < end and e > start for s, e in offsets]


def is_repetitive(text: str, window: int = 10, limit: int = 10) -> bool:
    """True when some ``window`` consecutive words (split on whitespace and ``_``) occur ``limit`` times or more."""
    words = [part for segment in text.split() for part in segment.split("_")]
    counts: dict[tuple[str, ...], int] = {}
    for i in range(len(words) - window + 1):
        key = tuple(words[i : i + window])
        counts[key] = counts.get(key, 0) + 1
        if counts[key] >= limit:
            return True
    return False
