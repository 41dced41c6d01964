"""The signed estimator's check of a composed config (run by ``rlrewards.config.validate_config``, before any model
loads); no ML library imported here."""

from __future__ import annotations

from omegaconf import DictConfig

from rlrewards.config import CONFIG_CHECKS, ConfigError


@CONFIG_CHECKS.register("signed_weights")
def check_signed_weights(cfg: DictConfig) -> None:
    """Weights are magnitudes (>= 0), and at least one side must train or the run would update nothing."""
    advantage = cfg.recipe.get("advantage") or {}
    if advantage.get("name") != "signed":
        return
    kwargs = advantage.get("kwargs") or {}
    positive, negative = float(kwargs.get("positive_weight", 1.0)), float(kwargs.get("negative_weight", 1.0))
    prefix = "recipe.advantage.kwargs"
    if positive < 0 or negative < 0:
        raise ConfigError(f"{prefix}.positive_weight={positive} and negative_weight={negative} must be >= 0")
    if positive == 0 and negative == 0:
        raise ConfigError(f"{prefix}.positive_weight and negative_weight are both 0: every advantage would be 0")
