"""The refill of dropped groups (``GroupRefillMixin``, ``rlrewards/trainer/refill.py``): groups an estimator with
``refill`` drops are replaced, within the step, by kept groups of more generation batches, as verl's RLPR trainer
fills its batch after the std filter. One process; generation batches of 2 prompts x 4 completions."""

import copy

import pytest
import torch
from trainer_helpers import digit_fraction, grpo_args, small_dataset

from rlrewards.trainer import AdvantageOutput, RecipeGRPOTrainer
from rlrewards.trainer.hooks import GroupRefill
from rlrewards.trainer.refill import REFILL_STATE_FILE

GROUP = 4
ROWS = 8  # 2 prompts x GROUP
DATASET = 8
REFILL = GroupRefill()  # until full, surplus cached: the official settings


class DropGroups:
    """Keeps or drops groups by attempt (``drop[attempt]``: the groups dropped; missing: keep all); advantages are
    ``100 * attempt + row`` so every installed row can be traced back to its batch."""

    def __init__(self, drop: dict, refill: GroupRefill | None = REFILL):
        self.drop, self.refill, self.calls = drop, refill, []

    def __call__(self, batch):
        attempt = batch.generation_attempt
        self.calls.append(batch)
        keep = torch.ones(ROWS, dtype=torch.bool)
        for group in self.drop.get(attempt, self.drop.get("all", [])):
            keep[group * GROUP : (group + 1) * GROUP] = False
        return AdvantageOutput(torch.arange(ROWS, dtype=torch.float32) + 100 * attempt, {"est/calls": 1.0}, keep=keep)


@pytest.fixture(scope="module")
def tiny():
    from rlrewards.models.tiny import build_tiny_model, build_tiny_tokenizer

    tokenizer = build_tiny_tokenizer()
    model = build_tiny_model(
        tokenizer, hidden_size=32, num_layers=2, num_heads=2, num_kv_heads=1, intermediate_size=64, seed=0
    )
    return model, tokenizer


def refill_trainer(model, tokenizer, out, estimator, **args) -> RecipeGRPOTrainer:
    """The trainer over the tiny model and the 8-prompt training set, 2 prompts x GROUP per generation batch."""
    return RecipeGRPOTrainer(
        model=model,
        reward_funcs=[digit_fraction],
        args=grpo_args(out, per_device_train_batch_size=ROWS, num_generations=GROUP, **args),
        train_dataset=small_dataset(DATASET),
        processing_class=tokenizer,
        advantage_estimator=estimator,
    )


def first_batch(trainer):
    """The trainer's output for one generation batch of dataset prompts 0 and 1."""
    trainer.model.train()
    inputs = [dict(trainer.train_dataset[p]) for p in (0, 1) for _ in range(GROUP)]
    return trainer._generate_and_score_completions(inputs)


def generation_batch(tiny, tmp_path, estimator):
    """The trainer and its output for one generation batch of dataset prompts 0 and 1."""
    trainer = refill_trainer(*tiny, tmp_path, estimator)
    return trainer, first_batch(trainer)


def stream_order(seed: int = 0) -> list[int]:
    """The refill stream's first pass, as documented: a permutation of the training set seeded with seed + 1."""
    return torch.randperm(DATASET, generator=torch.Generator().manual_seed(seed + 1)).tolist()


def tokens(ids: torch.Tensor, mask: torch.Tensor) -> list[list[int]]:
    return [row[m.bool()].tolist() for row, m in zip(ids, mask)]


def prompt_texts(trainer, output) -> list[str]:
    return trainer.processing_class.batch_decode(tokens(output["prompt_ids"], output["prompt_mask"]))


