"""Answer checkers: compare an extracted prediction with the ground truth. They never raise and never hang.

A dataset row names its checker in the ``checker`` column; ``CHECKERS`` maps that name to a function
``(prediction: str | None, answer: str) -> bool | None``. ``None`` means "could not be graded here" (only
``math_verify`` off the main thread); rewards score it as invalid (counted in ``invalid_frac``).

Row values are data, not code: ``get_checker`` looks up registered names only, never a dotted import path (the
generic registry would import and call e.g. ``shutil.copyfile``). A custom checker is registered by name with
``@CHECKERS.register("name")`` in a module imported before the data loads.
"""

from __future__ import annotations

import difflib
import json
import logging
import re
import threading
from collections.abc import Callable
from decimal import Decimal, InvalidOperation

from rlrewards.registry import RECIPE_MODULES, Registry

log = logging.getLogger(__name__)

CHECKERS: Registry = Registry("answer checker", autoload=RECIPE_MODULES)
Checker = Callable[[str | None, str], bool | None]


def get_checker(name: str) -> Checker:
    """The registered checker ``name``; KeyError listing the known names otherwise (dotted paths are not imported)."""
    if isinstance(name, str) and name in CHECKERS:
        return CHECKERS.get(name)
    raise KeyError(f"Unknown answer checker {name!r}. Known: {', '.join(CHECKERS.names())}")


MAX_ANSWER_CHARS = 200  # longer "answers" are never right and only cost parser time
# Power towers and huge exponents make sympy evaluate giant integers in C, where no signal may interrupt it: a
# literal of 4+ digits in an exponent (x^{99999}, 9^{+999999999}, 9^{9\cdot 99999999}), a number raised to a number
# inside an exponent (9^{9^9}, 2^{(2^{99})}, 9^{{9}^{9}}), a chain of powers (10**10**10), a factorial in an exponent
# (9^{99!}) or of a power ({10^{10}}!), a factorial of a 5+-digit number, a binomial of one. Ordinary answers pass:
# x^3 + x^2, e^{x^2}, e^{(x+1)^2}, 2^3 \cdot 5^2, \frac{x^2}{2!}. Run on at most MAX_ANSWER_CHARS characters.
_BRACED_EXPONENT = r"(\^|\*\*)\s*[{(][{(+\s]*"  # a power and the opening of its braced exponent
_HOSTILE_POWER = re.compile(
    r"(\^|\*\*)\s*[+\s]*-?\d{4,}"
    r"|" + _BRACED_EXPONENT + r"-?[^{}()^]*?\d{4,}"
    r"|" + _BRACED_EXPONENT + r"[^{}()]*?(\d\s*\}*|\(\s*\d+\s*\))\s*(\^|\*\*)\s*[{(]*\s*\d"
    r"|(\^|\*\*)\s*\w+\s*(\^|\*\*)"
    r"|" + _BRACED_EXPONENT + r"[^{}()]*!"
    r"|(\^|\*\*)\s*\{?\s*\d+\s*\}?\s*[})]\s*!"
    r"|\d{5,}\s*!|!\s*!|\\binom\s*\{\s*\d{5,}"
)
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


def _parse_number(text: str) -> Decimal | None:
    cleaned = text.strip().replace(",", "").rstrip(".")
    if len(cleaned) > 40 or not _NUMBER.match(cleaned):
        return None
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        return None
    return value if value.is_finite() and abs(value.adjusted()) < 30 else None


@CHECKERS.register("numeric")
def numeric_match(prediction: str | None, answer: str) -> bool:
    """Exact numeric equality (``52`` == ``52.0`` == ``+52``); anything unparseable is wrong."""
    if not isinstance(prediction, str):
        return False
    predicted, expected = _parse_number(prediction), _parse_number(str(answer))
    return predicted is not None and expected is not None and predicted == expected


def looks_hostile(text: str) -> bool:
    return len(text) > MAX_ANSWER_CHARS or _HOSTILE_POWER.search(text) is not None


_THREAD_FALLBACK_WARNED = threading.Event()


