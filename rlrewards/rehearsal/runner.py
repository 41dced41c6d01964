"""Rehearse one experiment: compose it with Hydra's compose API as ``rlrewards-train experiment=<name>`` would, swap
in the stand-ins (model directory, PRM directory, fixtures) and the scaled-down sizes as overrides, train through
``rlrewards.pipeline.run``, then evaluate the saved model with its paper's suite through
``rlrewards.evaluate.evaluate_run``; all in this process (a CLI start-up costs seconds per experiment). An
evaluation-only row (``rlrewards-eval base_experiment=`` / ``base_model=``) is rehearsed the same way with its
model's stand-in as ``checkpoint=``."""

from __future__ import annotations

import shutil
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf, open_dict

from rlrewards.rehearsal import standins
from rlrewards.rehearsal.plan import CONFIG_DIR, SIZES, EvaluationOnly, eval_overrides, suite_of, train_overrides


@dataclass
class Outcome:
    status: str  # "pass" or "fail"
    seconds: float
    error: str | None = None


class StandInCache:
    """Stand-in directories built once per process under ``root`` (a family's policy, per extra slot token)."""

    def __init__(self, root: Path):
        self.root = root
        self.built: dict[tuple, Path] = {}

    def policy(self, model_name: str, extra_special: tuple[str, ...]) -> Path:
        key = ("policy", standins.family_of(model_name), extra_special)
        if key not in self.built:
            slug = "".join(c if c.isalnum() else "_" for c in "-".join(extra_special))
            directory = self.root / f"{key[1]}-{slug}" if slug else self.root / key[1]
            self.built[key] = standins.save_policy(model_name, directory, extra_special)
        return self.built[key]

    def prm(self) -> Path:
        if ("prm",) not in self.built:
            self.built[("prm",)] = standins.save_prm(self.root / "prm")
        return self.built[("prm",)]


def compose_config(config_name: str, overrides: list[str], output_dir: Path) -> DictConfig:
    """The composed config, with Hydra's runtime registered as a launched job would have it (the pipeline reads the
    experiment choice and the command-line keys from it)."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose(config_name=config_name, overrides=overrides, return_hydra_config=True)
    with open_dict(cfg):
        cfg.hydra.runtime.output_dir = str(output_dir)
        cfg.paths.output_dir = str(output_dir)
    HydraConfig.instance().set_config(cfg)
    with open_dict(cfg):
        del cfg["hydra"]
    return cfg


def as_overrides(values: dict[str, Any]) -> list[str]:
    """``++key=value`` (set or add), values quoted so paths and special tokens reach the config verbatim."""

    def literal(value: Any) -> str:
        if isinstance(value, bool):
            return str(value).lower()
        if isinstance(value, int | float):
            return str(value)
        if isinstance(value, list):
            return "[" + ",".join(literal(item) for item in value) + "]"
        if isinstance(value, dict):  # replaces the node whole: ++usc={enabled:true,sizes:[2]} where usc was true
            return "{" + ",".join(f"{key}:{literal(item)}" for key, item in value.items()) + "}"
        return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"

    return [f"++{key}={literal(value)}" for key, value in values.items()]


def hub_split(selection: str) -> str:
    """``"test[:100]"`` -> ``"test"``: the hub split a task's ``splits`` entry reads."""
    return str(selection).split("[", 1)[0]


def fixtures_read(hub_path: str, selections) -> dict[str, str]:
    """The fixture files of the hub splits the task reads, and no others: ``load_dataset("json")`` casts every
    file to one schema, and an unread split may not match (MedMCQA's test split has no answers)."""
    wanted = {hub_split(selection) for selection in selections}
    return {split: file for split, file in standins.fixture_files(hub_path).items() if split in wanted}


def data_overrides(task: DictConfig, prefix: str = "task") -> dict[str, Any]:
    """``data_files`` of a hub task (and of its ``split_sources``) pointed at the committed fixtures."""
    if task.get("path") is None:
        return {}  # a generated task (arith)
    sources = task.get("split_sources") or {}
    own = [selection for split, selection in task.splits.items() if split not in sources]
    values = {f"{prefix}.data_files.{split}": file for split, file in fixtures_read(task.path, own).items()}
    for split, source in sources.items():
        for name, file in fixtures_read(source.path, [task.splits[split]]).items():
            values[f"{prefix}.split_sources.{split}.data_files.{name}"] = file
    return values


def model_overrides(cfg: DictConfig, cache: StandInCache) -> dict[str, Any]:
    """A pretrained model becomes its family's stand-in; the embedded tiny model's SFT warm start gets short."""
    model = cfg.model
    if model.source == "pretrained":
        slot = cfg.recipe.get("slot_token")
        extra = (str(slot),) if slot else ()
        return {"model.name_or_path": str(cache.policy(str(model.name), extra))}
    if (model.get("warm_start") or {}).get("enabled"):
        return {"model.warm_start.max_steps": SIZES.warm_start_steps, "model.warm_start.num_examples": 16}
    return {}


def prm_overrides(recipe: DictConfig, cache: StandInCache) -> dict[str, Any]:
    """A Hugging Face PRM (``recipe.prm.kwargs.model``) becomes the tiny token-classification stand-in, on the CPU."""
    kwargs = (recipe.get("prm") or {}).get("kwargs") or {}
    if "model" not in kwargs:
        return {}
    values = {"recipe.prm.kwargs.model": str(cache.prm())}
    if "device" in kwargs:
        values["recipe.prm.kwargs.device"] = "cpu"
    return values


