"""ZeroEval's JSON answer format and math grading, as the self-certainty paper's evaluation uses them.

The self-certainty paper (Kang et al., 2025; backprop07/Self-Certainty, an extension of WildEval/ZeroEval) prompts
with ZeroEval's open-ended template (conf/task/zeroeval_gsm.yaml): reason, then answer in a JSON object
``{"reasoning": ..., "answer": ...}``. Its answers are read by ``extract_answer_from_output``
(``src/evaluation/eval_utils_padding.py``) and graded by ``src/evaluation/new_math.py``:

1. the first complete ``{...}`` (braces counted, strings not: ZeroEval's ``extract_first_complete_json``), parsed with
   ``json.loads`` after removing line breaks; its ``answer`` as Python's ``str`` of the value;
2. else the first ``"answer": "..."``, else ``"answer": <run of non-comma, non-space>``, else the same with the bare
   key ``answer:`` (``extract_values_from_json(..., allow_no_quotes=True)``);
3. else, for Llama-3.1 models, the word inside the first ``\\boxed{...}`` when "boxed" is in the last 30 characters
   (``model_specific_extraction``); we apply it whatever the model (the paper's main model is Llama-3.1-8B-Instruct);
4. then ``AAAA...`` -> ``A`` and ``sanitize_math_answers`` (MATH's string normalisation, fractions to decimals).

Votes compare these sanitized strings, as the official ``voting_from_list.py`` does. The grade
(``zeroeval_math``): the sanitized prediction equals the sanitized gold (``#`` removed: the zero-eval GSM answers
read ``# 72``), or, failing that, their first numbers (``-?\\d+(\\.\\d+)?``) are equal as floats.

Where we differ, for untrusted output: every scan is one forward pass (the official regular expressions rescan the
text from every ``"answer"``, and its ``\\frac{a}{b}`` substitution from every ``\\frac{``); the official
``eval()`` of a fraction becomes a parser of numbers, parentheses and ``+ - * / // %`` (``**`` and any other Python
stay text) over at most ``MAX_FRACTION_CHARS`` characters (longer arithmetic stays text, where ``eval()`` would
compute it). Step 4's normalisation lives in ``rlrewards/recipes/zeroeval_sanitize.py``.
"""

from __future__ import annotations

import json
import re

from rlrewards.recipes.zeroeval_sanitize import sanitize_math_answer, sanitized_gold
from rlrewards.rewards.checkers import CHECKERS
from rlrewards.tasks.formats import ANSWER_FORMATS, AnswerFormat

_FIRST_NUMBER = re.compile(r"-?\d+(\.\d+)?")


def first_json_object(text: str) -> dict | None:
    """The first top-level ``{...}`` (braces counted, quotes not), parsed without line breaks; None when there is
    none or it does not parse (later objects are not tried, as in ZeroEval)."""
    depth, start = 0, 0
    for match in re.finditer(r"[{}]", text):
        if match.group() == "{":
            start = match.start() if depth == 0 else start
            depth += 1
        elif depth:
            depth -= 1
            if depth == 0:
                try:
                    parsed = json.loads(text[start : match.end()].replace("\n", ""))
                except (ValueError, RecursionError):
                    return None
                return parsed if isinstance(parsed, dict) else None
    return None


def _skip_space(text: str, index: int) -> int:
    while index < len(text) and text[index].isspace():
        index += 1
    return index


def _value_starts(text: str, key: str):
    """Positions just after each ``<key>\\s*:\\s*``, in order. Each whitespace run scanned lies between two
    occurrences of the key, so the scans add up to one pass."""
    position = text.find(key)
    while position >= 0:
        index = _skip_space(text, position + len(key))
        if index < len(text) and text[index] == ":":
            yield _skip_space(text, index + 1)
        position = text.find(key, position + 1)


