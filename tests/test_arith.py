import random

import pytest

from rlrewards.tasks.arith import ArithProblem, ArithTask, sample_problem
from rlrewards.tasks.formats import get_answer_format

SMALL = {"train": 300, "validation": 20, "test": 50}


def test_problem_steps_and_answer_are_left_to_right():
    problem = ArithProblem(12, (("+", 7), ("*", 3), ("-", 5)))
    assert problem.expression == "12+7*3-5"
    assert problem.steps() == ["12+7=19", "19*3=57", "57-5=52"]
    assert problem.answer == 52


def test_answer_tag_solution_separates_steps_with_blank_lines():
    fmt = get_answer_format("answer_tag")
    text = fmt.render(ArithProblem(2, (("+", 3), ("*", 4))).steps(), "20")
    assert text == "2+3=5\n\n5*4=20\n\n<answer>20</answer>"
    assert fmt.extract_answer(text) == "20"
    assert fmt.is_well_formed(text)
    assert not fmt.is_well_formed(text + " trailing")


def test_think_answer_format():
    fmt = get_answer_format("think_answer")
    text = fmt.render(["1+1=2"], "2")
    assert text == "<think>1+1=2</think> <answer>2</answer>"
    assert fmt.is_well_formed(text)
    assert not fmt.is_well_formed("<think>a</think> <answer>2</answer><answer>3</answer>")
    assert fmt.extract_answer("<answer>1</answer> then <answer> 3 </answer>") == "3"
    assert fmt.extract_answer("no tags") is None


def test_sampled_values_stay_in_range():
    rng = random.Random(0)
    for _ in range(2000):
        problem = sample_problem(rng, steps=3, max_operand=9, max_multiplier=5, max_value=99)
        value = problem.start
        for op, operand in problem.ops:
            value = {"+": value + operand, "-": value - operand, "*": value * operand}[op]
            assert 0 <= value <= 99
        assert value == problem.answer


def test_splits_are_deterministic_disjoint_and_complete():
    task = ArithTask(split_sizes=SMALL, max_operand=9, max_multiplier=5, max_value=99)
    again = ArithTask(split_sizes=SMALL, max_operand=9, max_multiplier=5, max_value=99)
    splits = {s: task.load_split(s) for s in SMALL}
    assert {s: len(d) for s, d in splits.items()} == SMALL
    assert splits["test"]["prompt"] == again.load_split("test")["prompt"]
    expressions = {s: {p[0]["content"] for p in d["prompt"]} for s, d in splits.items()}
    assert not expressions["train"] & expressions["test"]
    assert not expressions["train"] & expressions["validation"]
    row = splits["train"][0]
    assert row["checker"] == "numeric"
    assert row["completion"][0]["content"].endswith(f"<answer>{row['answer']}</answer>")
    assert row["level"] == row["completion"][0]["content"].count("=")


def test_other_seed_gives_other_problems():
    a = ArithTask(split_sizes=SMALL, seed=1).load_split("test")["answer"]
    b = ArithTask(split_sizes=SMALL, seed=2).load_split("test")["answer"]
    assert a != b


def test_bad_difficulty_is_rejected_with_the_key():
    with pytest.raises(ValueError, match="task.min_steps=3 and task.max_steps=2"):
        ArithTask(min_steps=3, max_steps=2)
    with pytest.raises(ValueError, match="unknown split|Unknown split"):
        ArithTask(split_sizes=SMALL).load_split("dev")


def test_problems_that_reach_max_value_still_sample():
    # Long chains hit max_value; "+" is then impossible and must not be drawn (it raised before).
    task = ArithTask(
        min_steps=1,
        max_steps=4,
        max_operand=9,
        max_multiplier=5,
        max_value=99,
        split_sizes={"train": 3000, "validation": 10, "test": 10},
    )
    rows = task.load_split("train")
    assert len(rows) == 3000 and set(rows["level"]) == {1, 2, 3, 4}
    assert all(0 <= int(a) <= 99 for a in rows["answer"])


def test_direct_answer_fraction_strips_the_steps_of_that_share_of_training_solutions_only():
    sizes = {"train": 2000, "validation": 10, "test": 200}
    worked = ArithTask(split_sizes=sizes)
    sloppy = ArithTask(split_sizes=sizes, direct_answer_fraction=0.5)
    train, reference = sloppy.load_split("train"), worked.load_split("train")
    texts = [row[0]["content"] for row in train["completion"]]
    direct = [t for t in texts if "\n\n" not in t]
    assert 0.45 < len(direct) / len(texts) < 0.55
    assert all(t.startswith("<answer>") and t.endswith("</answer>") for t in direct)
    for text, full, answer in zip(texts, reference["completion"], train["answer"]):
        assert text == full[0]["content"] or text == f"<answer>{answer}</answer>"  # only the steps go
    assert train["prompt"] == reference["prompt"] and train["answer"] == reference["answer"]
    assert sloppy.load_split("test")["completion"] == worked.load_split("test")["completion"]
    assert sloppy.load_split("train")["completion"] == train["completion"]  # deterministic
    with pytest.raises(ValueError, match="direct_answer_fraction"):
        ArithTask(direct_answer_fraction=1.5)


def test_restate_results_adds_a_bare_result_line_after_the_drawn_steps():
    from rlrewards.tasks.arith import restate_results

    lines = ["3+4=7", "7*2=14", "14-5=9"]
    assert restate_results(lines, [0.1, 0.9, 0.2], 0.5) == ["3+4=7", "7", "7*2=14", "14-5=9", "9"]
    assert restate_results(lines, [0.1, 0.9, 0.2], 0.0) == lines
    assert restate_results(lines, [0.1, 0.9, 0.2], 1.0) == ["3+4=7", "7", "7*2=14", "14", "14-5=9", "9"]


def test_restate_fraction_touches_worked_training_solutions_only():
    sizes = {"train": 1000, "validation": 10, "test": 100}
    plain = ArithTask(split_sizes=sizes)
    chatty = ArithTask(split_sizes=sizes, restate_fraction=0.3)
    texts = [row[0]["content"] for row in chatty.load_split("train")["completion"]]
    reference = [row[0]["content"] for row in plain.load_split("train")["completion"]]
    changed = [(t, r) for t, r in zip(texts, reference) if t != r]
    assert 0.3 < len(changed) / len(texts) < 0.8  # 1 - 0.7**steps of the solutions with 2..3 steps
    for text, ref in changed:
        assert [s for s in text.split("\n\n") if "=" in s or "<" in s] == ref.split("\n\n")
    assert chatty.load_split("test")["completion"] == plain.load_split("test")["completion"]
    with pytest.raises(ValueError, match="restate_fraction"):
        ArithTask(restate_fraction=-0.1)
