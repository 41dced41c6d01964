"""TEMPO advantages against hand-computed trees and the official per-token loop."""

import math

import pytest
import torch

from rlrewards.algorithms.tempo import (
    pairwise_lcp,
    tempo_advantages,
    tempo_advantages_loop,
    tempo_decomposition,
    tempo_statistics,
)

EPS = 1e-6


def test_branching_group_matches_hand_computed_tree():
    # c0 and c1 share "1 2" then split; c2 leaves after "1". Rewards 1, 0, 0: mean 1/3, unbiased std sqrt(1/3).
    ids = torch.tensor([[1, 2, 3], [1, 2, 4], [1, 5, 6]])
    mask = torch.ones_like(ids, dtype=torch.bool)
    rewards = torch.tensor([1.0, 0.0, 0.0])
    std = math.sqrt(1 / 3)
    expected = torch.tensor(
        [
            [2 / 3, 2 / 3 + 1 / 6, 2 / 3 + 1 / 2],  # V: 1/3 -> 1/3 -> 1/2 -> 1
            [-1 / 3, -1 / 3 + 1 / 6, -1 / 3 - 1 / 2],  # V: 1/3 -> 1/3 -> 1/2 -> 0
            [-1 / 3, -1 / 3 - 1 / 3, -1 / 3],  # V: 1/3 -> 1/3 -> 0, alone afterwards
        ]
    ) / (std + EPS)
    result = tempo_decomposition(ids, mask, rewards, group_size=3)
    torch.testing.assert_close(result.advantages, expected)
    assert result.branch_mask.tolist() == [[False, True, True], [False, True, True], [False, True, False]]
    stats = tempo_statistics(result)
    assert stats["branch_token_frac"] == pytest.approx(5 / 9)
    assert stats["mean_branch_depth"] == pytest.approx(7 / 5)
    # |TD| = 1/6 + 1/2 + 1/6 + 1/2 + 1/3 = 5/3; |r - mean| over tokens = 3 * (2/3 + 1/3 + 1/3) = 4.
    assert stats["td_share"] == pytest.approx((5 / 3) / (5 / 3 + 4))
    # at the 5 branch tokens |r - mean| = 2/3 + 2/3 (c0) + 1/3 + 1/3 (c1) + 1/3 (c2) = 7/3; no sign flips
    assert stats["td_share_at_branches"] == pytest.approx((5 / 3) / (5 / 3 + 7 / 3))
    assert stats["branch_flip_frac"] == 0.0


def test_duplicates_count_once_each():
    # c0 and c1 are identical (rewards 1 and 0); c2 differs from the first token. mean 2/3, std sqrt(1/3).
    ids = torch.tensor([[1, 2], [1, 2], [3, 4]])
    rewards = torch.tensor([1.0, 0.0, 1.0])
    std = math.sqrt(1 / 3)
    expected = torch.tensor([[1 / 3 - 1 / 6, 1 / 3], [-2 / 3 - 1 / 6, -2 / 3], [1 / 3 + 1 / 3, 1 / 3]]) / (std + EPS)
    torch.testing.assert_close(tempo_advantages(ids, torch.ones_like(ids), rewards, 3), expected)


def test_ragged_lengths_and_padding_that_equals_a_real_token():
    # c1 ends after two tokens and is padded with id 3, the same id c0 emits next: it must not count as shared.
    ids = torch.tensor([[1, 2, 3], [1, 2, 3]])
    mask = torch.tensor([[1, 1, 1], [1, 1, 0]])
    rewards = torch.tensor([1.0, 0.0])
    std = math.sqrt(0.5)
    expected = torch.tensor([[0.5, 0.5, 1.0], [-0.5, -0.5, 0.0]]) / (std + EPS)
    result = tempo_decomposition(ids, mask, rewards, 2)
    torch.testing.assert_close(result.advantages, expected)
    assert result.branch_mask.tolist() == [[False, False, True], [False, False, False]]


@pytest.mark.parametrize("mask_dtype", [torch.bool, torch.int64, torch.float32])
def test_mask_dtypes_agree(mask_dtype):
    ids = torch.tensor([[1, 2, 3, 0], [1, 5, 0, 0], [1, 2, 4, 4], [7, 0, 0, 0]])
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 0, 0], [1, 1, 1, 1], [1, 0, 0, 0]])
    rewards = torch.tensor([1.0, 0.0, 0.5, 0.0])
    reference = tempo_advantages(ids, mask.bool(), rewards, 4)
    torch.testing.assert_close(tempo_advantages(ids, mask.to(mask_dtype), rewards, 4), reference)
    assert (reference[~mask.bool()] == 0).all()


def test_equal_rewards_and_singleton_groups_give_zero_not_nan():
    ids = torch.tensor([[1, 2], [1, 3], [4, 5], [6, 7]])
    mask = torch.ones_like(ids)
    equal = tempo_advantages(ids, mask, torch.tensor([1.0, 1.0, 0.0, 0.0]), group_size=2)
    assert torch.equal(equal, torch.zeros(4, 2))
    singles = tempo_advantages(ids, mask, torch.tensor([1.0, 0.0, 0.3, 1.0]), group_size=1)
    assert torch.equal(singles, torch.zeros(4, 2))
    unscaled = tempo_advantages(ids, mask, torch.tensor([1.0, 0.0, 0.3, 1.0]), group_size=1, scale_by_std=False)
    assert torch.equal(unscaled, torch.zeros(4, 2))


