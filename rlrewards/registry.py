"""Name -> object registries, in the style of verl's ``register_adv_est``.

Every swappable part (reward functions, advantage estimators, auxiliary losses, answer formats) is looked up by
name from config. A config value may also be a dotted import path (``my_pkg.rewards.length_penalty``), so users can
plug in their own parts without touching this package.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")

# Where the recipes register their rewards, estimators, losses and formats: every module of this package
# (rlrewards/recipes/<name>.py) is discovered and imported on first lookup; there is no list to keep.
RECIPE_MODULES = ("rlrewards.recipes",)


def import_submodules(package: str, suffix: str = "") -> list[str]:
    """Import ``package`` and every module directly inside it whose name ends with ``suffix``; returns their names."""
    root = importlib.import_module(package)
    names = [
        f"{package}.{info.name}"
        for info in pkgutil.iter_modules(getattr(root, "__path__", []))
        if info.name.endswith(suffix) and not info.name.startswith("_")
    ]
    for name in names:
        importlib.import_module(name)
    return names


class Registry(Generic[T]):
    """A named collection of objects of one kind, with errors that list the known names."""

    def __init__(self, kind: str, autoload: tuple[str, ...] = (), suffix: str = ""):
        """``autoload``: packages whose modules (those whose name ends with ``suffix``) are imported on first lookup,
        where recipes register their parts (importing them eagerly would be circular: recipe modules import the
        registries)."""
        self.kind = kind
        self._entries: dict[str, T] = {}
        self._autoload = autoload
        self._suffix = suffix
        self._loaded = not autoload

    def _load_plugins(self) -> None:
        if not self._loaded:
            self._loaded = True
            for package in self._autoload:
                import_submodules(package, self._suffix)

    def register(self, name: str) -> Callable[[T], T]:
        def decorator(obj: T) -> T:
            if name in self._entries and self._entries[name] is not obj:
                raise ValueError(f"{self.kind} '{name}' is already registered to {self._entries[name]!r}")
            self._entries[name] = obj
            return obj

        return decorator

    def get(self, name: str) -> T:
        """Look ``name`` up; a name with a dot that is not registered is imported as ``module.attribute``."""
        self._load_plugins()
        if name in self._entries:
            return self._entries[name]
        if "." in name:
            return import_object(name, self.kind)
        raise KeyError(f"Unknown {self.kind} '{name}'. Known: {', '.join(sorted(self._entries)) or '(none)'}")

    def names(self) -> list[str]:
        self._load_plugins()
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        self._load_plugins()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())


def import_object(dotted_path: str, kind: str = "object"):
    module_name, _, attribute = dotted_path.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise KeyError(f"Cannot import {kind} '{dotted_path}': module '{module_name}' not found ({err})") from err
    try:
        return getattr(module, attribute)
    except AttributeError as err:
        raise KeyError(f"Cannot import {kind} '{dotted_path}': '{module_name}' has no '{attribute}'") from err
