"""Every option of every config group and every experiment file composes, and every _target_ instantiates."""

from pathlib import Path

import pytest
from conftest import CONFIG_DIR
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.utils import instantiate
from omegaconf import OmegaConf, open_dict

from rlrewards.config import validate_config

GROUPS = ["recipe", "model", "task", "trainer", "logger", "deepspeed", "paths", "debug"]


def options(group: str) -> list[str]:
    return sorted(str(p.relative_to(CONFIG_DIR / group).with_suffix("")) for p in (CONFIG_DIR / group).rglob("*.yaml"))


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


@pytest.mark.parametrize("experiment", options("experiment"))
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


@pytest.mark.parametrize("suite", options("suite"))
def test_every_eval_suite_composes_and_builds_its_benchmark_tasks(suite):
    from rlrewards.evaluate import benchmark_tasks

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose(config_name="eval", overrides=["run_dir=unused", f"suite={suite}"])
    train_cfg = compose_train([f"recipe={suite}", "recipe.answer_format=boxed"])
    OmegaConf.resolve(train_cfg)
    tasks = benchmark_tasks(cfg, train_cfg)
    expected = {"laser": 5, "pure": 5, "rlcr": 9, "tempo": 6, "nsr": 3, "rlpr": 3}  # the benchmarks each paper reports
    assert set(tasks) == set(cfg.benchmarks) and len(tasks) == expected[suite]
    for name, (spec, task) in tasks.items():
        own_format = (spec.get("task_overrides") or {}).get("answer_format")  # suite=tempo grades MC sets by <answer>
        assert task.name == name and task.answer_format == (own_format or "boxed")
        assert all(d.num_samples >= 1 for d in (spec.get("decodings") or cfg.decodings).values())
