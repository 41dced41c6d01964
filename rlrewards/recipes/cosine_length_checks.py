"""The cosine length reward's check of a composed config (run by ``rlrewards.config.validate_config`` before any
model loads; no ML library imported here). Without it a bad value would only show at the first reward call, where
``SafeReward`` scores every row 0 with a warning."""

from __future__ import annotations

from omegaconf import DictConfig

from rlrewards.config import CONFIG_CHECKS, ConfigError
from rlrewards.recipes.cosine_length import MAX_LEN_MARGIN  # imports no ML library either


@CONFIG_CHECKS.register("cosine_length_values")
def check_cosine_length(cfg: DictConfig) -> None:
    """Every ``cosine_length`` reward: non-positive wrong values and repetition penalty (the official reward's own
    checks), and a ``max_len`` above the 16-token margin, or every completion would score ``exceed_length``."""
    for name, entry in (cfg.recipe.get("rewards") or {}).items():
        if entry is None or entry.get("fn") != "cosine_length":
            continue
        kwargs, key = entry.get("kwargs") or {}, f"recipe.rewards.{name}.kwargs"
        for value_key in ("min_value_wrong", "max_value_wrong", "repetition_max_penalty"):
            value = float(kwargs.get(value_key, 0.0))
            if value > 0:
                raise ConfigError(f"{key}.{value_key}={value} must be <= 0")
        max_len = int(kwargs.get("max_len", 1024))
        if max_len <= MAX_LEN_MARGIN:
            raise ConfigError(
                f"{key}.max_len={max_len} must exceed {MAX_LEN_MARGIN}: a completion of L tokens scores exceed_length "
                f"when L + {MAX_LEN_MARGIN} >= max_len, so every completion would"
            )
