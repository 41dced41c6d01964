"""Universal self-consistency as the self-certainty paper's official code runs it (rlrewards/eval/usc_eval.py): the
prompt, the question it quotes, the index read from the reply, the "close" fallback, and the hook wired into
evaluate_split with a stand-in sampler that plays the model picking a response."""

import pytest
from datasets import Dataset
from omegaconf import OmegaConf

from rlrewards.config import ConfigError
from rlrewards.eval.generation import DecodingConfig, evaluate_split
from rlrewards.eval.hooks import HookSetup, select_hooks
from rlrewards.eval.usc_eval import (
    UniversalSelfConsistency,
    extract_question,
    response_index,
    selected_sample,
    usc_prompt,
)


def test_the_prompt_is_the_official_text():
    assert usc_prompt("What is 2+2?", ["four", "4"]) == (
        "I have generated the following responses to the question: What is 2+2?\n"
        "Response 0: four\n\nResponse 1: 4\n\n"
        "Evaluate these responses.\n"
        "Select the most consistent response based on majority consensus.\n"
        'Format you answer as "The most consistent response is Response X" (wihtout quotes).\n'
    )


@pytest.mark.parametrize(
    ("prompt", "question"),
    [
        ("### Question:\nSort a list.\n\n### Format: code", "Sort a list."),  # LiveCodeBench's layout
        ("intro ### Question: no format section", "no format section"),
        ("\n## Question: \n\nWhat is 2+2?\n\n## Instruction", ""),  # ZeroEval's math prompt: the official finds none
    ],
)
def test_the_question_is_read_as_the_official_extract_question_reads_it(prompt, question):
    assert extract_question(prompt) == question


@pytest.mark.parametrize(
    ("reply", "index"),
    [
        ("The most consistent response is Response 2", 2),
        ("Response 1 agrees with Response 3, so: Response 3", 3),  # the last one named
        ("Response\n0", 0),
        ("Response 4", None),  # only 0 ... 3 exist
        ("the second one", None),
        ("Response " + "9" * 5000, None),  # no int() of 5,000 digits
        (None, None),
    ],
)
def test_the_index_is_the_last_response_named(reply, index):
    assert response_index(reply, 4) == index


def test_an_unreadable_or_answerless_choice_falls_back_as_the_close_mode_does():
    group = [{"extracted": None}, {"extracted": "3"}, {"extracted": "5"}]
    assert selected_sample(group, "Response 2") == (2, True)
    assert selected_sample(group, "no index") == (1, False)  # response 0 by default, which has no answer: then 1
    assert selected_sample(group, "Response 0") == (1, True)
    # the fallback searches the first 8 responses only (the official default N), whatever the USC N
    sixteen = [{"extracted": None}] * 9 + [{"extracted": "7"}] * 7
    assert selected_sample(sixteen, "Response 3") == (3, True)
    assert selected_sample([{"extracted": None}] * 7 + [{"extracted": "7"}] * 9, "Response 3") == (7, True)


def rows():
    return Dataset.from_list(
        [
            {"id": "p", "prompt": [{"role": "user", "content": "1+2"}], "answer": "3", "checker": "numeric"},
            {"id": "q", "prompt": [{"role": "user", "content": "2+3"}], "answer": "5", "checker": "numeric"},
        ]
    )


def model_stand_in(texts, decoding, seed):
    """Four samples per problem; as the USC judge (one greedy reply) it names response 1 among four and response 7,
    which does not exist, among two."""
    if "I have generated the following responses" in texts[0]:
        assert decoding.num_samples == 1 and decoding.temperature == 0.0 and decoding.name.startswith("usc")
        yield [["The most consistent response is Response 1" if "Response 3:" in t else "Response 7"] for t in texts]
        return
    replies = ["<answer>4</answer>", "<answer>3</answer>", "<answer>5</answer>", "<answer>5</answer>"]
    yield [replies[: decoding.num_samples] for _ in texts]


def test_the_hook_asks_the_model_and_grades_the_chosen_response(tiny_model, tiny_tokenizer):
    sampled = DecodingConfig(name="sampled", num_samples=4, temperature=1.0)
    metrics, records = evaluate_split(
        tiny_model, tiny_tokenizer, rows(), "answer_tag", [sampled], hooks=[UniversalSelfConsistency([2, 4, 8])],
        sampler=model_stand_in,
    )  # fmt: skip
    # N = 4: response 1 is "3": right for p (gold 3), wrong for q (gold 5)
    assert metrics["usc@4_sampled"] == 0.5 and metrics["usc_unparsed@4_sampled"] == 0.0
    # N = 2: "Response 7" names none of the two: response 0, "4", wrong for both
    assert metrics["usc@2_sampled"] == 0.0 and metrics["usc_unparsed@2_sampled"] == 1.0
    assert "usc@8_sampled" not in metrics  # only 4 samples drawn
    first = [r for r in records if r["sample"] == 0]
    assert [(r["usc"]["2"]["chosen"], r["usc"]["4"]["chosen"]) for r in first] == [(0, 1), (0, 1)]


def hooks(eval_config):
    run = OmegaConf.create({"recipe": {"answer_format": "answer_tag"}, "evaluation": {}})
    selected = select_hooks(HookSetup(run, OmegaConf.create(eval_config)))
    return [hook for hook in selected if isinstance(hook, UniversalSelfConsistency)]


def test_the_config_switch_and_its_checks():
    assert hooks({"usc": {"enabled": False}}) == [] and hooks({}) == []
    [hook] = hooks({"usc": {"enabled": True, "sizes": [8, 4, 8]}})
    assert hook.sizes == (4, 8)
    for bad in ([], [0], ["x"], 4):
        with pytest.raises(ConfigError, match="usc.sizes"):
            hooks({"usc": {"enabled": True, "sizes": bad}})
