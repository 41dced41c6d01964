"""LiveBench-Math as the self-certainty paper grades it (rlrewards/recipes/livebench_math.py and
conf/task/livebench_math.yaml): exact sanitized answers for every row, symbolic equality for AMPS_Hard rows, the
checker chosen per row by subtask. Expected values are worked out by hand from the Self-Certainty fork's new_math.py
and livebench_utils.py."""

import json
import threading

import pytest
from conftest import CONFIG_DIR, FIXTURES
from hydra.utils import instantiate
from omegaconf import OmegaConf

from rlrewards.eval.scoring import sampling_metrics, score_samples
from rlrewards.eval.self_certainty_eval import self_certainty_metrics
from rlrewards.eval.voting import first_match_vote, weighted_majority_vote
from rlrewards.recipes import livebench_math
from rlrewards.recipes.livebench_math import (
    normalize_final_answer,
    remove_boxed,
    symbolically_equal,
    zeroeval_amps_hard_match,
    zeroeval_exact_match,
)
from rlrewards.recipes.zeroeval import zeroeval_answer, zeroeval_math_match
from rlrewards.rewards.checkers import get_checker
from rlrewards.tasks.hub import HubMathTask, field_value


def extracted(answer: str) -> str:
    """What the zeroeval_json format extracts from a completion answering ``answer``."""
    return zeroeval_answer(json.dumps({"reasoning": "r", "answer": answer}))


@pytest.mark.parametrize(
    ("answer", "gold", "correct"),
    [
        ("BBBBB", "B", True),  # AMC: the letter five times, collapsed to one
        ("C", "B", False),
        ("2, 1, 3", "2,1,3", True),  # an olympiad order: commas and spaces sanitized away on both sides
        ("3,1,2", "2,1,3", False),
        ("042", "042", True),  # AIME: "042" and "42" both sanitize to "42"
        ("42", "042", True),
        ("41", "042", False),
        (None, "B", False),
    ],
)
def test_exact_match_compares_sanitized_answers(answer, gold, correct):
    prediction = extracted(answer) if answer is not None else None
    assert zeroeval_exact_match(prediction, gold) is correct


def test_exact_match_has_no_first_number_fallback():
    # GSM8K and MATH L5 accept equal first numbers; LiveBench rows must match exactly (new_math.py skips the fallback
    # for them)
    prediction = extracted("0.5x")
    assert zeroeval_math_match(prediction, "0.5") is True
    assert zeroeval_exact_match(prediction, "0.5") is False


@pytest.mark.parametrize(
    ("text", "normalized"),
    [
        ("y=\\text{5}", "5"),  # the right side of the last "=", \text unwrapped
        ("\\textbf{7}", "7"),
        ("\\overline{3}", "3"),
        ("\\boxed{x+1}", "x+1"),
        ("\\fracab", "\\frac{a}{b}"),
        ("\\sqrt2", "\\sqrt{2}"),
        ("100,000", "100000"),
        ("1,a", "1,a"),  # not all digits: the comma stays
        ("so $x$ it is", "x"),
    ],
)
def test_normalize_final_answer(text, normalized):
    assert normalize_final_answer(text) == normalized


@pytest.mark.parametrize(
    ("text", "unboxed"),
    [("\\boxed{3}", "3"), ("\\boxed 3", "3"), ("x\\boxed{3}", "x\\boxed{3}"), ("\\boxed{3", "\\boxed{3"), ("3", "3")],
)
def test_remove_boxed_leaves_text_it_cannot_unbox(text, unboxed):
    assert remove_boxed(text) == unboxed


@pytest.mark.parametrize(
    ("answer", "correct"),
    [
        ("\\frac{x^2}{2}", True),  # sanitized to x^2/2 like the gold: equal strings
        ("0.5x^2", True),  # |x^2/2 - 0.5x^2| simplifies to 0
        ("\\boxed{\\frac{x^{2}}{2}}", True),  # unboxed, then equal as mathematics
        ("x^2", False),  # x^2/2 left over
        ("\\frac{x^2}{2}+C", False),  # the processed-output path keeps "+C" (C/1 left over)
        ("\\frac{x^2}{", False),  # does not parse
    ],
)
def test_amps_hard_accepts_symbolically_equal_answers(answer, correct):
    assert zeroeval_amps_hard_match(extracted(answer), "\\frac{x^2}{2}") is correct


