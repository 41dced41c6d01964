"""Recipe ``pure``: process rewards with min-form (or sum-form) credit, through the trainer's advantage hook.

Process reward models implement ``ProcessRewardModel.score(batch) -> list[list[float]]`` (one reward per step):

- ``ArithRulePRM``: checks each written ``a op b = c`` step of the ``arith`` task (and the final answer against the
  last result), +1 / -1, with optional label noise;
- ``HackableArithPRM``: like the rule PRM but pays 0.9 for any self-evident step ("7=7", "12"): a PRM weakness a
  sum-form policy can farm by writing more such steps, while min-form credit has nothing to gain from them;
- ``HFTokenClassificationPRM``: a two-label token-classification model (default ``jinachris/PURE-PRM-7B``) read as
  ``p(correct) - p(incorrect)`` at a ``"\\n"`` placed after each step, with the official input layout (policy
  prompt, then each step without its end token followed by ``"\\n"``), batched, in eval mode.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Any, Protocol

import torch

from rlrewards.algorithms.pure import (
    StepLayout,
    min_form_rewards,
    pure_advantages,
    separator_token_ids,
    split_steps,
)
from rlrewards.registry import Registry
from rlrewards.rewards.checkers import numeric_match
from rlrewards.tasks.formats import get_answer_format
from rlrewards.trainer.hooks import ADVANTAGE_ESTIMATORS, AdvantageOutput, RolloutBatch


@dataclass
class StepBatch:
    """What a PRM sees: per completion its prompt ids, completion ids, step layout and decoded step texts."""

    prompt_ids: list[list[int]]
    completion_ids: list[list[int]]
    step_ends: list[list[int]]
    step_texts: list[list[str]]


class ProcessRewardModel(Protocol):
    def score(self, batch: StepBatch) -> list[list[float]]: ...


PROCESS_REWARD_MODELS: Registry = Registry("process reward model")

_STEP = re.compile(r"^\s*(-?\d+)\s*([+\-*])\s*(-?\d+)\s*=\s*(-?\d+)\s*$")
_TRIVIAL = re.compile(r"^\s*(-?\d+)(\s*=\s*\1)*\s*$")
MAX_STEP_CHARS = 200  # an "a op b = c" step is short; longer text is not one (and int() refuses > 4300 digits)


def _arith_step_correct(text: str, previous_result: int | None) -> tuple[bool | None, int | None]:
    """(is the step right?, its result). None when the step is not an arithmetic step."""
    match = _STEP.match(text) if len(text) <= MAX_STEP_CHARS else None
    if not match:
        return None, previous_result
    a, op, b, c = int(match[1]), match[2], int(match[3]), int(match[4])
    value = a + b if op == "+" else a - b if op == "-" else a * b
    chained = previous_result is None or a == previous_result
    return value == c and chained, c


@PROCESS_REWARD_MODELS.register("arith_rule")
class ArithRulePRM:
    """+1 for a right arithmetic step (and a final answer equal to the last result), -1 otherwise."""

    def __init__(self, answer_format: str = "answer_tag", noise: float = 0.0, seed: int = 0):
        self.format = get_answer_format(answer_format)
        self.noise = float(noise)
        self.rng = random.Random(seed)

    def step_reward(self, text: str, previous: int | None) -> tuple[float, int | None]:
        answer = self.format.extract_answer(text)
        if answer is not None:
            right = previous is not None and numeric_match(answer, str(previous))
            return (1.0 if right else -1.0), previous
        correct, result = _arith_step_correct(text, previous)
        return (1.0 if correct else -1.0), result

    def score(self, batch: StepBatch) -> list[list[float]]:
        scores = []
        for steps in batch.step_texts:
            previous, row = None, []
            for text in steps:
                value, previous = self.step_reward(self._clean(text), previous)
                if self.noise and self.rng.random() < self.noise:
                    value = -value
                row.append(value)
            scores.append(row)
        return scores

    @staticmethod
    def _clean(text: str) -> str:
        return text.replace("<|endoftext|>", "").strip()


@PROCESS_REWARD_MODELS.register("arith_hackable")
class HackableArithPRM(ArithRulePRM):
    """The rule PRM with a blind spot: any self-evident step ("7", "7=7") earns 0.9 and does not break the chain."""

    def step_reward(self, text: str, previous: int | None) -> tuple[float, int | None]:
        if _TRIVIAL.match(text):
            return 0.9, previous
        value, result = super().step_reward(text, previous)
        return (0.5 if value > 0 else -1.0), result


@PROCESS_REWARD_MODELS.register("hf_token_classification")
class HFTokenClassificationPRM:
    """Two-label token-classification PRM: reward ``p(label 1) - p(label 0)`` at the "\\n" after each step.

    The weights load on first use, so building the recipe (config validation, dry runs) downloads nothing.
    """

    def __init__(
        self,
        model: str = "jinachris/PURE-PRM-7B",
        device: str | None = None,
        dtype: str = "bfloat16",
        batch_size: int = 8,
        step_tag: str = "\n",
        model_object: Any = None,
        tokenizer_object: Any = None,
    ):
        if not hasattr(torch, str(dtype)):
            raise ValueError(f"PRM dtype {dtype!r} is not a torch dtype")
        self.name_or_path, self.device, self.dtype, self.step_tag = model, device, str(dtype), step_tag
        self.batch_size = int(batch_size)
        self._model, self._tokenizer = model_object, tokenizer_object
        self._loaded = False

    def _load(self) -> None:
        if self._loaded:
            return
        from transformers import AutoModelForTokenClassification, AutoTokenizer

        if self._tokenizer is None:
            self._tokenizer = AutoTokenizer.from_pretrained(self.name_or_path)
        if self._model is None:
            dtype = getattr(torch, self.dtype)
            self._model = AutoModelForTokenClassification.from_pretrained(self.name_or_path, dtype=dtype)
        if self.device:
            self._model.to(self.device)
        self._model.eval()
        tag_ids = self._tokenizer(self.step_tag, add_special_tokens=False)["input_ids"]
        if len(tag_ids) != 1:
            raise ValueError(f"PRM step tag {self.step_tag!r} must be one token of the PRM tokenizer, got {tag_ids}")
        self._step_tag_id = tag_ids[0]
        pad = self._tokenizer.pad_token_id
        self._pad_id = pad if pad is not None else self._tokenizer.eos_token_id or 0
        self._loaded = True

    @property
    def model(self):
        self._load()
        return self._model

    @property
    def step_tag_id(self) -> int:
        self._load()
        return self._step_tag_id

    @property
    def pad_id(self) -> int:
        self._load()
        return self._pad_id

    def build_inputs(self, prompt: list[int], completion: list[int], ends: list[int]) -> tuple[list[int], list[int]]:
        """Official layout: prompt + for each step its tokens without the end token, then the step tag."""
        ids, positions, start = list(prompt), [], 0
        for end in ends:
            ids.extend(completion[start:end])
            ids.append(self.step_tag_id)
            positions.append(len(ids) - 1)
            start = end + 1
        return ids, positions

    @torch.no_grad()
    def score(self, batch: StepBatch) -> list[list[float]]:
        device = next(self.model.parameters()).device
        built = [self.build_inputs(p, c, e) for p, c, e in zip(batch.prompt_ids, batch.completion_ids, batch.step_ends)]
        scores: list[list[float]] = []
        for start in range(0, len(built), self.batch_size):
            chunk = built[start : start + self.batch_size]
            width = max(len(ids) for ids, _ in chunk)
            input_ids = torch.full((len(chunk), width), self.pad_id, dtype=torch.long)
            attention = torch.zeros((len(chunk), width), dtype=torch.long)
            for row, (ids, _) in enumerate(chunk):  # right padding keeps the positions as built
                input_ids[row, : len(ids)] = torch.tensor(ids)
                attention[row, : len(ids)] = 1
            logits = self.model(input_ids=input_ids.to(device), attention_mask=attention.to(device)).logits.float()
            probs = logits.softmax(dim=-1)
            for row, (_, positions) in enumerate(chunk):
                p = probs[row, positions]
                scores.append((p[:, 1] - p[:, 0]).tolist())
        return scores


def _step_batch(batch: RolloutBatch, layout: StepLayout) -> StepBatch:
    tokenizer = batch.tokenizer
    prompts, completions, ends, texts = [], [], [], []
    for row in range(batch.completion_ids.shape[0]):
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
    return StepBatch(prompts, completions, ends, texts)


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
        step_scores = model.score(_step_batch(batch, layout)) if model is not None else [[] for _ in range(rows)]
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