def quoted_value(text: str, key: str) -> str | None:
    """``"key"\\s*:\\s*"(...)"``: the first such value, up to the next quote."""
    for start in _value_starts(text, f'"{key}"'):
        if start < len(text) and text[start] == '"':
            end = text.find('"', start + 1)
            return text[start + 1 : end] if end >= 0 else None  # no quote after this one: none after later ones
    return None


def bare_value(text: str, key: str) -> str | None:
    """``key\\s*:\\s*([^,\\s]*)``: the first match, possibly empty (as the official pattern)."""
    for start in _value_starts(text, key):
        end = start
        while end < len(text) and text[end] != "," and not text[end].isspace():
            end += 1
        return text[start:end]
    return None


def boxed_word(text: str) -> str | None:
    """``\\boxed{(\\w+)}`` anywhere, when "boxed" is in the last 30 characters (ZeroEval's Llama-3.1 fallback)."""
    if "boxed" not in text[-30:]:
        return None
    position = text.find("\\boxed{")
    while position >= 0:
        start = end = position + len("\\boxed{")
        while end < len(text) and (text[end].isalnum() or text[end] == "_"):
            end += 1
        if end > start and end < len(text) and text[end] == "}":
            return text[start:end]
        position = text.find("\\boxed{", position + 1)
    return None


def raw_answer(text: str) -> str | None:
    """Steps 1-3 of the module docstring; None when no answer can be read."""
    parsed = first_json_object(text)
    if parsed is not None and "answer" in parsed:
        return str(parsed["answer"])
    fallbacks = (
        lambda: quoted_value(text, "answer"),
        lambda: bare_value(text, '"answer"'),
        lambda: bare_value(text, "answer"),
    )
    for fallback in fallbacks:  # in order, each only when the ones before found nothing
        if (found := fallback()) is not None:
            return found
    return boxed_word(text)


def collapse_repeated_letter(answer: str) -> str:
    """``BBBBB`` -> ``B`` (LiveBench's multiple-choice answers): the stripped answer, cut to its first character
    when the first four are equal (ZeroEval's ``convert_AAAAA_to_A``)."""
    answer = answer.strip()
    return answer[0] if len(answer) >= 4 and answer[0] == answer[1] == answer[2] == answer[3] else answer


def zeroeval_answer(text: str) -> str | None:
    """The answer the official voting and grading compare: steps 1-4 of the module docstring."""
    if not isinstance(text, str):
        return None
    found = raw_answer(text)
    return None if found is None else sanitize_math_answer(collapse_repeated_letter(found))


class ZeroEvalJsonFormat(AnswerFormat):
    """Reasoning, then ``{"reasoning": ..., "answer": ...}`` in a json block (ZeroEval's open-ended template)."""

    def render(self, steps: list[str], answer: str, **extras) -> str:
        return "```json\n" + json.dumps({"reasoning": " ".join(steps), "answer": answer}, indent=4) + "\n```"

    def extract_answer(self, text: str) -> str | None:
        return zeroeval_answer(text)

    def is_well_formed(self, text: str) -> bool:
        return isinstance(text, str) and raw_answer(text) is not None


ANSWER_FORMATS.register("zeroeval_json")(
    ZeroEvalJsonFormat("zeroeval_json", 'Reason, then give {"reasoning": "...", "answer": "..."} in a json block.')
)


@CHECKERS.register("zeroeval_math")
def zeroeval_math_match(prediction: str | None, answer: str) -> bool:
    """ZeroEval's math grade (``new_math.py``): ``prediction`` as ``zeroeval_json`` extracts it (sanitized), the
    gold sanitized here with its ``#`` removed; equal strings, or equal first numbers."""
    if not isinstance(prediction, str):
        return False
    gold = sanitized_gold(answer)
    if prediction == gold:
        return True
    predicted, expected = _FIRST_NUMBER.search(prediction), _FIRST_NUMBER.search(gold)
    return bool(predicted and expected and float(predicted.group()) == float(expected.group()))
