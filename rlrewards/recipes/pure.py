"""Recipe ``pure``: process rewards with min-form (or sum-form) credit, through the trainer's advantage hook.

The process reward models live in ``rlrewards.recipes.pure_prm`` (re-exported here). The estimator sees the
generation batch gathered over all processes; each process scores only the rows it generated (a PRM forward is
the costly part: 8 processes scoring every row would do 8x the work) and the scores are gathered back, so every
process ends with the same step rewards and advantages.
"""

from __future__ import annotations

import random
from typing import Any

import torch

from rlrewards.algorithms.pure import (
    StepLayout,
    min_form_rewards,
    pure_advantages,
    separator_token_ids,
    split_steps,
)
from rlrewards.recipes.pure_prm import (  # noqa: F401 - re-exported: the PRMs' public names
    PROCESS_REWARD_MODELS,
    ArithRulePRM,
    HackableArithPRM,
    HFTokenClassificationPRM,
    ProcessRewardModel,
    StepBatch,
)
from rlrewards.trainer.hooks import ADVANTAGE_ESTIMATORS, AdvantageOutput, RolloutBatch


def _step_batch(batch: RolloutBatch, layout: StepLayout, rows: list[int]) -> StepBatch:
    tokenizer = batch.tokenizer
    prompts, completions, ends, texts = [], [], [], []
    for row in rows:
        length = int(layout.lengths[row])
        completion = batch.completion_ids[row, :length].tolist()
        row_ends = [int(e) for e in layout.ends[row][layout.mask[row]].tolist()]
        starts = [0] + [e + 1 for e in row_ends[:-1]]
        texts.append(
            [tokenizer.decode(completion[s : e + 1], skip_special_tokens=False) for s, e in zip(starts, row_ends)]
        )
        prompt = batch.prompt_ids[row][batch.prompt_mask[row].bool()].tolist() if batch.prompt_ids is not None else []
        prompts.append(prompt)
        completions.append(completion)
        ends.append(row_ends)
    return StepBatch(prompts, completions, ends, texts, rows=list(rows))


def _score_rows(model: ProcessRewardModel, batch: RolloutBatch, layout: StepLayout) -> list[list[float]]:
    """Step rewards of every gathered row: this process scores its own rows, the processes exchange the scores."""
    total = batch.completion_ids.shape[0]
    if batch.local_rows is None or batch.gather_object is None:  # one process: every row is local
        return model.score(_step_batch(batch, layout, list(range(total))))
    rows = [int(r) for r in batch.local_rows.tolist()]
    local = model.score(_step_batch(batch, layout, rows))
    scores: list[list[float] | None] = [None] * total
    for row, values in batch.gather_object(list(zip(rows, local))):
        scores[row] = values
    missing = [row for row, values in enumerate(scores) if values is None]
    if missing:
        raise RuntimeError(f"PURE: no process scored rows {missing[:10]} of the gathered batch")
    return scores


