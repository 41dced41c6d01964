"""The generic evaluation hook ``self_certainty``: self-certainty Best-of-N and Borda voting (Kang et al., 2025,
arXiv:2502.18581; docs/papers/self_certainty.md) for every decoding with n > 1 samples, for any run.

Each sample's self-certainty (``rlrewards.algorithms.self_certainty``: the mean over its tokens of KL(U || p_t)) is
computed by a scoring forward over prompt + completion on the engine (``Engine.self_certainty``, an HF model's
full-vocabulary logits) and stored in the records as ``self_certainty``. vLLM returns top-k log-probs only, not the
full-vocabulary logits the measure sums over: with ``backend=vllm`` the scores come from an HF copy of the checkpoint
when ``self_certainty.vllm_hf_scoring`` is true (loaded at the first multi-sample decoding; the same numbers as
backend=hf for the same completion texts), else the hook logs why and adds nothing. Over the first k samples of each
prompt, at the k of maj@k:

- ``bon_sc@k``: the correctness of the single sample with the highest self-certainty among those with an extracted
  answer (``best_of_n``; the first sample when none has one);
- ``borda_sc@k``: Borda voting, the sample at rank r of k adds (k - r + 1)^power to its answer (``borda_vote``);

both averaged over prompts, with ``_stderr`` over prompts. Selection needs no verifier and no training.

When it applies: ``rlrewards-eval`` unless ``self_certainty.enabled=false`` (conf/eval.yaml turns it on; an
evaluation config without the key leaves it off); in a training run's own evaluations only when its config sets
``evaluation.self_certainty`` (same keys; off by default, it costs a forward pass per sample). Keys: ``enabled``
(true), ``power`` (0.5, the official default), ``batch_size`` (8 sequences per scoring forward), ``vllm_hf_scoring``
(false; read by rlrewards-eval with ``backend=vllm``, ``wants_hf_scoring``). This module is found by the hooks'
autoload (``rlrewards/eval/*_eval.py``).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

from rlrewards.config import ConfigError
from rlrewards.eval.generation import chat_texts
from rlrewards.eval.hooks import EVALUATION_HOOKS, EvaluationHook, HookContext, HookSetup, hook_settings
from rlrewards.eval.metrics import mean_stderr
from rlrewards.eval.scoring import by_prompt, powers_of_two, vote
from rlrewards.eval.voting import best_of_n, borda_weights

logger = logging.getLogger(__name__)

OFFICIAL_POWER = 0.5  # src/voting_from_list.py --power default (backprop07/Self-Certainty @ b17d021)


def finite_or_zero(value) -> float:
    """A score from the model as a finite float; anything else (None, NaN, inf) is 0, the least certain value."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        return 0.0
    return value if math.isfinite(value) else 0.0


def selection_at_k(group: Sequence[dict], k: int, power: float) -> tuple[float, float]:
    """(Best-of-N, Borda) correctness over the first k samples of one prompt, ranked by ``self_certainty``."""
    first = list(group[:k])
    scores = [r["self_certainty"] for r in first]
    # Best-of-N passes over samples without an answer, as the official src/self_certainty_from_list.py (score -1e9;
    # when none has one, the first sample is chosen and is wrong); Borda gives them no vote but counts them in k.
    answered = [score if r["extracted"] is not None else float("-inf") for r, score in zip(first, scores)]
    chosen = best_of_n(answered)
    best = float(bool(first[chosen]["correct"])) if chosen is not None else 0.0
    right = {r["extracted"] for r in first if r["correct"]}
    voted = vote(first, borda_weights(scores, power))
    return best, float(voted is not None and voted in right)


