"""Finding finished runs and their evaluations on disk (or in a W&B project), as plain records for the reports.

A training run directory holds ``summary.json`` (with ``eval/<metric>`` on the run's own task), ``metrics.jsonl``
(the training curves) and ``eval/after.jsonl`` (per-sample records). An ``rlrewards-eval`` output directory holds
``metrics.json`` (one task's metrics, or ``{benchmark: metrics}`` for a suite) and Hydra's ``.hydra/config.yaml``,
whose ``run_dir`` names the training run it evaluated, or whose ``base_experiment`` names the experiment whose
untrained model it evaluated (or ``base_model`` the conf/model option: labelled ``model=<option>``): those become
evaluation-only runs (``Run.evaluation_only``), one per experiment, checkpoint and seed, which a paper's
``evaluate_only`` rows (its base-model rows) read.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from rlrewards.rundir import read_jsonl


@dataclass
class Run:
    """One finished training run: its summary, and per benchmark the metrics of its latest evaluation."""

    run_dir: Path | None
    summary: dict[str, Any]
    experiment: str | None
    evaluations: dict[str, dict[str, Any]] = field(default_factory=dict)
    evaluation_only: bool = False  # an experiment's untrained model (rlrewards-eval base_experiment=...)

    @property
    def label(self) -> str:
        return self.experiment or f"{self.summary.get('recipe')}/{self.summary.get('task')}"

    def benchmark_metric(self, benchmark: str, metric: str) -> float | None:
        """``metric`` on ``benchmark``: from an rlrewards-eval result, else from the training run's own final
        evaluation when ``benchmark`` is the task it trained on."""
        value = self.evaluations.get(benchmark, {}).get(metric)
        if value is None and benchmark == self.summary.get("task"):
            value = self.summary.get(f"eval/{metric}")
        return float(value) if isinstance(value, int | float) else None

    def curve(self, metric: str) -> list[tuple[int, float]]:
        """Every logged ``(step, value)`` of a training metric, from ``metrics.jsonl``."""
        path = self.run_dir / "metrics.jsonl" if self.run_dir else None
        if path is None or not path.exists():
            return []
        points = []
        for record in read_jsonl(path):  # a line a kill cut short is skipped
            if isinstance(record.get(metric), int | float):
                points.append((int(record["step"]), float(record[metric])))
        return points

    def eval_records(self, stage: str = "after") -> list[dict]:
        path = self.run_dir / "eval" / f"{stage}.jsonl" if self.run_dir else None
        if path is None or not path.exists():
            return []
        return read_jsonl(path)


def base_model_label(option: str) -> str:
    """How an evaluation of ``rlrewards-eval base_model=<option>`` is labelled in place of an experiment."""
    return f"model={option}"


def find_runs(paths: list[Path]) -> list[Run]:
    """Every training run below ``paths`` (a run directory, or a folder holding them), with the rlrewards-eval
    results found below ``paths`` attached to the run they evaluated."""
    runs: dict[Path, Run] = {}
    for summary_path in _below(paths, "summary.json"):
        run_dir = summary_path.parent.resolve()
        summary = json.loads(summary_path.read_text())
        runs[run_dir] = Run(run_dir, summary, summary.get("experiment") or _hydra_experiment(run_dir))
    base_runs: dict[tuple, Run] = {}
    evaluations = sorted(_evaluations(paths), key=lambda item: item[1].stat().st_mtime)
    for evaluated, metrics_path in evaluations:  # oldest first: a later evaluation of a benchmark replaces it
        if isinstance(evaluated, tuple):  # (base experiment, checkpoint, seed): no training run
            experiment, checkpoint, seed = evaluated
            summary = {"experiment": experiment, "checkpoint": checkpoint, "seed": seed}
            run = base_runs.setdefault(evaluated, Run(None, summary, experiment, evaluation_only=True))
        else:
            run = runs.get(evaluated)
        if run is None:
            continue
        metrics = json.loads(metrics_path.read_text())
        if "num_problems" in metrics:  # a single task (the run's own): file it under that task's name
            metrics = {str(metrics.get("task")): metrics}
        run.evaluations.update({name: values for name, values in metrics.items() if isinstance(values, dict)})
    return [*runs.values(), *base_runs.values()]


def unfinished_runs(paths: list[Path]) -> list[Path]:
    """Training run directories below ``paths`` without a ``summary.json``: sweep jobs that failed or were killed, or
    runs still going. A training directory holds ``run_info.json`` or Hydra's ``.hydra/config.yaml`` with a
    ``recipe`` (an rlrewards-eval directory's holds ``run_dir`` instead)."""
    found = [p.parent for p in _below(paths, "run_info.json")]
    for hydra_config in _below(paths, "config.yaml"):
        if hydra_config.parent.name == ".hydra" and "recipe" in OmegaConf.load(hydra_config):
            found.append(hydra_config.parent.parent)
    return sorted({path for path in found if not (path / "summary.json").exists()})


def _below(paths: list[Path], name: str) -> list[Path]:
    found = []
    for path in paths:
        if path.name == name and path.is_file():
            found.append(path)
        elif path.is_dir():
            found.extend(sorted(path.rglob(name)))
    return list(dict.fromkeys(found))


def _evaluations(paths: list[Path]) -> list[tuple[Path | tuple, Path]]:
    """(what was evaluated, metrics.json) for every rlrewards-eval output below ``paths``: the run is the saved
    ``run_dir`` of the evaluation's Hydra config, else the run whose ``model/`` the metrics name as checkpoint; an
    evaluation of a base experiment's model is ``(experiment, checkpoint, seed)``."""
    found: list[tuple[Path | tuple, Path]] = []
    for metrics_path in _below(paths, "metrics.json"):
        hydra_config = metrics_path.parent / ".hydra" / "config.yaml"
        config = OmegaConf.load(hydra_config) if hydra_config.exists() else None
        base = _base_label(config) if config is not None else None
        if base is not None:
            # the checkpoint the metrics record: the same model asked for by hub id or by default is one model
            checkpoint = _metrics_checkpoint(json.loads(metrics_path.read_text())) or config.get("checkpoint")
            found.append(((base, str(checkpoint), config.get("seed")), metrics_path))
            continue
        run_dir = config.get("run_dir") if config is not None else None
        if config is None:
            run_dir = _checkpoint_run_dir(json.loads(metrics_path.read_text()))
        if run_dir:
            found.append((Path(run_dir).resolve(), metrics_path))
    return found


def _base_label(config: Any) -> str | None:
    if config.get("base_experiment"):
        return str(config.base_experiment)
    return base_model_label(str(config.base_model)) if config.get("base_model") else None


def _metric_entries(metrics: dict[str, Any]) -> list[dict[str, Any]]:
    """A metrics.json's per-task entries: the single task's, or each benchmark's of a suite."""
    return [metrics] if "checkpoint" in metrics else [m for m in metrics.values() if isinstance(m, dict)]


def _metrics_checkpoint(metrics: dict[str, Any]) -> str | None:
    """The checkpoint an evaluation's metrics record (a single task's, or its first benchmark's)."""
    return next((str(entry["checkpoint"]) for entry in _metric_entries(metrics) if entry.get("checkpoint")), None)


def _checkpoint_run_dir(metrics: dict[str, Any]) -> Path | None:
    for entry in _metric_entries(metrics):
        checkpoint = Path(str(entry.get("checkpoint", "")))
        if checkpoint.name == "model" and (checkpoint.parent / "summary.json").exists():
            return checkpoint.parent
    return None


def _hydra_experiment(run_dir: Path) -> str | None:
    """The experiment option of runs written before summaries recorded it, from Hydra's saved choices."""
    hydra_file = run_dir / ".hydra" / "hydra.yaml"
    if not hydra_file.exists():
        return None
    choices = OmegaConf.load(hydra_file).hydra.runtime.get("choices", {})
    return choices.get("experiment")


def runs_from_wandb(project: str, api=None) -> list[Run]:
    """The finished runs of a W&B project (``entity/project``): summary metrics and the logged config's recipe,
    model, task, seed and experiment. Needs network access and a W&B login; curves and samples stay on W&B."""
    if api is None:
        import wandb

        api = wandb.Api()
    runs = []
    for remote in api.runs(project, filters={"state": "finished"}):
        config = dict(remote.config)
        summary = {k: v for k, v in dict(remote.summary).items() if not k.startswith("_")}
        for key in ("recipe", "model", "task"):
            value = config.get(key)
            summary.setdefault(key, value.get("name") if isinstance(value, dict) else value)
        summary.setdefault("seed", config.get("seed"))
        runs.append(Run(None, summary, config.get("experiment")))
    return runs
