"""What the rehearsal runs: every ``conf/experiment/**.yaml`` (found in the folder, no list), and the scaled-down
overrides that turn one into a CPU run of a few seconds. Sizes only: recipe, trainer, task, answer format,
rewards, estimator, auxiliary loss and evaluation suite stay as the experiment configures them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from rlrewards.train import CONFIG_DIR

EXPERIMENTS_DIR = Path(CONFIG_DIR) / "experiment"
SUITES_DIR = Path(CONFIG_DIR) / "suite"


@dataclass(frozen=True)
class Sizes:
    """The rehearsal's scale: the smallest numbers that still exercise every code path. Two prompts of two
    generations (group statistics need two of each); short completions, since the stand-ins' text is noise anyway."""

    prompts_per_step: int = 2
    generations: int = 2
    completion_tokens: int = 16
    steps: int = 2
    steps_with_schedule: int = 3  # a warm-up set to 1 switches its part on at step 1; the third step runs with it
    eval_problems: int = 4
    eval_samples: int = 2
    warm_start_steps: int = 2


SIZES = Sizes()


def discover_experiments(only: str | None = None) -> list[str]:
    """Every experiment name (path under conf/experiment/ without .yaml), sorted; ``only``: a name prefix."""
    names = sorted(str(p.relative_to(EXPERIMENTS_DIR).with_suffix("")) for p in EXPERIMENTS_DIR.rglob("*.yaml"))
    return [name for name in names if not only or name.startswith(only)]


@dataclass(frozen=True)
class EvaluationOnly:
    """An ``evaluate_only`` row's evaluation (``rlrewards-eval base_experiment=X`` or ``base_model=M``, with its
    suite): a paper's base-model rows, and the rows of a paper that trains nothing."""

    paper: str
    key: str  # "base_experiment" or "base_model"
    value: str
    suite: str | None

    @property
    def name(self) -> str:
        own_suite = f" suite={self.suite}" if self.suite and self.suite != self.paper else ""
        return f"{self.paper}:{self.key}={self.value}{own_suite}"


def discover_evaluations(only: str | None = None) -> list[EvaluationOnly]:
    """Every distinct evaluation of the ``evaluate_only`` rows of results/papers/ (found there, no list);
    ``only``: a name prefix (``nsr`` matches ``nsr:base_experiment=...``)."""
    from rlrewards.reporting.paper import PAPERS_DIR, row_suite

    found: dict[str, EvaluationOnly] = {}
    for path in sorted(PAPERS_DIR.glob("*.yaml")):
        for row in yaml.safe_load(path.read_text()).get("reproduce") or []:
            if not row.get("evaluate_only"):
                continue
            sources = [("base_experiment", e) for e in row.get("experiments") or []]
            sources += [("base_model", row["base_model"])] if row.get("base_model") else []
            for key, value in sources:
                target = EvaluationOnly(path.stem, key, str(value), row_suite(path.stem, row, SUITES_DIR))
                found.setdefault(target.name, target)
    return [target for name, target in sorted(found.items()) if not only or name.startswith(only)]


def is_paper_experiment(experiment: str) -> bool:
    """A paper experiment declares the GPUs of the paper's runs (``resources.gpus``); the CPU demos do not."""
    data = yaml.safe_load((EXPERIMENTS_DIR / f"{experiment}.yaml").read_text()) or {}
    return int((data.get("resources") or {}).get("gpus") or 0) > 0


def representatives() -> list[str]:
    """One experiment per recipe folder: its first paper experiment (what the default test run rehearses)."""
    chosen: dict[str, str] = {}
    for name in discover_experiments():
        folder = name.split("/", 1)[0]
        if folder not in chosen and is_paper_experiment(name):
            chosen[folder] = name
    return list(chosen.values())


def suite_of(experiment: str) -> str | None:
    """The paper's evaluation suite, as ``make reproduce`` picks it: the suite its paper's ``reproduce`` row names
    (results/papers/, e.g. nsr_qwen3 for the NSR Qwen3-4B runs), else conf/suite/<recipe folder>.yaml if it exists."""
    from rlrewards.reporting.paper import row_suite, row_suites

    if experiment in (named := row_suites()):
        return named[experiment][1]
    return row_suite(experiment.split("/", 1)[0], {}, SUITES_DIR)


def warmup_paths(node: Mapping, prefix: str = "recipe") -> list[str]:
    """Dotted paths of the positive ``*_warmup`` settings under ``recipe`` (steps at which a part switches on)."""
    found = []
    for key, value in node.items():
        path = f"{prefix}.{key}"
        if isinstance(value, Mapping):
            found += warmup_paths(value, path)
        elif str(key).endswith("_warmup") and isinstance(value, int) and not isinstance(value, bool) and value > 0:
            found.append(path)
    return found


