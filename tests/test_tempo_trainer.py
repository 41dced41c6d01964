"""TEMPO in the trainer and the configs: the logged advantages are TEMPO's, trainer.scale_rewards is refused unless
it agrees with the estimator, and suite=tempo grades each benchmark in its own format."""

import pytest
import torch
from conftest import CONFIG_DIR
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf
from test_configs import compose_train
from trainer_helpers import gathered_records, train_recipe_on_fixed_completions

import rlrewards.evaluate as evaluate
from rlrewards.algorithms.tempo import tempo_decomposition
from rlrewards.config import ConfigError, validate_config


def test_logged_advantages_are_the_installed_tempo_ones(tmp_path):
    run = train_recipe_on_fixed_completions("tempo", tmp_path, per_device_batch=12, steps=1)
    step = gathered_records([run], step=0)
    mask = step["completion_mask"].float()
    token_means = (step["advantages"] * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
    assert len(run["logged_advantages"]) == 12
    torch.testing.assert_close(torch.tensor(run["logged_advantages"]), token_means)
    # The long right/wrong pair branches mid-completion: its token mean is not its GRPO (last-token) value.
    last = step["advantages"][torch.arange(12), mask.sum(dim=1).long() - 1]
    assert not torch.allclose(token_means, last)


@pytest.mark.parametrize(
    ("overrides", "refused"),
    [
        (["+trainer.scale_rewards=batch"], True),
        (["+trainer.scale_rewards=none"], True),
        (["+trainer.scale_rewards=group", "recipe.advantage.kwargs.scale_by_std=false"], True),
        (["+trainer.scale_rewards=group"], False),
        (["+trainer.scale_rewards=none", "recipe.advantage.kwargs.scale_by_std=false"], False),
        ([], False),
    ],
)
def test_scale_rewards_is_refused_unless_it_agrees_with_scale_by_std(overrides, refused):
    cfg = compose_train(["recipe=tempo", *overrides])
    if refused:
        with pytest.raises(ConfigError, match=r"trainer.scale_rewards=.* is ignored by the tempo estimator"):
            validate_config(cfg)
    else:
        validate_config(cfg)


def tempo_suite_tasks(experiment: str):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose(config_name="eval", overrides=["run_dir=unused", "suite=tempo"])
    train_cfg = compose_train([f"experiment={experiment}"])
    OmegaConf.resolve(train_cfg)
    return evaluate.benchmark_tasks(cfg, train_cfg)


@pytest.mark.parametrize("experiment", ["tempo/math_qwen3-1.7b", "tempo/medqa_qwen3-1.7b"])
def test_tempo_suite_grades_each_benchmark_in_the_format_its_prompt_asks_for(experiment):
    formats = {name: task.answer_format for name, (_, task) in tempo_suite_tasks(experiment).items()}
    run_format = "boxed" if "math" in experiment else "think_answer"
    assert formats == {
        "math": run_format,
        "medqa": "think_answer",
        "medmcqa": "think_answer",
        "mmlu_medical": "think_answer",
        "gsm_hard": "boxed",
        "amc23": "boxed",
    }


def test_evaluate_task_grades_with_the_tasks_answer_format(tmp_path, monkeypatch):
    seen = {}

    def fake_evaluate_split(model, tokenizer, dataset, answer_format, *args, **kwargs):
        seen["format"] = answer_format
        return {}, []

    monkeypatch.setattr(evaluate, "evaluate_split", fake_evaluate_split)
    monkeypatch.setattr(evaluate, "reliability_diagrams", lambda *args, **kwargs: None)
    tasks = tempo_suite_tasks("tempo/math_qwen3-1.7b")
    spec, medqa = tasks["medqa"]
    monkeypatch.setattr(medqa, "load_split", lambda split: [])
    cfg = OmegaConf.create(
        {"split": "test", "limit": None, "decodings": {}, "max_new_tokens": 8, "batch_size": 1, "seed": 0}
    )
    train_cfg = OmegaConf.create({"recipe": {"answer_format": "boxed"}})
    generation = evaluate.Generation(None, None, None, [])
    evaluate.evaluate_task(cfg, spec, medqa, train_cfg, generation, tmp_path, "unused")
    assert seen["format"] == "think_answer"  # a MATH (boxed) run still reads MedQA's <answer> tag


def test_masked_truncated_completions_leave_the_tree_in_the_trainer(tmp_path):
    # Each group: right long, wrong long (shared prefix, then a branch), right short, and one that never stops
    # (rewards 1, 0, 1, 0; tests/trainer_helpers.fixed_completion). TRL masks the whole of the last one.
    run = train_recipe_on_fixed_completions(
        "tempo", tmp_path, per_device_batch=12, steps=1, overrides=["+trainer.mask_truncated_completions=true"]
    )
    step = gathered_records([run], step=0)
    ids, mask, advantages = step["completion_ids"], step["completion_mask"], step["advantages"]
    rewards = torch.tensor([1.0, 0.0, 1.0, 0.0])
    centered, std = rewards - rewards.mean(), rewards.std()  # the GRPO part keeps the masked row
    for group in range(3):
        rows = slice(4 * group, 4 * group + 4)
        assert mask[rows][3].sum() == 0 and mask[rows][:3].sum(dim=1).min() > 0
        # the tree of the three unmasked rows alone: no TD term from the masked row anywhere (token 0 included)
        tree = tempo_decomposition(ids[rows][:3], mask[rows][:3], rewards[:3], 3, scale_by_std=False)
        expected = (centered[:3].unsqueeze(1) + tree.td) / (std + 1e-6) * mask[rows][:3]
        torch.testing.assert_close(advantages[rows][:3], expected.float())
        assert advantages[rows][3].abs().sum() == 0
