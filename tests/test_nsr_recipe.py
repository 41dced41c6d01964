import pytest
import torch
from test_configs import compose_train

from rlrewards.config import ConfigError, validate_config
from rlrewards.trainer.hooks import ADVANTAGE_ESTIMATORS, RolloutBatch


def rollout(rewards: list[float]) -> RolloutBatch:
    values = torch.tensor(rewards)
    return RolloutBatch(
        completion_ids=torch.zeros(len(rewards), 2, dtype=torch.long),
        completion_mask=torch.ones(len(rewards), 2),
        rewards=values,
        rewards_per_func=values.unsqueeze(1),
        reward_names=["accuracy"],
        group_size=2,
        grpo_advantages=torch.zeros(len(rewards)),
        is_finished=torch.ones(len(rewards), dtype=torch.bool),
        completions=[""] * len(rewards),
        global_step=0,
        pad_token_id=0,
    )


@pytest.mark.parametrize(
    ("recipe", "expected", "keep"),
    [
        ("psr", [1.0, 0.0, 0.0, 0.0], [True, False, False, False]),  # the official trainer drops incorrect rows
        ("nsr", [0.0, -1.0, -1.0, -1.0], [False, True, True, True]),  # ... and correct ones under NSR
        ("w_reinforce", [0.1, -1.0, -1.0, -1.0], [True, True, True, True]),
    ],
)
def test_each_recipe_config_builds_its_signed_estimator(recipe, expected, keep):
    cfg = compose_train([f"recipe={recipe}"])
    validate_config(cfg)
    advantage = cfg.recipe.advantage
    assert (cfg.recipe.name, advantage.name, cfg.trainer.beta) == (recipe, "signed", 0.0)
    assert cfg.recipe.rewards.accuracy.fn == "accuracy"  # GRPO's reward block, inherited through the defaults list
    output = ADVANTAGE_ESTIMATORS.get("signed")(**advantage.kwargs)(rollout([1.0, 0.0, 0.0, 0.0]))
    assert output.advantages.tolist() == pytest.approx(expected)
    assert output.keep.dtype == torch.bool and output.keep.tolist() == keep  # rows dropped from the loss
    assert output.metrics == {"nsr/correct_frac": 0.25, "nsr/kept_frac": sum(keep) / 4}


@pytest.mark.parametrize(
    ("weights", "keep"),
    [
        ({"positive_weight": 1.0, "negative_weight": 0.0}, [True, False, False, True]),
        ({"positive_weight": 0.0, "negative_weight": 1.0}, [False, True, False, False]),
        ({"positive_weight": 0.1, "negative_weight": 1.0}, [True, True, False, True]),
    ],
)
def test_an_unscored_row_is_dropped_whatever_the_weights(weights, keep):
    output = ADVANTAGE_ESTIMATORS.get("signed")(**weights)(rollout([1.0, 0.0, float("nan"), 0.75]))
    assert output.keep.tolist() == keep
    assert output.advantages[2].item() == 0.0
    assert output.metrics["nsr/kept_frac"] == sum(keep) / 4


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        (["positive_weight=-0.1"], r"positive_weight=-0.1 and negative_weight=1.0 must be >= 0"),
        (["positive_weight=0", "negative_weight=0"], "both 0"),
    ],
)
def test_bad_weights_are_refused_at_validation_naming_the_key(weights, message):
    cfg = compose_train(["recipe=w_reinforce", *(f"recipe.advantage.kwargs.{w}" for w in weights)])
    with pytest.raises(ConfigError, match=message):
        validate_config(cfg)