def train_overrides(
    trainer: Mapping, recipe: Mapping, evaluation: Mapping, train_rows: int | None = None, sizes: Sizes = SIZES
) -> dict[str, Any]:
    """Dotted key -> value that scale one composed experiment down (``trainer``/``recipe``/``evaluation``: its
    composed nodes). ``train_rows``: the size of a fixture train split, when it holds fewer prompts than a step takes
    (TRL drops an incomplete batch: the run would train no step at all)."""
    prompts = min(sizes.prompts_per_step, train_rows) if train_rows else sizes.prompts_per_step
    batch = prompts * sizes.generations
    warmups = warmup_paths(recipe)
    values: dict[str, Any] = {
        "trainer.max_steps": sizes.steps_with_schedule if warmups else sizes.steps,
        "trainer.num_generations": sizes.generations,
        "trainer.per_device_train_batch_size": batch,
        "trainer.gradient_accumulation_steps": 1,
        "trainer.max_completion_length": sizes.completion_tokens,
        "trainer.use_cpu": True,
        "trainer.bf16": False,
        "trainer.logging_steps": 1,
        "trainer.dataloader_num_workers": 0,
        "trainer.disable_tqdm": True,
        "resources.completions_per_step": batch,  # the paper-batch derivation still runs: 1 accumulation step
        "evaluation.limit": sizes.eval_problems,
        "evaluation.max_new_tokens": sizes.completion_tokens,
        **capped_decodings(evaluation.get("decodings"), "evaluation.decodings", sizes),
        **capped_probes(evaluation.get("probes"), "evaluation.probes", sizes),
        **{path: 1 for path in warmups},
    }
    if trainer.get("generation_batch_size") is not None:
        values["trainer.generation_batch_size"] = batch
    if trainer.get("steps_per_generation") is not None:
        values["trainer.steps_per_generation"] = 1
    return values


def capped_decodings(decodings: Mapping | None, prefix: str, sizes: Sizes = SIZES) -> dict[str, Any]:
    """``<prefix>.<decoding>.num_samples`` capped at ``sizes.eval_samples`` (a pass@k over 256 samples needs 2)."""
    return {
        f"{prefix}.{name}.num_samples": min(int(spec.get("num_samples", 1)), sizes.eval_samples)
        for name, spec in (decodings or {}).items()
    }


def capped_probes(probes: Mapping | None, prefix: str, sizes: Sizes = SIZES) -> dict[str, Any]:
    """RLCR's answer/confidence probes (``<prefix>.answer_tokens``, ``confidence_tokens``) at the rehearsal's
    completion length."""
    return {
        f"{prefix}.{key}": min(int(value), sizes.completion_tokens)
        for key, value in (probes or {}).items()
        if key.endswith("_tokens") and value is not None
    }


def capped_usc(usc: Any, sizes: Sizes = SIZES) -> dict[str, Any]:
    """Universal self-consistency's N (``usc.sizes``, or the hook's defaults) capped at the capped sample count, so
    that it still runs; ``usc: true`` (the hook's shorthand for its defaults) is replaced whole."""
    spec = {"enabled": True} if usc is True else usc
    if not isinstance(spec, Mapping) or not spec.get("enabled", True):
        return {}
    if not spec.get("sizes"):
        from rlrewards.eval.usc_eval import DEFAULT_SIZES  # only here: the evaluation modules load torch

        spec = {**spec, "sizes": DEFAULT_SIZES}
    capped = sorted({min(int(size), sizes.eval_samples) for size in spec["sizes"]})
    return {"usc.sizes": capped} if isinstance(usc, Mapping) else {"usc": {"enabled": True, "sizes": capped}}


def eval_overrides(eval_cfg: Mapping, sizes: Sizes = SIZES) -> dict[str, Any]:
    """Dotted key -> value that scale a composed ``rlrewards-eval`` config (with its suite) down."""
    values: dict[str, Any] = {
        "limit": sizes.eval_problems,
        "max_new_tokens": sizes.completion_tokens,
        "progress": False,
        "bootstrap_resamples": 20,
        **capped_decodings(eval_cfg.get("decodings"), "decodings", sizes),
        **capped_probes(eval_cfg.get("probes"), "probes", sizes),
        **capped_usc(eval_cfg.get("usc"), sizes),
    }
    for name, spec in (eval_cfg.get("benchmarks") or {}).items():
        spec = spec or {}
        values[f"benchmarks.{name}.limit"] = sizes.eval_problems
        values[f"benchmarks.{name}.max_new_tokens"] = sizes.completion_tokens
        values.update(capped_decodings(spec.get("decodings"), f"benchmarks.{name}.decodings", sizes))
    return values
