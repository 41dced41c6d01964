"""TEMPO's data adapters (MedQA-USMLE, MedMCQA, MMLU-Medical, GSM-HARD, AMC23), loaded offline through their real
configs from fixture files with each hub dataset's schema, and the multiple-choice checker. What every benchmark
must have (hub id, split, prompt, one right and one wrong answer graded) is in test_benchmark_registry.py; these
tests cover the rest: train splits, label errors, more answer variants."""

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


def test_amc23_reads_every_row_and_has_no_train_split():
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


def test_rlcr_sets_use_the_official_layout_and_their_checkers():
    hotpot = load_task("hotpot", {"train": "hotpot/train.jsonl", "test": "hotpot/test.jsonl"}, recipe="rlcr")
    row = hotpot.load_split("train")[0]
    system, user = row["prompt"]
    assert system["content"].startswith("The user asks a question") and "<confidence>" in system["content"]
    assert user["content"].startswith("\n\nPROBLEM: Question: Were Scott Derrickson") and user["content"].endswith(
        "\n\n"
    )
    assert row["checker"] == "squad_em" and row["gold_removed"] == 1
    assert hotpot.check("Yes.", row["answer"]) and not hotpot.check("no", row["answer"])
    vanilla = load_task("hotpot_vanilla", {"test": "hotpot/test.jsonl"}, recipe="rlvr")
    assert vanilla.load_split("test")[0]["prompt"][0]["content"].startswith("The user asks")

    trivia = load_task("trivia", {"test": "trivia/test.jsonl"}, recipe="rlcr")
    rows = trivia.load_split("test")
    assert json.loads(rows[0]["answer"]) == ["Dave Lamb", "Dave lamb"]
    assert trivia.check("dave lamb", rows[0]["answer"]) and trivia.check("The Iron", rows[1]["answer"])

    csqa = load_task("commonsenseqa", {"test": "commonsenseqa/test.jsonl"}, recipe="rlcr")
    gold = csqa.load_split("test")[0]["answer"]
    assert gold == "Option A which is : bank"
    assert all(csqa.check(p, gold) for p in ["A", "(A)", "Option A", "A) bank", "bank"])
    assert not any(csqa.check(p, gold) for p in ["B", "library", "an apple", ""])
    gpqa = load_task("gpqa", {"test": "gpqa/test.jsonl"}, recipe="rlcr")
    assert gpqa.check("R-loops", gpqa.load_split("test")[0]["answer"])
    big_math = load_task("big_math_digits", {"train": "big_math_digits/train.jsonl"}, recipe="rlcr")
    assert big_math.load_split("train")["answer"] == ["1446", "391"]


def test_unknown_checker_is_rejected_by_name():
    with pytest.raises(ValueError, match="task.checker: Unknown answer checker 'nope'"):
        load_task("gsm8k", {"test": "gsm8k/test.jsonl"}).__class__(path="x", checker="nope")


def test_deepmath_loads_from_files_with_the_official_keys():
    deepmath = load_task("deepmath", {"train": "deepmath/train.jsonl"}, recipe="laser")
    row = deepmath.load_split("train")[0]
    assert row["answer"] == "3" and row["prompt"][-1]["content"].endswith("final answer within \\boxed{}.")
