"""LaSeR: the pure functions against hand-computed values, and the z_c slot in the trainer."""

import pytest
import torch
from trainer_helpers import digit_fraction, grpo_args, small_dataset

from rlrewards.algorithms.laser import class_weights, mixed_advantages, self_reward_loss, self_reward_scores
from rlrewards.eval.metrics import self_verification_f1
from rlrewards.models.tiny import RESERVED
from rlrewards.recipes.laser import laser_estimator, laser_self_reward_loss
from rlrewards.trainer import RecipeGRPOTrainer, RolloutBatch


def test_self_reward_scores():
    scores = self_reward_scores(torch.tensor([-13.0, -23.0, -25.0]), c_ref=-23.0, beta_v=0.1)
    torch.testing.assert_close(scores, torch.tensor([1.0, 0.0, -0.2]))


def test_balanced_loss_hand_computed():
    scores = torch.tensor([0.9, 0.2, 0.5, 0.1])
    rewards = torch.tensor([1.0, 0.0, 1.0, 0.0])
    finished = torch.tensor([True, True, True, False])  # the truncated row is left out
    # N_c = 2, N_i = 1: w_c = 3/4, w_i = 3/2; loss = (0.75*0.01 + 1.5*0.04 + 0.75*0.25) / 3
    assert self_reward_loss(scores, rewards, finished).item() == pytest.approx(0.085)
    assert self_reward_loss(scores, rewards, finished, balanced=False).item() == pytest.approx(0.1)
    assert self_reward_loss(scores, rewards, torch.zeros(4, dtype=torch.bool)).item() == 0.0
    # One class only: its weight is (N)/(2N) = 1/2 per row, divided by N.
    only_correct = self_reward_loss(torch.tensor([0.5, 1.0]), torch.tensor([1.0, 1.0]), torch.tensor([True, True]))
    assert only_correct.item() == pytest.approx(0.5 * 0.25 / 2)
    torch.testing.assert_close(class_weights(rewards, finished), torch.tensor([0.25, 0.5, 0.25, 0.0]))


def test_loss_gradient_flows_to_the_scores():
    scores = torch.tensor([0.9, 0.2], requires_grad=True)
    self_reward_loss(scores, torch.tensor([1.0, 0.0]), torch.tensor([True, True])).backward()
    # d/ds of 1/2 * w * (s - r)^2 terms: w = 1 for each class here, divided by N = 2 -> (s - r)
    torch.testing.assert_close(scores.grad, torch.tensor([-0.1, 0.2]))


def test_mixed_advantages_hand_computed():
    verifier = torch.tensor([1.0, -1.0, 1.0, -1.0, 0.5, -0.5])
    scores = torch.tensor([1.4, 0.0, 0.6, 0.3, 0.55, 0.5])  # group 2 has std 0.035 < 0.1: keeps A_v
    finished = torch.tensor([True, True, True, False, True, True])
    mixed = mixed_advantages(verifier, scores, finished, group_size=3, tau=0.1)
    # group 1 (rows 0-2): s = [1, 0, 0.6], mean 0.5333, unbiased std 0.5033
    s = torch.tensor([1.0, 0.0, 0.6])
    z = (s - s.mean()) / s.std()
    expected_first = 0.9 * verifier[:3] + 0.1 * z
    # group 2 (rows 3-5): s = [0 (unfinished), 0.55, 0.5], std 0.3041 > 0.1: mixed too
    s2 = torch.tensor([0.0, 0.55, 0.5])
    expected_second = 0.9 * verifier[3:] + 0.1 * (s2 - s2.mean()) / s2.std()
    torch.testing.assert_close(mixed, torch.cat([expected_first, expected_second]))
    flat = mixed_advantages(verifier[:2], torch.tensor([0.5, 0.52]), torch.tensor([True, True]), group_size=2)
    torch.testing.assert_close(flat, verifier[:2])  # std 0.014 <= 0.1


def test_self_verification_f1():
    scores = [0.9, 0.6, 0.2, 0.7, 0.1]
    correct = [1, 1, 1, 0, 0]
    # accuracy on correct: 2/3; on incorrect: 1/2 -> harmonic mean 4/7
    assert self_verification_f1(scores, correct) == pytest.approx(2 * (2 / 3) * 0.5 / (2 / 3 + 0.5))
    assert self_verification_f1([0.5], [1]) == 0.0


@pytest.fixture
def laser_trainer(tiny_model, tiny_tokenizer, tmp_path):
    z_c = tiny_tokenizer.convert_tokens_to_ids(RESERVED[0])
    return RecipeGRPOTrainer(
        model=tiny_model,
        reward_funcs=[digit_fraction],
        args=grpo_args(tmp_path, max_steps=1),
        train_dataset=small_dataset(),
        processing_class=tiny_tokenizer,
        slot_token_id=z_c,
    ), z_c


