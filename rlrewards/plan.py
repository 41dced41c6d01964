"""The plan of a run: the batch TRL will train with, the paper's batch on any number of processes, the schedule.

Import-light on purpose (no torch, transformers, TRL or datasets): ``rlrewards-train ... dry_run=true`` and every
config error answer from here in about a second.

The batch arithmetic is TRL 1.16's (``GRPOConfig.__post_init__`` and ``GRPOTrainer._prepare_inputs``). With ``W``
training processes, ``B = per_device_train_batch_size`` and ``GA = gradient_accumulation_steps``:

* completions per optimizer step = ``B x W x GA`` (one micro-step: ``B`` completions on each process);
* steps per generation ``S`` (micro-steps): with neither ``steps_per_generation`` nor ``generation_batch_size`` set,
  ``S = GA``; with ``generation_batch_size`` set, ``S = generation_batch_size / (B x W)`` (it must divide); setting
  both is an error. The generation batch, over all processes, is ``B x W x S`` completions;
* TRL generates once every ``S x num_iterations`` micro-steps and takes an optimizer step every ``GA`` micro-steps,
  so the **updates per generation** (optimizer steps taken on one generation batch, counting every pass of
  ``num_iterations``) are ``S x num_iterations / GA``. 1 is on-policy GRPO; TEMPO's scripts take 8.

A paper experiment declares ``resources.completions_per_step`` (the paper's optimizer batch). ``apply_paper_batch``
derives ``GA`` from it and the world size, and keeps the updates per generation of the experiment's files:
``generation_batch_size`` is a global count and stays as it is; a ``steps_per_generation`` from the files is
rescaled with ``GA``. Numbers that do not divide, or a command-line ``trainer.gradient_accumulation_steps`` that
contradicts the paper's batch, are refused (``resources.completions_per_step=null`` opts out: the trainer values
are then used as they are).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from fractions import Fraction
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict

from rlrewards.config import ConfigError
from rlrewards.context import check_context, model_max_positions, prompt_budget

DERIVED_KEYS = ("gradient_accumulation_steps", "steps_per_generation")


def run_world_size(cfg: DictConfig | None = None) -> int:
    """Training processes: ``WORLD_SIZE`` as ``accelerate launch`` and ``torchrun`` set it (1 without it); a job that
    will start its own processes (``launch=accelerate``, not yet launched) plans for ``launch.num_processes``."""
    from rlrewards.launch import is_launched

    launch = cfg.get("launch") if cfg is not None else None
    if launch is not None and not is_launched() and launch.get("num_processes") is not None:
        return _positive_int(launch.num_processes, "launch.num_processes")
    return _positive_int(os.environ.get("WORLD_SIZE", "1"), "the environment variable WORLD_SIZE")


def _positive_int(value: Any, name: str) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = 0
    if isinstance(value, bool) or number < 1:
        raise ConfigError(f"{name}={value} must be a whole number >= 1")
    return number


def command_line_keys() -> set[str]:
    """Config keys set on the command line of the current Hydra job (empty outside a Hydra app)."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return set()
    return {override.lstrip("~+").split("=", 1)[0] for override in HydraConfig.get().overrides.task}


def derive_batch(trainer: Mapping, completions_per_step: int, world: int) -> dict[str, int]:
    """The ``trainer`` values that give ``completions_per_step`` completions per optimizer step on ``world``
    processes with the updates per generation of ``trainer``; raises ConfigError naming the numbers."""
    per_device = int(trainer.get("per_device_train_batch_size", 8))
    micro_step = per_device * world
    if completions_per_step % micro_step:
        raise ConfigError(
            f"resources.completions_per_step={completions_per_step} (the paper's optimizer batch) is not a multiple of "
            f"trainer.per_device_train_batch_size={per_device} x {world} processes = {micro_step}: choose a "
            f"per_device_train_batch_size whose multiple by {world} divides {completions_per_step}, another number "
            "of processes, or opt out with resources.completions_per_step=null"
        )
    accumulation = completions_per_step // micro_step
    derived = {"gradient_accumulation_steps": accumulation}
    steps_per_generation = trainer.get("steps_per_generation")
    if steps_per_generation is not None:
        per_update = Fraction(int(steps_per_generation), int(trainer.get("gradient_accumulation_steps", 1)))
        rescaled = per_update * accumulation
        if rescaled.denominator != 1:
            raise ConfigError(
                f"trainer.steps_per_generation={steps_per_generation} is {per_update} x "
                f"trainer.gradient_accumulation_steps; with {accumulation} accumulation steps on {world} processes "
                f"that is {float(rescaled):g} micro-steps, not a whole number: set trainer.generation_batch_size "
                "(completions per generation) instead"
            )
        derived["steps_per_generation"] = int(rescaled)
    return derived


