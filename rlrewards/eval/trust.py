"""What ``rlrewards-eval`` may run from a run directory's ``config.yaml``.

The evaluator instantiates the run's task (``_target_``) and looks up its answer format and checker by name, and a
name with a dot is imported (``rlrewards.registry``). A ``config.yaml`` is a file anyone can hand you, and importing or
calling what it names runs code (``_target_: shutil.copyfile`` copies files). So a run config read back may name only
``rlrewards.*`` objects, unless ``trust_config=true`` says the file is trusted (a run with a plug-in of your own).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

from rlrewards.config import ConfigError

TRUSTED_PREFIX = "rlrewards."
# keys whose value is resolved by name, and imported when the name holds a dot
IMPORTED_KEYS = {"_target_", "answer_format", "checker"}


def imported_names(node: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """(dotted key, value) of every value in ``node`` that the evaluator would import."""
    if isinstance(node, dict):
        for key, value in node.items():
            where = f"{path}.{key}" if path else str(key)
            if key in IMPORTED_KEYS and isinstance(value, str) and (key == "_target_" or "." in value):
                yield where, value
            yield from imported_names(value, where)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from imported_names(value, f"{path}[{index}]")


def check_run_config(train_cfg: DictConfig | ListConfig, source: Path, trust: bool) -> None:
    """Raise a ConfigError naming the first key of ``source`` that would import code from outside rlrewards."""
    if trust:
        return
    for key, value in imported_names(OmegaConf.to_container(train_cfg, resolve=False)):
        if not value.startswith(TRUSTED_PREFIX):
            raise ConfigError(
                f"{source}: {key}={value!r} would run code from outside rlrewards; rlrewards-eval instantiates only "
                "rlrewards.* objects from a run's config.yaml. If you trust this file, pass trust_config=true"
            )
