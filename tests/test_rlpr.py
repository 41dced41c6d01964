import math

import pytest
import torch

from rlrewards.algorithms.rlpr import (
    StdFilterState,
    begin_step,
    combined_reward,
    debiased_reward,
    ema_update,
    format_reward,
    group_std,
    is_repetitive,
    mean_group_std,
    probability_reward,
    splice_reference,
    std_filter,
    token_span_mask,
)

LN = math.log
# row 0: two answer tokens with p = 0.5 and 0.25 (the first and last positions are not answer tokens and hold junk)
LOGPS = torch.tensor([[float("-inf"), LN(0.5), LN(0.25), float("nan")], [0.0, 0.0, 0.0, 0.0]])
MASK = torch.tensor([[False, True, True, False], [False, False, False, False]])


@pytest.mark.parametrize(
    ("aggregation", "expected"),
    [
        ("mean_prob", 0.375),  # (0.5 + 0.25) / 2
        ("geometric_mean", math.sqrt(0.125)),  # exp((ln 0.5 + ln 0.25) / 2) = sqrt(0.5 * 0.25) = 0.35355
        ("sequence_prob", 0.125),  # 0.5 * 0.25
        ("mean_logp", (LN(0.5) + LN(0.25)) / 2),  # -1.0397
    ],
)
def test_probability_reward_by_hand_and_empty_mask_is_zero(aggregation, expected):
    reward = probability_reward(LOGPS, MASK, aggregation)
    assert reward.tolist() == pytest.approx([expected, 0.0])  # row 1 has no answer token: 0, as the official scoreB


def test_probability_reward_is_the_mean_of_probabilities_not_exp_of_mean_logp():
    # p = (0.9, 0.1): mean of probabilities 0.5, geometric mean 0.3
    logps, mask = torch.tensor([[LN(0.9), LN(0.1)]]), torch.ones(1, 2, dtype=torch.bool)
    assert probability_reward(logps, mask).item() == pytest.approx(0.5)
    assert probability_reward(logps, mask, "geometric_mean").item() == pytest.approx(0.3)


def test_probability_reward_official_bf16_rounding():
    # a single token with p = 0.3: bfloat16 keeps 8 bits of mantissa, 0.3 -> 0.30078125 (the official scoreB)
    logps, mask = torch.tensor([[LN(0.3)]]), torch.ones(1, 1)
    assert probability_reward(logps, mask).item() == pytest.approx(0.3)
    assert probability_reward(logps, mask, bf16_round=True).item() == 0.30078125


def test_probability_reward_gradients_are_finite_with_junk_in_masked_positions():
    logps = LOGPS.clone().requires_grad_(True)
    probability_reward(logps, MASK).sum().backward()
    # d/dlogp of mean(exp(logp)) = p / 2 on the answer tokens, 0 elsewhere
    assert logps.grad.flatten().tolist() == pytest.approx([0.0, 0.25, 0.125, 0.0, 0.0, 0.0, 0.0, 0.0])


@pytest.mark.parametrize(
    ("logps", "mask", "match"),
    [
        (torch.zeros(3), torch.ones(3), r"\(N, T\)"),
        (torch.zeros(2, 3), torch.ones(2, 4), r"\(N, T\)"),
    ],
)
def test_probability_reward_shape_errors(logps, mask, match):
    with pytest.raises(ValueError, match=match):
        probability_reward(logps, mask)


def test_probability_reward_unknown_aggregation():
    with pytest.raises(ValueError, match="Unknown aggregation 'sum'"):
        probability_reward(LOGPS, MASK, "sum")


def test_debiased_reward_by_hand():
    r = torch.tensor([0.8, 0.3, 1.0, float("nan")])
    # r - 0.5 = (0.3, -0.2, 0.5, nan) -> clip at 0 (official threshold_0) and nan -> 0
    assert debiased_reward(r, 0.5).tolist() == pytest.approx([0.3, 0.0, 0.5, 0.0])
    # per-row r_0 = (0.1, 0.1, 0.0, 0.0): (0.7, 0.2, 1.0, nan -> 0)
    assert debiased_reward(r, torch.tensor([0.1, 0.1, 0.0, 0.0])).tolist() == pytest.approx([0.7, 0.2, 1.0, 0.0])


