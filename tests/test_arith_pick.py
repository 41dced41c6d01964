import pytest
import torch

from rlrewards.algorithms.tempo import tempo_decomposition, tempo_statistics
from rlrewards.tasks.arith import ArithProblem, ArithTask
from rlrewards.tasks.arith_pick import ArithPickTask, pick_solution_steps

SMALL = {"train": 200, "validation": 10, "test": 30}
KW = dict(max_operand=9, max_multiplier=5, max_value=99, split_sizes=SMALL)


def test_solution_opens_with_the_label_and_ends_with_its_offset():
    problem = ArithProblem(12, (("+", 7), ("*", 3), ("-", 5)))  # 52
    assert pick_solution_steps(problem, "B", 20) == ["B", "12+7=19", "19*3=57", "57-5=52", "52+20=72"]


def test_rows_answer_the_named_offset_and_train_opens_at_random():
    task = ArithPickTask(**KW)
    offsets = dict(zip("ABC", (10, 20, 30), strict=True))
    for row in task.load_split("test"):
        expression, label = row["prompt"][0]["content"].split("|")
        completion = row["completion"][0]["content"]
        # held-out references open with the named label; answer = value + offset
        assert completion.startswith(f"{label}\n\n")
        value = int(completion.split("\n\n")[-2].split("+")[0])
        assert row["answer"] == str(value + offsets[label])
        assert completion.endswith(f"<answer>{row['answer']}</answer>")
    train = task.load_split("train")
    opens_named = [row["completion"][0]["content"][0] == row["prompt"][0]["content"][-1] for row in train]
    assert 0.43 < sum(opens_named) / len(opens_named) < 0.57  # named_fraction 0.5 by default
    named = [row["prompt"][0]["content"][-1] for row in train]
    assert set(named) == {"A", "B", "C"}
    # a wrong opening answers with its own offset, so its final answer differs from the row's
    for row, right in zip(train, opens_named, strict=True):
        stated = row["completion"][0]["content"].split("<answer>")[1].split("<")[0]
        assert (stated == row["answer"]) == right


def test_splits_match_arith_and_are_deterministic():
    pick, plain = ArithPickTask(**KW), ArithTask(**KW)
    test = pick.load_split("test")
    assert [row["prompt"][0]["content"].split("|")[0] for row in test] == [
        row["prompt"][0]["content"] for row in plain.load_split("test")
    ]
    assert ArithPickTask(**KW).load_split("test")["prompt"] == test["prompt"]


def test_named_fraction_sets_how_often_the_teacher_copies_the_label():
    for fraction, expected in ((0.0, 0), (1.0, SMALL["train"])):
        train = ArithPickTask(named_fraction=fraction, **KW).load_split("train")
        copies = sum(row["completion"][0]["content"][0] == row["prompt"][0]["content"][-1] for row in train)
        assert copies == expected
    with pytest.raises(ValueError):
        ArithPickTask(named_fraction=1.5, **KW)


def test_offsets_validated():
    with pytest.raises(ValueError):
        ArithPickTask(offsets=[10], **KW)
    with pytest.raises(ValueError):
        ArithPickTask(offsets=[10, 10], **KW)
    with pytest.raises(ValueError):
        ArithPickTask(offsets=[0, 10], **KW)


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
    # summed over the three A's (same context at token 0), TEMPO's credit is exactly twice GRPO's n_A (V(A) - mean)
    assert result.advantages[:3, 0].sum().item() == pytest.approx(2 * 3 * (2 / 3 - 1 / 4))
    assert result.centered[:3].sum().item() == pytest.approx(3 * (2 / 3 - 1 / 4))
    stats = tempo_statistics(result)
    # branch tokens: token 0 of all 8 (A's TD 5/12 each, the others' -1/4), token 1 of the three A's
    # (TD 1/3, 1/3, -2/3); only the failing A's pick flips sign: 1 of 11
    assert stats["branch_flip_frac"] == pytest.approx(1 / 11)
