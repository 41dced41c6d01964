"""Dynamic sampling: the groups an estimator drops are replaced by kept groups from more generation batches.

An estimator with ``refill`` (``rlrewards.trainer.hooks.GroupRefill``) whose ``keep`` drops whole groups gets, within
the same training step and under the same policy, more batches of prompts generated and scored (each through TRL's
generation and the estimator, ``batch.generation_attempt`` 1, 2, ...) until the step holds as many kept groups as its
generation batch has; the first ones in generation order train, and the surplus prompts are cached and regenerated
once a whole batch of them has gathered. This is the loop of RLPR's trainer (OpenBMB/RLPR @ 8490fca,
``verl/trainer/ppo/ray_trainer.py``: generate, score, filter, append to a buffer until ``train_batch_size`` prompts
are kept, slice, ``filter_cache_regenerate`` for the rest); DAPO's dynamic sampling is the same loop.

Where the extra prompts come from: the cache when it holds a whole batch, else a stream over the training set in its
own seeded order (``args.seed + 1``), the same on every process. verl draws them from the epoch's own data loader
(so an epoch ends after fewer steps); TRL owns its loader, so the stream is separate. The stream's position and the
cache are saved with every checkpoint (``refill_state.json``) and read back on resume.

Every process takes part in every extra generation (TRL's generation gathers), and the groups chosen are gathered and
re-split so each process trains on as many rows as before. Without ``refill``, or when nothing is dropped, nothing
here runs.

Logging describes what was generated, not only what trained: TRL's per-generation metrics (rewards, completion
lengths, ``num_tokens``) and the estimator's metrics are logged once per generation batch, so a step that needed
more batches weighs more in a logging window's mean, and TRL's completions table holds every generated row with its
estimator advantage (0 for a dropped group). ``refill/*`` are logged once per step.
"""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from accelerate.utils import gather

from rlrewards.trainer.hooks import AdvantageOutput, GroupRefill, ScoredGeneration, refill_settings
from rlrewards.trainer.recipe_trainer import RecipeTrainerBase

logger = logging.getLogger(__name__)

REFILL_STATE_FILE = "refill_state.json"
LEFT_PADDED = ("prompt_ids", "prompt_mask")  # TRL pads prompts on the left, everything else on the right


