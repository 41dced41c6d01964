"""ZeroEval's json answer format and math grade (rlrewards/recipes/zeroeval.py), the self-certainty paper's
evaluation: hand-computed cases of each step of the official extraction (WildEval/ZeroEval eval_utils.py,
backprop07/Self-Certainty eval_utils_padding.py) and grade (new_math.py)."""

import json

import pytest

from rlrewards.recipes.zeroeval import first_json_object, raw_answer, zeroeval_answer, zeroeval_math_match
from rlrewards.recipes.zeroeval_sanitize import arithmetic_value, latex_to_fraction, sanitize_math_answer
from rlrewards.rewards.checkers import get_checker
from rlrewards.tasks.formats import get_answer_format


@pytest.mark.parametrize(
    "text, expected",
    [
        ('```json\n{\n    "reasoning": "16 - 3 - 4 = 9",\n    "answer": "18"\n}\n```', "18"),  # the template's shape
        ('{"reasoning": "x", "answer": 18}', "18"),  # a json number: Python's str of it
        ('{"answer": true}', "True"),
        ('{"reasoning": "a", "answer": "b"} {"answer": "c"}', "b"),  # the first object only
        ('{"reasoning": "use \\sqrt{2}", "answer": "7"}', "7"),  # \s is no json escape: the quoted-value fallback
        ('{"reasoning": "x"} "answer": 7}', "7}"),  # no answer in the object; the bare value runs to a comma or space
        ("so the answer: 42, done", "42"),  # the bare key
        ('"answer": , 5', ""),  # the official pattern matches an empty value
        ("the result is \\boxed{12} as boxed", "12"),  # the Llama-3.1 fallback: "boxed" in the last 30 characters
        ("\\boxed{12} and then a long tail of more than thirty characters", None),
        ("no answer here", None),
    ],
)
def test_raw_answer_follows_the_official_order(text, expected):
    assert raw_answer(text) == expected


def test_a_json_escape_is_decoded_as_json_decodes_it():
    # "\frac" inside valid json is a form feed and "rac": the official json.loads reads it so, and so do we
    assert raw_answer('{"answer": "\\frac{1}{2}"}') == "\x0crac{1}{2}"
    assert first_json_object('{"a": "unclosed}') is None and first_json_object("[1, 2]") is None


@pytest.mark.parametrize(
    "answer, expected",
    [
        ("$1,000$", "1000"),
        ("x = 5", "5"),  # a short left-hand side is dropped
        ("3.0", "3"),
        (".5", "0.5"),
        ("2/4", "0.5"),  # a/b -> \frac{a}{b} -> evaluated
        ("\\dfrac{3}{4}", "0.75"),
        ("\\frac{\\pi}{2}", "\\pi/2"),  # no arithmetic: kept as the official except leaves it
        ("\\sqrt2", "\\sqrt{2}"),
        ("90^\\circ", "90"),
        ("5 \\text{ cm}", "5"),
        ("10\\%", "10"),
        ("π", "\\pi"),
        ("\\left(1,2\\right)", "(12)"),  # commas go first
        ("\\frac{1}{0}", "1/0"),  # the division fails: the rewritten text stays
    ],
)
def test_sanitize_math_answer(answer, expected):
    assert sanitize_math_answer(answer) == expected


def test_fractions_are_evaluated_as_arithmetic_only():
    assert arithmetic_value("(1+2)/3") == 1.0 and arithmetic_value("-3/4") == -0.75
    # what the official eval() would run is never evaluated here
    assert arithmetic_value("__import__('os').getcwd()") is None and arithmetic_value("2**3") is None
    assert arithmetic_value("7//2") == 3.0 and arithmetic_value("7%4") == 3.0 and arithmetic_value("1%0") is None
    assert sanitize_math_answer("\\frac{__import__('os')}{2}") == "__import__('os')/2"


def test_the_format_extracts_what_the_votes_compare():
    fmt = get_answer_format("zeroeval_json")
    assert fmt.extract_answer('{"reasoning": "r", "answer": "BBBBB"}') == "B"  # LiveBench letters collapse
    assert fmt.extract_answer('{"reasoning": "r", "answer": "$\\\\frac{1}{2}$"}') == "0.5"  # an escaped backslash
    assert fmt.extract_answer('{"reasoning": "r", "answer": "$\\frac{1}{2}$"}') == "rac{1}{2}"  # a form feed
    assert fmt.extract_answer('{"reasoning": "r", "answer": "1/2"}') == "0.5"
    assert fmt.extract_answer(None) is None and fmt.extract_answer("nothing") is None
    rendered = fmt.render(["16 - 3 - 4 = 9", "9 * 2 = 18"], "18")
    assert json.loads(rendered.split("```json\n")[1].split("\n```")[0]) == {
        "reasoning": "16 - 3 - 4 = 9 9 * 2 = 18",
        "answer": "18",
    }
    assert fmt.extract_answer(rendered) == "18" and fmt.is_well_formed(rendered) and not fmt.is_well_formed("18")


def test_the_grade_compares_sanitized_strings_then_first_numbers():
    check = get_checker("zeroeval_math")
    assert check is zeroeval_math_match
    assert check("18", "# 18")  # the zero-eval GSM answers keep one '#'
    assert check("18dollars", "# 18")  # first numbers equal
    assert check("0.5", "\\frac{1}{2}") and check("-15", "-15")
    assert not check("17", "# 18") and not check(None, "18") and not check("", "18")
    assert check("3.50", "3.5") and not check("x", "y")


def test_long_answers_are_normalised_like_short_ones():
    # the first-number rule can grade a long answer right: it is stripped as any other (".5" -> "0.5")
    assert zeroeval_math_match(zeroeval_answer('{"answer": ".5 ' + "x" * 1000 + '"}'), "0.5")
    assert sanitize_math_answer("\\frac12" + " y" * 600).startswith("1/2yyy")  # \\frac12 -> \\frac{1}{2} -> 1/2


def test_fractions_are_rewritten_as_the_official_substitution():
    assert latex_to_fraction("\\frac{1}{2}+\\frac{3}{4}") == "1/2+3/4"
    assert latex_to_fraction("\\frac{}{2} \\frac{1}{} \\frac{1} {2}") == "\\frac{}{2} \\frac{1}{} \\frac{1} {2}"
    assert latex_to_fraction("\\frac{\\frac{1}{2}}{3}") == "\\frac{1/2}{3}"  # [^}]+ stops at the inner brace
    assert latex_to_fraction("\\frac{a\\frac{1}{2}") == "a\\frac{1/2"  # the first group runs to the first }
    assert sanitize_math_answer("\\frac1/2") == "0"  # \\frac{1}{/}2 -> 1//2: floor division, as eval() does


def test_hostile_answers_stay_fast_enough_to_finish():
    """Each is quadratic or worse under the official regular expressions (a run of \\frac{ took 2.2 s at 60 KB);
    here they finish (a hang detector guards every registered parser in test_adversarial_outputs.py)."""
    for hostile in ("\\frac{" * 9000, "\\frac{1}" * 9000, '"answer"' * 8000, "answer :" * 8000, "{" * 65536):
        assert zeroeval_answer('{"answer": "' + hostile + '"}') is not None or zeroeval_answer(hostile) is None
        assert isinstance(sanitize_math_answer(hostile), str)
