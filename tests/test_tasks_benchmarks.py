"""TEMPO's data adapters (MedQA-USMLE, MedMCQA, MMLU-Medical, GSM-HARD, AMC23), loaded offline through their real
configs from fixture files with each hub dataset's schema, and the multiple-choice checker."""

import json

import pytest
from conftest import FIXTURES
from hydra.utils import instantiate
from omegaconf import OmegaConf
from test_configs import compose_train

from rlrewards.rewards.checkers import choice_match, pick_choice
from rlrewards.tasks.base import DatasetRowError


def load_task(task: str, data_files: dict[str, str], recipe: str = "tempo"):
    """``data_files`` is keyed by the hub dataset's own split names, which the task's ``splits`` refer to."""
    cfg = compose_train([f"task={task}", f"recipe={recipe}"])
    cfg.task.data_files = {split: str(FIXTURES / path) for split, path in data_files.items()}
    OmegaConf.resolve(cfg)
    return instantiate(cfg.task, _convert_="all")


def test_medqa_reproduces_the_official_prompt_layout_and_grades_by_option():
    task = load_task("medqa", {"train": "medqa_usmle/train.jsonl", "test": "medqa_usmle/test.jsonl"})
    train = task.load_split("train")
    assert len(train) == 2
    system, user = train[0]["prompt"]
    assert system["role"] == "system" and "<think> reasoning process here </think>" in system["content"]
    assert user["content"].endswith(
        "for this patient?A: Ampicillin, B: Ceftriaxone, C: Ciprofloxacin, D: Doxycycline, E: Nitrofurantoin"
    )
    gold = train[0]["answer"]
    assert json.loads(gold)["correct"] == "E" and train[0]["checker"] == "choice"
    assert task.check("E", gold) and task.check("Nitrofurantoin", gold) and task.check("E: Nitrofurantoin", gold)
    assert task.check("Nitrofurantoin is safe. So the answer is E", gold)
    assert not task.check("Ciprofloxacin", gold) and not task.check("", gold) and not task.check(None, gold)
    assert len(task.load_split("test")) == 1


def test_medmcqa_maps_the_zero_based_cop_and_rejects_unlabeled_rows_by_name():
    task = load_task("medmcqa", {"validation": "medmcqa/validation.jsonl"})
    rows = task.load_split("test")
    assert [json.loads(a)["correct"] for a in rows["answer"]] == ["A", "B"]
    assert "D: Local anesthesia" in rows[0]["prompt"][-1]["content"]
    assert rows[1]["subject_name"] == "Ophthalmology"
    # The hub's test split carries no labels (cop = -1): pointing the loader at it fails on the first row.
    unlabeled = load_task("medmcqa", {"validation": "medmcqa/test.jsonl"})
    with pytest.raises(DatasetRowError, match=r"row 0 .*cop=-1"):
        unlabeled.load_split("test")


def test_mmlu_medical_reads_choice_lists_and_index_labels():
    task = load_task("mmlu_medical", {"test": "mmlu/test.jsonl"})
    rows = task.load_split("test")
    assert [json.loads(a)["correct"] for a in rows["answer"]] == ["A", "B", "A"]
    assert rows[1]["prompt"][-1]["content"].endswith("A: Abdominal, B: Cranial, C: Pleural, D: Spinal")
    assert task.subsets[0] == "anatomy" and len(task.subsets) == 6


def test_gsm_hard_and_amc23_use_the_boxed_prompt_and_numeric_targets():
    gsm = load_task("gsm_hard", {"train": "gsm_hard/train.jsonl"})
    rows = gsm.load_split("test")
    assert rows[0]["answer"] == "-9867630.0"
    assert rows[0]["prompt"][0]["content"].endswith("output the final answer within \\boxed{}.")
    assert gsm.check("-9867630", rows[0]["answer"]) and not gsm.check("9867630", rows[0]["answer"])
    amc = load_task("amc23", {"test": "amc23/test.jsonl"})
    rows = amc.load_split("test")
    assert rows["answer"] == ["27", "36"] and amc.check("\\frac{54}{2}", "27")
    with pytest.raises(ValueError, match="no 'train' split"):
        amc.load_split("train")


def test_tempo_math_experiment_uses_the_official_boxed_prompt():
    cfg = compose_train(["experiment=tempo/math_qwen3-1.7b"])
    OmegaConf.resolve(cfg)
    prompt = cfg.task.prompt_template.format(problem="1+1?")
    assert prompt == "1+1? Let's think step by step and output the final answer within \\boxed{}."
    assert cfg.recipe.answer_format == "boxed" and cfg.task.splits.train == "train[:1000]"
    assert cfg.trainer.generation_batch_size == 512 * 7 and cfg.trainer.num_generations == 7


@pytest.mark.parametrize(
    ("prediction", "expected"),
    [
        ("B", "B"),
        ("b: Cranial", "B"),
        ("cranial cavity", "B"),
        ("I think it is spinal. The answer: D", "D"),
        ("The answer is (B) for sure", "B"),
        ("D. Spinal", "D"),
        ("Spinal cavity", "D"),
        ("", None),
    ],
)
def test_pick_choice(prediction, expected):
    assert pick_choice(prediction, {"A": "Abdominal", "B": "Cranial", "C": "Pleural", "D": "Spinal"}) == expected


def test_choice_checker_never_raises_on_junk():
    assert choice_match("A", "not json") is False
    assert choice_match("A", json.dumps({"correct": "A"})) is False
    assert choice_match("x" * 100_000, json.dumps({"correct": "A", "options": {"A": "a"}})) in (True, False)
