import pytest
import torch

from rlrewards.algorithms.tempo import tempo_decomposition, tempo_statistics
from rlrewards.tasks.arith import ArithProblem, ArithTask
from rlrewards.tasks.arith_pick import ArithPickTask, group_distinct_answers, pick_prompt

SMALL = {"train": 200, "validation": 10, "test": 30}
KW = dict(max_operand=9, max_multiplier=5, max_value=99, split_sizes=SMALL)


def p(start, *ops):
    return ArithProblem(start, tuple(ops))


def test_groups_skip_a_repeated_answer_and_keep_order():
    a, b, c, d = p(1, ("+", 1)), p(3, ("-", 1)), p(2, ("*", 2)), p(5, ("+", 1))  # answers 2, 2, 4, 6
    groups = group_distinct_answers([a, b, c, d], size=2, count=1)
    assert groups == [(a, c)]  # b (answer 2) is skipped, not reused
    with pytest.raises(ValueError):
        group_distinct_answers([a, b, c, d], size=2, count=2)  # a,c then d alone: pool exhausted


def test_prompt_names_the_target_then_lists_labelled_expressions():
    assert pick_prompt(1, (p(12, ("+", 7)), p(5, ("*", 4), ("-", 2)))) == "B|A:12+7|B:5*4-2"


def test_rows_answer_the_named_expression_and_train_picks_at_random():
    task = ArithPickTask(**KW)
    test = task.load_split("test")
    for row in test:
        prompt = row["prompt"][0]["content"]
        label, *listed = prompt.split("|")
        expressions = dict(item.split(":") for item in listed)
        assert len(expressions) == 3
        # held-out references pick the named expression and end with its value
        completion = row["completion"][0]["content"]
        assert completion.startswith(f"{label}:{expressions[label]}\n\n")
        assert completion.endswith(f"<answer>{row['answer']}</answer>")
    picks_named = [
        row["completion"][0]["content"][0] == row["prompt"][0]["content"][0] for row in task.load_split("train")
    ]
    assert 0.2 < sum(picks_named) / len(picks_named) < 0.5  # uniform teacher: about 1/3


def test_expressions_of_a_prompt_have_distinct_values_and_splits_are_disjoint():
    task = ArithPickTask(**KW)
    seen = {}
    for split in ("train", "validation", "test"):
        groups = task._groups[split]
        assert len(groups) == SMALL[split]
        for group in groups:
            assert len({q.answer for q in group}) == 3
            for q in group:
                assert seen.setdefault(q.expression, split) == split
    assert ArithPickTask(**KW).load_split("test")["prompt"] == task.load_split("test")["prompt"]


def test_arith_draw_unchanged_by_the_refactor():
    # ArithTask's splits are draw_problems(split_sizes); test_arith.py pins their content.
    task = ArithTask(**KW)
    assert task._problems == task.draw_problems(SMALL)


def test_choices_validated():
    with pytest.raises(ValueError):
        ArithPickTask(choices=1, **KW)


def test_tempo_doubles_the_grpo_credit_of_a_pick_when_the_rest_follows_from_it():
    # One group of 4: picks A, A, B, C (token 0), each followed by a deterministic tail; only A is right.
    ids = [[1, 7, 8], [1, 7, 8], [2, 7, 9], [3, 7, 9]]
    rewards = torch.tensor([1.0, 1.0, 0.0, 0.0])
    result = tempo_decomposition(torch.tensor(ids), torch.ones(4, 3, dtype=torch.bool), rewards, 4, scale_by_std=False)
    # mean 0.5: GRPO gives +-0.5 everywhere; TD at token 0 is V(pick) - 0.5 = +-0.5; the shared A tail has no branch
    assert result.advantages[:, 0].tolist() == [1.0, 1.0, -1.0, -1.0]
    assert result.advantages[:, 1:].tolist() == [[0.5, 0.5], [0.5, 0.5], [-0.5, -0.5], [-0.5, -0.5]]


def test_tempo_credits_a_minority_right_pick_even_where_it_fails_later():
    # 8 completions: picks A, A, A (then tails x, x, y) and B..F; only A-x is right. mean 1/4, V(A) = 2/3.
    ids = torch.tensor([[1, 7], [1, 7], [1, 8], [2, 7], [3, 7], [4, 7], [5, 7], [6, 7]])
    rewards = torch.tensor([1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0])
    result = tempo_decomposition(ids, torch.ones_like(ids, dtype=torch.bool), rewards, 8, scale_by_std=False)
    # the failing A: GRPO -1/4 everywhere; TEMPO -1/4 + (2/3 - 1/4) = +1/6 at its pick, -1/4 + (0 - 2/3) at the slip
    torch.testing.assert_close(result.advantages[2], torch.tensor([1 / 6, -11 / 12]))
    stats = tempo_statistics(result)
    # branch tokens: token 0 of all 8 (A's TD 5/12 each, the others' -1/4), token 1 of the three A's
    # (TD 1/3, 1/3, -2/3); only the failing A's pick flips sign: 1 of 11
    assert stats["branch_flip_frac"] == pytest.approx(1 / 11)
