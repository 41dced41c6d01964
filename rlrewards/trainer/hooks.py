"""The trainer's extension points and the registries recipes fill.

Advantage estimators see the whole generation batch (gathered across processes, since a prompt's group can span
processes) as a ``RolloutBatch`` and return per-sequence ``(N,)`` or per-token ``(N, T)`` advantages. Auxiliary
losses see the local micro-batch plus the per-token log-probs of the policy forward pass the policy loss uses, so
they cost no extra forward.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch

from rlrewards.algorithms.grpo import group_advantages
from rlrewards.registry import RECIPE_MODULES, Registry


@dataclass
class RolloutBatch:
    """One generation batch, gathered over all processes; row i of every tensor is the same completion."""

    completion_ids: torch.Tensor  # (N, T) right-padded with pad_token_id
    completion_mask: torch.Tensor  # (N, T) 1 on completion tokens
    rewards: torch.Tensor  # (N,) weighted sum of the reward functions, NaN where none applied
    rewards_per_func: torch.Tensor  # (N, K)
    reward_names: list[str]
    group_size: int
    grpo_advantages: torch.Tensor  # (N,) what stock TRL would use, for estimators that mix with it
    is_finished: torch.Tensor  # (N,) bool: the completion ended with EOS rather than at the length limit
    completions: list[Any]  # decoded completions (text or chat messages), gathered
    global_step: int
    pad_token_id: int
    eos_token_ids: list[int] = field(default_factory=list)
    # (N,) log pi(slot token | prompt, completion) under the generating policy; only for estimators that ask for it
    slot_logps: torch.Tensor | None = None
    # (N, T) per-token log-probs of the sampled tokens under the generating policy and the reference model; only for
    # estimators with ``needs_reference_logps = True``
    policy_logps: torch.Tensor | None = None
    ref_logps: torch.Tensor | None = None
    prompt_ids: torch.Tensor | None = None  # (N, P) left-padded, gathered
    prompt_mask: torch.Tensor | None = None
    tokenizer: Any = None  # the policy's tokenizer (decoding steps, finding separators)
    # The rows of the gathered batch this process generated, and an all-gather of per-process lists (concatenated in
    # process order), so that an estimator can split costly per-row work over the processes. None: one process.
    local_rows: torch.Tensor | None = None
    gather_object: Callable[[list[Any]], list[Any]] | None = None


@dataclass
class AdvantageOutput:
    advantages: torch.Tensor  # (N,) or (N, T) over the gathered batch
    metrics: dict[str, float] = field(default_factory=dict)
    # Per-row tensors (first dim N) handed to the loss; the trainer slices them to the local rows.
    extra: dict[str, torch.Tensor] = field(default_factory=dict)


class AdvantageEstimator(Protocol):
    def __call__(self, batch: RolloutBatch) -> AdvantageOutput: ...


@dataclass
class AuxLossOutput:
    loss: torch.Tensor  # scalar, before the coefficient
    metrics: dict[str, float] = field(default_factory=dict)


class AuxiliaryLoss(Protocol):
    def __call__(
        self, inputs: dict[str, Any], per_token_logps: torch.Tensor, entropies: torch.Tensor | None, global_step: int
    ) -> AuxLossOutput: ...


ADVANTAGE_ESTIMATORS: Registry[Callable[..., AdvantageEstimator]] = Registry(
    "advantage estimator", autoload=RECIPE_MODULES
)
AUX_LOSSES: Registry[Callable[..., AuxiliaryLoss]] = Registry("auxiliary loss", autoload=RECIPE_MODULES)
# Recipe checks that need more than the recipe group (e.g. warm-ups against trainer.max_steps): each takes the whole
# config, returns for configs it does not apply to, and raises ConfigError; run by rlrewards.config.validate_config.


@ADVANTAGE_ESTIMATORS.register("grpo")
def grpo_estimator(scale: str = "group", eps: float = 1e-4) -> AdvantageEstimator:
    """Plain GRPO through the hook: same numbers as TRL's built-in path (checks the hook end to end)."""

    def estimate(batch: RolloutBatch) -> AdvantageOutput:
        return AdvantageOutput(group_advantages(batch.rewards, batch.group_size, scale=scale, eps=eps))

    return estimate


@AUX_LOSSES.register("entropy_bonus")
def entropy_bonus() -> AuxiliaryLoss:
    """Negative mean token entropy: a minimal auxiliary loss, mostly useful to test the hook."""

    def loss(inputs, per_token_logps, entropies, global_step) -> AuxLossOutput:
        mask = inputs["completion_mask"].to(per_token_logps.dtype)
        if entropies is None:
            raise ValueError("entropy_bonus needs the entropies of the policy forward pass")
        mean_entropy = (entropies * mask).sum() / mask.sum().clamp(min=1.0)
        return AuxLossOutput(-mean_entropy, {"entropy": float(mean_entropy.detach())})

    return loss


def build_component(registry: Registry, spec: Any, config_key: str):
    """``{name: ..., kwargs: {...}}`` (or None) from config -> an instantiated component (or None)."""
    if spec is None:
        return None
    name = spec.get("name") if hasattr(spec, "get") else None
    if not name:
        raise ValueError(f"{config_key} must be null or a mapping with 'name'")
    try:
        factory = registry.get(str(name))
    except KeyError as err:
        raise ValueError(f"{config_key}.name: {err.args[0]}") from None
    return factory(**dict(spec.get("kwargs") or {}))
