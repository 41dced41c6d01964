"""The rlpr estimator's checks of a composed config (run by ``rlrewards.config.validate_config``, before any model
loads); no ML library imported here."""

from __future__ import annotations

from omegaconf import DictConfig

from rlrewards.config import CONFIG_CHECKS, ConfigError


@CONFIG_CHECKS.register("rlpr_refill")
def check_rlpr_refill(cfg: DictConfig) -> None:
    """``refill`` and ``cache_surplus`` are booleans (the estimator would read the string "false" as on);
    ``max_generation_batches`` is null or a whole number >= 1 (the step's own batch counts as the first)."""
    advantage = cfg.recipe.get("advantage") or {}
    if advantage.get("name") != "rlpr":
        return
    kwargs = advantage.get("kwargs") or {}
    for key in ("refill", "cache_surplus"):
        if not isinstance(kwargs.get(key, True), bool):
            raise ConfigError(f"recipe.advantage.kwargs.{key}={kwargs.get(key)!r}: true or false")
    limit = kwargs.get("max_generation_batches")
    if limit is None:
        return
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ConfigError(
            f"recipe.advantage.kwargs.max_generation_batches={limit!r}: null (refill until the batch is full) or "
            "a whole number >= 1 (the step's own generation batch counts as the first)"
        )