def test_debiased_reward_shape_errors():
    with pytest.raises(ValueError, match="with_reasoning must be 1-D"):
        debiased_reward(torch.zeros(2, 2), 0.0)
    with pytest.raises(ValueError, match="without_reasoning must be a scalar or shaped like"):
        debiased_reward(torch.zeros(3), torch.zeros(2))


def test_combined_reward_official_mix_and_repetition_only_on_nonzero_rewards():
    r_hat = torch.tensor([0.5, 0.0, 0.2])
    fmt = torch.tensor([1.0, 0.0, 0.0])
    # 0.9 * 0.5 + 0.1 * 1 = 0.55; 0.9 * 0 + 0 = 0; 0.9 * 0.2 = 0.18
    assert combined_reward(r_hat, fmt).tolist() == pytest.approx([0.55, 0.0, 0.18])
    # the penalty -1 lands only where the reward is non-zero: 0.55 - 1 = -0.45, the 0 stays 0
    rep = torch.tensor([True, True, False])
    assert combined_reward(r_hat, fmt, repetitive=rep).tolist() == pytest.approx([-0.45, 0.0, 0.18])
    # format_coefficient -1: r_hat if the format is right, else -1
    assert combined_reward(r_hat, fmt, format_coefficient=-1).tolist() == pytest.approx([0.5, -1.0, -1.0])


def test_combined_reward_shape_errors():
    with pytest.raises(ValueError, match="probability and format_ok must both be"):
        combined_reward(torch.zeros(3), torch.zeros(2))
    with pytest.raises(ValueError, match="repetitive must be"):
        combined_reward(torch.zeros(3), torch.zeros(3), repetitive=torch.zeros(2, dtype=torch.bool))


def test_group_std_is_unbiased_and_one_for_singletons():
    rewards = torch.tensor([1.0, 0.0, 1.0, 0.0, 0.5, 0.5, 0.5, 0.5])
    # group 0: mean 0.5, squared deviations 4 * 0.25 = 1, / (4 - 1) -> sqrt(1/3) = 0.57735; group 1: 0
    assert group_std(rewards, 4).tolist() == pytest.approx([math.sqrt(1 / 3), 0.0])
    assert group_std(torch.tensor([0.2, 0.7]), 1).tolist() == [1.0, 1.0]  # official GRPO: std 1 for a group of one


def test_group_std_shape_error():
    with pytest.raises(ValueError, match="divisible by group_size=4"):
        group_std(torch.zeros(6), 4)


def test_std_filter_by_hand():
    rewards = torch.tensor([1.0, 0.0, 1.0, 0.0, 0.5, 0.5, 0.5, 0.5, 0.1, float("nan"), 0.3, 0.2])
    # stds: 0.57735, 0, nan
    assert std_filter(rewards, 4, lower=0.3).tolist() == [True, False, False]
    assert std_filter(rewards, 4, lower=0.0).tolist() == [True, True, False]  # bound 0 keeps zero std, never NaN
    assert std_filter(rewards, 4, lower=0.0, upper=0.5).tolist() == [False, True, False]
    # per-source factor 0.5: 0.57735 * 0.5 = 0.2887 < 0.3
    scale = torch.tensor([0.5, 1.0, 1.0])
    assert std_filter(rewards, 4, lower=0.3, source_scale=scale).tolist() == [False, False, False]
    with pytest.raises(ValueError, match="source_scale must be"):
        std_filter(rewards, 4, lower=0.3, source_scale=torch.ones(2))


def test_mean_group_std_skips_non_finite_and_empty_is_none():
    assert mean_group_std(torch.tensor([0.2, float("nan"), 0.4, float("inf")])) == pytest.approx(0.3)
    assert mean_group_std(torch.tensor([float("nan")])) is None
    assert mean_group_std(torch.tensor([])) is None


def test_ema_update():
    assert ema_update(0.3, 0.6, 0.99) == pytest.approx(0.303)  # 0.99 * 0.3 + 0.01 * 0.6
    assert ema_update(0.3, float("nan")) == 0.3
    assert ema_update(0.3, None) == 0.3


