import math

import pytest
import torch
from trl.trainer.utils import nanstd

from rlrewards.algorithms.grpo import group_advantages


def test_hand_computed_group_advantages():
    # group 1: rewards (1, 0, 0, 1): mean 0.5, unbiased std sqrt(1/3) = 0.57735
    # group 2: rewards (1, 1, 1, 1): zero std -> advantage 0
    rewards = torch.tensor([1.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0])
    out = group_advantages(rewards, group_size=4)
    a = 0.5 / (math.sqrt(1 / 3) + 1e-4)
    assert out.tolist() == pytest.approx([a, -a, -a, a, 0, 0, 0, 0], abs=1e-6)


def test_scale_none_and_batch():
    rewards = torch.tensor([2.0, 0.0, 1.0, 1.0])
    assert group_advantages(rewards, 2, scale="none").tolist() == [1.0, -1.0, 0.0, 0.0]
    batch_std = torch.tensor([2.0, 0.0, 1.0, 1.0]).std().item()  # unbiased: sqrt(2/3)
    expected = [1 / (batch_std + 1e-4), -1 / (batch_std + 1e-4), 0.0, 0.0]
    assert group_advantages(rewards, 2, scale="batch").tolist() == pytest.approx(expected, abs=1e-6)


def test_nan_rows_leave_the_statistics_and_get_zero():
    rewards = torch.tensor([1.0, float("nan"), 0.0])
    out = group_advantages(rewards, 3)
    a = 0.5 / (math.sqrt(0.5) + 1e-4)
    assert out.tolist() == pytest.approx([a, 0.0, -a], abs=1e-6)


def test_matches_trl_formula_on_random_rewards():
    torch.manual_seed(0)
    rewards = torch.randint(0, 3, (64,)).float()
    grouped = rewards.view(-1, 8)
    expected = (rewards - grouped.mean(1).repeat_interleave(8)) / (nanstd(grouped, dim=1).repeat_interleave(8) + 1e-4)
    assert torch.allclose(group_advantages(rewards, 8), expected)


def test_rejects_ragged_groups():
    with pytest.raises(ValueError, match="divisible by group_size=4"):
        group_advantages(torch.zeros(6), 4)
    with pytest.raises(ValueError, match="Unknown scale"):
        group_advantages(torch.zeros(4), 2, scale="rank")
