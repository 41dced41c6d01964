"""Model output is untrusted: every parser of it returns, within a bound, a finite result, on any completion.

Targets are discovered from the registries (answer formats, checkers, reward functions, process reward models with
a text-level ``step_reward``) plus the free functions that read completions. Inputs: hypothesis strategies over
tag soup, degenerate repetitions of tag blocks, unclosed and nested tags, huge numbers and NUL bytes, and fixed
64 KB worst cases (the repeated ``tabc`` block made the official regex take 44 s at 12 KB).

The bound is a hang detector, not a benchmark: a CPU-time timer (SIGPROF, independent of the SIGALRM that
math-verify uses for its own timeouts) interrupts any single call that runs past ``PER_CALL_CPU_SECONDS``. The
regex engine checks signals, so a backtracking regex is interrupted too. Linear parsers take milliseconds here.
"""

from __future__ import annotations

import inspect
import itertools
import math
import re
import signal
from collections.abc import Callable
from contextlib import contextmanager

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rlrewards.algorithms.rlcr import parse_confidence
from rlrewards.eval.generation import score_samples
from rlrewards.eval.usc_eval import response_index
from rlrewards.recipes.pure import PROCESS_REWARD_MODELS
from rlrewards.recipes.rlcr_eval import probed_confidence
from rlrewards.rewards.checkers import CHECKERS
from rlrewards.rewards.core import REWARDS
from rlrewards.tasks.formats import ANSWER_FORMATS, get_answer_format, last_boxed

PER_CALL_CPU_SECONDS = 1.0
KB64 = 64 * 1024
GOLDS = ("1", "0.5", '{"correct": "A", "options": {"A": "one", "B": "two"}}', "Option A which is : one")
TOKENS = (
    "<think>", "</think>", "<answer>", "</answer>", "<analysis>", "</analysis>", "<confidence>", "</confidence>",
    "\\boxed{", "\\fbox{", "{", "}", " ", "\n", "\n\n", "\x00", "0.5", "1", "-3", "nan", "inf", "1e999999999",
    "9" * 50, "2^2^2^2", "10!!", "=", "+", "*", "A", "(B)", "the answer is C", ".",
    '{"answer": "', '"answer":', "\\frac{", "\\frac12",
)  # fmt: skip


class CallTooSlow(AssertionError):
    pass


@contextmanager
def bounded(what: str):
    def interrupt(signum, frame):
        raise CallTooSlow(f"{what} used more than {PER_CALL_CPU_SECONDS}s of CPU on one completion")

    previous = signal.signal(signal.SIGPROF, interrupt)
    signal.setitimer(signal.ITIMER_PROF, PER_CALL_CPU_SECONDS)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.signal(signal.SIGPROF, previous)


def _finite_or_none(value) -> bool:
    return value is None or (isinstance(value, int | float) and math.isfinite(value))


def _format_targets(name: str) -> dict[str, Callable[[str], bool]]:
    fmt = get_answer_format(name)
    return {
        f"format {name}.extract_answer": lambda text: (lambda got: got is None or isinstance(got, str))(
            fmt.extract_answer(text)
        ),
        f"format {name}.is_well_formed": lambda text: isinstance(fmt.is_well_formed(text), bool),
        f"score_samples[{name}]": lambda text: all(
            isinstance(r["correct"], bool) and _finite_or_none(r.get("confidence"))
            for r in score_samples([{"id": 0, "answer": "1", "checker": "numeric"}], [[text]], name)
        ),
    }


def _reward_targets(name: str) -> dict[str, Callable[[str], bool]]:
    fn = REWARDS.get(name)
    formats = ANSWER_FORMATS.names() if "answer_format" in inspect.signature(fn).parameters else [None]
    targets = {}
    for fmt_name in formats:
        extra = {"answer_format": fmt_name} if fmt_name else {}

        def call(text, fn=fn, extra=extra):
            # one row per checker (each checker meets every gold in its own target below)
            rows = list(zip(itertools.cycle(GOLDS), CHECKERS.names()))
            n = len(rows)
            scores = fn(
                prompts=["q"] * n,
                completions=[[{"role": "assistant", "content": text}]] * n,
                completion_ids=None,
                answer=[gold for gold, _ in rows],
                checker=[checker for _, checker in rows],
                **extra,
            )
            return len(scores) == n and all(_finite_or_none(s) for s in scores)

        targets[f"reward {name}[{fmt_name}]"] = call
    return targets


