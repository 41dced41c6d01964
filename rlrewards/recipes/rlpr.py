"""Recipe ``rlpr``: the policy's own probability of the reference answer as the reward (Yu et al., arXiv:2506.18254).

A thin adapter from the trainer's estimator contract to ``rlrewards/algorithms/rlpr.py``; the official semantics
and every difference are in ``docs/papers/rlpr.md``. Per generation batch:

1. ``policy_scoring``: each completion's answer is replaced by the row's reference (``splice_reference``) and the
   sequence prompt + reasoning + reference + EOS goes to the trainer (``PolicyScoringMixin``), which scores it with
   the current policy, no grad; the reference's tokens are those overlapping its characters (``token_span_mask``).
   A completion without the answer span, or a spliced sequence over ``max_length`` tokens, is not scored: r = 0,
   as the official code scores it, counted in ``rlpr/unscorable_frac``.
2. ``initial_scoring``: once, before the first step, r_0 for every (prompt, reference) of the training set from
   prompt + " " + reference + " " + EOS (``base_prefix`` replaces the first " ") under the initial policy, cached in
   the estimator's state (saved with every checkpoint, so a resumed run does not re-measure it on a trained
   policy).
3. ``__call__``: R = 0.9 * clip(r - r_0, 0, 1) + 0.1 * format, -1 more for repetitive text; the std filter
   (``begin_step`` / ``std_filter``: EMA of the mean group std from step 6, filtering from step 11, steps counted
   in generation batches as verl counts them) drops groups from the loss (``AdvantageOutput.keep``, their
   advantages 0 too), as the official code does, and the trainer refills the batch with kept groups from more
   generation batches of the same step (``refill``, ``rlrewards/trainer/refill.py``; those batches keep this step's
   bound); GRPO advantages with the official eps 1e-6.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

import torch

from rlrewards.algorithms.grpo import group_advantages
from rlrewards.algorithms.rlpr import (
    StdFilterState,
    begin_step,
    combined_reward,
    debiased_reward,
    format_reward,
    group_std,
    is_repetitive,
    mean_group_std,
    probability_reward,
    splice_reference,
    std_filter,
    token_span_mask,
)
from rlrewards.rewards import completion_text
from rlrewards.trainer.hooks import (
    ADVANTAGE_ESTIMATORS,
    AdvantageOutput,
    GroupRefill,
    PolicyScores,
    RolloutBatch,
    ScoringRequest,
)

OFFICIAL_EPS = 1e-6  # verl core_algos.compute_grpo_outcome_advantage (OpenBMB/RLPR @ 8490fca)


def span_tokens(tokenizer, before: str, span: str, after: str) -> tuple[list[int], list[bool]]:
    """Tokenize ``before + span + after`` (no special tokens) and mark the tokens overlapping ``span``'s characters
    (the official ``batch_locate_substring_tokens`` rule; needs a fast tokenizer for the offsets)."""
    encoded = tokenizer(before + span + after, add_special_tokens=False, return_offsets_mapping=True)
    start = len(before)
    return list(encoded["input_ids"]), token_span_mask(encoded["offset_mapping"], start, start + len(span))


def base_key(prompt_ids: list[int], reference: str) -> str:
    """The cache key of r_0: the prompt's tokens and the reference."""
    return hashlib.sha1(json.dumps([list(map(int, prompt_ids)), reference]).encode()).hexdigest()[:20]


