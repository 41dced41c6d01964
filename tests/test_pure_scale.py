"""PURE at scale: the HF PRM under ZeRO-3, the PRM work split over processes, plain-text prompts for the base-model
experiments and OpenRLHF's loss normalisation."""

import json
import weakref

import pytest
import torch
import transformers.integrations.deepspeed as hf_deepspeed
import transformers.modeling_utils as modeling_utils
from test_pure_paper import PURE_PROMPT, SIMPLERL_FILES, compose_experiment, load_task

from rlrewards.recipes.pure import ArithRulePRM, HFTokenClassificationPRM, StepBatch, pure_estimator
from rlrewards.trainer import RolloutBatch


def tiny_prm(tokenizer):
    from transformers import Qwen2Config, Qwen2ForTokenClassification

    torch.manual_seed(0)
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        intermediate_size=64,
        num_labels=2,
        pad_token_id=tokenizer.pad_token_id,
    )
    return Qwen2ForTokenClassification(config)


class FakeZero3Config:
    """What ``TrainingArguments(deepspeed=<ZeRO-3 config>)`` registers with transformers (``HfDeepSpeedConfig``)."""

    config = {"zero_optimization": {"stage": 3}}

    def is_zero3(self) -> bool:
        return True


# --- the HF PRM under ZeRO-3 ------------------------------------------------------------------------------------


def test_hf_prm_loads_whole_outside_zero3_init(tiny_tokenizer, tmp_path, monkeypatch):
    """By the first scoring call the trainer's arguments have registered the ZeRO-3 config; ``from_pretrained``
    must not see it (it would build the PRM inside ``deepspeed.zero.Init``: partitioned parameters, and without
    deepspeed installed, an ImportError), and the config is back in place afterwards."""
    tiny_prm(tiny_tokenizer).save_pretrained(tmp_path / "prm")
    registered = FakeZero3Config()
    monkeypatch.setattr(hf_deepspeed, "_hf_deepspeed_config_weak_ref", weakref.ref(registered))
    assert hf_deepspeed.is_deepspeed_zero3_enabled()
    seen_by_from_pretrained = []
    real = modeling_utils.is_deepspeed_zero3_enabled

    def spy():
        seen_by_from_pretrained.append(real())
        return seen_by_from_pretrained[-1]

    monkeypatch.setattr(modeling_utils, "is_deepspeed_zero3_enabled", spy)
    prm = HFTokenClassificationPRM(
        model=str(tmp_path / "prm"), device="cpu", dtype="float32", batch_size=2, tokenizer_object=tiny_tokenizer
    )
    newline = tiny_tokenizer("\n", add_special_tokens=False)["input_ids"][0]
    scores = prm.score(StepBatch([[5, 6]], [[10, 11, newline, 12, 1]], [[2, 4]], [["a", "b"]]))
    assert seen_by_from_pretrained and not any(seen_by_from_pretrained)
    assert len(scores[0]) == 2 and all(-1.0 <= v <= 1.0 for v in scores[0])
    assert all(p.numel() > 0 and p.device.type == "cpu" for p in prm.model.parameters())  # whole, not partitioned
    assert hf_deepspeed.is_deepspeed_zero3_enabled()  # the trainer's config is restored


# --- the PRM work split over processes --------------------------------------------------------------------------


class CountingPRM(ArithRulePRM):
    """The rule PRM, recording the gathered-batch rows each call scored."""

    calls: list[list[int]] = []

    def score(self, batch):
        CountingPRM.calls.append(batch.row_ids())
        return super().score(batch)


ARITH_STEPS = ["3+4=7\n\n7*2=14\n\n<answer>14</answer>", "3+4=8\n\n<answer>8</answer>", "<answer>14</answer>", "7=7"]


