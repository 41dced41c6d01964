"""The cosine length reward (rlrewards/recipes/cosine_length.py) on hand-computed values, its config and its check.

Hand values with max_len 100 and the paper's values (wrong -10 .. 0, correct 1 .. 2, exceed -10):
r = lo + (hi - lo) / 2 * (1 + cos(pi * L / 100)), lo/hi = 1/2 when correct, 0/-10 when wrong.
"""

import math

import pytest
from test_configs import compose_train

from rlrewards.config import ConfigError, validate_config
from rlrewards.recipes.cosine_length import cosine_scaled, repetition_penalty
from rlrewards.rewards import REWARDS, build_reward_functions

PAPER = (-10.0, 0.0, 1.0, 2.0)


@pytest.mark.parametrize(
    ("length", "correct", "expected"),
    [
        (0, True, 2.0),  # cos 0 = 1: hi
        (50, True, 1.5),  # cos(pi/2) = 0: the midpoint of 1 and 2
        (25, True, 1.0 + 0.5 * (1.0 + math.sqrt(0.5))),  # cos(pi/4) = sqrt(1/2): 1.8536
        (0, False, -10.0),  # the shortest wrong answer costs most
        (50, False, -5.0),
        (83, False, -5.0 * (1.0 + math.cos(0.83 * math.pi))),  # 83 + 16 < 100: still the cosine, -0.696
        (84, True, -10.0),  # 84 + 16 >= 100: exceed_length, right or wrong
        (84, False, -10.0),
    ],
)
def test_cosine_scaled_by_hand(length, correct, expected):
    assert cosine_scaled(length, correct, 100, PAPER, exceed_length=-10.0) == pytest.approx(expected, abs=1e-12)


def test_official_defaults_run_from_0_to_1_and_minus_1_to_0():
    fn = REWARDS.get("cosine_length")
    ids = [[1] * 0, [1] * 50, [1] * 0, [1] * 50]
    completions = ["<answer>7</answer>", "<answer>7</answer>", "<answer>8</answer>", "<answer>8</answer>"]
    scores = fn(prompts=["q"] * 4, completions=completions, completion_ids=ids, answer=["7"] * 4, max_len=100)
    assert scores == pytest.approx([1.0, 0.5, -1.0, -0.5], abs=1e-12)


def test_repetition_penalty_by_hand():
    # word 2-grams of "a b a b a b": ab ba ab ba ab -> 5 in all, 2 distinct: (1 - 2/5) * -1 = -0.6
    assert repetition_penalty("a b A b a b", 2, -1.0) == pytest.approx(-0.6)
    assert repetition_penalty("a b a b a b", 2, 0.0) == 0.0  # off: the official default
    assert repetition_penalty("a b", 3, -1.0) == 0.0  # fewer words than the n-gram (the official code divides by 0)


def test_the_recipe_config_through_the_trl_contract():
    cfg = compose_train(["recipe=cosine_length"])
    validate_config(cfg)
    functions, weights = build_reward_functions(cfg.recipe.rewards)
    assert [f.name for f in functions] == ["cosine"] and weights == [1.0]  # GRPO's accuracy switched off
    assert cfg.recipe.rewards.cosine.kwargs.max_len == cfg.trainer.max_completion_length == 48
    # the demo's 48 tokens: L = 16 is below the margin (16 + 16 < 48), L = 32 is not (32 + 16 >= 48)
    completions = [[{"role": "assistant", "content": text}] for text in ("<answer>7</answer>", "<answer>8</answer>")]
    scores = functions[0](
        prompts=["q", "q"],
        completions=completions * 2,
        completion_ids=[[5] * 16, [5] * 16, [5] * 32, [5] * 32],
        answer=["7"] * 4,
        checker=["numeric"] * 4,
    )
    # cos(pi * 16/48) = cos(pi/3) = 1/2: correct 1 + 0.5 * 1.5 = 1.75, wrong -5 * 1.5 = -7.5
    assert scores == pytest.approx([1.75, -7.5, -10.0, -10.0])
    assert functions[0](prompts=["q"], completions=completions[:1], completion_ids=None, answer=["7"]) == [None]


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("recipe.rewards.cosine.kwargs.min_value_wrong=1.0", "min_value_wrong=1.0 must be <= 0"),
        ("recipe.rewards.cosine.kwargs.repetition_max_penalty=0.5", "repetition_max_penalty=0.5 must be <= 0"),
        ("trainer.max_completion_length=16", "max_len=16 must exceed 16"),
    ],
)
def test_the_light_check_refuses_values_the_official_reward_refuses(override, message):
    cfg = compose_train(["recipe=cosine_length", override])
    with pytest.raises(ConfigError, match=message):
        validate_config(cfg)
