"""The generic trainer every recipe uses: ``trl.GRPOTrainer`` with three extension points.

(a) Reward functions come from config (see ``rlrewards.rewards``) and keep their config names as metric names.
(b) ``advantage_estimator`` replaces GRPO's per-sequence advantage with any ``(N,)`` or ``(N, T)`` advantage,
    computed on the generation batch gathered over all processes and then sliced to this process's rows; its
    optional ``keep`` mask drops rows from the loss (their completion mask zeroed, ``_drop_rows``).
(c) ``aux_loss`` adds ``coef * loss`` to the policy loss, reading the log-probs of the same forward pass.

What an estimator may ask for besides the batch (``rlrewards.trainer.hooks``) is read through the helpers there.
With ``needs_reference_logps`` (PURE's KL in the reward) the trainer keeps a reference model even when the loss has
no KL term, built and wrapped exactly as TRL builds its own. Installed advantages replace GRPO's in TRL's
completions log (a per-token row as its token mean); an estimator's ``state_dict()`` is written as
``recipe_state.json`` next to every saved model and checkpoint and loaded back on resume.

``RecipeTrainerCore`` is used as ``rlrewards.trainer.RecipeGRPOTrainer``, which mixes in extensions
(``rlrewards/trainer/__init__.py``). They refine this class through the cooperative methods of
``RecipeTrainerBase``: ``_complete_estimator_batch`` (fill in or defer the estimator's batch),
``_settle_generation`` (the batch that trains: the refill of dropped groups), ``_aux_loss_inputs`` (what the
auxiliary loss reads) and ``_save_extra_state`` / ``_load_extra_state``.

With neither hook set, every overridden method defers to TRL unchanged: the ``grpo`` recipe trains exactly as the
stock trainer does (``tests/test_trainer_parity.py``). This package is the only place that touches TRL internals,
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
from rlrewards.trainer.hooks import (
    AdvantageEstimator,
    AdvantageOutput,
    AuxiliaryLoss,
    RolloutBatch,
    ScoredGeneration,
    estimator_state,
    loads_state,
    needs_reference_logps,
)
from rlrewards.trainer.process_group import leave_process_group_at_exit

# Written next to every saved model and checkpoint: the advantage estimator's ``state_dict()``, loaded back on
# resume so that nothing measured on the initial policy is re-measured on a trained one.
RECIPE_STATE_FILE = "recipe_state.json"
# Dataset columns not copied into ``RolloutBatch.row_fields``: the batch has them as tokens and decoded text.
ROW_FIELDS_LEFT_OUT = ("prompt", "completion")


def load_recipe_state(directory: str | os.PathLike) -> dict[str, Any]:
    """The estimator state saved in a checkpoint or model directory; {} when it has none."""
    path = Path(directory) / RECIPE_STATE_FILE
    return json.loads(path.read_text()) if path.exists() else {}


class RecipeTrainerBase(GRPOTrainer):
    """The cooperative steps extensions refine (each calls ``super()`` for the rest); the defaults do nothing."""

    def _settle_generation(self, first: ScoredGeneration) -> ScoredGeneration:
        """The generation batch that trains, given the step's first one (the refill replaces dropped groups)."""
        return first

    def _save_extra_state(self, directory: Path) -> None:
        """Write an extension's state next to a saved model or checkpoint."""

    def _load_extra_state(self, directory: Path) -> None:
        """Read it back on resume."""

    def _complete_estimator_batch(self, output: dict[str, Any], batch: RolloutBatch, rows: torch.Tensor) -> bool:
        """Add what the estimator asks for to ``batch`` before it runs on the generation batch ``output``. False:
        the estimator runs later, in the loss forward, and the extension that deferred it installs its result."""
        return True

    def _aux_loss_inputs(self, inputs: dict[str, Any]) -> dict[str, Any]:
        """The loss micro-batch as the auxiliary loss sees it."""
        return inputs


