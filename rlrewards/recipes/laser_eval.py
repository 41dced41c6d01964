"""LaSeR's evaluation hook ``laser_self_reward``: test-time self-verification, the log-probability of the slot token
after a finished solution.

The scoring is backend-agnostic: ``self_reward_scores_for`` builds each sample's token ids (prompt, completion, EOS)
and asks the engine's ``NextTokenLogprobs`` for log pi(z_c | ids): one forward pass of an HF model
(``rlrewards.eval.generation.hf_next_token_logprobs``), or ``prompt_logprobs`` on the vLLM engine.

When the hook applies: the run has a ``recipe.slot_token`` and a known c_ref: the one it trained with (the
estimator's state saved with the model, ``recipe_state.json``; for models saved before that file existed, the last
``train/laser/c_ref`` of the run's metrics log, read by ``rlrewards-eval`` only), else a number configured as
``recipe.advantage.kwargs.c_ref`` (``auto`` before its measurement: no scoring).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import torch

from rlrewards.eval.generation import NextTokenLogprobs
from rlrewards.eval.hooks import EVALUATION_HOOKS, EvaluationHook, HookContext, HookSetup
from rlrewards.eval.metrics import (
    BOOTSTRAP_RESAMPLES,
    auroc,
    cluster_bootstrap_stderr,
    expected_calibration_error,
    self_verification_f1,
)
from rlrewards.eval.scoring import sample_scaling
from rlrewards.rundir import read_jsonl
from rlrewards.trainer.recipe_trainer import load_recipe_state
from rlrewards.validation.parts import resolve_slot_token


@dataclass(frozen=True)
class SelfRewardSpec:
    """LaSeR's test-time self-verification: score = clip(beta_v * (log pi(z_c | x, y, EOS) - c_ref), 0, 1)."""

    slot_token_id: int
    c_ref: float
    beta_v: float = 0.1
    threshold: float = 0.5


def self_reward_scores_for(
    next_token_logprobs: NextTokenLogprobs, tokenizer, prompts, records: Sequence[dict], spec: SelfRewardSpec
) -> list[float]:
    """One extra token of prefill per sample: the prompt, the completion, EOS, then read z_c's log-prob."""
    by_id = {}
    for prompt, record_id in prompts:
        by_id[record_id] = tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
    texts = [by_id[r["id"]] + r["completion"] for r in records]
    sequences = [tokenizer(t, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id] for t in texts]
    if not sequences:
        return []
    logprobs = torch.tensor(next_token_logprobs(sequences, spec.slot_token_id), dtype=torch.float32)
    return (spec.beta_v * (logprobs - spec.c_ref)).clamp(0.0, 1.0).tolist()


def self_reward_metrics(
    records: Sequence[dict], threshold: float, resamples: int = BOOTSTRAP_RESAMPLES
) -> dict[str, float]:
    """Self-verification F1 (LaSeR's), AUROC and ECE of the clipped score, and RM@K (score-weighted vote) vs
    Maj@K over the first K samples of each prompt. F1, AUROC and ECE carry a ``_stderr``: the bootstrap over
    prompts (``cluster_bootstrap_stderr``, ``resamples`` draws, fixed seed); 0 resamples leaves them out."""
    scores = [r["self_reward"] for r in records]
    correct = [r["correct"] for r in records]
    statistics = {
        "self_verification_f1": partial(self_verification_f1, threshold=threshold),
        "self_reward_auroc": auroc,
        "self_reward_ece": expected_calibration_error,
    }
    metrics = {name: statistic(scores, correct) for name, statistic in statistics.items()}
    if resamples:
        clusters = [r["id"] for r in records]
        for name, statistic in statistics.items():
            metrics[f"{name}_stderr"] = cluster_bootstrap_stderr(statistic, (scores, correct), clusters, resamples)
    weighted = [{**r, "confidence": r["self_reward"]} for r in records]
    scaling = sample_scaling(weighted, sizes=(1, 2, 4, 8, 16, 32))
    for key, value in scaling.items():
        if key.startswith("tts_maj@"):
            metrics[key.replace("tts_maj@", "maj@")] = value
        elif key.startswith("tts_wmaj@"):
            metrics[key.replace("tts_wmaj@", "rm@")] = value
    return metrics


class SelfRewardHook(EvaluationHook):
    """Scores every sample (``record["self_reward"]``) and reports ``self_reward_metrics``."""

    def __init__(self, slot_token, c_ref: float, beta_v: float):
        self.slot_token, self.c_ref, self.beta_v = slot_token, c_ref, beta_v

    def score(self, records: list[dict], context: HookContext) -> dict[str, float]:
        tokenizer = context.tokenizer
        spec = SelfRewardSpec(resolve_slot_token(self.slot_token, tokenizer), self.c_ref, self.beta_v)
        keyed = list(zip(context.dataset["prompt"], context.dataset["id"]))
        scores = self_reward_scores_for(context.engine.next_token_logprobs, tokenizer, keyed, records, spec)
        for record, score in zip(records, scores):
            record["self_reward"] = score
        return self_reward_metrics(records, spec.threshold, context.bootstrap_resamples)


def logged_c_ref(run_dir: Path) -> float | None:
    """The last ``train/laser/c_ref`` of a run's metrics log; None without one."""
    metrics = Path(run_dir) / "metrics.jsonl"
    value = None
    if metrics.exists():
        for record in read_jsonl(metrics):
            value = record.get("train/laser/c_ref", value)
    return value


def measured_c_ref(checkpoint: str | Path, run_dir: Path) -> float | None:
    """The c_ref a LaSeR run trained with: saved with the evaluated model or checkpoint (``recipe_state.json``);
    for models saved before that file existed, the last ``train/laser/c_ref`` of the run's metrics log; else None."""
    saved = load_recipe_state(checkpoint).get("c_ref") if Path(checkpoint).is_dir() else None
    return float(saved) if saved is not None else logged_c_ref(run_dir)


@EVALUATION_HOOKS.register("laser_self_reward")
def laser_self_reward(setup: HookSetup) -> SelfRewardHook | None:
    recipe = setup.run_config.recipe
    if recipe.get("slot_token") is None:
        return None
    c_ref = setup.recipe_state.get("c_ref")
    if c_ref is None and setup.run_dir is not None:
        c_ref = logged_c_ref(setup.run_dir)
    if c_ref is None:
        c_ref = (recipe.get("advantage") or {}).get("kwargs", {}).get("c_ref")
    if c_ref is None or c_ref == "auto":
        return None
    return SelfRewardHook(recipe.slot_token, float(c_ref), float(recipe.get("beta_v", 0.1)))
