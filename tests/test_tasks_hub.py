"""The hub-backed MATH task, loaded offline from fixture files with the hub dataset's schema."""

import pytest
from conftest import FIXTURES

from rlrewards.tasks.base import DatasetRowError
from rlrewards.tasks.hub import HubMathTask, last_boxed

DATA_FILES = {
    "train": str(FIXTURES / "math_lighteval" / "train.jsonl"),
    "test": str(FIXTURES / "math_lighteval" / "test.jsonl"),
}


def fixture_task(**overrides):
    values = dict(
        path="DigitalLearningGmbH/MATH-lighteval",
        data_files=DATA_FILES,
        extra_fields=["level", "type"],
        splits={"train": "train", "validation": "test[:1]", "test": "test"},
    )
    values.update(overrides)
    return HubMathTask(**values)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("so $\\boxed{11}$.", "11"),
        ("first \\boxed{1} then \\boxed{\\frac{3}{4}}", "\\frac{3}{4}"),
        ("\\fbox{x^{2}}", "x^{2}"),
        ("\\boxed{unbalanced", None),
        ("no box", None),
        (None, None),
    ],
)
def test_last_boxed(text, expected):
    assert last_boxed(text) == expected


def test_loads_rows_with_prompts_answers_and_checker():
    task = fixture_task()
    train = task.load_split("train")
    assert len(train) == 3
    assert train[1]["answer"] == "\\frac{3}{4}"
    assert train[0]["checker"] == "math_verify"
    assert train[0]["prompt"][0]["content"].startswith("What is $3 + 4 \\cdot 2$?")
    assert train[2]["level"] == "Level 2" and train[2]["type"] == "Algebra"
    assert len(task.load_split("validation")) == 1
    assert task.load_split("test")["answer"] == ["7", "\\frac{5}{6}", "5"]


def test_grades_equivalent_answers():
    task = fixture_task()
    assert task.check("0.75", "\\frac{3}{4}")
    assert not task.check("0.7", "\\frac{3}{4}")


def test_a_row_without_a_boxed_answer_is_named(tmp_path):
    broken = tmp_path / "train.jsonl"
    broken.write_text('{"problem": "1+1?", "level": "Level 1", "type": "Algebra", "solution": "It is 2."}\n')
    task = fixture_task(data_files={"train": str(broken)})
    with pytest.raises(DatasetRowError, match=r"row 0 \(id='math-train-0'\) has no 'answer'"):
        task.load_split("train")


def test_unknown_extractor_is_rejected():
    with pytest.raises(ValueError, match="task.answer_extractor='regex'"):
        fixture_task(answer_extractor="regex")


def test_hub_files_name_loose_files_of_one_repository_as_splits(monkeypatch):
    """RLPR-Evaluation holds each benchmark as a loose parquet: ``hub_files`` turns one into a split of the hub
    repository (load_dataset's data_files); fixtures (``data_files``) still win, and split_sources do not inherit it."""
    calls = []

    def fake_load(path, name=None, **kwargs):
        calls.append((path, kwargs))
        return [{"problem": "1+1", "solution": "\\boxed{2}"}]

    monkeypatch.setattr("rlrewards.tasks.hub.load_dataset", fake_load)
    task = HubMathTask(
        path="openbmb/RLPR-Evaluation",
        hub_files={"theoremqa": "TheoremQA_Avg2.parquet"},
        splits={"test": "theoremqa", "validation": "test"},
        split_sources={"validation": {"path": "HuggingFaceH4/MATH-500"}},
    )
    assert task.load_split("test")[0]["answer"] == "2"
    path, kwargs = calls[-1]
    assert path == "openbmb/RLPR-Evaluation" and kwargs["split"] == "theoremqa"
    assert kwargs["data_files"] == {"theoremqa": "TheoremQA_Avg2.parquet"}
    task.load_split("validation")
    assert calls[-1][0] == "HuggingFaceH4/MATH-500" and calls[-1][1]["data_files"] is None
    assert task.spec()["hub_files"] == {"theoremqa": "TheoremQA_Avg2.parquet"}


@pytest.mark.parametrize(
    ("prediction", "right"),
    [
        ("C", True), ("(C)", True), ("c", True), ("C. Kinetic energy", True), ("\\boxed{C}", True),
        ("\\boxed{\\text{C}}", True), ("The answer is C", True), ("Answer: (C)", True), ("**C**", True),
        ("A", False), ("(B)", False), ("The answer is B", False), ("Kinetic energy", False), ("", False),
        (None, False), ("Clearly", False), ("I think so", False),
    ],
)  # fmt: skip
def test_letter_checker_reads_the_stated_option(prediction, right):
    from rlrewards.rewards.checkers import letter_match

    assert letter_match(prediction, "C") is right
    assert letter_match("C", "not a letter") is False
