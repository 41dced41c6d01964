"""What ``rlrewards-eval`` evaluates: a training run, or an experiment's base model without training.

- ``run_dir=<an rlrewards-train run>``: the run's saved ``config.yaml`` (its task, answer format, system prompt,
  recipe) and its ``model/`` (or ``checkpoint``).
- ``base_experiment=<a conf/experiment option>``: the experiment composed from ``conf/`` as a training run would
  compose it, and its model before any training, ``model.name_or_path`` (or ``checkpoint``): the "base model" rows
  of a paper's tables, and test-time methods such as self-certainty selection that need no training. Such an
  evaluation has no run directory: its samples are cached under ``<paths.cache_dir>/eval_cache``. (Not
  ``experiment=``: that name is the training config group, which Hydra would try to select here.)
- ``base_model=<a conf/model option>``: that model as the default training config composes it (``model=<option>``),
  for a paper that trains nothing (self-certainty's Best-of-N): the suite's benchmarks bring their own prompts,
  answer formats and checkers.

Exactly one of the three is given; any mistake is a ConfigError before any model loads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf

from rlrewards.config import ConfigError
from rlrewards.eval.trust import check_run_config
from rlrewards.models.loading import chat_template_choice
from rlrewards.train import CONFIG_DIR

DEFAULT_CACHE = "default"  # cache_dir's default value: see sample_cache_dir


@dataclass(frozen=True)
class EvaluatedModel:
    train_config: DictConfig  # the run's (or the experiment's) training config
    run_dir: Path | None  # None for an experiment's base model
    checkpoint: str
    # A base experiment's model is loaded as training would load it (rlrewards.models.loading.load_policy): its
    # model.revision and trust_remote_code, and its model.chat_template installed on the tokenizer. A run's model/
    # needs neither: its saved tokenizer carries the template it trained with.
    loader: dict = field(default_factory=dict)
    chat_template: str | None = None


SOURCES = ("run_dir", "base_experiment", "base_model")


def evaluated_model(cfg: DictConfig) -> EvaluatedModel:
    given = {key: cfg.get(key) for key in SOURCES if cfg.get(key) is not None}
    if len(given) != 1:
        raise ConfigError(
            "give run_dir=<an rlrewards-train run directory>, base_experiment=<a conf/experiment option> or "
            "base_model=<a conf/model option> (the last two: the model untrained), exactly one; got "
            + ", ".join(f"{key}={cfg.get(key)!r}" for key in SOURCES)
        )
    ((key, value),) = given.items()
    if key == "run_dir":
        return trained_run(cfg, Path(str(value)))
    if key == "base_model" and not cfg.get("benchmarks"):  # the default training config's task is the demo's
        raise ConfigError(
            f"base_model={value} needs suite=<a suite> (or benchmarks=...): its tasks bring the prompt and answer "
            "format; without one the model would be scored on the demo task"
        )
    return base_model(cfg, untrained_config(key, str(value)))


def untrained_config(key: str, value: str) -> DictConfig:
    """The training config whose model ``base_experiment=<value>`` or ``base_model=<value>`` evaluates."""
    if key == "base_experiment":
        return compose_experiment(value)
    return compose_training([f"model={value}"], f"base_model={value}", "model")


def trained_run(cfg: DictConfig, run_dir: Path) -> EvaluatedModel:
    saved = run_dir / "config.yaml"
    if not saved.exists():
        raise ConfigError(f"run_dir={run_dir}: no config.yaml there; point run_dir at an rlrewards-train run")
    train_cfg = OmegaConf.load(saved)
    check_run_config(train_cfg, saved, trust=bool(cfg.get("trust_config", False)))
    checkpoint = str(cfg.checkpoint or run_dir / "model")
    if cfg.checkpoint is None and not Path(checkpoint).exists():
        raise ConfigError(f"run_dir={run_dir} has no model/ (trained with save_model=false?); pass checkpoint=...")
    return EvaluatedModel(train_cfg, run_dir, checkpoint)


def base_model(cfg: DictConfig, train_cfg: DictConfig) -> EvaluatedModel:
    model = train_cfg.model
    checkpoint = cfg.checkpoint or model.get("name_or_path")
    if not checkpoint:
        culprit = next(f"{key}={cfg.get(key)}" for key in SOURCES if cfg.get(key) is not None)
        raise ConfigError(
            f"{culprit}: its model ({model.get('name')}) is built in-process, with no hub "
            "id or directory (model.name_or_path) to load; pass checkpoint=<hub id or directory>"
        )
    loader = {"trust_remote_code": True} if model.get("trust_remote_code") else {}
    if cfg.checkpoint is None and model.get("revision"):  # the revision pins the experiment's own hub id only
        loader["revision"] = str(model.revision)
    template = chat_template_choice(model.get("chat_template"))
    return EvaluatedModel(train_cfg, None, str(checkpoint), loader, template)


def compose_experiment(experiment: str) -> DictConfig:
    """``train.yaml`` with ``experiment=<experiment>``, as ``rlrewards-train`` composes it."""
    return compose_training([f"experiment={experiment}"], f"base_experiment={experiment}", "experiment")


def compose_training(overrides: list[str], culprit: str, group: str) -> DictConfig:
    """``train.yaml`` with ``overrides``, as ``rlrewards-train`` composes it (config files of this repository only:
    nothing from outside rlrewards can be named there without editing conf/); a bad option is a ConfigError naming
    ``culprit`` and listing the options of ``group``."""
    try:
        if GlobalHydra.instance().is_initialized():  # inside rlrewards-eval's Hydra app: its search path is conf/
            return compose(config_name="train", overrides=overrides)
        with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
            return compose(config_name="train", overrides=overrides)
    except HydraException as err:
        folder = Path(CONFIG_DIR) / group
        known = sorted(str(path.relative_to(folder).with_suffix("")) for path in folder.rglob("*.yaml"))
        reason = str(err).splitlines()[0]  # Hydra appends its config search path
        raise ConfigError(f"{culprit}: {reason}. Known: {', '.join(known)}") from None


def sample_cache_dir(cfg: DictConfig, run_dir: Path | None) -> Path | None:
    """Where finished samples are cached: ``cache_dir`` as given; its default (``default``) is
    ``<run_dir>/eval_cache`` for a run and ``<paths.cache_dir>/eval_cache`` for a base experiment's (or base
    model's) model; null: no cache."""
    value = cfg.get("cache_dir")
    if not value:
        return None
    if str(value) != DEFAULT_CACHE:
        return Path(str(value))
    return run_dir / "eval_cache" if run_dir is not None else Path(str(cfg.paths.cache_dir)) / "eval_cache"
