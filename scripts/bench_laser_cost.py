"""Step-time cost of LaSeR over GRPO on the demo model (the paper's promise: one extra token).

    python scripts/bench_laser_cost.py --steps 30

Trains the tiny demo model (random init, arith prompts) with the same seed and settings under three recipes:
``grpo``, ``laser_swa`` (self-reward loss only: the z_c slot rides in the policy forward) and ``laser`` (loss plus
advantage mixing, which on an on-policy run needs one extra no-grad forward per generation batch), with both
LaSeR phases active from the first step. Prints the median of TRL's per-step ``step_time`` (generation included)
after a warm-up, and the ratios to GRPO. Asserts nothing about time.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile

import torch

from rlrewards.models.tiny import RESERVED, build_tiny_model, build_tiny_tokenizer
from rlrewards.recipes.laser import laser_estimator, laser_self_reward_loss
from rlrewards.rewards import build_reward_functions
from rlrewards.tasks.arith import ArithTask
from rlrewards.trainer import RecipeGRPOTrainer


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
    if recipe != "grpo":
        extra = dict(
            advantage_estimator=laser_estimator(
                c_ref="auto", reasoning_warmup=0, self_reward_warmup=0, mix=recipe == "laser", std_threshold=0.0
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
        )
        trainer = RecipeGRPOTrainer(
            model=model,
            reward_funcs=rewards,
            args=args,
            train_dataset=dataset.remove_columns(["completion"]),
            processing_class=tokenizer,
            **extra,
        )
        trainer.train()
    return [entry["step_time"] for entry in trainer.state.log_history if "step_time" in entry]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5, help="first steps left out of the median")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--generations", type=int, default=8)
    parser.add_argument("--length", type=int, default=48)
    args = parser.parse_args()
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads; {args.steps} steps of {args.batch} completions"
    )
    medians = {}
    for recipe in ("grpo", "laser_swa", "laser"):
        times = run(recipe, args.steps, args.batch, args.generations, args.length)[args.warmup :]
        medians[recipe] = statistics.median(times)
        print(f"{recipe:<10} median step {medians[recipe] * 1e3:7.1f} ms over {len(times)} steps", flush=True)
    for recipe in ("laser_swa", "laser"):
        print(f"ratio {recipe}/grpo: {medians[recipe] / medians['grpo']:.3f}")


if __name__ == "__main__":
    main()
