"""Print the exact commands that reproduce a paper's rows: train (with the GPU count each run needs) and evaluate.

    python -m rlrewards.reporting.reproduce pure    # or: make reproduce PAPER=pure (scripts/reproduce.py wraps it)

Reads ``results/papers/<paper>.yaml`` (its ``reproduce`` list maps table rows to experiment files) and composes each
experiment to read ``resources``: the GPU count of the paper's runs. The run itself derives its gradient accumulation
from the paper's completions per optimizer step and its number of processes (rlrewards/plan.py); the comment above
each command shows that derivation for the paper's GPU count. Runs on one GPU use ``rlrewards-train``; larger
ones ``rlrewards-launch`` (``accelerate launch``) with that many processes and the ZeRO-2 config. Evaluation uses
the row's ``suite`` where the paper file names one for it (the NSR paper's Qwen3-4B rows: ``suite=nsr_qwen3``), else
the paper's suite (``conf/suite/<paper>.yaml``) when there is one, else the run's own task. A row with
``evaluate_only: true`` (a paper's "base model" row) trains nothing: its command evaluates the experiment's model as
it starts (``rlrewards-eval base_experiment=<experiment>``), or the row's ``base_model`` (a conf/model option, for a
paper that trains nothing: ``rlrewards-eval base_model=<option>``). Runs nothing.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from rlrewards.config import ConfigError
from rlrewards.context import check_context
from rlrewards.plan import apply_paper_batch, build_plan
from rlrewards.reporting.paper import row_suite

ROOT = Path(__file__).resolve().parents[2]
CONF = ROOT / "conf"


def experiment_plan(experiment: str) -> tuple[int, dict]:
    """(GPU count of the paper's runs, the run's plan on that many processes: rlrewards.plan, the same derivation of
    the accumulation from resources.completions_per_step that the run itself does)."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(config_name="train", overrides=[f"experiment={experiment}"])
    gpus = int(cfg.resources.gpus)
    world = max(gpus, 1)
    try:
        apply_paper_batch(cfg, world, explicit=set())
        check_context(cfg)
        return gpus, build_plan(cfg, world, experiment)
    except ConfigError as err:
        raise SystemExit(f"{experiment} on {world} GPUs: {err}") from None


def train_command(experiment: str, gpus: int, seed: int) -> str:
    """No batch overrides: the run derives its accumulation from the paper's batch and its number of processes."""
    run_dir = f"outputs/reproduce/{experiment.replace('/', '_')}-s{seed}"
    args = f"experiment={experiment} seed={seed} hydra.run.dir={run_dir}"
    if gpus <= 1:
        return f"rlrewards-train {args}"
    return f"rlrewards-launch --config_file conf/accelerate/zero2.yaml --num_processes {gpus} -- {args}"


def batch_line(gpus: int, plan: dict) -> str:
    return (
        f"{gpus} GPU{'s' if gpus != 1 else ''}: {plan['per_device_train_batch_size']} per device x "
        f"{plan['world_size']} x {plan['gradient_accumulation_steps']} accumulation = "
        f"{plan['completions_per_step']} completions per step, "
        f"{plan['updates_per_generation']} update(s) per generation"
    )


def commands(paper: str, seed: int = 0) -> list[str]:
    path = ROOT / "results" / "papers" / f"{paper}.yaml"
    if not path.exists():
        known = sorted(p.stem for p in path.parent.glob("*.yaml"))
        raise SystemExit(f"no reference tables for {paper!r}; known: {', '.join(known)}")
    data = yaml.safe_load(path.read_text())
    lines = [f"# {data['paper']}"]
    for row in data.get("reproduce", []):
        suite = f" suite={name}" if (name := row_suite(paper, row)) else ""
        lines.append(f"\n# {row['table']}: {row['model']} {row['method']}")
        if row.get("evaluate_only"):
            for experiment in row.get("experiments") or []:
                lines.append(f"#   {experiment}: no training, its model as it starts")
                lines.append(f"rlrewards-eval base_experiment={experiment} seed={seed}{suite}")
            if row.get("base_model"):
                lines.append(f"#   conf/model/{row['base_model']}.yaml: no training")
                lines.append(f"rlrewards-eval base_model={row['base_model']} seed={seed}{suite}")
            continue
        for experiment in row["experiments"]:
            gpus, plan = experiment_plan(experiment)
            lines.append(f"#   {experiment}: {batch_line(gpus, plan)}")
            lines.append(train_command(experiment, gpus, seed))
            run_dir = f"outputs/reproduce/{experiment.replace('/', '_')}-s{seed}"
            lines.append(f"rlrewards-eval run_dir={run_dir}{suite}")
    return once(lines)


def once(lines: list[str]) -> list[str]:
    """Each evaluation command once: rows that one evaluation serves (a paper's methods read from the same samples)
    point back to it instead of repeating it."""
    seen: set[str] = set()
    kept = []
    for line in lines:
        if line.startswith("rlrewards-eval") and line in seen:
            kept.append(f"#   (the same command as above: {line})")
            continue
        seen.add(line)
        kept.append(line)
    return kept


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paper")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print("\n".join(commands(args.paper, args.seed)))


if __name__ == "__main__":
    sys.exit(main())
