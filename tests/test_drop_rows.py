"""``AdvantageOutput.keep``: rows an estimator drops leave the loss and its normaliser, as if they were not in the
batch. The loss of a hand-built micro-batch is computed by hand: with no old log-probs TRL's ratio is 1, so each
completion token contributes ``-A`` and the token-mean loss is ``-sum(A_i n_i) / sum(n_i)`` over the kept rows."""

import pytest
import torch
from trainer_helpers import (
    FIXED_GROUP_SIZE,
    FIXED_PROMPTS_PER_STEP,
    digit_fraction,
    grpo_args,
    small_dataset,
    train_recipe_on_fixed_completions,
)

from rlrewards.trainer import AdvantageOutput, RecipeGRPOTrainer
from rlrewards.trainer.hooks import RolloutBatch, grpo_estimator

ADVANTAGES = [1.0, -1.0, 2.0, 0.5]  # this process's rows
LENGTHS = [3, 2, 4, 0]  # completion tokens; the last row has every completion token masked already
DROPPED = 2  # local row dropped by the estimator (gathered row 6: this is process 1 of 2, rows 4-7)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from rlrewards.models.tiny import build_tiny_model, build_tiny_tokenizer

    tokenizer = build_tiny_tokenizer()
    model = build_tiny_model(
        tokenizer, hidden_size=32, num_layers=2, num_heads=2, num_kv_heads=1, intermediate_size=64, seed=0
    )
    return model, tokenizer, tmp_path_factory.mktemp("drop_rows")


def trainer_for(tiny, loss_type: str) -> RecipeGRPOTrainer:
    model, tokenizer, out = tiny
    trainer = RecipeGRPOTrainer(
        model=model,
        reward_funcs=[digit_fraction],
        args=grpo_args(out, loss_type=loss_type),
        train_dataset=small_dataset(8),
        processing_class=tokenizer,
        advantage_estimator=grpo_estimator(),
    )
    trainer.current_gradient_accumulation_steps = 1  # set by the training loop, which this test does not run
    trainer.model.train()
    return trainer


def micro_batch(tokenizer, rows=(0, 1, 2, 3)) -> dict:
    """TRL's loss inputs for the given local rows: prompts of 3 tokens (left-padded), completions of 4 columns."""
    ids = tokenizer.encode("12+34=46", add_special_tokens=False)
    prompt_ids = torch.tensor([[tokenizer.pad_token_id, ids[0], ids[1]], ids[2:5], ids[1:4], ids[3:6]])
    prompt_mask = torch.tensor([[0, 1, 1], [1, 1, 1], [1, 1, 1], [1, 1, 1]])
    completion_ids = torch.tensor([ids[4:8], ids[3:7], ids[2:6], ids[1:5]])
    completion_mask = torch.tensor([[1] * n + [0] * (4 - n) for n in LENGTHS])
    index = list(rows)
    return {
        "prompt_ids": prompt_ids[index],
        "prompt_mask": prompt_mask[index],
        "completion_ids": completion_ids[index],
        "completion_mask": completion_mask[index],
        "advantages": torch.tensor(ADVANTAGES)[index],
        "num_items_in_batch": torch.tensor(sum(LENGTHS[i] for i in index)),
    }


def install(trainer, inputs, keep):
    """Install gathered advantages (8 rows, the last 4 this process's) with ``keep`` through the trainer's hook."""
    gathered = torch.tensor([0.0] * 4 + ADVANTAGES)
    batch = RolloutBatch(
        completion_ids=torch.zeros(8, 4, dtype=torch.long),
        completion_mask=torch.ones(8, 4, dtype=torch.long),
        rewards=torch.zeros(8),
        rewards_per_func=torch.zeros(8, 1),
        reward_names=["digit_fraction"],
        group_size=4,
        grpo_advantages=torch.zeros(8),
        is_finished=torch.ones(8, dtype=torch.bool),
        completions=[""] * 8,
        global_step=0,
        pad_token_id=0,
    )
    trainer._install_advantages(inputs, AdvantageOutput(gathered, keep=keep), batch, torch.arange(4, 8))


def loss_and_grads(trainer, inputs):
    trainer.model.zero_grad()
    loss = trainer._compute_loss(trainer.model, inputs)
    loss.backward()
    grads = {name: p.grad.clone() for name, p in trainer.model.named_parameters() if p.grad is not None}
    return loss.detach(), grads