def arith_batch(tokenizer, **distributed) -> RolloutBatch:
    """Two groups of two completions (rewards on the arith rule PRM differ within each group)."""
    texts = [ARITH_STEPS[0], ARITH_STEPS[1], ARITH_STEPS[2], ARITH_STEPS[3]]
    ids = [tokenizer.encode(t, add_special_tokens=False) + [tokenizer.eos_token_id] for t in texts]
    width = max(len(row) for row in ids)
    completion_ids = torch.tensor([row + [tokenizer.pad_token_id] * (width - len(row)) for row in ids])
    completion_mask = torch.tensor([[1] * len(row) + [0] * (width - len(row)) for row in ids])
    prompt_ids = torch.tensor([tokenizer.encode("3+4", add_special_tokens=False)] * 4)
    return RolloutBatch(
        completion_ids=completion_ids,
        completion_mask=completion_mask,
        rewards=torch.zeros(4),
        rewards_per_func=torch.zeros(4, 1),
        reward_names=["accuracy"],
        group_size=2,
        grpo_advantages=torch.zeros(4),
        is_finished=torch.ones(4, dtype=torch.bool),
        completions=texts,
        global_step=0,
        pad_token_id=tokenizer.pad_token_id,
        prompt_ids=prompt_ids,
        prompt_mask=torch.ones_like(prompt_ids),
        tokenizer=tokenizer,
        **distributed,
    )


def test_each_process_scores_its_own_rows_and_gathers_every_score(tiny_tokenizer, monkeypatch):
    """Process 1 of 2 (rows 2, 3 of the gathered batch): its PRM scores those two rows only, and the scores
    process 0 sends for rows 0, 1 complete the batch, so the advantages equal the one-process ones."""
    monkeypatch.setattr(CountingPRM, "calls", [])
    kwargs = {"prm": {"name": f"{__name__}.CountingPRM", "kwargs": {"noise": 0.0}}, "whiten": False}
    single = pure_estimator(**kwargs)(arith_batch(tiny_tokenizer)).advantages
    assert CountingPRM.calls == [[0, 1, 2, 3]]
    other = [[1.0, 1.0, 1.0], [-1.0, 1.0]]  # process 0's rule-PRM scores of rows 0, 1 (3+4=8 is wrong, 8 is its result)
    sent = []

    def gather_object(local):
        sent.append(local)
        return list(zip([0, 1], other)) + local  # process order: process 0's rows first

    batch = arith_batch(tiny_tokenizer, local_rows=torch.tensor([2, 3]), gather_object=gather_object)
    split = pure_estimator(**kwargs)(batch).advantages
    assert CountingPRM.calls[1:] == [[2, 3]]
    assert [row for row, _ in sent[0]] == [2, 3]
    torch.testing.assert_close(split, single)
    assert single.abs().sum() > 0


def test_rule_prm_noise_does_not_depend_on_which_process_scores_a_row():
    """Each process's PRM copy has the same seed: noise drawn from one stream per copy would flip the same steps of
    every process's first rows. Drawn per (call, gathered row), two halves scored apart equal the whole."""
    steps = [["3+4=7\n\n", "7*2=14\n\n", "<answer>14</answer>"]] * 8

    def batch(rows):
        return StepBatch([[]] * len(rows), [[]] * len(rows), [[]] * len(rows), [steps[r] for r in rows], rows=rows)

    whole = ArithRulePRM(noise=0.5, seed=3).score(batch(list(range(8))))
    halves = ArithRulePRM(noise=0.5, seed=3).score(batch([0, 1, 2, 3])) + ArithRulePRM(noise=0.5, seed=3).score(
        batch([4, 5, 6, 7])
    )
    assert halves == whole
    assert whole[:4] != whole[4:]  # seeded, so deterministic: rows 0-3 and 4-7 draw different flips


# --- plain-text prompts for the base-model experiments ----------------------------------------------------------

PAPER_EXPERIMENTS = [
    f"{base}_{kind}"
    for base in ("qwen2.5-7b", "qwen2.5-math-7b", "qwen2.5-math-1.5b")
    for kind in ("prm", "prm_vr", "vr")
] + ["qwen2.5-math-7b_prm_sum", "qwen2.5-math-7b_prm_vr_sum"]


