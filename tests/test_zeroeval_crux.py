"""CRUXEval as the self-certainty paper grades it (rlrewards/recipes/zeroeval_crux.py): the json answer as read,
compared as a string with CRUXEval's output literal; votes compare the official vote keys. Expected values are worked
out by hand from ZeroEval's crux_eval.py / the fork's new_crux.py and voting_from_list.py. scripts/
check_zeroeval_results.py checks the same grade against ZeroEval's published summaries."""

import json

import pytest

from rlrewards.eval.scoring import sampling_metrics
from rlrewards.recipes.zeroeval_crux import crux_vote_key, zeroeval_crux_match
from rlrewards.rewards.checkers import get_checker
from rlrewards.tasks.formats import get_answer_format

FORMAT = get_answer_format("zeroeval_json_raw")


@pytest.mark.parametrize(
    ("completion", "read"),
    [
        ('{"reasoning": "r", "answer": "\'hbtofdeiequ\'"}', "'hbtofdeiequ'"),  # kept as is: no math sanitizing
        ('{"reasoning": "r", "answer": [[3, 1], [2, 3]]}', "[[3, 1], [2, 3]]"),  # a json list, as Python's str
        ('{"reasoning": "r", "answer": {"1": null}}', "{'1': None}"),
        ('{"reasoning": "r", "answer": "1,000"}', "1,000"),  # zeroeval_json would read 1000
        ("no json here", None),
    ],
)
def test_the_raw_format_reads_the_answer_without_sanitizing(completion, read):
    assert FORMAT.extract_answer(completion) == read
    assert FORMAT.is_well_formed(completion) is (read is not None)


@pytest.mark.parametrize(
    ("prediction", "gold", "correct"),
    [
        ("'hbtofdeiequ'", "'hbtofdeiequ'", True),
        ("hbtofdeiequ", "'hbtofdeiequ'", True),  # quotes stripped from both
        ('"hbtofdeiequ"', "'hbtofdeiequ'", True),
        ("[[4, 1], [2, 3]]", "[(4, 1), (2, 3)]", False),  # strings, not values: lists are not tuples
        ("{1: None, 2: None}", "{1: None, 2: None}", True),
        ("'a\nb'", "'a\\nb'", True),  # a line break is written as \n
        ("", "''", True),  # both empty once the quotes are gone
        (None, "'x'", False),
    ],
)
def test_crux_grade_compares_strings(prediction, gold, correct):
    assert zeroeval_crux_match(prediction, gold) is correct


def test_vote_keys_cut_repeated_first_characters_as_the_official_voting_does():
    assert crux_vote_key("'abc'") == "abc"
    assert crux_vote_key("1111") == "1"  # convert_AAAAA_to_A, then the grade's stripping
    assert crux_vote_key("  'xyz'  ") == "xyz"
    assert get_checker("zeroeval_crux").equivalent("11110", "1")
    assert not get_checker("zeroeval_crux").equivalent("1110", "1")


def test_votes_pool_answers_with_equal_vote_keys_and_grade_the_voted_sample():
    # gold 1111: "1111" is right and "1" wrong, but their vote keys are both "1": "1" votes for sample 0, which ties
    # with "2" (two votes) and wins as the earlier sample; its own answer, "1111", is graded
    answers = ["1111", "1", "2", "2"]
    records = [
        {"id": "c", "sample": i, "extracted": a, "checker": "zeroeval_crux", "correct": zeroeval_crux_match(a, "1111")}
        for i, a in enumerate(answers)
    ]
    assert [r["correct"] for r in records] == [True, False, False, False]
    assert sampling_metrics(records, sizes=[4])["maj@4"] == 1.0
    unpooled = [{**r, "checker": "exact"} for r in records]
    assert sampling_metrics(unpooled, sizes=[4])["maj@4"] == 0.0  # as plain strings "2" wins


def test_the_raw_format_renders_what_it_reads():
    rendered = FORMAT.render(["step one", "step two"], "[(1, 2)]")
    assert json.loads(rendered.removeprefix("```json\n").removesuffix("\n```"))["answer"] == "[(1, 2)]"
    assert FORMAT.extract_answer(rendered) == "[(1, 2)]"
