"""The task interface: a source of verifiable prompts with deterministic splits.

Every task yields rows with at least ``prompt`` (a list of chat messages), ``answer`` (the ground truth as a
string) and ``id``. Rows are validated when loaded, so a broken dataset fails before any model is built, with an
error naming the row. A ``checker`` column must name a registered checker: a row's value is data, never resolved as
an import path (that would run arbitrary code, e.g. ``shutil.copyfile``, while grading).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from datasets import Dataset

from rlrewards.rewards.checkers import CHECKERS

REQUIRED_COLUMNS = ("prompt", "answer")
SPLITS = ("train", "validation", "test")


class DatasetRowError(ValueError):
    """A dataset row lacks what training needs; the message names the source and the row."""


class Task(Protocol):
    name: str

    def load_split(self, split: str) -> Dataset: ...

    def check(self, prediction: str | None, answer: str) -> bool: ...


def validate_rows(rows: Iterable[Mapping[str, Any]], source: str) -> None:
    """Raise DatasetRowError for the first row with a missing or empty prompt or answer, or a ``checker`` that is
    not a registered checker name."""
    for index, row in enumerate(rows):
        checker = row.get("checker")
        if checker is not None and not (isinstance(checker, str) and checker in CHECKERS):
            raise DatasetRowError(
                f"{source}: row {index} (id={row.get('id', '?')!r}) names checker {checker!r}, which is not a "
                f"registered checker. Known: {', '.join(CHECKERS.names())}"
            )
        for column in REQUIRED_COLUMNS:
            value = row.get(column)
            if value is None or (isinstance(value, str | list) and len(value) == 0):
                raise DatasetRowError(f"{source}: row {index} (id={row.get('id', '?')!r}) has no '{column}'")
        prompt = row["prompt"]
        if isinstance(prompt, list) and not all(isinstance(m, Mapping) and m.get("content") for m in prompt):
            raise DatasetRowError(f"{source}: row {index} (id={row.get('id', '?')!r}) has an empty prompt message")


def check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"Unknown split '{split}'. Known: {', '.join(SPLITS)}")
