"""System prompts by name. A task's ``system_prompt`` is a registered name (``tabc``), ``file:<path>`` or literal text.

Recipes register the prompts their papers use (RLCR: ``gen``, ``tac``, ``tabc``, ``tabc_long``), in our own words with
the official structure. To run with another wording (e.g. an official one, which drives a base model's format
adherence), put it in a text file and set ``recipe.system_prompt=file:<path>``.
"""

from __future__ import annotations

from pathlib import Path

from rlrewards.registry import RECIPE_MODULES, Registry

SYSTEM_PROMPTS: Registry[str] = Registry("system prompt", autoload=RECIPE_MODULES)
FILE_PREFIX = "file:"


def read_text_value(value: str, key: str) -> str:
    """``file:<path>`` -> the file's text; anything else is used as written. The path is relative to the directory
    the command runs in (Hydra does not change it). One final line break is dropped, since editors add one that
    nobody means as part of a prompt; any other whitespace is kept (a probe's trailing space matters)."""
    if not value.startswith(FILE_PREFIX):
        return value
    from rlrewards.config import ConfigError  # here: rlrewards.config imports the reward registries, which import us

    path = Path(value[len(FILE_PREFIX) :]).expanduser()
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"{key}={value!r}: cannot read the file ({getattr(err, 'strerror', None) or err})") from None
    return text[:-2] if text.endswith("\r\n") else text.removesuffix("\n")


def resolve_system_prompt(value: str | None) -> str | None:
    """Registered name -> its text; ``file:<path>`` -> the file's text; anything else is used as written;
    None/empty -> no system message."""
    if not value:
        return None
    if value in SYSTEM_PROMPTS:
        return SYSTEM_PROMPTS.get(value)
    return read_text_value(value, "system_prompt")
