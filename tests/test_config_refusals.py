"""Issue 14.3: values that used to fail after the model load (or never) are refused by validation, before anything
loads, with a ConfigError naming the key; a failure before training leaves no run directory."""

import importlib.util
import subprocess
import sys

import pytest
from conftest import REPO_ROOT
from test_configs import compose_train, options

from rlrewards.config import ConfigError, validate_config, validate_trainer_args

CHEAP_REFUSALS = [
    (["trainer.per_device_train_batch_size=0"], r"^trainer.per_device_train_batch_size=0 must be >= 1$"),
    (["trainer.per_device_train_batch_size=-8"], r"^trainer.per_device_train_batch_size=-8 must be >= 1$"),
    (["trainer.gradient_accumulation_steps=0"], r"^trainer.gradient_accumulation_steps=0 must be >= 1$"),
    (["trainer.temperature=0"], r"^trainer.temperature=0 must be > 0: GRPO samples its completions"),
    (["trainer.temperature=-0.5"], r"^trainer.temperature=-0.5 must be > 0"),
    (["trainer.max_completion_length=0"], r"^trainer.max_completion_length=0 must be >= 1$"),
    (["trainer.beta=-0.1"], r"^trainer.beta=-0.1 must be >= 0: it is the KL coefficient"),
    (["trainer.learning_rate=fast"], r"^trainer.learning_rate='fast' must be a number$"),
    (["trainer.per_device_train_batch_size=eight"], r"^trainer.per_device_train_batch_size='eight' must be an integer"),
    (["evaluation.limit=0"], r"^evaluation.limit=0 must be >= 1$"),
    (["evaluation.limit=-5"], r"^evaluation.limit=-5 must be >= 1$"),
    (["evaluation.decodings.sampled.num_samples=0"], r"^evaluation.decodings.sampled.num_samples=0 must be >= 1$"),
    (
        ["evaluation.decodings.sampled.temperature=0.0"],
        r"^evaluation.decodings.sampled.temperature=0.0 with num_samples=4: greedy decoding repeats one completion",
    ),
    (["evaluation.decodings.greedy.temperature=-1"], r"^evaluation.decodings.greedy.temperature=-1.0 must be >= 0"),
    (
        ["+evaluation.decodings.sampled.top_k=-1"],
        r"^evaluation.decodings.sampled.top_k=-1 must be >= 1 \(null or 0: off\)$",
    ),
    (["+evaluation.decodings.sampled.top_k=2.5"], r"^evaluation.decodings.sampled.top_k=2.5 must be an integer >= 1"),
    (["+evaluation.decodings.greedy.top_k=20"], r"^evaluation.decodings.greedy.top_k=20 with temperature=0.0: greedy"),
    (["recipe=laser", "recipe.slot_token=''"], r"^recipe.slot_token='' must be a token string, not empty or blank$"),
    (["recipe=laser", "recipe.slot_token=-1"], r"^recipe.slot_token=-1 must be a non-negative token id$"),
    (["recipe=laser", "recipe.slot_token=1.5"], r"^recipe.slot_token=1.5 must be a token string or a non-negative"),
    (
        ["model=qwen2.5-0.5b", "model.name_or_path=/nonexistent/checkpoint"],
        r"^model.name_or_path=/nonexistent/checkpoint: the local path does not exist",
    ),
    (
        ["model=qwen2.5-0.5b", "model.name_or_path=./runs/nothing/model"],
        r"^model.name_or_path=./runs/nothing/model: the local path does not exist",
    ),
    (
        ["model=qwen2.5-0.5b", "model.name_or_path=outputs/run-1/model"],
        r"^model.name_or_path=outputs/run-1/model: the local path does not exist",
    ),
    (
        ["recipe=pure", "task=math"],
        r"^recipe.advantage.kwargs.prm.tasks=\['arith', 'arith_levels'\]: arith_rule cannot score task math",
    ),
    (
        ["recipe=pure_sum", "task=gsm8k"],
        r"^recipe.advantage.kwargs.prm.tasks=\['arith', 'arith_levels'\]: arith_rule cannot score task gsm8k",
    ),
]


@pytest.mark.parametrize(("overrides", "message"), CHEAP_REFUSALS, ids=[" ".join(o) for o, _ in CHEAP_REFUSALS])
def test_cheap_validation_refuses_and_names_the_key(overrides, message):
    with pytest.raises(ConfigError, match=message):
        validate_config(compose_train(overrides))


def test_a_local_path_that_is_a_file_is_refused(tmp_path):
    weights = tmp_path / "model.safetensors"
    weights.write_text("")
    cfg = compose_train(["model=qwen2.5-0.5b", f"model.name_or_path={weights}"])
    with pytest.raises(ConfigError, match=r"model.name_or_path=.*model.safetensors: the local path is not a directory"):
        validate_config(cfg)


