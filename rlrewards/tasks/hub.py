"""Tasks backed by datasets on the Hugging Face hub (or local files with the same schema).

``HubMathTask`` reads a problem column and a ground-truth column, extracts the final answer (e.g. the last
``\\boxed{...}`` of a worked solution) and grades with math-verify. The loading code is the real one: tests point
``data_files`` at small fixtures with the hub dataset's schema, so no download is needed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from datasets import Dataset, load_dataset

from rlrewards.rewards.checkers import CHECKERS
from rlrewards.tasks.base import check_split, validate_rows
from rlrewards.tasks.formats import last_boxed
from rlrewards.tasks.prompts import resolve_system_prompt


def _raw(value) -> str | None:
    return str(value).strip() if value is not None else None


def _after_hashes(text) -> str | None:
    """GSM8K: the number after the final ``####``, thousands separators removed."""
    if not isinstance(text, str) or "####" not in text:
        return None
    return text.rsplit("####", 1)[1].strip().replace(",", "") or None


def _aliases(value) -> str | None:
    """A list of accepted answers (TriviaQA aliases) as a JSON list; a single string stays as it is."""
    if isinstance(value, dict):  # TriviaQA's answer struct
        value = [value.get("value"), *(value.get("aliases") or [])]
    if isinstance(value, list | tuple):
        names = [str(v) for v in dict.fromkeys(value) if v]
        return json.dumps(names) if names else None
    return _raw(value)


ANSWER_EXTRACTORS = {"boxed": last_boxed, "raw": _raw, "gsm8k": _after_hashes, "aliases": _aliases}


@dataclass
class HubMathTask:
    path: str
    name: str = "math"
    config_name: str | None = None
    revision: str | None = None
    # split name in this project -> split name in the dataset (or "<split>[:N]" slices)
    splits: dict[str, str] = field(
        default_factory=lambda: {"train": "train", "validation": "test[:200]", "test": "test"}
    )
    data_files: dict[str, str] | None = None  # local files with the hub schema (tests, mirrors)
    problem_field: str = "problem"
    answer_field: str = "solution"
    answer_extractor: str = "boxed"
    answer_format: str = "think_answer"
    prompt_template: str = "{problem}\n\nReason step by step and give the final answer as <answer>...</answer>."
    system_prompt: str | None = None  # a registered name (rlrewards.tasks.prompts) or literal text
    checker: str = "math_verify"  # how completions are graded: a CHECKERS name
    extra_fields: list[str] = field(default_factory=list)

    def __post_init__(self):
        if self.answer_extractor not in ANSWER_EXTRACTORS:
            raise ValueError(f"task.answer_extractor={self.answer_extractor!r}. Known: {', '.join(ANSWER_EXTRACTORS)}")
        try:
            CHECKERS.get(self.checker)
        except KeyError as err:
            raise ValueError(f"task.checker: {err.args[0]}") from None
        self.splits = dict(self.splits)
        self.system_message = resolve_system_prompt(self.system_prompt)

    def spec(self) -> dict[str, Any]:
        return {"path": self.path, "config_name": self.config_name, "revision": self.revision, "splits": self.splits}

    def _raw_split(self, split: str) -> Dataset:
        if split not in self.splits:
            raise ValueError(f"task {self.name}: no '{split}' split configured (task.splits has {list(self.splits)})")
        if self.data_files:
            return load_dataset("json", data_files=dict(self.data_files), split=self.splits[split])
        return load_dataset(self.path, self.config_name, split=self.splits[split], revision=self.revision)

    def load_split(self, split: str) -> Dataset:
        check_split(split)
        raw = self._raw_split(split)
        extract = ANSWER_EXTRACTORS[self.answer_extractor]
        rows = []
        for index, record in enumerate(raw):
            problem, reference = record.get(self.problem_field), record.get(self.answer_field)
            messages = [{"role": "system", "content": self.system_message}] if self.system_message else []
            messages.append({"role": "user", "content": self.prompt_template.format(problem=problem)})
            rows.append(
                {
                    "id": f"{self.name}-{split}-{index}",
                    "prompt": messages if problem else [],
                    "answer": extract(reference) if reference is not None else None,
                    "checker": self.checker,
                    **{key: record.get(key) for key in self.extra_fields},
                }
            )
        validate_rows(rows, source=f"task {self.name} ({self.path}, split {self.splits[split]})")
        return Dataset.from_list(rows)

    def check(self, prediction: str | None, answer: str) -> bool:
        return bool(CHECKERS.get(self.checker)(prediction, answer))
