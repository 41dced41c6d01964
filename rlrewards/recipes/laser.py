"""Recipe ``laser``: last-token self-rewarding through the trainer's slot token, aux-loss and advantage hooks.

Phases as the official code (``ray_trainer.py``; verl counts steps from 1, TRL's ``global_step`` from 0):
steps ``1..reasoning_warmup`` are plain GRPO; from then on the class-balanced MSE self-reward loss is added; after
``reasoning_warmup + self_reward_warmup`` steps the self-reward is also mixed into the advantage (unless
``mix: false``, the paper's -SWA ablation). Class counts and weights come from the whole generation batch,
gathered over processes, and reach the loss as per-row extras. ``c_ref: auto`` is the mean slot log-prob of the
finished completions of the first generation batch under the initial policy, logged as ``laser/c_ref``.
"""

from __future__ import annotations

import math

import torch

from rlrewards.algorithms.laser import class_weights, mixed_advantages, self_reward_scores
from rlrewards.eval.metrics import self_verification_f1
from rlrewards.trainer.hooks import (
    ADVANTAGE_ESTIMATORS,
    AUX_LOSSES,
    AdvantageOutput,
    AuxLossOutput,
    RolloutBatch,
)


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

    estimate.needs_slot_logps = needs_slot_logps
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
