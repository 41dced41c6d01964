"""``rlrewards-eval base_experiment=<name>``: an experiment's base model evaluated without a training run
(``rlrewards.eval.source``), exactly as a run of that experiment is evaluated."""

import json

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from test_cli import REPO_ROOT, compose_eval
from test_rlcr_eval import save_run

from rlrewards.config import ConfigError
from rlrewards.evaluate import evaluate_run

EXPERIMENT = "grpo/arith_tiny"
EVAL = ["limit=4", "max_new_tokens=6", "batch_size=8", "progress=false", "decodings.sampled.num_samples=2"]


def compose_experiment_eval(output_dir, overrides):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(REPO_ROOT / "conf"), version_base="1.3"):
        return compose(config_name="eval", overrides=[f"paths.output_dir={output_dir}", *overrides])


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A run of the experiment as rlrewards-train leaves it, holding the untrained tiny model."""
    return save_run(tmp_path_factory.mktemp("run"), [f"experiment={EXPERIMENT}"])


def records(out):
    return [json.loads(line) for line in (out / "samples.jsonl").open()]


def test_an_experiment_s_base_model_is_evaluated_as_a_run_of_the_experiment_is(run, tmp_path):
    from_run = evaluate_run(compose_eval(run, tmp_path / "run_eval", EVAL))
    overrides = [
        f"base_experiment={EXPERIMENT}",
        f"checkpoint={run / 'model'}",
        f"paths.cache_dir={tmp_path / 'cache'}",
    ]
    base = evaluate_run(compose_experiment_eval(tmp_path / "base_eval", [*EVAL, *overrides]))
    assert base["num_problems"] == from_run["num_problems"] == 4
    for key in ("accuracy_greedy", "accuracy_sampled", "pass@2_sampled", "maj@2_sampled"):
        assert base[key] == from_run[key], key
    samples = [(r["id"], r["decoding"], r["completion"]) for r in records(tmp_path / "base_eval")]
    assert samples == [(r["id"], r["decoding"], r["completion"]) for r in records(tmp_path / "run_eval")]
    assert len(samples) == 4 * (1 + 2)  # greedy and 2 sampled per problem
    # no run directory: the samples are cached under paths.cache_dir, the run's under the run
    assert any((tmp_path / "cache" / "eval_cache").iterdir()) and (run / "eval_cache").is_dir()


@pytest.mark.parametrize(
    "overrides, message",
    [
        ([], "exactly one"),
        (["run_dir=somewhere", f"base_experiment={EXPERIMENT}"], "exactly one"),
        ([f"base_experiment={EXPERIMENT}"], r"no hub id or directory \(model.name_or_path\) to load; pass checkpoint="),
        (["base_experiment=grpo/nope", "checkpoint=x"], r"base_experiment=grpo/nope: .*Known: .*grpo/arith_tiny"),
        ([f"base_experiment={EXPERIMENT}", "base_model=tiny"], "exactly one"),
        (["base_model=tiny", "suite=self_certainty"], r"base_model=tiny: .*no hub id or directory"),
        (["base_model=nope", "checkpoint=x", "suite=self_certainty"], r"base_model=nope: .*Known: .*llama3.1"),
        (["base_model=llama3.1-8b-instruct"], r"base_model=llama3.1-8b-instruct needs suite="),
    ],
)
def test_what_to_evaluate_is_checked_before_any_model_loads(overrides, message, tmp_path, monkeypatch):
    import rlrewards.evaluate as evaluate_module

    monkeypatch.setattr(evaluate_module, "load_generation", lambda *a, **k: pytest.fail("a model was loaded"))
    with pytest.raises(ConfigError, match=message):
        evaluate_run(compose_experiment_eval(tmp_path / "out", [*EVAL, *overrides]))


def test_a_base_experiment_s_model_is_loaded_as_training_loads_it(tmp_path):
    """The experiment's chat template (here Qwen3's without thinking) goes on the tokenizer, and its hub id is the
    checkpoint; a run's own model/ needs neither (its saved tokenizer carries the template)."""
    from rlrewards.eval.source import evaluated_model
    from rlrewards.models.loading import CHAT_TEMPLATES

    evaluated = evaluated_model(compose_experiment_eval(tmp_path, ["base_experiment=nsr/qwen3-4b_nsr"]))
    assert evaluated.checkpoint == "Qwen/Qwen3-4B" and evaluated.run_dir is None
    assert evaluated.chat_template == CHAT_TEMPLATES["qwen3_no_thinking"]
    plain = evaluated_model(compose_experiment_eval(tmp_path, ["base_experiment=grpo/arith_tiny", "checkpoint=x"]))
    assert plain.chat_template is None and plain.checkpoint == "x"


def test_a_base_model_is_a_conf_model_option_in_the_default_training_config(run, tmp_path):
    """``base_model=<option>`` (a paper that trains nothing): the model's hub id; the suite's tasks bring their own
    prompts and formats. Evaluated, it gives what base_experiment gives for an experiment over the same model."""
    from rlrewards.eval.source import evaluated_model

    llama = evaluated_model(compose_experiment_eval(tmp_path, ["base_model=llama3.1-8b-instruct", "suite=nsr"]))
    assert llama.checkpoint == "meta-llama/Llama-3.1-8B-Instruct" and llama.run_dir is None
    assert llama.train_config.model.name == "llama3.1-8b-instruct" and llama.chat_template is None
    cached = [f"checkpoint={run / 'model'}", f"paths.cache_dir={tmp_path / 'cache'}", "+benchmarks={arith: {}}"]
    by_model = evaluate_run(compose_experiment_eval(tmp_path / "by_model", [*EVAL, "base_model=tiny", *cached]))
    by_experiment = evaluate_run(
        compose_experiment_eval(tmp_path / "by_exp", [*EVAL, "base_experiment=grpo/demo", *cached])
    )
    assert by_model["arith"]["num_problems"] == 4
    assert by_model["arith"]["accuracy_greedy"] == by_experiment["arith"]["accuracy_greedy"]
    assert records(tmp_path / "by_model" / "arith") == records(tmp_path / "by_exp" / "arith")


def test_the_template_is_installed_on_the_loaded_tokenizer(run):
    from rlrewards.evaluate import load_hf_model

    _, tokenizer = load_hf_model(str(run / "model"), {}, chat_template="{{ messages[0]['content'] }}")
    assert tokenizer.apply_chat_template([{"role": "user", "content": "1+1"}], tokenize=False) == "1+1"


def test_compose_works_inside_rlrewards_eval_s_own_hydra_app():
    """Inside rlrewards-eval (@hydra.main) Hydra is initialised already: the experiment composes from that state."""
    from rlrewards.eval.source import compose_experiment

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(REPO_ROOT / "conf"), version_base="1.3"):
        assert GlobalHydra.instance().is_initialized()
        cfg = compose_experiment("nsr/qwen2.5-math-7b_grpo")
    assert cfg.model.name_or_path == "Qwen/Qwen2.5-Math-7B" and cfg.recipe.name == "grpo"