def trl_prompt_ids(tokenizer, prompts) -> list[list[int]]:
    """The prompt ids TRL's GRPOTrainer generates from (its own ``_tokenize_prompts``, text-only, no tools)."""
    from types import SimpleNamespace

    from trl import GRPOTrainer

    trainer = SimpleNamespace(
        _is_vlm=False,
        environment_factories=None,
        processing_class=tokenizer,
        chat_template=None,
        tools=None,
        chat_template_kwargs={},
    )
    return GRPOTrainer._tokenize_prompts(trainer, prompts)[0]


def test_base_model_experiments_feed_plain_text_to_the_policy_and_the_prm(tmp_path, monkeypatch):
    """The official runs (OpenRLHF ``train_pure_ray.py``: ``--input_template`` appends the instruction,
    ``--apply_chat_template`` off) give the base model the bare text, and the PRM that text followed by the steps.
    The tiny tokenizer's chat template (role markers ``<|user|>``, ``<|assistant|>``) stands in for Qwen's."""
    from rlrewards.models.loading import load_policy
    from rlrewards.models.tiny import ASSISTANT, USER

    monkeypatch.delenv("LOCAL_RANK", raising=False)
    assert all(compose_experiment(name).model.chat_template == "raw" for name in PAPER_EXPERIMENTS)
    cfg = compose_experiment("qwen2.5-math-7b_prm_vr")
    model_cfg = {"source": "scratch", "architecture": {"hidden_size": 32, "num_layers": 1, "num_heads": 2}}
    templated = load_policy(model_cfg, None, str(tmp_path), 0).tokenizer
    tokenizer = load_policy({**model_cfg, "chat_template": cfg.model.chat_template}, None, str(tmp_path), 0).tokenizer
    row = load_task("simplerl_math", SIMPLERL_FILES).load_split("train")[1]
    official = PURE_PROMPT.format(q="How many positive divisors does $360$ have?")
    markers = set(tokenizer.convert_tokens_to_ids([USER, ASSISTANT]))

    assert markers & set(trl_prompt_ids(templated, [row["prompt"]])[0])  # the stand-in template does add markers
    prompt_ids = trl_prompt_ids(tokenizer, [row["prompt"]])[0]
    assert tokenizer.decode(prompt_ids) == official and not markers & set(prompt_ids)

    seen = []
    prm_model = tiny_prm(tokenizer)
    prm_model.register_forward_pre_hook(lambda module, args, kwargs: seen.append(kwargs["input_ids"]), with_kwargs=True)
    prm = {"name": "hf_token_classification", "kwargs": {"model_object": prm_model, "tokenizer_object": tokenizer}}
    completion = "Step one.\n\nSo \\boxed{24}."
    ids = tokenizer.encode(completion, add_special_tokens=False) + [tokenizer.eos_token_id]
    prompt = torch.tensor([prompt_ids, prompt_ids])
    batch = RolloutBatch(
        completion_ids=torch.tensor([ids, ids]),
        completion_mask=torch.ones(2, len(ids), dtype=torch.long),
        rewards=torch.zeros(2),
        rewards_per_func=torch.zeros(2, 1),
        reward_names=["accuracy"],
        group_size=2,
        grpo_advantages=torch.zeros(2),
        is_finished=torch.ones(2, dtype=torch.bool),
        completions=[completion] * 2,
        global_step=0,
        pad_token_id=tokenizer.pad_token_id,
        prompt_ids=prompt,
        prompt_mask=torch.ones_like(prompt),
        tokenizer=tokenizer,
    )
    pure_estimator(prm=prm)(batch)
    prm_input = seen[0][0].tolist()
    # each step without its end token ("\n" of the blank line, EOS), then the step tag "\n"
    assert tokenizer.decode(prm_input) == official + "Step one.\n\nSo \\boxed{24}.\n"
    assert not markers & set(prm_input)


def test_an_unknown_chat_template_fails_before_loading(tmp_path):
    from rlrewards.config import ConfigError
    from rlrewards.models.loading import load_policy

    with pytest.raises(ConfigError, match="model.chat_template='none'"):
        load_policy({"source": "pretrained", "name_or_path": "no-such/model", "chat_template": "none"}, None, "", 0)


