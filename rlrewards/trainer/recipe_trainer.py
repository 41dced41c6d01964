"""The one trainer every recipe uses: ``trl.GRPOTrainer`` with three extension points.

(a) Reward functions come from config (see ``rlrewards.rewards``) and keep their config names as metric names.
(b) ``advantage_estimator`` replaces GRPO's per-sequence advantage with any ``(N,)`` or ``(N, T)`` advantage,
    computed on the generation batch gathered over all processes and then sliced to this process's rows.
(c) ``aux_loss`` adds ``coef * loss`` to the policy loss, reading the log-probs of the same forward pass.

``slot_token_id`` (LaSeR): every policy forward also scores one extra token placed right after each completion:
the token is appended to the input, its log-prob ``log pi(slot | prompt, completion)`` is read from the same
forward (causality leaves every earlier logit unchanged) and stripped before TRL sees the log-probs, so the
policy loss never includes the slot. The loss forward hands it to the auxiliary loss as ``inputs["slot_logps"]``;
estimators that ask for it (``needs_slot_logps(step)``) get it on the gathered batch, from the first forward that
scores the generation batch under the generating policy: TRL's old-log-prob pass when TRL runs one; otherwise, when
the whole local generation batch is one loss micro-batch (``steps_per_generation == 1``), the loss forward itself
(the estimator then runs inside that forward, before TRL reads the advantages); otherwise one extra no-grad forward.

Estimators with ``needs_reference_logps = True`` (PURE's KL penalty in the reward) also get the per-token log-probs
of the sampled tokens under the generating policy and under the reference model; the trainer then keeps a reference
model even when the loss has no KL term (``beta = 0``), built and wrapped exactly as TRL builds its own.

The advantages an estimator installs replace GRPO's in TRL's completions log (``_logs["advantages"]``; a per-token
row as its token mean). An estimator with ``state_dict()`` / ``load_state_dict()`` (LaSeR's measured c_ref) has its
state written as ``recipe_state.json`` next to every saved model and checkpoint and loaded back on resume.

With neither hook set, every overridden method defers to TRL unchanged: the ``grpo`` recipe trains exactly as the
stock trainer does (``tests/test_trainer_parity.py``). This file is the only place that touches TRL internals,
which is why ``trl`` is pinned exactly.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from accelerate.utils import gather, gather_object
from transformers.trainer_utils import get_last_checkpoint
from trl import GRPOTrainer

from rlrewards.algorithms.grpo import group_advantages
from rlrewards.trainer.hooks import AdvantageEstimator, AdvantageOutput, AuxiliaryLoss, RolloutBatch

ROW_INDEX = "recipe_row_index"  # per-row position in the gathered generation batch, carried through TRL's shuffle
# Written next to every saved model and checkpoint: the advantage estimator's ``state_dict()`` (LaSeR's measured
# c_ref), loaded back on resume so that nothing measured on the initial policy is re-measured on a trained one.
RECIPE_STATE_FILE = "recipe_state.json"


def load_recipe_state(directory: str | os.PathLike) -> dict[str, Any]:
    """The estimator state saved in a checkpoint or model directory; {} when it has none."""
    path = Path(directory) / RECIPE_STATE_FILE
    return json.loads(path.read_text()) if path.exists() else {}


class RecipeGRPOTrainer(GRPOTrainer):
    def __init__(
        self,
        *args,
        advantage_estimator: AdvantageEstimator | None = None,
        aux_loss: AuxiliaryLoss | None = None,
        aux_loss_coef: float = 0.0,
        aux_loss_name: str = "aux",
        slot_token_id: int | None = None,
        **kwargs,
    ):
        wants_reference = bool(getattr(advantage_estimator, "needs_reference_logps", False))
        config = kwargs.get("args")
        loss_beta = getattr(config, "beta", 0.0)
        policy = kwargs.get("model")
        if wants_reference and not isinstance(policy, str) and not getattr(policy.config, "_name_or_path", ""):
            raise ValueError(
                "this advantage estimator needs a reference model, which TRL loads from the policy's path "
                "(model.config._name_or_path), but the policy was built in memory: save it and load it from disk "
                "(the tiny model does so when model.warm_start.enabled=true)"
            )
        if wants_reference and config is not None and loss_beta == 0.0:
            config.beta = 1.0  # any non-zero beta makes TRL build and wrap a reference model; restored below
        try:
            super().__init__(*args, **kwargs)
        finally:
            if wants_reference and config is not None:
                config.beta = loss_beta
        self.beta = loss_beta  # the loss keeps its own KL coefficient (0: no KL term, no reference pass by TRL)
        if wants_reference and self.ref_model is None:
            raise ValueError("this advantage estimator needs a reference model; TRL builds none for PEFT models")
        self.slot_token_id = slot_token_id
        self._slot_logps: torch.Tensor | None = None
        self.advantage_estimator = advantage_estimator
        self.recipe_aux_loss = aux_loss
        self.recipe_aux_loss_coef = float(aux_loss_coef)
        self.recipe_aux_loss_name = aux_loss_name
        self._gathered_rewards_per_func: torch.Tensor | None = None
        self._completions_for_estimator: list[Any] | None = None
        self._captured_forward: tuple[torch.Tensor, torch.Tensor | None] | None = None
        self._capture_forward = False
        # the estimator's batch while it waits for the loss forward to score the slot (see _can_defer_estimator)
        self._deferred_batch: RolloutBatch | None = None
        self._loss_inputs: dict[str, Any] | None = None

    # --- estimator state, saved with the model ------------------------------------------------------------------

    def recipe_state(self) -> dict[str, Any]:
        state_dict = getattr(self.advantage_estimator, "state_dict", None)
        return dict(state_dict()) if callable(state_dict) else {}

    def save_model(self, output_dir: str | None = None, _internal_call: bool = False) -> None:
        super().save_model(output_dir, _internal_call)  # checkpoints save through here too
        state = self.recipe_state()
        if state and self.args.should_save:
            directory = Path(output_dir or self.args.output_dir)
            directory.mkdir(parents=True, exist_ok=True)
            (directory / RECIPE_STATE_FILE).write_text(json.dumps(state))

    def train(self, resume_from_checkpoint=None, *args, **kwargs):
        load = getattr(self.advantage_estimator, "load_state_dict", None)
        checkpoint = resume_from_checkpoint
        if checkpoint is True:  # the trainer's own "the last checkpoint in output_dir"
            checkpoint = get_last_checkpoint(self.args.output_dir)
        if isinstance(checkpoint, str | os.PathLike) and callable(load):
            load(load_recipe_state(checkpoint))
        return super().train(resume_from_checkpoint, *args, **kwargs)

    # --- (b) advantage estimator -------------------------------------------------------------------------------

    def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
        rewards_per_func = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
        if self.advantage_estimator is not None:
            self._gathered_rewards_per_func = rewards_per_func
            self._completions_for_estimator = completions
        return rewards_per_func

    def _generate_and_score_completions(self, inputs):
        self._slot_logps = None  # only a slot scored during this generation step may be reused below
        output = super()._generate_and_score_completions(inputs)
        if self.advantage_estimator is None or not self.model.training:
            return output
        batch = self._rollout_batch(output)
        local_rows = output["completion_ids"].shape[0]
        rows = torch.arange(local_rows, device=output["completion_ids"].device)
        rows = rows + self.accelerator.process_index * local_rows
        batch.local_rows, batch.gather_object = rows, gather_object
        if self.slot_token_id is not None and self._estimator_needs_slot():
            if self._slot_logps is None and self._can_defer_estimator():
                self._deferred_batch = batch
                output[ROW_INDEX] = rows  # TRL shuffles the batch before the loss; this tracks each row
                return output
            batch.slot_logps = gather(self._generation_slot_logps(output))
        if getattr(self.advantage_estimator, "needs_reference_logps", False):
            batch.policy_logps, batch.ref_logps = self._policy_and_reference_logps(output)
        result = self.advantage_estimator(batch)
        self._install_advantages(output, result, batch, rows)
        return output

    def _policy_and_reference_logps(self, output: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-token log-probs of the sampled tokens under the generating policy and the reference model, gathered
        (TRL's own passes are reused when it ran them)."""
        input_ids = torch.cat([output["prompt_ids"], output["completion_ids"]], dim=1)
        attention_mask = torch.cat([output["prompt_mask"], output["completion_mask"]], dim=1)
        keep = output["completion_ids"].shape[1]
        size = self.args.per_device_train_batch_size
        policy, reference = output.get("old_per_token_logps"), output.get("ref_per_token_logps")
        with torch.no_grad():
            if policy is None:
                policy = self._get_per_token_logps_and_entropies(self.model, input_ids, attention_mask, keep, size)[0]
            if reference is None:
                reference = self._get_per_token_logps_and_entropies(
                    self.ref_model, input_ids, attention_mask, keep, size
                )[0]
        pad = self.accelerator.pad_across_processes
        return gather(pad(policy.detach(), dim=1)), gather(pad(reference.detach(), dim=1))

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

    def _rollout_batch(self, output: dict[str, Any]) -> RolloutBatch:
        pad_id = self._tokenizer.pad_token_id
        completion_ids = self.accelerator.pad_across_processes(output["completion_ids"], dim=1, pad_index=pad_id)
        completion_mask = self.accelerator.pad_across_processes(output["completion_mask"], dim=1, pad_index=0)
        completion_ids, completion_mask = gather(completion_ids), gather(completion_mask)
        prompt_ids = self.accelerator.pad_across_processes(
            output["prompt_ids"], dim=1, pad_index=pad_id, pad_first=True
        )
        prompt_mask = self.accelerator.pad_across_processes(output["prompt_mask"], dim=1, pad_index=0, pad_first=True)
        rewards_per_func = self._gathered_rewards_per_func
        weights = self.reward_weights.to(rewards_per_func.device)
        unscorable = torch.isnan(rewards_per_func).all(dim=1)
        rewards = (rewards_per_func * weights.unsqueeze(0)).nansum(dim=1)
        rewards[unscorable] = torch.nan
        lengths = completion_mask.sum(dim=1)
        last_token = completion_ids.gather(1, (lengths - 1).clamp(min=0).unsqueeze(1)).squeeze(1)
        eos_ids = list(self.eos_token_ids)
        is_finished = torch.isin(last_token, torch.tensor(eos_ids, device=last_token.device)) & (lengths > 0)
        grpo_advantages = group_advantages(rewards, self.num_generations, scale=self.scale_rewards)
        return RolloutBatch(
            completion_ids=completion_ids,
            completion_mask=completion_mask,
            rewards=rewards,
            rewards_per_func=rewards_per_func,
            reward_names=list(self.reward_func_names),
            group_size=self.num_generations,
            grpo_advantages=grpo_advantages,
            is_finished=is_finished,
            completions=gather_object(self._completions_for_estimator),
            global_step=self.state.global_step,
            pad_token_id=pad_id,
            eos_token_ids=eos_ids,
            prompt_ids=gather(prompt_ids),
            prompt_mask=gather(prompt_mask),
            tokenizer=self._tokenizer,
        )

    def _estimator_needs_slot(self) -> bool:
        needs = getattr(self.advantage_estimator, "needs_slot_logps", None)
        return bool(needs(self.state.global_step)) if callable(needs) else False

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

    def _install_advantages(
        self, output: dict[str, Any], result: AdvantageOutput, batch: RolloutBatch, rows: torch.Tensor
    ) -> None:
        """Slice the gathered-batch result to the rows ``rows`` (indices into the gathered batch, in local order)."""
        rows = rows.to(result.advantages.device)
        advantages = result.advantages
        total = batch.completion_ids.shape[0]
        if advantages.shape[0] != total or advantages.dim() not in (1, 2):
            raise ValueError(
                f"advantage estimator returned shape {tuple(advantages.shape)}; expected ({total},) or ({total}, T)"
            )
        if advantages.dim() == 2:
            if advantages.shape[1] != batch.completion_ids.shape[1]:
                raise ValueError(
                    f"per-token advantages have {advantages.shape[1]} columns, the batch has "
                    f"{batch.completion_ids.shape[1]} completion tokens"
                )
            advantages = advantages[rows, : output["completion_ids"].shape[1]]
        else:
            advantages = advantages[rows]
        output["advantages"] = torch.nan_to_num(advantages.to(output["completion_mask"].device).float(), nan=0.0)
        self._log_installed_advantages(result.advantages, batch)
        for key, value in result.extra.items():
            output[key] = value[rows]
        for name, value in result.metrics.items():
            self._metrics["train"][name].append(float(value))

    def _log_installed_advantages(self, advantages: torch.Tensor, batch: RolloutBatch) -> None:
        """TRL logs GRPO's per-row advantages of the gathered batch (the completions table); put the estimator's
        there instead, a per-token row as its mean over the row's completion tokens."""
        logged = self._logs["advantages"]
        if advantages.dim() == 2:
            mask = batch.completion_mask.to(advantages.device).float()
            advantages = (advantages.float() * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
        for _ in range(min(advantages.shape[0], len(logged))):
            logged.pop()  # TRL appended exactly the gathered batch's rows
        logged.extend(torch.nan_to_num(advantages.float(), nan=0.0).tolist())

    # --- (c) auxiliary loss -------------------------------------------------------------------------------------

    def _get_per_token_logps_and_entropies(self, model, input_ids, attention_mask, logits_to_keep, *args, **kwargs):
        reference = getattr(self, "ref_model", None)
        if self.slot_token_id is None or (reference is not None and model is reference):  # the reference never scores
            result = super()._get_per_token_logps_and_entropies(
                model, input_ids, attention_mask, logits_to_keep, *args, **kwargs
            )
        else:
            result = self._logps_with_slot(model, input_ids, attention_mask, logits_to_keep, *args, **kwargs)
            if self._deferred_batch is not None and self._loss_inputs is not None:
                self._run_deferred_estimator(self._slot_logps)
        if self._capture_forward:
            self._captured_forward = (result[0], result[1])
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
            if self.recipe_aux_loss is None:
                return super()._compute_loss(model, inputs)
            self._capture_forward = True
            loss = super()._compute_loss(model, inputs)
        finally:
            self._capture_forward = False
            self._loss_inputs = None
        per_token_logps, entropies = self._captured_forward
        self._captured_forward = None
        if self.slot_token_id is not None:
            inputs = {**inputs, "slot_logps": self._slot_logps}
        aux = self.recipe_aux_loss(inputs, per_token_logps, entropies, self.state.global_step)
        mode = "train" if self.model.training else "eval"
        # TRL scales the policy loss for gradient accumulation itself (HF auto-scaling is off), so match it.
        normalizer = self.current_gradient_accumulation_steps if mode == "train" else 1.0
        loss = loss + self.recipe_aux_loss_coef * aux.loss / normalizer
        prefix = f"aux/{self.recipe_aux_loss_name}"
        self._metrics[mode][f"{prefix}/loss"].append(self.accelerator.gather(aux.loss.detach()).mean().item())
        for name, value in aux.metrics.items():
            self._metrics[mode][f"{prefix}/{name}"].append(float(value))
        return loss
