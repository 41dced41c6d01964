"""RLCR: confidence parsing, rewards, calibration metrics and voting against hand-computed values."""

import math
from functools import partial

import numpy as np
import pytest
import torch

from rlrewards.algorithms.rlcr import brier_reward, parse_confidence, rlcr_reward
from rlrewards.eval.generation import confidence_metrics, sample_scaling
from rlrewards.eval.metrics import auroc, brier_score, calibration_bins, expected_calibration_error
from rlrewards.eval.voting import majority_vote, max_confidence, weighted_majority_vote
from rlrewards.rewards import build_reward_functions


def tabc(answer="7", confidence="0.8", tail=""):
    head = f"<think>3+4=7</think> <answer>{answer}</answer> <analysis>1 steps</analysis>"
    return f"{head} <confidence>{confidence}</confidence>{tail}"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<confidence>0.25</confidence>", 0.25),
        ("<confidence> 1 </confidence>", 1.0),
        ("<confidence>0</confidence>", 0.0),
        ("<confidence>0.2</confidence> then <confidence>0.9</confidence>", 0.9),
        ("<confidence>nan</confidence>", None),
        ("<confidence>inf</confidence>", None),
        ("<confidence>1.5</confidence>", None),
        ("<confidence>-0.1</confidence>", None),
        ("<confidence>high</confidence>", None),
        ("<confidence>0.5", None),
        ("no tags", None),
        (None, None),
    ],
)
def test_parse_confidence(text, expected):
    assert parse_confidence(text) == expected


def test_brier_and_rlcr_rewards():
    assert brier_reward(True, 0.8) == pytest.approx(1 - 0.04)
    assert brier_reward(False, 0.8) == pytest.approx(1 - 0.64)
    assert rlcr_reward(True, 0.8) == pytest.approx(1 - 0.04)
    assert rlcr_reward(False, 0.8) == pytest.approx(-0.64)
    assert rlcr_reward(True, 1.0) == 1.0 and rlcr_reward(False, 1.0) == -1.0


def rlcr_rewards(completions, answers):
    from conftest import CONFIG_DIR
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from omegaconf import OmegaConf

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose(config_name="train", overrides=["recipe=rlcr"])
    functions, weights = build_reward_functions(OmegaConf.to_container(cfg.recipe.rewards, resolve=True))
    logged = {}
    columns = {"answer": answers, "checker": ["numeric"] * len(answers), "log_metric": logged.__setitem__}
    per_func = [fn(prompts=[None] * len(completions), completions=completions, **columns) for fn in functions]
    return [fn.name for fn in functions], weights, per_func, logged


def test_rlcr_recipe_rewards_official_sum_and_logged_calibration():
    completions = [tabc("7", "1"), tabc("7", "0.5"), tabc("8", "0.8"), "<answer>7</answer>"]
    names, weights, (fmt, acc, brier), logged = rlcr_rewards(completions, ["7"] * 4)
    assert names == ["format", "accuracy", "brier"] and weights == [0.5, 0.5, 0.5]
    assert fmt == [1.0, 1.0, 1.0, 0.0]
    assert acc == [1.0, 1.0, 0.0, 0.0]  # the last one is right but malformed: format-gated
    assert brier == pytest.approx([1.0, 0.75, 1 - 0.64, 0.0])
    total = [0.5 * (f + a + b) for f, a, b in zip(fmt, acc, brier)]
    assert total == pytest.approx([1.5, 1.375, 0.68, 0.0])
    # Paper form: 0.5 * (c - (q - c)^2) + 1 for well-formed output.
    assert total[:3] == pytest.approx([0.5 * rlcr_reward(c, q) + 1 for c, q in [(1, 1.0), (1, 0.5), (0, 0.8)]])
    assert logged["rlcr/format_failure_rate"] == pytest.approx(0.25)
    assert logged["rlcr/mean_confidence"] == pytest.approx((1 + 0.5 + 0.8) / 3)
    assert logged["rlcr/brier"] == pytest.approx((0 + 0.25 + 0.64) / 3)


@pytest.mark.parametrize(
    "completion",
    [
        tabc(confidence="nan"),
        tabc(confidence="1.5"),
        tabc(confidence="-0.1"),
        tabc(tail=" and more"),
        "<think>x</think> <answer>7</answer>",
        "7",
        "",
    ],
)
def test_malformed_completions_score_zero_never_nan(completion):
    _, _, per_func, _ = rlcr_rewards([completion], ["7"])
    assert [scores[0] for scores in per_func] == [0.0, 0.0, 0.0]


def test_two_confidence_tags_use_the_last():
    completion = tabc(confidence="0.2</confidence> <confidence>0.9")
    _, _, (fmt, acc, brier), _ = rlcr_rewards([completion], ["7"])
    assert fmt == [1.0] and acc == [1.0] and brier == pytest.approx([1 - 0.01])


def test_rlcr_single_recipe_uses_the_paper_reward():
    from conftest import CONFIG_DIR
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from omegaconf import OmegaConf

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose(config_name="train", overrides=["recipe=rlcr_single"])
    functions, weights = build_reward_functions(OmegaConf.to_container(cfg.recipe.rewards, resolve=True))
    assert [f.name for f in functions] == ["rlcr"] and weights == [1.0]
    scores = functions[0](
        prompts=[None] * 3, completions=[tabc("7", "0.8"), tabc("6", "0.8"), "junk"], answer=["7"] * 3
    )
    assert scores == pytest.approx([1 - 0.04, -0.64, -1.0])


