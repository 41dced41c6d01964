"""Dataset rows and threads: a row's ``checker`` names a registered checker (never an import path, which would run
code), checked when the data loads; math-verify off the main thread is counted, not silently marked wrong."""

from __future__ import annotations

import json
import logging
import shutil
import threading

import pytest

from rlrewards.rewards import checkers
from rlrewards.rewards.checkers import get_checker, math_verify_match
from rlrewards.rewards.core import SafeReward, accuracy_reward
from rlrewards.tasks.base import DatasetRowError, validate_rows
from rlrewards.tasks.hub import HubMathTask

KNOWN = f"Known: {', '.join(checkers.CHECKERS.names())}"  # the registry, whatever checkers it holds


@pytest.fixture
def copyfile_calls(monkeypatch):
    calls = []
    monkeypatch.setattr(shutil, "copyfile", lambda *args, **kwargs: calls.append(args))
    return calls


def _row(index: int, checker: str) -> dict:
    return {"id": f"r{index}", "prompt": [{"role": "user", "content": "1+1?"}], "answer": "2", "checker": checker}


def test_a_row_naming_an_import_path_is_refused_by_name(copyfile_calls):
    rows = [_row(0, "numeric"), _row(1, "shutil.copyfile")]
    with pytest.raises(DatasetRowError, match=r"fixture: row 1 \(id='r1'\) names checker 'shutil.copyfile'") as err:
        validate_rows(rows, source="fixture")
    assert KNOWN in str(err.value) and copyfile_calls == []


def test_hub_data_carrying_a_checker_column_fails_at_load(tmp_path, copyfile_calls):
    data = tmp_path / "test.jsonl"
    records = [{"problem": "1+1?", "solution": "\\boxed{2}", "checker": c} for c in ("numeric", "shutil.copyfile")]
    data.write_text("\n".join(json.dumps(r) for r in records))
    task = HubMathTask(path="local", data_files={"test": str(data)}, splits={"test": "test"}, extra_fields=["checker"])
    with pytest.raises(DatasetRowError, match=r"row 1 \(id='math-test-1'\) names checker 'shutil.copyfile'"):
        task.load_split("test")
    assert copyfile_calls == []


def test_task_checker_config_must_be_registered():
    with pytest.raises(ValueError, match="task.checker: Unknown answer checker 'shutil.copyfile'"):
        HubMathTask(path="x", checker="shutil.copyfile")


def test_rows_that_skipped_validation_are_scored_invalid_without_importing(copyfile_calls):
    logged = {}
    reward = SafeReward("accuracy", accuracy_reward)
    scores = reward(
        prompts=["q"] * 2,
        completions=["<answer>2</answer>"] * 2,
        answer=["2", "2"],
        checker=["numeric", "shutil.copyfile"],
        log_metric=logged.__setitem__,
    )
    assert scores == [1.0, 0.0] and logged["rewards/accuracy/invalid_frac"] == 0.5
    assert copyfile_calls == []
    with pytest.raises(KeyError, match=KNOWN):
        get_checker("shutil.copyfile")


def _in_thread(fn):
    result = {}
    thread = threading.Thread(target=lambda: result.setdefault("value", fn()))
    thread.start()
    thread.join()
    return result["value"]


def test_math_verify_off_the_main_thread_keeps_numeric_verdicts_and_flags_the_rest(caplog, monkeypatch):
    monkeypatch.setattr(checkers, "_THREAD_FALLBACK_WARNED", threading.Event())
    cases = [("0.5", "0.5", True), ("+2", "2.0", True), ("\\frac{1}{2}", "0.5", True), ("3", "\\frac{1}{2}", False)]
    for prediction, gold, verdict in cases:
        assert math_verify_match(prediction, gold) is verdict  # main thread: math-verify decides
    with caplog.at_level(logging.WARNING, logger="rlrewards.rewards.checkers"):
        in_thread = [_in_thread(lambda p=p, g=g: math_verify_match(p, g)) for p, g, _ in cases]
    assert in_thread == [True, True, None, None]  # numeric equality is thread-safe; the rest is not graded
    assert sum("off the main thread" in r.message for r in caplog.records) == 1  # warned once


def test_accuracy_counts_ungraded_rows_in_invalid_frac_off_the_main_thread():
    completions = ["<answer>\\frac{1}{2}</answer>", "<answer>0.5</answer>", "<answer>3</answer>"]

    def score():
        logged = {}
        reward = SafeReward("accuracy", accuracy_reward)
        values = reward(
            ["q"] * 3, completions, answer=["0.5"] * 3, checker=["math_verify"] * 3, log_metric=logged.setdefault
        )
        return values, logged["rewards/accuracy/invalid_frac"]

    assert score() == ([1.0, 1.0, 0.0], 0.0)
    assert _in_thread(score) == ([0.0, 1.0, 0.0], pytest.approx(2 / 3))