def self_certainty_metrics(
    records: Sequence[dict], power: float = OFFICIAL_POWER, sizes: Sequence[int] | None = None
) -> dict[str, float]:
    """``bon_sc@k`` and ``borda_sc@k`` (each with ``_stderr`` over prompts) for each k in ``sizes`` up to the
    samples per prompt (default: the powers of two, as maj@k), plus ``self_certainty_mean`` over all samples."""
    groups = by_prompt(records)
    available = min((len(g) for g in groups), default=0)
    results: dict[str, float] = {}
    for k in [size for size in (powers_of_two(available) if sizes is None else sizes) if size <= available]:
        picked = [selection_at_k(group, k, power) for group in groups]
        for index, name in enumerate(("bon_sc", "borda_sc")):
            values = [p[index] for p in picked]
            results[f"{name}@{k}"] = sum(values) / len(values)
            results[f"{name}@{k}_stderr"] = mean_stderr(values)
    if records:
        results["self_certainty_mean"] = sum(finite_or_zero(r["self_certainty"]) for r in records) / len(records)
    return results


def token_ids(tokenizer, texts: Sequence[str]) -> list[list[int]]:
    return [list(ids) for ids in tokenizer(list(texts), add_special_tokens=False)["input_ids"]] if texts else []


def prompt_token_ids(tokenizer, dataset) -> dict:
    """Row id -> the chat-templated prompt's token ids, tokenized once per row (not once per sample)."""
    rows = list(dataset)
    texts = chat_texts(tokenizer, [row["prompt"] for row in rows])
    return dict(zip([row.get("id") for row in rows], token_ids(tokenizer, texts)))


class SelfCertaintyHook(EvaluationHook):
    """Scores every sample of a multi-sample decoding (``record["self_certainty"]``); reports the selections."""

    def __init__(self, power: float = OFFICIAL_POWER, batch_size: int = 8):
        self.power, self.batch_size = power, batch_size

    def score(self, records: list[dict], context: HookContext) -> dict[str, float]:
        if context.decoding.num_samples < 2 or not records:
            return {}
        scorer = context.engine.self_certainty
        if scorer is None:
            logger.warning(
                "self-certainty skipped for decoding %r: this backend gives no full-vocabulary logits (vLLM returns "
                "top-k log-probs only). For bon_sc@k / borda_sc@k set self_certainty.vllm_hf_scoring=true (scores "
                "with an HF copy of the checkpoint; lower vllm.gpu_memory_utilization to leave it GPU memory) or "
                "evaluate with backend=hf",
                context.decoding.name,
            )
            return {}
        prompt_ids = prompt_token_ids(context.tokenizer, context.dataset)
        prompts = [prompt_ids.get(r["id"], []) for r in records]
        completions = token_ids(context.tokenizer, [r["completion"] or "" for r in records])
        scores = list(scorer(prompts, completions, self.batch_size))
        for index, record in enumerate(records):  # a short answer from the scorer leaves 0, never a missing key
            record["self_certainty"] = finite_or_zero(scores[index] if index < len(scores) else None)
        return self_certainty_metrics(records, self.power)


def wants_hf_scoring(spec) -> bool:
    """Whether a ``self_certainty`` setting (a mapping, true, false or null) asks for HF scoring on the vLLM backend:
    ``vllm_hf_scoring`` true and the hook enabled. The key must be true or false (null: false), else a ConfigError."""
    if not hasattr(spec, "get"):
        return False
    value = spec.get("vllm_hf_scoring")
    if value is not None and not isinstance(value, bool):
        raise ConfigError(f"self_certainty.vllm_hf_scoring must be true or false, got {value!r}")
    return bool(value) and bool(spec.get("enabled", True))


@EVALUATION_HOOKS.register("self_certainty")
def self_certainty_selection(setup: HookSetup) -> SelfCertaintyHook | None:
    spec = hook_settings(setup, "self_certainty")  # on in conf/eval.yaml
    if not spec or not spec.get("enabled", True):
        return None
    wants_hf_scoring(spec)  # its type, checked wherever the setting comes from
    power, batch_size = spec.get("power", OFFICIAL_POWER), spec.get("batch_size", 8)
    try:
        power, batch_size = float(power), int(batch_size)
    except (TypeError, ValueError) as err:
        message = f"self_certainty: power and batch_size must be numbers, got {power!r}, {batch_size!r}"
        raise ConfigError(message) from err
    if not math.isfinite(power) or power < 0 or batch_size < 1:
        raise ConfigError(f"self_certainty: needs power >= 0 and batch_size >= 1, got {power}, {batch_size}")
    return SelfCertaintyHook(power, batch_size)
