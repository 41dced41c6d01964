"""Recipes' evaluation hooks (rlrewards/eval/hooks.py): registered by name, found in rlrewards/recipes/*_eval.py,
selected per evaluation from the configs, and run by the generic evaluate_split."""

import subprocess
import sys
from pathlib import Path

import pytest
from datasets import Dataset
from omegaconf import OmegaConf
from test_configs import compose_train

from rlrewards.eval.generation import DecodingConfig, evaluate_split
from rlrewards.eval.hooks import EVALUATION_HOOKS, EvaluationHook, HookSetup, select_hooks
from rlrewards.trainer.hooks import estimator_state, loads_state, needs_reference_logps, needs_slot_logps

RECIPES_DIR = Path(__file__).resolve().parent.parent / "rlrewards" / "recipes"


class LengthHook(EvaluationHook):
    """A toy hook: marks every record confident (amend) and scores each completion by its length (score)."""

    gives_confidence = True

    def amend(self, records, context):
        for record in records:
            record["confidence"] = 1.0
        return {"toy_amended": float(len(records))}

    def score(self, records, context):
        for record in records:
            record["toy_length"] = len(record["completion"])
        return {"toy_mean_length": sum(r["toy_length"] for r in records) / len(records), "toy_mean_length_stderr": 0.0}


@pytest.fixture
def toy_hook(monkeypatch):
    """``toy`` registered for this test only: it applies to runs whose recipe sets ``toy: true``."""

    def factory(setup):
        return LengthHook() if setup.run_config.recipe.get("toy") else None

    monkeypatch.setitem(EVALUATION_HOOKS._entries, "toy", factory)
    return factory


def two_rows():
    return Dataset.from_list(
        [
            {"id": "p", "prompt": [{"role": "user", "content": "1+2"}], "answer": "3", "checker": "numeric"},
            {"id": "q", "prompt": [{"role": "user", "content": "2+3"}], "answer": "5", "checker": "numeric"},
        ]
    )


def fixed_sampler(texts, decoding, seed):
    yield [["<answer>3</answer>"] if "1+2" in text else ["<answer>7</answer> and more"] for text in texts]


def test_an_unknown_hook_names_the_known_ones():
    with pytest.raises(KeyError) as err:
        EVALUATION_HOOKS.get("no_such_hook")
    assert "laser_self_reward" in str(err.value) and "rlcr_probes" in str(err.value)


def test_a_toy_hook_adds_a_per_sample_score_and_metrics_through_evaluate_split(tiny_tokenizer, toy_hook):
    run = OmegaConf.create({"recipe": {"toy": True, "answer_format": "answer_tag"}, "evaluation": {}})
    hooks = [h for h in select_hooks(HookSetup(run_config=run)) if isinstance(h, LengthHook)]
    assert len(hooks) == 1
    greedy = DecodingConfig()
    metrics, records = evaluate_split(
        None, tiny_tokenizer, two_rows(), "answer_tag", [greedy], hooks=hooks, sampler=fixed_sampler
    )
    assert [r["toy_length"] for r in records] == [18, 27]
    assert metrics["toy_mean_length_greedy"] == 22.5 and metrics["toy_mean_length_greedy_stderr"] == 0.0
    names = list(metrics)  # amend's metrics come first, score's last
    assert names[0] == "toy_amended_greedy" and names[-2:] == [
        "toy_mean_length_greedy",
        "toy_mean_length_greedy_stderr",
    ]
    assert metrics["accuracy_greedy"] == 0.5
    assert metrics["brier_greedy"] == pytest.approx(0.5)  # the hook gives a confidence: calibration is reported

    plain, records = evaluate_split(None, tiny_tokenizer, two_rows(), "answer_tag", [greedy], sampler=fixed_sampler)
    assert "brier_greedy" not in plain and "toy_length" not in records[0]
    other = OmegaConf.create({"recipe": {"answer_format": "answer_tag"}, "evaluation": {}})
    assert not any(isinstance(h, LengthHook) for h in select_hooks(HookSetup(run_config=other)))


def test_hooks_are_found_in_the_recipes_eval_modules():
    code = (
        "import sys; from rlrewards.eval.hooks import EVALUATION_HOOKS; print(EVALUATION_HOOKS.names()); "
        "print(sorted(m for m in sys.modules if m.startswith('rlrewards.recipes.')))"
    )
    names, modules = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split("\n")[:2]
    assert "laser_self_reward" in names and "rlcr_probes" in names
    on_disk = sorted(p.stem for p in RECIPES_DIR.glob("*_eval.py"))
    assert on_disk and all(f"rlrewards.recipes.{name}" in modules for name in on_disk)


def hook_names(setup):
    return sorted(type(hook).__name__ for hook in select_hooks(setup))


def test_each_recipe_hook_decides_from_the_configs():
    assert hook_names(HookSetup(compose_train(["recipe=grpo"]))) == []  # answer_tag states no confidence
    assert hook_names(HookSetup(compose_train(["recipe=rlvr"]))) == ["ProbeHook"]  # its evaluation.probes
    laser = compose_train(["recipe=laser"])  # c_ref: auto, not measured before training: no scoring yet
    assert hook_names(HookSetup(laser)) == []
    assert hook_names(HookSetup(laser, recipe_state={"c_ref": -20.0})) == ["SelfRewardHook"]
    grpo = compose_train(["recipe=grpo"])  # suite=rlcr's probes reach any run evaluated with rlrewards-eval
    suite = OmegaConf.create({"probes": {"answer": None, "confidence": None}})
    assert hook_names(HookSetup(grpo, eval_config=suite)) == ["ProbeHook"]
    assert hook_names(HookSetup(grpo, eval_config=OmegaConf.create({"probes": None}))) == []


def test_estimator_capabilities_are_read_through_the_helpers():
    def plain(batch):
        return None

    def stateful(batch):
        return None

    stateful.needs_reference_logps = True
    stateful.needs_slot_logps = lambda step: step >= 2
    stateful.state_dict = lambda: {"c_ref": -1.0}
    stateful.load_state_dict = lambda state: None
    assert not needs_reference_logps(plain) and not needs_slot_logps(plain, 5) and not loads_state(plain)
    assert estimator_state(plain) == {} and estimator_state(None) == {}
    assert needs_reference_logps(stateful) and loads_state(stateful)
    assert [needs_slot_logps(stateful, step) for step in (1, 2)] == [False, True]
    assert estimator_state(stateful) == {"c_ref": -1.0}
