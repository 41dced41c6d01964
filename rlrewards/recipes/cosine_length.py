"""Recipe ``cosine_length``: the cosine length-scaled reward of "Demystifying Long Chain-of-Thought Reasoning in
LLMs" (Yeo et al., arXiv:2502.03373), a reward-only recipe (config ``conf/recipe/cosine_length.yaml``).

Taken from the official code, eddycmu/demystify-long-cot at e90cf9b30203bb74b1ea4ba008fa54bf731ad1a4,
``openrlhf/openrlhf/reward/cosine.py`` (``CosineScaledSparseReward.reward``) and ``reward/repetition.py``
(``get_repetition_penalty``). With ``L`` the number of generated tokens and ``L_max`` the generation limit:

- ``L + 16 >= L_max`` (``MAX_LEN_MARGIN`` in ``reward/common.py``): ``exceed_length``;
- correct: ``r = lo + (hi - lo) / 2 * (1 + cos(pi * L / L_max))`` with ``lo = min_value_correct``,
  ``hi = max_value_correct``, so short correct answers earn more;
- wrong: the same with ``lo = max_value_wrong``, ``hi = min_value_wrong`` (swapped, as the official code), so short
  wrong answers are penalised more, plus the repetition penalty ``max_penalty * (1 - unique / total)`` over
  lower-cased whitespace word n-grams (0 when ``repetition_max_penalty`` is 0, the official default).

The keyword defaults are the official command-line defaults (``cli/train_ppo_ray.py``: -1, 0, 0, 1; exceed length
None, read as 0; repetition penalty 0 over 20-grams). Differences: correctness comes from the task's checker on the
recipe's answer format (the official ``score_fn`` grades the decoded prompt plus response with the Hendrycks MATH
rules; any score other than 1 is wrong, and so is a completion our checker cannot grade here); a completion with
fewer words than the n-gram size gets no repetition penalty (the official code divides by zero there); without
``completion_ids`` (never the case in training: TRL always passes them) the length is unknown and the row scores
None, which the group statistics ignore.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from rlrewards.rewards import REWARDS, completion_text
from rlrewards.rewards.core import grade_completions
from rlrewards.tasks.formats import get_answer_format

MAX_LEN_MARGIN = 16  # reward/common.py: added to the length before the limit test, "no off-by-one mistakes"


def cosine_scaled(length: int, correct: bool, max_len: int, values: Sequence[float], exceed_length: float) -> float:
    """The cosine reward of one completion of ``length`` tokens, before any repetition penalty. ``values`` is
    ``(min_value_wrong, max_value_wrong, min_value_correct, max_value_correct)``."""
    min_wrong, max_wrong, min_correct, max_correct = values
    if length + MAX_LEN_MARGIN >= max_len:
        return float(exceed_length)
    lo, hi = (min_correct, max_correct) if correct else (max_wrong, min_wrong)
    return lo + 0.5 * (hi - lo) * (1.0 + math.cos(math.pi * length / max_len))


def repetition_penalty(text: str, ngram_size: int, max_penalty: float) -> float:
    """``max_penalty * (1 - distinct / total)`` over the lower-cased whitespace word n-grams of ``text``; 0 when
    ``max_penalty`` is 0 or the text has fewer than ``ngram_size`` words."""
    if max_penalty == 0:
        return 0.0
    words = text.lower().split()
    ngrams = [tuple(words[i : i + ngram_size]) for i in range(len(words) - ngram_size + 1)]
    if not ngrams:
        return 0.0
    return (1.0 - len(set(ngrams)) / len(ngrams)) * max_penalty


@REWARDS.register("cosine_length")
def cosine_length_reward(
    prompts,
    completions,
    completion_ids,
    answer,
    answer_format: str = "answer_tag",
    max_len: int = 1024,
    min_value_wrong: float = -1.0,
    max_value_wrong: float = 0.0,
    min_value_correct: float = 0.0,
    max_value_correct: float = 1.0,
    exceed_length: float = 0.0,
    repetition_max_penalty: float = 0.0,
    repetition_ngram_size: int = 20,
    **kwargs,
) -> list[float | None]:
    """Cosine length-scaled correctness reward (module docstring); ``max_len`` is the generation limit in tokens
    (the config passes ``trainer.max_completion_length``)."""
    if min_value_wrong > 0 or max_value_wrong > 0:
        raise ValueError("min_value_wrong and max_value_wrong must not be positive (as the official reward)")
    if repetition_max_penalty > 0:
        raise ValueError("repetition_max_penalty must not be positive (as the official reward)")
    fmt = get_answer_format(answer_format)
    correct = grade_completions(completions, answer, kwargs, fmt)
    values = (min_value_wrong, max_value_wrong, min_value_correct, max_value_correct)
    scores: list[float | None] = []
    for i, completion in enumerate(completions):
        if completion_ids is None:
            scores.append(None)
            continue
        right = bool(correct[i])
        score = cosine_scaled(len(completion_ids[i]), right, max_len, values, exceed_length)
        if not right and len(completion_ids[i]) + MAX_LEN_MARGIN < max_len:
            score += repetition_penalty(completion_text(completion), repetition_ngram_size, repetition_max_penalty)
        scores.append(score)
    return scores
