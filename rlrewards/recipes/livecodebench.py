"""LiveCodeBench code generation as the self-certainty paper evaluates it (Kang et al., 2025; Self-Certainty fork).

The fork loads ``livecodebench/code_generation_lite`` at ``release_v3`` (``src/evaluation/livecode_utils.py``) and
prompts with LiveCodeBench's generic template (``get_generic_question_template_answer``) as the only user turn:
the question, then either the starter code to complete (LeetCode) or the instruction to read stdin and write
stdout, then "### Answer: (use the provided format with backticks)". The program is every fenced ```python block of
the response, stripped and joined by blank lines (``src/livecode_parsing.py``, ``extract_code``; "" when there is
none); it is graded by LiveCodeBench's own harness on all public and private tests, a problem being solved when every
test passes (``rlrewards/utils/python_tests_runner.py`` re-implements that grading; LiveCodeBench/LiveCodeBench).

Selection: the official Best-of-N (``src/livecode_self_certainty_from_list.py``) takes the most self-certain of the
first N responses whether or not it holds code, which is what ``bon_sc@k`` does with this format (an empty program
is an answer, ""). The paper reports no vote on code: ``maj@k``/``borda_sc@k`` here compare programs as exact
strings. USC reads the question between "### Question:" and "### Format:" and uses the selected response as it is
(the official ``open`` mode).

Tests reach the checker through a content-addressed store: a row's ``answer`` is a short JSON reference
(``{"question_id", "suite", "tests", "timeout"}``), ``suite`` the SHA-256 of the decoded tests, written once under
``test_suites/`` of the project's cache (``paths.cache_dir``'s default: ``$RLREWARDS_CACHE``, else
``$PROJECT_ROOT/.cache/rlrewards``, ``./.cache/rlrewards`` without either). Private tests, a base64 zlib pickle of
a JSON string in the hub data, are unpickled by an unpickler that refuses every class: only plain strings load.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import logging
import os
import pickle
import threading
import zlib
from collections.abc import Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rlrewards.rewards.checkers import CHECKERS
from rlrewards.rundir import atomic_write_text
from rlrewards.tasks.formats import ANSWER_FORMATS, STEP_SEPARATOR, AnswerFormat
from rlrewards.tasks.hub import HubMathTask
from rlrewards.utils.code_execution import ProgramTests, run_program_tests

logger = logging.getLogger(__name__)

OPENING, CLOSING = "```python", "\n```"
WITH_STARTER_CODE = (
    "You will use the following starter code to write the solution to the problem and enclose your code within "
    "delimiters."
)
WITHOUT_STARTER_CODE = (
    "Read the inputs from stdin solve the problem and write the answer to stdout (do not directly test on the sample "
    "inputs). Enclose your code within delimiters as follows. Ensure that when the python program runs, it reads the "
    "inputs, runs the algorithm and writes output to STDOUT."
)


def python_blocks(text: str) -> list[str]:
    """The contents of the fenced ```python blocks, as ``re.findall(r'```python\\s*\\n(.*?)\\n```', text, re.DOTALL)``
    finds them, in linear time. After the opening, whitespace up to its last line break is skipped; the block ends at
    the next line break followed by three backticks. When no block end follows an opening, none follows any later
    opening either, so the scan stops instead of searching again from each one (the regex's quadratic case)."""
    blocks: list[str] = []
    start = text.find(OPENING)
    while start != -1:
        after = start + len(OPENING)
        run_end = after
        while run_end < len(text) and text[run_end].isspace():  # what the regex's \s matches
            run_end += 1
        last_break = text.rfind("\n", after, run_end)
        if last_break == -1:  # no line break right after the opening: not a block start
            start = text.find(OPENING, start + 1)
            continue
        close = text.find(CLOSING, last_break + 1)
        if close == -1:
            # the regex backtracks to an earlier line break of the run, which matches only when the run's own last
            # line break is followed by the backticks (an empty block); otherwise nothing later can match
            earlier = text.rfind("\n", after, last_break)
            if earlier == -1 or not text.startswith("```", last_break + 1):
                break
            blocks.append(text[earlier + 1 : last_break])
            close = last_break
        else:
            blocks.append(text[last_break + 1 : close])
        start = text.find(OPENING, close + len(CLOSING))
    return blocks