def test_slot_changes_no_policy_logprob_and_scores_z_c_after_the_completion(laser_trainer, tiny_tokenizer):
    trainer, z_c = laser_trainer
    model = trainer.model
    prompt = torch.tensor([[5, 20, 21], [0, 22, 23]])
    prompt_mask = torch.tensor([[1, 1, 1], [0, 1, 1]])
    completion = torch.tensor([[30, 31, 1, 0], [32, 33, 34, 35]])  # row 0 ends with EOS (id 1) then pad
    completion_mask = torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1]])
    ids, mask = torch.cat([prompt, completion], 1), torch.cat([prompt_mask, completion_mask], 1)
    with_slot, _, _ = trainer._get_per_token_logps_and_entropies(model, ids, mask, 4)
    slot = trainer._slot_logps
    trainer.slot_token_id = None
    plain, _, _ = trainer._get_per_token_logps_and_entropies(model, ids, mask, 4)
    torch.testing.assert_close(with_slot * completion_mask, plain * completion_mask)
    # Reference: a clean forward of prompt + completion, the log-prob of z_c at the last real token.
    with torch.no_grad():
        clean = model(input_ids=torch.tensor([[5, 20, 21, 30, 31, 1]])).logits[0, -1].log_softmax(-1)[z_c]
    torch.testing.assert_close(slot[0], clean, atol=1e-5, rtol=1e-5)
    assert slot[0] < -1.0  # a never-used token is unlikely


def test_self_reward_loss_gradient_reaches_the_model(laser_trainer):
    trainer, z_c = laser_trainer
    model = trainer.model
    ids = torch.tensor([[5, 20, 21, 30, 31, 1], [5, 22, 23, 32, 1, 0]])
    mask = torch.tensor([[1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 0]])
    trainer._get_per_token_logps_and_entropies(model, ids, mask, 3)
    loss_fn = laser_self_reward_loss(beta_v=0.1)
    inputs = {
        "slot_logps": trainer._slot_logps,
        "laser_weight": torch.tensor([1.0, 1.0]),
        "laser_reward": torch.tensor([1.0, 0.0]),
        "laser_c_ref": torch.tensor([-20.0, -20.0]),
    }
    output = loss_fn(inputs, None, None, 0)
    output.loss.backward()
    embedding_grad = model.get_input_embeddings().weight.grad
    assert embedding_grad is not None and embedding_grad[z_c].abs().sum() > 0  # tied head row of z_c moves
    assert output.loss.item() > 0


def test_estimator_phases_weights_and_auto_c_ref():
    estimator = laser_estimator(c_ref="auto", reasoning_warmup=1, self_reward_warmup=1, tau=0.5)
    rewards = torch.tensor([1.0, 0.0, 1.0, 1.0])
    batch = RolloutBatch(
        completion_ids=torch.zeros(4, 3, dtype=torch.long),
        completion_mask=torch.ones(4, 3),
        rewards=rewards,
        rewards_per_func=rewards.unsqueeze(1),
        reward_names=["accuracy"],
        group_size=2,
        grpo_advantages=torch.tensor([0.7, -0.7, 0.0, 0.0]),
        is_finished=torch.tensor([True, True, True, False]),
        completions=[""] * 4,
        global_step=0,
        pad_token_id=0,
        slot_logps=torch.tensor([-10.0, -20.0, -12.0, -30.0]),
    )
    assert estimator.needs_slot_logps(0)
    first = estimator(batch)
    assert first.metrics["laser/c_ref"] == pytest.approx(-14.0)  # finished rows only
    assert first.extra["laser_weight"].abs().sum() == 0  # step 0: plain GRPO
    torch.testing.assert_close(first.advantages, batch.grpo_advantages)
    batch.global_step = 1
    second = estimator(batch)
    # N_c = 2, N_i = 1 among finished; weights * N(=4): [1/4, 1/2, 1/4, 0] * 4
    torch.testing.assert_close(second.extra["laser_weight"], torch.tensor([1.0, 2.0, 1.0, 0.0]))
    torch.testing.assert_close(second.advantages, batch.grpo_advantages)  # mixing not yet
    batch.global_step = 2
    third = estimator(batch)
    scores = 0.1 * (batch.slot_logps - (-14.0))  # [0.4, -0.6, 0.2, -1.6] -> clamp, unfinished 0
    expected = mixed_advantages(batch.grpo_advantages, scores, batch.is_finished, 2, tau=0.5)
    torch.testing.assert_close(third.advantages, expected)
    assert not torch.equal(third.advantages, batch.grpo_advantages)