@ADVANTAGE_ESTIMATORS.register("pure")
def pure_estimator(
    prm: dict | None = None,
    credit: str = "min",
    temperature: float = 0.1,
    verifiable_reward: str | None = None,
    vr_fraction: float | None = 0.0,
    verifiable_coef: float = 1.0,
    mask_step_ends: bool = True,
    whiten: bool = True,
    seed: int = 0,
    kl_coef: float = 0.0,
):
    """PURE advantages from ``prm = {name, kwargs}``; ``verifiable_reward`` names the reward function whose 0/1
    score is the verifier (e.g. ``accuracy``), used for ``vr_fraction`` of the groups drawn each step, or, with
    ``vr_fraction: null``, wherever the verifier scored (the official data keeps the ground truth of a fixed 10% of
    prompts: ``visible_accuracy`` scores None on the others). ``kl_coef``: the per-token KL penalty in the reward
    (1e-3 in the paper), against a reference model the trainer keeps for it. ``prm: null``: no process reward, the
    verifiable reward alone (the paper's PURE-VR: RLOO on the last token, KL in the reward, whitening)."""
    model: ProcessRewardModel | None = None
    if prm is not None:
        spec = dict(prm)
        model = PROCESS_REWARD_MODELS.get(spec["name"])(**dict(spec.get("kwargs") or {}))
    elif verifiable_reward is None:
        raise ValueError("recipe.advantage.kwargs: prm and verifiable_reward are both null; PURE needs a reward")
    state: dict[str, Any] = {"separators": None}
    rng = random.Random(seed)

    def estimate(batch: RolloutBatch) -> AdvantageOutput:
        if state["separators"] is None:
            state["separators"] = separator_token_ids(batch.tokenizer)
        layout = split_steps(batch.completion_ids, batch.completion_mask, state["separators"])
        rows = batch.completion_ids.shape[0]
        step_scores = _score_rows(model, batch, layout) if model is not None else [[] for _ in range(rows)]
        step_rewards = torch.zeros(layout.mask.shape, dtype=torch.float32)
        for row, values in enumerate(step_scores):
            values = [v if v == v else 0.0 for v in values[: layout.mask.shape[1]]]  # NaN-safe
            step_rewards[row, : len(values)] = torch.tensor(values, dtype=torch.float32)
        verifiable = None
        solved = None
        if verifiable_reward is not None:
            column = batch.reward_names.index(verifiable_reward)
            scores = batch.rewards_per_func[:, column].float()
            solved = torch.nan_to_num(scores, nan=0.0)
            if vr_fraction is None:  # the verifier itself scores None (NaN) where the prompt's answer is hidden
                verifiable = scores
            else:
                groups = batch.completion_ids.shape[0] // batch.group_size
                with_truth = torch.tensor([rng.random() < vr_fraction for _ in range(groups)])
                verifiable = torch.where(with_truth.repeat_interleave(batch.group_size), solved, torch.nan)
        kl = None
        if kl_coef != 0.0:  # k1 estimate of the sampled tokens, as OpenRLHF's compute_reward
            kl = (batch.policy_logps - batch.ref_logps)[:, : batch.completion_mask.shape[1]]
        advantages = pure_advantages(
            step_rewards.to(batch.completion_mask.device),
            layout,
            batch.completion_mask,
            batch.group_size,
            credit=credit,
            temperature=temperature,
            verifiable=verifiable,
            verifiable_coef=verifiable_coef,
            mask_step_ends=mask_step_ends,
            whiten=whiten,
            kl=kl,
            kl_coef=kl_coef,
        )
        metrics = _metrics(step_rewards, layout, solved, credit, temperature)
        if kl is not None:
            valid = batch.completion_mask.bool()
            metrics["pure/kl_per_token"] = float(kl[valid].float().mean()) if valid.any() else 0.0
        return AdvantageOutput(advantages, metrics)

    estimate.needs_reference_logps = kl_coef != 0.0
    return estimate


def _metrics(step_rewards, layout: StepLayout, solved, credit: str, temperature: float) -> dict[str, float]:
    mask = layout.mask
    steps = mask.sum(dim=1).float()
    valid = step_rewards[mask]
    row_min = step_rewards.masked_fill(~mask, float("inf")).min(dim=1).values
    row_min = torch.where(torch.isfinite(row_min), row_min, torch.zeros_like(row_min))
    metrics = {
        "pure/step_reward_mean": float(valid.mean()) if valid.numel() else 0.0,
        "pure/step_reward_min": float(row_min.mean()),
        "pure/num_steps": float(steps.mean()),
        "pure/single_step_frac": float((steps <= 1).float().mean()),
        "pure/empty_frac": float((layout.lengths <= 1).float().mean()),
    }
    if solved is not None:
        transformed = min_form_rewards(step_rewards, mask, temperature) if credit == "min" else step_rewards
        agree = ((transformed.sum(dim=1) > 0).float() == (solved > 0.5).float()).float().mean()
        metrics["pure/prm_verifier_agreement"] = float(agree)
    return metrics
