"""The training pipeline behind ``rlrewards-train``: validate, load, evaluate, train with GRPO, evaluate, summarise.

Everything lands in the run directory: ``config.yaml`` (resolved), ``run_info.json`` (seed, versions, config
hash), ``metrics.jsonl``, ``eval/*.jsonl`` (per-sample records), ``summary.json`` and the final model.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from rlrewards.config import ConfigError, validate_config, validate_trainer_args
from rlrewards.eval.generation import decodings_from_config, evaluate_split
from rlrewards.eval.hooks import EvaluationHook, HookSetup, select_hooks
from rlrewards.eval.plots import reliability_diagrams
from rlrewards.models.loading import Policy, load_policy
from rlrewards.plan import apply_paper_batch
from rlrewards.resume import find_resume_point, rewind_metrics
from rlrewards.rewards import build_reward_functions
from rlrewards.rundir import (
    atomic_replace_dir,
    atomic_write_json,
    atomic_write_text,
    discard_unstarted_run,
    refuse_reused_run_dir,
)
from rlrewards.tasks.base import DatasetRowError
from rlrewards.tracking import JsonlMetricsCallback, Tracker, is_main_process
from rlrewards.trainer import ADVANTAGE_ESTIMATORS, AUX_LOSSES, RecipeGRPOTrainer, recipe_trainer_options
from rlrewards.trainer.hooks import build_component
from rlrewards.utils.repro import package_versions, seed_everything, stable_hash
from rlrewards.validation.heavy import build_grpo_config

log = logging.getLogger(__name__)

NEW_RUN_HINT = (
    "For a new run, unset RLREWARDS_RUN_ID (or export a new one) or choose another hydra.run.dir; to continue that "
    "run, add resume=auto (same overrides) or resume=<its directory>."
)


def run(cfg: DictConfig) -> float | None:
    run_dir = Path(cfg.paths.output_dir)
    try:
        apply_paper_batch(cfg)  # the paper's batch on this many processes, before GRPOConfig is built
        validate_config(cfg)
        validate_trainer_args(cfg)
        task = instantiate(cfg.task, _convert_="all")
        train_dataset = task.load_split("train")
        eval_dataset = _limit(task.load_split(cfg.evaluation.split), cfg.evaluation.get("limit"))
        evaluation_hooks(cfg)  # a bad setting of a recipe's evaluation hook fails here, before any model loads
    except (ConfigError, DatasetRowError, InstantiationException, TypeError, ValueError) as err:
        discard_unstarted_run(run_dir)
        raise ConfigError(str(err)) from err
    except BaseException:  # e.g. a hub dataset that cannot be reached offline, or Ctrl-C
        discard_unstarted_run(run_dir)
        raise

    started = time.perf_counter()
    resolved = OmegaConf.to_container(cfg, resolve=True)
    config_hash = stable_hash({k: v for k, v in resolved.items() if k not in ("paths", "logger", "resume")})
    try:
        resume_point = find_resume_point(cfg, run_dir, config_hash)
        if resume_point is None and is_main_process():  # before the model load: never mix two runs' files
            refuse_reused_run_dir(run_dir, NEW_RUN_HINT)
        seed_everything(int(cfg.seed))
        policy, trainer_options = load_before_training(cfg, task, train_dataset)
    except BaseException:  # nothing but Hydra's files is in the run directory yet
        discard_unstarted_run(run_dir)
        raise
    before: dict[str, Any] = {}
    if resume_point is None:
        write_run_files(run_dir, cfg, resolved, config_hash)
    else:
        if resume_point.run_dir.resolve() != run_dir.resolve():
            discard_unstarted_run(run_dir)  # Hydra's .hydra/ of this invocation; the run continues elsewhere
        run_dir = resume_point.run_dir
        before = rewind_metrics(run_dir / "metrics.jsonl", resume_point.step, write=is_main_process())
        print(f"Resuming {run_dir} from {resume_point.checkpoint.name}")

    experiment = experiment_choice()
    tracker = Tracker(run_dir, resolved["logger"], {**resolved, "experiment": experiment}, run_name=str(cfg.run_name))
    exit_code = 1
    try:
        summary = train_and_evaluate(
            cfg, task, policy, trainer_options, train_dataset, eval_dataset, run_dir, tracker, resume_point, before
        )
        summary.update(
            {"experiment": experiment, "config_hash": config_hash, "wall_time_s": time.perf_counter() - started}
        )
        if is_main_process():
            atomic_write_json(run_dir / "summary.json", summary)
            print_summary(summary)
        exit_code = 0
    finally:
        tracker.finish(exit_code)
    metric = cfg.get("optimized_metric")
    return float(summary[metric]) if metric and summary.get(metric) is not None else None


def load_before_training(cfg, task, train_dataset) -> tuple[Policy, dict[str, Any]]:
    """The model and tokenizer, and the recipe's trainer options resolved against that tokenizer
    (``recipe_trainer_options``): the last steps that can refuse a run, so they come before any run file is written
    (a failure leaves no run directory)."""
    load_start = time.perf_counter()
    policy = load_policy(cfg.model, task, cfg.paths.cache_dir, int(cfg.seed), train_dataset=train_dataset)
    policy.info["load_s"] = time.perf_counter() - load_start
    return policy, recipe_trainer_options(cfg.recipe, policy.tokenizer)


def train_and_evaluate(
    cfg,
    task,
    policy: Policy,
    trainer_options: dict[str, Any],
    train_dataset,
    eval_dataset,
    run_dir: Path,
    tracker: Tracker,
    resume_point=None,
    before=None,
) -> dict[str, Any]:
    recipe = cfg.recipe
    reward_funcs, reward_weights = build_reward_functions(OmegaConf.to_container(recipe.rewards, resolve=True))
    estimator = build_component(ADVANTAGE_ESTIMATORS, recipe.get("advantage"), "recipe.advantage")
    aux_spec = recipe.get("aux_loss")
    aux_loss = build_component(AUX_LOSSES, aux_spec, "recipe.aux_loss")

    summary: dict[str, Any] = {
        "recipe": recipe.name,
        "task": task.name,
        "model": cfg.model.name,
        "seed": int(cfg.seed),
        "model_load_s": policy.info.get("load_s"),
        "warm_start": policy.info.get("warm_start"),
    }

    if before:  # resumed: the before-RL evaluation was logged by the interrupted run
        summary.update(before)
    elif cfg.evaluation.before_training:
        summary.update(run_evaluation(cfg, policy, eval_dataset, run_dir, tracker, stage="before", step=0))

    args = build_grpo_config(cfg, run_dir, tracker.report_to, reward_weights)
    trainer = RecipeGRPOTrainer(
        model=policy.model,
        reward_funcs=reward_funcs,
        args=args,
        train_dataset=train_dataset.remove_columns([c for c in ("completion",) if c in train_dataset.column_names]),
        processing_class=policy.tokenizer,
        callbacks=[JsonlMetricsCallback(tracker)],
        advantage_estimator=estimator,
        aux_loss=aux_loss,
        aux_loss_coef=float(aux_spec.get("coef", 1.0)) if aux_spec else 0.0,
        aux_loss_name=str(aux_spec.get("name")) if aux_spec else "aux",
        **trainer_options,
    )
    train_start = time.perf_counter()
    result = trainer.train(resume_from_checkpoint=str(resume_point.checkpoint) if resume_point else None)
    summary.update(
        {
            "train_s": time.perf_counter() - train_start,
            "steps": int(result.global_step),
            "train/loss": float(result.training_loss),
        }
    )
    last_reward = _last_logged(trainer, "reward")
    if last_reward is not None:
        summary["train/reward_last"] = last_reward
    if cfg.get("save_model", True) and is_main_process():
        save_final_model(trainer, policy.tokenizer, run_dir / "model")
    summary.update(
        run_evaluation(
            cfg,
            policy,
            eval_dataset,
            run_dir,
            tracker,
            stage="after",
            step=int(result.global_step),
            recipe_state=trainer.recipe_state(),  # what the model was trained with (saved with it)
        )
    )
    return summary


def evaluation_hooks(cfg, recipe_state: dict[str, Any] | None = None) -> list[EvaluationHook]:
    """The recipes' evaluation hooks that apply to this run's evaluations (``rlrewards.eval.hooks``); after training,
    asked with the trainer's recipe state."""
    return select_hooks(HookSetup(run_config=cfg, recipe_state=recipe_state or {}))


