"""Shared builders for the trainer tests: a tiny model, a small arith dataset and a reward with variance."""

from __future__ import annotations

import copy

import torch
from trl import GRPOConfig

from rlrewards.tasks.arith import ArithTask


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
