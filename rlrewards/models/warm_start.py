"""SFT warm start for the embedded tiny model, cached on disk.

A model built from scratch cannot solve anything, so RL would see zero reward. A short supervised pass with TRL's
SFTTrainer on the task's worked solutions brings it to useful accuracy. The result is stored under
``<cache_dir>/sft/<key>``, where the key hashes everything that determines the weights (architecture, tokenizer,
task, answer format, SFT settings, seed, library versions), and later runs reuse it.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from datasets import Dataset

from rlrewards.utils.repro import package_versions, stable_hash

log = logging.getLogger(__name__)

TOKENIZER_SPEC_VERSION = 1  # bump when build_tiny_tokenizer changes the vocabulary or template


def warm_start_key(
    architecture: Mapping[str, Any], task_spec: Mapping[str, Any], sft: Mapping[str, Any], seed: int
) -> str:
    versions = package_versions(("torch", "transformers", "trl"))
    return stable_hash(
        {
            "architecture": dict(architecture),
            "tokenizer": TOKENIZER_SPEC_VERSION,
            "task": dict(task_spec),
            "sft": dict(sft),
            "seed": seed,
            "versions": versions,
        }
    )


def run_sft(model, tokenizer, dataset: Dataset, sft: Mapping[str, Any], seed: int, output_dir: str) -> dict[str, float]:
    from trl import SFTConfig, SFTTrainer

    config = SFTConfig(
        output_dir=output_dir,
        max_steps=int(sft["max_steps"]),
        per_device_train_batch_size=int(sft["batch_size"]),
        learning_rate=float(sft["learning_rate"]),
        lr_scheduler_type=str(sft.get("lr_scheduler_type", "cosine")),
        warmup_steps=int(sft.get("warmup_steps", 0)),
        weight_decay=float(sft.get("weight_decay", 0.0)),
        max_length=int(sft.get("max_length", 256)),
        completion_only_loss=True,
        packing=False,
        logging_steps=max(1, int(sft["max_steps"]) // 10),
        save_strategy="no",
        report_to=[],
        seed=seed,
        data_seed=seed,
        use_cpu=bool(sft.get("use_cpu", True)),
        bf16=False,
        dataloader_num_workers=0,
        disable_tqdm=True,
    )
    columns = [c for c in dataset.column_names if c not in ("prompt", "completion")]
    trainer = SFTTrainer(
        model=model, args=config, train_dataset=dataset.remove_columns(columns), processing_class=tokenizer
    )
    result = trainer.train()
    return {"sft_loss": float(result.training_loss), "sft_steps": int(result.global_step)}


def cached_warm_start(
    build_model, tokenizer, dataset: Dataset, key: str, cache_dir: str | os.PathLike, sft: Mapping[str, Any], seed: int
) -> Path:
    """Return the directory of the warm-started checkpoint, training and caching it when it is missing."""
    final = Path(cache_dir) / "sft" / key
    if (final / "warm_start.json").exists():
        log.info("Reusing the SFT warm start cached at %s", final)
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=final.parent))
    try:
        start = time.perf_counter()
        model = build_model()
        stats = run_sft(model, tokenizer, dataset, sft, seed, output_dir=str(staging / "trainer"))
        shutil.rmtree(staging / "trainer", ignore_errors=True)
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        stats["sft_seconds"] = time.perf_counter() - start
        (staging / "warm_start.json").write_text(json.dumps({"key": key, "seed": seed, **stats}, indent=2))
        # The rename is atomic: a concurrent or interrupted run never sees a half-written checkpoint.
        try:
            os.replace(staging, final)
        except OSError:
            if not (final / "warm_start.json").exists():
                raise
        log.info(
            "SFT warm start done in %.1fs (loss %.3f), cached at %s", stats["sft_seconds"], stats["sft_loss"], final
        )
        return final
    finally:
        shutil.rmtree(staging, ignore_errors=True)