@CHECKERS.register("math_verify")
def math_verify_match(prediction: str | None, answer: str, timeout_seconds: int = 2) -> bool | None:
    """Symbolic equivalence with math-verify, bounded in time.

    Strings that could make sympy compute astronomically large numbers (or longer than ``MAX_ANSWER_CHARS``) are
    rejected before parsing; the rest runs under math-verify's own alarm-based timeouts. Those only work on the
    main thread, and without them nothing bounds sympy, so off the main thread only numeric equality is decided:
    a numeric match is True, anything else is ``None`` ("not graded"; rewards count it in ``invalid_frac``), with
    one warning per process.
    """
    if not isinstance(prediction, str) or not prediction.strip():
        return False
    if numeric_match(prediction, answer):
        return True
    if looks_hostile(prediction):
        return False
    if threading.current_thread() is not threading.main_thread():
        _warn_thread_fallback()
        return None
    try:
        from math_verify import parse, verify

        gold = parse(_as_latex(str(answer)), parsing_timeout=timeout_seconds)
        predicted = parse(_as_latex(prediction), parsing_timeout=timeout_seconds)
        if not gold or not predicted:
            return False
        return bool(verify(gold, predicted, timeout_seconds=timeout_seconds))
    except Exception:  # noqa: BLE001 - model output is untrusted; any parser failure means "not correct"
        return False


def _warn_thread_fallback() -> None:
    if not _THREAD_FALLBACK_WARNED.is_set():
        _THREAD_FALLBACK_WARNED.set()
        log.warning(
            "math_verify checker called off the main thread: its timeouts need the main thread, so only numeric "
            "answers are graded there; the others score as invalid (rewards/<name>/invalid_frac)"
        )


def _as_latex(text: str) -> str:
    text = text.strip()
    return text if text.startswith("$") or "\\boxed" in text else f"${text}$"


@CHECKERS.register("exact")
def exact_match(prediction: str | None, answer: str) -> bool:
    """Case- and whitespace-insensitive string equality."""
    if not isinstance(prediction, str):
        return False
    return " ".join(prediction.lower().split()) == " ".join(str(answer).lower().split())


MAX_CHOICE_ANSWER_CHARS = 500  # SequenceMatcher is quadratic; real answers are a letter or an option's text
# "D", "(D)", "D: text", "D. text", "the answer is D", "Answer: (D)"
_EXPLICIT_LETTER = re.compile(
    r"^\s*\(?([A-Z])\)?\s*(?:$|[:.)]\s)|[Aa]nswer(?: is|:)?\s*\(?([A-Z])\)?(?:$|[\s:.,)])|^\s*\(([A-Z])\)"
)


def _choice_sentence(text: str) -> str:
    """The last sentence that mentions "answer" (the official MedQA scorer's heuristic), else the whole text."""
    sentences = [s for s in text.split(".") if "answer" in s.lower()]
    return (sentences[-1] if sentences else text).strip()


def pick_choice(prediction: str, options: dict[str, str]) -> str | None:
    """The option letter whose "X: text", "X" or "text" form is most similar to the prediction.

    Follows TEMPO's ``reward_score/medqa.py`` (thefuzz ``ratio``); we use difflib's ratio, which is what thefuzz
    falls back to without python-Levenshtein. Ties go to the earlier letter. One deliberate difference: an explicit
    letter ("D", "(D)", "D: ...", "the answer is D") is taken as written first; the official fuzzy match alone maps
    "The answer is D" to whichever option text looks most like that sentence.
    """
    sentence = _choice_sentence(prediction[:MAX_CHOICE_ANSWER_CHARS])
    text = sentence.lower()
    if not text or not options:
        return None
    explicit = _EXPLICIT_LETTER.search(sentence)
    if explicit:
        letter = next(group for group in explicit.groups() if group)
        if letter in options:
            return letter
    best, best_score = None, -1.0
    for letter, option in options.items():
        forms = (f"{letter}: {option}", letter, option)
        score = max(difflib.SequenceMatcher(None, text, form.lower()).ratio() for form in forms)
        if score > best_score:
            best, best_score = letter, score
    return best


