"""System prompts by name. A task's ``system_prompt`` is either a registered name (``tabc``) or literal text.

Recipes register the prompts their papers use (RLCR: ``gen``, ``tac``, ``tabc``, ``tabc_long``), in our own words with
the official structure.
"""

from __future__ import annotations

from rlrewards.registry import RECIPE_MODULES, Registry

SYSTEM_PROMPTS: Registry[str] = Registry("system prompt", autoload=RECIPE_MODULES)


def resolve_system_prompt(value: str | None) -> str | None:
    """Registered name -> its text; anything else is used as written; None/empty -> no system message."""
    if not value:
        return None
    return SYSTEM_PROMPTS.get(value) if value in SYSTEM_PROMPTS else value
