import math

import pytest
import torch

from rlrewards.algorithms.nsr import signed_advantages, trained_rows

REWARDS = torch.tensor([1.0, 0.0, 1.0, float("nan"), 0.0])


@pytest.mark.parametrize(
    ("weights", "expected", "kept"),
    [
        ((1.0, 0.0), [1.0, -0.0, 1.0, 0.0, -0.0], [True, False, True, False, False]),  # PSR
        ((0.0, 1.0), [0.0, -1.0, 0.0, 0.0, -1.0], [False, True, False, False, True]),  # NSR
        ((0.1, 1.0), [0.1, -1.0, 0.1, 0.0, -1.0], [True, True, True, False, True]),  # W-REINFORCE, lambda = 0.1
    ],
)
def test_signed_advantages_and_trained_rows_by_hand(weights, expected, kept):
    advantages = signed_advantages(REWARDS, *weights)
    assert advantages.tolist() == pytest.approx(expected)
    assert trained_rows(REWARDS, *weights).tolist() == kept


def test_official_weighted_case_matches_return_times_lambda_minus_one_for_wrong_rows():
    # the official W-REINFORCE: return (1 or 0) times 0.1 on correct rows, return - 1 on incorrect rows
    rewards = torch.tensor([1.0, 0.0, 0.0, 1.0])
    official = [r * 0.1 if r == 1 else r - 1 for r in rewards.tolist()]
    assert signed_advantages(rewards, 0.1, 1.0).tolist() == pytest.approx(official)


def test_a_half_reward_is_incorrect_and_nothing_is_nan():
    advantages = signed_advantages(torch.tensor([0.5, 0.51, float("nan")]), 0.1, 1.0)
    assert advantages.tolist() == pytest.approx([-1.0, 0.1, 0.0])
    assert not any(math.isnan(a) for a in advantages.tolist())


@pytest.mark.parametrize(
    "bad", [{"positive_weight": -1.0, "negative_weight": 1.0}, {"positive_weight": 1.0, "negative_weight": -0.5}]
)
def test_negative_weights_are_refused(bad):
    with pytest.raises(ValueError, match="weights must be >= 0"):
        signed_advantages(REWARDS, **bad)


def test_rewards_must_be_one_dimensional():
    with pytest.raises(ValueError, match="1-D"):
        signed_advantages(torch.zeros(2, 2), 1.0, 1.0)