@CHECKERS.register("choice")
def choice_match(prediction: str | None, answer: str) -> bool:
    """Multiple choice: ``answer`` is ``{"correct": letter, "options": {letter: text}}`` (JSON)."""
    if not isinstance(prediction, str) or not prediction.strip():
        return False
    try:
        gold = json.loads(answer)
        return pick_choice(prediction, dict(gold["options"])) == gold["correct"]
    except (TypeError, ValueError, KeyError):
        return False


def normalize_squad_answer(text: str) -> str:
    """SQuAD's normalisation: lower case, no punctuation, no articles (a/an/the), single spaces."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


_PUNCTUATION = frozenset("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")


@CHECKERS.register("squad_em")
def squad_exact_match(prediction: str | None, answer: str) -> bool:
    """SQuAD-style exact match (RLCR's HotpotQA reward); ``answer`` may be a JSON list of accepted aliases."""
    if not isinstance(prediction, str) or len(prediction) > 10 * MAX_ANSWER_CHARS:
        return False
    golds = [answer]
    if isinstance(answer, str) and answer.startswith("["):
        try:
            golds = [str(a) for a in json.loads(answer)]
        except ValueError:
            golds = [answer]
    predicted = normalize_squad_answer(prediction)
    return any(predicted == normalize_squad_answer(str(gold)) for gold in golds)


_OPTION_GOLD = re.compile(r"^\s*Option\s+([A-Z])\s+which is\s*:?\s*\[?(.*?)\]?\s*$", re.DOTALL)


@CHECKERS.register("option")
def option_match(prediction: str | None, answer: str) -> bool:
    """RLCR's multiple-choice golds, ``Option C which is : text`` / ``Option C which is [text]``: right when the
    prediction names the letter (``C``, ``(C)``, ``Option C``, ``C) text``) or is the option's text. The official
    evaluation asks an LLM judge (Llama-3.1-8B-Instruct) instead; this rule is deterministic and offline."""
    if not isinstance(prediction, str) or not prediction.strip() or len(prediction) > 10 * MAX_ANSWER_CHARS:
        return False
    gold = _OPTION_GOLD.match(str(answer))
    if gold is None:
        return squad_exact_match(prediction, answer)
    letter, text = gold.group(1), gold.group(2)
    stated = re.match(r"^\s*(?:option\s+)?\(?([A-Z])\)?(?:$|[\s:.)])", prediction, re.IGNORECASE)
    if stated and stated.group(1).upper() == letter and (len(prediction.strip()) <= 12 or stated.group(1).isupper()):
        return True
    return normalize_squad_answer(prediction) == normalize_squad_answer(text)


_BOXED_TEXT = re.compile(r"\\(?:boxed|text|textbf|mathrm)\{\s*([^{}]*?)\s*\}")


@CHECKERS.register("letter")
def letter_match(prediction: str | None, answer: str) -> bool:
    """Multiple choice with a bare letter as the gold (RLPR-Evaluation's MMLU-Pro, GPQA-diamond, WebInstruct-verified
    golds, ``"C"``): right when the prediction states that letter as its choice (``C``, ``(C)``, ``C. text``,
    ``\\boxed{C}``, ``The answer is C``, ``Answer: (C)``). The official rule-based grader also accepts the option's
    text, which needs the options parsed from the prompt; this one does not (docs/papers/rlpr.md)."""
    gold = str(answer).strip().upper()
    if not isinstance(prediction, str) or len(gold) != 1 or not gold.isalpha():
        return False
    text = prediction[:MAX_CHOICE_ANSWER_CHARS].replace("**", "")
    for _ in range(2):  # \boxed{\text{C}} -> C
        text = _BOXED_TEXT.sub(r"\1", text)
    text = text.strip()
    if text.rstrip(".").upper() == gold:
        return True
    stated = _EXPLICIT_LETTER.search(_choice_sentence(text))
    return bool(stated) and next(group for group in stated.groups() if group) == gold
