"""Reward functions: the TRL contract, a registry, and a wrapper that makes them safe on model output.

Contract (TRL): ``fn(prompts, completions, completion_ids, **dataset_columns, **kwargs) -> list[float | None]``,
one value per completion; ``None`` means "does not apply to this row" and is ignored by the group statistics.

Config (``recipe.rewards``) maps a metric name to ``{fn: <registry name or dotted path>, weight: w, kwargs: {...}}``.
The metric name is what TRL logs (``rewards/<name>/mean``), so it stays stable when the function behind it changes.
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from rlrewards.registry import RECIPE_MODULES, Registry
from rlrewards.rewards.checkers import get_checker
from rlrewards.tasks.formats import get_answer_format

log = logging.getLogger(__name__)

RewardFn = Callable[..., list[float | None]]
REWARDS: Registry[RewardFn] = Registry("reward function", autoload=RECIPE_MODULES)


def completion_text(completion: Any) -> str:
    """The text of a completion, whether TRL hands it over as a string or as chat messages."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, Sequence) and completion and isinstance(completion[-1], Mapping):
        content = completion[-1].get("content", "")
        return content if isinstance(content, str) else ""
    return ""


class SafeReward:
    """Wraps a reward function so model output can never make it raise or return NaN.

    A batch call that raises is retried row by row; a row that still raises, or returns NaN/inf or a non-number,
    scores ``invalid_score`` and is counted in ``rewards/<name>/invalid_frac``.
    """

    def __init__(self, name: str, fn: RewardFn, kwargs: Mapping[str, Any] | None = None, invalid_score: float = 0.0):
        self.__name__ = name  # TRL names its metrics after this
        self.name = name
        self.fn = functools.partial(fn, **dict(kwargs or {}))
        self.invalid_score = invalid_score

    def __call__(self, prompts, completions, completion_ids=None, **kwargs) -> list[float | None]:
        n = len(completions)
        try:
            raw = list(self.fn(prompts=prompts, completions=completions, completion_ids=completion_ids, **kwargs))
            if len(raw) != n:
                raise ValueError(f"returned {len(raw)} rewards for {n} completions")
        except Exception as err:  # noqa: BLE001 - fall back row by row to isolate the culprit
            log.warning("reward '%s' raised on a batch (%s); scoring row by row", self.name, err)
            raw = [self._score_row(i, prompts, completions, completion_ids, kwargs) for i in range(n)]
        cleaned = [self._clean(value) for value in raw]
        invalid = sum(1 for value in raw if value is not None and not _is_valid_score(value))
        log_metric = kwargs.get("log_metric")
        if callable(log_metric):
            log_metric(f"rewards/{self.name}/invalid_frac", invalid / max(n, 1))
        return cleaned

    def _score_row(self, i, prompts, completions, completion_ids, kwargs) -> float | None:
        row_kwargs = {k: [v[i]] if isinstance(v, list) and len(v) == len(completions) else v for k, v in kwargs.items()}
        row_kwargs.pop("log_metric", None)
        try:
            ids = [completion_ids[i]] if completion_ids is not None else None
            (value,) = self.fn(prompts=[prompts[i]], completions=[completions[i]], completion_ids=ids, **row_kwargs)
            return value
        except Exception as err:  # noqa: BLE001 - untrusted output: score it, never propagate
            log.warning("reward '%s' raised on row %d: %r", self.name, i, err)
            return math.nan

    def _clean(self, value: Any) -> float | None:
        if value is None:
            return None
        return float(value) if _is_valid_score(value) else self.invalid_score


