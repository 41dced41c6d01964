"""Recipe ``rlcr`` (and its baseline ``rlvr``): calibration rewards on verbalized confidence.

Rewards (TRL contract, registered by name): ``format`` and ``accuracy`` come from ``rlrewards.rewards.core`` with
the ``tabc`` answer format (accuracy format-gated); this module adds ``brier`` (format-gated ``1 - (q - c)^2``) and
``rlcr_single`` (the paper's ``c - (q - c)^2``). ``brier`` also logs, per step on its batch, the calibration of the
stated confidences: mean confidence, ECE, Brier score, AUROC and the format-failure rate (``rlcr/*``). With
several processes each logs its local part of the generation batch and the logger averages them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from rlrewards.algorithms.rlcr import brier_reward, parse_confidence, rlcr_reward
from rlrewards.eval.metrics import auroc, brier_score, expected_calibration_error
from rlrewards.rewards.core import REWARDS, completion_text, grade_completions
from rlrewards.tasks.formats import get_answer_format
from rlrewards.tasks.prompts import SYSTEM_PROMPTS

# The paper's reward spans [-1, 1]; a malformed completion gets its floor, so it is never better than a stated answer.
MALFORMED_RLCR_SCORE = -1.0


def _graded(completions, answer, answer_format: str, kwargs: Mapping[str, Any]):
    fmt = get_answer_format(answer_format)
    texts = [completion_text(c) for c in completions]
    well_formed = [fmt.is_well_formed(t) for t in texts]
    confidences = [parse_confidence(t) for t in texts]
    correct = grade_completions(completions, answer, kwargs, fmt)
    return well_formed, confidences, correct


def _score(value, ok: bool, q: float | None, c: bool | None, malformed: float) -> float:
    """``value(c, q)`` for a well-formed completion with a valid confidence, ``malformed`` otherwise; NaN (scored
    as invalid and counted by ``SafeReward``) when the checker could not grade a well-formed one."""
    if not ok or q is None:
        return malformed
    return math.nan if c is None else value(c, q)


def _log_calibration(kwargs: Mapping[str, Any], well_formed, confidences, correct) -> None:
    log_metric = kwargs.get("log_metric")
    if not callable(log_metric) or not correct:
        return
    stated = [(q, c) for ok, q, c in zip(well_formed, confidences, correct) if ok]
    log_metric("rlcr/format_failure_rate", 1.0 - len(stated) / len(correct))
    stated = [(q, c) for q, c in stated if c is not None]  # calibration needs a verdict
    if stated:
        qs, cs = [q for q, _ in stated], [c for _, c in stated]
        log_metric("rlcr/mean_confidence", sum(qs) / len(qs))
        log_metric("rlcr/ece", expected_calibration_error(qs, cs))
        log_metric("rlcr/brier", brier_score(qs, cs))
        log_metric("rlcr/auroc", auroc(qs, cs))


@REWARDS.register("brier")
def brier(prompts, completions, answer, answer_format: str = "tabc", **kwargs) -> list[float]:
    """``1 - (q - correct)^2`` for well-formed completions with a valid confidence, else 0 (official semantics)."""
    well_formed, confidences, correct = _graded(completions, answer, answer_format, kwargs)
    _log_calibration(kwargs, well_formed, confidences, correct)
    return [_score(brier_reward, ok, q, c, 0.0) for ok, q, c in zip(well_formed, confidences, correct)]


@REWARDS.register("rlcr_single")
def rlcr_single(prompts, completions, answer, answer_format: str = "tabc", **kwargs) -> list[float]:
    """The paper's ``correct - (q - correct)^2``; malformed completions score -1, the reward's floor."""
    well_formed, confidences, correct = _graded(completions, answer, answer_format, kwargs)
    _log_calibration(kwargs, well_formed, confidences, correct)
    return [_score(rlcr_reward, ok, q, c, MALFORMED_RLCR_SCORE) for ok, q, c in zip(well_formed, confidences, correct)]


_OPENING = (
    "The user asks a question and the assistant answers it. The assistant first reasons about the question "
    "privately, then states its answer."
)
SYSTEM_PROMPTS.register("gen")(
    f"{_OPENING} Put the reasoning inside <think> </think> and the final answer inside <answer> </answer>, e.g. "
    "<think> reasoning </think><answer> answer </answer>."
)
SYSTEM_PROMPTS.register("tac")(
    f"{_OPENING} While reasoning, it also weighs how likely its answer is to be right. Put the reasoning inside "
    "<think> </think>, the final answer inside <answer> </answer>, and then its confidence that the answer is "
    "correct, a number from 0 to 1 inclusive, inside <confidence> </confidence>, e.g. "
    "<think> reasoning </think><answer> answer </answer> <confidence> 0.8 </confidence>."
)
_TABC = (
    f"{_OPENING} After the answer it examines its own solution: where it could be mistaken, what is uncertain or "
    "ambiguous. It then states its confidence that the answer is correct as a number from 0 to 1 inclusive. Use "
    "this layout: <think> reasoning </think><answer> answer </answer> <analysis> examination of the answer's "
    "weak points </analysis> <confidence> number between 0 and 1 </confidence>."
)
SYSTEM_PROMPTS.register("tabc")(_TABC)
SYSTEM_PROMPTS.register("tabc_long")(
    _TABC + " Guidance for the analysis: name the specific steps or facts that could be wrong or ambiguous; do not try "
    "to repair them; when the answer is probably right, a few doubts are enough; remember that uncertainty is not "
    "the same as an error (the question itself may be ambiguous, or rest on an assumption); mention other answers "
    "or approaches that seem plausible; be concrete rather than generic; keep all of it inside <analysis> tags."
)
