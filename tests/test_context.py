"""Context length: prompt budget + completion must fit every model that reads them, refused before loading."""

import pytest
from conftest import CONFIG_DIR
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from rlrewards.config import ConfigError
from rlrewards.context import check_context, model_max_positions


def compose_train(overrides: list[str]):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return compose(config_name="train", overrides=overrides)

# max_position_embeddings of each model's config.json on the hub (null: not verified)
POSITIONS = {
    "qwen2.5-math-1.5b": 4096,
    "qwen2.5-math-7b": 4096,
    "qwen2.5-7b": 32768,
    "qwen2.5-0.5b": 32768,
    "qwen2.5-1.5b-instruct": 32768,
    "qwen3-1.7b": 40960,
    "qwen3-4b": 40960,
    "orz-7b": 32768,
    "octothinker-3b-short-base": None,
    "tiny": 256,
    "qwen2.5-0.5b-shape": 1024,
}


@pytest.mark.parametrize(("model", "positions"), sorted(POSITIONS.items()))
def test_model_configs_record_their_positions(model, positions):
    assert model_max_positions(compose_train([f"model={model}"]).model) == positions


@pytest.mark.parametrize("base", ["qwen2.5-math-7b", "qwen2.5-math-1.5b"])
def test_pure_math_experiments_fit_their_4096_positions(base):
    cfg = compose_train([f"experiment=pure/{base}_prm"])
    # CJReinforce/PURE examples/scripts/train_pure.sh: prompt_max_len 1024, generate_max_len 2048
    assert (cfg.resources.max_prompt_length, cfg.trainer.max_completion_length) == (1024, 2048)
    check_context(cfg)
    # the veRL lengths they asked for before: 1024 + 7168 = 8192 > 4096
    cfg.trainer.max_completion_length = 7168
    with pytest.raises(
        ConfigError,
        match=r"resources.max_prompt_length=1024 \+ trainer.max_completion_length=7168 = 8192 tokens do not fit "
        r"model.max_position_embeddings=4096 \(Qwen/.*\): lower trainer.max_completion_length to 3072 or less",
    ):
        check_context(cfg)


def test_the_evaluation_length_is_checked_too():
    cfg = compose_train(["experiment=pure/qwen2.5-math-7b_vr", "evaluation.max_new_tokens=3500"])
    with pytest.raises(ConfigError, match=r"1024 \+ evaluation.max_new_tokens=3500 = 4524 tokens .*=4096"):
        check_context(cfg)


def test_a_prm_that_reads_prompt_and_completion_is_checked():
    # PURE's veRL lengths on Qwen2.5-7B (1024 + 7168) fit the policy's 32768 positions, not a 4096-position PRM
    cfg = compose_train(["experiment=pure/qwen2.5-7b_prm"])
    check_context(cfg)
    cfg.recipe.prm.max_position_embeddings = 4096
    with pytest.raises(
        ConfigError,
        match=r"= 8192 tokens do not fit recipe.prm.max_position_embeddings=4096 \(jinachris/PURE-PRM-7B\)",
    ):
        check_context(cfg)


def test_an_unknown_prompt_budget_checks_the_completion_alone():
    cfg = compose_train(["trainer.max_completion_length=300"])  # the tiny model: 256 positions
    with pytest.raises(ConfigError, match=r"a prompt of unknown length \+ trainer.max_completion_length=300 = 300"):
        check_context(cfg)
    check_context(compose_train(["trainer.max_completion_length=200", "evaluation.max_new_tokens=200"]))
