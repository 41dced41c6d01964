"""Every option of every config group and every experiment file composes, and every _target_ instantiates."""

from pathlib import Path

import pytest
import yaml
from conftest import CONFIG_DIR
from discovery import config_options, experiments, suites
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.utils import instantiate
from omegaconf import OmegaConf, open_dict

from rlrewards.config import validate_config
from rlrewards.reporting.paper import load_paper, suite_paper

GROUPS = ["recipe", "model", "task", "trainer", "logger", "deepspeed", "paths", "debug"]


options = config_options  # other test modules import it from here


def compose_train(overrides: list[str]):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose(config_name="train", overrides=overrides, return_hydra_config=True)
    with open_dict(cfg):
        cfg.paths.output_dir = "/tmp/rlrewards-compose-test"
        del cfg["hydra"]
    return cfg


def instantiate_targets(node, path="") -> list[str]:
    found = []
    if OmegaConf.is_dict(node):
        if "_target_" in node and not str(node._target_).startswith(("optuna.", "hydra_plugins.")):
            instantiate(node, _convert_="all")
            found.append(path or "<root>")
        for key in node:
            found += instantiate_targets(node[key], f"{path}.{key}" if path else str(key))
    return found


CASES = [(group, option) for group in GROUPS for option in options(group)]


@pytest.mark.parametrize(("group", "option"), CASES, ids=[f"{g}={o}" for g, o in CASES])
def test_every_group_option_composes_and_resolves(group, option):
    cfg = compose_train([f"{group}={option}"])
    OmegaConf.resolve(cfg)
    validate_config(cfg)
    instantiate_targets(cfg)


@pytest.mark.parametrize("experiment", experiments())
def test_every_experiment_composes_validates_and_instantiates(experiment):
    # validation builds the advantage estimator; hub PRMs (PURE's 7B PRM) load lazily, so nothing is downloaded
    cfg = compose_train([f"experiment={experiment}"])
    OmegaConf.resolve(cfg)
    validate_config(cfg)
    assert "task" in instantiate_targets(cfg)


@pytest.mark.parametrize("search", options("hparams_search"))
def test_every_hparams_search_composes(search):
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper")
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose(config_name="train", overrides=[f"hparams_search={search}"], return_hydra_config=True)
    assert cfg.hydra.sweeper.params
    assert cfg.optimized_metric.startswith("eval/")


def test_the_default_is_the_embedded_demo():
    cfg = compose_train([])
    choices = {"model": cfg.model.name, "task": cfg.task.name, "recipe": cfg.recipe.name, "logger": cfg.logger.name}
    assert choices == {"model": "tiny", "task": "arith", "recipe": "grpo", "logger": "wandb"}
    assert cfg.trainer.use_cpu is True
    assert cfg.task.answer_format == cfg.recipe.answer_format


def test_hydra_does_not_change_directory_and_runs_land_under_log_dir():
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose(config_name="train", return_hydra_config=True)
    assert cfg.hydra.job.chdir is False
    assert "${paths.log_dir}" in OmegaConf.to_container(cfg.hydra.run)["dir"]


def test_groups_cover_the_documented_layout():
    present = {p.name for p in Path(CONFIG_DIR).iterdir() if p.is_dir()}
    assert set(GROUPS) | {"hydra", "experiment", "hparams_search"} <= present


@pytest.mark.parametrize(
    ("suite", "experiment", "uses_run_prompt"),
    [
        ("pure", "pure/qwen2.5-math-7b_prm", True),
        ("laser", "laser/qwen2.5-7b", True),
        ("rlcr", "rlcr/math_qwen2.5-7b", False),
    ],
)
def test_suites_that_evaluate_with_the_training_prompt_take_the_runs_template(suite, experiment, uses_run_prompt):
    from rlrewards.evaluate import benchmark_tasks

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose(config_name="eval", overrides=["run_dir=unused", f"suite={suite}"])
    train_cfg = compose_train([f"experiment={experiment}"])
    OmegaConf.resolve(train_cfg)
    math500 = benchmark_tasks(cfg, train_cfg)["math500"][1]
    own = OmegaConf.load(CONFIG_DIR / "task" / "math500.yaml").prompt_template
    expected = train_cfg.task.prompt_template if uses_run_prompt else own
    assert math500.prompt_template == expected and (expected != own) == uses_run_prompt


def compared_benchmarks(node) -> set[str]:
    """The conf/task names a paper's ``compare`` spec reads: columns' ``benchmarks`` and ``row_benchmarks`` values."""
    if isinstance(node, list):
        return set().union(*(compared_benchmarks(item) for item in node))
    if not isinstance(node, dict):
        return set()
    found = set(node.get("row_benchmarks", {}).values())
    if isinstance(node.get("benchmarks"), list):
        found |= set(node["benchmarks"])
    other = [value for key, value in node.items() if key not in ("benchmarks", "row_benchmarks")]
    return found | compared_benchmarks(other)


@pytest.mark.parametrize("suite", suites())
def test_every_eval_suite_composes_and_builds_its_benchmark_tasks(suite):
    from rlrewards.evaluate import benchmark_tasks, validate_eval_decodings

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose(config_name="eval", overrides=["run_dir=unused", f"suite={suite}"])
    paper = suite_paper(suite)  # the suite's own paper, or the one whose reproduce rows name it (nsr_qwen3: nsr)
    assert paper is not None, f"conf/suite/{suite}.yaml: no results/papers/ file is named so or names it in a row"
    # the paper's recipe; a paper that trains nothing (self-certainty) has none and evaluates in the default config
    recipe = [f"recipe={paper}"] if (CONFIG_DIR / "recipe" / f"{paper}.yaml").exists() else []
    train_cfg = compose_train([*recipe, "recipe.answer_format=boxed"])
    OmegaConf.resolve(train_cfg)
    tasks = benchmark_tasks(cfg, train_cfg)
    validate_eval_decodings(cfg)  # every decoding as rlrewards-eval checks it before any model loads
    # the suite evaluates exactly the benchmarks its paper's reference tables are compared on (results/papers/)
    assert set(tasks) == set(cfg.benchmarks) == compared_benchmarks(load_paper(paper)["compare"])
    for name, (spec, task) in tasks.items():
        own_format = (spec.get("task_overrides") or {}).get("answer_format")  # suite=tempo grades MC sets by <answer>
        task_format = str(yaml.safe_load((CONFIG_DIR / "task" / f"{name}.yaml").read_text())["answer_format"])
        fixed = None if task_format.startswith("${") else task_format  # ZeroEval's tasks fix their own
        assert task.name == name and task.answer_format == (own_format or fixed or "boxed")
        assert all(d.num_samples >= 1 for d in (spec.get("decodings") or cfg.decodings).values())
