"""MATH's answer normalisation as ZeroEval applies it (``sanitize_math_answers`` and the ``strip_string`` it calls,
WildEval/ZeroEval ``src/evaluation/eval_utils.py``, carried by the Self-Certainty fork's ``eval_utils_padding.py``):
step 4 of ``rlrewards/recipes/zeroeval.py``, which reads the answers this normalises. Where the official code raises
or asserts, these functions return None and the caller keeps the text, as the official ``except`` does; the
official ``eval()`` of a fraction is ``arithmetic_value``, a parser of numbers, parentheses and ``+ - * / // %``
over at most ``MAX_FRACTION_CHARS`` characters (never evaluated as Python).
"""

from __future__ import annotations

import ast
import bisect
import operator
import re

MAX_FRACTION_CHARS = 10_000  # the arithmetic the official eval() would evaluate: "1/2", "-3/4+1"
_UNICODE_TO_LATEX = {
    "π": "\\pi",
    "√": "\\sqrt",
    "∞": "\\infty",
    "≤": "\\leq",
    "≥": "\\geq",
    "≠": "\\neq",
    "→": "\\rightarrow",
    "←": "\\leftarrow",
    "∑": "\\sum",
    "∫": "\\int",
    "∂": "\\partial",
    "∧": "\\land",
    "≈": "\\approx",
    "∈": "\\in",
    "⊂": "\\subset",
    "⊆": "\\subseteq",
    "⊇": "\\supseteq",
    "⊄": "\\not\\subset",
    "⊕": "\\oplus",
    "⊗": "\\otimes",
}  # the official table; its "→" appears twice, and the later "\rightarrow" wins


def _remove_right_units(text: str) -> str | None:
    if "\\text{ " not in text:
        return text
    parts = text.split("\\text{ ")
    return parts[0] if len(parts) == 2 else None  # the official assert: two unit markers fail the whole strip


def _fix_sqrt(text: str) -> str | None:
    parts = text.split("\\sqrt")
    fixed = [parts[0]]
    for part in parts[1:]:
        if not part:
            return None  # the official part[0] raises on a trailing \sqrt
        fixed.append("\\sqrt" + part if part[0] == "{" else "\\sqrt{" + part[0] + "}" + part[1:])
    return "".join(fixed)


def _fix_fracs(text: str) -> str | None:
    """``\\frac12`` -> ``\\frac{1}{2}``, ``\\frac1{2}`` -> ``\\frac{1}{2}``; the text unchanged when a ``\\frac`` has
    fewer than two characters after it (the official assert), None when one has none (its IndexError)."""
    parts = text.split("\\frac")
    fixed = [parts[0]]
    for part in parts[1:]:
        fixed.append("\\frac")
        if not part:
            return None
        if part[0] == "{":
            fixed.append(part)
        elif len(part) < 2:
            return text
        elif part[1] != "{":
            fixed.append("{" + part[0] + "}{" + part[1] + "}" + part[2:])
        else:
            fixed.append("{" + part[0] + "}" + part[1:])
    return "".join(fixed)


def _fix_a_slash_b(text: str) -> str:
    parts = text.split("/")
    if len(parts) != 2:
        return text
    try:
        numerator, denominator = int(parts[0]), int(parts[1])
    except ValueError:
        return text
    return f"\\frac{{{numerator}}}{{{denominator}}}" if text == f"{numerator}/{denominator}" else text


def strip_string(text: str) -> str | None:
    """MATH's answer normalisation as ZeroEval's ``strip_string``; None where the official one raises."""
    for old, new in (
        ("\n", ""),
        ("\\!", ""),
        ("\\\\", "\\"),
        ("tfrac", "frac"),
        ("dfrac", "frac"),
        ("\\left", ""),
        ("\\right", ""),
        ("^{\\circ}", ""),
        ("^\\circ", ""),
        ("\\$", ""),
    ):
        text = text.replace(old, new)
    text = _remove_right_units(text)
    if text is None:
        return None
    text = text.replace("\\%", "").replace(" .", " 0.").replace("{.", "{0.")
    if not text:
        return text
    if text[0] == ".":
        text = "0" + text
    sides = text.split("=")
    if len(sides) == 2 and len(sides[0]) <= 2:
        text = sides[1]
    text = _fix_sqrt(text) if "\\sqrt" in text else text
    if text is None:
        return None
    text = _fix_fracs(text.replace(" ", ""))
    if text is None:
        return None
    return _fix_a_slash_b("\\frac{1}{2}" if text == "0.5" else text)


