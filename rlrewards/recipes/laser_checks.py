"""LaSeR's checks of a composed config (run by ``rlrewards.config.validate_config``); no ML library imported here,
so a refused run answers fast."""

from __future__ import annotations

from omegaconf import DictConfig

from rlrewards.config import CONFIG_CHECKS, ConfigError

# The laser estimator's defaults for the keys checked here (rlrewards.recipes.laser.laser_estimator; a test keeps
# the two in step).
DEFAULTS = {"reasoning_warmup": 200, "self_reward_warmup": 200, "mix": True}


@CONFIG_CHECKS.register("laser_warmups")
def check_laser_warmups(cfg: DictConfig) -> None:
    """Refuse a LaSeR run whose warm-ups outlast it: it would train as plain GRPO (or as -SWA) while still logging
    self-verification metrics. Steps count from 0 to ``max_steps - 1``, so the self-reward loss trains iff
    ``reasoning_warmup < max_steps`` and mixing starts iff ``reasoning_warmup + self_reward_warmup < max_steps``.
    Skipped when ``trainer.max_steps <= 0`` (an epoch budget: the step count is known only once data is loaded)."""
    advantage = cfg.recipe.get("advantage") or {}
    if advantage.get("name") != "laser":
        return
    kwargs = advantage.get("kwargs") or {}
    reasoning, self_reward = (int(kwargs.get(key, DEFAULTS[key])) for key in ("reasoning_warmup", "self_reward_warmup"))
    if reasoning < 0 or self_reward < 0:
        raise ConfigError(
            f"recipe.advantage.kwargs.reasoning_warmup={reasoning} and self_reward_warmup={self_reward} must be >= 0"
        )
    max_steps = int(cfg.trainer.get("max_steps") or -1)
    if max_steps <= 0:
        return
    prefix = "recipe.advantage.kwargs"
    if reasoning >= max_steps:
        raise ConfigError(
            f"{prefix}.reasoning_warmup={reasoning} >= trainer.max_steps={max_steps}: the self-reward loss would "
            "never train and this LaSeR run would be plain GRPO; lower the warm-up or raise trainer.max_steps"
        )
    if bool(kwargs.get("mix", DEFAULTS["mix"])) and reasoning + self_reward >= max_steps:
        raise ConfigError(
            f"{prefix}.reasoning_warmup={reasoning} + {prefix}.self_reward_warmup={self_reward} >= "
            f"trainer.max_steps={max_steps}: the self-reward would never be mixed into the advantages; lower the "
            "warm-ups, raise trainer.max_steps, or use recipe=laser_swa (no mixing) on purpose"
        )
