"""Each paper recipe runs end to end on the demo from the command line and logs its own metrics."""

import json

import pytest
from test_cli import FAST, cli, only_run_dir

RECIPE_METRICS = {
    "tempo": ["train/tempo/branch_token_frac", "train/tempo/mean_branch_depth", "train/tempo/td_share"],
    "hepo": ["train/reward"],
    # debug=fast's 20-step warm start rarely yields a well-formed completion, so only the failure rate is sure to
    # be logged in training; the calibration metrics themselves are checked in test_rlcr.py.
    "rlcr": ["train/rlcr/format_failure_rate", "eval/ece_greedy", "eval/brier_sampled", "eval/tts_wmaj@4_sampled"],
    # RLVR states no confidence: its in-run evaluation asks for one (and for a missing answer), as RLCR's does.
    "rlvr": ["train/rewards/format/mean", "eval/ece_greedy", "eval/answer_adherence_greedy", "eval/auroc_sampled"],
    "pure": [
        "train/pure/num_steps",
        "train/pure/step_reward_min",
        "train/pure/single_step_frac",
        "train/pure/kl_per_token",
    ],
    "pure_sum": ["train/pure/num_steps", "train/pure/step_reward_mean"],
    "laser": [
        "train/laser/c_ref",
        "train/aux/laser_self_reward/loss",
        "train/laser/mixed_frac",
        "eval/self_verification_f1_sampled",
        "eval/self_reward_auroc_greedy",
        "eval/rm@4_sampled",
        "eval/maj@4_sampled",
    ],
}
# LaSeR's warm-ups shrunk so that 3 steps go through all three phases: GRPO, + loss, + mixing. PURE with the
# paper's KL penalty in the reward (a reference model kept although the loss has no KL term).
EXTRA_OVERRIDES = {
    "pure": ["recipe.advantage.kwargs.kl_coef=1e-3"],
    "laser": [
        "recipe.advantage.kwargs.reasoning_warmup=1",
        "recipe.advantage.kwargs.self_reward_warmup=1",
        "trainer.max_steps=3",
    ],
}


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("recipe-cache")


@pytest.mark.parametrize("recipe", sorted(RECIPE_METRICS))
def test_recipe_runs_end_to_end_on_the_demo(recipe, tmp_path, cache_dir):
    result = cli([*FAST, f"recipe={recipe}", *EXTRA_OVERRIDES.get(recipe, [])], tmp_path, cache_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    run_dir = only_run_dir(tmp_path)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["recipe"] == recipe and summary["steps"] == (3 if recipe == "laser" else 2)
    logged, history = {}, []
    for line in (run_dir / "metrics.jsonl").read_text().splitlines():
        history.append(json.loads(line))
        logged.update(history[-1])
    if recipe == "laser":
        phases = [
            (h["train/laser/loss_active"], h["train/laser/mixing_active"]) for h in history if "train/laser/c_ref" in h
        ]
        assert phases == [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0)]
    if recipe == "rlcr":
        assert (run_dir / "eval" / "reliability_after_greedy.png").stat().st_size > 1000
        assert (run_dir / "eval" / "reliability_before_sampled.png").exists()
    for name in RECIPE_METRICS[recipe]:
        assert name in logged, sorted(logged)
        assert logged[name] == logged[name]  # not NaN