_OPERATORS = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,  # "\\frac1/2" becomes "1//2" on the way
    ast.Mod: operator.mod,
}


def latex_to_fraction(text: str) -> str:
    """ZeroEval's ``latex_to_fraction``: every ``\\frac{a}{b}`` (``a`` and ``b`` non-empty, without ``}``) becomes
    ``a/b``, left to right, as its regular-expression substitution does, in O(n log n): each ``\\frac{`` is tried
    once and the next ``}`` found by bisection (the regular expression rescans to it from every ``\\frac{``)."""
    closes = [match.start() for match in re.finditer("}", text)]

    def next_close(start: int) -> int:
        index = bisect.bisect_left(closes, start)
        return closes[index] if index < len(closes) else -1

    pieces, done, position = [], 0, text.find("\\frac{")
    while position >= 0:
        first = position + len("\\frac{")
        end_first = next_close(first)
        if end_first < 0:
            break  # no "}" after this one: none after later ones either
        end_second = next_close(end_first + 2) if text.startswith("{", end_first + 1) else -1
        if end_first > first and end_second > end_first + 2:
            pieces += [text[done:position], text[first:end_first], "/", text[end_first + 2 : end_second]]
            done = end_second + 1
            position = text.find("\\frac{", done)
        else:
            position = text.find("\\frac{", position + 1)
    return "".join([*pieces, text[done:]])


def arithmetic_value(text: str) -> float | None:
    """The value of ``text`` when it is numbers joined by ``+ - * / // %`` (with parentheses and signs), what the
    official ``eval()`` computes for such text; None for anything else (never evaluated) and beyond
    ``MAX_FRACTION_CHARS``."""
    if len(text) > MAX_FRACTION_CHARS:
        return None

    def value(node: ast.AST) -> float | int:
        if isinstance(node, ast.Constant) and type(node.value) in (int, float):
            return node.value
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.UAdd, ast.USub)):
            return value(node.operand) if isinstance(node.op, ast.UAdd) else -value(node.operand)
        if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
            return _OPERATORS[type(node.op)](value(node.left), value(node.right))
        raise ValueError(node)

    try:
        return float(value(ast.parse(text, mode="eval").body))
    except (SyntaxError, ValueError, ZeroDivisionError, OverflowError, RecursionError, MemoryError):
        return None


def sanitize_math_answer(answer: str) -> str:
    """ZeroEval's ``sanitize_math_answers``: dollars and commas out, unicode to LaTeX, ``strip_string``, a
    ``\\frac{a}{b}`` evaluated to a decimal, integral numbers without ``.0``, spaces out."""
    answer = answer.strip().replace("$", "").strip().replace(",", "")
    answer = "".join(_UNICODE_TO_LATEX.get(char, char) for char in answer)
    stripped = strip_string(answer)
    answer = stripped if stripped is not None else answer  # the official strip fails as a whole
    if "frac" in answer:
        answer = latex_to_fraction(answer)  # kept when it is no arithmetic, as the official except leaves it
        evaluated = arithmetic_value(answer)
        answer = str(evaluated) if evaluated is not None else answer
    try:
        number = float(answer)
        answer = str(int(number)) if number.is_integer() else str(number)
    except (ValueError, OverflowError):
        pass
    return answer.replace(" ", "")


def sanitized_gold(answer: str) -> str:
    """The gold as ``new_math.py`` compares it: ``#`` removed, stripped, sanitized."""
    return sanitize_math_answer(str(answer).replace("#", "").strip())