def test_begin_step_follows_the_official_schedule():
    # recorded means per step; steps 1..5 are before filter_ema_start_step = 6 and are ignored
    recorded = {s: 9.0 for s in range(1, 6)} | {6: 0.1, 7: 0.2, 8: 0.3, 9: 0.4, 10: 0.5, 11: 0.6, 12: float("nan")}
    state, bounds = StdFilterState(), {}
    for step in range(1, 14):
        state, bounds[step] = begin_step(state, step, recorded.get(step - 1), beta=0.5)
    assert all(bounds[s] == 0.0 for s in range(1, 11))  # no filtering before filter_start_step = 11
    assert state.warmup == pytest.approx((0.1, 0.2, 0.3, 0.4, 0.5))
    assert bounds[11] == pytest.approx(0.15)  # EMA = mean(0.1..0.5) = 0.3, times beta 0.5
    assert bounds[12] == pytest.approx(0.1515)  # EMA = 0.99 * 0.3 + 0.01 * 0.6 = 0.303
    assert bounds[13] == pytest.approx(0.1515)  # step 12's mean is NaN: EMA unchanged
    assert state.ema == pytest.approx(0.303)


def test_begin_step_without_warmup_means_keeps_everything():
    state = StdFilterState()
    for step in range(1, 13):
        state, bound = begin_step(state, step, None)
    assert bound == 0.0 and state.ema is None


def test_begin_step_refuses_a_filter_starting_before_its_ema():
    with pytest.raises(ValueError, match="ema_start_step <= filter_start_step"):
        begin_step(StdFilterState(), 1, None, ema_start_step=12, filter_start_step=11)


def test_format_reward():
    assert format_reward("<think>a</think> b <answer>c</answer>") == 1.0
    assert format_reward("<think>a</think> b <answer>c") == 0.0  # no </answer>
    assert format_reward("<answer>c</answer><think>a</think>") == 0.0  # wrong order
    assert format_reward("<think>a</think><think></think><answer>c</answer>") == 0.0  # a tag twice
    assert format_reward("so <answer>c</answer>", mode="R1_nothink") == 1.0
    with pytest.raises(ValueError, match="Unknown format mode"):
        format_reward("x", mode="R2")


def test_splice_reference_keeps_reasoning_and_the_answers_leading_whitespace():
    completion = "<think>abc</think> so <answer>\n 42 </answer>"
    head, tail, valid = splice_reference(completion, "7")
    assert valid and head == "<think>abc</think> so <answer>\n " and tail == " </answer>"
    # the official text: reasoning up to </think>, the middle " so ", <answer>, leading "\n ", y*, " ", </answer>
    assert head + "7" + tail == "<think>abc</think> so <answer>\n 7 </answer>"
    # no leading whitespace: one space is inserted; a missing </answer> is still spliced
    assert splice_reference("<think>a</think><answer>42", "7")[:2] == ("<think>a</think><answer> ", " </answer>")
    # default_space "" (a character-level model): nothing is inserted; a generated leading whitespace is kept
    assert splice_reference("12\n\n<answer>42</answer>", "7", "R1_nothink", "")[0] == "12\n\n<answer>"
    assert splice_reference("<answer> 42</answer>", "7", "R1_nothink", "")[0] == "<answer> "


@pytest.mark.parametrize(
    ("completion", "mode", "valid"),
    [
        ("<think>a</think><answer>1</answer><answer>2</answer>", "R1", False),  # two <answer>
        ("reasoning <answer>1</answer>", "R1", False),  # no <think>
        ("</think><think><answer>1</answer>", "R1", False),  # wrong order
        ("reasoning <answer>1</answer>", "R1_nothink", True),
        ("<think>a</think><answer>", "R1", True),  # blank answer: official check never fires (EOS appended first)
    ],
)
def test_splice_reference_validity(completion, mode, valid):
    head, tail, ok = splice_reference(completion, "x", mode)
    assert ok is valid
    if not ok:
        assert (head, tail) == ("", "")


def test_token_span_mask_overlap_rule():
    # tokens "abc" [0,3), "de" [3,5), "fgh" [5,8), "i" [8,9); answer characters [4,8) touch tokens 1 and 2
    assert token_span_mask([(0, 3), (3, 5), (5, 8), (8, 9)], 4, 8) == [False, True, True, False]
    assert token_span_mask([(0, 3)], 3, 3) == [False]  # empty span: no token, reward 0


def test_is_repetitive_official_window_and_limit():
    ten_words = "a b c d e f g h i j "
    assert is_repetitive(ten_words * 10)  # the 10-word window occurs at offsets 0, 10, ..., 90: 10 times
    assert not is_repetitive(ten_words * 9)  # 9 times
    assert is_repetitive("a_b_c_d_e_f_g_h_i_j " * 10)  # underscores split words too
    assert not is_repetitive("short text")