class GroupRefillMixin(RecipeTrainerBase):
    """Mixed in below ``RecipeTrainerCore`` (``rlrewards.trainer.RecipeGRPOTrainer``)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._refill_cache: list[dict[str, Any]] = []  # one dataset row per cached prompt
        self._refill_drawn = 0  # prompts drawn from the refill stream so far
        self._refill_orders: dict[int, list[int]] = {}

    # --- the loop ---------------------------------------------------------------------------------------------------

    def _settle_generation(self, first: ScoredGeneration) -> ScoredGeneration:
        settings = refill_settings(getattr(self, "advantage_estimator", None))
        if settings is None or first.result.keep is None or bool(first.result.keep.all()):
            if settings is not None:
                first.result.metrics.update(refill_metrics(1, 1.0, len(self._refill_cache)))
            return super()._settle_generation(first)
        group = first.batch.group_size
        wanted = first.batch.completion_ids.shape[0] // group
        self._check_refillable(first, group)
        self._log_attempt(first)  # TRL's completions log holds this batch's rows last until the next generation
        attempts, drawn = [first], 0
        while sum(len(kept_groups(a, group)) for a in attempts) < wanted:
            if settings.max_generation_batches is not None and len(attempts) >= settings.max_generation_batches:
                break
            if drawn >= len(self.train_dataset):  # one pass over the training set in this step: as verl's epoch end
                break
            prompts, from_stream = self._refill_prompts(settings, wanted)
            drawn += from_stream
            attempts.append(self._generate_more(self._local_rows(prompts, group), len(attempts)))
            self._check_refillable(attempts[-1], group)
            self._log_attempt(attempts[-1])
        kept = [(a, g) for a, attempt in enumerate(attempts) for g in kept_groups(attempt, group)]
        if settings.cache_surplus and len(kept) > wanted:
            # the loop stops at the first batch that fills the step, so every surplus group is from the last batch
            # (an extra one: the step's own batch alone fell short), whose prompts are ``prompts``
            self._refill_cache.extend(dict(prompts[g]) for _, g in kept[wanted:])
        return self._assemble(attempts, kept, wanted, group)

    def _check_refillable(self, attempt: ScoredGeneration, group: int) -> None:
        """Refilling replaces whole groups, from a training set it can index: refuse anything else, clearly."""
        keep = attempt.result.keep
        if keep is not None and bool((keep.view(-1, group) != keep.view(-1, group)[:, :1]).any()):
            raise ValueError(
                "the refill replaces whole groups, but the advantage estimator's keep drops only some rows of a "
                "group; drop whole groups or turn the estimator's refill off"
            )
        if not hasattr(self.train_dataset, "__len__") or not hasattr(self.train_dataset, "__getitem__"):
            raise ValueError("the refill draws extra prompts by index: it needs a map-style training dataset")

    def _refill_prompts(self, settings: GroupRefill, count: int) -> tuple[list[dict[str, Any]], int]:
        """``count`` dataset rows, one per prompt: from the cache when it holds that many, else from the stream."""
        if settings.cache_surplus and len(self._refill_cache) >= count:
            prompts, self._refill_cache = self._refill_cache[:count], self._refill_cache[count:]
            return prompts, 0
        indices = [self._stream_index(self._refill_drawn + i) for i in range(count)]
        self._refill_drawn += count
        return [dict(self.train_dataset[i]) for i in indices], count

    def _stream_index(self, position: int) -> int:
        """The dataset index at ``position`` of the refill stream: one seeded permutation per pass."""
        size = len(self.train_dataset)
        rounds = position // size
        if rounds not in self._refill_orders:
            generator = torch.Generator().manual_seed(int(self.args.seed) + 1 + rounds)
            self._refill_orders = {rounds: torch.randperm(size, generator=generator).tolist()}
        return self._refill_orders[rounds][position % size]

    def _local_rows(self, prompts: list[dict[str, Any]], group: int) -> list[dict[str, Any]]:
        """This process's share of the batch ``prompts`` x ``group``, laid out as TRL's sampler lays it out."""
        rows = [prompt for prompt in prompts for _ in range(group)]
        share = len(rows) // self.accelerator.num_processes
        start = self.accelerator.process_index * share
        return rows[start : start + share]

    def _log_attempt(self, attempt: ScoredGeneration) -> None:
        self._log_installed_advantages(attempt.result.advantages, attempt.batch)
        for name, value in attempt.result.metrics.items():
            self._metrics["train"][name].append(float(value))

    # --- the batch that trains ----------------------------------------------------------------------------------

    def _assemble(
        self, attempts: list[ScoredGeneration], kept: list[tuple[int, int]], wanted: int, group: int
    ) -> ScoredGeneration:
        """The first ``wanted`` kept groups (attempt, group) in generation order, dropped ones filling a step that
        stopped short, gathered over the attempts and re-split into this process's rows."""
        chosen = kept[:wanted]
        if len(chosen) < wanted:
            dropped = [(a, g) for a, attempt in enumerate(attempts) for g in dropped_groups(attempt, group)]
            chosen += dropped[: wanted - len(chosen)]
        offsets = [0]
        for attempt in attempts:
            offsets.append(offsets[-1] + attempt.batch.completion_ids.shape[0])
        order = torch.tensor([offsets[a] + g * group + i for a, g in chosen for i in range(group)])
        gathered = concat_rows([self._gathered_rows(attempt.output) for attempt in attempts], self._pad_values())
        local = attempts[0].output["completion_ids"].shape[0]
        rows = torch.arange(local) + self.accelerator.process_index * local
        device = attempts[0].output["completion_ids"].device
        output = {key: value[order[rows]].to(device) for key, value in gathered.items()}
        output["num_items_in_batch"] = self._count_loss_tokens(output)
        results = [attempt.result for attempt in attempts]
        if any(set(r.extra) != set(results[0].extra) for r in results):
            raise ValueError("the refill needs the same AdvantageOutput.extra keys from every generation batch")
        extra = concat_rows([r.extra for r in results], {}) if results[0].extra else {}
        keeps = [r.keep if r.keep is not None else torch.ones(r.advantages.shape[0], dtype=torch.bool) for r in results]
        result = AdvantageOutput(
            advantages=concat_rows([{"a": r.advantages} for r in results], {})["a"][order],
            extra={key: value[order] for key, value in extra.items()},
            keep=torch.cat(keeps)[order],
            metrics=refill_metrics(len(attempts), min(len(kept), wanted) / wanted, len(self._refill_cache)),
        )
        # what installing reads of the batch: its shape (the rows' other fields, logged per batch already, are not read)
        batch = replace(
            attempts[0].batch,
            completion_ids=gathered["completion_ids"][order],
            completion_mask=gathered["completion_mask"][order],
        )
        return ScoredGeneration(output, batch, rows.to(device), result, logged=True)

    def _gathered_rows(self, output: dict[str, Any]) -> dict[str, torch.Tensor]:
        """Every per-row tensor of TRL's output, padded across processes and gathered (the advantages, which the
        estimator replaces, and ``num_items_in_batch``, recounted, left out)."""
        local = output["completion_ids"].shape[0]
        rows = {}
        for key, value in output.items():
            if key in ("advantages", "num_items_in_batch"):
                continue
            if not (isinstance(value, torch.Tensor) and value.dim() >= 1 and value.shape[0] == local):
                raise ValueError(f"the refill cannot re-split the generation output's {key!r} (not a row tensor)")
            if value.dim() > 1:
                pad = self._pad_values().get(key, 0)
                value = self.accelerator.pad_across_processes(value, dim=1, pad_index=pad, pad_first=key in LEFT_PADDED)
            rows[key] = gather(value)
        return rows

    def _pad_values(self) -> dict[str, Any]:
        pad_id = self._tokenizer.pad_token_id
        return {"prompt_ids": pad_id, "completion_ids": pad_id}

    # --- state saved with the model -----------------------------------------------------------------------------

    def _save_extra_state(self, directory: Path) -> None:
        super()._save_extra_state(directory)
        if refill_settings(getattr(self, "advantage_estimator", None)) is None:
            return
        state = {"drawn": self._refill_drawn, "cache": self._refill_cache}
        try:
            text = json.dumps(state)
        except TypeError:  # rows that JSON cannot hold: a resumed run restarts the cache empty
            logger.warning("refill: the cached prompts are not JSON-serialisable; saving the stream position only")
            text = json.dumps({"drawn": self._refill_drawn, "cache": []})
        directory.mkdir(parents=True, exist_ok=True)
        (directory / REFILL_STATE_FILE).write_text(text)

    def _load_extra_state(self, directory: Path) -> None:
        super()._load_extra_state(directory)
        path = directory / REFILL_STATE_FILE
        if path.exists():
            state = json.loads(path.read_text())
            self._refill_drawn, self._refill_cache = int(state.get("drawn", 0)), list(state.get("cache") or [])


