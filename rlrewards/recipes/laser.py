"""Recipe ``laser``: last-token self-rewarding through the trainer's slot token, aux-loss and advantage hooks.

Phases as the official code (``ray_trainer.py``; verl counts steps from 1, TRL's ``global_step`` from 0):
steps ``1..reasoning_warmup`` are plain GRPO; from then on the class-balanced MSE self-reward loss is added; after
``reasoning_warmup + self_reward_warmup`` steps the self-reward is also mixed into the advantage (unless
``mix: false``, the paper's -SWA ablation). Class counts and weights come from the whole generation batch,
gathered over processes, and reach the loss as per-row extras. ``c_ref: auto`` is the mean slot log-prob of the
finished completions of the first generation batch under the initial policy, logged as ``laser/c_ref``, kept in
the estimator's state (saved with every checkpoint and the final model, ``recipe_state.json``) and read back on
resume and by evaluation instead of being measured again from a trained policy.

Reward ``laser_accuracy``: the official format gate before grading (RUCBM/LaSeR
``verl/verl/utils/reward_score/__init__.py``, ``format_reward`` / ``default_compute_score``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from rlrewards.algorithms.laser import class_weights, mixed_advantages, self_reward_scores
from rlrewards.eval.metrics import self_verification_f1
from rlrewards.rewards import REWARDS, completion_text
from rlrewards.tasks.formats import get_answer_format
from rlrewards.trainer.hooks import (
    ADVANTAGE_ESTIMATORS,
    AUX_LOSSES,
    AdvantageOutput,
    AuxLossOutput,
    RolloutBatch,
)

_R1_TAGS = ("</think>", "<answer>", "</answer>")
_BOX = "\\boxed{"


def _box_closes(text: str) -> bool:
    """A ``\\boxed{`` with a ``}`` somewhere after it (the official regex ``boxed{.*}``, DOTALL)."""
    start = text.find(_BOX)
    return start >= 0 and text.find("}", start + len(_BOX)) >= 0


def _prompt_text(prompt: Any) -> str:
    """The whole prompt (every message) as text: the official code reads the chat-formatted prompt string."""
    if isinstance(prompt, str):
        return prompt
    if isinstance(prompt, Sequence):
        messages = [m for m in prompt if isinstance(m, Mapping) and isinstance(m.get("content"), str)]
        return "\n".join(m["content"] for m in messages)
    return ""


def laser_format_ok(response: str, prompt: str, answer_format: str) -> bool:
    """The official LaSeR gate, applied before grading.

    With ``answer_format: boxed`` (the official setting): R1 rule when the prompt holds ``<answer>`` and
    ``</answer>`` (ORZ-style prompts): exactly one ``</think>``, ``<answer>``, ``</answer>`` and the response matches
    ``.*</think>.*<answer>.*\\boxed{.*}.*</answer>``; otherwise exactly one ``\\boxed{`` followed by a ``}``.
    Other (tag-based) formats have no official counterpart (the official reward always needs a box); the choice
    here is the same anti-hedging rule for their answer: exactly one ``<answer>`` and one ``</answer>``, plus one
    ``</think>`` when the format asks for one. Linear time: string searches, no regex backtracking."""
    if not isinstance(response, str):
        return False
    if answer_format != "boxed":
        asks_think = "</think>" in get_answer_format(answer_format).instruction
        tags = ["<answer>", "</answer>"] + (["</think>"] if asks_think else [])
        return all(response.count(tag) == 1 for tag in tags)
    if "<answer>" in prompt and "</answer>" in prompt:
        # re.fullmatch(r".*</think>.*<answer>.*\\boxed\{.*\}.*</answer>", DOTALL), written out with one tag each:
        # </think> before <answer>, the response ends with </answer>, a closed box between the answer tags.
        if not all(response.count(tag) == 1 for tag in _R1_TAGS) or not response.endswith("</answer>"):
            return False
        think, opening = response.find("</think>"), response.find("<answer>")
        return think < opening and _box_closes(response[opening + len("<answer>") : -len("</answer>")])
    return response.count(_BOX) == 1 and _box_closes(response)


@REWARDS.register("laser_accuracy")
def laser_accuracy_reward(prompts, completions, answer, answer_format: str = "boxed", **kwargs) -> list[float]:
    """LaSeR's verifier reward: ``accuracy`` (the last box / answer under the row's checker), 0 unless
    ``laser_format_ok``; so hedging with several boxes earns nothing, as in the official runs, and the self-reward
    learns the official labels. Logs the gated-out share as ``rewards/laser_accuracy/format_fail_frac``."""
    scores = REWARDS.get("accuracy")(prompts, completions, answer, answer_format=answer_format, **kwargs)
    n = len(completions)
    prompt_list = prompts if isinstance(prompts, list) and len(prompts) == n else [prompts] * n
    ok = [laser_format_ok(completion_text(c), _prompt_text(p), answer_format) for c, p in zip(completions, prompt_list)]
    log_metric = kwargs.get("log_metric")
    if callable(log_metric):
        log_metric("rewards/laser_accuracy/format_fail_frac", ok.count(False) / max(n, 1))
    return [score if passed else 0.0 for score, passed in zip(scores, ok)]


class LaserPhases:
    """The official warm-ups: plain GRPO, then + self-reward loss, then + advantage mixing."""

    def __init__(self, reasoning_warmup: int, self_reward_warmup: int):
        self.reasoning_warmup = int(reasoning_warmup)
        self.self_reward_warmup = int(self_reward_warmup)

    def loss_active(self, global_step: int) -> bool:
        return global_step >= self.reasoning_warmup  # verl: global_steps > reasoning_warmup, counted from 1

    def mixing_active(self, global_step: int) -> bool:
        return global_step >= self.reasoning_warmup + self.self_reward_warmup


@ADVANTAGE_ESTIMATORS.register("laser")
def laser_estimator(
    c_ref: float | str = -23.0,
    beta_v: float = 0.1,
    tau: float = 0.1,
    std_threshold: float = 0.1,
    reasoning_warmup: int = 200,
    self_reward_warmup: int = 200,
    mix: bool = True,
    balanced: bool = True,
):
    """GRPO advantages (mixed with the self-reward once its phase starts) plus what the loss needs, per row:
    ``laser_weight`` (0 before the loss phase and for unfinished rows), ``laser_reward``, ``laser_c_ref``."""
    if c_ref != "auto" and not (isinstance(c_ref, int | float) and math.isfinite(c_ref)):
        raise ValueError(f"recipe.advantage.kwargs.c_ref must be a number or 'auto', got {c_ref!r}")
    phases = LaserPhases(reasoning_warmup, self_reward_warmup)
    state = {"c_ref": None if c_ref == "auto" else float(c_ref)}

    def needs_slot_logps(global_step: int) -> bool:
        return state["c_ref"] is None or (mix and phases.mixing_active(global_step))

    def estimate(batch: RolloutBatch) -> AdvantageOutput:
        rewards = torch.nan_to_num(batch.rewards.float(), nan=0.0)
        finished = batch.is_finished.bool()
        metrics: dict[str, float] = {}
        if state["c_ref"] is None:
            logps = batch.slot_logps[finished] if finished.any() else batch.slot_logps
            state["c_ref"] = float(logps.float().mean())
        metrics["laser/c_ref"] = state["c_ref"]
        advantages = batch.grpo_advantages
        if mix and phases.mixing_active(batch.global_step) and batch.slot_logps is not None:
            scores = self_reward_scores(batch.slot_logps.float(), state["c_ref"], beta_v)
            advantages = mixed_advantages(advantages, scores, finished, batch.group_size, tau, std_threshold)
            metrics["laser/mixed_frac"] = float((advantages != batch.grpo_advantages).float().mean())
        # Loss weights over the whole generation batch: mean over a micro-batch of N * w / (N_c + N_i) * err^2
        # sums, across micro-batches and processes, to the balanced loss of the generation batch.
        weights = class_weights(rewards, finished, balanced) * rewards.numel()
        if not phases.loss_active(batch.global_step):
            weights = torch.zeros_like(weights)
        metrics["laser/finished_frac"] = float(finished.float().mean())
        metrics["laser/loss_active"] = float(phases.loss_active(batch.global_step))
        metrics["laser/mixing_active"] = float(mix and phases.mixing_active(batch.global_step))
        c_ref_column = torch.full_like(rewards, state["c_ref"])
        extra = {"laser_weight": weights, "laser_reward": rewards, "laser_c_ref": c_ref_column}
        return AdvantageOutput(advantages, metrics, extra)

    def state_dict() -> dict[str, float]:
        """What a resumed run and evaluation need back: the c_ref in use (measured or configured)."""
        return {} if state["c_ref"] is None else {"c_ref": state["c_ref"]}

    def load_state_dict(saved: Mapping[str, Any]) -> None:
        value = saved.get("c_ref")
        if value is not None:
            if not (isinstance(value, int | float) and math.isfinite(value)):
                raise ValueError(f"saved LaSeR state has a non-finite c_ref: {value!r}")
            state["c_ref"] = float(value)  # never re-measured from the trained policy

    estimate.needs_slot_logps = needs_slot_logps
    estimate.state_dict = state_dict
    estimate.load_state_dict = load_state_dict
    return estimate


@AUX_LOSSES.register("laser_self_reward")
def laser_self_reward_loss(beta_v: float = 0.1):
    """The balanced MSE between ``beta_v * (log pi(z_c | x, y, EOS) - c_ref)`` and the verifier reward (the recipe's
    ``coef`` is alpha). Weights, rewards and c_ref come per row from the ``laser`` estimator."""

    def loss(inputs, per_token_logps, entropies, global_step) -> AuxLossOutput:
        slot_logps = inputs["slot_logps"]
        scores = self_reward_scores(slot_logps, inputs["laser_c_ref"].to(slot_logps.dtype), beta_v)
        weights, rewards = inputs["laser_weight"], inputs["laser_reward"]
        errors = (scores - rewards.to(scores.dtype)) ** 2
        value = (weights.to(scores.dtype) * errors).mean()
        finished = weights > 0
        metrics = {"score_mean": float(scores.detach().mean())}
        if finished.any():
            metrics["self_verification_f1"] = self_verification_f1(scores.detach()[finished], rewards[finished])
        return AuxLossOutput(value, metrics)

    return loss
