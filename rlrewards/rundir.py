"""Run directories: one run per directory, and files a crash cannot leave half-written.

``refuse_reused_run_dir`` keeps a second run out of a directory that already holds a run (the same
``RLREWARDS_RUN_ID`` exported twice, an explicit ``hydra.run.dir``); only a resume of that very run may write there.
``atomic_write_text`` and ``atomic_replace_dir`` write aside and rename, so a reader (or a resume after a kill) sees
the old file or the new one, never a torn one. ``read_jsonl`` reads append-only logs whose last line a kill may have
cut short.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rlrewards.config import ConfigError

log = logging.getLogger(__name__)

# What Hydra writes into a job's directory before our code runs (train.log / evaluate.log: the job's log file).
HYDRA_FILES = {".hydra", "train.log", "evaluate.log"}


def run_files(run_dir: Path) -> list[str]:
    """The names in ``run_dir`` that are not Hydra's own (empty when the directory is missing)."""
    if not run_dir.is_dir():
        return []
    return sorted(p.name for p in run_dir.iterdir() if p.name not in HYDRA_FILES)


def discard_unstarted_run(run_dir: Path | None) -> None:
    """Remove a run directory that holds nothing but what Hydra created: a refused, failed-before-training or dry
    run leaves no run behind (and a directory holding another run's files is never touched)."""
    if run_dir is not None and run_dir.is_dir() and not run_files(run_dir):
        shutil.rmtree(run_dir, ignore_errors=True)


def refuse_reused_run_dir(run_dir: Path, how_to_proceed: str) -> None:
    """Raise a ConfigError when ``run_dir`` already holds files of an earlier run; nothing is touched."""
    found = run_files(run_dir)
    if found:
        shown = ", ".join(found[:6]) + (", ..." if len(found) > 6 else "")
        raise ConfigError(f"{run_dir} already holds another run ({shown}); refusing to write into it. {how_to_proceed}")


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path``, then rename it over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, partial = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(partial, path)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, value: Any) -> None:
    atomic_write_text(path, json.dumps(value, indent=2, default=str))


def atomic_write_lines(path: Path, records: list[dict]) -> None:
    atomic_write_text(path, "".join(json.dumps(record) + "\n" for record in records))


def atomic_replace_dir(target: Path, write: Callable[[Path], None]) -> None:
    """``write(tmp_dir)`` into a fresh, empty directory beside ``target``, then put it in ``target``'s place. An old
    ``target`` stays whole until the new one is complete (then it is moved aside and removed)."""
    target = Path(target)
    partial = target.with_name(f".{target.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        write(partial)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    old = target.with_name(f".{target.name}.old")
    if target.exists():
        shutil.rmtree(old, ignore_errors=True)
        os.replace(target, old)
    os.replace(partial, target)
    shutil.rmtree(old, ignore_errors=True)


def read_jsonl(path: Path) -> list[dict]:
    """The records of a JSONL log; lines that do not parse as a JSON object (a write a kill cut short) are skipped
    with a warning."""
    records = []
    for number, line in enumerate(Path(path).read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            record = None
        if isinstance(record, dict):
            records.append(record)
        else:
            log.warning("%s: line %d is not a JSON record (cut short by a kill?); skipped", path, number)
    return records


def require_writable_dir(path: Path, key: str) -> None:
    """Create ``path`` if needed and make sure files can be created in it (root ignores permission bits, so this
    tries rather than reading them); a ConfigError naming ``key`` otherwise."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as err:
        raise ConfigError(f"{key}={path} is not a writable directory ({err.strerror or err})") from err