def _is_valid_score(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


def build_reward_functions(spec: Mapping[str, Mapping[str, Any]]) -> tuple[list[SafeReward], list[float]]:
    """``recipe.rewards`` -> (wrapped functions, weights), in config order. Unknown names fail here, early."""
    if not spec:
        raise ValueError("recipe.rewards is empty: a recipe needs at least one reward function")
    functions, weights = [], []
    for name, entry in spec.items():
        if entry is None:  # `recipe.rewards.<name>=null` switches a reward of the recipe off
            continue
        if not isinstance(entry, Mapping) or "fn" not in entry:
            raise ValueError(f"recipe.rewards.{name} must be a mapping with 'fn' (and optional 'weight', 'kwargs')")
        try:
            fn = REWARDS.get(str(entry["fn"]))
        except KeyError as err:
            raise ValueError(f"recipe.rewards.{name}.fn: {err.args[0]}") from None
        weight = float(entry.get("weight", 1.0))
        if not math.isfinite(weight):
            raise ValueError(f"recipe.rewards.{name}.weight must be finite, got {weight}")
        functions.append(SafeReward(name, fn, entry.get("kwargs") or {}))
        weights.append(weight)
    if not functions:
        raise ValueError("recipe.rewards switches every reward off: a recipe needs at least one reward function")
    return functions, weights


def _column(kwargs: Mapping[str, Any], name: str, n: int, default: Any) -> list[Any]:
    values = kwargs.get(name)
    return list(values) if isinstance(values, list) and len(values) == n else [default] * n


@REWARDS.register("accuracy")
def accuracy_reward(
    prompts, completions, answer, answer_format: str = "answer_tag", format_gated: bool = False, **kwargs
) -> list[float]:
    """1.0 when the last ``<answer>`` matches the row's ground truth under the row's checker, else 0.0.

    The row's ``checker`` column names the checker (``numeric`` by default). Completions with no answer tag score
    0 and are counted in ``rewards/accuracy/no_answer_frac``. ``format_gated``: malformed completions score 0 even
    with a right answer (RLCR's official accuracy reward). A completion the checker could not grade (None) is NaN
    here, which ``SafeReward`` scores 0 and counts in ``rewards/accuracy/invalid_frac``.
    """
    fmt = get_answer_format(answer_format)
    correct = grade_completions(completions, answer, kwargs, fmt)
    scores = [math.nan if c is None else float(c) for c in correct]
    if format_gated:
        scores = [score if fmt.is_well_formed(completion_text(c)) else 0.0 for score, c in zip(scores, completions)]
    missing = sum(fmt.extract_answer(completion_text(c)) is None for c in completions)
    log_metric = kwargs.get("log_metric")
    if callable(log_metric):
        log_metric("rewards/accuracy/no_answer_frac", missing / max(len(completions), 1))
    return scores


@REWARDS.register("visible_accuracy")
def visible_accuracy_reward(
    prompts, completions, answer, answer_format: str = "answer_tag", format_gated: bool = False, **kwargs
) -> list[float | None]:
    """``accuracy`` for rows whose ``ground_truth_visible`` column is true, None ("no ground truth") for the rest.

    Rows without the column, or with a null in it, count as visible. Hidden rows are not graded; TRL turns their
    None into NaN, which estimators read as "this prompt carries no ground truth" (PURE's PRM+VR runs).
    """
    n = len(completions)
    visible = [flag is None or bool(flag) for flag in _column(kwargs, "ground_truth_visible", n, None)]
    rows = [i for i, flag in enumerate(visible) if flag]
    scores: list[float | None] = [None] * n
    if not rows:
        return scores
    row_kwargs = {
        key: [value[i] for i in rows] if isinstance(value, list) and len(value) == n else value
        for key, value in kwargs.items()
        if key not in ("log_metric", "ground_truth_visible")
    }
    graded = accuracy_reward(
        [prompts[i] for i in rows] if isinstance(prompts, list) and len(prompts) == n else prompts,
        [completions[i] for i in rows],
        [answer[i] for i in rows],
        answer_format=answer_format,
        format_gated=format_gated,
        **row_kwargs,
    )
    for i, score in zip(rows, graded):
        scores[i] = score
    return scores


def grade_completions(completions, answer, kwargs: Mapping[str, Any], fmt) -> list[bool | None]:
    """Whether each completion's extracted answer matches its row's ground truth under the row's checker; None
    where the checker could not grade it. An unregistered checker name raises KeyError (never imported)."""
    checkers = _column(kwargs, "checker", len(completions), "numeric")
    graded = []
    for completion, gold, checker in zip(completions, answer, checkers):
        verdict = get_checker(checker)(fmt.extract_answer(completion_text(completion)), gold)
        graded.append(None if verdict is None else bool(verdict))
    return graded


@REWARDS.register("format")
def format_reward(prompts, completions, answer_format: str = "answer_tag", **kwargs) -> list[float]:
    """1.0 when the completion is well formed for the recipe's answer format, else 0.0."""
    fmt = get_answer_format(answer_format)
    return [float(fmt.is_well_formed(completion_text(c))) for c in completions]
