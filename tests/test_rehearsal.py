"""rlrewards-rehearse: discovery, scaled-down sizes, stand-ins, and one end-to-end rehearsal per recipe folder (its
first paper experiment, discovered); the full rehearsal of every experiment is marked slow."""

import json
from pathlib import Path

import pytest
import yaml

from rlrewards.rehearsal import standins
from rlrewards.rehearsal.plan import (
    EXPERIMENTS_DIR,
    EvaluationOnly,
    discover_evaluations,
    discover_experiments,
    eval_overrides,
    representatives,
    suite_of,
    train_overrides,
)
from rlrewards.reporting.paper import row_suites

CONF = Path(__file__).resolve().parent.parent / "conf"


def test_every_experiment_file_is_discovered_by_its_name():
    names = discover_experiments()
    assert len(names) == len(list(EXPERIMENTS_DIR.rglob("*.yaml")))
    assert "laser/orz-7b" in names and "grpo/arith_tiny" in names
    assert discover_experiments("laser/orz") == ["laser/orz-7b", "laser/orz-7b-swa"]


def test_one_representative_per_recipe_folder_is_a_paper_experiment():
    chosen = representatives()
    folders = sorted({p.parent.name for p in EXPERIMENTS_DIR.rglob("*.yaml")})
    assert [name.split("/")[0] for name in chosen] == folders
    assert "laser/octothinker-3b-short-base" in chosen and not any("arith_tiny" in name for name in chosen)


def test_suite_is_the_recipe_folder_s_when_there_is_one():
    assert suite_of("laser/orz-7b") == "laser" and suite_of("pure/qwen2.5-7b_prm") == "pure"
    assert suite_of("grpo/math_qwen3-1.7b") is None
    # a paper's reproduce row may name its own suite (results/papers/): the NSR paper's Qwen3-4B rows, top_k 20
    assert suite_of("nsr/qwen3-4b_nsr") == "nsr_qwen3" and suite_of("nsr/qwen2.5-math-7b_nsr") == "nsr"
    assert all(suite_of(experiment) == suite for experiment, (_, suite) in row_suites().items())


def test_train_sizes_keep_the_recipe_and_switch_warmups_on_at_step_one():
    trainer = {"generation_batch_size": 3584, "num_generations": 7}
    recipe = {"advantage": {"kwargs": {"reasoning_warmup": 200, "self_reward_warmup": 0, "c_ref": -23.0}}}
    values = train_overrides(trainer, recipe, {"decodings": {"sampled": {"num_samples": 4}}})
    assert values["trainer.max_steps"] == 3  # a warm-up switches on at step 1; step 3 runs with it on
    assert values["recipe.advantage.kwargs.reasoning_warmup"] == 1
    assert "recipe.advantage.kwargs.self_reward_warmup" not in values  # 0 already: nothing to switch on
    assert values["trainer.per_device_train_batch_size"] == 4 == values["trainer.generation_batch_size"]
    assert values["resources.completions_per_step"] == 4 and values["trainer.num_generations"] == 2
    assert values["evaluation.decodings.sampled.num_samples"] == 2
    assert train_overrides({}, {}, {}, train_rows=1)["trainer.per_device_train_batch_size"] == 2
    assert train_overrides({}, {}, {})["trainer.max_steps"] == 2


def test_eval_sizes_cap_every_benchmark():
    suite = yaml.safe_load((CONF / "suite" / "nsr.yaml").read_text())
    values = eval_overrides(suite)
    assert values["benchmarks.aime25.decodings.sampled.num_samples"] == 2  # the paper's 256
    assert values["benchmarks.math.limit"] == 4 and values["limit"] == 4
    rlcr = eval_overrides(yaml.safe_load((CONF / "suite" / "rlcr.yaml").read_text()))
    assert rlcr["probes.answer_tokens"] == 16 and rlcr["probes.confidence_tokens"] == 16  # the paper's 50 and 20
    certainty = eval_overrides(yaml.safe_load((CONF / "suite" / "self_certainty.yaml").read_text()))
    assert certainty["usc.sizes"] == [2]  # universal self-consistency's N = 4, 8, 16 over the 2 samples drawn
    assert "usc.sizes" not in eval_overrides({"usc": {"enabled": False, "sizes": [4]}})
    # the shorthand and a mapping without sizes run at the hook's default N, capped likewise
    assert eval_overrides({"usc": True})["usc"] == {"enabled": True, "sizes": [2]}
    assert eval_overrides({"usc": {"enabled": True}})["usc.sizes"] == [2]


def test_every_pretrained_model_has_a_stand_in_family():
    for path in (CONF / "model").glob("*.yaml"):
        model = yaml.safe_load(path.read_text())
        if model.get("source") == "pretrained":
            assert standins.family_of(model["name"]) in standins.standins()["families"], path.name
    assert standins.family_of("orz-7b") == "qwen2" and standins.family_of("octothinker-3b-short-base") == "llama"


def test_every_hub_dataset_has_a_fixture():
    for path in (CONF / "task").glob("*.yaml"):
        task = yaml.safe_load(path.read_text())
        sources = [task.get("path"), *[s["path"] for s in (task.get("split_sources") or {}).values()]]
        for hub in filter(None, sources):
            files = standins.fixture_files(hub)
            assert files and all(Path(f).exists() for f in files.values()), (path.name, hub)


