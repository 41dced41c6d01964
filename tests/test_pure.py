"""PURE: the min-form transform, step splitting, advantages and PRMs against hand-computed values."""

import math

import pytest
import torch

from rlrewards.algorithms.pure import (
    StepSeparators,
    min_form_rewards,
    pure_advantages,
    separator_token_ids,
    split_steps,
)
from rlrewards.recipes.pure import ArithRulePRM, HackableArithPRM, HFTokenClassificationPRM, StepBatch


def test_min_form_transform_hand_computed():
    r = torch.tensor([[0.9, -0.5, 0.8], [0.95, 0.90, 0.99]])
    out = min_form_rewards(r, torch.ones(2, 3, dtype=torch.bool), 0.1)
    torch.testing.assert_close(out[0], torch.tensor([0.0, -0.5, 0.0]), atol=1e-5, rtol=0)
    torch.testing.assert_close(out[1], torch.tensor([0.286, 0.447, 0.200]), atol=1e-3, rtol=0)
    at_one = min_form_rewards(r[:1], torch.ones(1, 3, dtype=torch.bool), 1.0)
    torch.testing.assert_close(at_one, torch.tensor([[0.146, -0.329, 0.144]]), atol=1e-3, rtol=0)


def test_min_form_is_stable_at_tiny_temperature_and_respects_the_mask():
    r = torch.tensor([[0.9, -0.5, 0.8], [0.3, 0.2, 0.0]])
    mask = torch.tensor([[True, True, True], [True, True, False]])
    out = min_form_rewards(r, mask, 1e-3)
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out.sum(dim=1), torch.tensor([-0.5, 0.2]))
    assert out[1, 2] == 0.0
    empty = min_form_rewards(torch.zeros(1, 2), torch.zeros(1, 2, dtype=torch.bool), 0.1)
    assert torch.equal(empty, torch.zeros(1, 2))
    with pytest.raises(ValueError):
        min_form_rewards(r, mask, 0.0)


def test_steps_split_on_the_tiny_tokenizer(tiny_tokenizer):
    separators = separator_token_ids(tiny_tokenizer)
    text = "1+2=3\n\n3*4=12\n\n<answer>12</answer>"
    ids = tiny_tokenizer(text, add_special_tokens=False)["input_ids"] + [tiny_tokenizer.eos_token_id]
    layout = split_steps(
        torch.tensor([ids, ids[:9] + [0] * (len(ids) - 9)]),
        torch.tensor([[1] * len(ids), [1] * 9 + [0] * (len(ids) - 9)]),
        separators,
    )
    assert layout.ends[0].tolist() == [6, 14, 19]
    assert layout.token_counts[0].tolist() == [6, 7, 4]
    assert layout.ends[1].tolist() == [6, 8, -1] and layout.mask[1].tolist() == [True, True, False]


def test_every_blank_line_token_ends_a_step():
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"[UNK]": 0, "x": 1, "y": 2, "\n\n": 3, ".\n\n": 4, ":\n\n": 5, "\n": 6, "</s>": 7}
    core = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    core.pre_tokenizer = pre_tokenizers.Split(r"(\.?:?\n\n|\n|x|y)", behavior="isolated")
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, unk_token="[UNK]", eos_token="</s>")
    separators = separator_token_ids(tokenizer)
    assert set(separators.blank_line) == {3, 4, 5}
    ids = torch.tensor([[1, 4, 2, 5, 1, 3, 2, 7]])
    layout = split_steps(ids, torch.ones_like(ids), separators)
    assert layout.ends[0].tolist() == [1, 3, 5, 7]


def hand_layout():
    # Row 0: 5 tokens, steps end at 1 and 4 (1 and 2 tokens before the end token); row 1: 3 tokens, one step.
    ids = torch.tensor([[1, 9, 2, 2, 0], [3, 3, 0, 0, 0]])
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])
    layout = split_steps(ids, mask, StepSeparators(blank_line=(9,), newline=(), ends_with_newline=()))
    return layout, mask


