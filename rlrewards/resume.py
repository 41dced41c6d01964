"""``resume``: continue an interrupted run from its last complete checkpoint.

``resume=auto`` picks, under ``paths.log_dir/runs``, the newest directory of the same ``run_name`` that holds a
``config.yaml``, no ``summary.json`` (it never finished) and a complete checkpoint (one with ``trainer_state.json``,
which the trainer writes last); ``resume=<run dir>`` names one. The saved run must have the same config (its
``config_hash``). Metrics logged after the checkpoint are dropped from ``metrics.jsonl`` (the resumed run logs them
again), and the before-RL evaluation is read back instead of recomputed. Training state (weights, optimizer,
scheduler, RNG, data position) comes from the checkpoint through the trainer's own ``resume_from_checkpoint``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from omegaconf import DictConfig

from rlrewards.config import ConfigError


@dataclass(frozen=True)
class ResumePoint:
    run_dir: Path
    checkpoint: Path
    step: int


def last_checkpoint(run_dir: Path) -> tuple[Path, int] | None:
    """The complete checkpoint with the highest step under ``run_dir/checkpoints``, or None."""
    found = []
    for path in (run_dir / "checkpoints").glob("checkpoint-*"):
        suffix = path.name.removeprefix("checkpoint-")
        if suffix.isdigit() and (path / "trainer_state.json").exists():
            found.append((int(suffix), path))
    if not found:
        return None
    step, path = max(found)
    return path, step


def find_resume_point(cfg: DictConfig, current_dir: Path, config_hash: str) -> ResumePoint | None:
    value = cfg.get("resume")
    if value is None:
        return None
    if value == "auto":
        runs = Path(cfg.paths.log_dir) / "runs"
        for candidate in sorted(runs.glob(f"*_{cfg.run_name}"), reverse=True):
            if candidate.resolve() == current_dir.resolve():
                continue
            finished = (candidate / "summary.json").exists()
            if (candidate / "config.yaml").exists() and not finished and last_checkpoint(candidate):
                target = candidate
                break
        else:
            print(f"resume=auto: no unfinished run of {cfg.run_name} with a checkpoint under {runs}; starting afresh")
            return None
    else:
        target = Path(str(value))
        if not (target / "config.yaml").exists():
            raise ConfigError(f"resume={value}: no rlrewards run there (config.yaml missing)")
        if (target / "summary.json").exists():
            raise ConfigError(f"resume={value}: that run finished (summary.json exists)")
    saved = json.loads((target / "run_info.json").read_text()).get("config_hash")
    if saved != config_hash:
        raise ConfigError(
            f"resume: {target} ran with another config (hash {saved}, now {config_hash}); "
            "resume with the same overrides"
        )
    checkpoint = last_checkpoint(target)
    if checkpoint is None:
        raise ConfigError(f"resume: {target} has no complete checkpoint (train with trainer.save_strategy=steps)")
    return ResumePoint(target, *checkpoint)


def rewind_metrics(path: Path, step: int, write: bool = True) -> dict[str, float]:
    """Drop records logged after ``step`` (when ``write``: the main process; replaced atomically, so other ranks
    reading at the same time see the old or the new file); return the before-RL evaluation metrics already logged."""
    if not path.exists():
        return {}
    kept, before = [], {}
    for line in path.read_text().splitlines():
        record = json.loads(line)
        if record.get("step", 0) <= step:
            kept.append(line)
            before.update({k: v for k, v in record.items() if k.startswith("eval/before/")})
    if write:
        partial = path.with_suffix(".jsonl.tmp")
        partial.write_text("".join(f"{line}\n" for line in kept))
        os.replace(partial, path)
    return before
