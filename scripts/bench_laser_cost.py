"""Step-time cost of LaSeR over GRPO on the demo model (the paper's promise: one extra token).

    python scripts/bench_laser_cost.py --steps 30

Trains the tiny demo model (random init, arith prompts) with the same seed and settings under three recipes:
``grpo``, ``laser_swa`` (self-reward loss only: the z_c slot rides in the policy forward) and ``laser`` (loss plus
advantage mixing: the estimator runs inside the loss forward, which scores the slot under the generating policy),
with both LaSeR phases active from the first step. ``--no-defer`` measures the fallback that pays one extra no-grad
forward per generation batch (taken when a generation batch spans several micro-batches and TRL runs no
old-log-prob pass). Prints the median of TRL's per-step ``step_time`` (generation included)
after a warm-up, and the ratios to GRPO. Asserts nothing about time.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile

import torch
from transformers import PrinterCallback

from rlrewards.models.tiny import RESERVED, build_tiny_model, build_tiny_tokenizer
from rlrewards.recipes.laser import laser_estimator, laser_self_reward_loss
from rlrewards.rewards import build_reward_functions
from rlrewards.tasks.arith import ArithTask
from rlrewards.trainer import RecipeGRPOTrainer

_CAN_DEFER = RecipeGRPOTrainer._can_defer_estimator


def run(recipe: str, steps: int, batch: int, generations: int, length: int) -> list[float]:
    from trl import GRPOConfig

    torch.manual_seed(0)
    tokenizer = build_tiny_tokenizer()
    model = build_tiny_model(
        tokenizer, hidden_size=96, num_layers=4, num_heads=4, num_kv_heads=2, intermediate_size=288
    )
    dataset = ArithTask(split_sizes={"train": 2000, "validation": 4, "test": 4}).load_split("train")
    rewards, weights = build_reward_functions({"accuracy": {"fn": "accuracy", "weight": 1.0}})
    extra = {}
    RecipeGRPOTrainer._can_defer_estimator = (lambda self: False) if recipe == "laser_no_defer" else _CAN_DEFER
    if recipe != "grpo":
        extra = dict(
            advantage_estimator=laser_estimator(
                c_ref="auto", reasoning_warmup=0, self_reward_warmup=0, mix=recipe != "laser_swa", std_threshold=0.0
            ),
            aux_loss=laser_self_reward_loss(beta_v=0.1),
            aux_loss_coef=0.1,
            aux_loss_name="laser_self_reward",
            slot_token_id=tokenizer.convert_tokens_to_ids(RESERVED[0]),
        )
    with tempfile.TemporaryDirectory() as out:
        args = GRPOConfig(
            output_dir=out,
            use_cpu=True,
            bf16=False,
            max_steps=steps,
            per_device_train_batch_size=batch,
            num_generations=generations,
            max_completion_length=length,
            learning_rate=1e-5,
            logging_steps=1,
            report_to=[],
            save_strategy="no",
            seed=0,
            disable_tqdm=True,
            reward_weights=weights,
            # every completion runs to the length limit, so each recipe generates and trains on the same tokens
            generation_kwargs={"min_new_tokens": length},
        )
        trainer = RecipeGRPOTrainer(
            model=model,
            reward_funcs=rewards,
            args=args,
            train_dataset=dataset.remove_columns(["completion"]),
            processing_class=tokenizer,
            **extra,
        )
        trainer.remove_callback(PrinterCallback)
        trainer.train()
    return [entry["step_time"] for entry in trainer.state.log_history if "step_time" in entry]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5, help="first steps left out of the median")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--generations", type=int, default=8)
    parser.add_argument("--length", type=int, default=48)
    parser.add_argument("--no-defer", action="store_true", help="also time mixing through an extra no-grad forward")
    parser.add_argument("--repeats", type=int, default=2, help="runs per recipe, interleaved, step times pooled")
    args = parser.parse_args()
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads; {args.steps} steps of {args.batch} completions"
    )
    medians = {}
    recipes = ("grpo", "laser_swa", "laser") + (("laser_no_defer",) if args.no_defer else ())
    times: dict[str, list[float]] = {recipe: [] for recipe in recipes}
    for _ in range(args.repeats):  # interleaved, so slow drifts of the machine hit every recipe alike
        for recipe in recipes:
            times[recipe] += run(recipe, args.steps, args.batch, args.generations, args.length)[args.warmup :]
    medians = {}
    for recipe in recipes:
        medians[recipe] = statistics.median(times[recipe])
        print(f"{recipe:<14} median step {medians[recipe] * 1e3:7.1f} ms over {len(times[recipe])} steps", flush=True)
    for recipe in recipes[1:]:
        print(f"ratio {recipe}/grpo: {medians[recipe] / medians['grpo']:.3f}")


if __name__ == "__main__":
    main()
