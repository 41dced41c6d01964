"""Metrics every evaluation reports, against hand-computed values: unbiased pass@k and maj@k, and the standard errors
next to each metric (analytic over prompts for means, a seeded bootstrap over prompts for the rest)."""

import math

import numpy as np
import pytest
from datasets import Dataset

from rlrewards.eval.generation import (
    DecodingConfig,
    accuracy_with_stderr,
    confidence_metrics,
    evaluate_split,
    sampling_metrics,
)
from rlrewards.eval.metrics import (
    auroc,
    brier_score,
    cluster_bootstrap_stderr,
    expected_calibration_error,
    mean_stderr,
    pass_at_k,
)
from rlrewards.recipes.laser_eval import self_reward_metrics


def test_pass_at_k_hand_computed():
    assert pass_at_k(4, 1, 2) == pytest.approx(1 - 3 / 6)  # 1 - C(3,2)/C(4,2)
    assert pass_at_k(5, 2, 2) == pytest.approx(1 - 3 / 10)  # 1 - C(3,2)/C(5,2)
    assert pass_at_k(32, 5, 1) == pytest.approx(5 / 32)  # pass@1 is the mean accuracy
    assert pass_at_k(32, 3, 8) == pytest.approx(1 - math.comb(29, 8) / math.comb(32, 8))
    assert pass_at_k(3, 0, 2) == 0.0 and pass_at_k(4, 3, 2) == 1.0  # no right sample; too few wrong ones
    with pytest.raises(ValueError, match="pass@k"):
        pass_at_k(2, 1, 3)


def rec(prompt, sample, answer, correct):
    return {"id": prompt, "sample": sample, "extracted": answer, "correct": correct}


SAMPLED = [
    # prompt a: answers 7 (right), 5, 5, 7 -> maj@1 right, maj@2 tie (first seen: 7) right, maj@4 tie 7/5 -> 7
    rec("a", 0, "7", True), rec("a", 1, "5", False), rec("a", 2, "5", False), rec("a", 3, "7", True),
    # prompt b: 3, 3, 4 (right), 3 -> maj wrong at every k; one right sample of 4
    rec("b", 3, "3", False), rec("b", 0, "3", False), rec("b", 1, "3", False), rec("b", 2, "4", True),
]  # fmt: skip


def test_sampling_metrics_pass_and_majority_over_the_first_k():
    metrics = sampling_metrics(SAMPLED, sizes=(1, 2, 4, 8))
    # no k beyond 4 samples
    assert set(metrics) == {f"{m}@{k}{e}" for m in ("pass", "maj") for k in (1, 2, 4) for e in ("", "_stderr")}
    assert metrics["pass@1"] == pytest.approx((2 / 4 + 1 / 4) / 2)
    assert metrics["pass@2"] == pytest.approx(((1 - 1 / 6) + (1 - 3 / 6)) / 2)
    assert metrics["pass@4"] == pytest.approx(1.0)
    assert metrics["maj@1"] == pytest.approx(0.5) and metrics["maj@4"] == pytest.approx(0.5)


def test_mean_stderr_is_the_binomial_error_for_zero_one_values():
    assert mean_stderr([1, 0, 1, 1]) == pytest.approx(math.sqrt(0.75 * 0.25 / 4))
    assert mean_stderr([0.5, 1.0, 0.0]) == pytest.approx(math.sqrt((1 / 6) / 3))  # plug-in variance 1/6
    assert mean_stderr([0.3]) == 0.0 and mean_stderr([]) == 0.0


def test_accuracy_stderr_is_clustered_by_prompt():
    correct = [1, 1, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0]
    prompts = ["a"] * 4 + ["b"] * 4 + ["c"] * 4
    accuracy, clustered = accuracy_with_stderr(correct, prompts)
    assert accuracy == 0.5
    assert clustered == pytest.approx(math.sqrt(1 / 18))  # per-prompt 0.5, 1, 0: variance 1/6 over 3 prompts
    assert accuracy_with_stderr(correct) == pytest.approx((0.5, math.sqrt(0.25 / 12)))  # as if 12 were independent
    assert accuracy_with_stderr(correct[::4], prompts[::4]) == accuracy_with_stderr(correct[::4])  # n = 1: binomial


def test_pass_and_majority_stderr_over_prompts():
    metrics = sampling_metrics(SAMPLED, sizes=(1, 2, 4))
    # two prompts with values x and y: plug-in variance ((x - y) / 2)^2, stderr |x - y| / (2 sqrt 2)
    assert metrics["pass@1_stderr"] == pytest.approx((2 / 4 - 1 / 4) / (2 * math.sqrt(2)))
    assert metrics["pass@2_stderr"] == pytest.approx(((1 - 1 / 6) - (1 - 3 / 6)) / (2 * math.sqrt(2)))
    assert metrics["pass@4_stderr"] == 0.0  # both prompts pass
    assert metrics["maj@1_stderr"] == pytest.approx(1 / (2 * math.sqrt(2)))  # right on a, wrong on b


