"""Multiple-choice tasks on the hub (MedQA-USMLE, MedMCQA, MMLU subsets) with one loader for their three layouts.

- ``options`` as a mapping letter -> text and the answer as a letter (``Neelectric/MedQA-USMLE``: ``options``,
  ``answer_idx``);
- ``options`` as a list and the answer as a 0-based index (``cais/mmlu``: ``choices``, ``answer``);
- one column per option and the answer as an index (``openlifescienceai/medmcqa``: ``opa``..``opd``, ``cop``).

Each row's ``answer`` is a JSON string ``{"correct": letter, "options": {letter: text}}`` graded by the ``choice``
checker, which maps the model's free-text answer to an option (see ``rlrewards.rewards.checkers.choice_match``).
Rows whose label is missing or out of range (MedMCQA's unlabeled test split) fail loading with the row named.
"""

from __future__ import annotations

import json
import string
from dataclasses import dataclass, field
from typing import Any

from datasets import Dataset, concatenate_datasets, load_dataset

from rlrewards.rewards.checkers import choice_match
from rlrewards.tasks.base import DatasetRowError, check_split, validate_rows
from rlrewards.tasks.prompts import resolve_system_prompt

LETTERS = string.ascii_uppercase


@dataclass
class MultipleChoiceTask:
    path: str
    name: str = "medqa"
    config_name: str | None = None
    subsets: list[str] = field(default_factory=list)  # several hub configs concatenated (MMLU-Medical)
    revision: str | None = None
    splits: dict[str, str] = field(default_factory=lambda: {"train": "train", "validation": "test", "test": "test"})
    data_files: dict[str, str] | None = None
    question_field: str = "question"
    options_field: str | None = "options"  # a mapping or a list; None when option_fields is used
    option_fields: list[str] = field(default_factory=list)  # one column per option, in letter order
    answer_field: str = "answer_idx"
    answer_type: str = "letter"  # "letter" or "index" (0-based)
    # {question} and {options}; the default reproduces the official TEMPO MedQA prompt (no separator before options).
    prompt_template: str = "{question}{options}"
    option_template: str = "{letter}: {text}"
    option_separator: str = ", "
    system_prompt: str | None = None
    answer_format: str = "think_answer"
    extra_fields: list[str] = field(default_factory=list)

    def __post_init__(self):
        if self.answer_type not in ("letter", "index"):
            raise ValueError(f"task.answer_type={self.answer_type!r}; expected 'letter' or 'index'")
        if (self.options_field is None) == (not self.option_fields):
            raise ValueError("set exactly one of task.options_field and task.option_fields")
        self.splits = dict(self.splits)
        self.system_message = resolve_system_prompt(self.system_prompt)

    def spec(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "config_name": self.config_name,
            "subsets": list(self.subsets),
            "revision": self.revision,
            "splits": self.splits,
        }

    def _raw_split(self, split: str) -> Dataset:
        if split not in self.splits:
            raise ValueError(f"task {self.name}: no '{split}' split configured (task.splits has {list(self.splits)})")
        if self.data_files:
            return load_dataset("json", data_files=dict(self.data_files), split=self.splits[split])
        if self.subsets:
            parts = [
                load_dataset(self.path, subset, split=self.splits[split], revision=self.revision)
                for subset in self.subsets
            ]
            return concatenate_datasets(parts)
        return load_dataset(self.path, self.config_name, split=self.splits[split], revision=self.revision)

    def _options(self, record: dict[str, Any]) -> dict[str, str]:
        if self.options_field is None:
            values = [record.get(column) for column in self.option_fields]
        else:
            values = record.get(self.options_field)
        if isinstance(values, dict):
            return {str(letter).strip(): str(text) for letter, text in values.items() if text is not None}
        if isinstance(values, list | tuple):
            return {LETTERS[i]: str(text) for i, text in enumerate(values) if text is not None}
        return {}

    def _correct_letter(self, record: dict[str, Any], options: dict[str, str]) -> str | None:
        label = record.get(self.answer_field)
        if self.answer_type == "index":
            try:
                index = int(label)
            except (TypeError, ValueError):
                return None
            letter = LETTERS[index] if 0 <= index < len(LETTERS) else None
        else:
            letter = str(label).strip() if label is not None else None
        return letter if letter in options else None

    def load_split(self, split: str) -> Dataset:
        check_split(split)
        raw = self._raw_split(split)
        source = f"task {self.name} ({self.path}, split {self.splits[split]})"
        rows = []
        for index, record in enumerate(raw):
            options = self._options(record)
            correct = self._correct_letter(record, options)
            if not options or correct is None:
                raise DatasetRowError(
                    f"{source}: row {index} has no usable options or label "
                    f"({self.answer_field}={record.get(self.answer_field)!r}, options={list(options)})"
                )
            listed = self.option_separator.join(
                self.option_template.format(letter=letter, text=text) for letter, text in options.items()
            )
            question = record.get(self.question_field)
            messages = [{"role": "system", "content": self.system_message}] if self.system_message else []
            if question:
                messages.append(
                    {"role": "user", "content": self.prompt_template.format(question=question, options=listed)}
                )
            rows.append(
                {
                    "id": f"{self.name}-{split}-{index}",
                    "prompt": messages if question else [],
                    "answer": json.dumps({"correct": correct, "options": options}),
                    "checker": "choice",
                    **{key: record.get(key) for key in self.extra_fields},
                }
            )
        validate_rows(rows, source=source)
        return Dataset.from_list(rows)

    def check(self, prediction: str | None, answer: str) -> bool:
        return choice_match(prediction, answer)