def test_stand_in_tokenizers_carry_the_family_s_tokens(tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    directory = standins.save_policy("qwen2.5-7b", tmp_path / "qwen2")
    tokenizer, model = AutoTokenizer.from_pretrained(directory), AutoModelForCausalLM.from_pretrained(directory)
    assert type(model).__name__ == "Qwen2ForCausalLM"
    assert tokenizer.eos_token == tokenizer.pad_token == "<|endoftext|>" and tokenizer.bos_token is None
    assert len(tokenizer("<|vision_start|>", add_special_tokens=False)["input_ids"]) == 1  # LaSeR's z_c on Qwen
    # reloaded by transformers' own Qwen2 tokenizer class, every byte survives: PURE's step tag "\n" is one token
    text = "Step 1: 2 + 3 = 5\n\nSo \\boxed{5}, é"
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert tokenizer.decode(ids) == text and len(tokenizer("\n", add_special_tokens=False)["input_ids"]) == 1
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": "2+2?"}], tokenize=False, add_generation_prompt=True
    )
    assert text.endswith("<|im_start|>user\n2+2?<|im_end|>\n<|im_start|>assistant\n")
    qwen3 = standins.build_tokenizer("qwen3")
    assert qwen3.eos_token == "<|im_end|>" and len(qwen3("<think>", add_special_tokens=False)["input_ids"]) == 1
    assert standins.build_tokenizer("llama").chat_template is None  # the base model has none


@pytest.fixture(scope="module")
def standin_cache(tmp_path_factory):
    from rlrewards.rehearsal.cli import quiet_offline
    from rlrewards.rehearsal.runner import StandInCache

    quiet_offline()
    return StandInCache(tmp_path_factory.mktemp("standins"))


@pytest.mark.parametrize("experiment", representatives())
def test_representative_experiment_trains_and_evaluates(experiment, standin_cache, tmp_path):
    from rlrewards.rehearsal.runner import rehearse

    outcome = rehearse(experiment, tmp_path, standin_cache)
    assert (outcome.status, outcome.error) == ("pass", None)
    run_dir = tmp_path / "runs" / experiment
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["experiment"] == experiment and summary["steps"] in (2, 3)
    assert (run_dir / "model" / "config.json").exists()
    evaluation = run_dir / "rehearsal_eval"
    if suite_of(experiment):  # the paper's benchmarks, each scored
        suite = yaml.safe_load((CONF / "suite" / f"{suite_of(experiment)}.yaml").read_text())
        assert set(json.loads((evaluation / "metrics.json").read_text())) == set(suite["benchmarks"])


def test_every_evaluation_only_row_is_discovered_once_with_its_suite():
    papers = Path(__file__).resolve().parent.parent / "results" / "papers"
    rows = [
        (path.stem, row)
        for path in papers.glob("*.yaml")
        for row in yaml.safe_load(path.read_text())["reproduce"]
        if row.get("evaluate_only")
    ]

    def own(paper, row):  # a row's own suite, where it is not the paper's, tells two evaluations of one model apart
        return f" suite={row['suite']}" if row.get("suite") and row["suite"] != paper else ""

    expected = {f"{p}:base_experiment={e}{own(p, row)}" for p, row in rows for e in row.get("experiments") or []}
    expected |= {f"{p}:base_model={row['base_model']}{own(p, row)}" for p, row in rows if row.get("base_model")}
    targets = discover_evaluations()
    assert sorted(t.name for t in targets) == sorted(expected)  # self_certainty's four rows share one evaluation
    by_name = {t.name: t for t in targets}
    assert by_name["self_certainty:base_model=llama3.1-8b-instruct"].suite == "self_certainty"
    assert [t.paper for t in discover_evaluations("self_certainty")] == ["self_certainty"]
    assert EvaluationOnly("nsr", "base_experiment", "x", "nsr_qwen3").name == "nsr:base_experiment=x suite=nsr_qwen3"


@pytest.mark.parametrize("target", discover_evaluations(), ids=lambda t: t.name)
def test_evaluation_only_row_evaluates_its_model_s_stand_in_on_its_suite(target, standin_cache, tmp_path):
    """rlrewards-eval base_experiment= / base_model= as make reproduce prints it, with the model's stand-in as
    checkpoint and fixture data: every benchmark of the suite scored, self-certainty selection included."""
    from rlrewards.rehearsal.runner import rehearse_evaluation

    outcome = rehearse_evaluation(target, tmp_path, standin_cache)
    assert (outcome.status, outcome.error) == ("pass", None)
    [metrics_file] = (tmp_path / "evals").glob("*/metrics.json")
    metrics = json.loads(metrics_file.read_text())
    suite = yaml.safe_load((CONF / "suite" / f"{target.suite}.yaml").read_text())
    assert set(metrics) == set(suite["benchmarks"])
    assert all("bon_sc@2_sampled" in values and "borda_sc@2_sampled" in values for values in metrics.values())


@pytest.mark.slow
def test_every_experiment_rehearses(tmp_path):
    from rlrewards.rehearsal.cli import main

    code = main(["--keep-going", "--outputs", str(tmp_path)])
    summary = json.loads((tmp_path / "summary.json").read_text())
    failed = {name: entry["error"] for name, entry in summary.items() if entry["status"] != "pass"}
    assert (code, failed) == (0, {})
    assert set(summary) == set(discover_experiments()) | {target.name for target in discover_evaluations()}


def test_list_values_reach_the_config_as_lists():
    from rlrewards.rehearsal.runner import as_overrides

    overrides = as_overrides({"usc.sizes": [2, 4], "name": "a'b", "n": 3})
    assert overrides == ["++usc.sizes=[2,4]", "++name='a\\'b'", "++n=3"]
    assert as_overrides({"usc": {"enabled": True, "sizes": [2]}}) == ["++usc={enabled:true,sizes:[2]}"]
