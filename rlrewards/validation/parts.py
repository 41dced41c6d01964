"""Cheap checks of the parts a config names: the model, LaSeR's slot token, the task class, and whether the recipe
can score the task. Nothing here loads a model, a tokenizer or a dataset."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from typing import Any

from omegaconf import DictConfig, OmegaConf

from rlrewards.config import ConfigError

LOCAL_PATH_PREFIXES = ("/", "./", "../", "~")


def validate_model(model: DictConfig) -> None:
    """``source: pretrained`` loads ``name_or_path``, a hub id (``owner/name``) or a local directory. A value that can
    only be a path (absolute, relative with ``./``, ``~``, or more than one ``/``) must exist; hub ids are the hub's
    business (offline use, private repos)."""
    source = model.get("source")
    if source == "scratch":
        return
    if source != "pretrained":
        raise ConfigError(f"model.source={source!r} must be scratch or pretrained")
    name = model.get("name_or_path")
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"model.name_or_path={name!r}: model.source=pretrained needs a hub id or a local directory")
    path = os.path.expanduser(name)
    looks_local = name.startswith(LOCAL_PATH_PREFIXES) or name.count("/") > 1 or os.path.exists(path)
    if looks_local and not os.path.isdir(path):
        found = "is not a directory" if os.path.exists(path) else "does not exist"
        raise ConfigError(f"model.name_or_path={name}: the local path {found} (hub ids look like owner/name)")


def validate_slot_token_form(recipe: DictConfig) -> None:
    """LaSeR's ``recipe.slot_token``: a token string or a vocabulary id. Whether it is one token of the model's
    vocabulary needs the tokenizer: ``validate_trainer_args`` checks it for the embedded model, the pipeline right
    after loading a pretrained one (``resolve_slot_token``)."""
    token = recipe.get("slot_token")
    if token is None:
        return
    if isinstance(token, bool) or not isinstance(token, (int, str)):
        raise ConfigError(f"recipe.slot_token={token!r} must be a token string or a non-negative token id")
    if isinstance(token, int) and token < 0:
        raise ConfigError(f"recipe.slot_token={token} must be a non-negative token id")
    if isinstance(token, str) and not token.strip():
        raise ConfigError(f"recipe.slot_token={token!r} must be a token string, not empty or blank")


def resolve_slot_token(token, tokenizer) -> int | None:
    """``recipe.slot_token`` (a token string or an id) -> a vocabulary id, failing early on unknown tokens."""
    if token is None:
        return None
    if isinstance(token, int):
        token_id = token
    else:
        token_id = tokenizer.convert_tokens_to_ids(str(token))
        if token_id is None or token_id == tokenizer.unk_token_id:
            raise ConfigError(f"recipe.slot_token={token!r} is not a single token of this tokenizer")
    if not 0 <= int(token_id) < len(tokenizer):
        raise ConfigError(f"recipe.slot_token={token!r}: id {token_id} is outside the vocabulary ({len(tokenizer)})")
    return int(token_id)


def validate_recipe_tasks(recipe: DictConfig, task_name: str) -> None:
    """A part of the recipe (a reward ``{fn, ...}`` or a component ``{name, ...}``, at any depth) may declare
    ``tasks: [...]``, the task names it can score; the run's task must be one of them. PURE's rule PRMs declare
    ``[arith, arith_levels]``: on any other task they would score every step -1 and train on noise."""
    for key, spec in _declaring_parts(OmegaConf.to_container(recipe, resolve=True), "recipe"):
        tasks = spec["tasks"]
        if tasks is None:
            continue
        if not isinstance(tasks, list) or not all(isinstance(t, str) for t in tasks):
            raise ConfigError(f"{key}.tasks={tasks!r} must be null or a list of task names")
        if task_name not in tasks:
            part = spec.get("name") or spec.get("fn")
            raise ConfigError(
                f"{key}.tasks={tasks}: {part} cannot score task {task_name}; pick a task it scores "
                f"or replace {key}"
            )


def _declaring_parts(node: Any, key: str) -> Iterator[tuple[str, dict]]:
    if isinstance(node, dict):
        if "tasks" in node and ("name" in node or "fn" in node):
            yield key, node
        for child, value in node.items():
            yield from _declaring_parts(value, f"{key}.{child}")


def validate_task_target(task: DictConfig) -> None:
    """The task class's module must exist; importing it (and ``datasets``) is left to ``validate_trainer_args``."""
    target = task.get("_target_")
    if not target:
        raise ConfigError("task._target_ is missing: a task config must name the class that builds it")
    module = str(target).rpartition(".")[0]
    try:
        found = bool(module) and importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise ConfigError(f"task._target_: Cannot import task class '{target}': module '{module}' not found")
