"""Sampling metrics every multi-sample evaluation reports: unbiased pass@k and maj@k, against hand-computed values."""

import math

import pytest

from rlrewards.eval.generation import sampling_metrics
from rlrewards.eval.metrics import pass_at_k


def test_pass_at_k_hand_computed():
    assert pass_at_k(4, 1, 2) == pytest.approx(1 - 3 / 6)  # 1 - C(3,2)/C(4,2)
    assert pass_at_k(5, 2, 2) == pytest.approx(1 - 3 / 10)  # 1 - C(3,2)/C(5,2)
    assert pass_at_k(32, 5, 1) == pytest.approx(5 / 32)  # pass@1 is the mean accuracy
    assert pass_at_k(32, 3, 8) == pytest.approx(1 - math.comb(29, 8) / math.comb(32, 8))
    assert pass_at_k(3, 0, 2) == 0.0 and pass_at_k(4, 3, 2) == 1.0  # no right sample; too few wrong ones
    with pytest.raises(ValueError, match="pass@k"):
        pass_at_k(2, 1, 3)


def test_sampling_metrics_pass_and_majority_over_the_first_k():
    def rec(prompt, sample, answer, correct):
        return {"id": prompt, "sample": sample, "extracted": answer, "correct": correct}

    records = [
        # prompt a: answers 7 (right), 5, 5, 7 -> maj@1 right, maj@2 tie (first seen: 7) right, maj@4 tie 7/5 -> 7
        rec("a", 0, "7", True), rec("a", 1, "5", False), rec("a", 2, "5", False), rec("a", 3, "7", True),
        # prompt b: 3, 3, 4 (right), 3 -> maj wrong at every k; one right sample of 4
        rec("b", 3, "3", False), rec("b", 0, "3", False), rec("b", 1, "3", False), rec("b", 2, "4", True),
    ]  # fmt: skip
    metrics = sampling_metrics(records, sizes=(1, 2, 4, 8))
    assert set(metrics) == {"pass@1", "pass@2", "pass@4", "maj@1", "maj@2", "maj@4"}  # no k beyond 4 samples
    assert metrics["pass@1"] == pytest.approx((2 / 4 + 1 / 4) / 2)
    assert metrics["pass@2"] == pytest.approx(((1 - 1 / 6) + (1 - 3 / 6)) / 2)
    assert metrics["pass@4"] == pytest.approx(1.0)
    assert metrics["maj@1"] == pytest.approx(0.5) and metrics["maj@4"] == pytest.approx(0.5)
