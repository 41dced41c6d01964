"""Typed reads of config values: a wrong type or range is a ConfigError naming the key, never a library error later
(``trainer.learning_rate=fast`` would otherwise reach the optimizer)."""

from __future__ import annotations

from typing import Any

from rlrewards.config import ConfigError

_ABSENT = object()


def integer(
    node: Any, key: str, prefix: str, minimum: int, default: Any = _ABSENT, nullable: bool = False, why: str = ""
) -> int | None:
    """``node[key]`` as an int >= minimum; ``default`` when the key is absent (GRPOConfig's default, say); None only
    when ``nullable``. ``why`` ends the range error."""
    value = node.get(key, None if default is _ABSENT else default)
    name = f"{prefix}.{key}"
    if value is None:
        if nullable:
            return None
        raise ConfigError(f"{name} is required: an integer >= {minimum}")
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{name}={value!r} must be an integer >= {minimum}")
    if value < minimum:
        raise ConfigError(f"{name}={value} must be >= {minimum}{why}")
    return value


def number(node: Any, key: str, prefix: str, default: Any = _ABSENT) -> float:
    """``node[key]`` as a float (an int is fine, a string or a bool is not); range checks are the caller's."""
    value = node.get(key, None if default is _ABSENT else default)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{prefix}.{key}={value!r} must be a number")
    return float(value)