def test_a_dropped_group_is_replaced_by_the_first_kept_group_of_another_batch(tiny, tmp_path):
    estimator = DropGroups({0: [0]})
    trainer, output = generation_batch(tiny, tmp_path, estimator)
    assert [b.generation_attempt for b in estimator.calls] == [0, 1]
    first, second = estimator.calls
    # the kept group of the first batch (its rows 4-7), then the first group of the refill batch (its rows 0-3)
    assert output["advantages"].tolist() == [4.0, 5.0, 6.0, 7.0, 100.0, 101.0, 102.0, 103.0]
    expected = tokens(first.completion_ids[4:], first.completion_mask[4:])
    expected += tokens(second.completion_ids[:4], second.completion_mask[:4])
    assert tokens(output["completion_ids"], output["completion_mask"]) == expected
    dataset = small_dataset(DATASET)
    order = stream_order()
    texts = prompt_texts(trainer, output)
    assert texts[:4] == prompt_texts(
        trainer, {"prompt_ids": first.prompt_ids[4:], "prompt_mask": first.prompt_mask[4:]}
    )
    assert texts[4:] == prompt_texts(
        trainer, {"prompt_ids": second.prompt_ids[:4], "prompt_mask": second.prompt_mask[:4]}
    )
    drawn = [dataset[order[0]]["answer"], dataset[order[1]]["answer"]]
    assert [second.row_fields[i]["answer"] for i in (0, 4)] == drawn
    # the refill batch's second kept group is surplus: its prompt waits in the cache
    assert [row["answer"] for row in trainer._refill_cache] == [dataset[order[1]]["answer"]]
    assert trainer._refill_drawn == 2
    assert bool(output["completion_mask"].any(dim=1).all())  # every row trains: nothing is masked out
    assert int(output["num_items_in_batch"]) == int(output["completion_mask"].sum())
    metrics = trainer._metrics["train"]
    assert metrics["refill/generation_batches"] == [2.0]
    assert metrics["refill/kept_groups_frac"] == [1.0]
    assert metrics["est/calls"] == [1.0, 1.0]  # each batch's own metrics are logged


def test_a_keep_that_splits_a_group_is_refused(tiny, tmp_path):
    class SplitsAGroup(DropGroups):
        def __call__(self, batch):
            result = super().__call__(batch)
            result.keep[0] = False  # one row of group 0 only
            return result

    with pytest.raises(ValueError, match="drops only some rows of a group"):
        generation_batch(tiny, tmp_path, SplitsAGroup({}))


def test_a_later_batch_without_keep_counts_as_all_kept(tiny, tmp_path):
    class KeepsAllLater(DropGroups):
        def __call__(self, batch):
            result = super().__call__(batch)
            return result if batch.generation_attempt == 0 else AdvantageOutput(result.advantages)

    _, output = generation_batch(tiny, tmp_path, KeepsAllLater({0: [0]}))
    assert output["advantages"].tolist() == [4.0, 5.0, 6.0, 7.0, 100.0, 101.0, 102.0, 103.0]


def test_without_refill_the_dropped_group_only_leaves_the_loss(tiny, tmp_path):
    estimator = DropGroups({0: [0]}, refill=None)
    trainer, output = generation_batch(tiny, tmp_path, estimator)
    assert len(estimator.calls) == 1
    assert output["completion_mask"][:4].sum() == 0 and output["advantages"][:4].tolist() == [0.0] * 4
    assert output["advantages"][4:].tolist() == [4.0, 5.0, 6.0, 7.0]
    assert "refill/generation_batches" not in trainer._metrics["train"]


def test_a_step_that_stops_short_trains_the_kept_groups_and_masks_the_filler(tiny, tmp_path):
    estimator = DropGroups({"all": [0, 1]}, refill=GroupRefill(max_generation_batches=3))
    trainer, output = generation_batch(tiny, tmp_path, estimator)
    assert [b.generation_attempt for b in estimator.calls] == [0, 1, 2]
    assert output["completion_mask"].sum() == 0 and int(output["num_items_in_batch"]) == 0
    assert trainer._metrics["train"]["refill/kept_groups_frac"] == [0.0]


def test_without_a_limit_the_refill_stops_after_one_pass_over_the_training_set(tiny, tmp_path):
    estimator = DropGroups({"all": [0, 1]})
    trainer, output = generation_batch(tiny, tmp_path, estimator)
    assert len(estimator.calls) == 1 + DATASET // 2  # 2 prompts per batch drawn until all 8 were drawn once
    assert trainer._refill_drawn == DATASET and trainer._refill_cache == []