def test_amps_hard_compares_answers_with_several_powers():
    # two carets are ordinary mathematics, not a power tower: the symbolic comparison runs
    gold = "\\frac{x^3}{3}+x^2"
    assert zeroeval_amps_hard_match(extracted("x^2+\\frac{x^3}{3}"), gold) is True
    assert zeroeval_amps_hard_match(extracted("3x^2+2x^3"), gold) is False


def test_amps_hard_never_parses_long_or_hostile_answers():
    assert zeroeval_amps_hard_match("x" * 5000, "x") is False
    assert symbolically_equal("2", "2^{2^{2^{99}}}") is False
    assert zeroeval_amps_hard_match(None, "x") is False


def test_amps_hard_is_not_graded_off_the_main_thread():
    results = []
    worker = threading.Thread(target=lambda: results.append(zeroeval_amps_hard_match("0.5x^2", "\\frac{x^2}{2}")))
    worker.start()
    worker.join()
    assert results == [None]
    assert zeroeval_amps_hard_match("x^2/2", "\\frac{x^2}{2}") is True  # equal strings need no alarm


def test_field_value_indexes_list_columns():
    record = {"turns": ["first", "second"], "meta": {"tags": ["a"]}}
    assert field_value(record, "turns.0") == "first"
    assert field_value(record, "meta.tags.0") == "a"
    assert field_value(record, "turns.2") is None
    assert field_value(record, "turns.x") is None


def livebench_task(**overrides) -> HubMathTask:
    cfg = OmegaConf.load(f"{CONFIG_DIR}/task/livebench_math.yaml")
    cfg.data_files = {"test": str(FIXTURES / "livebench_math" / "test.jsonl")}
    return instantiate(OmegaConf.merge(cfg, overrides), _convert_="all")


def test_the_task_picks_each_rows_checker_by_subtask():
    rows = livebench_task().load_split("test")
    assert [(row["subtask"], row["checker"]) for row in rows] == [
        ("amc_12a_2024", "zeroeval_exact"),
        ("amps_hard_integrals", "zeroeval_amps_hard"),
        ("imo", "zeroeval_exact"),
        ("aime_ii_2024", "zeroeval_exact"),
    ]
    assert rows[1]["answer"] == "\\frac{x^2}{2}" and rows[1]["task"] == "AMPS_Hard"


def test_a_rule_field_that_no_row_has_is_refused_when_the_split_loads():
    task = livebench_task(checker_by_field={"field": "subtsk", "contains": {"amps_hard": "zeroeval_amps_hard"}})
    with pytest.raises(ValueError, match=r"task\.checker_by_field\.field='subtsk' is in no row"):
        task.load_split("test")


@pytest.mark.parametrize(
    ("rule", "culprit"),
    [
        ("subtask", "task.checker_by_field"),
        ({"field": "subtask", "contains": {}}, "task.checker_by_field"),
        (
            {"field": "subtask", "contains": {"amps_hard": "no_such_checker"}},
            "task.checker_by_field.contains.amps_hard",
        ),
        ({"field": "subtask"}, "task.checker_by_field"),
        ({"field": "subtask", "contains": {"a": "exact"}, "extra": 1}, "task.checker_by_field"),
    ],
)
def test_a_bad_checker_rule_is_refused_when_the_task_is_built(rule, culprit):
    with pytest.raises(ValueError, match=culprit.replace(".", r"\.")):
        HubMathTask(path="livebench/math", checker="zeroeval_exact", checker_by_field=rule)


# --- votes pool AMPS_Hard answers (the official src/voting_from_list.py; its majority is its Borda with power 0) ---


def test_first_match_vote_gives_a_samples_vote_to_the_first_earlier_match():
    # b matches a, c matches b but not a: b's vote goes to a, c's to b (the official loop, not a transitive pooling)
    same = {("b", "a"), ("c", "b")}
    equivalent = lambda x, y: (x, y) in same  # noqa: E731
    assert first_match_vote(["a", "b", "c"], [1.0, 1.0, 1.0], equivalent) == "a"  # votes a: 2, b: 1
    assert first_match_vote(["a", "b", "c"], [1.0, 1.0, 5.0], equivalent) == "b"  # a: 2, b: 5 (c's), c: 0
    assert first_match_vote(["a", "c", "c"], [1.0, 1.0, 1.0], equivalent) == "c"  # nothing earlier matches c
    assert first_match_vote([None, "a", "b"], [9.0, 1.0, 1.0], equivalent) == "a"  # None gives no vote; b joins a
    assert first_match_vote([None, None], [1.0, 1.0], equivalent) is None


