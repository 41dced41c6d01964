"""Cheap checks of the trainer and evaluation settings: types and ranges, named by key. Defaults for absent keys are
GRPOConfig's (trl 1.16), so a key left out is checked as the trainer will see it."""

from __future__ import annotations

from omegaconf import DictConfig

from rlrewards.config import ConfigError, world_size
from rlrewards.validation.values import integer, number

# Filled in by rlrewards from seed, paths, logger or recipe.rewards; a trainer value would be silently overridden.
RESERVED_TRAINER_KEYS = ("output_dir", "run_name", "seed", "data_seed", "report_to", "reward_weights")


def validate_trainer(trainer: DictConfig) -> None:
    for key in trainer:
        if key in RESERVED_TRAINER_KEYS:
            raise ConfigError(f"trainer.{key} is set by rlrewards (from seed, paths, logger or recipe.rewards)")
    num_generations = integer(
        trainer, "num_generations", "trainer", minimum=2, why=": GRPO needs at least 2 completions per prompt"
    )
    learning_rate = number(trainer, "learning_rate", "trainer", default=0.0)
    if not learning_rate > 0:
        raise ConfigError(f"trainer.learning_rate={learning_rate} must be > 0")
    batch = integer(trainer, "per_device_train_batch_size", "trainer", minimum=1, default=8)
    accumulation = integer(trainer, "gradient_accumulation_steps", "trainer", minimum=1, default=1)
    steps_per_generation = integer(trainer, "steps_per_generation", "trainer", minimum=1, nullable=True)
    generation_batch = integer(trainer, "generation_batch_size", "trainer", minimum=1, nullable=True)
    integer(trainer, "max_completion_length", "trainer", minimum=1, default=256)
    if not number(trainer, "temperature", "trainer", default=1.0) > 0:
        raise ConfigError(
            f"trainer.temperature={trainer.temperature} must be > 0: GRPO samples its completions "
            "(0 would be greedy decoding, the same completion for the whole group)"
        )
    if number(trainer, "beta", "trainer", default=0.0) < 0:
        raise ConfigError(f"trainer.beta={trainer.beta} must be >= 0: it is the KL coefficient (0: no KL term)")
    if generation_batch is None:
        generation_batch = batch * world_size() * (steps_per_generation or accumulation)
        source = f"per_device_train_batch_size x processes ({world_size()}) x steps_per_generation = {generation_batch}"
    else:
        source = f"trainer.generation_batch_size={generation_batch}"
    if generation_batch % num_generations:
        raise ConfigError(
            f"The generation batch ({source}) is not divisible by trainer.num_generations="
            f"{num_generations}: every prompt needs a whole group"
        )


def validate_evaluation(evaluation: DictConfig) -> None:
    """``limit``: null evaluates the whole split; 0 or less would evaluate nothing and report accuracy 0.0, which a
    sweep maximising eval/accuracy_greedy would take at face value."""
    integer(evaluation, "limit", "evaluation", minimum=1, nullable=True)
    integer(evaluation, "max_new_tokens", "evaluation", minimum=1)
    integer(evaluation, "batch_size", "evaluation", minimum=1)
    decodings = evaluation.get("decodings")
    if not decodings:
        raise ConfigError("evaluation.decodings is empty: name at least one decoding {num_samples, temperature}")
    for name, entry in decodings.items():
        validate_decoding(entry, f"evaluation.decodings.{name}")


def validate_decoding(entry: DictConfig, prefix: str) -> None:
    """One ``{num_samples, temperature, top_p, top_k}``: temperature 0 is greedy, which repeats one completion, so
    more than one sample needs temperature > 0. ``top_k``: absent, null or 0 is off; else an integer >= 1, and only
    when sampling (greedy takes the most likely token, which top-k never removes)."""
    if not hasattr(entry, "get"):
        raise ConfigError(f"{prefix}={entry!r} must be a mapping {{num_samples, temperature, top_p, top_k}}")
    samples = integer(entry, "num_samples", prefix, minimum=1)
    temperature = number(entry, "temperature", prefix)
    if temperature < 0:
        raise ConfigError(f"{prefix}.temperature={temperature} must be >= 0 (0: greedy)")
    if samples > 1 and temperature == 0:
        raise ConfigError(
            f"{prefix}.temperature=0.0 with num_samples={samples}: greedy decoding repeats one completion; "
            "sampling needs temperature > 0"
        )
    top_p = number(entry, "top_p", prefix, default=1.0)
    if not 0 < top_p <= 1:
        raise ConfigError(f"{prefix}.top_p={top_p} must be in (0, 1]")
    top_k = entry.get("top_k")
    if isinstance(top_k, bool) or not isinstance(top_k, (int, type(None))):
        raise ConfigError(f"{prefix}.top_k={top_k!r} must be an integer >= 1 (null or 0: off)")
    if top_k is not None and top_k < 0:
        raise ConfigError(f"{prefix}.top_k={top_k} must be >= 1 (null or 0: off)")
    if top_k and temperature == 0:
        raise ConfigError(
            f"{prefix}.top_k={top_k} with temperature=0.0: greedy decoding takes the most likely token, which top-k "
            "does not change; drop top_k or sample with temperature > 0"
        )
