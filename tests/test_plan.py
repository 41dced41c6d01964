"""The run's plan: the paper's batch on any number of processes, the numbers TRL will use, the schedule."""

import copy
from fractions import Fraction

import pytest
from conftest import CONFIG_DIR
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig, OmegaConf, open_dict

from rlrewards.config import ConfigError
from rlrewards.context import check_context
from rlrewards.plan import apply_paper_batch, batch_numbers, build_plan, derive_batch

WORLD_SIZES = (1, 2, 4, 8)


def compose_train(overrides: list[str]):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose(config_name="train", overrides=overrides)
    with open_dict(cfg):
        cfg.paths.output_dir = "/tmp/rlrewards-plan-test"
    return cfg


def paper_experiments() -> dict[str, DictConfig]:
    """Every experiment file that declares the paper's batch, found by composing conf/experiment/**."""
    names = sorted(
        str(p.relative_to(CONFIG_DIR / "experiment").with_suffix(""))
        for p in (CONFIG_DIR / "experiment").rglob("*.yaml")
    )
    composed = {name: compose_train([f"experiment={name}"]) for name in names}
    return {name: cfg for name, cfg in composed.items() if cfg.resources.completions_per_step is not None}


COMPOSED = paper_experiments()
PAPER_EXPERIMENTS = sorted(COMPOSED)


def plan_at(experiment: str, world: int, overrides: tuple[str, ...] = (), explicit: set[str] | None = None):
    composed = compose_train([f"experiment={experiment}", *overrides]) if overrides else COMPOSED[experiment]
    cfg = copy.deepcopy(composed)
    apply_paper_batch(cfg, world, explicit=explicit or set())
    check_context(cfg)
    return build_plan(cfg, world, experiment)


def test_paper_experiments_are_discovered():
    assert len(PAPER_EXPERIMENTS) >= 30
    assert {"laser/qwen2.5-7b", "pure/qwen2.5-math-7b_prm", "tempo/math_qwen3-1.7b", "rlcr/math_qwen2.5-7b"} <= set(
        PAPER_EXPERIMENTS
    )


@pytest.mark.parametrize("experiment", PAPER_EXPERIMENTS)
def test_the_paper_batch_and_updates_per_generation_hold_at_every_world_size(experiment):
    declared = COMPOSED[experiment].resources.completions_per_step
    plans = [plan_at(experiment, world) for world in WORLD_SIZES]
    assert [p["completions_per_step"] for p in plans] == [declared] * len(WORLD_SIZES)
    assert len({p["updates_per_generation"] for p in plans}) == 1
    assert len({p["generation_batch_size"] for p in plans}) == 1


@pytest.mark.parametrize(
    ("experiment", "world", "accumulation", "steps_per_generation", "generation_batch", "updates"),
    [
        # LaSeR: 128 prompts x 8 = 1024 per step, 8 per device: 1024 / (8 x 8) = 16 on 8 GPUs (the old file: 128)
        ("laser/qwen2.5-7b", 8, 16, 16, 1024, 1),
        ("laser/qwen2.5-7b", 1, 128, 128, 1024, 1),
        # PURE: 64 x 8 = 512, 8 per device: 512 / 64 = 8 on 8 GPUs
        ("pure/qwen2.5-math-7b_prm", 8, 8, 8, 512, 1),
        # TEMPO: 448 per step, 3584 per generation, 7 per device: on 8 GPUs 448 / 56 = 8, 3584 / 56 = 64 -> 8 updates
        ("tempo/math_qwen3-1.7b", 8, 8, 64, 3584, 8),
        ("tempo/math_qwen3-1.7b", 1, 64, 512, 3584, 8),
        # RLCR math: 2304 = 72 x 32, 6 per device: 2304 / 6 = 384 on 1 GPU (the file's 64 is for 6 GPUs)
        ("rlcr/math_qwen2.5-7b", 1, 384, 384, 2304, 1),
        ("rlcr/math_qwen2.5-7b", 6, 64, 64, 2304, 1),
    ],
)
def test_hand_computed_batches(experiment, world, accumulation, steps_per_generation, generation_batch, updates):
    plan = plan_at(experiment, world)
    assert plan["world_size"] == world
    assert plan["gradient_accumulation_steps"] == accumulation
    assert plan["steps_per_generation"] == steps_per_generation
    assert plan["generation_batch_size"] == generation_batch
    assert plan["updates_per_generation"] == updates


