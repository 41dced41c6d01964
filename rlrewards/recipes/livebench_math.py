"""LiveBench-Math as the self-certainty paper grades it: ZeroEval's answers, exact match, AMPS_Hard symbolically.

The Self-Certainty fork (backprop07/Self-Certainty) evaluates ``livebench/math`` (the ``test`` split; the prompt is
the row's first turn, ``src/task_configs.py``) with ZeroEval's json template and extraction, like its GSM8K and
MATH level 5 (``rlrewards/recipes/zeroeval.py``). ``src/evaluation/new_math.py`` then grades a LiveBench row
differently from those two:

- the sanitized answer must equal the sanitized gold: no first-number fallback, since "1, 3, 2" (an olympiad
  proof order) and "042" (an AIME answer) would otherwise match wrong answers (``zeroeval_exact``);
- a row whose ``subtask`` contains ``amps_hard`` (LiveBench's AMPS_Hard: integrals, derivatives, factoring, ...)
  also counts when the answers are equal as mathematics (``zeroeval_amps_hard``, from
  ``src/evaluation/livebench_utils.py``): the model's sanitized answer is unboxed, normalized as Lewkowycz et al.
  (2022, appendix D) normalize final answers, both sides are parsed from LaTeX and the answer is right when
  ``|simplify(gold - answer)| < 0.001``, within 5 seconds.

conf/task/livebench_math.yaml picks the checker per row (``checker_by_field``: ``subtask`` contains ``amps_hard``).
Votes pool AMPS_Hard answers as the official ``src/voting_from_list.py`` does (its majority vote is its Borda vote
with power 0): a sample votes for the first earlier sample whose answer is equal or symbolically equal
(``equivalent_answers``, the official ``two_answers_are_equiv``; ``rlrewards.eval.voting.first_match_vote``).

Where we differ: the LaTeX parser is latex2sympy2_extended (math-verify's, grown from the same ANTLR grammar as
sympy's), because sympy's own ``parse_latex`` needs antlr4 4.11 while math-verify pins a newer runtime. It reads
``e`` as Euler's number (``i`` stays a symbol), so ``\\exp(x)`` equals ``e^{x}`` here; whether sympy's parser
agrees could not be checked (it does not load here). Answers longer than
``MAX_ANSWER_CHARS`` or with power towers (``looks_hostile``) are not parsed at all (sympy can compute for hours in
C, where no alarm interrupts it); and the 5-second alarm needs the main thread, so off it a symbolic comparison is
not made and the row scores ``None`` (not graded, counted as invalid), as ``math_verify`` does.
"""

from __future__ import annotations

import logging
import re
import threading

from rlrewards.recipes.zeroeval import sanitized_gold
from rlrewards.rewards.checkers import CHECKERS, looks_hostile

log = logging.getLogger(__name__)

SYMBOLIC_TIMEOUT_S = 5  # livebench_utils.is_equiv's alarm
SYMBOLIC_TOLERANCE = 0.001
_OFF_MAIN_THREAD_WARNED = threading.Event()
MAX_REMEMBERED_VERDICTS = 100_000
_VERDICTS: dict[tuple[str, str], bool] = {}  # main-thread symbolic verdicts by (gold, answer)


@CHECKERS.register("zeroeval_exact")
def zeroeval_exact_match(prediction: str | None, answer: str) -> bool:
    """``prediction`` as ``zeroeval_json`` extracts it (sanitized) equals the sanitized gold."""
    return isinstance(prediction, str) and prediction == sanitized_gold(answer)


def remove_boxed(text: str) -> str:
    """``\\boxed{x}`` -> ``x`` and ``\\boxed x`` -> ``x``; anything else unchanged (the official assertion fails and
    its caller keeps the text)."""
    if "\\boxed " in text:
        return text[len("\\boxed ") :] if text.startswith("\\boxed ") else text
    if text.startswith("\\boxed{") and text.endswith("}"):
        return text[len("\\boxed{") : -1]
    return text


