"""LaSeR's gated verifier reward (official format rule) and the refusal of warm-ups that outlast the run."""

import pytest
from test_configs import compose_train

from rlrewards.config import ConfigError, validate_config
from rlrewards.recipes.laser import laser_accuracy_reward, laser_format_ok
from rlrewards.rewards import build_reward_functions

BOXED_PROMPT = [
    {"role": "user", "content": "What is 2+3? Please reason step by step, and put your final answer within \\boxed{}."}
]
R1_PROMPT = [
    {"role": "system", "content": "... enclosed within <think> </think> and <answer> </answer> tags ..."},
    {"role": "user", "content": "What is 2+3?"},
]


def reward(prompt, texts, answer_format="boxed"):
    completions = [[{"role": "assistant", "content": text}] for text in texts]
    return laser_accuracy_reward([prompt] * len(texts), completions, ["5"] * len(texts), answer_format=answer_format)


def test_boxed_mode_pays_only_a_single_box():
    texts = [
        "2+3=5, so \\boxed{5}",  # one box, right
        "either \\boxed{4} or \\boxed{5}",  # hedging: the last box is right, the official reward gives 0
        "\\boxed{5} and again \\boxed{5}",  # a repeated box also gives 0 (the official comment: 'avoid repeats')
        "\\boxed{4}",  # one box, wrong
        "the answer is 5",  # no box
        "\\boxed{5",  # an unclosed box
    ]
    assert reward(BOXED_PROMPT, texts) == [1.0, 0.0, 0.0, 0.0, 0.0, 0.0]


def test_r1_prompts_need_the_r1_tags_around_a_box():
    texts = [
        "<think>2+3=5</think> <answer>\\boxed{5}</answer>",
        "2+3=5</think><answer>The answer is \\boxed{5}.</answer>",  # no opening <think> needed, as the official regex
        "<think>2+3=5</think> <answer>\\boxed{5}</answer>\n",  # anything after </answer> fails the full match
        "<think>a</think> <answer>\\boxed{4}</answer> <answer>\\boxed{5}</answer>",  # two answer tags
        "<think>2+3=5</think> <answer>5</answer>",  # no box inside the answer
        "\\boxed{5}",  # boxed-mode text under an R1 prompt
        "<answer>\\boxed{5}</answer> <think>x</think>",  # </think> after the answer
    ]
    assert reward(R1_PROMPT, texts) == [1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0]


def test_tag_formats_pay_a_single_answer_tag():
    texts = ["2+3=5\n\n<answer>5</answer>", "<answer>4</answer>\n\n<answer>5</answer>", "no tag"]
    assert reward(BOXED_PROMPT, texts, answer_format="answer_tag") == [1.0, 0.0, 0.0]
    assert laser_format_ok("<think>x</think> <answer>5</answer>", "", "think_answer")
    assert not laser_format_ok("<think>x <answer>5</answer>", "", "think_answer")  # the format asks for </think>


def test_the_gate_is_linear_and_never_raises_on_hostile_output():
    hostile = "\\boxed{" * 20000 + "}" * 20000 + "<answer>" + "</think>"
    assert reward(R1_PROMPT, [hostile, None]) == [0.0, 0.0]
    assert reward(BOXED_PROMPT, [hostile]) == [0.0]


def test_the_laser_recipes_use_the_gated_reward():
    for recipe in ("laser", "laser_swa"):
        cfg = compose_train([f"recipe={recipe}"])
        assert cfg.recipe.rewards.accuracy.fn == "laser_accuracy"
        (fn,), _ = build_reward_functions({"accuracy": {"fn": "laser_accuracy", "kwargs": {"answer_format": "boxed"}}})
        completions = [[{"role": "assistant", "content": "\\boxed{4} \\boxed{5}"}]]
        assert fn([BOXED_PROMPT], completions, answer=["5"]) == [0.0]


def test_default_laser_recipe_trains_the_self_reward_on_the_default_trainer():
    cfg = compose_train(["recipe=laser"])
    validate_config(cfg)  # 20 + 30 < 100 steps: every phase runs
    kwargs = cfg.recipe.advantage.kwargs
    assert (kwargs.reasoning_warmup, kwargs.self_reward_warmup, cfg.trainer.max_steps) == (20, 30, 100)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            ["recipe.advantage.kwargs.reasoning_warmup=200"],
            r"reasoning_warmup=200 >= trainer.max_steps=100: the self-reward loss would never train",
        ),
        (
            ["recipe.advantage.kwargs.reasoning_warmup=60", "recipe.advantage.kwargs.self_reward_warmup=40"],
            r"reasoning_warmup=60 \+ recipe.advantage.kwargs.self_reward_warmup=40 >= trainer.max_steps=100",
        ),
        (["trainer.max_steps=20"], r"reasoning_warmup=20 >= trainer.max_steps=20"),
        (["recipe.advantage.kwargs.self_reward_warmup=-1"], r"must be >= 0"),
    ],
)
def test_warmups_that_outlast_the_run_are_refused_naming_both_numbers(overrides, message):
    with pytest.raises(ConfigError, match=message):
        validate_config(compose_train(["recipe=laser", *overrides]))


def test_no_mixing_needs_only_the_loss_phase_and_other_recipes_are_untouched():
    validate_config(compose_train(["recipe=laser_swa", "recipe.advantage.kwargs.self_reward_warmup=500"]))
    validate_config(compose_train(["recipe=grpo", "trainer.max_steps=1"]))
    validate_config(compose_train(["recipe=laser", "trainer.max_steps=-1", "+trainer.num_train_epochs=1"]))
