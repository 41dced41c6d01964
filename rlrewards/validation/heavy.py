"""The second validation stage, still before any model, tokenizer or dataset loads: the checks that need torch,
transformers or trl. It builds the recipe's rewards and components, imports the task class, and builds the run's
``trl.GRPOConfig`` (whose own checks then name the ``trainer.<key>``); for the embedded model it also resolves LaSeR's
slot token against the tokenizer, which is built in-process."""

from __future__ import annotations

import gc
import re
import types
import typing
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from rlrewards.config import ConfigError
from rlrewards.registry import import_object
from rlrewards.validation.parts import resolve_slot_token

_SIMPLE_TYPES = {bool: (bool,), int: (int,), float: (int, float), str: (str,), type(None): (type(None),)}


def validate_trainer_args(cfg: DictConfig) -> None:
    """The GRPOConfig is built as the trainer will get it (``report_to`` aside) and dropped: its construction also
    sets up accelerate's process state, which the real build then reuses."""
    reward_weights = validate_components(cfg.recipe)
    validate_task_class(cfg.task)
    kwargs = OmegaConf.to_container(cfg.trainer, resolve=True)
    check_trainer_fields(kwargs)
    try:
        build_grpo_config(cfg, Path(cfg.paths.output_dir), report_to=[], reward_weights=reward_weights)
    except (ValueError, TypeError) as err:
        raise ConfigError(name_trainer_key(str(err), kwargs)) from None
    except ImportError as err:  # a DeepSpeed config without the deepspeed package, say
        uses_deepspeed = bool((cfg.get("deepspeed") or {}).get("config"))
        raise ConfigError(f"{'deepspeed.config' if uses_deepspeed else 'trainer'}: {err}") from None
    finally:
        # a DeepSpeed ZeRO-3 config registers itself through a weak reference that from_pretrained consults: drop
        # this copy now, so the model loads as it would without the check
        gc.collect()
    if cfg.model.get("source") == "scratch" and cfg.recipe.get("slot_token") is not None:
        from rlrewards.models.tiny import build_tiny_tokenizer

        resolve_slot_token(cfg.recipe.slot_token, build_tiny_tokenizer())


def validate_components(recipe: DictConfig) -> list[float]:
    """Builds the recipe's reward functions, advantage estimator and auxiliary loss (hub PRMs load lazily, so
    nothing is downloaded); returns the reward weights."""
    from rlrewards.rewards import build_reward_functions
    from rlrewards.trainer.hooks import ADVANTAGE_ESTIMATORS, AUX_LOSSES, build_component

    try:
        _, weights = build_reward_functions(OmegaConf.to_container(recipe.rewards, resolve=True))
        build_component(ADVANTAGE_ESTIMATORS, recipe.get("advantage"), "recipe.advantage")
        build_component(AUX_LOSSES, recipe.get("aux_loss"), "recipe.aux_loss")
    except (ValueError, TypeError) as err:
        raise ConfigError(str(err)) from None
    return weights


def validate_task_class(task: DictConfig) -> None:
    try:
        import_object(str(task._target_), "task class")
    except KeyError as err:
        raise ConfigError(f"task._target_: {err.args[0]}") from None


def check_trainer_fields(kwargs: dict[str, Any]) -> None:
    """Every trainer key is a GRPOConfig field, of the field's type where that is plain (bool, int, float, str,
    list, dict, or None): GRPOConfig itself takes ``learning_rate="fast"`` and fails in the optimizer."""
    from trl import GRPOConfig

    hints = typing.get_type_hints(GRPOConfig)
    for key, value in kwargs.items():
        if key not in hints:
            raise ConfigError(f"trainer.{key} is not a GRPOConfig field (trl {_trl_version()})")
        accepted = _accepted_types(hints[key])
        if accepted is None:
            continue
        if not isinstance(value, accepted) or isinstance(value, bool) and bool not in accepted:
            raise ConfigError(f"trainer.{key}={value!r} must be of type {_type_name(hints[key])}")


def _accepted_types(hint) -> tuple[type, ...] | None:
    """Python types a value of ``hint`` may have; None for hints left to trl (enums, literals, classes)."""
    union = typing.get_origin(hint) in (typing.Union, types.UnionType)
    accepted: list[type] = []
    for arg in typing.get_args(hint) if union else (hint,):
        origin = typing.get_origin(arg) or arg
        if origin in (list, dict):
            accepted.append(origin)
        elif arg in _SIMPLE_TYPES:
            accepted.extend(_SIMPLE_TYPES[arg])
        else:
            return None
    return tuple(accepted)


def _type_name(hint) -> str:
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")


def _trl_version() -> str:
    import trl

    return trl.__version__


def name_trainer_key(message: str, kwargs: dict[str, Any]) -> str:
    """GRPOConfig's message, led by the ``trainer.<key>`` it names first (of the keys the run sets), or else by the
    key whose string value it quotes (``bogus is not a valid SchedulerType``)."""
    by_name = {key: key for key in kwargs}
    by_value = {key: value for key, value in kwargs.items() if isinstance(value, str) and value}
    for words in (by_name, by_value):
        positions = {}
        for key, word in words.items():
            found = re.search(rf"(?<![\w.]){re.escape(word)}(?!\w)", message)
            if found:
                positions[key] = found.start()
        if positions:
            return f"trainer.{min(positions, key=positions.get)}: {message}"
    return f"trainer: {message}"


def build_grpo_config(cfg: DictConfig, run_dir: Path, report_to: list[str], reward_weights: list[float]):
    """The run's GRPOConfig: the trainer config plus what rlrewards sets (paths, seed, logger, reward weights)."""
    from trl import GRPOConfig

    kwargs = OmegaConf.to_container(cfg.trainer, resolve=True)
    deepspeed = OmegaConf.to_container(cfg.deepspeed, resolve=True).get("config") if cfg.get("deepspeed") else None
    if deepspeed:
        kwargs["deepspeed"] = deepspeed
    return GRPOConfig(
        output_dir=str(run_dir / "checkpoints"),
        run_name=str(cfg.run_name),
        seed=int(cfg.seed),
        data_seed=int(cfg.seed),
        report_to=report_to,
        reward_weights=reward_weights,
        **kwargs,
    )
