"""Context length: a run whose prompts plus completions do not fit a model's positions is refused before loading.

A model config records ``max_position_embeddings`` (pretrained: from the model's config.json on the hub; scratch:
``architecture.max_position_embeddings``); null means unknown and is not checked. The prompt budget is
``resources.max_prompt_length``, the official scripts' prompt limit (veRL ``max_prompt_length``, OpenRLHF
``prompt_max_len``). It is declared, not enforced: TRL 1.16 has no prompt-length option and rlrewards does not
truncate prompts; null means unknown, and only the completion is checked. Checked, each against its model:

* the policy in training: prompt + ``trainer.max_completion_length``;
* the policy in the run's own evaluation: prompt + ``evaluation.max_new_tokens``;
* every model a recipe declares with a ``max_position_embeddings`` key (e.g. PURE's PRM, ``recipe.prm``), which
  reads the prompt and the completion: prompt + ``trainer.max_completion_length``.

Import-light (omegaconf only), like rlrewards.plan.
"""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig, OmegaConf

from rlrewards.config import ConfigError


def model_max_positions(model: DictConfig) -> int | None:
    value = model.get("max_position_embeddings")
    if value is None:
        value = (model.get("architecture") or {}).get("max_position_embeddings")
    return int(value) if value is not None else None


def prompt_budget(cfg: DictConfig) -> int | None:
    value = (cfg.get("resources") or {}).get("max_prompt_length")
    return int(value) if value is not None else None


def recipe_models(cfg: DictConfig) -> list[tuple[str, int]]:
    """(config path, positions) of each mapping under ``recipe`` with a non-null ``max_position_embeddings``.
    Interpolated copies (``${recipe.prm}``) are not mappings before resolution, so each model counts once."""
    found: list[tuple[str, int]] = []

    def walk(node: Any, path: str) -> None:
        if not isinstance(node, dict):
            return
        if "max_position_embeddings" in node:
            value = OmegaConf.select(cfg, f"{path}.max_position_embeddings")
            if value is not None:
                found.append((path, int(value)))
        for key, value in node.items():
            walk(value, f"{path}.{key}")

    walk(OmegaConf.to_container(cfg.recipe, resolve=False), "recipe")
    return found


def check_context(cfg: DictConfig) -> None:
    """Raise ConfigError naming the numbers when a prompt and its completion do not fit a model's positions."""
    prompt = prompt_budget(cfg)
    shown_prompt = f"resources.max_prompt_length={prompt}" if prompt is not None else "a prompt of unknown length"
    completion = cfg.trainer.get("max_completion_length")
    limit = model_max_positions(cfg.model)
    readers = [("trainer.max_completion_length", completion, "model.max_position_embeddings", limit)]
    new_tokens = (cfg.get("evaluation") or {}).get("max_new_tokens")
    readers.append(("evaluation.max_new_tokens", new_tokens, "model.max_position_embeddings", limit))
    readers += [("trainer.max_completion_length", completion, f"{path}.max_position_embeddings", positions)
                for path, positions in recipe_models(cfg)]
    for length_key, length, limit_key, positions in readers:
        if positions is None or length is None:
            continue
        total = (prompt or 0) + int(length)
        if total > positions:
            room = positions - (prompt or 0)
            raise ConfigError(
                f"{shown_prompt} + {length_key}={length} = {total} tokens do not fit {limit_key}={positions}"
                f" ({_model_name(cfg, limit_key)}): lower {length_key} to {room} or less"
            )


def _model_name(cfg: DictConfig, limit_key: str) -> str:
    if limit_key.startswith("model."):
        return str(cfg.model.get("name_or_path") or cfg.model.get("name"))
    node = OmegaConf.select(cfg, limit_key.rsplit(".", 1)[0])
    return str((node.get("kwargs") or {}).get("model") or node.get("name"))
