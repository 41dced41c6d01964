"""TEMPO's checks of a composed config (run by ``rlrewards.config.validate_config``); no ML library imported here."""

from __future__ import annotations

from omegaconf import DictConfig

from rlrewards.config import CONFIG_CHECKS, ConfigError

# TRL's scale_rewards values and the scale_by_std each one means; "batch" (the batch std) has no TEMPO counterpart.
_SCALE_BY_STD = {"group": True, True: True, "none": False, False: False}


@CONFIG_CHECKS.register("tempo_scale_rewards")
def check_tempo_scale_rewards(cfg: DictConfig) -> None:
    """The TEMPO estimator replaces TRL's advantages, so ``trainer.scale_rewards`` would be ignored: refuse it unless
    it says what ``recipe.advantage.kwargs.scale_by_std`` (the one knob TEMPO reads) says. Not mapped onto it, so
    one setting never silently overrides the other."""
    advantage = cfg.recipe.get("advantage") or {}
    scale_rewards = cfg.trainer.get("scale_rewards")
    if advantage.get("name") != "tempo" or scale_rewards is None:
        return
    scale_by_std = bool((advantage.get("kwargs") or {}).get("scale_by_std", True))
    if _SCALE_BY_STD.get(scale_rewards) != scale_by_std:
        raise ConfigError(
            f"trainer.scale_rewards={scale_rewards!r} is ignored by the tempo estimator, which scales by the group "
            f"std iff recipe.advantage.kwargs.scale_by_std (= {scale_by_std}); set that instead and drop "
            "trainer.scale_rewards"
        )
