"""``rlrewards-eval``: score a trained run's model on its task's held-out split, or on a suite of benchmarks.

Reads the run's saved ``config.yaml`` (task, answer format, system prompt), loads ``<run_dir>/model`` or
``checkpoint`` (with ``base_experiment=`` instead of ``run_dir=``: an experiment's untrained model,
``rlrewards.eval.source``), and writes per-sample ``samples.jsonl`` and ``metrics.json`` into the evaluation's own
output directory. With ``benchmarks`` (usually from ``suite=<paper>``), each benchmark is a ``conf/task/`` option
evaluated with its own decodings (e.g. LaSeR's n = 2 on MATH-500 and n = 32 on AIME), written under
``<output>/<benchmark>/``, and ``metrics.json`` maps benchmark -> metrics. Accuracy over n samples is avg@n (the
papers' Pass@1); with n > 1 samples the metrics also hold unbiased pass@k and maj@k for k = 1, 2, 4, ... up to n
(``pass_at_k.md`` and ``pass_at_k.png``: the pass@k curve per benchmark), and self-certainty Best-of-N and Borda
voting (``bon_sc@k``, ``borda_sc@k``; ``rlrewards.eval.self_certainty_eval``). Every rate has a
``<metric>_stderr`` next to it.

Finished samples are cached under ``cache_dir`` (default ``<run_dir>/eval_cache``; for ``base_experiment=``,
``<paths.cache_dir>/eval_cache``), keyed by the checkpoint's
identity, the chat-templated prompt, the decoding, the seed and the backend: running the same evaluation twice
generates nothing the second time, and a killed evaluation resumes from its last finished batch. ``backend=vllm``
generates, and runs the recipes' evaluation hooks (``rlrewards.eval.hooks``), with vLLM instead of HF (untested
here: vllm is not installed on our machines); self-certainty there needs ``self_certainty.vllm_hf_scoring`` (an HF
copy of the checkpoint beside the engine, loaded at the first scoring; ``vllm.gpu_memory_utilization`` leaves it room).
"""

from __future__ import annotations

import logging
import math
import string
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from rlrewards.config import ConfigError
from rlrewards.eval.cache import SampleCache, checkpoint_identity
from rlrewards.eval.certainty import lazy_hf_self_certainty
from rlrewards.eval.curves import write_pass_at_k
from rlrewards.eval.generation import Engine, decodings_from_config, evaluate_split, hf_engine
from rlrewards.eval.hooks import EvaluationHook, HookSetup, select_hooks
from rlrewards.eval.plots import reliability_diagrams
from rlrewards.eval.self_certainty_eval import wants_hf_scoring
from rlrewards.eval.source import EvaluatedModel, evaluated_model, sample_cache_dir
from rlrewards.models.loading import load_pretrained, load_tokenizer
from rlrewards.rundir import atomic_write_json, atomic_write_lines, refuse_reused_run_dir, require_writable_dir
from rlrewards.train import CONFIG_DIR
from rlrewards.trainer.recipe_trainer import load_recipe_state
from rlrewards.validation.settings import validate_decoding

logger = logging.getLogger(__name__)

BACKENDS = ("hf", "vllm")


@dataclass
class Generation:
    """What every task of one evaluation generates and scores with."""

    engine: Engine  # sampling and what the hooks run on it, all on the chosen backend
    tokenizer: Any
    cache: SampleCache | None
    hooks: list[EvaluationHook]  # the recipes' hooks that apply to this evaluation (rlrewards.eval.hooks)