class RecipeTrainerCore(RecipeTrainerBase):
    def __init__(
        self,
        *args,
        advantage_estimator: AdvantageEstimator | None = None,
        aux_loss: AuxiliaryLoss | None = None,
        aux_loss_coef: float = 0.0,
        aux_loss_name: str = "aux",
        **kwargs,
    ):
        wants_reference = needs_reference_logps(advantage_estimator)
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
        leave_process_group_at_exit()  # the process group accelerate joined above; nothing else leaves it
        self.beta = loss_beta  # the loss keeps its own KL coefficient (0: no KL term, no reference pass by TRL)
        if wants_reference and self.ref_model is None:
            raise ValueError("this advantage estimator needs a reference model; TRL builds none for PEFT models")
        self.advantage_estimator = advantage_estimator
        self.recipe_aux_loss = aux_loss
        self.recipe_aux_loss_coef = float(aux_loss_coef)
        self.recipe_aux_loss_name = aux_loss_name
        self._gathered_rewards_per_func: torch.Tensor | None = None
        self._completions_for_estimator: list[Any] | None = None
        self._rows_for_estimator: list[dict[str, Any]] | None = None
        self._captured_forward: tuple[torch.Tensor, torch.Tensor | None] | None = None
        self._capture_forward = False

    # --- estimator state, saved with the model ------------------------------------------------------------------

    def recipe_state(self) -> dict[str, Any]:
        return estimator_state(self.advantage_estimator)

    def save_model(self, output_dir: str | None = None, _internal_call: bool = False) -> None:
        super().save_model(output_dir, _internal_call)  # checkpoints save through here too
        state = self.recipe_state()
        if state and self.args.should_save:
            directory = Path(output_dir or self.args.output_dir)
            directory.mkdir(parents=True, exist_ok=True)
            (directory / RECIPE_STATE_FILE).write_text(json.dumps(state))
        if self.args.should_save:
            self._save_extra_state(Path(output_dir or self.args.output_dir))

    def train(self, resume_from_checkpoint=None, *args, **kwargs):
        checkpoint = resume_from_checkpoint
        if checkpoint is True:  # the trainer's own "the last checkpoint in output_dir"
            checkpoint = get_last_checkpoint(self.args.output_dir)
        if isinstance(checkpoint, str | os.PathLike) and loads_state(self.advantage_estimator):
            self.advantage_estimator.load_state_dict(load_recipe_state(checkpoint))
        if isinstance(checkpoint, str | os.PathLike):
            self._load_extra_state(Path(checkpoint))
        return super().train(resume_from_checkpoint, *args, **kwargs)

    # --- (b) advantage estimator -------------------------------------------------------------------------------

    def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
        rewards_per_func = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
        if self.advantage_estimator is not None:
            self._gathered_rewards_per_func = rewards_per_func
            self._completions_for_estimator = completions
            self._rows_for_estimator = [{k: v for k, v in x.items() if k not in ROW_FIELDS_LEFT_OUT} for x in inputs]
        return rewards_per_func

    def _generate_and_score_completions(self, inputs):
        output = super()._generate_and_score_completions(inputs)
        if self.advantage_estimator is None or not self.model.training:
            return output
        scored = self._estimate(output)
        if scored is None:
            return output  # deferred to the loss forward
        settled = self._settle_generation(scored)
        self._install_advantages(settled.output, settled.result, settled.batch, settled.rows, log=not settled.logged)
        return settled.output

    def _generate_more(self, inputs: list[dict[str, Any]], attempt: int) -> ScoredGeneration:
        """Another generation batch of the same training step, generated and scored exactly as the first."""
        scored = self._estimate(super()._generate_and_score_completions(inputs), attempt)
        if scored is None:
            raise ValueError("an estimator that runs in the loss forward cannot have its dropped groups refilled")
        return scored

    def _estimate(self, output: dict[str, Any], attempt: int = 0) -> ScoredGeneration | None:
        """The estimator's result on TRL's generation batch ``output``; None when it is deferred to the loss."""
        batch = self._rollout_batch(output)
        batch.generation_attempt = attempt
        local_rows = output["completion_ids"].shape[0]
        rows = torch.arange(local_rows, device=output["completion_ids"].device)
        rows = rows + self.accelerator.process_index * local_rows
        batch.local_rows, batch.gather_object = rows, gather_object
        if not self._complete_estimator_batch(output, batch, rows):
            return None
        if needs_reference_logps(self.advantage_estimator):
            batch.policy_logps, batch.ref_logps = self._policy_and_reference_logps(output)
        return ScoredGeneration(output, batch, rows, self.advantage_estimator(batch))

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
            row_fields=gather_object(self._rows_for_estimator),
        )

    def _install_advantages(
        self, output: dict[str, Any], result: AdvantageOutput, batch: RolloutBatch, rows: torch.Tensor, log=True
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
        if log:
            self._log_installed_advantages(result.advantages, batch)
        if result.keep is not None:
            self._drop_rows(output, result.keep, total, rows)
        for key, value in result.extra.items():
            output[key] = value[rows]
        for name, value in result.metrics.items():
            self._metrics["train"][name].append(float(value))

    def _drop_rows(self, output: dict[str, Any], keep: torch.Tensor, total: int, rows: torch.Tensor) -> None:
        """Take the rows of the gathered batch where ``keep`` is False out of the loss: zero their completion mask
        and advantages and recount ``num_items_in_batch`` (called on every process: it gathers).

        The mask is what TRL's ``_compute_loss`` reads for everything (attention, loss tokens, the ``bnpo``
        normaliser, masked metrics); ``num_items_in_batch`` (the ``dapo``/``cispo``/``vespo`` normaliser) was counted
        from it at generation. TRL's ``mask_truncated_completions`` drops rows the same way. A dropped row's positions
        still attend to its prompt, so its log-probs stay finite, and every normaliser is clamped to >= 1: a
        micro-batch of dropped rows gives loss 0. In place, because an estimator deferred to the loss forward (the
        slot token) installs after TRL took ``inputs["completion_mask"]``; advantages are zeroed too, so a row adds
        no gradient even where the loss mask was a product taken before (``tool_mask``)."""
        if keep.shape != (total,):
            raise ValueError(f"advantage estimator returned keep of shape {tuple(keep.shape)}; expected ({total},)")
        mask = output["completion_mask"]
        dropped = ~keep.to(device=mask.device, dtype=torch.bool)[rows.to(mask.device)]
        mask.masked_fill_(dropped.unsqueeze(1), 0)
        advantages = output["advantages"]
        output["advantages"] = advantages.masked_fill(dropped.view(-1, *([1] * (advantages.dim() - 1))), 0.0)
        if "num_items_in_batch" in output:
            output["num_items_in_batch"] = self._count_loss_tokens(output)

    def _count_loss_tokens(self, output: dict[str, Any]) -> torch.Tensor:
        """``num_items_in_batch`` as TRL counts it: loss tokens over every process (gathers: call on all)."""
        tool_mask = output.get("tool_mask")
        mask = output["completion_mask"]
        loss_mask = mask if tool_mask is None else mask * tool_mask
        return self.accelerator.gather(loss_mask.sum()).sum()

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
        result = super()._get_per_token_logps_and_entropies(
            model, input_ids, attention_mask, logits_to_keep, *args, **kwargs
        )
        if self._capture_forward:
            self._captured_forward = (result[0], result[1])
        return result

    def _compute_loss(self, model, inputs):
        if self.recipe_aux_loss is None:
            return super()._compute_loss(model, inputs)
        self._capture_forward = True
        try:
            loss = super()._compute_loss(model, inputs)
        finally:
            self._capture_forward = False
        per_token_logps, entropies = self._captured_forward
        self._captured_forward = None
        aux = self.recipe_aux_loss(self._aux_loss_inputs(inputs), per_token_logps, entropies, self.state.global_step)
        mode = "train" if self.model.training else "eval"
        # TRL scales the policy loss for gradient accumulation itself (HF auto-scaling is off), so match it.
        normalizer = self.current_gradient_accumulation_steps if mode == "train" else 1.0
        loss = loss + self.recipe_aux_loss_coef * aux.loss / normalizer
        prefix = f"aux/{self.recipe_aux_loss_name}"
        self._metrics[mode][f"{prefix}/loss"].append(self.accelerator.gather(aux.loss.detach()).mean().item())
        for name, value in aux.metrics.items():
            self._metrics[mode][f"{prefix}/{name}"].append(float(value))
        return loss
