"""Reproducibility helpers: package versions, stable config hashes, seeding."""

from __future__ import annotations

import hashlib
import json
import platform
import random
from importlib import metadata
from typing import Any

import numpy as np
import torch

TRACKED_PACKAGES = (
    "rlrewards",
    "torch",
    "transformers",
    "trl",
    "accelerate",
    "deepspeed",
    "datasets",
    "tokenizers",
    "hydra-core",
    "omegaconf",
    "wandb",
    "math-verify",
    "vllm",
)


def package_versions(packages: tuple[str, ...] = TRACKED_PACKAGES) -> dict[str, str | None]:
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in packages:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def stable_hash(payload: Any, length: int = 16) -> str:
    """A hash of a JSON-serialisable payload that does not depend on dict order."""
    text = json.dumps(payload, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
