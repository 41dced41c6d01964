"""Early validation of a composed config: every check runs before any model, dataset or run file is built."""

from __future__ import annotations

import importlib.util
import os

from omegaconf import DictConfig, OmegaConf

from rlrewards.registry import import_object
from rlrewards.rewards import build_reward_functions
from rlrewards.trainer.hooks import ADVANTAGE_ESTIMATORS, AUX_LOSSES, CONFIG_CHECKS, build_component


class ConfigError(ValueError):
    """A config value is invalid; the message names the key."""


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def validate_trainer(trainer: DictConfig) -> None:
    from dataclasses import fields

    from trl import GRPOConfig

    known = {f.name for f in fields(GRPOConfig)}
    reserved = {"output_dir", "run_name", "seed", "data_seed", "report_to", "reward_weights"}
    for key in trainer:
        if key in reserved:
            raise ConfigError(f"trainer.{key} is set by rlrewards (from seed, paths, logger or recipe.rewards)")
        if key not in known:
            raise ConfigError(f"trainer.{key} is not a GRPOConfig field (trl {_trl_version()})")
    num_generations = trainer.get("num_generations")
    if num_generations is None or int(num_generations) < 2:
        raise ConfigError(
            f"trainer.num_generations={num_generations}: GRPO needs at least 2 completions per prompt "
            "to compute a group baseline"
        )
    learning_rate = float(trainer.get("learning_rate", 0.0))
    if not learning_rate > 0:
        raise ConfigError(f"trainer.learning_rate={learning_rate} must be > 0")
    generation_batch = trainer.get("generation_batch_size")
    if generation_batch is None:
        steps_per_generation = trainer.get("steps_per_generation") or trainer.get("gradient_accumulation_steps", 1)
        generation_batch = int(trainer.get("per_device_train_batch_size", 8)) * world_size() * int(steps_per_generation)
        source = f"per_device_train_batch_size x processes ({world_size()}) x steps_per_generation = {generation_batch}"
    else:
        source = f"trainer.generation_batch_size={generation_batch}"
    if int(generation_batch) % int(num_generations):
        raise ConfigError(
            f"The generation batch ({source}) is not divisible by trainer.num_generations="
            f"{num_generations}: every prompt needs a whole group"
        )


def _trl_version() -> str:
    import trl

    return trl.__version__


def vllm_installed() -> bool:
    return importlib.util.find_spec("vllm") is not None


def validate_vllm(cfg: DictConfig) -> None:
    """vLLM generation (``trainer.use_vllm``, conf/vllm/) otherwise fails inside the trainer, after the model load
    and the before-RL evaluation; these checks need no GPU. No recipe is refused: their hooks read only the completion
    token ids from generation and score them (LaSeR's slot, PURE's reference log-probs) with the trainer's models."""
    trainer = cfg.trainer
    if not trainer.get("use_vllm", False):
        return
    mode = trainer.get("vllm_mode", "colocate")
    if mode not in ("colocate", "server"):
        raise ConfigError(f"trainer.vllm_mode={mode} must be colocate or server (conf/vllm/)")
    if not vllm_installed():
        raise ConfigError("trainer.use_vllm=true needs the vllm package: pip install -e '.[vllm]'")
    tensor_parallel = int(trainer.get("vllm_tensor_parallel_size", 1))
    if mode == "colocate" and world_size() % tensor_parallel:
        raise ConfigError(
            f"trainer.vllm_tensor_parallel_size={tensor_parallel} must divide the number of training processes "
            f"({world_size()}): each vLLM engine spans that many processes"
        )
    if trainer.get("ds3_gather_for_generation", True) is False:
        raise ConfigError("trainer.ds3_gather_for_generation=false: vLLM needs the gathered ZeRO-3 weights to sync")
    model = cfg.model
    if model.get("source") == "scratch" and not (model.get("warm_start") or {}).get("enabled", False):
        raise ConfigError(
            "model.warm_start.enabled=false with trainer.use_vllm=true: vLLM loads the policy from disk "
            "(its name_or_path), and a scratch model without a warm start exists only in memory"
        )


def validate_recipe(recipe: DictConfig) -> None:
    try:
        build_reward_functions(OmegaConf.to_container(recipe.rewards, resolve=True))
        build_component(ADVANTAGE_ESTIMATORS, recipe.get("advantage"), "recipe.advantage")
        build_component(AUX_LOSSES, recipe.get("aux_loss"), "recipe.aux_loss")
    except (ValueError, TypeError) as err:
        raise ConfigError(str(err)) from None


def validate_task(task: DictConfig) -> None:
    target = task.get("_target_")
    if not target:
        raise ConfigError("task._target_ is missing: a task config must name the class that builds it")
    try:
        import_object(str(target), "task class")
    except KeyError as err:
        raise ConfigError(f"task._target_: {err.args[0]}") from None


def validate_config(cfg: DictConfig) -> None:
    """Raise ConfigError naming the offending key; cheap, so it runs before anything is built."""
    if cfg.get("seed") is None or int(cfg.seed) < 0:
        raise ConfigError(f"seed={cfg.get('seed')} must be a non-negative integer")
    validate_trainer(cfg.trainer)
    validate_vllm(cfg)
    validate_recipe(cfg.recipe)
    for check in CONFIG_CHECKS:  # recipe checks that read other groups (registered in rlrewards/recipes/*.py)
        CONFIG_CHECKS.get(check)(cfg)
    validate_task(cfg.task)
    metric = cfg.get("optimized_metric")
    if metric is not None and not str(metric).startswith(("eval/", "train/")):
        raise ConfigError(f"optimized_metric={metric} must name an eval/ or train/ metric of summary.json")
