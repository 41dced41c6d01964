"""Validation of a composed config, in two stages that both run before any model, tokenizer, dataset or run file:

- ``validate_config``: every cheap check (types, ranges, paths, names), importing none of torch, transformers, trl or
  datasets, so the command line answers a bad value in about the time it takes to compose the config;
- ``validate_trainer_args``: the checks that need those libraries (the recipe's parts, the task class, trl's
  GRPOConfig built from the trainer config, the embedded tokenizer's slot token).

Both raise ``ConfigError`` naming the key. The checks live in ``rlrewards/validation/``; this module stays light.
"""

from __future__ import annotations

import importlib.util
import os

from omegaconf import DictConfig

from rlrewards.registry import RECIPE_MODULES, Registry


class ConfigError(ValueError):
    """A config value is invalid; the message names the key."""


# A recipe's checks of the whole composed config (a LaSeR warm-up against trainer.max_steps, say), run by
# validate_config. They live in rlrewards/recipes/<recipe>_checks.py, which import no ML library, so that a config
# error answers fast; `fn(cfg) -> None` raising ConfigError.
CONFIG_CHECKS: Registry = Registry("config check", autoload=RECIPE_MODULES, suffix="_checks")


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


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


def validate_config(cfg: DictConfig) -> None:
    """Raise ConfigError naming the offending key. Cheap: it imports no ML library, so it can run first."""
    # imported here: rlrewards.validation imports ConfigError from this module
    from rlrewards.validation.parts import (
        validate_model,
        validate_recipe_tasks,
        validate_slot_token_form,
        validate_task_target,
    )
    from rlrewards.validation.settings import validate_evaluation, validate_trainer

    seed = cfg.get("seed")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"seed={seed!r} must be a non-negative integer")
    validate_trainer(cfg.trainer)
    validate_vllm(cfg)
    validate_evaluation(cfg.evaluation)
    validate_model(cfg.model)
    validate_slot_token_form(cfg.recipe)
    validate_task_target(cfg.task)
    validate_recipe_tasks(cfg.recipe, str(cfg.task.get("name")))
    for check in CONFIG_CHECKS:  # recipes' checks that read other groups (rlrewards/recipes/<recipe>_checks.py)
        CONFIG_CHECKS.get(check)(cfg)
    metric = cfg.get("optimized_metric")
    if metric is not None and not str(metric).startswith(("eval/", "train/")):
        raise ConfigError(f"optimized_metric={metric} must name an eval/ or train/ metric of summary.json")


def validate_trainer_args(cfg: DictConfig) -> None:
    """The second stage (after ``validate_config``, before any load): imports torch, transformers and trl, builds
    the recipe's parts and the run's GRPOConfig, and re-raises their errors as ConfigError naming the key."""
    from rlrewards.validation.heavy import validate_trainer_args as check

    check(cfg)
