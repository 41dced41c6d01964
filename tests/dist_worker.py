"""Run by test_distributed.py under torchrun with 2 CPU processes (gloo).

``<out dir> <estimator>``: one GRPO step with an estimator whose group spans both processes; each rank saves what
the estimator saw and what the loss received (``ramp``: a row/position code that exposes any wrong slice;
``laser``: LaSeR with mixing from the first step, run inside the loss forward; ``refill``: group 0 of the step's
first batch dropped and refilled from another, 3 groups of 4 over 2 x 6 rows; or a registered name).

``<out dir> recipes <json>``: train each recipe of ``{"recipes": {name: [config overrides]}, "per_device_batch": n}``
on fixed completions (``trainer_helpers.train_recipe_on_fixed_completions``); each rank saves ``<name>.rank<r>.pt``.

A failing rank writes its traceback to ``rank<r>.traceback`` in the output dir, for the test to show. At exit each
rank writes ``rank<r>.exit``: whether the process group was still initialized once the trainer's exit handler ran.

"""

import atexit
import json
import os
import sys
import traceback
from pathlib import Path

import torch
from trainer_helpers import digit_fraction, grpo_args, small_dataset, train_recipe_on_fixed_completions

from rlrewards.models.tiny import RESERVED, build_tiny_model, build_tiny_tokenizer
from rlrewards.recipes.laser import laser_estimator, laser_self_reward_loss
from rlrewards.trainer import ADVANTAGE_ESTIMATORS, AdvantageOutput, RecipeGRPOTrainer
from rlrewards.trainer.hooks import GroupRefill
from rlrewards.trainer.slot_token import ROW_INDEX

out_dir = Path(sys.argv[1])
estimator_name = sys.argv[2] if len(sys.argv) > 2 else "ramp"
seen = {}


def record_process_group_at_exit():
    initialized = torch.distributed.is_initialized()
    (out_dir / f"rank{os.environ.get('RANK', '?')}.exit").write_text(json.dumps({"initialized": initialized}))


# Registered before any trainer exists, so it runs after the trainer's handler (atexit: last in, first out).
atexit.register(record_process_group_at_exit)


def ramp_estimator(batch):
    # Distinct per row and per token, so a wrong slice cannot go unnoticed.
    positions = torch.arange(batch.completion_ids.shape[1], dtype=torch.float).unsqueeze(0)
    rows = torch.arange(batch.completion_ids.shape[0], dtype=torch.float).unsqueeze(1)
    advantages = (rows * 100 + positions) * batch.completion_mask
    seen.update(
        ids=batch.completion_ids.cpu(),
        mask=batch.completion_mask.cpu(),
        adv=advantages.cpu(),
        rewards=batch.rewards.cpu(),
        group_size=batch.group_size,
    )
    return AdvantageOutput(advantages, extra={"row_id": rows.squeeze(1)})


class DropFirstGroupOnce:
    """Drops group 0 of the step's first generation batch; advantages ``1000 * attempt + row`` trace every row."""

    refill = GroupRefill()

    def __call__(self, batch):
        rows = batch.completion_ids.shape[0]
        keep = torch.ones(rows, dtype=torch.bool)
        if batch.generation_attempt == 0:
            keep[: batch.group_size] = False
        attempts = seen.setdefault("attempts", [])
        attempts.append({"ids": batch.completion_ids.cpu(), "mask": batch.completion_mask.cpu()})
        seen.update(group_size=batch.group_size, ids=batch.completion_ids.cpu())
        return AdvantageOutput(torch.arange(rows, dtype=torch.float) + 1000 * batch.generation_attempt, keep=keep)


def recording(estimator):
    def estimate(batch):
        result = estimator(batch)
        seen.update(ids=batch.completion_ids.cpu(), mask=batch.completion_mask.cpu(), rewards=batch.rewards.cpu())
        seen.update(adv=result.advantages.cpu(), metrics=result.metrics, group_size=batch.group_size)
        if batch.slot_logps is not None:
            seen.update(slot_logps=batch.slot_logps.cpu(), grpo_adv=batch.grpo_advantages.cpu())
        return result

    return estimate


class RecordingTrainer(RecipeGRPOTrainer):
    def _generate_and_score_completions(self, inputs):
        output = super()._generate_and_score_completions(inputs)
        seen.update(
            local_ids=output["completion_ids"].cpu(),
            local_adv=output["advantages"].cpu(),
            local_mask=output["completion_mask"].cpu(),
            local_row_id=output["row_id"].cpu() if "row_id" in output else None,
            rank=self.accelerator.process_index,
            world=self.accelerator.num_processes,
        )
        return output

    def _rollout_batch(self, output):
        batch = super()._rollout_batch(output)
        if estimator_name == "laser":  # an untrained model rarely stops; mixing needs finished completions
            batch.is_finished = torch.ones_like(batch.is_finished)
        return batch

    def _compute_loss(self, model, inputs):
        loss = super()._compute_loss(model, inputs)
        if ROW_INDEX in inputs:  # the deferred estimator installed these during the loss forward
            seen.update(loss_rows=inputs[ROW_INDEX].cpu(), loss_adv=inputs["advantages"].cpu())
        return loss


def advantage_hook_run():
    tokenizer = build_tiny_tokenizer()
    model = build_tiny_model(tokenizer, hidden_size=32, num_layers=2, num_heads=2, num_kv_heads=1, intermediate_size=64)
    refill = estimator_name == "refill"
    args = grpo_args(
        out_dir / "trainer",
        max_steps=1,
        per_device_train_batch_size=6 if refill else 4,
        num_generations=4 if refill else 8,
        max_completion_length=12,
        shuffle_dataset=False,
    )
    if refill:
        hooks = {"advantage_estimator": DropFirstGroupOnce()}
    elif estimator_name == "ramp":
        hooks = {"advantage_estimator": ramp_estimator}
    elif estimator_name == "laser":
        mix = laser_estimator(c_ref=-4.8, reasoning_warmup=0, self_reward_warmup=0, std_threshold=0.0, tau=0.5)
        hooks = {
            "advantage_estimator": recording(mix),
            "aux_loss": laser_self_reward_loss(beta_v=0.1),
            "aux_loss_coef": 0.1,
            "slot_token_id": tokenizer.convert_tokens_to_ids(RESERVED[0]),
        }
        hooks["advantage_estimator"].needs_slot_logps = mix.needs_slot_logps
    else:
        hooks = {"advantage_estimator": recording(ADVANTAGE_ESTIMATORS.get(estimator_name)())}
    trainer = RecordingTrainer(
        model=model,
        reward_funcs=[digit_fraction],
        args=args,
        train_dataset=small_dataset(16),
        processing_class=tokenizer,
        **hooks,
    )
    trainer.train()
    torch.save(seen, out_dir / f"rank{seen['rank']}.pt")


def recipes_run(spec: dict):
    for recipe, overrides in spec["recipes"].items():
        run = train_recipe_on_fixed_completions(recipe, out_dir / recipe, spec["per_device_batch"], overrides)
        torch.save(run, out_dir / f"{recipe}.rank{run['rank']}.pt")


if __name__ == "__main__":
    try:
        if estimator_name == "recipes":
            recipes_run(json.loads(sys.argv[3]))
        else:
            advantage_hook_run()
    except BaseException:
        (out_dir / f"rank{os.environ.get('RANK', '?')}.traceback").write_text(traceback.format_exc())
        raise