def test_install_zeroes_exactly_the_dropped_local_rows_in_place(tiny):
    trainer = trainer_for(tiny, "bnpo")
    inputs = micro_batch(tiny[1])
    mask = inputs["completion_mask"]  # what TRL's loss already holds when an estimator runs in the loss forward
    before = mask.clone()
    keep = torch.tensor([False, True, True, True, True, True, False, True])  # gathered row 0 is another process's
    install(trainer, inputs, keep)
    assert inputs["completion_mask"] is mask
    expected = before.clone()
    expected[DROPPED] = 0
    assert torch.equal(mask, expected)
    assert inputs["advantages"].tolist() == [1.0, -1.0, 0.0, 0.5]
    assert int(inputs["num_items_in_batch"]) == 3 + 2 + 0  # was 9; row 2's 4 tokens left


def test_keep_none_and_all_true_change_nothing(tiny):
    trainer = trainer_for(tiny, "bnpo")
    for keep in (None, torch.ones(8, dtype=torch.bool)):
        inputs = micro_batch(tiny[1])
        install(trainer, inputs, keep)
        assert torch.equal(inputs["completion_mask"], micro_batch(tiny[1])["completion_mask"])
        assert inputs["advantages"].tolist() == ADVANTAGES and int(inputs["num_items_in_batch"]) == 9


def test_keep_of_the_wrong_shape_is_refused(tiny):
    trainer = trainer_for(tiny, "bnpo")
    with pytest.raises(ValueError, match=r"keep of shape \(4,\); expected \(8,\)"):
        install(trainer, micro_batch(tiny[1]), torch.ones(4, dtype=torch.bool))


@pytest.mark.parametrize("loss_type", ["bnpo", "dapo"])
def test_a_dropped_row_leaves_the_loss_as_if_it_were_not_in_the_batch(tiny, loss_type):
    trainer = trainer_for(tiny, loss_type)
    kept = micro_batch(tiny[1])
    install(trainer, kept, torch.tensor([True] * 6 + [False, True]))
    loss, grads = loss_and_grads(trainer, kept)
    # kept rows 0, 1, 3: -(1 * 3 - 1 * 2 + 0.5 * 0) / (3 + 2 + 0); the all-masked row 3 adds nothing and no NaN
    assert loss.item() == pytest.approx(-0.2, abs=1e-6)
    without, grads_without = loss_and_grads(trainer, micro_batch(tiny[1], rows=(0, 1, 3)))
    assert without.item() == pytest.approx(-0.2, abs=1e-6)
    assert grads.keys() == grads_without.keys() and grads
    for name, grad in grads.items():
        assert torch.allclose(grad, grads_without[name], atol=1e-6, rtol=1e-5), name
    # the row counted (advantage 0 but in the normaliser), as before the hook could drop rows: -(3 - 2) / 9
    zeroed = micro_batch(tiny[1])
    zeroed["advantages"][DROPPED] = 0.0
    assert trainer._compute_loss(trainer.model, zeroed).item() == pytest.approx(-1 / 9, abs=1e-6)


def test_a_micro_batch_with_every_row_dropped_gives_a_finite_zero_loss(tiny):
    trainer = trainer_for(tiny, "bnpo")
    inputs = micro_batch(tiny[1])
    install(trainer, inputs, torch.tensor([True] * 4 + [False] * 4))
    assert int(inputs["completion_mask"].sum()) == 0
    loss, grads = loss_and_grads(trainer, inputs)
    assert loss.item() == 0.0
    assert all(torch.isfinite(g).all() and not g.any() for g in grads.values())


def test_the_nsr_recipe_trains_on_its_incorrect_rows_only(tmp_path):
    """End to end through the recipe's config: in each group of fixed completions rows 0 and 2 are right and rows 1
    and 3 wrong (``trainer_helpers.fixed_completion``); NSR's loss sees only the wrong ones."""
    rows = FIXED_PROMPTS_PER_STEP * FIXED_GROUP_SIZE
    run = train_recipe_on_fixed_completions("nsr", tmp_path, per_device_batch=rows, steps=1)
    assert run["loss_type"] == "bnpo"
    [record] = run["records"]  # one micro-batch holds the generation batch
    lengths = record["completion_mask"].sum(dim=1)
    correct = record["rows"] % FIXED_GROUP_SIZE % 2 == 0
    assert (lengths[correct] == 0).all() and (lengths[~correct] > 0).all()
    # every kept row has advantage -1 and the ratio is 1 on the first pass: the token mean over kept rows is exactly
    # 1 (with the correct rows left in at advantage 0 it was the kept-token fraction, below 1)
    assert record["advantages"][~correct].tolist() == [-1.0] * (rows // 2)
    assert record["advantages"][correct].tolist() == [0.0] * (rows // 2)
    assert record["loss"].item() == pytest.approx(1.0, abs=1e-6)
