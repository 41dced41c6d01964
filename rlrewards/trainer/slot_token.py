"""LaSeR's slot token in the trainer: one extra token scored right after each completion, in the policy's forwards.

``slot_token_id`` (from ``recipe.slot_token``, ``recipe_trainer_options``): every policy forward also scores one
extra token placed right after each completion: the token is appended to the input, its log-prob
``log pi(slot | prompt, completion)`` is read from the same forward (causality leaves every earlier logit unchanged)
and stripped before TRL sees the log-probs, so the policy loss never includes the slot. The loss forward hands it to
the auxiliary loss as ``inputs["slot_logps"]``; estimators that ask for it (``needs_slot_logps(step)``,
``rlrewards.trainer.hooks``) get it on the gathered batch, from the first forward that scores the generation batch
under the generating policy: TRL's old-log-prob pass when TRL runs one; otherwise, when the whole local generation
batch is one loss micro-batch (``steps_per_generation == 1``), the loss forward itself (the estimator then runs
inside that forward, before TRL reads the advantages); otherwise one extra no-grad forward.

Without a slot token every method here defers to the trainer below it unchanged.
"""

from __future__ import annotations

from typing import Any

import torch
from accelerate.utils import gather

from rlrewards.trainer.hooks import RolloutBatch, needs_slot_logps
from rlrewards.trainer.recipe_trainer import RecipeTrainerBase
from rlrewards.validation.parts import resolve_slot_token

ROW_INDEX = "recipe_row_index"  # per-row position in the gathered generation batch, carried through TRL's shuffle


def recipe_trainer_options(recipe, tokenizer) -> dict[str, Any]:
    """The trainer keyword arguments a recipe's config asks for, resolved against the policy's tokenizer (an
    unknown token fails here, before any run file is written): ``slot_token_id`` from ``recipe.slot_token``."""
    slot_token_id = resolve_slot_token(recipe.get("slot_token"), tokenizer)
    return {} if slot_token_id is None else {"slot_token_id": slot_token_id}


class SlotTokenMixin(RecipeTrainerBase):
    """Mixed in below ``RecipeTrainerCore`` (``rlrewards.trainer.RecipeGRPOTrainer``), whose estimator, advantage
    installation and auxiliary loss it feeds."""

    def __init__(self, *args, slot_token_id: int | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.slot_token_id = slot_token_id
        self._slot_logps: torch.Tensor | None = None
        # the estimator's batch while it waits for the loss forward to score the slot (see _can_defer_estimator)
        self._deferred_batch: RolloutBatch | None = None
        self._loss_inputs: dict[str, Any] | None = None

    def _generate_and_score_completions(self, inputs):
        self._slot_logps = None  # only a slot scored during this generation step may be reused for its estimator
        return super()._generate_and_score_completions(inputs)

    def _complete_estimator_batch(self, output: dict[str, Any], batch: RolloutBatch, rows: torch.Tensor) -> bool:
        if self.slot_token_id is not None and needs_slot_logps(self.advantage_estimator, self.state.global_step):
            if self._slot_logps is None and self._can_defer_estimator():
                self._deferred_batch = batch
                output[ROW_INDEX] = rows  # TRL shuffles the batch before the loss; this tracks each row
                return False
            batch.slot_logps = gather(self._generation_slot_logps(output))
        return super()._complete_estimator_batch(output, batch, rows)

    def _can_defer_estimator(self) -> bool:
        """True when the next loss forward sees exactly this process's generation batch under the generating
        policy: one micro-batch per generation batch, and each generation batch is used once."""
        return self.args.steps_per_generation == 1 and self.num_iterations == 1

    def _run_deferred_estimator(self, slot_logps: torch.Tensor) -> None:
        """Inside the loss forward: put the (shuffled) local slot log-probs back in gathered-batch order, run the
        estimator and install its advantages and per-row extras in the loss inputs before TRL reads them."""
        batch, inputs = self._deferred_batch, self._loss_inputs
        self._deferred_batch = None
        rows = inputs[ROW_INDEX]
        gathered = torch.empty(batch.completion_ids.shape[0], dtype=slot_logps.dtype, device=slot_logps.device)
        gathered[gather(rows)] = gather(slot_logps.detach())
        batch.slot_logps = gathered
        self._install_advantages(inputs, self.advantage_estimator(batch), batch, rows)

    def _generation_slot_logps(self, output: dict[str, Any]) -> torch.Tensor:
        """Slot log-probs of the local rows under the current (= old) policy, no grad."""
        if self._slot_logps is not None:
            return self._slot_logps.detach()  # TRL's old-log-prob pass already scored the slot
        input_ids = torch.cat([output["prompt_ids"], output["completion_ids"]], dim=1)
        attention_mask = torch.cat([output["prompt_mask"], output["completion_mask"]], dim=1)
        with torch.no_grad():
            self._get_per_token_logps_and_entropies(
                self.model,
                input_ids,
                attention_mask,
                output["completion_ids"].shape[1],
                batch_size=self.args.per_device_train_batch_size,
            )
        return self._slot_logps.detach()

    def _get_per_token_logps_and_entropies(self, model, input_ids, attention_mask, logits_to_keep, *args, **kwargs):
        reference = getattr(self, "ref_model", None)
        if self.slot_token_id is None or (reference is not None and model is reference):  # the reference never scores
            return super()._get_per_token_logps_and_entropies(
                model, input_ids, attention_mask, logits_to_keep, *args, **kwargs
            )
        result = self._logps_with_slot(model, input_ids, attention_mask, logits_to_keep, *args, **kwargs)
        if self._deferred_batch is not None and self._loss_inputs is not None:
            self._run_deferred_estimator(self._slot_logps)
        return result

    def _logps_with_slot(self, model, input_ids, attention_mask, logits_to_keep, *args, **kwargs):
        """Append the slot token after each completion's last token, score it in the same forward, strip it."""
        rows = input_ids.shape[0]
        completion_lengths = attention_mask[:, -logits_to_keep:].sum(dim=1).long()
        pad = torch.full((rows, 1), self._tokenizer.pad_token_id, dtype=input_ids.dtype, device=input_ids.device)
        extended_ids = torch.cat([input_ids, pad], dim=1)
        extended_mask = torch.cat([attention_mask, torch.zeros_like(attention_mask[:, :1])], dim=1)
        prompt_width = input_ids.shape[1] - logits_to_keep
        slot_columns = prompt_width + completion_lengths  # first position after the completion
        row_index = torch.arange(rows, device=input_ids.device)
        extended_ids[row_index, slot_columns] = self.slot_token_id
        extended_mask[row_index, slot_columns] = 1  # TRL scores only attended positions; later ones are padding
        logps, entropies, *rest = super()._get_per_token_logps_and_entropies(
            model, extended_ids, extended_mask, logits_to_keep + 1, *args, **kwargs
        )
        self._slot_logps = logps.gather(1, completion_lengths.unsqueeze(1)).squeeze(1)
        logps = logps[:, :logits_to_keep]
        entropies = entropies[:, :logits_to_keep] if entropies is not None else None
        return (logps, entropies, *rest)

    def _compute_loss(self, model, inputs):
        self._loss_inputs = inputs if self._deferred_batch is not None else None
        try:
            return super()._compute_loss(model, inputs)
        finally:
            self._loss_inputs = None

    def _aux_loss_inputs(self, inputs: dict[str, Any]) -> dict[str, Any]:
        inputs = super()._aux_loss_inputs(inputs)
        return inputs if self.slot_token_id is None else {**inputs, "slot_logps": self._slot_logps}
