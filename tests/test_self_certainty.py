import math

import pytest
import torch

from rlrewards.algorithms.self_certainty import self_certainty
from rlrewards.eval.voting import borda_vote, majority_vote


def test_uniform_distributions_have_zero_self_certainty():
    logits = torch.zeros(2, 3, 5)
    assert self_certainty(logits, torch.ones(2, 3)).tolist() == pytest.approx([0.0, 0.0], abs=1e-6)


def test_self_certainty_by_hand():
    # V = 2: p = softmax([log 3, 0]) = (3/4, 1/4); KL(U || p) = -log 2 - (log 3/4 + log 1/4) / 2
    one_token = -math.log(2) - (math.log(0.75) + math.log(0.25)) / 2
    logits = torch.tensor([[[math.log(3.0), 0.0], [0.0, 0.0], [5.0, 5.0]]])
    mask = torch.tensor([[1, 1, 0]])  # the padded third position is left out: mean of one_token and 0
    assert self_certainty(logits, mask).item() == pytest.approx(one_token / 2, rel=1e-6)


def test_official_vocab_size_divides_the_sum_over_the_logits_dimension():
    # official: -(1/V) * sum_j log p_j - log V with V = config.vocab_size, the sum over all logits columns
    logits = torch.tensor([[[1.0, 2.0, 0.5]]])
    log_p = torch.log_softmax(logits, dim=-1).sum().item()
    expected = -log_p / 4 - math.log(4)
    assert self_certainty(logits, torch.ones(1, 1), vocab_size=4).item() == pytest.approx(expected, rel=1e-6)


def test_chunks_give_the_same_values_and_empty_rows_score_zero():
    torch.manual_seed(0)
    logits = torch.randn(5, 4, 7) * 3
    mask = torch.tensor([[1, 1, 1, 0], [1, 0, 0, 0], [0, 0, 0, 0], [1, 1, 1, 1], [1, 1, 0, 0]])
    whole = self_certainty(logits, mask, chunk_size=5)
    assert torch.allclose(self_certainty(logits, mask, chunk_size=2), whole)
    assert whole[2].item() == 0.0
    assert bool((whole[[0, 1, 3, 4]] > 0).all())  # a KL divergence from uniform of peaked distributions


def test_a_sharper_distribution_is_more_certain():
    flat, sharp = torch.tensor([[[1.0, 0.0, 0.0]]]), torch.tensor([[[4.0, 0.0, 0.0]]])
    assert self_certainty(sharp, torch.ones(1, 1)).item() > self_certainty(flat, torch.ones(1, 1)).item()


def test_borda_vote_by_hand():
    # N = 4, power 1: ranks by score 0.9 (s1), 0.8 (s3), 0.5 (s0), 0.1 (s2) -> votes 4, 3, 2, 1
    answers, scores = ["a", "b", "a", "c"], [0.5, 0.9, 0.1, 0.8]
    # a: 2 + 1 = 3; b: 4; c: 3 -> b wins although a is the majority
    assert borda_vote(answers, scores, power=1.0) == "b"
    assert majority_vote(answers) == "a"
    # power 0 is majority voting
    assert borda_vote(answers, scores, power=0.0) == "a"
    # power 0.5: a = sqrt2 + 1 = 2.414, b = 2, c = sqrt3 = 1.732 -> a
    assert borda_vote(answers, scores, power=0.5) == "a"


def test_borda_vote_none_answers_never_win_and_ties_go_to_the_answer_seen_first():
    assert borda_vote([None, "x"], [10.0, 0.0], power=1.0) == "x"
    assert borda_vote([None, None], [1.0, 2.0]) is None
    # equal scores keep sample order: "y" (rank 1) gets 2, "x" gets 1
    assert borda_vote(["y", "x"], [1.0, 1.0], power=1.0) == "y"
    # total tie (x: 2 + ... ) -> the answer seen first
    assert borda_vote(["x", "y", "y", "x"], [4.0, 3.0, 2.0, 1.0], power=0.0) == "x"


def test_borda_vote_nan_scores_rank_last_and_lengths_must_agree():
    assert borda_vote(["a", "b"], [float("nan"), 0.0], power=1.0) == "b"
    with pytest.raises(ValueError, match="2 answers but 1 scores"):
        borda_vote(["a", "b"], [1.0])
