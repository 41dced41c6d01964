"""Tasks backed by datasets on the Hugging Face hub (or local files with the same schema).

``HubMathTask`` reads a problem column and a ground-truth column, extracts the final answer (e.g. the last
``\\boxed{...}`` of a worked solution) and grades with math-verify. The loading code is the real one: tests point
``data_files`` at small fixtures with the hub dataset's schema, so no download is needed.

Field names may reach into struct columns (``extra_info.question``, as in verl-format parquet files). With
``visible_answer_fraction`` set, every row gets a boolean ``ground_truth_visible`` column: true for a seeded random
subset of exactly ``round(fraction * rows)`` rows. The answer stays in every row (evaluation needs it); rewards that
honour the column (``visible_accuracy``) score only the visible rows, e.g. PURE's PRM+VR runs, where a verifier sees
the ground truth of 10% of the prompts.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from datasets import Dataset, load_dataset

from rlrewards.rewards.checkers import get_checker
from rlrewards.tasks.base import DatasetRowError, check_split, validate_rows
from rlrewards.tasks.formats import last_boxed
from rlrewards.tasks.prompts import resolve_system_prompt

log = logging.getLogger(__name__)

VISIBLE_COLUMN = "ground_truth_visible"
# what a split_sources entry may set (the rest of a task is shared by all its splits)
SOURCE_KEYS = (
    "path", "config_name", "revision", "data_dir", "hub_files", "data_files", "problem_field", "answer_field"
)  # fmt: skip


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


def field_value(record: Mapping[str, Any], key: str) -> Any:
    """``record[key]``; a dotted key that is not a column walks into struct columns (``extra_info.question``) and,
    by a number, into list columns (``turns.0``: LiveBench's first turn). None when any part is missing."""
    if key in record:
        return record[key]
    value: Any = record
    for part in key.split("."):
        if isinstance(value, list | tuple) and part.isdigit():
            value = value[int(part)] if int(part) < len(value) else None
        elif isinstance(value, Mapping) and part in value:
            value = value[part]
        else:
            return None
    return value


def visible_mask(num_rows: int, fraction: float, seed: int) -> list[bool]:
    """Exactly ``round(fraction * num_rows)`` True entries at positions drawn by ``random.Random(seed)``."""
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"visible_answer_fraction must be in [0, 1], got {fraction}")
    chosen = set(random.Random(seed).sample(range(num_rows), round(fraction * num_rows)))
    return [index in chosen for index in range(num_rows)]


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
    data_dir: str | None = None  # a folder of the hub repository holding the split files (load_dataset's data_dir)
    # files of the hub repository named as splits (load_dataset's data_files on the hub): {"gpqa_diamond":
    # "gpqa_diamond_Avg4.parquet"} makes "gpqa_diamond" a split ``splits`` can name; one repository holding several
    # benchmarks as loose files (openbmb/RLPR-Evaluation). Local ``data_files`` (fixtures) take precedence.
    hub_files: dict[str, str] | None = None
    problem_field: str = "problem"
    answer_field: str = "solution"
    answer_extractor: str = "boxed"
    answer_format: str = "think_answer"
    prompt_template: str = "{problem}\n\nReason step by step and give the final answer as <answer>...</answer>."
    system_prompt: str | None = None  # a registered name (rlrewards.tasks.prompts) or literal text
    checker: str = "math_verify"  # how completions are graded: a registered CHECKERS name (no import paths)
    # Rows graded otherwise, chosen by a column: {field: subtask, contains: {amps_hard: <checker>}} gives a row whose
    # ``subtask`` contains "amps_hard" that checker (the first matching entry); the other rows keep ``checker``.
    checker_by_field: dict[str, Any] | None = None
    extra_fields: list[str] = field(default_factory=list)  # copied as is; "a.b" becomes column "b"
    # A column that already holds the prompt as chat messages (verl parquets: RLPR's data): used as is, without
    # system_prompt or prompt_template; rows without it (e.g. from split_sources) are built from problem_field.
    messages_field: str | None = None
    # None: no ground_truth_visible column. A fraction: that share of the rows is marked visible (seeded, exact count).
    visible_answer_fraction: float | None = None
    visible_answer_seed: int = 0
    drop_unanswered: bool = False  # skip (and log) rows without a ground truth instead of failing on the first
    # project split -> another dataset it is drawn from (held-out problems the training set lacks): {path, and
    # optionally config_name, revision, data_dir, data_files, problem_field, answer_field}; ``splits`` then names the
    # split of that dataset. Prompt, checker and extractor stay this task's; data_files is never inherited.
    split_sources: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self):
        if self.answer_extractor not in ANSWER_EXTRACTORS:
            raise ValueError(f"task.answer_extractor={self.answer_extractor!r}. Known: {', '.join(ANSWER_EXTRACTORS)}")
        self.checker_by_field = _checked_rule(self.checker_by_field)
        for key, name in [("checker", self.checker), *_rule_checkers(self.checker_by_field)]:
            try:
                get_checker(name)
            except KeyError as err:
                raise ValueError(f"task.{key}: {err.args[0]}") from None
        if self.visible_answer_fraction is not None and not 0.0 <= float(self.visible_answer_fraction) <= 1.0:
            raise ValueError(f"task.visible_answer_fraction={self.visible_answer_fraction} must be in [0, 1] or null")
        self.splits = dict(self.splits)
        self.split_sources = {split: dict(source) for split, source in (self.split_sources or {}).items()}
        for split, source in self.split_sources.items():
            unknown = set(source) - set(SOURCE_KEYS)
            if "path" not in source or unknown:
                raise ValueError(
                    f"task.split_sources.{split} needs a path and takes only {', '.join(SOURCE_KEYS)} "
                    f"(got {sorted(source)})"
                )
        self.system_message = resolve_system_prompt(self.system_prompt)

    def spec(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "config_name": self.config_name,
            "data_dir": self.data_dir,
            "hub_files": self.hub_files,
            "revision": self.revision,
            "splits": self.splits,
            "split_sources": self.split_sources,
        }

    def source(self, split: str) -> dict[str, Any]:
        """Where ``split`` comes from: this task's dataset, or its ``split_sources`` entry over this task's keys."""
        own = {key: getattr(self, key) for key in SOURCE_KEYS}
        if split not in self.split_sources:
            return own
        return {**own, "data_files": None, "hub_files": None, **self.split_sources[split]}

    def _raw_split(self, split: str) -> Dataset:
        if split not in self.splits:
            raise ValueError(f"task {self.name}: no '{split}' split configured (task.splits has {list(self.splits)})")
        source = self.source(split)
        if source["data_files"]:
            return load_dataset("json", data_files=dict(source["data_files"]), split=self.splits[split])
        return load_dataset(
            source["path"],
            source["config_name"],
            data_dir=source["data_dir"],
            data_files=dict(source["hub_files"]) if source["hub_files"] else None,
            split=self.splits[split],
            revision=source["revision"],
        )

    def load_split(self, split: str) -> Dataset:
        check_split(split)
        raw, fields = self._raw_split(split), self.source(split)
        source = f"task {self.name} ({fields['path']}, split {self.splits[split]})"
        rows = []
        for index, record in enumerate(raw):
            problem = field_value(record, fields["problem_field"])
            messages = self._messages(record, problem)
            try:
                answer = self.reference_answer(record, fields)
            except ValueError as err:
                raise DatasetRowError(f"{source}: row {index}: {err}") from None
            rows.append(
                {
                    "id": f"{self.name}-{split}-{index}",
                    "prompt": messages,
                    "answer": answer,
                    "checker": self.row_checker(record),
                    **{key.rsplit(".", 1)[-1]: field_value(record, key) for key in self.extra_fields},
                }
            )
        self._check_rule_field(raw, source)
        if self.drop_unanswered:
            kept = [row for row in rows if row["answer"] not in (None, "")]
            if len(kept) < len(rows):
                dropped = [row["id"] for row in rows if row["answer"] in (None, "")]
                log.warning("%s: dropped %d rows without a ground truth: %s", source, len(dropped), dropped[:10])
            rows = kept
        validate_rows(rows, source=source)
        if self.visible_answer_fraction is not None:
            mask = visible_mask(len(rows), float(self.visible_answer_fraction), int(self.visible_answer_seed))
            for row, visible in zip(rows, mask):
                row[VISIBLE_COLUMN] = visible
        return Dataset.from_list(rows)

    def reference_answer(self, record: Mapping[str, Any], fields: Mapping[str, Any]) -> str | None:
        """A row's ground truth: ``answer_extractor`` on its ``answer_field`` (None when the row has none). A
        ValueError here is a broken row, reported with its index."""
        reference = field_value(record, fields["answer_field"])
        return ANSWER_EXTRACTORS[self.answer_extractor](reference) if reference is not None else None

    def _messages(self, record: Mapping[str, Any], problem: Any) -> list[dict[str, str]]:
        """The row's prompt: its own chat messages (``messages_field``) or the system prompt and the template."""
        given = field_value(record, self.messages_field) if self.messages_field else None
        if given:
            return [{"role": str(m["role"]), "content": str(m["content"])} for m in given]
        if not problem:
            return []
        messages = [{"role": "system", "content": self.system_message}] if self.system_message else []
        return [*messages, {"role": "user", "content": self.prompt_template.format(problem=problem)}]

    def row_checker(self, record: Mapping[str, Any]) -> str:
        """The checker of one raw row: the first ``checker_by_field`` entry its field contains, else ``checker``."""
        rule = self.checker_by_field
        if rule:
            value = field_value(record, rule["field"])
            for part, name in rule["contains"].items():
                if isinstance(value, str) and part in value:
                    return name
        return self.checker

    def _check_rule_field(self, raw: Dataset, source: str) -> None:
        """A ``checker_by_field`` column that no row has is a misspelling, not data: refuse it, naming the key."""
        rule = self.checker_by_field
        if rule and len(raw) and all(field_value(record, rule["field"]) is None for record in raw):
            raise ValueError(
                f"{source}: task.checker_by_field.field={rule['field']!r} is in no row (columns: {raw.column_names})"
            )

    def check(self, prediction: str | None, answer: str) -> bool:
        """``checker`` on one answer (rows carry their own, ``row_checker``, which ``checker_by_field`` may change)."""
        return bool(get_checker(self.checker)(prediction, answer))


def _checked_rule(rule: Any) -> dict[str, Any] | None:
    if rule is None:
        return None
    well_formed = (
        isinstance(rule, Mapping)
        and set(rule) == {"field", "contains"}
        and isinstance(rule["field"], str)
        and isinstance(rule["contains"], Mapping)
        and len(rule["contains"]) > 0
    )
    if not well_formed:
        raise ValueError(
            "task.checker_by_field takes {field: <column>, contains: {<substring>: <checker>, ...}} (at least one "
            f"entry), got {rule!r}"
        )
    return {"field": rule["field"], "contains": {str(part): str(name) for part, name in rule["contains"].items()}}


def _rule_checkers(rule: dict[str, Any] | None) -> list[tuple[str, str]]:
    return [(f"checker_by_field.contains.{part}", name) for part, name in (rule or {}).get("contains", {}).items()]