def run_evaluation(
    cfg, policy, dataset, run_dir: Path, tracker: Tracker, stage: str, step: int, recipe_state: dict | None = None
) -> dict[str, float]:
    evaluation = cfg.evaluation
    decodings = decodings_from_config(evaluation.decodings, evaluation.max_new_tokens, evaluation.batch_size)
    start = time.perf_counter()
    metrics, records = evaluate_split(
        policy.model,
        policy.tokenizer,
        dataset,
        cfg.recipe.answer_format,
        decodings,
        seed=int(cfg.seed),
        hooks=evaluation_hooks(cfg, recipe_state),
    )
    prefix = "eval/before/" if stage == "before" else "eval/"
    named = {f"{prefix}{k}": v for k, v in metrics.items()}
    named[f"{prefix}seconds"] = time.perf_counter() - start
    if is_main_process():
        (run_dir / "eval").mkdir(exist_ok=True)
        with (run_dir / "eval" / f"{stage}.jsonl").open("w") as handle:
            for record in records:
                handle.write(json.dumps(record) + "\n")
        reliability_diagrams(records, run_dir / "eval", stage)
        tracker.log(named, step=step)
    return named


def write_run_files(run_dir: Path, cfg: DictConfig, resolved: dict, config_hash: str) -> None:
    """The run's config and facts, written by the main process only (the other ranks of a launch share the
    directory), and never into a directory that holds another run (``RLREWARDS_RUN_ID`` exported twice)."""
    if not is_main_process():
        return
    refuse_reused_run_dir(run_dir, NEW_RUN_HINT)
    atomic_write_text(run_dir / "config.yaml", OmegaConf.to_yaml(OmegaConf.create(resolved)))
    info = {
        "seed": int(cfg.seed),
        "experiment": experiment_choice(),
        "config_hash": config_hash,
        "command": " ".join(sys.argv),
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "versions": package_versions(),
    }
    atomic_write_json(run_dir / "run_info.json", info)