def test_ece_bins_are_left_closed_with_open_outer_edges():
    confidences = [0.0, 0.05, 0.15, 0.95, 1.0]
    correct = [0, 0, 1, 1, 1]
    # bin 0: mean q 0.025, acc 0; bin 1: q 0.15, acc 1; bin 9: mean q 0.975, acc 1.
    assert expected_calibration_error(confidences, correct) == pytest.approx(0.4 * 0.025 + 0.2 * 0.85 + 0.4 * 0.025)
    bins = calibration_bins([0.1, 1.0], [1, 1])
    assert bins[1]["count"] == 1 and bins[0]["count"] == 0  # 0.1 opens bin 1
    assert bins[9]["count"] == 1  # 1.0 lands in the last bin
    assert expected_calibration_error([0.1], [1]) == pytest.approx(0.9)
    assert expected_calibration_error([], []) == 0.0


@pytest.mark.parametrize("wrap", [list, np.array, torch.tensor])
def test_brier_and_auroc_accept_lists_arrays_and_tensors(wrap):
    assert brier_score(wrap([0.8, 0.3]), wrap([1.0, 0.0])) == pytest.approx((0.04 + 0.09) / 2)
    # positives {0.9, 0.8} vs negatives {0.8, 0.3}: 1 + 1 + 0.5 + 1 of 4 pairs.
    assert auroc(wrap([0.9, 0.8, 0.3, 0.8]), wrap([1.0, 0.0, 0.0, 1.0])) == pytest.approx(0.875)
    assert auroc(wrap([0.7, 0.7, 0.7]), wrap([1.0, 0.0, 1.0])) == 0.5
    assert auroc(wrap([0.1, 0.9]), wrap([1.0, 1.0])) == 0.5


def test_voting():
    assert weighted_majority_vote(["a", "b", "b", "a", "c"], [0.9, 0.3, 0.3, 0.1, 0.5]) == "a"
    assert weighted_majority_vote(["a", "b", "b"], [0.9, 0.5, 0.5]) == "b"
    assert weighted_majority_vote(["x", "y"], [0.5, 0.5]) == "x"  # ties: first seen
    assert weighted_majority_vote(np.array([3, 4, 4]), torch.tensor([0.7, 0.4, 0.4])) == 4
    assert majority_vote(["b", "a", "a", "b"]) == "b"
    assert majority_vote(["b", "a", "a"]) == "a"
    assert majority_vote([None, None, "z"]) == "z" and majority_vote([]) is None
    assert max_confidence(["a", "b", "c"], [0.2, 0.9, 0.9]) == "b"
    with pytest.raises(ValueError):
        weighted_majority_vote(["a"], [1.0, 2.0])


def test_evaluation_confidence_metrics_count_missing_confidence_as_zero():
    records = [
        {"id": 1, "sample": 0, "extracted": "7", "correct": True, "confidence": 0.9},
        {"id": 1, "sample": 1, "extracted": "8", "correct": False, "confidence": 0.3},
        {"id": 1, "sample": 2, "extracted": "8", "correct": False, "confidence": 0.4},
        {"id": 2, "sample": 0, "extracted": "5", "correct": True, "confidence": None},
        {"id": 2, "sample": 1, "extracted": "5", "correct": True, "confidence": 0.6},
        {"id": 2, "sample": 2, "extracted": "6", "correct": False, "confidence": 0.1},
    ]
    metrics = confidence_metrics(records)
    assert metrics["confidence_adherence"] == pytest.approx(5 / 6)
    assert metrics["brier"] == pytest.approx((0.01 + 0.09 + 0.16 + 1.0 + 0.16 + 0.01) / 6)
    scaling = sample_scaling(records, sizes=(1, 2, 3))
    assert scaling["tts_maj@1"] == 1.0 and scaling["tts_maj@3"] == 0.5  # prompt 1: "8" outvotes "7"
    assert scaling["tts_wmaj@3"] == 1.0  # 0.9 for "7" beats 0.7 for "8"
    assert scaling["tts_maxconf@2"] == 1.0
    assert "tts_maj@4" not in scaling
    assert not any(math.isnan(v) for v in metrics.values())


@pytest.mark.parametrize(
    ("reply", "expected"), [("0.7", 0.7), ("85%", 0.85), ("about 100", 1.0), ("150", None), ("none", None), ("", None)]
)
def test_probed_confidence_follows_the_official_extractor(reply, expected):
    from rlrewards.recipes.rlcr_eval import probed_confidence

    assert probed_confidence(reply) == (pytest.approx(expected) if expected is not None else None)


def test_missing_answers_and_confidences_are_asked_for(tiny_model, tiny_tokenizer):
    from datasets import Dataset

    from rlrewards.eval.generation import continue_greedily, score_samples
    from rlrewards.recipes.rlcr_eval import rescue_missing

    dataset = Dataset.from_list(
        [{"id": "a", "prompt": [{"role": "user", "content": "1+2"}], "answer": "3", "checker": "numeric"}]
    )
    samples = [[tabc("3", "0.9"), "<think>1+2=3</think> no tags at all"]]
    records = score_samples(dataset, samples, "tabc")
    rescue_missing(partial(continue_greedily, tiny_model, tiny_tokenizer), tiny_tokenizer, dataset, records)
    stated, probed = records
    assert stated["answer_stated"] and stated["confidence_stated"] and stated["confidence"] == 0.9
    assert not probed["answer_stated"] and not probed["confidence_stated"]
    # The untrained model's reply is junk: it is scored, never raised on; a missing confidence stays None (0).
    assert probed["correct"] in (True, False)
    assert probed["confidence"] is None or 0.0 <= probed["confidence"] <= 1.0
    assert confidence_metrics(records)["confidence_adherence"] == 0.5
