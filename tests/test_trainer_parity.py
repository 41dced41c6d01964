"""The recipe trainer with no hooks is the stock TRL trainer; each hook does what it says."""

import pytest
import torch
from trainer_helpers import digit_fraction, losses, max_param_diff, train
from trl import GRPOTrainer

from rlrewards.rewards import SafeReward
from rlrewards.trainer import AdvantageOutput, RecipeGRPOTrainer
from rlrewards.trainer.hooks import AUX_LOSSES, grpo_estimator


@pytest.fixture(scope="module")
def stock_run(tmp_path_factory):
    from rlrewards.models.tiny import build_tiny_model, build_tiny_tokenizer

    tokenizer = build_tiny_tokenizer()
    model = build_tiny_model(
        tokenizer, hidden_size=32, num_layers=2, num_heads=2, num_kv_heads=1, intermediate_size=64, seed=0
    )
    initial = {name: p.detach().clone() for name, p in model.named_parameters()}
    trainer, params = train(GRPOTrainer, model, tokenizer, tmp_path_factory.mktemp("stock"), [digit_fraction])
    return model, tokenizer, initial, trainer, params


def test_grpo_recipe_parity_with_stock_trl(stock_run, tmp_path):
    model, tokenizer, initial, stock, stock_params = stock_run
    ours, params = train(RecipeGRPOTrainer, model, tokenizer, tmp_path, [SafeReward("digit_fraction", digit_fraction)])
    assert max_param_diff(stock_params, initial) > 1e-4, "the stock run must actually move the weights"
    assert losses(ours) == losses(stock)
    assert len(losses(ours)) == 2
    for name, value in stock_params.items():
        assert torch.equal(value, params[name]), name
    rewards = [e["rewards/digit_fraction/mean"] for e in ours.state.log_history if "rewards/digit_fraction/mean" in e]
    assert rewards == [
        e["rewards/digit_fraction/mean"] for e in stock.state.log_history if "rewards/digit_fraction/mean" in e
    ]


def test_parity_through_the_advantage_hook(stock_run, tmp_path):
    model, tokenizer, _, stock, stock_params = stock_run
    ours, params = train(
        RecipeGRPOTrainer, model, tokenizer, tmp_path, [digit_fraction], advantage_estimator=grpo_estimator()
    )
    assert losses(ours) == pytest.approx(losses(stock), abs=1e-6)
    assert max_param_diff(stock_params, params) < 1e-6


def test_per_token_advantages_are_used(stock_run, tmp_path):
    model, tokenizer, initial, stock, stock_params = stock_run
    seen = {}

    def per_token_grpo(batch):
        seen["shape"] = tuple(batch.completion_ids.shape)
        seen["group_size"] = batch.group_size
        per_token = batch.grpo_advantages.unsqueeze(1) * batch.completion_mask
        return AdvantageOutput(per_token, metrics={"recipe/mean_abs_adv": per_token.abs().mean().item()})

    ours, params = train(
        RecipeGRPOTrainer, model, tokenizer, tmp_path, [digit_fraction], advantage_estimator=per_token_grpo
    )
    assert seen["group_size"] == 4 and seen["shape"][0] == 8 and seen["shape"][1] <= 8
    assert max_param_diff(stock_params, params) < 1e-6
    assert any("recipe/mean_abs_adv" in entry for entry in ours.state.log_history)

    def zero_per_token(batch):
        return AdvantageOutput(torch.zeros_like(batch.completion_mask, dtype=torch.float))

    _, frozen = train(
        RecipeGRPOTrainer, model, tokenizer, tmp_path, [digit_fraction], advantage_estimator=zero_per_token
    )
    assert max_param_diff(frozen, initial) == 0.0


def test_estimator_with_wrong_shape_fails_clearly(stock_run, tmp_path):
    model, tokenizer, *_ = stock_run
    with pytest.raises(ValueError, match="advantage estimator returned shape"):
        train(
            RecipeGRPOTrainer,
            model,
            tokenizer,
            tmp_path,
            [digit_fraction],
            advantage_estimator=lambda batch: AdvantageOutput(torch.zeros(3)),
        )


def test_aux_loss_adds_to_the_policy_loss_and_logs(stock_run, tmp_path):
    model, tokenizer, _, stock, stock_params = stock_run

    def train_with_entropy_bonus(coef):
        return train(
            RecipeGRPOTrainer,
            model,
            tokenizer,
            tmp_path,
            [digit_fraction],
            aux_loss=AUX_LOSSES.get("entropy_bonus")(),
            aux_loss_coef=coef,
            aux_loss_name="entropy_bonus",
        )

    zero, zero_params = train_with_entropy_bonus(0.0)
    assert max_param_diff(stock_params, zero_params) < 1e-6
    logged = [e for e in zero.state.log_history if "aux/entropy_bonus/loss" in e]
    assert logged and all(e["aux/entropy_bonus/loss"] < 0 for e in logged)

    bonus, bonus_params = train_with_entropy_bonus(1.0)
    assert max_param_diff(stock_params, bonus_params) > 1e-4
    first_loss_gap = losses(bonus)[0] - losses(stock)[0]
    assert first_loss_gap == pytest.approx(logged[0]["aux/entropy_bonus/loss"], abs=1e-3)