_NORMALIZATIONS = (  # Lewkowycz et al. (2022), appendix D; run on at most MAX_ANSWER_CHARS characters
    (re.compile(r"(.*?)(\$)(.*?)(\$)(.*)"), "$\\3$"),
    (re.compile(r"(\\text\{)(.*?)(\})"), "\\2"),
    (re.compile(r"(\\textbf\{)(.*?)(\})"), "\\2"),
    (re.compile(r"(\\overline\{)(.*?)(\})"), "\\2"),
    (re.compile(r"(\\boxed\{)(.*)(\})"), "\\2"),
    (re.compile(r"(frac)([^{])(.)"), "frac{\\2}{\\3}"),
    (re.compile(r"(sqrt)([^{])"), "sqrt{\\2}"),
)


def normalize_final_answer(answer: str) -> str:
    """The right-hand side of the last ``=``, LaTeX wrappers (``$``, ``\\text``, ``\\boxed``, ...) removed,
    ``\\fracab`` -> ``\\frac{a}{b}``, ``\\sqrta`` -> ``\\sqrt{a}``, and ``100,000`` -> ``100000``."""
    answer = answer.split("=")[-1]
    for pattern, replacement in _NORMALIZATIONS:
        answer = pattern.sub(replacement, answer)
    answer = answer.replace("$", "")
    return answer.replace(",", "") if answer.replace(",", "").isdigit() else answer


def symbolically_equal(gold: str, answer: str) -> bool | None:
    """``|simplify(gold - answer)| < 0.001`` for the two LaTeX strings, within ``SYMBOLIC_TIMEOUT_S``; False when
    either does not parse, the difference is not a number, time runs out or ``answer`` (model output; ``gold`` comes
    from the dataset) is too long or hostile to parse; None off the main thread (no alarm there to bound sympy).
    Verdicts are remembered: votes compare the same pairs for every k, and graded samples repeat answers."""
    if looks_hostile(answer):
        return False
    if threading.current_thread() is not threading.main_thread():
        if not _OFF_MAIN_THREAD_WARNED.is_set():
            _OFF_MAIN_THREAD_WARNED.set()
            log.warning("zeroeval_amps_hard called off the main thread: symbolic answers are not graded there")
        return None
    if (gold, answer) not in _VERDICTS:
        if len(_VERDICTS) >= MAX_REMEMBERED_VERDICTS:
            _VERDICTS.clear()
        _VERDICTS[gold, answer] = _compare(gold, answer)
    return _VERDICTS[gold, answer]


def _compare(gold: str, answer: str) -> bool:
    from math_verify.errors import TimeoutException  # a BaseException: ``except Exception`` would let it end the run

    try:
        import sympy
        from latex2sympy2_extended import latex2sympy
        from math_verify.utils import timeout

        @timeout(SYMBOLIC_TIMEOUT_S)
        def compare() -> bool:
            difference = latex2sympy(gold) - latex2sympy(answer)
            return bool(sympy.Abs(sympy.simplify(difference)) < SYMBOLIC_TOLERANCE)

        return compare()
    except (Exception, TimeoutException):  # noqa: BLE001 - untrusted output: a parse failure or timeout is "not equal"
        return False


@CHECKERS.register("zeroeval_amps_hard")
def zeroeval_amps_hard_match(prediction: str | None, answer: str) -> bool | None:
    """An AMPS_Hard row: ``zeroeval_exact``, or the normalized answer equal to the sanitized gold as mathematics."""
    if not isinstance(prediction, str):
        return False
    gold = sanitized_gold(answer)
    if prediction == gold:
        return True
    if looks_hostile(prediction):  # before the normalizing regular expressions, which rescan long text
        return False
    return symbolically_equal(gold, normalize_final_answer(remove_boxed(prediction)))


def equivalent_answers(first: str, second: str) -> bool:
    """Two sampled answers that votes pool (the official ``two_answers_are_equiv``): both unboxed and normalized,
    then equal as mathematics. None off the main thread counts as not equivalent."""
    if looks_hostile(first) or looks_hostile(second):
        return False
    parsed = [normalize_final_answer(remove_boxed(text)) for text in (first, second)]
    return bool(symbolically_equal(*parsed))


# Majority and Borda votes (rlrewards.eval.scoring.vote) pool equivalent AMPS_Hard answers, as the official voting
# does on AMPS_Hard rows.
zeroeval_amps_hard_match.equivalent = equivalent_answers