def test_evaluate_split_puts_each_error_next_to_its_metric(tiny_tokenizer):
    dataset = Dataset.from_list(
        [
            {"id": "p", "prompt": [{"role": "user", "content": "1+2"}], "answer": "3", "checker": "numeric"},
            {"id": "q", "prompt": [{"role": "user", "content": "2+3"}], "answer": "5", "checker": "numeric"},
        ]
    )
    replies = {"1+2": ["<answer>3</answer>", "<answer>4</answer>"], "2+3": ["<answer>5</answer>"] * 2}

    def sampler(texts, decoding, seed):
        yield [replies[text.split("<|user|>")[1].split("<|assistant|>")[0]] for text in texts]

    decoding = DecodingConfig(name="s", num_samples=2, temperature=1.0)
    metrics, _ = evaluate_split(None, tiny_tokenizer, dataset, "answer_tag", [decoding], sampler=sampler)
    per_prompt_half_gap = 0.5 / 2 / math.sqrt(2)  # per-prompt accuracies 0.5 and 1
    assert metrics["accuracy_s"] == 0.75 and metrics["accuracy_s_stderr"] == pytest.approx(per_prompt_half_gap)
    assert metrics["pass@1_s"] == 0.75 and metrics["pass@1_s_stderr"] == pytest.approx(per_prompt_half_gap)
    assert metrics["pass@2_s"] == 1.0 and metrics["pass@2_s_stderr"] == 0.0
    assert metrics["maj@2_s"] == 1.0 and metrics["maj@2_s_stderr"] == 0.0  # the 3/4 tie goes to "3", seen first
    assert not any(key.endswith("_stderr_s") for key in metrics)


def calibration_records(num_prompts: int, samples: int, seed: int = 0) -> list[dict]:
    """Prompts of random difficulty p; samples right with probability p, confidence p plus noise."""
    rng = np.random.default_rng(seed)
    records = []
    for prompt in range(num_prompts):
        p = rng.uniform()
        for k in range(samples):
            confidence = float(np.clip(p + rng.normal(0, 0.2), 0, 1))
            records.append({"id": prompt, "sample": k, "correct": bool(rng.uniform() < p), "confidence": confidence})
    return records


def test_bootstrap_stderr_is_deterministic_and_zero_when_every_resample_is_the_same():
    records = calibration_records(50, 4)
    q, c, ids = [r["confidence"] for r in records], [r["correct"] for r in records], [r["id"] for r in records]
    once = cluster_bootstrap_stderr(auroc, (q, c), ids)
    assert once > 0 and cluster_bootstrap_stderr(auroc, (q, c), ids) == once
    assert cluster_bootstrap_stderr(auroc, (q, c), ids, seed=1) != once
    assert cluster_bootstrap_stderr(brier_score, (q[:4], c[:4]), ids[:4]) == 0.0  # one prompt: nothing to resample
    same = ([0.9, 0.2] * 10, [True, False] * 10, [k // 2 for k in range(20)])  # ten identical prompts
    assert cluster_bootstrap_stderr(expected_calibration_error, same[:2], same[2]) == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError, match="columns of 20, 19 entries for 20 cluster labels"):
        cluster_bootstrap_stderr(brier_score, (same[0], same[1][:19]), same[2])


def test_bootstrap_brier_stderr_agrees_with_the_analytic_one():
    records = calibration_records(1000, 4)
    squared = {}
    for r in records:
        squared.setdefault(r["id"], []).append((r["confidence"] - r["correct"]) ** 2)
    analytic = mean_stderr([np.mean(v) for v in squared.values()])  # Brier is a mean of per-prompt means
    metrics = confidence_metrics(records)
    assert metrics["brier_stderr"] == pytest.approx(analytic, rel=0.15)  # 200 resamples: about 5% Monte Carlo error
    assert 0 < metrics["ece_stderr"] < 0.05 and 0 < metrics["auroc_stderr"] < 0.05
    assert "brier_stderr" not in confidence_metrics(records, resamples=0)


def test_self_verification_metrics_carry_bootstrap_errors():
    records = [{**r, "self_reward": r["confidence"], "extracted": "x"} for r in calibration_records(40, 2)]
    metrics = self_reward_metrics(records, threshold=0.5)
    for name in ("self_verification_f1", "self_reward_auroc", "self_reward_ece"):
        assert 0 < metrics[f"{name}_stderr"] < 0.2, name