def test_token_baseline_returns_and_masking_by_hand():
    layout, mask = hand_layout()
    assert layout.ends.tolist() == [[1, 4], [2, -1]] and layout.token_counts.tolist() == [[1, 2], [2, 0]]
    steps = torch.tensor([[0.5, -0.5], [1.0, 0.0]])
    raw = pure_advantages(steps, layout, mask, group_size=2, credit="sum", mask_step_ends=False, whiten=False)
    # R = (0, 1), L = (5, 3): b_0 = 1/3, b_1 = 0. Step-end rewards: row 0: 0.5 - 1/3, -0.5 - 2/3; row 1: 1.0.
    torch.testing.assert_close(raw[0], torch.tensor([-1.0, -1.0, -7 / 6, -7 / 6, -7 / 6]))
    torch.testing.assert_close(raw[1], torch.tensor([1.0, 1.0, 1.0, 0.0, 0.0]))
    masked = pure_advantages(steps, layout, mask, group_size=2, credit="sum", whiten=False)
    torch.testing.assert_close(masked[0], torch.tensor([-1.0, 0.0, -7 / 6, -7 / 6, 0.0]))
    torch.testing.assert_close(masked[1], torch.tensor([1.0, 1.0, 0.0, 0.0, 0.0]))
    whitened = pure_advantages(steps, layout, mask, group_size=2, credit="sum")
    values = [-1.0, -7 / 6, -7 / 6, 1.0, 1.0]
    mean = sum(values) / 5
    variance = (sum((v - mean) ** 2 for v in values) + 3 * mean**2) / 5  # 3 zeroed step ends count in the sum
    expected = [(-1.0 - mean), 0.0, (-7 / 6 - mean), (-7 / 6 - mean), 0.0]
    torch.testing.assert_close(whitened[0], torch.tensor(expected) / math.sqrt(variance))
    assert whitened[1, 2:].abs().sum() == 0


def test_verifiable_reward_leave_one_out_and_min_credit():
    layout, mask = hand_layout()
    steps = torch.tensor([[0.5, -0.5], [1.0, 0.0]])
    # Solved (1, 0): v = (0, -1), leave-one-out: (0 - (-1), -1 - 0) = (1, -1), added at the last tokens.
    with_vr = pure_advantages(
        steps, layout, mask, 2, credit="sum", verifiable=torch.tensor([1.0, 0.0]), mask_step_ends=False, whiten=False
    )
    plain = pure_advantages(steps, layout, mask, 2, credit="sum", mask_step_ends=False, whiten=False)
    torch.testing.assert_close(with_vr[0] - plain[0], torch.ones(5))
    torch.testing.assert_close(with_vr[1] - plain[1], torch.tensor([-1.0, -1.0, -1.0, 0.0, 0.0]))
    no_truth = pure_advantages(
        steps,
        layout,
        mask,
        2,
        credit="sum",
        verifiable=torch.tensor([float("nan")] * 2),
        mask_step_ends=False,
        whiten=False,
    )
    torch.testing.assert_close(no_truth, plain)
    # Min form at T = 0.1 puts almost all of row 0's credit on its worst step.
    min_form = pure_advantages(steps, layout, mask, 2, credit="min", mask_step_ends=False, whiten=False)
    r_star = min_form_rewards(steps, layout.mask, 0.1)
    b0 = r_star[1].sum() / 3
    torch.testing.assert_close(min_form[0, 4], r_star[0, 1] - b0 * 2)


def test_rule_and_hackable_prms():
    steps = [["3+4=7\n\n", "7*2=14\n\n", "<answer>14</answer>"], ["3+4=8\n\n", "8=8\n\n", "<answer>8</answer>"]]
    batch = StepBatch([[]] * 2, [[]] * 2, [[]] * 2, steps)
    assert ArithRulePRM().score(batch) == [[1.0, 1.0, 1.0], [-1.0, -1.0, 1.0]]
    assert HackableArithPRM().score(batch) == [[0.5, 0.5, 0.5], [-1.0, 0.9, 0.5]]
    noisy = ArithRulePRM(noise=1.0).score(batch)
    assert noisy == [[-1.0, -1.0, -1.0], [1.0, 1.0, -1.0]]


