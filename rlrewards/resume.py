"""``resume``: continue an interrupted run from its last complete checkpoint.

``resume=auto`` looks for unfinished runs of the same ``run_name`` under ``paths.log_dir``: single runs
(``runs/*_<run_name>``), sweep jobs (``multiruns/*/*_<run_name>``) and the run's own directory (a fixed
``RLREWARDS_RUN_ID``). A candidate holds a ``config.yaml``, no ``summary.json`` (it never finished) and a complete
checkpoint (one with ``trainer_state.json``, which the trainer writes last). Among them only runs with the same
config (``run_info.json``'s ``config_hash``) qualify; the most recently started of those is resumed, and without one
the run starts afresh (saying which candidates had another config). ``resume=<run dir>`` names one, which must have
the same config. Metrics logged after the checkpoint are dropped from ``metrics.jsonl`` (the resumed run logs them
again; a last line cut short by the kill is dropped too), and the before-RL evaluation is read back instead of
recomputed. Training state (weights, optimizer, scheduler, RNG, data position) comes from the checkpoint through the
trainer's own ``resume_from_checkpoint``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from omegaconf import DictConfig

from rlrewards.config import ConfigError
from rlrewards.rundir import atomic_write_lines, read_jsonl


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
        target = auto_candidate(Path(cfg.paths.log_dir), str(cfg.run_name), current_dir, config_hash)
        if target is None:
            return None
    else:
        target = Path(str(value))
        if not (target / "config.yaml").exists():
            raise ConfigError(f"resume={value}: no rlrewards run there (config.yaml missing)")
        if (target / "summary.json").exists():
            raise ConfigError(f"resume={value}: that run finished (summary.json exists)")
    saved = saved_config_hash(target)
    if saved != config_hash:
        raise ConfigError(
            f"resume: {target} ran with another config (hash {saved}, now {config_hash}); "
            "resume with the same overrides"
        )
    checkpoint = last_checkpoint(target)
    if checkpoint is None:
        raise ConfigError(f"resume: {target} has no complete checkpoint (train with trainer.save_strategy=steps)")
    return ResumePoint(target, *checkpoint)


def auto_candidate(log_dir: Path, run_name: str, current_dir: Path, config_hash: str) -> Path | None:
    """``resume=auto``: the most recently started unfinished run of ``run_name`` with a checkpoint and this config."""
    places = [current_dir, *log_dir.glob(f"runs/*_{run_name}"), *log_dir.glob(f"multiruns/*/*_{run_name}")]
    unfinished = [
        path
        for path in dict.fromkeys(p.resolve() for p in places)
        if (path / "config.yaml").exists() and not (path / "summary.json").exists() and last_checkpoint(path)
    ]
    same = [path for path in unfinished if saved_config_hash(path) == config_hash]
    if same:
        return max(same, key=started_at)
    other = f" ({len(unfinished)} with another config: {', '.join(map(str, unfinished))})" if unfinished else ""
    print(
        f"resume=auto: no unfinished run of {run_name} with this config and a checkpoint under {log_dir}{other}; "
        "starting afresh"
    )
    return None


def saved_config_hash(run_dir: Path) -> str | None:
    try:
        return json.loads((run_dir / "run_info.json").read_text()).get("config_hash")
    except (OSError, ValueError, AttributeError):
        return None


def started_at(run_dir: Path) -> float:
    """When the run started: its run_info.json is written once, at the start."""
    info = run_dir / "run_info.json"
    return info.stat().st_mtime if info.exists() else 0.0


def rewind_metrics(path: Path, step: int, write: bool = True) -> dict[str, float]:
    """Drop records logged after ``step`` (when ``write``: the main process; replaced atomically, so other ranks
    reading at the same time see the old or the new file); return the before-RL evaluation metrics already logged."""
    if not path.exists():
        return {}
    kept, before = [], {}
    for record in read_jsonl(path):  # a line the kill cut short is skipped, and left out of the rewound file
        if (record.get("step") or 0) <= step:
            kept.append(record)
            before.update({k: v for k, v in record.items() if k.startswith("eval/before/")})
    if write:
        atomic_write_lines(path, kept)
    return before
