"""Print the exact commands that reproduce a paper's rows: train (with the GPU count each run needs) and evaluate.

    python scripts/reproduce.py pure          # or: make reproduce PAPER=pure

Reads ``results/papers/<paper>.yaml`` (its ``reproduce`` list maps table rows to experiment files) and composes each
experiment to read ``resources``: the GPU count of the paper's runs and the completions per optimizer step, from
which the command sets the gradient accumulation for that GPU count. Runs on one GPU use ``rlrewards-train``; larger
ones ``rlrewards-launch`` (``accelerate launch``) with that many processes and the ZeRO-2 config. Evaluation uses
the paper's suite (``conf/suite/<paper>.yaml``) when there is one, else the run's own task. Runs nothing.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"


def experiment_resources(experiment: str) -> tuple[int, int | None]:
    """(GPU count, gradient accumulation that keeps the paper's completions per optimizer step on that many GPUs)."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(config_name="train", overrides=[f"experiment={experiment}"])
    gpus, total = int(cfg.resources.gpus), cfg.resources.get("completions_per_step")
    if not total:
        return gpus, None
    per_step = int(cfg.trainer.per_device_train_batch_size) * max(gpus, 1)
    if total % per_step:
        raise SystemExit(f"{experiment}: {total} completions per step do not split into {per_step} per micro-step")
    return gpus, total // per_step


def train_command(experiment: str, gpus: int, accumulation: int | None, seed: int) -> str:
    run_dir = f"outputs/reproduce/{experiment.replace('/', '_')}-s{seed}"
    args = f"experiment={experiment} seed={seed} hydra.run.dir={run_dir}"
    if accumulation:
        args += f" trainer.gradient_accumulation_steps={accumulation}"
    if gpus <= 1:
        return f"rlrewards-train {args}"
    return f"rlrewards-launch --config_file conf/accelerate/zero2.yaml --num_processes {gpus} -- {args}"


def commands(paper: str, seed: int = 0) -> list[str]:
    path = ROOT / "results" / "papers" / f"{paper}.yaml"
    if not path.exists():
        known = sorted(p.stem for p in path.parent.glob("*.yaml"))
        raise SystemExit(f"no reference tables for {paper!r}; known: {', '.join(known)}")
    data = yaml.safe_load(path.read_text())
    suite = f" suite={paper}" if (CONF / "suite" / f"{paper}.yaml").exists() else ""
    lines = [f"# {data['paper']}"]
    for row in data.get("reproduce", []):
        lines.append(f"\n# {row['table']}: {row['model']} {row['method']}")
        for experiment in row["experiments"]:
            gpus, accumulation = experiment_resources(experiment)
            lines.append(f"#   {experiment}: {gpus} GPU{'s' if gpus != 1 else ''}")
            lines.append(train_command(experiment, gpus, accumulation, seed))
            run_dir = f"outputs/reproduce/{experiment.replace('/', '_')}-s{seed}"
            lines.append(f"rlrewards-eval run_dir={run_dir}{suite}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paper")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print("\n".join(commands(args.paper, args.seed)))


if __name__ == "__main__":
    sys.exit(main())
