"""The task interface: a source of verifiable prompts with deterministic splits.

Every task yields rows with at least ``prompt`` (a list of chat messages), ``answer`` (the ground truth as a
string) and ``id``. Rows are validated when loaded, so a broken dataset fails before any model is built, with an
error naming the row.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from datasets import Dataset

REQUIRED_COLUMNS = ("prompt", "answer")
SPLITS = ("train", "validation", "test")


class DatasetRowError(ValueError):
    """A dataset row lacks what training needs; the message names the source and the row."""


class Task(Protocol):
    name: str

    def load_split(self, split: str) -> Dataset: ...

    def check(self, prediction: str | None, answer: str) -> bool: ...


def validate_rows(rows: Iterable[Mapping[str, Any]], source: str) -> None:
    """Raise DatasetRowError for the first row with a missing or empty prompt or answer."""
    for index, row in enumerate(rows):
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
