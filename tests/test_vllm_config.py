"""vLLM generation settings (conf/vllm/) as the trainer receives them: the GRPOConfig built from each composed
config, the recipes' importance-sampling choice, and the early errors. vllm is not installed and no GPU is here, so
nothing generates with vLLM; the checks that need the vllm package pretend it is installed."""

import sys

import pytest
from conftest import CONFIG_DIR
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf, open_dict

import rlrewards.config
from rlrewards.config import ConfigError, validate_config
from rlrewards.pipeline import build_grpo_config

# the papers' trainers recompute old log-probs with the training model and never correct for vLLM's (conf/recipe/)
WITHOUT_CORRECTION = ["laser", "laser_swa", "pure", "pure_sum", "tempo", "hepo", "rlcr", "rlcr_single", "rlvr"]


def compose_train(overrides: list[str]):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose(config_name="train", overrides=overrides)
    with open_dict(cfg):
        cfg.paths.output_dir = "/tmp/rlrewards-vllm-test"
    return cfg


def grpo_config(overrides: list[str], tmp_path):
    # bf16 needs a GPU here; it does not touch any vLLM field
    cfg = compose_train([*overrides, "++trainer.bf16=false", "++trainer.use_cpu=true"])
    return build_grpo_config(cfg, tmp_path, report_to=[], reward_weights=[1.0])


@pytest.fixture
def vllm_installed(monkeypatch):
    monkeypatch.setattr(rlrewards.config, "vllm_installed", lambda: True)


def test_colocate_runs_vllm_in_each_training_process_without_correction_for_tempo(tmp_path):
    args = grpo_config(["experiment=tempo/math_qwen3-1.7b", "vllm=colocate"], tmp_path)
    assert args.use_vllm is True and args.vllm_mode == "colocate"
    assert args.vllm_gpu_memory_utilization == 0.3
    assert args.vllm_tensor_parallel_size == 1
    assert args.vllm_enable_sleep_mode is False and args.vllm_max_model_length is None
    assert args.vllm_importance_sampling_correction is False
    assert "vllm" not in sys.modules


def test_server_mode_points_the_trainer_at_the_server_and_keeps_rlcr_uncorrected(tmp_path):
    args = grpo_config(["experiment=rlcr/hotpot_qwen2.5-7b", "vllm=server", "trainer.vllm_server_port=8001"], tmp_path)
    assert args.use_vllm is True and args.vllm_mode == "server"
    assert (args.vllm_server_host, args.vllm_server_port, args.vllm_server_base_url) == ("0.0.0.0", 8001, None)
    assert args.vllm_server_timeout == 240.0 and args.vllm_group_port == 51216
    assert args.vllm_importance_sampling_correction is False


@pytest.mark.parametrize("recipe", WITHOUT_CORRECTION)
def test_paper_recipes_turn_the_importance_sampling_correction_off(recipe):
    cfg = compose_train([f"recipe={recipe}", "vllm=colocate"])
    assert cfg.trainer.vllm_importance_sampling_correction is False


def test_plain_grpo_keeps_trls_correction_but_tempos_grpo_baseline_matches_tempo(tmp_path):
    assert grpo_config(["recipe=grpo", "vllm=colocate"], tmp_path).vllm_importance_sampling_correction is True
    baseline = grpo_config(["experiment=grpo/math_qwen3-1.7b", "vllm=colocate"], tmp_path)
    assert baseline.vllm_importance_sampling_correction is False


def test_vllm_none_leaves_the_config_untouched():
    assert compose_train(["vllm=none"]) == compose_train([])
    assert "use_vllm" not in compose_train(["experiment=laser/qwen2.5-7b"]).trainer


@pytest.mark.parametrize(
    "experiment", ["tempo/math_qwen3-1.7b", "laser/qwen2.5-7b", "pure/qwen2.5-math-7b_prm", "rlcr/math_qwen2.5-7b"]
)
@pytest.mark.parametrize("mode", ["colocate", "server"])
def test_paper_experiments_validate_with_vllm(experiment, mode, vllm_installed):
    cfg = compose_train([f"experiment={experiment}", f"vllm={mode}"])
    OmegaConf.resolve(cfg)
    validate_config(cfg)


@pytest.mark.parametrize(
    ("overrides", "world_size", "message"),
    [
        (["trainer.vllm_mode=remote"], 1, "trainer.vllm_mode=remote must be colocate or server"),
        (["trainer.vllm_tensor_parallel_size=3"], 8, r"trainer.vllm_tensor_parallel_size=3 must divide .* \(8\)"),
        (["+trainer.ds3_gather_for_generation=false"], 1, "trainer.ds3_gather_for_generation=false"),
    ],
)
def test_unusable_vllm_settings_fail_at_validation_naming_the_key(
    overrides, world_size, message, vllm_installed, monkeypatch
):
    monkeypatch.setenv("WORLD_SIZE", str(world_size))
    cfg = compose_train(["experiment=tempo/math_qwen3-1.7b", "vllm=colocate", *overrides])
    with pytest.raises(ConfigError, match=message):
        validate_config(cfg)


def test_tensor_parallel_size_that_divides_the_processes_passes(vllm_installed, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "8")
    validate_config(
        compose_train(["experiment=tempo/math_qwen3-1.7b", "vllm=colocate", "trainer.vllm_tensor_parallel_size=2"])
    )


def test_a_scratch_model_without_a_saved_copy_cannot_be_served(vllm_installed):
    cfg = compose_train(["vllm=colocate", "model.warm_start.enabled=false"])
    with pytest.raises(ConfigError, match="model.warm_start.enabled=false with trainer.use_vllm=true"):
        validate_config(cfg)
    validate_config(compose_train(["vllm=colocate"]))  # the warm-started demo model is loaded from disk


def test_missing_vllm_package_fails_at_validation_with_the_install_command(monkeypatch):
    monkeypatch.setattr(rlrewards.config, "vllm_installed", lambda: False)
    with pytest.raises(ConfigError, match=r"trainer.use_vllm=true needs the vllm package: pip install -e '.\[vllm\]'"):
        validate_config(compose_train(["experiment=tempo/math_qwen3-1.7b", "vllm=server"]))