def refill_metrics(generation_batches: int, kept_frac: float, cached: int) -> dict[str, float]:
    return {
        "refill/generation_batches": float(generation_batches),
        "refill/kept_groups_frac": float(kept_frac),
        "refill/cached_prompts": float(cached),
    }


def kept_groups(attempt: ScoredGeneration, group: int) -> list[int]:
    """The groups of the attempt's gathered batch whose rows are all kept, in order."""
    keep = attempt.result.keep
    if keep is None:
        return list(range(attempt.batch.completion_ids.shape[0] // group))
    return torch.nonzero(keep.view(-1, group).all(dim=1)).flatten().tolist()


def dropped_groups(attempt: ScoredGeneration, group: int) -> list[int]:
    kept = set(kept_groups(attempt, group))
    return [g for g in range(attempt.batch.completion_ids.shape[0] // group) if g not in kept]


def concat_rows(parts: list[dict[str, torch.Tensor]], pad_values: dict[str, Any]) -> dict[str, torch.Tensor]:
    """Concatenate the row tensors of several batches, padding their second dimension to the widest (prompts on
    the left, everything else on the right)."""
    result = {}
    for key in parts[0]:
        tensors = [part[key] for part in parts]
        if tensors[0].dim() > 1:
            width = max(t.shape[1] for t in tensors)
            pad = pad_values.get(key, 0)
            tensors = [pad_columns(t, width, pad, left=key in LEFT_PADDED) for t in tensors]
        result[key] = torch.cat(tensors)
    return result


def pad_columns(tensor: torch.Tensor, width: int, value: Any, left: bool) -> torch.Tensor:
    missing = width - tensor.shape[1]
    if missing == 0:
        return tensor
    filler = torch.full((tensor.shape[0], missing, *tensor.shape[2:]), value, dtype=tensor.dtype, device=tensor.device)
    return torch.cat([filler, tensor] if left else [tensor, filler], dim=1)
