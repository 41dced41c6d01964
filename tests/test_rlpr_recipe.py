"""The rlpr recipe: what it asks the policy to score, the reward and advantages it makes of given log-probs (values
computed by hand below), its std filter over steps, hostile completions, and a tiny in-process training run whose
policy scores are checked against a direct forward of the model."""

import math

import pytest
import torch

from rlrewards.recipes.rlpr import RLPREstimator, base_key, span_tokens
from rlrewards.trainer import RecipeGRPOTrainer
from rlrewards.trainer.hooks import ADVANTAGE_ESTIMATORS, PolicyScores, RolloutBatch, wants_policy_scores

PROMPTS = [[3, 10, 11], [3, 12]]  # token ids of two prompts (any ids: the estimator only copies them)
ANSWERS = ["42", "7"]


def batch_of(texts, tokenizer, answers=ANSWERS, group_size=2, global_step=0, scores=None):
    """Two prompts x ``group_size`` completions, prompts left-padded as TRL pads them."""
    n = len(texts)
    prompt_ids = torch.zeros(n, 3, dtype=torch.long)
    prompt_mask = torch.zeros(n, 3, dtype=torch.long)
    for i in range(n):
        ids = PROMPTS[i // group_size]
        prompt_ids[i, 3 - len(ids) :] = torch.tensor(ids)
        prompt_mask[i, 3 - len(ids) :] = 1
    return RolloutBatch(
        completion_ids=torch.zeros(n, 1, dtype=torch.long),
        completion_mask=torch.ones(n, 1, dtype=torch.long),
        rewards=torch.zeros(n),
        rewards_per_func=torch.zeros(n, 1),
        reward_names=["accuracy"],
        group_size=group_size,
        grpo_advantages=torch.zeros(n),
        is_finished=torch.ones(n, dtype=torch.bool),
        completions=[[{"role": "assistant", "content": t}] for t in texts],
        global_step=global_step,
        pad_token_id=tokenizer.pad_token_id,
        prompt_ids=prompt_ids,
        prompt_mask=prompt_mask,
        tokenizer=tokenizer,
        row_fields=[{"answer": answers[i // group_size], "checker": "numeric"} for i in range(n)],
        policy_scores=scores,
    )


def scores_of(rows):
    """PolicyScores from per-row lists of probabilities of the target tokens."""
    width = max(len(r) for r in rows)
    logps, mask = torch.zeros(len(rows), width), torch.zeros(len(rows), width, dtype=torch.bool)
    for i, row in enumerate(rows):
        logps[i, : len(row)] = torch.tensor([math.log(p) for p in row])
        mask[i, : len(row)] = True
    return PolicyScores(logps, mask)


TEXTS = ["a+b <answer>41</answer>", "c <answer>42</answer>", "no answer here", "d <answer>7</answer>"]


def estimator(**kwargs):
    est = ADVANTAGE_ESTIMATORS.get("rlpr")(**{"format_mode": "R1_nothink", **kwargs})
    est.base = {base_key(PROMPTS[0], "42"): 0.125, base_key(PROMPTS[1], "7"): 0.5}  # r_0, as the initial pass sets
    return est


def test_span_tokens_marks_the_reference_characters(tiny_tokenizer):
    ids, mask = span_tokens(tiny_tokenizer, "x <answer> ", "42", " </answer>")
    assert tiny_tokenizer.convert_ids_to_tokens(ids) == ["x", " ", "<answer>", " ", "4", "2", " ", "</answer>"]
    assert mask == [False, False, False, False, True, True, False, False]


def test_policy_scoring_splices_the_reference_and_leaves_unparseable_rows_unscored(tiny_tokenizer):
    est = estimator()
    assert wants_policy_scores(est)
    request = est.policy_scoring(batch_of(TEXTS, tiny_tokenizer))
    eos = tiny_tokenizer.eos_token_id
    # row 0: its answer 41 replaced by the reference 42; one space before it (the generated answer had none) and
    # one before </answer>, as the official replace_answer_with_gt_batch writes it; then EOS
    body, target = span_tokens(tiny_tokenizer, "a+b <answer> ", "42", " </answer>")
    assert request.input_ids[0] == PROMPTS[0] + body + [eos]
    assert request.targets[0] == [False] * 3 + target + [False]
    assert sum(request.targets[0]) == 2
    # row 2 has no <answer>: only its prompt, nothing to read (r = 0, the official score)
    assert request.input_ids[2] == PROMPTS[1] and not any(request.targets[2])
    # a length limit below row 0's spliced length (14 tokens) makes it unscorable too; row 3 (10 tokens) fits
    assert len(request.input_ids[0]) == 14 and len(request.input_ids[3]) == 10
    short = estimator(max_length=13).policy_scoring(batch_of(TEXTS, tiny_tokenizer))
    assert not any(short.targets[0]) and short.input_ids[0] == PROMPTS[0] and any(short.targets[3])


def test_reward_and_advantages_from_given_log_probs(tiny_tokenizer):
    # r: mean of the reference tokens' probabilities; row 2 has none (no answer span): r = 0
    scores = scores_of([[0.5, 0.25], [1.0, 1.0], [], [0.75]])
    est = estimator()
    out = est(batch_of(TEXTS, tiny_tokenizer, scores=scores))
    # r = 0.375, 1, 0, 0.75; r_0 = 0.125 (prompt 0), 0.5 (prompt 1); r_hat = clip(r - r_0, 0, 1) = 0.25, 0.875, 0,
    # 0.25; format (R1_nothink) 1, 1, 0, 1; R = 0.9 r_hat + 0.1 format = 0.325, 0.8875, 0, 0.325
    reward, _ = est.rewards(batch_of(TEXTS, tiny_tokenizer), scores)
    assert reward.tolist() == pytest.approx([0.325, 0.8875, 0.0, 0.325])
    # groups of two: (R - mean) / (std + 1e-6) = -+ (d / 2) / (d / sqrt 2 + 1e-6) for the difference d
    a = (0.5625 / 2) / (0.5625 / math.sqrt(2) + 1e-6)
    b = (0.325 / 2) / (0.325 / math.sqrt(2) + 1e-6)
    assert out.advantages.tolist() == pytest.approx([-a, a, -b, b], abs=1e-6)
    assert out.metrics["rlpr/prob_reward_mean"] == pytest.approx((0.375 + 1 + 0 + 0.75) / 4)
    assert out.metrics["rlpr/base_reward_mean"] == pytest.approx((0.125 * 2 + 0.5 * 2) / 4)
    assert out.metrics["rlpr/reward_mean"] == pytest.approx((0.325 + 0.8875 + 0.325) / 4)
    assert out.metrics["rlpr/unscorable_frac"] == 0.25
    assert out.metrics["rlpr/format_frac"] == 0.75
    assert out.metrics["rlpr/filtered_frac"] == 0.0 and out.metrics["rlpr/std_lower"] == 0.0
    assert out.keep.dtype == torch.bool and out.keep.tolist() == [True] * 4  # nothing filtered before step 11
    assert out.metrics["rlpr/group_std_mean"] == pytest.approx((0.5625 + 0.325) / math.sqrt(2) / 2)


def test_without_debiasing_and_with_the_repetition_penalty(tiny_tokenizer):
    scores = scores_of([[0.5, 0.25], [1.0, 1.0], [], [0.75]])
    texts = [*TEXTS[:3], " ".join(["w"] * 19) + " <answer>7</answer>"]  # "w x10" occurs 10 times
    reward, parts = estimator(debias=False).rewards(batch_of(texts, tiny_tokenizer), scores)
    # R = 0.9 r + 0.1 format; the repetitive row 3: 0.9 * 0.75 + 0.1 - 1
    assert reward.tolist() == pytest.approx([0.9 * 0.375 + 0.1, 1.0, 0.0, 0.775 - 1.0])
    assert parts["repetitive_frac"].tolist() == [False, False, False, True]


def test_std_filter_drops_the_groups_below_beta_times_the_ema(tiny_tokenizer):
    est = estimator(ema_start_step=1, filter_start_step=2, std_filter_beta=1.0)
    scores = scores_of([[0.5, 0.25], [1.0, 1.0], [], [0.75]])
    first = est(batch_of(TEXTS, tiny_tokenizer, global_step=0, scores=scores))  # step 1: recorded, not filtered
    assert first.metrics["rlpr/filtered_frac"] == 0.0 and first.keep.tolist() == [True] * 4
    second = est(batch_of(TEXTS, tiny_tokenizer, global_step=1, scores=scores))
    # step 2: EMA = step 1's mean group std = (0.5625 + 0.325) / sqrt(2) / 2 = 0.31378; group 1 (std 0.22981) drops
    assert second.metrics["rlpr/std_lower"] == pytest.approx((0.5625 + 0.325) / math.sqrt(2) / 2)
    assert second.metrics["rlpr/filtered_frac"] == 0.5
    assert second.advantages[2:].tolist() == [0.0, 0.0] and second.advantages[1] > 0.7
    assert second.keep.tolist() == [True, True, False, False]  # group 1's rows leave the loss, as officially
    # step 3, counted in generation batches whatever the optimizer step (verl's steps: one per generation batch):
    # EMA = 0.99 EMA + 0.01 * step 2's mean, the same batch's: unchanged
    third = est(batch_of(TEXTS, tiny_tokenizer, global_step=8, scores=scores))
    assert third.metrics["rlpr/std_lower"] == pytest.approx(second.metrics["rlpr/std_lower"])
    assert est.filter_state.warmup == (pytest.approx((0.5625 + 0.325) / math.sqrt(2) / 2),)
    restored = estimator()
    restored.load_state_dict(est.state_dict())
    assert restored.state_dict() == est.state_dict() and restored.step == 3


def test_batches_generated_to_refill_a_step_keep_its_bound_and_feed_its_mean(tiny_tokenizer):
    est = estimator(ema_start_step=1, filter_start_step=2, std_filter_beta=1.0)
    assert est.refill is not None and est.refill.max_generation_batches is None and est.refill.cache_surplus
    scores = scores_of([[0.5, 0.25], [1.0, 1.0], [], [0.75]])
    est(batch_of(TEXTS, tiny_tokenizer, scores=scores))  # step 1
    second = est(batch_of(TEXTS, tiny_tokenizer, scores=scores))  # step 2: group 1 drops
    refill = batch_of(TEXTS, tiny_tokenizer, scores=scores)
    refill.generation_attempt = 1
    again = est(refill)
    assert est.step == 2  # the refill batch belongs to step 2: the filter did not advance
    assert again.metrics["rlpr/std_lower"] == second.metrics["rlpr/std_lower"]
    assert again.keep.tolist() == second.keep.tolist()
    assert len(est.step_means) == 2  # both batches' mean group std feed step 3's EMA, as verl's list of the step
    assert estimator(refill=False).refill is None


def test_hostile_completions_never_raise_and_score_zero(tiny_tokenizer):
    texts = ["<answer>", "<answer><answer>x</answer>", "", "<answer></answer>"]
    est = estimator()
    request = est.policy_scoring(batch_of(texts, tiny_tokenizer, answers=["", "7"]))
    # an empty reference marks no token; two <answer> tags are refused; "<answer>" alone and the blank answer are
    # spliced (the official blank-answer check never fires)
    assert [any(t) for t in request.targets] == [False, False, False, True]
    nan_scores = PolicyScores(torch.full((4, 2), float("nan")), torch.zeros(4, 2, dtype=torch.bool))
    out = est(batch_of(texts, tiny_tokenizer, answers=["", "7"], scores=nan_scores))
    assert torch.isfinite(out.advantages).all() and out.metrics["rlpr/unscorable_frac"] == 1.0
    assert out.metrics["rlpr/reward_mean"] == pytest.approx(0.1 / 4)  # the last row's format reward only


def test_initial_scoring_builds_the_no_reasoning_sequences_once(tiny_tokenizer):
    est = ADVANTAGE_ESTIMATORS.get("rlpr")()
    rows = [{"answer": "7"}, {"answer": "7"}, {"answer": "8"}]
    request = est.initial_scoring([[3, 10], [3, 10], [3, 11]], rows, tiny_tokenizer)
    body, target = span_tokens(tiny_tokenizer, " ", "7", " ")  # prompt + " " + y* + " " + EOS
    assert len(request.input_ids) == 2  # the repeated (prompt, answer) is scored once
    assert request.input_ids[0] == [3, 10, *body, tiny_tokenizer.eos_token_id]
    assert request.targets[0] == [False, False, *target, False]
    est.set_initial_scores(scores_of([[0.5], [0.25]]))
    assert est.base == {base_key([3, 10], "7"): 0.5, base_key([3, 11], "8"): 0.25}
    assert est.initial_scoring([[3, 10]], [{"answer": "7"}], tiny_tokenizer) is None


def test_answer_space_sets_what_goes_between_the_answer_tag_and_the_reference(tiny_tokenizer):
    texts = ["1+1=2\n\n<answer>2</answer>"] * 4
    official = estimator().policy_scoring(batch_of(texts, tiny_tokenizer))
    tight = estimator(answer_space="").policy_scoring(batch_of(texts, tiny_tokenizer))
    assert len(official.input_ids[0]) == len(tight.input_ids[0]) + 1  # the inserted " " is one character token
    decoded = tiny_tokenizer.decode(tight.input_ids[0][len(PROMPTS[0]) :], skip_special_tokens=False)
    assert decoded.startswith("1+1=2\n\n<answer>42")  # the reasoning's newlines survive the tokenizer


def test_initial_scoring_can_score_the_reference_in_the_model_s_own_no_reasoning_form(tiny_tokenizer):
    est = ADVANTAGE_ESTIMATORS.get("rlpr")(base_prefix="<answer>")
    request = est.initial_scoring([[3, 10]], [{"answer": "7"}], tiny_tokenizer)
    body, target = span_tokens(tiny_tokenizer, "<answer>", "7", " ")  # prompt + "<answer>" + y* + " " + EOS
    assert request.input_ids[0] == [3, 10, *body, tiny_tokenizer.eos_token_id]
    assert request.targets[0] == [False, False, *target, False]
    assert sum(target) >= 1 and body != span_tokens(tiny_tokenizer, " ", "7", " ")[0]


def test_training_scores_the_spliced_sequences_with_the_policy(tiny_model, tiny_tokenizer, tmp_path):
    from trainer_helpers import digit_fraction, grpo_args, small_dataset

    seen, calls, checked = [], [], []

    def direct_logps(model, ids, targets):
        """log pi(token | before) at temperature 0.7 at the target positions, from a plain forward of the model."""
        with torch.no_grad():
            logps = torch.log_softmax(model(torch.tensor([ids])).logits[0, :-1].float() / 0.7, dim=-1)
        return [float(logps[t - 1, ids[t]]) for t, on in enumerate(targets) if on]

    class Recorded(RLPREstimator):
        def policy_scoring(self, batch):  # an untrained model writes no tags: give every row an answer span
            batch.completions = [f"{i} <answer>{i}</answer>" for i in range(len(batch.completions))]
            request = super().policy_scoring(batch)
            seen.append(request)
            return request

        def initial_scoring(self, prompt_ids, rows, tokenizer):
            calls.append(len(rows))
            return super().initial_scoring(prompt_ids, rows, tokenizer)

        def __call__(self, batch):  # the policy that scored the batch is the trainer's model right now
            request, scores = seen[-1], batch.policy_scores
            for row in (0, 5):
                expected = direct_logps(tiny_model, request.input_ids[row], request.targets[row])
                got = scores.logps[row][scores.mask[row]].tolist()
                checked.append(len(got) >= 1 and got == pytest.approx(expected, abs=1e-5))
            return super().__call__(batch)

    est = Recorded(format_mode="R1_nothink")
    trainer = RecipeGRPOTrainer(
        model=tiny_model,
        reward_funcs=[digit_fraction],
        args=grpo_args(tmp_path, temperature=0.7),
        train_dataset=small_dataset(),
        processing_class=tiny_tokenizer,
        advantage_estimator=est,
    )
    trainer.train()
    assert checked == [True] * 4  # two rows of each of the two generation batches
    # r_0: one initial pass over the 32 training rows, one value per distinct (prompt, answer)
    assert calls == [32] and len(est.base) == len({str(r["prompt"]) + r["answer"] for r in small_dataset()})
    logged = [e for e in trainer.state.log_history if "rlpr/prob_reward_mean" in e]
    assert len(logged) == 2 and all(0 < e["rlpr/prob_reward_mean"] <= 1 for e in logged)
    assert all(e["rlpr/unscorable_frac"] == 0 and e["rlpr/base_missing_frac"] == 0 for e in logged)


def test_recipe_runs_from_the_command_line(tmp_path):
    """``recipe=rlpr debug=fast`` on a 64-problem training split (the initial r_0 pass covers the whole split), the std
    filter on from step 2 so that step 2's dropped groups are refilled (``rlrewards/trainer/refill.py``)."""
    import json

    from test_cli import FAST, cli, only_run_dir

    small = ["task.split_sizes.train=64", "model.warm_start.num_examples=64"]
    kwargs = "recipe.advantage.kwargs"
    early_filter = [f"{kwargs}.ema_start_step=1", f"{kwargs}.filter_start_step=2", f"{kwargs}.std_filter_beta=1.0"]
    result = cli([*FAST, "recipe=rlpr", *small, *early_filter], tmp_path, tmp_path / "cache")
    assert result.returncode == 0, result.stderr[-3000:]
    run_dir = only_run_dir(tmp_path)
    assert json.loads((run_dir / "summary.json").read_text())["steps"] == 2
    logged = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    steps = [e for e in logged if "train/rlpr/prob_reward_mean" in e]
    assert len(steps) == 2
    for entry in steps:
        for name in ("unscorable_frac", "filtered_frac", "base_reward_mean", "reward_mean"):
            assert math.isfinite(entry[f"train/rlpr/{name}"]), name
        assert entry["train/rlpr/base_missing_frac"] == 0.0
    state = json.loads((run_dir / "model" / "recipe_state.json").read_text())
    assert len(state["base"]) == 64 and state["step"] == 2  # r_0 of every training problem, kept with the model
    # step 1 filters nothing; step 2 drops the groups below step 1's mean std and fills the batch from more batches
    assert [e["train/refill/generation_batches"] for e in steps][0] == 1.0
    assert steps[1]["train/rlpr/filtered_frac"] > 0 and steps[1]["train/refill/generation_batches"] >= 2.0
    refill = json.loads((run_dir / "model" / "refill_state.json").read_text())
    assert refill["drawn"] > 0  # the extra prompts' stream position, saved with the model


def test_the_training_set_reads_the_verl_schema_with_its_own_chat_messages():
    from conftest import FIXTURES
    from hydra.utils import instantiate
    from omegaconf import OmegaConf
    from test_configs import compose_train

    cfg = compose_train(["experiment=rlpr/qwen2.5-7b"])
    cfg.task.data_files = {"train": str(FIXTURES / "rlpr_train" / "train.jsonl")}
    OmegaConf.resolve(cfg)
    rows = instantiate(cfg.task, _convert_="all").load_split("train")
    assert len(rows) == 4 and rows[0]["answer"] == "19.6 m" and rows[3]["answer"] == "the mitochondrion"
    system, user = rows[0]["prompt"]  # the dataset's messages as they are: no template, no recipe system prompt
    assert system["role"] == "system" and system["content"].startswith("SYNTHETIC fixture system turn")
    assert user == {
        "role": "user",
        "content": "A ball is dropped from rest and falls for 2 s. Taking g = 9.8 m/s^2, how far does it fall?",
    }
    assert rows[1]["data_source"] == "WebInstruct-verified" and rows[1]["ability"] == "chemistry"