def test_test_time_self_reward_metrics_and_weighted_vote():
    from rlrewards.recipes.laser_eval import self_reward_metrics

    records = [
        {"id": 1, "sample": 0, "extracted": "7", "correct": True, "self_reward": 0.9},
        {"id": 1, "sample": 1, "extracted": "8", "correct": False, "self_reward": 0.2},
        {"id": 1, "sample": 2, "extracted": "8", "correct": False, "self_reward": 0.3},
        {"id": 1, "sample": 3, "extracted": "9", "correct": False, "self_reward": 0.6},
    ]
    metrics = self_reward_metrics(records, threshold=0.5)
    # correct: 1/1 predicted correct; incorrect: 2/3 predicted incorrect -> F1 = 2 * 1 * 2/3 / (5/3) = 0.8
    assert metrics["self_verification_f1"] == pytest.approx(0.8)
    assert metrics["self_reward_auroc"] == 1.0
    # Majority of 4 picks "8" (two votes); the score-weighted vote picks "7" (0.9 against 0.5 for "8").
    assert metrics["maj@4"] == 0.0 and metrics["rm@4"] == 1.0
    assert metrics["maj@2"] == 1.0 and metrics["rm@1"] == 1.0  # a 1-1 tie goes to the first answer seen


_LOGPS_WITH_SLOT = RecipeGRPOTrainer._logps_with_slot
_ROLLOUT_BATCH = RecipeGRPOTrainer._rollout_batch


def _train_laser_mixing(tiny_model, tiny_tokenizer, out_dir, defer: bool, monkeypatch):
    """Two steps with the self-reward loss and advantage mixing active from the first step; counts slot forwards."""
    import copy

    calls = []

    def counting(self, *args, **kwargs):
        calls.append(torch.is_grad_enabled())
        return _LOGPS_WITH_SLOT(self, *args, **kwargs)

    def all_finished(self, output):  # an untrained model never emits EOS within 8 tokens; mixing needs finished rows
        batch = _ROLLOUT_BATCH(self, output)
        batch.is_finished = torch.ones_like(batch.is_finished)
        return batch

    monkeypatch.setattr(RecipeGRPOTrainer, "_logps_with_slot", counting)
    monkeypatch.setattr(RecipeGRPOTrainer, "_rollout_batch", all_finished)
    monkeypatch.setattr(RecipeGRPOTrainer, "_can_defer_estimator", lambda self: defer)
    trainer = RecipeGRPOTrainer(
        model=copy.deepcopy(tiny_model),
        reward_funcs=[digit_fraction],
        args=grpo_args(out_dir, max_steps=2),
        train_dataset=small_dataset(),
        processing_class=tiny_tokenizer,
        advantage_estimator=laser_estimator(
            c_ref="auto", reasoning_warmup=0, self_reward_warmup=0, std_threshold=0.0, tau=0.5
        ),
        aux_loss=laser_self_reward_loss(beta_v=0.1),
        aux_loss_coef=0.1,
        slot_token_id=tiny_tokenizer.convert_tokens_to_ids(RESERVED[0]),
    )
    trainer.train()
    params = {name: p.detach().clone() for name, p in trainer.model.named_parameters()}
    mixed = [e["laser/mixed_frac"] for e in trainer.state.log_history if "laser/mixed_frac" in e]
    return params, [e["loss"] for e in trainer.state.log_history if "loss" in e], mixed, calls


def test_mixing_reads_the_slot_from_the_loss_forward_and_matches_an_extra_forward(
    tiny_model, tiny_tokenizer, tmp_path, monkeypatch
):
    deferred = _train_laser_mixing(tiny_model, tiny_tokenizer, tmp_path / "a", True, monkeypatch)
    extra = _train_laser_mixing(tiny_model, tiny_tokenizer, tmp_path / "b", False, monkeypatch)
    params, step_losses, mixed, calls = deferred
    assert calls == [True, True]  # one slot forward per step: the loss forward, with grad
    assert extra[3] == [False, True, False, True]  # the fallback pays one no-grad forward per step
    assert len(mixed) == 2 and min(mixed) > 0  # mixing changed advantages at both steps
    assert extra[2] == pytest.approx(mixed)
    assert step_losses == pytest.approx(extra[1], rel=1e-5, abs=1e-7)
    for name, value in params.items():
        torch.testing.assert_close(value, extra[0][name], rtol=1e-5, atol=1e-6, msg=name)