def test_first_match_vote_compares_each_distinct_pair_once_and_agrees_with_string_votes_without_equivalence():
    calls = []
    never = lambda x, y: calls.append((x, y)) and False  # noqa: E731
    answers = ["p", "q", "p", "q", None, "r", "q"]
    weights = [0.5, 1.0, 2.0, 0.25, 3.0, 1.5, 1.0]
    assert first_match_vote(answers, weights, never) == weighted_majority_vote(answers, weights) == "p"
    assert sorted(calls) == [("q", "p"), ("r", "p"), ("r", "q")]


def amps_records(checker: str) -> list[dict]:
    """One AMPS_Hard prompt (gold x^2/2) with four samples: two equal as mathematics, two equal as strings."""
    gold = "\\frac{x^2}{2}"
    answers = ["x^2/2", "0.5x^2", "x^2", "x^2"]
    return [
        {"id": "amps", "sample": i, "extracted": a, "correct": bool(get_checker(checker)(a, gold)), "checker": checker,
         "self_certainty": score}
        for i, (a, score) in enumerate(zip(answers, [0.1, 0.2, 0.3, 0.4]))
    ]  # fmt: skip


def test_majority_and_borda_pool_symbolically_equal_amps_answers():
    pooled, strings = amps_records("zeroeval_amps_hard"), amps_records("zeroeval_exact")
    assert [r["correct"] for r in pooled] == [True, True, False, False]
    # pooled: x^2/2 gets its own vote and 0.5x^2's (2), x^2 two (2): a tie, to the earlier sample, right
    assert sampling_metrics(pooled, sizes=[4])["maj@4"] == 1.0
    assert sampling_metrics(strings, sizes=[4])["maj@4"] == 0.0  # as strings: x^2 (2) beats the others (1 each)
    # Borda, power 1, ranks by score 0.4, 0.3, 0.2, 0.1: x^2 gets 4 + 3 = 7; pooled x^2/2 gets 1 + 2 = 3: x^2
    assert self_certainty_metrics(pooled, power=1.0, sizes=[4])["borda_sc@4"] == 0.0
    # power 0 is the majority vote: the same tie as maj@4
    assert self_certainty_metrics(pooled, power=0.0, sizes=[4])["borda_sc@4"] == 1.0
    assert self_certainty_metrics(strings, power=0.0, sizes=[4])["borda_sc@4"] == 0.0


def test_score_samples_records_the_rows_checker():
    rows = livebench_task().load_split("test").select([1])
    completions = [[json.dumps({"reasoning": "r", "answer": "0.5x^2"})]]
    [record] = score_samples(rows, completions, "zeroeval_json")
    assert record["checker"] == "zeroeval_amps_hard" and record["extracted"] == "0.5x^2" and record["correct"]


def test_symbolic_verdicts_are_remembered_across_calls(monkeypatch):
    # votes compare the same pairs for k = 1, 2, 4, ...: each pair is parsed and simplified once
    calls = []
    monkeypatch.setattr(livebench_math, "_VERDICTS", {})
    monkeypatch.setattr(livebench_math, "_compare", lambda gold, answer: calls.append((gold, answer)) or True)
    for _ in range(3):
        assert zeroeval_amps_hard_match("0.5x^2", "\\frac{x^2}{2}") is True
        assert get_checker("zeroeval_amps_hard").equivalent("0.5x^2", "x^2/2") is True
    assert calls == [("x^2/2", "0.5x^2"), ("0.5x^2", "x^2/2")]


def test_a_comparison_that_runs_out_of_time_is_not_equal_and_does_not_end_the_run(monkeypatch):
    # math-verify's alarm raises a BaseException; it must become "not equal", not propagate
    import time

    import latex2sympy2_extended

    monkeypatch.setattr(livebench_math, "SYMBOLIC_TIMEOUT_S", 1)
    monkeypatch.setattr(livebench_math, "_VERDICTS", {})
    monkeypatch.setattr(latex2sympy2_extended, "latex2sympy", lambda text: time.sleep(3))
    started = time.perf_counter()
    assert zeroeval_amps_hard_match("0.5x^2", "\\frac{x^2}{2}") is False
    assert time.perf_counter() - started < 2.5