def evaluate_run(cfg: DictConfig) -> dict[str, Any]:
    evaluated = evaluated_model(cfg)  # a run (run_dir=...) or an experiment's untrained model (base_experiment=...)
    train_cfg, run_dir, checkpoint = evaluated.train_config, evaluated.run_dir, evaluated.checkpoint
    backend = str(cfg.get("backend") or "hf")
    if backend not in BACKENDS:
        raise ConfigError(f"backend={backend!r}. Known: {', '.join(BACKENDS)}")
    vllm_options(cfg)  # checked whatever the backend: a bad value fails before any model loads
    wants_hf_scoring(cfg.get("self_certainty"))
    if backend == "vllm":
        require_vllm()
    benchmarks = benchmark_tasks(cfg, train_cfg)  # fail on a bad benchmark before loading any model
    validate_eval_decodings(cfg)
    out = Path(cfg.paths.output_dir)
    check_output_places(cfg, out, run_dir)
    generation = load_generation(cfg, evaluated, backend)
    if benchmarks is None:
        task = instantiate(train_cfg.task, _convert_="all")
        result = evaluate_task(cfg, cfg, task, train_cfg, generation, out, checkpoint)
        print(write_pass_at_k({task.name: result}, out), end="")
        return result
    results = {}
    for name, (spec, task) in benchmarks.items():
        print(f"== {name}")
        results[name] = evaluate_task(cfg, spec, task, train_cfg, generation, out / name, checkpoint)
    atomic_write_json(out / "metrics.json", results)
    print_benchmark_table(results)
    print(write_pass_at_k(results, out), end="")
    return results


def validate_eval_decodings(cfg: DictConfig) -> None:
    """Every decoding of this evaluation, the top-level ones and each benchmark's, checked as the training run's
    ``evaluation.decodings`` are (``validate_decoding``: a bad value is a ConfigError naming its key), before any
    model loads."""
    for name, entry in (cfg.get("decodings") or {}).items():
        validate_decoding(entry, f"decodings.{name}")
    for bench, spec in (cfg.get("benchmarks") or {}).items():
        for name, entry in ((spec or {}).get("decodings") or {}).items():
            validate_decoding(entry, f"benchmarks.{bench}.decodings.{name}")


def check_output_places(cfg: DictConfig, out: Path, run_dir: Path | None) -> None:
    """Before any model loads: the evaluation's directory holds no earlier output (each evaluation gets its own),
    and the sample cache can be written."""
    refuse_reused_run_dir(out, "Each evaluation writes into a new directory: leave hydra.run.dir at its default.")
    cache_dir = sample_cache_dir(cfg, run_dir)
    if cache_dir is not None:
        require_writable_dir(cache_dir, "cache_dir")


def require_vllm() -> None:
    try:
        import vllm  # noqa: F401
    except ImportError as err:
        raise ConfigError(
            f"backend=vllm, but vllm cannot be imported ({err}). Install it (pip install 'rlrewards[vllm]') or use "
            "backend=hf."
        ) from err


def vllm_options(cfg: DictConfig) -> dict[str, float]:
    """``vllm: {gpu_memory_utilization}`` as ``LLM(...)`` keyword arguments; null (or no ``vllm`` key) passes nothing,
    leaving vLLM's default (0.9). A value outside (0, 1] is a ConfigError naming the key."""
    value = (cfg.get("vllm") or {}).get("gpu_memory_utilization")
    if value is None:
        return {}
    try:
        number = float(value) if not isinstance(value, bool) else math.nan
    except (TypeError, ValueError):
        number = math.nan
    if not 0 < number <= 1:  # NaN fails too
        raise ConfigError(f"vllm.gpu_memory_utilization={value!r}: a fraction of the GPU in (0, 1], or null")
    return {"gpu_memory_utilization": number}


def load_hf_model(checkpoint: str, loader: dict | None = None, chat_template: str | None = None):
    """``(model, tokenizer)``: the checkpoint as an HF model, on the GPU when there is one; ``loader``: keyword
    arguments of ``load_pretrained`` (a base experiment's revision); ``chat_template``: installed on the tokenizer."""
    model, tokenizer = load_pretrained(checkpoint, dtype="auto", **(loader or {}))
    if chat_template is not None:
        tokenizer.chat_template = chat_template
    if torch.cuda.is_available():  # from_pretrained loads onto the CPU; generate there only without a GPU
        model.to("cuda")
    return model, tokenizer