@pytest.mark.parametrize(
    "overrides",
    [
        ["model=qwen2.5-0.5b"],  # a hub id: offline use is the hub's business
        ["model=qwen2.5-0.5b", "model.name_or_path=gpt2"],
        ["evaluation.limit=null"],
        ["+evaluation.decodings.sampled.top_k=20"],
        ["+evaluation.decodings.greedy.top_k=0"],  # 0: off, as greedy needs
        ["evaluation.decodings.sampled.num_samples=1", "evaluation.decodings.sampled.temperature=0.0"],
        ["recipe=pure", "task=arith_levels"],
        ["experiment=pure/qwen2.5-math-7b_prm"],  # the hub PRM replaces the rule PRM, and its task restriction
        ["recipe=laser", "recipe.slot_token=3"],
    ],
)
def test_valid_values_pass(overrides, tmp_path):
    validate_config(compose_train(overrides))


def test_an_existing_local_directory_passes(tmp_path):
    validate_config(compose_train(["model=qwen2.5-0.5b", f"model.name_or_path={tmp_path}"]))


# The second stage: needs trl (and the embedded tokenizer), still before any model, tokenizer or dataset loads.
TRAINER_ARGS_REFUSALS = [
    (["+trainer.lerning_rate=1e-5"], r"^trainer.lerning_rate is not a GRPOConfig field"),
    (["recipe.rewards.accuracy.fn=acuracy"], r"^recipe.rewards.accuracy.fn: Unknown reward function 'acuracy'"),
    (["+recipe.advantage.name=nope"], r"^recipe.advantage.name: Unknown advantage estimator 'nope'"),
    (["task._target_=rlrewards.tasks.arith.NoSuchTask"], r"^task._target_: Cannot import task class .*NoSuchTask"),
    (["trainer.max_steps=two"], r"^trainer.max_steps='two' must be of type int$"),
    (["trainer.use_cpu=maybe"], r"^trainer.use_cpu='maybe' must be of type bool$"),
    (["trainer.logging_steps=1.5"], r"^trainer.logging_steps: --logging_steps must be an integer if bigger than 1"),
    (["+trainer.warmup_steps=-1"], r"^trainer.warmup_steps: Got warmup_steps = -1"),
    (["trainer.lr_scheduler_type=bogus"], r"^trainer.lr_scheduler_type: bogus is not a valid SchedulerType"),
    (
        ["+trainer.generation_batch_size=16", "+trainer.steps_per_generation=2"],
        r"^trainer.generation_batch_size: 'generation_batch_size' and 'steps_per_generation' can not be both",
    ),
    (
        ["recipe=laser", "recipe.slot_token='<|reserved_9|>'"],
        r"^recipe.slot_token='<\|reserved_9\|>' is not a single token of this tokenizer$",
    ),
    (["recipe=laser", "recipe.slot_token=5000"], r"^recipe.slot_token=5000: id 5000 is outside the vocabulary"),
]


@pytest.mark.parametrize(
    ("overrides", "message"), TRAINER_ARGS_REFUSALS, ids=[" ".join(o) for o, _ in TRAINER_ARGS_REFUSALS]
)
def test_trainer_args_validation_refuses_and_names_the_key(overrides, message):
    cfg = compose_train(overrides)
    validate_config(cfg)  # the cheap stage lets these through
    with pytest.raises(ConfigError, match=message):
        validate_trainer_args(cfg)


@pytest.mark.skipif(importlib.util.find_spec("deepspeed") is not None, reason="deepspeed is installed")
def test_a_deepspeed_config_without_the_package_is_named():
    with pytest.raises(ConfigError, match=r"^deepspeed.config: .*deepspeed"):
        validate_trainer_args(compose_train(["deepspeed=zero3"]))


def test_trainer_args_validation_passes_the_demo_and_writes_nothing(tmp_path):
    cfg = compose_train(["recipe=laser"])
    cfg.paths.output_dir = str(tmp_path / "run")
    validate_trainer_args(cfg)
    assert not (tmp_path / "run").exists()


CHECK_CHEAP_IMPORTS = """
import sys
sys.path.insert(0, "tests")
from test_configs import compose_train, options
from rlrewards.config import ConfigError, validate_config
validate_config(compose_train(["experiment=laser/qwen2.5-7b"]))
try:
    validate_config(compose_train(["trainer.per_device_train_batch_size=0"]))
except ConfigError:
    pass
print(sorted(m for m in ("torch", "transformers", "trl", "datasets") if m in sys.modules))
"""


def test_cheap_validation_imports_no_ml_library():
    result = subprocess.run(
        [sys.executable, "-c", CHECK_CHEAP_IMPORTS], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize("experiment", options("experiment"))
def test_every_experiment_passes_both_stages(experiment):
    # the second stage builds each recipe's parts (hub PRMs load lazily) and its GRPOConfig; bf16 needs a GPU here
    cfg = compose_train([f"experiment={experiment}", "++trainer.bf16=false", "++trainer.use_cpu=true"])
    validate_config(cfg)
    validate_trainer_args(cfg)