def save_final_model(trainer, tokenizer, target: Path) -> None:
    """Weights and tokenizer written aside and renamed into place: a kill leaves the old model/ or none."""

    def write(directory: Path) -> None:
        trainer.save_model(str(directory))
        tokenizer.save_pretrained(str(directory))

    atomic_replace_dir(target, write)


def experiment_choice() -> str | None:
    """The ``experiment=`` option the run was composed with (None without one, or outside a Hydra app); reports
    match runs to the paper rows they reproduce by it."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return None
    return HydraConfig.get().runtime.choices.get("experiment")


def print_summary(summary: dict[str, Any]) -> None:
    rows = sorted(
        {
            k.split("/")[-1]
            for k in summary
            if k.startswith("eval/") and k.split("/")[-1].startswith("accuracy_") and not k.endswith("stderr")
        }
    )
    lines = [f"{'metric':<22}{'before RL':>12}{'after RL':>12}"]
    for name in rows:
        before, after = summary.get(f"eval/before/{name}"), summary.get(f"eval/{name}")
        lines.append(f"{name:<22}{_fmt(before):>12}{_fmt(after):>12}")
    lines.append(
        f"steps={summary.get('steps')}  train={summary.get('train_s', 0):.0f}s  "
        f"wall={summary.get('wall_time_s', 0):.0f}s  config={summary.get('config_hash')}"
    )
    print("\n".join(lines))


def _fmt(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, float) else "-"


def _limit(dataset, limit):
    return dataset.select(range(min(int(limit), len(dataset)))) if limit else dataset


def _last_logged(trainer, key: str) -> float | None:
    for entry in reversed(trainer.state.log_history):
        if key in entry:
            return float(entry[key])
    return None
