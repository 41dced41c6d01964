"""Sequences an estimator builds, scored by the policy in the trainer's own forward machinery (no second model).

An estimator with ``policy_scoring(batch)`` (``rlrewards.trainer.hooks``) gets, for each generation batch, the
per-token log-probs of one sequence per row under the current policy (RLPR: the reference answer spliced in after
the completion's reasoning). One with ``initial_scoring(prompt_ids, rows, tokenizer)`` and
``set_initial_scores(scores)`` gets, once before its first call, the log-probs of sequences it builds from the
training dataset, under the initial policy (RLPR's no-reasoning probability r_0); an estimator whose loaded state
already holds them asks for nothing.

Both passes are no-grad forwards of ``self.model`` through ``GRPOTrainer._get_per_token_logps_and_entropies`` (the
sampling temperature applied, chunked by ``per_device_train_batch_size``, as TRL scores its old log-probs). They
call TRL's method directly, not through the mixins above it: LaSeR's slot token must not be appended to these
sequences, nor the loss forward's capture see them. Each process scores its own rows (the gathered batch's local
rows; a contiguous, equally sized shard of the dataset chunk, padded with empty rows so every process runs the same
number of forwards) and the results are gathered in process order.

Without such an estimator every method here defers to the trainer below it unchanged.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from accelerate.utils import gather_object
from trl import GRPOTrainer

from rlrewards.trainer.hooks import (
    PolicyScores,
    RolloutBatch,
    ScoringRequest,
    wants_initial_scores,
    wants_policy_scores,
)
from rlrewards.trainer.recipe_trainer import ROW_FIELDS_LEFT_OUT, RecipeTrainerBase
from rlrewards.utils.padding import pad_token_rows

INITIAL_CHUNK_ROWS = 1024  # dataset rows tokenized and scored per round of the initial pass


class PolicyScoringMixin(RecipeTrainerBase):
    """Mixed in below ``RecipeTrainerCore`` (``rlrewards.trainer.RecipeGRPOTrainer``); fills
    ``RolloutBatch.policy_scores`` before the estimator runs."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._initial_scores_done = False

    def _complete_estimator_batch(self, output: dict[str, Any], batch: RolloutBatch, rows: torch.Tensor) -> bool:
        estimator = getattr(self, "advantage_estimator", None)
        if wants_initial_scores(estimator) and not self._initial_scores_done:
            self._score_training_set(estimator)
        if wants_policy_scores(estimator):
            request = estimator.policy_scoring(batch)
            if len(request.input_ids) != batch.completion_ids.shape[0]:
                raise ValueError(
                    f"policy_scoring returned {len(request.input_ids)} sequences for a batch of "
                    f"{batch.completion_ids.shape[0]} rows"
                )
            batch.policy_scores = self._gathered_scores(request, rows.tolist())
        return super()._complete_estimator_batch(output, batch, rows)

    def _score_training_set(self, estimator) -> None:
        """The initial pass: the training dataset in chunks, prompts tokenized as TRL tokenizes them."""
        self._initial_scores_done = True
        dataset = self.train_dataset
        for start in range(0, len(dataset), INITIAL_CHUNK_ROWS):
            chunk = dataset.select(range(start, min(start + INITIAL_CHUNK_ROWS, len(dataset))))
            prompt_ids = [list(ids) for ids in self._tokenize_prompts(list(chunk["prompt"]))[0]]
            fields = [{k: v for k, v in row.items() if k not in ROW_FIELDS_LEFT_OUT} for row in chunk]
            request = estimator.initial_scoring(prompt_ids, fields, self._tokenizer)
            if request is None:
                continue
            total = len(request.input_ids)
            share = math.ceil(total / self.accelerator.num_processes)
            first = self.accelerator.process_index * share
            local = list(range(first, first + share))  # indices past the end are scored as empty rows
            scores = self._gathered_scores(request, local)
            estimator.set_initial_scores(PolicyScores(scores.logps[:total], scores.mask[:total]))

    def _gathered_scores(self, request: ScoringRequest, local: list[int]) -> PolicyScores:
        """Score ``request``'s rows ``local`` on this process, then gather every process's rows in order."""
        values = gather_object(self._score_rows(request, local))
        width = max((len(v) for v in values), default=0)
        logps = torch.zeros(len(values), width, dtype=torch.float32)
        mask = torch.zeros(len(values), width, dtype=torch.bool)
        for i, row in enumerate(values):
            logps[i, : len(row)] = torch.tensor(row, dtype=torch.float32)
            mask[i, : len(row)] = True
        return PolicyScores(logps, mask)

    def _score_rows(self, request: ScoringRequest, rows: list[int]) -> list[list[float]]:
        """Per row, the log-probs of its target tokens under the current policy; [] for a row without targets or
        past the request's end (its sequence is replaced by one pad token, so every process's forwards match)."""
        pad_id = self._tokenizer.pad_token_id
        sequences, targets = [], []
        for i in rows:
            wanted = i < len(request.input_ids) and any(request.targets[i][1:])
            sequences.append(list(request.input_ids[i]) if wanted else [pad_id])
            targets.append(list(request.targets[i]) if wanted else [False])
        if not sequences:
            return []
        input_ids, attention = (t.to(self.accelerator.device) for t in pad_token_rows(sequences, pad_id, min_width=2))
        width = input_ids.size(1)
        with torch.no_grad():
            logps = GRPOTrainer._get_per_token_logps_and_entropies(
                self, self.model, input_ids, attention, width - 1, batch_size=self.args.per_device_train_batch_size
            )[0]
        logps = logps.float().cpu()  # column t - 1 holds log pi(ids[t] | ids[:t])
        return [
            [float(logps[i, t - 1]) for t, on in enumerate(target) if on and t > 0] for i, target in enumerate(targets)
        ]
