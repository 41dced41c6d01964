import math
import signal
from contextlib import contextmanager

import pytest

from rlrewards.rewards import SafeReward, build_reward_functions, completion_text
from rlrewards.rewards.checkers import exact_match, looks_hostile, math_verify_match, numeric_match
from rlrewards.rewards.core import accuracy_reward, format_reward


@contextmanager
def must_finish_within(seconds: int):
    """A hang guard (not a benchmark): fail instead of blocking the suite forever."""

    def on_alarm(signum, frame):
        raise AssertionError(f"did not finish within {seconds}s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def chat(text):
    return [{"role": "assistant", "content": text}]


def test_completion_text_accepts_strings_and_messages():
    assert completion_text("abc") == "abc"
    assert completion_text(chat("abc")) == "abc"
    assert completion_text(None) == ""
    assert completion_text([{"role": "assistant", "content": None}]) == ""


def test_accuracy_reward_grades_the_last_answer_and_counts_missing_ones():
    logged = {}
    completions = [
        chat("1+1=2\n\n<answer>2</answer>"),
        chat("<answer>3</answer><answer>2.0</answer>"),
        chat("<answer>5</answer>"),
        chat("no answer at all"),
        chat("<answer></answer>"),
    ]
    scores = accuracy_reward(
        prompts=[None] * 5, completions=completions, answer=["2"] * 5, log_metric=lambda k, v: logged.__setitem__(k, v)
    )
    assert scores == [1.0, 1.0, 0.0, 0.0, 0.0]
    assert logged["rewards/accuracy/no_answer_frac"] == pytest.approx(1 / 5)


def test_accuracy_reward_uses_the_rows_checker():
    scores = accuracy_reward(
        prompts=[None] * 2,
        completions=[chat("<answer>Paris</answer>")] * 2,
        answer=["paris", "paris"],
        checker=["exact", "numeric"],
    )
    assert scores == [1.0, 0.0]


def test_format_reward():
    scores = format_reward(
        prompts=[None] * 3,
        completions=[chat("1+1=2\n\n<answer>2</answer>"), chat("<answer>2</answer> extra"), chat("")],
    )
    assert scores == [1.0, 0.0, 0.0]


@pytest.mark.parametrize(
    ("prediction", "answer", "expected"),
    [
        ("52", "52", True),
        ("52.0", "52", True),
        ("+52", "52", True),
        ("1,000", "1000", True),
        ("52.", "52", True),
        ("51", "52", False),
        (None, "52", False),
        ("", "52", False),
        ("nan", "52", False),
        ("inf", "52", False),
        ("5" * 60, "5", False),
        ("1e999999", "1", False),
        ("fifty", "50", False),
    ],
)
def test_numeric_match(prediction, answer, expected):
    assert numeric_match(prediction, answer) is expected


def test_exact_match_ignores_case_and_spacing():
    assert exact_match("  New   York ", "new york")
    assert not exact_match("York", "new york")


def test_math_verify_match_accepts_equivalent_forms():
    assert math_verify_match("\\frac{1}{2}", "0.5")
    assert math_verify_match("2\\sqrt{2}", "\\sqrt{8}")
    assert not math_verify_match("3", "\\frac{1}{2}")


@pytest.mark.parametrize(
    "text",
    ["e^{(x+1)^2}", "2^3 \\cdot 5^2", "\\frac{x^2}{2!}+\\frac{x^3}{3!}", "x^{n}/n!", "\\binom{10}{3}", "e^{-x^2}"],
)
def test_ordinary_answers_pass_the_hostile_input_screen(text):
    assert not looks_hostile(text)


@pytest.mark.parametrize(
    "text",
    ["9^{{999999999}}", "9^{+999999999}", "9^{9\\cdot 99999999}", "99999999999!", "\\binom{99999}{4}", "9^{(9)^{9}}"],
)
def test_the_screen_catches_huge_exponents_however_written(text):
    assert looks_hostile(text)


def test_math_verify_match_grades_answers_with_several_powers():
    # two carets are no power tower (the hostile-input screen once rejected any answer with two)
    assert math_verify_match("x^2+x^3", "x^3+x^2")
    assert math_verify_match("e^{x^2}+x^{2}", "x^2+e^{x^2}")
    assert not math_verify_match("x^2+x^4", "x^3+x^2")


@pytest.mark.parametrize(
    "hostile",
    [
        "9^{9^{9^{9}}}",
        "9^{9^9}",
        "9^{(9^9)}",
        "9^{99!}",
        "10**10**10",
        "2^{99999999999}",
        "(10^100000)!",
        "x" * 5000,
        "\\frac{" * 300,
        "99999999999999999999!",
        "\\boxed{" + "{" * 500,
    ],
)
def test_math_verify_match_is_bounded_on_hostile_strings(hostile):
    with must_finish_within(20):
        assert math_verify_match(hostile, "1") is False


def test_safe_reward_scores_nan_inf_and_junk_as_zero_and_counts_them():
    logged = {}

    def flaky(prompts, completions, **kwargs):
        return [1.0, math.nan, math.inf, None, "x", True]

    reward = SafeReward("flaky", flaky)
    out = reward(prompts=[None] * 6, completions=["a"] * 6, log_metric=lambda k, v: logged.__setitem__(k, v))
    assert out == [1.0, 0.0, 0.0, None, 0.0, 1.0]
    assert logged["rewards/flaky/invalid_frac"] == pytest.approx(3 / 6)
    assert reward.__name__ == "flaky"


def test_safe_reward_isolates_a_raising_row():
    def fragile(prompts, completions, **kwargs):
        return [1.0 / len(c) for c in completions]  # raises ZeroDivisionError on an empty completion

    out = SafeReward("fragile", fragile)(prompts=[None] * 3, completions=["ab", "", "abcd"])
    assert out == [0.5, 0.0, 0.25]


def test_safe_reward_rejects_wrong_length_by_scoring_rows():
    calls = []

    def short(prompts, completions, **kwargs):
        calls.append(len(completions))
        return [1.0]

    out = SafeReward("short", short)(prompts=[None] * 2, completions=["a", "b"])
    assert out == [1.0, 1.0]
    assert calls == [2, 1, 1]


def test_build_reward_functions_keeps_names_weights_and_kwargs():
    functions, weights = build_reward_functions(
        {
            "acc": {"fn": "accuracy", "weight": 1.0},
            "fmt": {"fn": "format", "weight": 0.25, "kwargs": {"answer_format": "think_answer"}},
        }
    )
    assert [f.__name__ for f in functions] == ["acc", "fmt"]
    assert weights == [1.0, 0.25]
    assert functions[1](prompts=[None], completions=[chat("<think>x</think> <answer>1</answer>")]) == [1.0]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({}, "recipe.rewards is empty"),
        ({"acc": {"fn": "acuracy"}}, r"recipe.rewards.acc.fn: Unknown reward function 'acuracy'. Known: accuracy"),
        ({"acc": {"weight": 1.0}}, "must be a mapping with 'fn'"),
        ({"acc": {"fn": "accuracy", "weight": float("nan")}}, "weight must be finite"),
    ],
)
def test_build_reward_functions_rejects_bad_specs(spec, message):
    with pytest.raises(ValueError, match=message):
        build_reward_functions(spec)