def test_distinct_first_tokens_double_the_first_token_and_keep_grpo_elsewhere():
    ids = torch.tensor([[1, 9, 9, 9], [2, 9, 9, 9], [3, 9, 9, 9], [4, 9, 9, 9]])
    rewards = torch.tensor([1.0, 0.0, 0.0, 1.0])
    grpo = (rewards - rewards.mean()) / (rewards.std() + EPS)
    advantages = tempo_advantages(ids, torch.ones_like(ids), rewards, 4)
    torch.testing.assert_close(advantages[:, 0], 2 * grpo)
    torch.testing.assert_close(advantages[:, 1:], grpo.unsqueeze(1).expand(4, 3))


def test_td_terms_telescope_to_centered_reward_for_completions_with_their_own_leaf():
    gen = torch.Generator().manual_seed(3)
    ids = torch.randint(0, 3, (6 * 5, 8), generator=gen)
    rewards = torch.rand(30, generator=gen)
    result = tempo_decomposition(ids, torch.ones_like(ids), rewards, group_size=5, scale_by_std=False)
    lcp = pairwise_lcp(ids.view(6, 5, 8), torch.ones(6, 5, 8, dtype=torch.bool))
    own_leaf = (lcp < 8).sum(dim=2).view(-1) == 4  # differs from every other member before its end
    assert own_leaf.sum() > 10
    centered = rewards - rewards.view(6, 5).mean(dim=1).repeat_interleave(5)
    torch.testing.assert_close(result.td.sum(dim=1)[own_leaf], centered[own_leaf])


@pytest.mark.parametrize("scale_by_std", [True, False])
def test_vectorised_matches_official_loop_on_random_groups(scale_by_std):
    gen = torch.Generator().manual_seed(0)
    for _ in range(40):
        group_size = int(torch.randint(1, 7, (1,), generator=gen))
        groups, length = int(torch.randint(1, 4, (1,), generator=gen)), int(torch.randint(1, 10, (1,), generator=gen))
        ids = torch.randint(0, 3, (groups * group_size, length), generator=gen)  # tiny vocab: deep shared prefixes
        lengths = torch.randint(0, length + 1, (groups * group_size,), generator=gen)
        mask = torch.arange(length).unsqueeze(0) < lengths.unsqueeze(1)
        rewards = torch.randint(0, 3, (groups * group_size,), generator=gen).float()
        fast = tempo_advantages(ids, mask, rewards, group_size, scale_by_std=scale_by_std)
        slow = tempo_advantages_loop(ids, mask, rewards, group_size, scale_by_std=scale_by_std)
        torch.testing.assert_close(fast, slow)


def test_long_shared_prefixes_cross_chunk_boundaries():
    ids = torch.zeros(3, 300, dtype=torch.long)
    ids[1, 200] = 1  # c1 leaves c0 at token 200, beyond the first LCP window
    ids[2, 299] = 2
    rewards = torch.tensor([1.0, 0.0, 0.0])
    lcp = pairwise_lcp(ids.view(1, 3, 300), torch.ones(1, 3, 300, dtype=torch.bool), first_chunk=16)
    assert lcp[0].tolist() == [[300, 200, 299], [200, 300, 200], [299, 200, 300]]
    torch.testing.assert_close(
        tempo_advantages(ids, torch.ones_like(ids), rewards, 3),
        tempo_advantages_loop(ids, torch.ones_like(ids), rewards, 3),
    )


def test_bad_shapes_and_non_finite_rewards_are_rejected():
    ids = torch.zeros(4, 3, dtype=torch.long)
    with pytest.raises(ValueError, match="group_size=3"):
        tempo_advantages(ids, torch.ones_like(ids), torch.zeros(4), 3)
    with pytest.raises(ValueError, match="finite"):
        tempo_advantages(ids, torch.ones_like(ids), torch.tensor([0.0, float("nan"), 1.0, 0.0]), 2)
    with pytest.raises(ValueError, match="rewards must have shape"):
        tempo_advantages(ids, torch.ones_like(ids), torch.zeros(3), 2)


def test_a_fully_masked_row_is_not_in_the_tree():
    # TRL's mask_truncated_completions zeroes the whole mask of a truncated completion (c2). c0 and c1 share "1 2"
    # and split at token 2. Rewards 1, 0, 0: mean 1/3, std sqrt(1/3) over all three (the GRPO part keeps c2).
    # Were c2 a path, every other row would "branch" from it at token 0 with TD = mean(1, 0) - mean(1, 0, 0) = 1/6.
    ids = torch.tensor([[1, 2, 3], [1, 2, 4], [5, 5, 5]])
    mask = torch.tensor([[1, 1, 1], [1, 1, 1], [0, 0, 0]])
    rewards = torch.tensor([1.0, 0.0, 0.0])
    std = math.sqrt(1 / 3)
    expected = torch.tensor([[2 / 3, 2 / 3, 2 / 3 + 1 / 2], [-1 / 3, -1 / 3, -1 / 3 - 1 / 2], [0.0, 0.0, 0.0]])
    result = tempo_decomposition(ids, mask, rewards, group_size=3)
    torch.testing.assert_close(result.advantages, expected / (std + EPS))
    assert result.branch_mask.tolist() == [[False, False, True], [False, False, True], [False, False, False]]
    torch.testing.assert_close(tempo_advantages_loop(ids, mask, rewards, 3), result.advantages)
