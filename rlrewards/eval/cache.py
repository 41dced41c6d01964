"""The sample cache of ``rlrewards-eval``: finished completions on disk, so a rerun generates only what is missing.

Keys are content, not names: a checkpoint by its files (``checkpoint_identity``), a prompt by its exact chat-templated
text (``prompt_keys``), a decoding by everything that shapes its samples. ``rlrewards.eval.generation.
cached_completions`` reads and appends it.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rlrewards.eval.generation import DecodingConfig


def checkpoint_identity(checkpoint: str) -> dict[str, Any]:
    """What identifies a checkpoint's weights without reading them: a local file or directory by its resolved path
    and the name, size and mtime of every file in it (retraining into the same directory changes them); anything
    else is a hub id."""
    path = Path(checkpoint)
    if not path.exists():
        return {"hub_id": checkpoint}
    files = [path] if path.is_file() else sorted(p for p in path.iterdir() if p.is_file())
    return {
        "path": str(path.resolve()),
        "files": [[p.name, p.stat().st_size, p.stat().st_mtime_ns] for p in files],
    }


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()


def prompt_keys(texts: Sequence[str]) -> list[str]:
    """One key per prompt text; a text that repeats gets a key per occurrence, so duplicate rows keep their own
    samples (as in a run without the cache)."""
    seen: dict[str, int] = {}
    keys = []
    for text in texts:
        occurrence = seen.get(text, 0)
        seen[text] = occurrence + 1
        keys.append(_digest([text, occurrence]))
    return keys


@dataclass(frozen=True)
class SampleCache:
    """Finished samples on disk, append-only JSONL: one file per (checkpoint identity, decoding name, num_samples,
    temperature, top_p, max_new_tokens, top_k when set, seed, backend), one line ``{"key", "samples"}`` per prompt,
    keyed by the exact chat-templated prompt text (``prompt_keys``). A line that does not parse (a write cut short)
    is skipped. ``batch_size`` is not part of the key: it changes which random numbers a sample used, not what it
    is. ``top_k`` off (None) leaves the key as it was before decodings had a top_k, so earlier caches still match."""

    directory: Path
    checkpoint: dict[str, Any]
    backend: str = "hf"

    def context(self, decoding: DecodingConfig, seed: int) -> dict[str, Any]:
        determining = {k: v for k, v in asdict(decoding).items() if k != "batch_size"}
        if not determining.get("top_k"):  # off: the key of a decoding without top_k, unchanged
            determining.pop("top_k", None)
        return {"checkpoint": self.checkpoint, "decoding": determining, "seed": int(seed), "backend": self.backend}

    def path(self, decoding: DecodingConfig, seed: int) -> Path:
        safe_name = re.sub(r"[^A-Za-z0-9_.-]", "_", decoding.name)
        return Path(self.directory) / f"{safe_name}-{_digest(self.context(decoding, seed))[:20]}.jsonl"

    def read(self, decoding: DecodingConfig, seed: int) -> dict[str, list[str]]:
        path = self.path(decoding, seed)
        if not path.exists():
            return {}
        finished = {}
        for line in path.read_text().splitlines():
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                continue
            samples = entry.get("samples") if isinstance(entry, dict) else None
            if (
                isinstance(samples, list)
                and len(samples) == decoding.num_samples
                and all(isinstance(s, str) for s in samples)
            ):
                finished[str(entry.get("key"))] = samples
        return finished

    def append(self, decoding: DecodingConfig, seed: int, keys: Sequence[str], samples: Sequence[list[str]]) -> None:
        path = self.path(decoding, seed)
        path.parent.mkdir(parents=True, exist_ok=True)
        context_file = path.with_suffix(".context.json")  # for whoever reads the directory, not read back
        if not context_file.exists():
            context_file.write_text(json.dumps(self.context(decoding, seed), indent=2))
        lines = "".join(json.dumps({"key": k, "samples": list(s)}) + "\n" for k, s in zip(keys, samples))
        with path.open("a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)  # two evaluations of one checkpoint may share the file
            handle.seek(0, 2)
            if handle.tell() > 0:
                handle.seek(handle.tell() - 1)
                if handle.read(1) != "\n":  # a line cut short by a kill: end it, so it stays one bad line
                    lines = "\n" + lines
            handle.write(lines)
            handle.flush()


def resumed_seed(seed: int, missing_keys: Sequence[str]) -> int:
    """The seed for generating only part of the prompts: derived from the run seed and those prompts, so they do not
    replay the random stream the cached prompts were sampled with, and a rerun from the same cache repeats it."""
    return int(_digest([int(seed), list(missing_keys)])[:15], 16)