def apply_paper_batch(
    cfg: DictConfig, world: int | None = None, explicit: set[str] | None = None
) -> dict[str, int]:
    """Write the batch derived from ``resources.completions_per_step`` into ``cfg.trainer`` (before GRPOConfig is
    built) and return it; idempotent. Nothing changes without a declared ``completions_per_step``. ``explicit``:
    the keys set on the command line (read from Hydra when None); such a ``gradient_accumulation_steps`` must agree."""
    total = (cfg.get("resources") or {}).get("completions_per_step")
    if total is None:
        return {}
    world = run_world_size(cfg) if world is None else world
    explicit = command_line_keys() if explicit is None else explicit
    derived = derive_batch(cfg.trainer, _positive_int(total, "resources.completions_per_step"), world)
    key = "trainer.gradient_accumulation_steps"
    given = cfg.trainer.get("gradient_accumulation_steps")
    if key in explicit and int(given) != derived["gradient_accumulation_steps"]:
        per_device = int(cfg.trainer.get("per_device_train_batch_size", 8))
        raise ConfigError(
            f"{key}={given} on the command line makes {per_device} x {world} processes x {given} = "
            f"{per_device * world * int(given)} completions per optimizer step, but this experiment reproduces the "
            f"paper's resources.completions_per_step={total}, which needs {derived['gradient_accumulation_steps']} "
            f"on {world} processes: drop the override, or opt out with resources.completions_per_step=null"
        )
    with open_dict(cfg.trainer):
        for name, value in derived.items():
            cfg.trainer[name] = value
    return derived


def batch_numbers(trainer: Mapping, world: int) -> dict[str, Any]:
    """What TRL 1.16 will do with ``trainer`` on ``world`` processes (see the module docstring)."""
    per_device = int(trainer.get("per_device_train_batch_size", 8))
    accumulation = int(trainer.get("gradient_accumulation_steps", 1))
    iterations = int(trainer.get("num_iterations", 1))
    generations = int(trainer.get("num_generations"))
    generation_batch, steps_per_generation = trainer.get("generation_batch_size"), trainer.get("steps_per_generation")
    if generation_batch is not None and steps_per_generation is not None:
        raise ConfigError(
            f"trainer.generation_batch_size={generation_batch} and trainer.steps_per_generation="
            f"{steps_per_generation} are both set; TRL takes one of them"
        )
    if generation_batch is None:
        steps_per_generation = int(steps_per_generation or accumulation)
        generation_batch = per_device * world * steps_per_generation
    elif int(generation_batch) % (per_device * world):
        raise ConfigError(
            f"trainer.generation_batch_size={generation_batch} is not a multiple of trainer.per_device_train_batch_"
            f"size={per_device} x {world} processes = {per_device * world}"
        )
    else:
        steps_per_generation = int(generation_batch) // (per_device * world)
    if int(generation_batch) % generations:
        raise ConfigError(
            f"{generation_batch} completions per generation on {world} processes are not divisible by "
            f"trainer.num_generations={generations}: every prompt needs a whole group"
        )
    updates = Fraction(steps_per_generation * iterations, accumulation)
    return {
        "world_size": world,
        "per_device_train_batch_size": per_device,
        "gradient_accumulation_steps": accumulation,
        "num_generations": generations,
        "num_iterations": iterations,
        "completions_per_step": per_device * world * accumulation,
        "prompts_per_step": Fraction(per_device * world * accumulation, generations),
        "steps_per_generation": steps_per_generation,
        "generation_batch_size": int(generation_batch),
        "updates_per_generation": updates,
    }


def recipe_schedule(recipe: Mapping, prefix: str = "recipe") -> dict[str, Any]:
    """Every ``*_warmup`` value under ``recipe`` (a step at which the recipe switches something on), by key name;
    keys of one name in two places are named by their path."""
    found: dict[str, Any] = {}
    for key, value in recipe.items():
        if isinstance(value, Mapping):
            for inner, number in recipe_schedule(value, f"{prefix}.{key}").items():
                found[inner if inner not in found else f"{prefix}.{key}.{inner}"] = number
        elif str(key).endswith("_warmup") and isinstance(value, int) and not isinstance(value, bool):
            found[str(key)] = value
    return found