def _prm_targets() -> dict[str, Callable[[str], bool]]:
    targets = {}
    for name in PROCESS_REWARD_MODELS.names():
        prm = PROCESS_REWARD_MODELS.get(name)()  # constructors load nothing
        if hasattr(prm, "step_reward"):
            targets[f"prm {name}.step_reward"] = lambda text, prm=prm: _finite_or_none(prm.step_reward(text, 1)[0])
    return targets


def all_targets() -> dict[str, Callable[[str], bool]]:
    """name -> check(text): calls the parser and says whether its result honours the contract."""
    targets: dict[str, Callable[[str], bool]] = {}
    for name in ANSWER_FORMATS.names():
        targets.update(_format_targets(name))
    for name in CHECKERS.names():
        check = CHECKERS.get(name)
        targets[f"checker {name}"] = lambda text, check=check: all(
            check(text, gold) in (True, False, None) for gold in GOLDS
        )
        if hasattr(check, "equivalent"):  # votes compare two sampled answers with it (rlrewards.eval.scoring.vote)
            targets[f"checker {name}.equivalent"] = lambda text, same=check.equivalent: all(
                same(text, other) in (True, False) for other in GOLDS
            )
    for name in REWARDS.names():
        targets.update(_reward_targets(name))
    targets.update(_prm_targets())
    targets["parse_confidence"] = lambda text: (lambda q: q is None or 0.0 <= q <= 1.0)(parse_confidence(text))
    targets["last_boxed"] = lambda text: (lambda got: got is None or isinstance(got, str))(last_boxed(text))
    targets["probed_confidence"] = lambda text: _finite_or_none(probed_confidence(text))
    targets["usc response_index"] = lambda text: response_index(text, 16) in (None, *range(16))
    return targets


TARGETS = all_targets()


def check_all(text: str) -> None:
    for name, check in TARGETS.items():
        with bounded(name):
            assert check(text), f"{name} broke its contract on a {len(text)}-char completion"


def test_targets_cover_every_registry():
    names = " ".join(TARGETS)
    assert all(f"format {n}.is_well_formed" in names for n in ANSWER_FORMATS.names())
    assert all(f"checker {n}" in names for n in CHECKERS.names())
    assert all(f"reward {n}[" in names for n in REWARDS.names())
    assert "prm arith_rule.step_reward" in names and "reward brier[tabc]" in names