def test_hf_token_classification_prm_layout_and_range(tiny_tokenizer):
    from transformers import Qwen2Config, Qwen2ForTokenClassification

    torch.manual_seed(0)
    config = Qwen2Config(
        vocab_size=len(tiny_tokenizer),
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        intermediate_size=64,
        num_labels=2,
        pad_token_id=tiny_tokenizer.pad_token_id,
    )
    prm = HFTokenClassificationPRM(
        model_object=Qwen2ForTokenClassification(config), tokenizer_object=tiny_tokenizer, batch_size=2
    )
    newline = tiny_tokenizer("\n", add_special_tokens=False)["input_ids"][0]
    ids, positions = prm.build_inputs([5, 6], [10, 11, newline, 12, 13, 1], [2, 5])
    assert ids == [5, 6, 10, 11, newline, 12, 13, newline] and positions == [4, 7]
    batch = StepBatch([[5, 6], [7]], [[10, 11, newline, 12, 13, 1], [14, 1]], [[2, 5], [1]], [["a", "b"], ["c"]])
    scores = prm.score(batch)
    assert [len(s) for s in scores] == [2, 1]
    assert all(-1.0 <= v <= 1.0 for row in scores for v in row)
    assert not prm.model.training


def test_kl_penalty_enters_the_reward_of_every_completion_token():
    layout, mask = hand_layout()
    steps = torch.tensor([[0.5, -0.5], [1.0, 0.0]])
    kl = torch.tensor([[0.1, 0.2, 0.3, 0.4, 0.5], [1.0, 2.0, 3.0, 9.0, 9.0]])  # row 1's last two are padding
    plain = pure_advantages(steps, layout, mask, 2, credit="sum", mask_step_ends=False, whiten=False)
    with_kl = pure_advantages(
        steps, layout, mask, 2, credit="sum", mask_step_ends=False, whiten=False, kl=kl, kl_coef=0.1
    )
    # return-to-go of -0.1 * kl: row 0: -(0.15, 0.14, 0.12, 0.09, 0.05); row 1: -(0.6, 0.5, 0.3), padding 0
    torch.testing.assert_close(with_kl[0] - plain[0], -torch.tensor([0.15, 0.14, 0.12, 0.09, 0.05]))
    torch.testing.assert_close(with_kl[1] - plain[1], -torch.tensor([0.6, 0.5, 0.3, 0.0, 0.0]))
    off = pure_advantages(steps, layout, mask, 2, credit="sum", mask_step_ends=False, whiten=False, kl=kl, kl_coef=0.0)
    torch.testing.assert_close(off, plain)
    # whitening now spans every token with a non-zero return (the step ends stay masked to 0)
    whitened = pure_advantages(steps, layout, mask, 2, credit="sum", kl=kl, kl_coef=0.1)
    assert (whitened[0] != 0).tolist() == [True, False, True, True, False]


def test_kl_in_reward_gets_policy_and_reference_logps_with_no_kl_in_the_loss(tiny_model, tiny_tokenizer, tmp_path):
    from trainer_helpers import digit_fraction, grpo_args, small_dataset
    from transformers import AutoModelForCausalLM

    from rlrewards.trainer import AdvantageOutput, RecipeGRPOTrainer

    tiny_model.save_pretrained(tmp_path / "init")  # TRL builds the reference from the policy's path
    policy = AutoModelForCausalLM.from_pretrained(tmp_path / "init")
    seen = []

    def estimator(batch):
        seen.append((batch.policy_logps.clone(), batch.ref_logps.clone(), batch.completion_mask.clone()))
        return AdvantageOutput(batch.grpo_advantages)

    estimator.needs_reference_logps = True
    args = grpo_args(tmp_path / "out", max_steps=2)
    trainer = RecipeGRPOTrainer(
        model=policy,
        reward_funcs=[digit_fraction],
        args=args,
        train_dataset=small_dataset(),
        processing_class=tiny_tokenizer,
        advantage_estimator=estimator,
    )
    assert trainer.ref_model is not None and trainer.beta == 0.0 and args.beta == 0.0
    trainer.train()
    assert len(seen) == 2
    (policy0, ref0, mask0), (policy1, ref1, mask1) = seen
    assert policy0.shape == ref0.shape == mask0.shape
    torch.testing.assert_close(policy0, ref0)  # before any update the policy is the reference
    assert (policy1 - ref1)[mask1.bool()].abs().max() > 1e-4  # one optimizer step later they differ
    assert not any(key == "kl" for entry in trainer.state.log_history for key in entry)  # no KL term in the loss