def build_plan(cfg: DictConfig, world: int, experiment: str | None = None) -> dict[str, Any]:
    """The run as it will train, JSON-ready; ``cfg`` is the checked config (after ``apply_paper_batch``)."""
    trainer = OmegaConf.to_container(cfg.trainer, resolve=True)
    numbers = batch_numbers(trainer, world)
    declared = (cfg.get("resources") or {}).get("completions_per_step")
    max_steps = int(trainer.get("max_steps", -1))
    plan: dict[str, Any] = {
        "experiment": experiment,
        "recipe": str(cfg.recipe.name),
        "model": str(cfg.model.name),
        "task": str(cfg.task.name) if cfg.task.get("name") is not None else None,
        **{k: _json_number(v) for k, v in numbers.items()},
        "paper_completions_per_step": declared,
        "max_steps": max_steps,
        "completions_total": numbers["completions_per_step"] * max_steps if max_steps > 0 else None,
        "max_prompt_length": prompt_budget(cfg),
        "max_completion_length": trainer.get("max_completion_length"),
        "model_max_positions": model_max_positions(cfg.model),
        "learning_rate": trainer.get("learning_rate"),
        "lr_warmup_steps": trainer.get("warmup_steps", 0),
        **recipe_schedule(OmegaConf.to_container(cfg.recipe, resolve=True)),
        "seed": int(cfg.seed),
    }
    return plan


def check_run(cfg: DictConfig, world: int | None = None, validate: bool = True) -> dict[str, Any]:
    """Everything a run checks before it loads anything: the paper's batch (applied to ``cfg.trainer``), the cheap
    config validation, the context lengths; returns the plan. Raises ConfigError naming the culprit."""
    from rlrewards.config import validate_config

    world = run_world_size(cfg) if world is None else world
    apply_paper_batch(cfg, world)
    if validate:
        validate_config(cfg)
    check_context(cfg)
    return build_plan(cfg, world, experiment_choice())


def experiment_choice() -> str | None:
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return None
    return HydraConfig.get().runtime.choices.get("experiment")


def _json_number(value: Any) -> Any:
    if isinstance(value, Fraction):
        return int(value) if value.denominator == 1 else float(value)
    return value


def format_plan(plan: Mapping[str, Any]) -> str:
    """The plan for a reader; the caller prints ``json.dumps(plan)`` on the last line for programs."""
    paper = plan.get("paper_completions_per_step")
    lines = [
        f"Plan of {plan['recipe']} on {plan['model']} / {plan['task']}"
        + (f" (experiment={plan['experiment']})" if plan.get("experiment") else ""),
        f"  processes:            {plan['world_size']}",
        f"  optimizer step:       {plan['per_device_train_batch_size']} per device x {plan['world_size']} processes"
        f" x {plan['gradient_accumulation_steps']} accumulation = {plan['completions_per_step']} completions"
        f" ({_show(plan['prompts_per_step'])} prompts x {plan['num_generations']})"
        + (f", the paper's {paper}" if paper is not None else ""),
        f"  generation:           {plan['generation_batch_size']} completions every "
        f"{plan['steps_per_generation']} x {plan['num_iterations']} micro-steps = "
        f"{_show(plan['updates_per_generation'])} optimizer updates per generation",
        f"  steps:                {plan['max_steps']} ({plan['completions_total']} completions in all)",
        f"  context:              prompt {plan['max_prompt_length'] or 'unknown'} + completion "
        f"{plan['max_completion_length']} tokens; model positions {plan['model_max_positions'] or 'unknown'}",
        f"  learning rate:        {plan['learning_rate']} (warm-up {plan['lr_warmup_steps']} steps)",
    ]
    warmups = {k: v for k, v in plan.items() if k.endswith("_warmup")}
    for name, steps in warmups.items():
        lines.append(f"  {name + ':':<22}{steps} steps (as the recipe counts them)")
    lines.append(
        "  trainer args:         checked by rlrewards; TRL's GRPOConfig was not built (importing TRL takes seconds)"
    )
    return "\n".join(lines)


def _show(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)