def load_generation(cfg: DictConfig, evaluated: EvaluatedModel, backend: str) -> Generation:
    """The checkpoint as an engine for ``backend``, the evaluation hooks, and the cache. With vLLM no HF model loads,
    unless ``self_certainty.vllm_hf_scoring`` asks for one, and then at its first scoring only."""
    train_cfg, run_dir, checkpoint = evaluated.train_config, evaluated.run_dir, evaluated.checkpoint
    hooks = evaluation_hooks(cfg, train_cfg, run_dir, checkpoint)  # a bad hook setting fails before any model loads
    load_model = partial(load_hf_model, checkpoint, evaluated.loader, evaluated.chat_template)
    if backend == "hf":
        model, tokenizer = load_model()
        engine = hf_engine(model, tokenizer)
    else:
        from rlrewards.eval.vllm_engine import vllm_engine

        tokenizer = load_tokenizer(checkpoint, **evaluated.loader)
        if evaluated.chat_template is not None:
            tokenizer.chat_template = evaluated.chat_template
        scorer = None
        if wants_hf_scoring(cfg.get("self_certainty")):
            scorer = lazy_hf_self_certainty(load_model)
        options = vllm_options(cfg)
        if scorer is not None and not options:
            logger.warning(
                "self_certainty.vllm_hf_scoring loads an HF copy of the checkpoint beside vLLM, which reserves 0.9 of "
                "the GPU by default: set vllm.gpu_memory_utilization to leave it room (conf/eval.yaml)"
            )
        engine = vllm_engine(checkpoint, tokenizer, seed=int(cfg.seed), self_certainty=scorer, **options)
    cache = None
    cache_dir = sample_cache_dir(cfg, run_dir)
    if cache_dir is not None:
        cache = SampleCache(cache_dir, checkpoint_identity(checkpoint), backend)
    return Generation(engine, tokenizer, cache, hooks)


def evaluation_hooks(
    cfg: DictConfig, train_cfg: DictConfig, run_dir: Path | None, checkpoint: str
) -> list[EvaluationHook]:
    """The hooks that apply, asked with this evaluation's config, the run's, and the recipe state saved with the
    evaluated model (``recipe_state.json``; {} for a hub id or a model saved without one)."""
    state = load_recipe_state(checkpoint) if Path(checkpoint).is_dir() else {}
    return select_hooks(HookSetup(run_config=train_cfg, eval_config=cfg, recipe_state=state, run_dir=run_dir))


def evaluate_task(cfg, spec, task, train_cfg, generation: Generation, out: Path, checkpoint: str) -> dict[str, Any]:
    """One task's split under ``spec``'s decodings (falling back to the top-level ones); writes samples and metrics."""
    split = str(spec.get("split") or cfg.split)
    dataset = task.load_split(split)
    limit = spec.get("limit", cfg.limit)
    if limit:
        dataset = dataset.select(range(min(int(limit), len(dataset))))
    decodings = decodings_from_config(
        spec.get("decodings") or cfg.decodings, spec.get("max_new_tokens") or cfg.max_new_tokens, cfg.batch_size
    )
    metrics, records = evaluate_split(
        None,
        generation.tokenizer,
        dataset,
        getattr(task, "answer_format", None) or train_cfg.recipe.answer_format,  # task_overrides may set its own
        decodings,
        seed=int(cfg.seed),
        hooks=generation.hooks,
        engine=generation.engine,
        cache=generation.cache,
        progress=bool(cfg.get("progress", False)),
        bootstrap_resamples=int(cfg.get("bootstrap_resamples", 200)),
    )
    atomic_write_lines(out / "samples.jsonl", records)
    reliability_diagrams([{**r} for r in records], out, "eval")
    result = {"checkpoint": checkpoint, "task": task.name, "split": split, "num_problems": len(dataset), **metrics}
    atomic_write_json(out / "metrics.json", result)
    for name, value in metrics.items():
        if name.endswith("_stderr"):
            continue
        stderr = metrics.get(f"{name}_stderr")
        print(f"{name + ' ':<24}{value:.3f}" + (f" ± {stderr:.3f}" if stderr is not None else ""))
    return result