def extract_code(text: str) -> str:
    """The fork's ``extract_code``: every python block stripped, joined by a blank line; "" when there is none."""
    if not isinstance(text, str):
        return ""
    return "\n\n".join(block.strip() for block in python_blocks(text))


class PythonCodeFormat(AnswerFormat):
    """Reasoning, then the program in a fenced ```python block: LiveCodeBench's answer layout."""

    def render(self, steps: list[str], answer: str, **extras) -> str:
        return STEP_SEPARATOR.join([*steps, f"```python\n{answer}\n```"])

    def extract_answer(self, text: str) -> str | None:
        return extract_code(text) if isinstance(text, str) else None

    def is_well_formed(self, text: str) -> bool:
        return isinstance(text, str) and bool(python_blocks(text))


ANSWER_FORMATS.register("python_code")(
    PythonCodeFormat("python_code", "Reason, then give the whole program in one ```python block.")
)


class _StringsOnly(pickle.Unpickler):
    """Loads pickles of plain data (the private tests are a pickled JSON string); refuses to build any class,
    which is how a pickle would run code."""

    def find_class(self, module: str, name: str):
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a dataset row")


def decode_private_tests(value: Any) -> list:
    """The private tests of a row: JSON as is, or LiveCodeBench-lite's base64(zlib(pickle(json)))."""
    if not isinstance(value, str):
        raise ValueError(f"private_test_cases is {type(value).__name__}, not a string")
    try:
        return json.loads(value)
    except ValueError:
        pass
    try:
        unpacked = _StringsOnly(io.BytesIO(zlib.decompress(base64.b64decode(value)))).load()
        return json.loads(unpacked)
    except Exception as err:  # binascii, zlib and unpickling errors have no common base but Exception
        raise ValueError(f"private_test_cases cannot be decoded ({type(err).__name__}: {err})") from None


def decode_suite(record: Mapping[str, Any]) -> ProgramTests:
    """All the tests of a row, public then private, and the method LeetCode problems call (metadata.func_name)."""
    try:
        public = json.loads(record.get("public_test_cases") or "[]")
        metadata = json.loads(record.get("metadata") or "{}")
    except (TypeError, ValueError) as err:
        raise ValueError(f"public_test_cases or metadata is not JSON ({err})") from None
    tests = [*public, *decode_private_tests(record.get("private_test_cases") or "[]")]
    if not tests or not all(isinstance(t, Mapping) and {"input", "output"} <= set(t) for t in tests):
        raise ValueError("has no tests, or a test without input and output")
    fn_name = metadata.get("func_name") if isinstance(metadata, Mapping) else None
    return ProgramTests(tuple(str(t["input"]) for t in tests), tuple(str(t["output"]) for t in tests), fn_name)


def suite_store() -> Path:
    """``test_suites/`` under the project's cache, resolved as conf/paths/default.yaml resolves ``cache_dir``."""
    root = os.environ.get("RLREWARDS_CACHE") or Path(os.environ.get("PROJECT_ROOT") or ".") / ".cache" / "rlrewards"
    return Path(root) / "test_suites"


def store_suite(suite: ProgramTests) -> str:
    """Writes the suite once under its SHA-256 (atomically: a reader never sees half a file); returns the digest."""
    payload = json.dumps({"inputs": suite.inputs, "outputs": suite.outputs, "fn_name": suite.fn_name})
    digest = hashlib.sha256(payload.encode()).hexdigest()
    path = suite_store() / f"{digest}.json"
    if not path.exists():
        atomic_write_text(path, payload)
    return digest


_SUITES: dict[Path, ProgramTests] = {}  # path -> suite, for the suites found (a missing one is looked for again)
_SUITES_LOCK = threading.Lock()  # grading threads read and evict together