class RLPREstimator:
    """The advantage estimator; its capabilities (``rlrewards.trainer.hooks``): ``policy_scoring``,
    ``initial_scoring`` / ``set_initial_scores``, ``state_dict`` / ``load_state_dict``."""

    def __init__(
        self,
        format_mode: str = "R1",
        format_coefficient: float = 0.1,
        debias: bool = True,
        repetition_penalty: bool = True,
        aggregation: str = "mean_prob",
        std_filter_beta: float = 0.5,
        ema_start_step: int = 6,
        filter_start_step: int = 11,
        ema_ratio: float = 0.99,
        std_upper: float = 1e6,
        eps: float = OFFICIAL_EPS,
        max_length: int | None = None,
        answer_field: str = "answer",
        base_prefix: str = " ",
        answer_space: str = " ",
        refill: bool = True,
        max_generation_batches: int | None = None,
        cache_surplus: bool = True,
    ):
        format_reward("", format_mode)  # an unknown mode fails here
        self.format_mode, self.format_coefficient = format_mode, float(format_coefficient)
        self.debias, self.repetition_penalty, self.aggregation = bool(debias), bool(repetition_penalty), aggregation
        self.filter = {
            "ema_start_step": int(ema_start_step),
            "filter_start_step": int(filter_start_step),
            "ema_ratio": float(ema_ratio),
            "beta": float(std_filter_beta),
        }
        self.std_upper, self.eps = float(std_upper), float(eps)
        self.max_length, self.answer_field = max_length, answer_field
        # r_0's text between the prompt and y*: the official " " (prompt + " " + y* + " " + EOS); a model whose
        # no-reasoning answer has its own form (the demo's "<answer>y*</answer>") can be scored in that form
        self.base_prefix = str(base_prefix)
        # the whitespace put between <answer> and y* when the completion has none: the official " " (a BPE model
        # reads " 42" as a word); a character-level model that never saw "<answer> 42" can be given ""
        self.answer_space = str(answer_space)
        # dynamic sampling (rlrewards/trainer/refill.py): groups the std filter drops are replaced within the step
        self.refill = GroupRefill(max_generation_batches, bool(cache_surplus)) if refill else None
        self.base: dict[str, float] = {}  # r_0 per base_key
        self._pending: list[str] = []
        self.filter_state = StdFilterState()
        self.step = 0  # generation batches seen: the official (verl) step, 1-based once started
        self.step_means: list[float] = []  # the mean group std recorded during that step
        self.lower = 0.0  # this step's lower std bound, shared by the batches generated to refill it

    # --- what the trainer scores --------------------------------------------------------------------------------

    def policy_scoring(self, batch: RolloutBatch) -> ScoringRequest:
        tokenizer, eos = batch.tokenizer, _eos(batch.tokenizer)
        input_ids, targets = [], []
        for i, prompt in enumerate(_prompts(batch)):
            reference = self._reference(batch, i)
            head, tail, valid = splice_reference(_text(batch, i), reference, self.format_mode, self.answer_space)
            ids, target = span_tokens(tokenizer, head, reference, tail) if valid else ([], [])
            ids, target = prompt + ids + eos, [False] * len(prompt) + target + [False] * len(eos)
            if not valid or (self.max_length is not None and len(ids) > self.max_length):
                ids, target = prompt, [False] * len(prompt)  # unscorable: r = 0
            input_ids.append(ids)
            targets.append(target)
        return ScoringRequest(input_ids, targets)

    def initial_scoring(
        self, prompt_ids: list[list[int]], rows: list[dict[str, Any]], tokenizer
    ) -> ScoringRequest | None:
        self._pending = []
        pending = set()  # membership of self._pending without a list scan per row
        request = ScoringRequest([], [])
        for prompt, row in zip(prompt_ids, rows, strict=True):
            reference = str(row.get(self.answer_field, ""))
            key = base_key(prompt, reference)
            if key in self.base or key in pending:
                continue
            pending.add(key)
            ids, target = span_tokens(tokenizer, self.base_prefix, reference, " ")
            eos = _eos(tokenizer)
            request.input_ids.append(list(prompt) + ids + eos)
            request.targets.append([False] * len(prompt) + target + [False] * len(eos))
            self._pending.append(key)
        return request if self._pending else None

    def set_initial_scores(self, scores: PolicyScores) -> None:
        values = probability_reward(scores.logps, scores.mask, self.aggregation, bf16_round=True)
        self.base.update(zip(self._pending, values.tolist(), strict=True))
        self._pending = []

    # --- the estimator --------------------------------------------------------------------------------------------

    def __call__(self, batch: RolloutBatch) -> AdvantageOutput:
        scores = batch.policy_scores
        if scores is None:
            raise ValueError("rlpr needs the trainer's policy scores (RecipeGRPOTrainer with PolicyScoringMixin)")
        reward, parts = self.rewards(batch, scores)
        if batch.generation_attempt == 0:  # a refill batch belongs to the step of the batch it refills
            self.lower = self._advance_filter()
        lower = self.lower
        stds = group_std(reward, batch.group_size)
        keep = std_filter(reward, batch.group_size, lower, self.std_upper)
        recorded = mean_group_std(stds)
        if recorded is not None:
            self.step_means.append(recorded)
        advantages = group_advantages(reward, batch.group_size, scale="group", eps=self.eps)
        kept_rows = keep.repeat_interleave(batch.group_size)
        advantages = advantages * kept_rows.to(advantages.dtype)
        metrics = {f"rlpr/{name}": float(value.float().mean()) for name, value in parts.items()}
        metrics.update(
            {
                "rlpr/reward_mean": float(reward.mean()),
                "rlpr/filtered_frac": float((~keep).float().mean()),
                "rlpr/std_lower": lower,
                "rlpr/group_std_mean": recorded if recorded is not None else 0.0,
            }
        )
        return AdvantageOutput(advantages, metrics, keep=kept_rows)  # dropped groups leave the loss

    def rewards(self, batch: RolloutBatch, scores: PolicyScores) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The final reward R (N,) and its parts, each (N,), for the metrics."""
        texts = [_text(batch, i) for i in range(len(batch.completions))]
        prob = probability_reward(scores.logps, scores.mask, self.aggregation, bf16_round=True)
        keys = [base_key(p, self._reference(batch, i)) for i, p in enumerate(_prompts(batch))]
        missing = torch.tensor([k not in self.base for k in keys])
        base = torch.tensor([self.base.get(k, 0.0) for k in keys], dtype=prob.dtype)
        debiased = debiased_reward(prob, base if self.debias else 0.0)
        fmt = torch.tensor([format_reward(t, self.format_mode) for t in texts])
        repetitive = torch.tensor([is_repetitive(t) for t in texts]) if self.repetition_penalty else None
        reward = combined_reward(debiased, fmt, self.format_coefficient, repetitive)
        parts = {
            "prob_reward_mean": prob,
            "base_reward_mean": base,
            "debiased_reward_mean": debiased,
            "format_frac": fmt,
            "unscorable_frac": ~scores.mask.any(dim=1),
            "base_missing_frac": missing,
            "repetitive_frac": repetitive if repetitive is not None else torch.zeros(len(texts), dtype=torch.bool),
        }
        return reward, parts

    def _advance_filter(self) -> float:
        """Start the next step of the std filter and return its lower bound. The official steps are verl's, one per
        generation batch (each holding several optimizer steps), so the filter counts generation batches, not
        ``global_step``; the mean group std recorded during the previous batch feeds the EMA."""
        previous = sum(self.step_means) / len(self.step_means) if self.step_means else None
        self.step, self.step_means = self.step + 1, []
        self.filter_state, lower = begin_step(self.filter_state, self.step, previous, **self.filter)
        return lower

    def _reference(self, batch: RolloutBatch, row: int) -> str:
        fields = batch.row_fields[row] if batch.row_fields is not None else {}
        return str(fields.get(self.answer_field, ""))

    # --- state saved with the model -------------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        state = asdict(self.filter_state)
        return {
            "base": dict(self.base),
            "ema": state["ema"],
            "warmup": list(state["warmup"]),
            "step": self.step,
            "step_means": list(self.step_means),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.base = {str(k): float(v) for k, v in (state.get("base") or {}).items()}
        self.filter_state = StdFilterState(state.get("ema"), tuple(float(m) for m in state.get("warmup") or ()))
        self.step = int(state.get("step", 0))
        self.step_means = [float(m) for m in state.get("step_means") or ()]


def _eos(tokenizer) -> list[int]:
    eos = getattr(tokenizer, "eos_token_id", None)
    return [] if eos is None else [int(eos)]


def _prompts(batch: RolloutBatch) -> list[list[int]]:
    """Each row's prompt tokens, left padding removed."""
    return [ids[mask.bool()].tolist() for ids, mask in zip(batch.prompt_ids, batch.prompt_mask, strict=True)]


def _text(batch: RolloutBatch, row: int) -> str:
    return completion_text(batch.completions[row])


@ADVANTAGE_ESTIMATORS.register("rlpr")
def rlpr_estimator(**kwargs) -> RLPREstimator:
    """RLPR's probability reward, debiasing, std filter and GRPO advantage; keyword arguments as ``RLPREstimator``."""
    return RLPREstimator(**kwargs)