def _fill(unit: str, size: int, tail: str = "") -> str:
    return (unit * (size // len(unit) + 1))[: size - len(tail)] + tail


TABC_BLOCK = "</think> <answer>1</answer> <analysis>a</analysis> <confidence>0.5</confidence> "
WORST_CASES = {
    "repeated_tabc_block": _fill(TABC_BLOCK, KB64, "x"),  # the case
    "repeated_tabc_block_well_formed": _fill(TABC_BLOCK, KB64 - len(TABC_BLOCK)) + TABC_BLOCK,
    "repeated_ta_block": _fill("</think><answer>1</answer>", KB64, "x"),
    "unclosed_tags": _fill("<think><answer><analysis><confidence>\\boxed{", KB64),
    "nested_tags": "<answer>" * 4096 + "1" + "</answer>" * 4096,
    "open_braces": "\\boxed" + _fill("{", KB64 - 6),
    "digits_in_answer": "<answer>" + _fill("9", KB64 - 17) + "</answer>",
    "exponent_bombs": _fill("<answer>1e999999999</answer><confidence>1e-999999999</confidence>", KB64),
    "long_equation_step": "1+1=" + _fill("1", KB64 - 4),
    "nul_bytes": _fill("\x00", KB64),
    "whitespace_before_tags": _fill("</think>" + " " * 1000, KB64, "<answer>"),
    "open_think": "<think>" + _fill("a", KB64 - 7),
    "trailing_space": "<think>x</think><answer>1</answer>" + _fill(" ", KB64 - 35, "x"),
    # ZeroEval's json answers (zeroeval_json): keys the official regexes rescan from every occurrence, and a
    # sanitised answer full of \frac{ (the official substitution is quadratic on it)
    "unclosed_json_answers": _fill('"answer": "', KB64),
    "bare_answer_keys": _fill("answer :", KB64),
    "frac_runs_in_json_answer": '{"answer": "' + _fill("\\\\frac{", KB64 - 14, "1}x") + '"}',
    "fractions_in_json_answer": '{"answer": "' + _fill("\\\\frac{1}{2}+", KB64 - 15, "1") + '"}',
}


@pytest.mark.parametrize("case", list(WORST_CASES))
def test_every_parser_is_bounded_on_64kb_worst_cases(case):
    check_all(WORST_CASES[case])


# The same examples on every run (CI stays deterministic) and no .hypothesis/ folder left in the work tree.
REPRODUCIBLE = {"derandomize": True, "database": None}
tag_soup = st.lists(st.sampled_from(TOKENS) | st.text(max_size=4), max_size=40).map("".join)
# Blocks made of the format's own links repeat into the shapes that make backtracking regexes explode.
LINKS = ("</think> <answer>", "1</answer> <analysis>", "a</analysis> <confidence>", "0.5</confidence> ", "<answer>")
repetitions = st.builds(
    lambda head, block, times, tail: head + block * times + tail,
    tag_soup,
    st.lists(st.sampled_from(TOKENS), min_size=1, max_size=8).map("".join)
    | st.lists(st.sampled_from(LINKS), min_size=2, max_size=6).map("".join),
    st.sampled_from([50, 200, 400]) | st.integers(1, 400),  # draws lean small; long runs are the point here
    st.sampled_from(["x", " ", ""]) | tag_soup,
)
huge_numbers = st.builds(
    lambda tag, digits, exponent: f"<{tag}>{'9' * digits}e{exponent}</{tag}> \\boxed{{{'1' * digits}}}",
    st.sampled_from(["answer", "confidence"]),
    st.integers(1, 20000),
    st.integers(-(10**12), 10**12),
)


@settings(
    max_examples=60,
    deadline=None,  # time is bounded per call by `bounded`, not per example
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    **REPRODUCIBLE,
)
@given(text=st.one_of(tag_soup, repetitions, huge_numbers))
def test_every_parser_is_total_and_bounded_on_adversarial_text(text):
    check_all(text)


# Regression: on short inputs (where they are fast) the linear parsers agree with the regexes they replaced.
OLD_ANSWER = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)
OLD_CONFIDENCE = re.compile(r"<confidence>(.*?)</confidence>", re.DOTALL)
short_soup = st.lists(st.sampled_from(TOKENS[:16]) | st.sampled_from(["x", "0.7", "\t"]), max_size=24).map("".join)


@settings(max_examples=300, deadline=None, **REPRODUCIBLE)
@given(text=short_soup)
def test_linear_format_checks_agree_with_the_official_patterns(text):
    for name in ("ta", "tabc"):
        fmt = get_answer_format(name)
        official = fmt.official_pattern.match(text) is not None
        if fmt.states_confidence:
            official = official and parse_confidence(text) is not None
        assert fmt.is_well_formed(text) == official


@settings(max_examples=300, deadline=None, **REPRODUCIBLE)
@given(text=short_soup)
def test_linear_extraction_agrees_with_findall(text):
    answers, confidences = OLD_ANSWER.findall(text), OLD_CONFIDENCE.findall(text)
    assert get_answer_format("answer_tag").extract_answer(text) == (answers[-1].strip() if answers else None)
    old_q = None
    if confidences and len(confidences[-1].strip()) <= 64:
        try:
            value = float(confidences[-1].strip())
            old_q = value if math.isfinite(value) and 0 <= value <= 1 else None
        except ValueError:
            pass
    assert parse_confidence(text) == old_q


@pytest.mark.parametrize(
    ("text", "ta", "tabc"),
    [
        ("<think>x</think> <answer>1</answer> <analysis>a</analysis> <confidence>0.5</confidence>\n", False, True),
        ("x</think>\n<answer>1</answer>  ", True, False),
        ("</think><answer>1</answer></think><answer>2</answer>", True, False),
        ("<answer>1</answer></think>", False, False),  # the link must come before the closing tag
        ("</think><answer></answer> trailing", False, False),
        ("</think> <answer>1</answer><analysis></analysis><confidence>nan</confidence>", False, False),
        ("</think> <answer>1</answer><analysis></analysis><confidence>1.5</confidence>", False, False),
    ],
)
def test_official_format_checks_by_hand(text, ta, tabc):
    assert get_answer_format("ta").is_well_formed(text) is ta
    assert get_answer_format("tabc").is_well_formed(text) is tabc
