"""The trainer's extension points and the registries recipes fill.

Advantage estimators see the whole generation batch (gathered across processes, since a prompt's group can span
processes) as a ``RolloutBatch`` and return per-sequence ``(N,)`` or per-token ``(N, T)`` advantages; an estimator may
ask the policy to score sequences it builds (``ScoringRequest`` -> ``PolicyScores``, ``PolicyScoringMixin``). Auxiliary
losses see the local micro-batch plus the per-token log-probs of the policy forward pass the policy loss uses, so
they cost no extra forward.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch

from rlrewards.algorithms.grpo import group_advantages
from rlrewards.registry import RECIPE_MODULES, Registry


@dataclass
class ScoringRequest:
    """Token sequences an estimator asks the current policy to score, without gradient: each row's token ids and
    which of its positions to read (``targets[i][t]``: read log pi(ids[t] | ids[:t]); position 0 is never read)."""

    input_ids: list[list[int]]
    targets: list[list[bool]]


@dataclass
class PolicyScores:
    """The answer to a ``ScoringRequest``, one row per requested sequence: ``logps[i, :k]`` are the log-probs of
    row i's k target tokens in order, at the trainer's sampling temperature, and ``mask[i]`` is True on them."""

    logps: torch.Tensor  # (M, K) float32, 0 where mask is False
    mask: torch.Tensor  # (M, K) bool


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
    # The dataset columns of each row other than prompt and completion (the reference answer, the checker, ...),
    # gathered; only for estimators (None in batches built by hand).
    row_fields: list[dict[str, Any]] | None = None
    # Scores of the sequences the estimator asked for (``policy_scoring``, ``PolicyScoringMixin``), one row each.
    policy_scores: PolicyScores | None = None
    # 0 for the training step's own generation batch; k for the k-th extra batch generated to replace the groups
    # the estimator dropped (``GroupRefill``): per-step state (a filter's step count) advances on 0 only.
    generation_attempt: int = 0


@dataclass
class AdvantageOutput:
    """What an estimator returns for the gathered batch; the trainer slices every per-row field to its local rows.

    ``keep`` drops rows from the loss, as trainers that remove rows from the batch before the update do: ``(N,)``
    bool, False on the rows to drop; None (the default) keeps every row and changes nothing. A dropped row's
    completion mask is zeroed (and its advantage set to 0), so it adds no gradient and leaves the loss's token count:
    the normaliser of ``loss_type`` ``bnpo`` (the micro-batch's kept tokens) and ``dapo``/``cispo``/``vespo``
    (``num_items_in_batch``, recounted), and every masked metric. ``grpo`` still averages over all rows of the
    micro-batch (a dropped row counts as 0) and ``dr_grpo``'s normaliser is a constant. Auxiliary losses that read
    ``inputs["completion_mask"]`` skip dropped rows too.
    """

    advantages: torch.Tensor  # (N,) or (N, T) over the gathered batch
    metrics: dict[str, float] = field(default_factory=dict)
    # Per-row tensors (first dim N) handed to the loss; the trainer slices them to the local rows.
    extra: dict[str, torch.Tensor] = field(default_factory=dict)
    keep: torch.Tensor | None = None  # (N,) bool: False drops the row from the loss; None keeps all


@dataclass(frozen=True)
class GroupRefill:
    """Dynamic sampling (``GroupRefillMixin``): while fewer groups are kept than the generation batch holds, more
    batches of prompts are generated and scored until it is full again, as trainers that filter prompts by their
    groups' rewards do (RLPR's std filter, DAPO's dynamic sampling).

    ``max_generation_batches``: the most generation batches per training step, the first one included (None: until
    full, or until one pass over the training set has been drawn in this step); a step that stops short trains on
    the kept groups with dropped ones filling the batch, out of the loss. ``cache_surplus``: the prompts of kept groups
    past a full batch are cached and regenerated once a whole batch of them has gathered (verl's
    ``filter_cache_regenerate=True``); false discards them (verl's False instead trains the surplus rollouts at the
    next step, which is not implemented)."""

    max_generation_batches: int | None = None
    cache_surplus: bool = True


@dataclass
class ScoredGeneration:
    """One generation batch with the estimator's result: ``output`` (TRL's, this process's rows), the gathered
    ``batch``, this process's ``rows`` in it, and the ``result``."""

    output: dict[str, Any]
    batch: RolloutBatch
    rows: torch.Tensor
    result: AdvantageOutput
    logged: bool = False  # its advantages are already in TRL's completions log


class AdvantageEstimator(Protocol):
    """``estimator(batch) -> AdvantageOutput``: advantages for every row of the gathered batch and, optionally,
    ``keep``, the rows to drop from the loss (``AdvantageOutput``). Optional capabilities, set as attributes of the
    estimator (a function's attributes or an object's) and read through the helpers below, never directly:

    - ``needs_reference_logps: bool`` (``needs_reference_logps``): the batch carries ``policy_logps`` and
      ``ref_logps``; the trainer keeps a reference model even when the loss has no KL term (PURE's KL in the reward).
    - ``needs_slot_logps(global_step) -> bool`` (``needs_slot_logps``): with a slot token set, this step's batch
      carries ``slot_logps`` (LaSeR).
    - ``state_dict() -> dict`` and ``load_state_dict(state)`` (``estimator_state``, ``loads_state``): state saved
      next to every model and checkpoint (``recipe_state.json``) and loaded back on resume (LaSeR's measured c_ref).
    - ``policy_scoring(batch) -> ScoringRequest`` (``wants_policy_scores``): one sequence per row of the batch,
      scored by the current policy in a no-grad forward; the batch then carries ``policy_scores`` (RLPR's
      probability of the reference answer after the completion's reasoning).
    - ``initial_scoring(prompt_ids, rows, tokenizer) -> ScoringRequest | None`` and ``set_initial_scores(scores)``
      (``wants_initial_scores``): once, before the first estimator call, sequences built from the training
      dataset (its prompts tokenized as TRL tokenizes them, and its other columns), scored by the initial policy in
      chunks (RLPR's no-reasoning probability r_0).
    - ``refill: GroupRefill | None`` (``refill_settings``): groups whose rows ``keep`` drops are replaced by groups
      from more generation batches of the same step (``batch.generation_attempt`` > 0); needs group-wise ``keep``.
    """

    def __call__(self, batch: RolloutBatch) -> AdvantageOutput: ...


class WantsReferenceLogps(Protocol):
    needs_reference_logps: bool


class WantsSlotLogps(Protocol):
    def needs_slot_logps(self, global_step: int) -> bool: ...


class ScoresWithPolicy(Protocol):
    def policy_scoring(self, batch: RolloutBatch) -> ScoringRequest: ...


class ScoresInitialPolicy(Protocol):
    def initial_scoring(
        self, prompt_ids: list[list[int]], rows: list[dict[str, Any]], tokenizer: Any
    ) -> ScoringRequest | None: ...

    def set_initial_scores(self, scores: PolicyScores) -> None: ...


class StatefulEstimator(Protocol):
    def state_dict(self) -> Mapping[str, Any]: ...

    def load_state_dict(self, state: Mapping[str, Any]) -> None: ...


def needs_reference_logps(estimator: AdvantageEstimator | WantsReferenceLogps | None) -> bool:
    """Whether the estimator asks for the policy's and the reference model's per-token log-probs."""
    return bool(getattr(estimator, "needs_reference_logps", False))


def needs_slot_logps(estimator: AdvantageEstimator | WantsSlotLogps | None, global_step: int) -> bool:
    """Whether the estimator asks for the slot token's log-probs at ``global_step``."""
    needs = getattr(estimator, "needs_slot_logps", None)
    return bool(needs(global_step)) if callable(needs) else False


def wants_policy_scores(estimator: AdvantageEstimator | ScoresWithPolicy | None) -> bool:
    """Whether the estimator asks the current policy to score sequences of its own each generation batch."""
    return callable(getattr(estimator, "policy_scoring", None))


def wants_initial_scores(estimator: AdvantageEstimator | ScoresInitialPolicy | None) -> bool:
    """Whether the estimator asks the initial policy to score sequences built from the training dataset."""
    return callable(getattr(estimator, "initial_scoring", None)) and callable(
        getattr(estimator, "set_initial_scores", None)
    )


def refill_settings(estimator: AdvantageEstimator | None) -> GroupRefill | None:
    """How the estimator's dropped groups are replaced; None where they are not (the batch trains smaller)."""
    settings = getattr(estimator, "refill", None)
    return settings if isinstance(settings, GroupRefill) else None


def estimator_state(estimator: AdvantageEstimator | StatefulEstimator | None) -> dict[str, Any]:
    """The estimator's ``state_dict()`` as a dict; {} for one without state."""
    state_dict = getattr(estimator, "state_dict", None)
    return dict(state_dict()) if callable(state_dict) else {}


def loads_state(estimator: AdvantageEstimator | StatefulEstimator | None) -> bool:
    """Whether the estimator takes saved state back (``load_state_dict``)."""
    return callable(getattr(estimator, "load_state_dict", None))


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
