"""Experiment tracking: W&B (online with credentials, offline otherwise) and local JSONL metrics.

An online start that fails (no network: W&B would wait 90 s and then kill the run) gives up after
``WANDB_INIT_TIMEOUT_S`` and logs offline, with a warning; ``wandb sync`` uploads it later.

The local files are written whatever the logger: ``metrics.jsonl`` (one line per logging step and evaluation) and
``summary.json``. W&B is created once, on the main process, with the resolved config, and finished in a
``finally`` so that each multirun job gets its own run.
"""

from __future__ import annotations

import json
import logging
import math
import netrc
import os
import sys
from pathlib import Path
from typing import Any

import torch
from transformers import TrainerCallback

log = logging.getLogger(__name__)


# wandb waits 90 s for its service by default, and then kills the run; credentials without a network should cost
# less than that before the run falls back to offline logging (logger.init_timeout_s overrides it).
WANDB_INIT_TIMEOUT_S = 20.0


def _wandb_init(init: dict[str, Any], mode: str, timeout: float):
    import wandb

    return wandb.init(**init, mode=mode, settings=wandb.Settings(init_timeout=timeout))


def is_main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def wandb_credentials_present() -> bool:
    if os.environ.get("WANDB_API_KEY"):
        return True
    try:
        path = os.environ.get("NETRC", os.path.expanduser("~/.netrc"))
        return bool(os.path.exists(path) and netrc.netrc(path).authenticators("api.wandb.ai"))
    except (netrc.NetrcParseError, OSError):
        return False


def resolve_wandb_mode(requested: str | None) -> str:
    """``auto`` -> online with credentials, offline without; WANDB_MODE in the environment wins."""
    if os.environ.get("WANDB_MODE"):
        return os.environ["WANDB_MODE"]
    if requested in ("online", "offline", "disabled"):
        return requested
    return "online" if wandb_credentials_present() else "offline"


class Tracker:
    """Writes metrics locally and, when enabled, to W&B."""

    def __init__(self, run_dir: Path, logger_cfg: dict[str, Any], run_config: dict[str, Any], run_name: str):
        self.run_dir = Path(run_dir)
        self.metrics_path = self.run_dir / "metrics.jsonl"
        self.wandb_run = None
        self.mode = None
        self.report_to: list[str] = []
        if logger_cfg.get("name") == "wandb" and is_main_process():
            self._start_wandb(logger_cfg, run_config, run_name)

    def _start_wandb(self, logger_cfg: dict[str, Any], run_config: dict[str, Any], run_name: str) -> None:
        self.mode = resolve_wandb_mode(logger_cfg.get("mode"))
        if self.mode == "disabled":
            return
        init = {
            "project": logger_cfg.get("project"),
            "entity": logger_cfg.get("entity"),
            "group": logger_cfg.get("group"),
            "job_type": logger_cfg.get("job_type"),
            "tags": list(logger_cfg.get("tags") or []),
            "name": run_name,
            "dir": str(self.run_dir),
            "config": run_config,
            "reinit": "finish_previous",
        }
        timeout = float(logger_cfg.get("init_timeout_s") or WANDB_INIT_TIMEOUT_S)
        try:
            self.wandb_run = _wandb_init(init, self.mode, timeout)
        except Exception as err:  # noqa: BLE001 - wandb raises CommError, UsageError, timeouts...
            if self.mode != "online":
                raise
            message = f"W&B could not start online ({type(err).__name__}: {err}); logging offline instead"
            log.warning(message)
            print(f"WARNING: {message}", file=sys.stderr)
            self.mode = "offline"
            self.wandb_run = _wandb_init(init, self.mode, timeout)
        self.report_to = ["wandb"]

    def log(self, metrics: dict[str, Any], step: int | None = None) -> None:
        if not is_main_process():
            return
        clean = {k: _jsonable(v) for k, v in metrics.items()}
        with self.metrics_path.open("a") as handle:
            handle.write(json.dumps({"step": step, **clean}) + "\n")
        if self.wandb_run is not None:
            # HF's W&B callback owns wandb's internal step and plots against train/global_step; so do we.
            numeric = {k: v for k, v in clean.items() if isinstance(v, int | float)}
            self.wandb_run.log({**numeric, "train/global_step": step})

    def finish(self, exit_code: int = 0) -> None:
        if self.wandb_run is None:
            return
        run_dir = getattr(self.wandb_run, "dir", None)
        self.wandb_run.finish(exit_code=exit_code)
        self.wandb_run = None
        if self.mode == "offline" and run_dir:
            log.info("W&B ran offline. Upload with: wandb sync %s", Path(run_dir).parent)
            print(f"W&B ran offline. Upload with: wandb sync {Path(run_dir).parent}")


class JsonlMetricsCallback(TrainerCallback):
    """Appends every trainer log (loss, reward, recipe metrics) to the run's ``metrics.jsonl``."""

    def __init__(self, tracker: Tracker):
        self.tracker = tracker

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs and state.is_world_process_zero:
            record = {k: v for k, v in logs.items() if isinstance(v, int | float)}
            if torch.cuda.is_available():  # peak since the start, for scripts/gpu_check.sh
                record["gpu/peak_memory_gb"] = torch.cuda.max_memory_allocated() / 2**30
            with self.tracker.metrics_path.open("a") as handle:
                handle.write(
                    json.dumps({"step": state.global_step, **{f"train/{k}": _jsonable(v) for k, v in record.items()}})
                    + "\n"
                )


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "item"):
        return value.item()
    return value
