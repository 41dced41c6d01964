"""Every paper recipe (each conf/recipe/*.yaml, discovered) runs end to end on the demo from the command line and
logs the metrics its own config implies: each reward's mean, its auxiliary loss, and its advantage estimator's own
``train/<module>/...`` metrics (an estimator registered in rlrewards/recipes/<module>.py logs under ``<module>/``).

Recipes that use the same registered parts as an earlier one (same estimator, auxiliary loss, reward functions and
answer format: e.g. psr and w_reinforce beside nsr, laser_swa beside laser) differ only in settings; they run in
the slow tier (``make test-all``) to keep the default run short on a few CPU cores."""

import json
from functools import cache

import pytest
from discovery import recipes
from omegaconf import OmegaConf
from test_cli import FAST, cli, only_run_dir
from test_configs import compose_train

from rlrewards.trainer.hooks import ADVANTAGE_ESTIMATORS

# Metrics beyond what the config implies: in-run evaluation hooks, and signals a recipe's tests rely on.
EXTRA_METRICS = {
    # debug=fast's 20-step warm start rarely yields a well-formed completion, so only the failure rate is sure to
    # be logged in training; the calibration metrics themselves are checked in test_rlcr.py.
    "rlcr": ["train/rlcr/format_failure_rate", "eval/ece_greedy", "eval/brier_sampled", "eval/tts_wmaj@4_sampled"],
    # RLVR states no confidence: its in-run evaluation asks for one (and for a missing answer), as RLCR's does.
    "rlvr": ["eval/ece_greedy", "eval/answer_adherence_greedy", "eval/auroc_sampled"],
    "tempo": ["train/tempo/branch_token_frac", "train/tempo/mean_branch_depth", "train/tempo/td_share"],
    "pure": ["train/pure/step_reward_min", "train/pure/single_step_frac", "train/pure/kl_per_token"],
    "laser": [
        "train/laser/c_ref",
        "train/laser/mixed_frac",
        "eval/self_verification_f1_sampled",
        "eval/self_reward_auroc_greedy",
        "eval/rm@4_sampled",
        "eval/maj@4_sampled",
    ],
}
# By advantage estimator: LaSeR's warm-ups shrunk so that 3 steps go through all three phases (GRPO, + loss,
# + mixing); PURE with the paper's KL penalty in the reward (a reference model kept although the loss has no KL).
ESTIMATOR_OVERRIDES = {
    "pure": ["recipe.advantage.kwargs.kl_coef=1e-3"],
    "laser": [
        "recipe.advantage.kwargs.reasoning_warmup=1",
        "recipe.advantage.kwargs.self_reward_warmup=1",
        "trainer.max_steps=3",
    ],
}


@cache
def recipe_parts(recipe: str) -> dict:
    """What the recipe's config asks for by name: estimator, auxiliary loss, rewards (null ones dropped)."""
    cfg = OmegaConf.to_container(compose_train([f"recipe={recipe}"]).recipe)
    return {
        "advantage": (cfg.get("advantage") or {}).get("name"),
        "aux_loss": (cfg.get("aux_loss") or {}).get("name"),
        "rewards": {name: spec["fn"] for name, spec in cfg["rewards"].items() if spec},
        "answer_format": cfg["answer_format"],
    }


def implied_metrics(parts: dict) -> list[str]:
    metrics = [f"train/rewards/{name}/mean" for name in parts["rewards"]]
    if parts["aux_loss"]:
        metrics.append(f"train/aux/{parts['aux_loss']}/loss")
    return metrics


def estimator_prefix(parts: dict) -> str | None:
    if not parts["advantage"]:
        return None
    return "train/" + ADVANTAGE_ESTIMATORS.get(parts["advantage"]).__module__.rsplit(".", 1)[-1] + "/"


def tiered_recipes() -> list:
    """Every recipe; those whose registered parts repeat an earlier recipe's are marked slow."""
    seen, params = set(), []
    for recipe in recipes():
        parts = recipe_parts(recipe)
        signature = json.dumps(parts, sort_keys=True)
        marks = [pytest.mark.slow] if signature in seen else []
        seen.add(signature)
        params.append(pytest.param(recipe, marks=marks, id=recipe))
    return params


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("recipe-cache")


def read_metrics(run_dir) -> tuple[dict, list[dict]]:
    history = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    logged = {}
    for record in history:
        logged.update(record)
    return logged, history


@pytest.mark.parametrize("recipe", tiered_recipes())
def test_recipe_runs_end_to_end_on_the_demo(recipe, tmp_path, cache_dir):
    parts = recipe_parts(recipe)
    overrides = ESTIMATOR_OVERRIDES.get(parts["advantage"], [])
    result = cli([*FAST, f"recipe={recipe}", *overrides], tmp_path, cache_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    run_dir = only_run_dir(tmp_path)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["recipe"] == recipe and summary["steps"] == (3 if parts["advantage"] == "laser" else 2)
    logged, history = read_metrics(run_dir)
    if parts["advantage"] == "laser":
        phases = [
            (h["train/laser/loss_active"], h["train/laser/mixing_active"]) for h in history if "train/laser/c_ref" in h
        ]
        assert phases == [(0.0, 0.0), (1.0, 0.0), (1.0, float(recipe != "laser_swa"))]
    if recipe == "rlcr":
        assert (run_dir / "eval" / "reliability_after_greedy.png").stat().st_size > 1000
        assert (run_dir / "eval" / "reliability_before_sampled.png").exists()
    for name in implied_metrics(parts) + EXTRA_METRICS.get(recipe, []):
        assert name in logged, sorted(logged)
        assert logged[name] == logged[name]  # not NaN
    prefix = estimator_prefix(parts)
    assert prefix is None or any(name.startswith(prefix) for name in logged), (prefix, sorted(logged))
