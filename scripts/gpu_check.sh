#!/usr/bin/env bash
# Step time and peak GPU memory of every recipe against GRPO, a few steps each, on one GPU with no network:
# a random-init model of Qwen2.5-0.5B's shape (conf/model/qwen2.5-0.5b-shape.yaml), arith prompts, every completion
# generated to the same length so that the recipes do the same generation work, DeepSpeed ZeRO-2 through
# rlrewards-launch. Prints one row per recipe and the ratio to GRPO (scripts/gpu_check_report.py).
#
#   scripts/gpu_check.sh            # GPU: ZeRO-2, bf16, 8 steps, 256-token completions (meant to finish in 8 min)
#   scripts/gpu_check.sh --cpu      # the same path on CPU with the demo's tiny model, 3 steps (a smoke test)
#
# OUT (default outputs/gpu_check) receives one run directory per recipe. Targets (the scale-out issue): tempo and
# rlcr at most 1.02 x GRPO, laser at most 1.05, pure at most the PRM's forward plus 2%.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
OUT=${OUT:-outputs/gpu_check}
RECIPES=${RECIPES:-grpo tempo rlcr laser pure}

if [ "${1:-}" = "--cpu" ]; then
  launch=(--cpu --num_processes 1)
  run=(model=tiny model.warm_start.enabled=false trainer=demo trainer.max_steps=3 trainer.per_device_train_batch_size=16
       trainer.num_generations=4 trainer.max_completion_length=24 "+trainer.generation_kwargs={min_new_tokens:24}")
else
  launch=(--config_file conf/accelerate/zero2.yaml --num_processes 1)
  run=(model=qwen2.5-0.5b-shape trainer=demo trainer.use_cpu=false trainer.bf16=true trainer.max_steps=8
       trainer.per_device_train_batch_size=64 trainer.num_generations=8 trainer.max_completion_length=256
       "+trainer.generation_kwargs={min_new_tokens:256}")
fi
common=(logger=none save_model=false evaluation.before_training=false evaluation.limit=8
        "~evaluation.decodings.sampled" trainer.logging_steps=1 "paths.log_dir=$OUT")

mkdir -p "$OUT"
for recipe in $RECIPES; do
  extra=()
  if [ "$recipe" = laser ]; then  # every LaSeR phase from the first step: loss and mixing
    extra=(recipe.advantage.kwargs.reasoning_warmup=0 recipe.advantage.kwargs.self_reward_warmup=0)
  fi
  echo "== $recipe"
  RLREWARDS_RUN_ID="gpu_check" "$PYTHON" -m rlrewards.launch "${launch[@]}" -- \
    "recipe=$recipe" "${run[@]}" "${common[@]}" "${extra[@]}" "run_name=$recipe" > "$OUT/$recipe.log" 2>&1 \
    || { echo "$recipe failed; see $OUT/$recipe.log"; tail -20 "$OUT/$recipe.log"; exit 1; }
done
"$PYTHON" scripts/gpu_check_report.py "$OUT" $RECIPES
