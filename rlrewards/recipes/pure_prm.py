"""PURE's process reward models: ``ProcessRewardModel.score(batch) -> list[list[float]]`` (one reward per step).

- ``ArithRulePRM``: checks each written ``a op b = c`` step of the ``arith`` task (and the final answer against the
  last result), +1 / -1, with optional label noise;
- ``HackableArithPRM``: like the rule PRM but pays 0.9 for any self-evident step ("7=7", "12"): a PRM weakness a
  sum-form policy can farm by writing more such steps, while min-form credit has nothing to gain from them;
- ``HFTokenClassificationPRM``: a two-label token-classification model (default ``jinachris/PURE-PRM-7B``) read as
  ``p(correct) - p(incorrect)`` at a ``"\\n"`` placed after each step, with the official input layout (policy
  prompt, then each step without its end token followed by ``"\\n"``), batched, in eval mode.

A PRM scores the rows it is given; the estimator (``rlrewards.recipes.pure``) hands each process only its own rows
and gathers the scores, so a PRM must not depend on which other rows share its batch (the noisy rule PRM draws its
noise per global row for that reason).
"""

from __future__ import annotations

import contextlib
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch

from rlrewards.registry import Registry
from rlrewards.rewards.checkers import numeric_match
from rlrewards.tasks.formats import get_answer_format
from rlrewards.utils.padding import pad_token_rows


@dataclass
class StepBatch:
    """What a PRM sees: per completion its prompt ids, completion ids, step layout and decoded step texts, and
    its row in the gathered generation batch (None: rows 0..n-1)."""

    prompt_ids: list[list[int]]
    completion_ids: list[list[int]]
    step_ends: list[list[int]]
    step_texts: list[list[str]]
    rows: list[int] | None = field(default=None)

    def row_ids(self) -> list[int]:
        return list(self.rows) if self.rows is not None else list(range(len(self.step_texts)))


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
        self.seed = seed
        self._calls = 0

    def step_reward(self, text: str, previous: int | None) -> tuple[float, int | None]:
        answer = self.format.extract_answer(text)
        if answer is not None:
            right = previous is not None and numeric_match(answer, str(previous))
            return (1.0 if right else -1.0), previous
        correct, result = _arith_step_correct(text, previous)
        return (1.0 if correct else -1.0), result

    def score(self, batch: StepBatch) -> list[list[float]]:
        self._calls += 1
        scores = []
        for row_id, steps in zip(batch.row_ids(), batch.step_texts):
            # noise drawn per (call, global row): the same flips whichever process scores the row
            rng = random.Random(f"{self.seed}/{self._calls}/{row_id}")
            previous, row = None, []
            for text in steps:
                value, previous = self.step_reward(self._clean(text), previous)
                if self.noise and rng.random() < self.noise:
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


@contextlib.contextmanager
def outside_zero3_init() -> Iterator[None]:
    """Hide the trainer's DeepSpeed config from transformers while a model loads, so that ``from_pretrained``
    builds whole parameters on this process rather than ZeRO-3 partitions; restored on exit."""
    import transformers.integrations.deepspeed as hf_deepspeed

    saved = hf_deepspeed._hf_deepspeed_config_weak_ref
    hf_deepspeed.unset_hf_deepspeed_config()
    try:
        yield
    finally:
        hf_deepspeed._hf_deepspeed_config_weak_ref = saved


@PROCESS_REWARD_MODELS.register("hf_token_classification")
class HFTokenClassificationPRM:
    """Two-label token-classification PRM: reward ``p(label 1) - p(label 0)`` at the "\\n" after each step.

    The weights load on first use, so building the recipe (config validation, dry runs) downloads nothing. By
    then the trainer's arguments have registered a DeepSpeed config; under ZeRO-3, transformers would build the
    PRM inside ``deepspeed.zero.Init`` (parameters partitioned over the processes, usable only through a DeepSpeed
    engine). The PRM is loaded outside that context instead: a full copy per process, like the official runs
    (OpenRLHF's own PRM actor), and a forward that needs no collective, so processes may score different numbers
    of rows (TRL's alternative, a ZeRO-3 inference engine, gathers the weights in every forward on every process).
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
            with outside_zero3_init():
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
            # right padding keeps the positions as built
            input_ids, attention = pad_token_rows([ids for ids, _ in chunk], self.pad_id)
            logits = self.model(input_ids=input_ids.to(device), attention_mask=attention.to(device)).logits.float()
            probs = logits.softmax(dim=-1)
            for row, (_, positions) in enumerate(chunk):
                p = probs[row, positions]
                scores.append((p[:, 1] - p[:, 0]).tolist())
        return scores