def test_an_indivisible_batch_is_refused_naming_the_numbers():
    # RLCR math on 5 GPUs: 6 per device x 5 = 30 does not divide 2304
    numbers = r"completions_per_step=2304 .*per_device_train_batch_size=6 x 5 processes = 30"
    with pytest.raises(ConfigError, match=numbers):
        plan_at("rlcr/math_qwen2.5-7b", 5)
    # a smaller micro-batch makes it divide: 2304 / (4 x 6) = 96
    assert plan_at("rlcr/math_qwen2.5-7b", 6, ("trainer.per_device_train_batch_size=4",))[
        "gradient_accumulation_steps"
    ] == 96


def test_a_contradicting_command_line_accumulation_is_refused_unless_opted_out():
    explicit = {"trainer.gradient_accumulation_steps"}
    with pytest.raises(ConfigError, match=r"gradient_accumulation_steps=128 on the command line makes 8 x 8 processes "
                       r"x 128 = 8192 .*completions_per_step=1024, which needs 16 on 8 processes"):
        plan_at("laser/qwen2.5-7b", 8, ("trainer.gradient_accumulation_steps=128",), explicit)
    agreeing = plan_at("laser/qwen2.5-7b", 8, ("trainer.gradient_accumulation_steps=16",), explicit)
    assert agreeing["completions_per_step"] == 1024
    opt_out = ("trainer.gradient_accumulation_steps=128", "resources.completions_per_step=null")
    opted_out = plan_at("laser/qwen2.5-7b", 8, opt_out, explicit)
    assert opted_out["completions_per_step"] == 8 * 8 * 128


def test_apply_paper_batch_is_idempotent_and_writes_the_trainer():
    cfg = compose_train(["experiment=tempo/math_qwen3-1.7b"])
    assert apply_paper_batch(cfg, 4, explicit=set()) == {"gradient_accumulation_steps": 16}
    assert apply_paper_batch(cfg, 4, explicit=set()) == {"gradient_accumulation_steps": 16}
    assert cfg.trainer.gradient_accumulation_steps == 16 and cfg.trainer.generation_batch_size == 3584


def test_steps_per_generation_is_rescaled_with_the_accumulation():
    trainer = {"per_device_train_batch_size": 8, "gradient_accumulation_steps": 4, "steps_per_generation": 8}
    # 256 / (8 x 2) = 16 accumulation; 2 optimizer steps per generation -> 32 micro-steps per generation
    assert derive_batch(trainer, 256, 2) == {"gradient_accumulation_steps": 16, "steps_per_generation": 32}
    odd = {"per_device_train_batch_size": 8, "gradient_accumulation_steps": 2, "steps_per_generation": 3}
    with pytest.raises(ConfigError, match=r"steps_per_generation=3 is 3/2 x .* 1.5 micro-steps"):
        derive_batch(odd, 16, 2)


@pytest.mark.parametrize(
    "fields",
    [
        {"gradient_accumulation_steps": 4},
        {"gradient_accumulation_steps": 4, "generation_batch_size": 64},
        {"gradient_accumulation_steps": 2, "steps_per_generation": 6},
        {"gradient_accumulation_steps": 4, "num_iterations": 2, "generation_batch_size": 32},
    ],
)
def test_batch_numbers_are_the_ones_trl_derives(fields, tmp_path):
    from trl import GRPOConfig

    args = GRPOConfig(
        output_dir=str(tmp_path), per_device_train_batch_size=8, num_generations=4, use_cpu=True, **fields
    )
    numbers = batch_numbers({"per_device_train_batch_size": 8, "num_generations": 4, **fields}, args.world_size)
    assert numbers["steps_per_generation"] == args.steps_per_generation
    assert numbers["generation_batch_size"] == args.generation_batch_size
    expected = Fraction(args.steps_per_generation * args.num_iterations, args.gradient_accumulation_steps)
    assert numbers["updates_per_generation"] == expected


def test_the_plan_lists_the_recipe_warmups():
    plan = plan_at("laser/orz-7b", 8)
    assert (plan["reasoning_warmup"], plan["self_reward_warmup"]) == (0, 200)
    assert plan["model_max_positions"] == 32768 and plan["max_prompt_length"] == 2048
    assert plan["max_completion_length"] == 8192 and plan["recipe"] == "laser"


def test_a_generation_batch_without_whole_groups_is_refused():
    cfg = compose_train(["trainer.per_device_train_batch_size=12", "trainer.num_generations=8"])
    with pytest.raises(ConfigError, match=r"36 completions per generation on 3 processes .*num_generations=8"):
        build_plan(cfg, 3)


def test_the_plan_is_json_ready():
    import json

    plan = plan_at("tempo/math_qwen3-1.7b", 2)
    assert json.loads(json.dumps(plan)) == plan
    assert OmegaConf.create(plan).prompts_per_step == 64
