"""Shared builders for the trainer tests: a tiny model, a small arith dataset and a reward with variance."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import torch
from omegaconf import OmegaConf
from trl import GRPOConfig

from rlrewards.tasks.arith import ArithTask
from rlrewards.trainer import RecipeGRPOTrainer
from rlrewards.trainer.slot_token import ROW_INDEX


def digit_fraction(prompts, completions, **kwargs):
    """A reward an untrained model already varies on, so GRPO updates are non-zero."""
    texts = [c[-1]["content"] if isinstance(c, list) else c for c in completions]
    return [sum(ch.isdigit() for ch in t) / max(len(t), 1) for t in texts]


def small_dataset(n: int = 32):
    task = ArithTask(split_sizes={"train": n, "validation": 4, "test": 4})
    return task.load_split("train").remove_columns(["completion"])


def grpo_args(tmp_path, **overrides) -> GRPOConfig:
    values = dict(
        output_dir=str(tmp_path),
        use_cpu=True,
        bf16=False,
        max_steps=2,
        per_device_train_batch_size=8,
        num_generations=4,
        max_completion_length=8,
        learning_rate=1e-2,
        logging_steps=1,
        report_to=[],
        save_strategy="no",
        seed=0,
        data_seed=0,
        disable_tqdm=True,
        dataloader_num_workers=0,
    )
    values.update(overrides)
    return GRPOConfig(**values)


def train(trainer_cls, model, tokenizer, tmp_path, reward_funcs, **kwargs):
    args = kwargs.pop("args", None) or grpo_args(tmp_path)
    trainer = trainer_cls(
        model=copy.deepcopy(model),
        reward_funcs=reward_funcs,
        args=args,
        train_dataset=small_dataset(),
        processing_class=tokenizer,
        **kwargs,
    )
    trainer.train()
    params = {name: p.detach().clone() for name, p in trainer.model.named_parameters()}
    return trainer, params


def losses(trainer) -> list[float]:
    return [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]


def max_param_diff(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    return max((a[k] - b[k]).abs().max().item() for k in a)


# --- Recipe runs on fixed completions (tests/test_distributed.py runs them in one process and in two) ----------------

FIXED_GROUP_SIZE = 4
FIXED_MAX_COMPLETION = 24
FIXED_PROMPTS_PER_STEP = 3  # 12 rows a step; on two processes rows 0-5 and 6-11, so the 2nd group spans both
RECORD_ROW = "test_row_index"  # a row's position in the gathered generation batch, carried through TRL's shuffle


def fixed_completion(tokenizer, expression: str, answer: str, k: int, max_length: int) -> list[int]:
    """The k-th completion of a prompt's group: a function of (prompt, k) only, whichever process generates it.

    Two long ones share the prefix ``<expression>=`` and then split into a right and a wrong answer (a TEMPO branch
    point), one short right one, and one that never stops (no EOS, cut at ``max_length``, no answer). Rewards 1, 0,
    1, 0; lengths differ within a group and between the processes' halves of the batch."""
    wrong = str(int(answer) + 1)
    texts = [
        f"{expression}={answer}\n\n<answer>{answer}</answer>",
        f"{expression}={wrong}\n\n<answer>{wrong}</answer>",
        f"<answer>{answer}</answer>",
    ]
    if k >= len(texts):
        return tokenizer.encode("7" * max_length, add_special_tokens=False)[:max_length]
    return (tokenizer.encode(texts[k], add_special_tokens=False) + [tokenizer.eos_token_id])[:max_length]


class FixedCompletionTrainer(RecipeGRPOTrainer):
    """The recipe trainer with generation replaced by ``fixed_completion`` and a record of every loss call.

    Global row ``r`` of a generation batch is the ``r % num_generations``-th completion of its prompt: TRL's sampler
    lays the gathered batch out as consecutive groups and process ``p`` holds rows ``p * n .. p * n + n - 1``, so a
    split over processes generates exactly the completions of the one-process run, in the same global order."""

    def __init__(self, *args, answers: dict[str, str], **kwargs):
        super().__init__(*args, **kwargs)
        self.fixed_answers = answers
        self.loss_records: list[dict[str, Any]] = []
        self._fixed_prompts: list[Any] | None = None

    def _generate(self, prompts):
        self._fixed_prompts = prompts
        return super()._generate(prompts)

    def _generate_single_turn(self, prompt_ids, images, multimodal_fields, num_generations, has_tool_images=False):
        first = self.accelerator.process_index * len(prompt_ids)
        completion_ids = []
        for i, prompt in enumerate(self._fixed_prompts):
            expression = prompt[-1]["content"]
            k = (first + i) % self.num_generations
            ids = fixed_completion(
                self._tokenizer, expression, self.fixed_answers[expression], k, self.max_completion_length
            )
            completion_ids.append(ids)
        return completion_ids, None

    def _generate_and_score_completions(self, inputs):
        output = super()._generate_and_score_completions(inputs)
        if self.model.training:
            local = output["completion_ids"].shape[0]
            rows = torch.arange(local, device=output["completion_ids"].device)
            output[RECORD_ROW] = rows + self.accelerator.process_index * local
        return output

    def _compute_loss(self, model, inputs):
        loss = super()._compute_loss(model, inputs)  # LaSeR's deferred estimator installs advantages in here
        self.loss_records.append(
            {
                "step": self.state.global_step,
                "rows": inputs[RECORD_ROW].cpu(),
                "completion_ids": inputs["completion_ids"].cpu(),
                "completion_mask": inputs["completion_mask"].cpu(),
                "advantages": inputs["advantages"].detach().cpu(),
                "loss": loss.detach().cpu(),
                "estimated_in_loss_forward": ROW_INDEX in inputs,  # LaSeR's deferred estimator ran in this call
            }
        )
        return loss