def benchmark_tasks(cfg: DictConfig, train_cfg: DictConfig) -> dict[str, tuple[DictConfig, Any]] | None:
    """``benchmarks: {name: {task, decodings, max_new_tokens, limit, split, task_overrides}}`` -> instantiated tasks
    that use the run's answer format and system prompt (and, with ``use_run_prompt``, the user-turn template the run
    trained with, as LaSeR's and PURE's evaluations do; ``task_overrides`` still win). The benchmark that is the
    run's own task uses the run's task config (TEMPO's MATH runs set their own prompt template over
    conf/task/math.yaml's). None when no benchmarks are configured."""
    if not cfg.get("benchmarks"):
        return None
    known = sorted(p.stem for p in (Path(CONFIG_DIR) / "task").glob("*.yaml"))
    tasks = {}
    for name, spec in cfg.benchmarks.items():
        spec = spec or OmegaConf.create({})
        option = str(spec.get("task") or name)
        path = Path(CONFIG_DIR) / "task" / f"{option}.yaml"
        if not path.exists():
            raise ConfigError(f"benchmarks.{name}.task={option!r} is not a task config. Known: {', '.join(known)}")
        task_cfg = own_task_config(train_cfg, option) or OmegaConf.load(path)
        if "defaults" in task_cfg:
            raise ConfigError(f"benchmarks.{name}: task config {option!r} composes others; name a plain task config")
        if cfg.get("use_run_prompt") and fills_problem_only(train_cfg.task.get("prompt_template")):
            task_cfg.prompt_template = train_cfg.task.prompt_template
        task_cfg = OmegaConf.merge(task_cfg, spec.get("task_overrides") or {})
        holder = OmegaConf.create({"recipe": train_cfg.recipe, "seed": train_cfg.get("seed", 0), "task": task_cfg})
        try:
            tasks[str(name)] = (spec, instantiate(holder.task, _convert_="all"))
        except Exception as err:  # noqa: BLE001 - name the benchmark whatever the task's constructor raised
            raise ConfigError(f"benchmarks.{name} (task {option!r}): {err}") from err
    return tasks


def fills_problem_only(template: str | None) -> bool:
    """A run's prompt template that other benchmarks can take: it formats the problem and nothing else (the demo's
    arith template, for one, formats its own fields)."""
    if not template:
        return False
    fields = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    return fields == {"problem"}


def own_task_config(train_cfg: DictConfig, option: str) -> DictConfig | None:
    """The run's task config, resolved, when the run trained on the task ``option`` (task names are their option
    names); None otherwise."""
    own = train_cfg.get("task")
    if own is None or own.get("name") != option:
        return None
    return OmegaConf.create(OmegaConf.to_container(own, resolve=True))


def print_benchmark_table(results: dict[str, dict]) -> None:
    names = sorted({k for r in results.values() for k in r if k.startswith("accuracy_") and not k.endswith("stderr")})
    print(f"{'benchmark':<16}" + "".join(f"{n:>20}" for n in names))
    for bench, metrics in results.items():
        cells = "".join(f"{metrics[n]:>20.3f}" if n in metrics else f"{'':>20}" for n in names)
        print(f"{bench:<16}{cells}")


# The entry point lives in the import-light rlrewards.eval_cli (a fast --help); kept importable from here for
# rlrewards-eval scripts installed before it moved.
from rlrewards.eval_cli import main  # noqa: E402

if __name__ == "__main__":
    main()