def count_rows(jsonl_file: str | None) -> int | None:
    return sum(1 for line in Path(jsonl_file).read_text().splitlines() if line.strip()) if jsonl_file else None


def rehearsal_train_config(experiment: str, run_dir: Path, cache: StandInCache) -> DictConfig:
    """``experiment`` composed twice: as configured (to read what to scale), then with the rehearsal's overrides."""
    base = [f"experiment={experiment}", "logger=none", f"++paths.cache_dir={cache.root / 'cache'}"]
    plain = compose_config("train", base, run_dir)
    data = data_overrides(plain.task)
    rows = count_rows(data.get("task.data_files.train"))
    values = {
        **train_overrides(plain.trainer, OmegaConf.to_container(plain.recipe), plain.evaluation, rows),
        **model_overrides(plain, cache),
        **prm_overrides(plain.recipe, cache),
        **data,
    }
    return compose_config("train", base + as_overrides(values), run_dir)


def benchmark_data_overrides(eval_cfg: DictConfig) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, spec in (eval_cfg.get("benchmarks") or {}).items():
        option = str((spec or {}).get("task") or name)
        task = OmegaConf.load(Path(CONFIG_DIR) / "task" / f"{option}.yaml")
        values.update(data_overrides(task, f"benchmarks.{name}.task_overrides"))
    return values


def rehearsal_eval_config(experiment: str, run_dir: Path) -> DictConfig:
    suite = suite_of(experiment)
    base = [f"run_dir={run_dir}", *([f"suite={suite}"] if suite else [])]
    out = run_dir / "rehearsal_eval"
    plain = compose_config("eval", base, out)
    values = {**eval_overrides(plain), **benchmark_data_overrides(plain)}
    return compose_config("eval", base + as_overrides(values), out)


def rehearse(experiment: str, outputs: Path, cache: StandInCache) -> Outcome:
    """Train and evaluate one experiment at rehearsal size; a failure is caught and named, never raised."""
    from rlrewards.evaluate import evaluate_run
    from rlrewards.pipeline import run
    from rlrewards.plan import check_run

    run_dir = outputs / "runs" / experiment
    shutil.rmtree(run_dir, ignore_errors=True)  # the rehearsal's own directory: a rerun starts afresh
    started = time.perf_counter()
    try:
        cfg = rehearsal_train_config(experiment, run_dir, cache)
        check_run(cfg)  # what rlrewards-train checks before it imports the pipeline
        run(cfg)
        require_steps(run_dir, int(cfg.trainer.max_steps))
        evaluate_run(rehearsal_eval_config(experiment, run_dir))
    except Exception as err:  # noqa: BLE001 - every failure is reported, the next experiment still runs
        traceback.print_exc()
        return Outcome("fail", time.perf_counter() - started, last_line(err))
    finally:  # later code in this process (other tests, the next experiment) must not see this job's Hydra state
        GlobalHydra.instance().clear()
        HydraConfig.instance().cfg = None
    return Outcome("pass", time.perf_counter() - started)


def evaluation_only_config(target: EvaluationOnly, out: Path, cache: StandInCache) -> DictConfig:
    """``rlrewards-eval <key>=<value> suite=<suite>`` with the stand-in of the model it names as ``checkpoint``
    (loaded as the real one would be: the experiment's chat template goes on its tokenizer) and fixture data."""
    from rlrewards.eval.source import untrained_config

    base = [f"{target.key}={target.value}", *([f"suite={target.suite}"] if target.suite else []), "cache_dir=null"]
    plain = compose_config("eval", base, out)
    if not plain.get("benchmarks"):
        raise ValueError(f"{target.name}: no suite with benchmarks; the rehearsal has no fixture for its own task")
    train_cfg = untrained_config(target.key, target.value)
    slot = train_cfg.recipe.get("slot_token")
    standin = cache.policy(str(train_cfg.model.name), (str(slot),) if slot else ())
    values = {**eval_overrides(plain), **benchmark_data_overrides(plain), "checkpoint": str(standin)}
    return compose_config("eval", base + as_overrides(values), out)


def rehearse_evaluation(target: EvaluationOnly, outputs: Path, cache: StandInCache) -> Outcome:
    """Evaluate one evaluation-only row at rehearsal size; a failure is caught and named, never raised."""
    from rlrewards.evaluate import evaluate_run

    out = outputs / "evals" / "".join(c if c.isalnum() or c in "-_." else "_" for c in target.name)
    shutil.rmtree(out, ignore_errors=True)
    started = time.perf_counter()
    try:
        evaluate_run(evaluation_only_config(target, out, cache))
    except Exception as err:  # noqa: BLE001 - as rehearse()
        traceback.print_exc()
        return Outcome("fail", time.perf_counter() - started, last_line(err))
    finally:
        GlobalHydra.instance().clear()
        HydraConfig.instance().cfg = None
    return Outcome("pass", time.perf_counter() - started)


def require_steps(run_dir: Path, planned: int) -> None:
    """A run that trained fewer optimizer steps than planned (an empty dataloader) has not rehearsed its recipe."""
    import json

    steps = json.loads((run_dir / "summary.json").read_text()).get("steps")
    if steps != planned:
        raise RuntimeError(f"trained {steps} optimizer steps, planned {planned}")


def last_line(err: BaseException) -> str:
    lines = "".join(traceback.format_exception_only(type(err), err)).strip().splitlines()
    return lines[-1] if lines else type(err).__name__