def test_hub_prm_loads_nothing_until_it_scores():
    prm = HFTokenClassificationPRM(model="no-such-org/no-such-prm", device="cpu", batch_size=4)
    assert prm.name_or_path == "no-such-org/no-such-prm" and prm._model is None  # building touched no file or hub
    with pytest.raises(ValueError, match="dtype"):
        HFTokenClassificationPRM(dtype="bfloat17")


def test_kl_in_reward_with_an_in_memory_policy_fails_early(tiny_model, tiny_tokenizer, tmp_path):
    from trainer_helpers import digit_fraction, grpo_args, small_dataset

    from rlrewards.trainer import RecipeGRPOTrainer

    def estimator(batch):
        raise AssertionError("never reached")

    estimator.needs_reference_logps = True
    with pytest.raises(ValueError, match="_name_or_path"):
        RecipeGRPOTrainer(
            model=tiny_model,
            reward_funcs=[digit_fraction],
            args=grpo_args(tmp_path),
            train_dataset=small_dataset(),
            processing_class=tiny_tokenizer,
            advantage_estimator=estimator,
        )


def test_estimator_without_a_prm_is_rloo_on_the_verifiable_reward(monkeypatch):
    import rlrewards.recipes.pure as pure_module
    from rlrewards.recipes.pure import pure_estimator
    from rlrewards.trainer import RolloutBatch

    with pytest.raises(ValueError, match="prm and verifiable_reward are both null"):
        pure_estimator(prm=None)
    layout_ids = torch.tensor([[1, 9, 2, 2, 0], [3, 3, 0, 0, 0]])
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])
    estimator = pure_estimator(prm=None, verifiable_reward="accuracy", vr_fraction=None, whiten=False)
    batch = RolloutBatch(
        completion_ids=layout_ids,
        completion_mask=mask,
        rewards=torch.tensor([1.0, 0.0]),
        rewards_per_func=torch.tensor([[1.0], [0.0]]),
        reward_names=["accuracy"],
        group_size=2,
        grpo_advantages=torch.zeros(2),
        is_finished=torch.ones(2, dtype=torch.bool),
        completions=["", ""],
        global_step=0,
        pad_token_id=0,
    )
    separators = StepSeparators(blank_line=(9,), newline=(), ends_with_newline=())
    monkeypatch.setattr(pure_module, "separator_token_ids", lambda tokenizer: separators)
    advantages = estimator(batch).advantages
    # v = solved - 1 = (0, -1); leave-one-out: (0 - (-1), -1 - 0) = (1, -1) on every token; step ends zeroed
    torch.testing.assert_close(advantages[0], torch.tensor([1.0, 0.0, 1.0, 1.0, 0.0]))
    torch.testing.assert_close(advantages[1], torch.tensor([-1.0, -1.0, 0.0, 0.0, 0.0]))


def test_hackable_prm_over_rewards_a_restated_result_which_only_sum_form_credit_pays_for():
    # the demo testbed (task.restate_fraction): "7" restates the first step's result
    steps = [
        ["3+4=7\n\n", "7*2=14\n\n", "<answer>14</answer>"],
        ["3+4=7\n\n", "7\n\n", "7*2=14\n\n", "<answer>14</answer>"],
    ]
    scores = HackableArithPRM().score(StepBatch([[]] * 2, [[]] * 2, [[]] * 2, steps))
    assert scores == [[0.5, 0.5, 0.5], [0.5, 0.9, 0.5, 0.5]]
    rewards = torch.tensor([[0.5, 0.5, 0.5, 0.0], [0.5, 0.9, 0.5, 0.5]])
    mask = torch.tensor([[True, True, True, False], [True, True, True, True]])
    assert rewards.sum(dim=1).tolist() == pytest.approx([1.5, 2.4])  # sum form: +0.9 for the useless step
    # min form: weight of the 0.9 step e^-4 / (3 + e^-4) = 0.006068, total 0.5 + 0.4 * 0.006068
    assert min_form_rewards(rewards, mask, 0.1).sum(dim=1).tolist() == pytest.approx([0.5, 0.502427], abs=1e-6)
