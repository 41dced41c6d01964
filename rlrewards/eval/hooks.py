"""Evaluation hooks: what a recipe adds to every evaluation of its runs, in-run and with ``rlrewards-eval``.

The generic evaluation (``rlrewards.eval.generation.evaluate_split``) samples, grades and reports accuracy, format
adherence, pass@k / maj@k and, when the records carry a confidence, calibration. A recipe that needs more writes an
``EvaluationHook`` in ``rlrewards/recipes/<name>_eval.py`` and registers a factory for it::

    @EVALUATION_HOOKS.register("my_recipe_scores")
    def my_hook(setup: HookSetup) -> EvaluationHook | None:
        if setup.run_config.recipe.get("my_key") is None:
            return None  # not this run: the hook stays out of its evaluations
        return MyHook(...)

Those modules are found, not listed (``rlrewards.registry.import_submodules`` with the suffix ``_eval``), as are
the generic hooks that apply to any run, in ``rlrewards/eval/*_eval.py`` (``self_certainty``: Best-of-N and Borda
voting by self-certainty for every decoding with n > 1).

Selection: every registered factory is asked, in name order, for each evaluation, with the ``HookSetup`` (the run's
config, the ``rlrewards-eval`` config when there is one, the recipe state the evaluated model was trained with);
it returns a hook, or None when it does not apply. No config list names the hooks: each decides from the keys its
recipe owns, so a hook can apply beyond its own recipe (a suite that asks every run for a confidence, as
``suite=rlcr`` does, or a format that states one). Factories run before any model loads and must not load one;
they may fail with ``ConfigError`` on a bad value of their keys, which then refuses the evaluation early.

Per decoding, after sampling and grading, each hook's ``amend`` runs (extra decoding steps that may change what a
record says: its answer, correctness or confidence), then the standard metrics, then each hook's ``score`` (extra
per-sample scores written into the records, and aggregate metrics over them). Metric names come back without the
decoding; ``evaluate_split`` appends it (``name_<decoding>``, ``name_<decoding>_stderr``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rlrewards.registry import RECIPE_MODULES, Registry

if TYPE_CHECKING:
    from rlrewards.eval.generation import DecodingConfig, Engine


@dataclass(frozen=True)
class HookSetup:
    """What a hook factory decides and configures from; no model, no tokenizer."""

    run_config: Any  # the training run's composed config (rlrewards-eval: the run's saved config.yaml)
    eval_config: Any = None  # rlrewards-eval's own config; None for the evaluations inside a training run
    # The trainer's recipe state the evaluated model was trained with (the estimator's ``state_dict()``, saved as
    # recipe_state.json next to a model); {} before training or when the model has none.
    recipe_state: Mapping[str, Any] = field(default_factory=dict)
    run_dir: Path | None = None  # rlrewards-eval: the evaluated run's directory (its metrics log); None in-run


@dataclass(frozen=True)
class HookContext:
    """One decoding of one evaluation, as a hook sees it."""

    engine: Engine  # the backend's sampler, greedy continuation and next-token log-probs
    tokenizer: Any
    dataset: Any  # the evaluated rows: id, prompt (chat messages), answer, checker
    decoding: DecodingConfig
    bootstrap_resamples: int  # 0: report no bootstrap ``_stderr``


def hook_settings(setup: HookSetup, key: str):
    """A generic hook's setting ``key``: rlrewards-eval's (conf/eval.yaml), else the run's ``evaluation.<key>``; None
    where the config has no such key. ``true`` is ``{enabled: true}``."""
    source = setup.eval_config if setup.eval_config is not None else setup.run_config.get("evaluation")
    spec = source.get(key) if source is not None else None
    return {"enabled": True} if spec is True else spec


class EvaluationHook:
    """A recipe's additions to an evaluation; subclass it and override what you need (both steps default to none).

    ``records`` are the graded samples of one decoding (``rlrewards.eval.scoring.score_samples``: id, sample,
    completion, extracted, correct, well_formed, confidence, ...); a hook changes them in place."""

    # True when ``amend`` leaves a confidence on every record: calibration metrics are then reported whatever the
    # answer format (otherwise only formats that state a confidence get them).
    gives_confidence: bool = False

    def amend(self, records: list[dict], context: HookContext) -> dict[str, float]:
        """Before the standard metrics: extra decoding steps that may change the records. Returns metrics."""
        return {}

    def score(self, records: list[dict], context: HookContext) -> dict[str, float]:
        """After the standard metrics: per-sample scores added to the records, and metrics over them."""
        return {}


HookFactory = Callable[[HookSetup], EvaluationHook | None]

# The recipes' hooks (rlrewards/recipes/*_eval.py) and the generic ones that apply to any run
# (rlrewards/eval/*_eval.py, e.g. self-certainty selection).
EVALUATION_HOOKS: Registry[HookFactory] = Registry(
    "evaluation hook", autoload=(*RECIPE_MODULES, "rlrewards.eval"), suffix="_eval"
)


def select_hooks(setup: HookSetup) -> list[EvaluationHook]:
    """The hooks that apply to this evaluation: every registered factory, in name order, asked with ``setup``."""
    hooks = (EVALUATION_HOOKS.get(name)(setup) for name in EVALUATION_HOOKS.names())
    return [hook for hook in hooks if hook is not None]


def run_amend(hooks: Sequence[EvaluationHook], records: list[dict], context: HookContext) -> dict[str, float]:
    metrics: dict[str, float] = {}
    for hook in hooks:
        metrics.update(hook.amend(records, context))
    return metrics


def run_score(hooks: Sequence[EvaluationHook], records: list[dict], context: HookContext) -> dict[str, float]:
    metrics: dict[str, float] = {}
    for hook in hooks:
        metrics.update(hook.score(records, context))
    return metrics