def compose_recipe(recipe: str, overrides: list[str]):
    """``conf/train.yaml`` with ``recipe=<recipe>``, as ``rlrewards-train recipe=<recipe> <overrides>`` composes it."""
    from hydra import compose, initialize_config_dir

    conf_dir = Path(__file__).resolve().parent.parent / "conf"
    with initialize_config_dir(config_dir=str(conf_dir), version_base="1.3"):
        return compose(config_name="train", overrides=[f"recipe={recipe}", "logger=none", *overrides])


def train_recipe_on_fixed_completions(
    recipe: str, out_dir, per_device_batch: int, overrides: list[str] = (), steps: int = 2
) -> dict[str, Any]:
    """Train the tiny model with the recipe's own rewards, estimator, auxiliary loss, slot token and trainer settings
    (composed from ``conf/``, built as ``rlrewards.pipeline`` builds them) on fixed completions; returns this
    process's loss records, logged history and initial and final parameters."""
    from rlrewards.models.tiny import build_tiny_model, build_tiny_tokenizer
    from rlrewards.pipeline import build_grpo_config
    from rlrewards.rewards import build_reward_functions
    from rlrewards.trainer import ADVANTAGE_ESTIMATORS, AUX_LOSSES, recipe_trainer_options
    from rlrewards.trainer.hooks import build_component

    cfg = compose_recipe(
        recipe,
        [
            f"trainer.max_steps={steps}",
            f"trainer.per_device_train_batch_size={per_device_batch}",
            f"trainer.num_generations={FIXED_GROUP_SIZE}",
            f"trainer.max_completion_length={FIXED_MAX_COMPLETION}",
            "trainer.logging_steps=1",
            "trainer.disable_tqdm=true",
            *overrides,
        ],
    )
    spec = cfg.recipe
    reward_funcs, weights = build_reward_functions(OmegaConf.to_container(spec.rewards, resolve=True))
    aux_spec = spec.get("aux_loss")
    dataset = small_dataset(2 * steps * FIXED_PROMPTS_PER_STEP)
    answers = {row["prompt"][-1]["content"]: row["answer"] for row in dataset}
    tokenizer = build_tiny_tokenizer()
    model = build_tiny_model(
        tokenizer, hidden_size=32, num_layers=2, num_heads=2, num_kv_heads=1, intermediate_size=64, seed=0
    )
    initial = {name: p.detach().clone() for name, p in model.named_parameters()}
    trainer = FixedCompletionTrainer(
        model=model,
        reward_funcs=reward_funcs,
        args=build_grpo_config(cfg, Path(out_dir), [], weights),
        train_dataset=dataset,
        processing_class=tokenizer,
        advantage_estimator=build_component(ADVANTAGE_ESTIMATORS, spec.get("advantage"), "recipe.advantage"),
        aux_loss=build_component(AUX_LOSSES, aux_spec, "recipe.aux_loss"),
        aux_loss_coef=float(aux_spec.get("coef", 1.0)) if aux_spec else 0.0,
        aux_loss_name=str(aux_spec.get("name")) if aux_spec else "aux",
        **recipe_trainer_options(spec, tokenizer),
        answers=answers,
    )
    trainer.train()
    return {
        "records": trainer.loss_records,
        "log_history": trainer.state.log_history,
        "initial_params": initial,
        "params": {name: p.detach().cpu().clone() for name, p in trainer.model.named_parameters()},
        "loss_type": trainer.loss_type,
        "logged_advantages": list(trainer._logs["advantages"]),  # TRL's completions-table column, last batch
        "rank": trainer.accelerator.process_index,
        "world": trainer.accelerator.num_processes,
    }


def gathered_records(runs: list[dict[str, Any]], step: int) -> dict[str, torch.Tensor]:
    """One step's loss inputs of every process, put back in gathered-batch row order (right-padded to one width)."""
    records = [record for run in runs for record in run["records"] if record["step"] == step]
    rows = torch.cat([record["rows"] for record in records])
    if sorted(rows.tolist()) != list(range(rows.numel())):
        raise AssertionError(f"step {step}: the processes' loss calls did not cover each row once: {rows.tolist()}")
    width = max(record["completion_ids"].shape[1] for record in records)
    out = {}
    for key in ("completion_ids", "completion_mask", "advantages"):
        first = records[0][key]
        shape = (rows.numel(), width) if first.dim() == 2 else (rows.numel(),)
        full = torch.zeros(shape, dtype=first.dtype)
        for record in records:
            value = record[key]
            if value.dim() == 2:
                full[record["rows"], : value.shape[1]] = value
            else:
                full[record["rows"]] = value
        out[key] = full
    # The objective of the step: DDP averages the processes' gradients, so it is the mean of their losses.
    out["loss"] = torch.stack([record["loss"] for record in records]).mean()
    return out