# --- the loss -----------------------------------------------------------------------------------------------------


def test_paper_loss_is_openrlhfs_sequence_mean_then_batch_mean(tiny_model, tiny_tokenizer, tmp_path, monkeypatch):
    """OpenRLHF's ``PolicyLoss``: each sequence's masked token mean, then the mean over sequences. Two completions
    of 1 and 3 tokens, per-token advantages (3) and (1, 2, 3), ratio 1 (first update on the batch): losses -3 and
    -2, mean -2.5 (a token mean over the batch, bnpo, would give -(3 + 6) / 4 = -2.25)."""
    from trainer_helpers import digit_fraction, grpo_args, small_dataset

    from rlrewards.trainer import RecipeGRPOTrainer

    monkeypatch.delenv("LOCAL_RANK", raising=False)
    for name in PAPER_EXPERIMENTS:
        assert compose_experiment(name).trainer.loss_type == "grpo", name
    trainer_cfg = compose_experiment("qwen2.5-math-7b_prm_vr").trainer
    args = grpo_args(tmp_path, loss_type=trainer_cfg.loss_type, epsilon=trainer_cfg.epsilon, beta=trainer_cfg.beta)
    trainer = RecipeGRPOTrainer(
        model=tiny_model,
        reward_funcs=[digit_fraction],
        args=args,
        train_dataset=small_dataset(8),
        processing_class=tiny_tokenizer,
    )
    trainer.model.eval()  # the loss as is (training divides it by the gradient-accumulation steps)
    inputs = {
        "prompt_ids": torch.tensor([[5, 6], [5, 6]]),
        "prompt_mask": torch.ones(2, 2, dtype=torch.long),
        "completion_ids": torch.tensor([[10, 0, 0], [11, 12, 13]]),
        "completion_mask": torch.tensor([[1, 0, 0], [1, 1, 1]]),
        "advantages": torch.tensor([[3.0, 0.0, 0.0], [1.0, 2.0, 3.0]]),
    }
    loss = trainer._compute_loss(trainer.model, inputs)
    torch.testing.assert_close(loss.detach(), torch.tensor(-2.5))


@pytest.mark.slow  # a torchrun launch of two processes (~1 min on two cores)
def test_two_processes_each_score_their_half_and_match_one_process(tmp_path, monkeypatch):
    """Two optimizer steps of recipe=pure on fixed completions (``trainer_helpers``), 12 rows a step: on two gloo
    processes each PRM scores its own 6 rows (the old code scored all 12 on both), and the gathered scores give the
    one-process advantages."""
    from pure_helpers import ROWS_DIR, recorded_rows
    from test_distributed import launch_two_processes
    from trainer_helpers import gathered_records, train_recipe_on_fixed_completions

    overrides = ["recipe.advantage.kwargs.prm.name=pure_helpers.RowRecordingPRM"]
    (tmp_path / "two").mkdir()
    (tmp_path / "one").mkdir()
    monkeypatch.setenv(ROWS_DIR, str(tmp_path / "two"))
    launch_two_processes(
        tmp_path / "two", "recipes", json.dumps({"recipes": {"pure": overrides}, "per_device_batch": 6})
    )
    monkeypatch.setenv(ROWS_DIR, str(tmp_path / "one"))
    single = train_recipe_on_fixed_completions("pure", tmp_path / "one", per_device_batch=12, overrides=overrides)
    assert recorded_rows(tmp_path / "one", 0) == [list(range(12))] * 2
    assert recorded_rows(tmp_path / "two", 0) == [list(range(6))] * 2
    assert recorded_rows(tmp_path / "two", 1) == [list(range(6, 12))] * 2
    ranks = [torch.load(tmp_path / "two" / f"pure.rank{r}.pt", weights_only=False) for r in (0, 1)]
    for step in (0, 1):
        one, two = gathered_records([single], step), gathered_records(ranks, step)
        assert torch.equal(one["completion_ids"], two["completion_ids"])
        torch.testing.assert_close(two["advantages"], one["advantages"], rtol=1e-6, atol=1e-6)
        assert one["advantages"].abs().sum() > 0