def test_cached_prompts_are_regenerated_once_a_whole_batch_has_gathered(tiny, tmp_path):
    estimator = DropGroups({0: [1]})
    dataset = small_dataset(DATASET)
    cached = [dict(dataset[5]), dict(dataset[6])]
    trainer = refill_trainer(*tiny, tmp_path, estimator)
    trainer._refill_cache = list(cached)
    first_batch(trainer)
    refill_batch = estimator.calls[1]
    assert [refill_batch.row_fields[i]["answer"] for i in (0, 4)] == [row["answer"] for row in cached]
    assert trainer._refill_drawn == 0  # nothing drawn from the stream
    assert [row["answer"] for row in trainer._refill_cache] == [dataset[6]["answer"]]  # the surplus goes back


def test_the_stream_position_and_cache_are_saved_and_read_back(tiny, tmp_path):
    trainer, _ = generation_batch(tiny, tmp_path / "a", DropGroups({0: [0]}))
    trainer._save_extra_state(tmp_path / "checkpoint")
    saved = (tmp_path / "checkpoint" / REFILL_STATE_FILE).read_text()
    resumed, _ = generation_batch(tiny, tmp_path / "b", DropGroups({}))
    resumed._load_extra_state(tmp_path / "checkpoint")
    assert resumed._refill_drawn == 2 and resumed._refill_cache == trainer._refill_cache
    assert '"drawn": 2' in saved


def test_training_steps_with_refills_run_through_the_whole_loop(tiny, tmp_path):
    model, tokenizer = tiny
    estimator = DropGroups({0: [0]})
    # trained: a copy, so that the module's other tests keep the untrained model
    trainer = refill_trainer(copy.deepcopy(model), tokenizer, tmp_path, estimator, max_steps=2)
    trainer.train()
    assert [b.generation_attempt for b in estimator.calls] == [0, 1, 0, 1]
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    assert len(losses) == 2 and all(torch.isfinite(torch.tensor(losses)))
    assert [entry["refill/generation_batches"] for entry in trainer.state.log_history if "loss" in entry] == [2.0, 2.0]


@pytest.mark.parametrize(
    "bad",
    [
        "max_generation_batches=0",
        "max_generation_batches=-1",
        "max_generation_batches=2.5",
        "max_generation_batches=true",
        "refill='false'",
        "cache_surplus=0",
    ],
)
def test_bad_refill_settings_are_refused_at_validation_naming_the_key(bad):
    from test_configs import compose_train

    from rlrewards.config import ConfigError, validate_config

    cfg = compose_train(["recipe=rlpr", f"recipe.advantage.kwargs.{bad}"])
    with pytest.raises(ConfigError, match=f"recipe.advantage.kwargs.{bad.split('=')[0]}"):
        validate_config(cfg)
    validate_config(compose_train(["recipe=rlpr", "recipe.advantage.kwargs.max_generation_batches=4"]))


def test_a_resumed_run_continues_the_refill_stream_where_the_checkpoint_left_it(tiny, tmp_path):
    model, tokenizer = tiny

    def trainer(max_steps, estimator):
        out = tmp_path / "run"
        return refill_trainer(
            copy.deepcopy(model), tokenizer, out, estimator, max_steps=max_steps, save_strategy="steps", save_steps=1
        )

    first = trainer(1, DropGroups({0: [0]}))
    first.train()
    saved = tmp_path / "run" / "checkpoint-1" / REFILL_STATE_FILE
    assert saved.exists() and first._refill_drawn == 2 and len(first._refill_cache) == 1
    resumed = trainer(2, DropGroups({0: [0]}))
    resumed.train(resume_from_checkpoint=str(saved.parent))
    # step 2 refilled once more, drawing the stream's next 2 prompts: 4 drawn in all, not 2 from a restart at 0
    assert resumed._refill_drawn == 4 and len(resumed._refill_cache) == 2
