"""Test-time aggregation of several sampled answers (RLCR Fig. 4): majority, confidence-weighted, max-confidence.

Answers are compared as given (normalise them first, e.g. with the task's answer extraction), or, with
``first_match_vote``, pooled by a checker's equivalence; ``None`` answers (no answer extracted) never win unless
nothing else is present. Inputs may be lists, numpy arrays or tensors.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import Any


def _weights(weights: Any) -> list[float]:
    if hasattr(weights, "detach"):
        weights = weights.detach().cpu().tolist()
    elif hasattr(weights, "tolist"):
        weights = weights.tolist()
    return [float(w) for w in weights]


def _answers(answers: Any) -> list[Hashable]:
    if hasattr(answers, "detach"):
        answers = answers.detach().cpu().tolist()
    elif hasattr(answers, "tolist"):
        answers = answers.tolist()
    return list(answers)


def weighted_majority_vote(answers: Sequence[Hashable], weights: Sequence[float]) -> Hashable | None:
    """The answer with the largest total weight; ties go to the answer seen first."""
    answers, weights = _answers(answers), _weights(weights)
    if len(answers) != len(weights):
        raise ValueError(f"{len(answers)} answers but {len(weights)} weights")
    totals: dict[Hashable, float] = {}
    for answer, weight in zip(answers, weights):
        if answer is not None:
            totals[answer] = totals.get(answer, 0.0) + weight
    if not totals:
        return None
    best = max(totals.values())
    return next(answer for answer, total in totals.items() if total == best)


def majority_vote(answers: Sequence[Hashable]) -> Hashable | None:
    """The most frequent answer; ties go to the answer seen first."""
    answers = _answers(answers)
    return weighted_majority_vote(answers, [1.0] * len(answers))


def max_confidence(answers: Sequence[Hashable], confidences: Sequence[float]) -> Hashable | None:
    """The answer stated with the highest confidence; ties go to the earlier sample."""
    answers, confidences = _answers(answers), _weights(confidences)
    best, best_q = None, float("-inf")
    for answer, q in zip(answers, confidences):
        if answer is not None and q > best_q:
            best, best_q = answer, q
    return best


def borda_vote(answers: Sequence[Hashable], scores: Sequence[float], power: float = 0.5) -> Hashable | None:
    """Borda voting over answers ranked by a per-sample score (self-certainty's selection, Kang et al., 2025).

    The N samples are ranked by score, highest first (rank 1; equal scores keep sample order, NaN ranks last); the
    sample at rank r adds ``(N - r + 1) ** power`` to its answer, and the answer with the most votes wins, ties to the
    answer seen first. ``None`` answers add nothing but still count in N, as in the official
    ``src/voting_from_list.py`` (backprop07/Self-Certainty @ b17d021; its README uses power 0.5). power = 0 is
    majority voting; a large power approaches picking the single highest-scoring sample.
    """
    answers, scores = _answers(answers), _weights(scores)
    if len(answers) != len(scores):
        raise ValueError(f"{len(answers)} answers but {len(scores)} scores")
    return weighted_majority_vote(answers, borda_weights(scores, power))


def first_match_vote(
    answers: Sequence[Hashable], weights: Sequence[float], equivalent: Callable[[Any, Any], Any]
) -> Hashable | None:
    """Weighted voting that pools answers a checker deems the same, as the official self-certainty voting does
    (``src/voting_from_list.py``, whose power 0 is its majority vote): sample i adds its weight to the first earlier
    sample j whose answer is equal or ``equivalent`` to its own (to itself when none is), and the answer of the
    sample with the most votes wins, ties to the earlier sample. ``None`` answers neither vote nor receive votes.
    Each distinct pair of answers is compared once."""
    answers, weights = _answers(answers), _weights(weights)
    if len(answers) != len(weights):
        raise ValueError(f"{len(answers)} answers but {len(weights)} weights")
    votes = [0.0] * len(answers)
    first_sample: dict[Hashable, int] = {}  # each distinct answer's first sample, in order of appearance
    verdicts: dict[tuple[Hashable, Hashable], bool] = {}
    for index, answer in enumerate(answers):
        if answer is None:
            continue
        target = index
        for earlier, sample in first_sample.items():
            if (answer, earlier) not in verdicts:
                verdicts[answer, earlier] = answer == earlier or bool(equivalent(answer, earlier))
            if verdicts[answer, earlier]:
                target = sample
                break
        first_sample.setdefault(answer, index)
        votes[target] += weights[index]
    voted = [i for i, answer in enumerate(answers) if answer is not None]
    return answers[max(voted, key=lambda i: (votes[i], -i))] if voted else None


def borda_weights(scores: Sequence[float], power: float) -> list[float]:
    """The Borda vote of each sample: ``(N - r + 1) ** power`` for its rank r by score (1: highest; equal scores
    keep sample order, NaN ranks last)."""
    scores = _weights(scores)
    ranked = sorted(
        range(len(scores)), key=lambda i: scores[i] if scores[i] == scores[i] else float("-inf"), reverse=True
    )
    votes = [0.0] * len(scores)
    for rank, index in enumerate(ranked, start=1):
        votes[index] = float(len(scores) - rank + 1) ** power
    return votes


def best_of_n(scores: Sequence[float]) -> int | None:
    """The index of the highest-scoring sample (self-certainty's Best-of-N, Kang et al., 2025): ties go to the
    earlier sample, NaN never wins over a number (all NaN: the first sample); None for no samples. Unlike
    ``max_confidence`` it picks a sample, not an answer (the evaluation hook gives samples without an answer -inf
    first, as the official code does)."""
    scores = _weights(scores)
    best, best_score = None, float("-inf")
    for index, score in enumerate(scores):
        if best is None or score > best_score:  # NaN > x is False: a NaN never replaces a chosen sample
            best, best_score = index, score if score == score else float("-inf")
    return best