def load_suite(digest: str) -> ProgramTests | None:
    path = suite_store() / f"{digest}.json"
    with _SUITES_LOCK:
        if path in _SUITES:
            return _SUITES[path]
    try:
        data = json.loads(path.read_text())
        suite = ProgramTests(tuple(data["inputs"]), tuple(data["outputs"]), data.get("fn_name"))
    except (OSError, ValueError, KeyError, TypeError):
        logger.warning("test suite %s is missing or unreadable under %s: its samples are graded wrong", digest, path)
        return None
    with _SUITES_LOCK:
        if len(_SUITES) >= 256:  # a whole release's suites can be large: keep the recent ones
            _SUITES.pop(next(iter(_SUITES)))
        _SUITES[path] = suite
    return suite


@dataclass
class LiveCodeBenchTask(HubMathTask):
    """``livecodebench/code_generation_lite`` rows: the generic prompt, and a reference to the stored tests."""

    problem_field: str = "question_content"
    answer_field: str = "public_test_cases"
    answer_format: str = "python_code"
    checker: str = "livecodebench"
    test_timeout_s: float = 6.0  # per test, LiveCodeBench's default --timeout

    def _messages(self, record: Mapping[str, Any], problem: Any) -> list[dict[str, str]]:
        if not problem:
            return []
        return [{"role": "user", "content": generic_prompt(str(problem), record.get("starter_code") or "")}]

    def reference_answer(self, record: Mapping[str, Any], fields: Mapping[str, Any]) -> str:
        suite = decode_suite(record)
        reference = {"question_id": record.get("question_id"), "suite": store_suite(suite)}
        return json.dumps({**reference, "tests": len(suite.inputs), "timeout": float(self.test_timeout_s)})


def generic_prompt(question: str, starter_code: str) -> str:
    """LiveCodeBench's ``get_generic_question_template_answer``, which the fork uses as the user turn."""
    if starter_code:
        layout = f"### Format: {WITH_STARTER_CODE}\n```python\n{starter_code}\n```\n\n"
    else:
        layout = f"### Format: {WITHOUT_STARTER_CODE}\n```python\n# YOUR CODE HERE\n```\n\n"
    return f"### Question:\n{question}\n\n{layout}### Answer: (use the provided format with backticks)\n\n"


_VERDICTS: dict[tuple[str, str, float], bool] = {}
_RUNNING: dict[tuple[str, str, float], Future] = {}  # programs being run now: an equal one waits for that verdict
_VERDICTS_LOCK = threading.Lock()


@CHECKERS.register("livecodebench")
def livecodebench_passes(prediction: str | None, answer: str) -> bool:
    """The program passes every stored test of the row's suite (run in a child process; any failure is False).
    Equal programs of a problem are run once, also when checked at the same time from several threads."""
    try:
        reference = json.loads(answer)
        digest, timeout = str(reference["suite"]), float(reference.get("timeout", 6.0))
    except (TypeError, ValueError, KeyError, AttributeError):
        return False
    if not isinstance(prediction, str) or not prediction.strip():
        return False
    key = (digest, hashlib.sha256(prediction.encode("utf-8", errors="replace")).hexdigest(), timeout)
    with _VERDICTS_LOCK:
        if key in _VERDICTS:
            return _VERDICTS[key]
        running, owner = _RUNNING.get(key), key not in _RUNNING
        if owner:
            running = _RUNNING[key] = Future()
    if not owner:
        verdict = running.result()  # None: the run that was to give it ended in an exception; run it here
        return verdict if verdict is not None else livecodebench_passes(prediction, answer)
    verdict = None
    try:
        suite = load_suite(digest)
        verdict = suite is not None and run_program_tests(prediction, suite, timeout).passed
    finally:  # only a verdict is remembered: an interrupted run is not a failed program
        with _VERDICTS_LOCK:
            if verdict is not None:
                _VERDICTS[key] = verdict
            _RUNNING.pop(key).set_result(verdict)
    return verdict


livecodebench_passes.concurrent = True  # each check waits on a child process: score_samples runs them in threads
