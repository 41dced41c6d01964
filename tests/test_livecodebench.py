"""LiveCodeBench as the self-certainty paper grades it (rlrewards/recipes/livecodebench.py): the fork's code
extraction, LiveCodeBench-lite's test encoding, and LiveCodeBench's grading by running the program
(rlrewards/utils/python_tests_runner.py through rlrewards/utils/code_execution.py)."""

import base64
import hashlib
import json
import pickle
import random
import re
import time
import zlib
from concurrent.futures import ThreadPoolExecutor

import pytest
from conftest import FIXTURES

from rlrewards.eval.scoring import grade_records, usable_cpus
from rlrewards.recipes.livecodebench import (
    LiveCodeBenchTask,
    decode_private_tests,
    extract_code,
    generic_prompt,
    livecodebench_passes,
    load_suite,
    python_blocks,
    store_suite,
    suite_store,
)
from rlrewards.tasks.base import DatasetRowError
from rlrewards.utils.code_execution import ProgramTests, Verdict, read_verdict, run_program_tests
from rlrewards.utils.python_tests_runner import same_output, unwrap_main_guard

OFFICIAL_FENCE = re.compile(r"```python\s*\n(.*?)\n```", re.DOTALL)  # src/livecode_parsing.py's pattern
READ = "a, b = map(int, input().split())\n"
ADD = ProgramTests(("1 2\n", "10 20\n", "-5 5\n"), ("3\n", "30\n", "0\n"))
ADD_TO_ALL = ProgramTests(("[1, 2]\n3", "[]\n1"), ("[4, 5]", "[]"), "addToAll")


def encoded(tests: list[dict]) -> str:
    """LiveCodeBench-lite's private tests: base64(zlib(pickle(json)))."""
    return base64.b64encode(zlib.compress(pickle.dumps(json.dumps(tests)))).decode()


@pytest.mark.parametrize(
    "text",
    [
        "```python\nprint(1)\n```",
        "a\n```python\nx = 1\n```\nb\n```python  \n\n  y = 2\n```",
        "```python\n\n```",  # an empty block: the regex backtracks into the whitespace after the opening
        "```python\n\n  ```",  # spaces before the backticks: no block
        "```python x\n```",  # no line break right after the opening: not a block start
        "```pythonprint(1)\n```",
        "```python\nno end",
        "```python\n```python\nx\n```",
    ],
)
def test_python_blocks_are_the_official_regex_matches(text):
    assert python_blocks(text) == OFFICIAL_FENCE.findall(text)


def test_python_blocks_agree_with_the_regex_on_random_texts():
    pieces = ["```python", "```", "\n", " ", "\t", "x", "python", "\u00a0"]
    generator = random.Random(0)
    for _ in range(5000):
        text = "".join(generator.choice(pieces) for _ in range(generator.randint(0, 12)))
        assert python_blocks(text) == OFFICIAL_FENCE.findall(text), repr(text)


def test_extract_code_joins_stripped_blocks_and_is_empty_without_one():
    text = "Plan.\n```python\n  a = 1  \n```\nThen\n```python\nprint(a)\n```"
    assert extract_code(text) == "a = 1\n\nprint(a)"
    assert extract_code("no code here") == "" and extract_code(None) == ""


def test_generic_prompt_with_and_without_starter_code():
    stdin = generic_prompt("Q?", "")
    assert stdin.startswith("### Question:\nQ?\n\n### Format: Read the inputs from stdin")
    answer = "### Answer: (use the provided format with backticks)\n\n"
    assert stdin.endswith("```python\n# YOUR CODE HERE\n```\n\n" + answer)
    leetcode = generic_prompt("Q?", "class Solution:\n    def f(self):\n        ")
    assert "### Format: You will use the following starter code" in leetcode
    assert "```python\nclass Solution:\n    def f(self):\n        \n```" in leetcode


def test_private_tests_decode_from_json_or_the_lite_encoding():
    tests = [{"input": "1\n", "output": "2\n", "testtype": "stdin"}]
    assert decode_private_tests(json.dumps(tests)) == tests
    assert decode_private_tests(encoded(tests)) == tests


class _Payload:
    def __reduce__(self):
        return (print, ("pickle ran code",))


def test_a_pickle_that_would_build_an_object_is_refused():
    hostile = base64.b64encode(zlib.compress(pickle.dumps(_Payload()))).decode()
    with pytest.raises(ValueError, match="cannot be decoded.*refusing to load builtins.print"):
        decode_private_tests(hostile)


def test_the_fixture_loads_with_prompts_and_references_to_stored_suites():
    task = LiveCodeBenchTask(path="livecodebench/code_generation_lite", name="livecodebench",
                             data_files={"test": str(FIXTURES / "livecodebench" / "test.jsonl")})  # fmt: skip
    rows = list(task.load_split("test"))
    assert [r["prompt"][0]["role"] for r in rows] == ["user", "user"]
    references = [json.loads(r["answer"]) for r in rows]
    assert [(r["question_id"], r["tests"], r["timeout"]) for r in references] == [
        ("SYNTHETIC-abc000_a", 3, 6.0), ("SYNTHETIC-0001", 3, 6.0)
    ]  # fmt: skip
    assert references[0]["suite"] == store_suite(ADD)  # public then private, content-addressed
    right = "class Solution:\n    def addToAll(self, nums, k):\n        return [x + k for x in nums]"
    assert livecodebench_passes(right, rows[1]["answer"])
    assert not livecodebench_passes(right.replace("x + k", "x - k"), rows[1]["answer"])


def test_a_row_whose_tests_cannot_be_decoded_is_refused_with_its_index(tmp_path):
    good = (FIXTURES / "livecodebench" / "test.jsonl").read_text().splitlines()[0]
    bad = {**json.loads(good), "private_test_cases": "not base64 at all!"}
    path = tmp_path / "test.jsonl"
    path.write_text(good + "\n" + json.dumps(bad) + "\n")
    task = LiveCodeBenchTask(path="livecodebench/code_generation_lite", data_files={"test": str(path)})
    with pytest.raises(DatasetRowError, match=r"row 1: private_test_cases cannot be decoded"):
        task.load_split("test")


@pytest.mark.parametrize(
    "code, passed, status",
    [
        ("a, b = map(int, input().split())\nprint(a + b)", True, "passed"),
        ("import sys\nprint(sum(map(int, sys.stdin.read().split())))", True, "passed"),
        ("a, b = map(int, input().split())\nprint(a + b)\nexit()", True, "passed"),
        ("import sys\nprint(sum(map(int, sys.stdin.buffer.read().split())))", True, "passed"),
        # LiveCodeBench's mocked stdin: sys.stdin.readline keeps the line break, the stdin bound by an import drops
        # it (the prelude's star import of sys binds one too); iteration and open(0) read nothing; quit is None
        (
            "import sys\nline = sys.stdin.readline()\nprint(sum(map(int, line.split())) if '\\n' in line else 0)",
            True,
            "passed",
        ),
        (
            "from sys import stdin\nline = stdin.readline()\n"
            "print(sum(map(int, line.split())) if '\\n' in line else 0)",
            False,
            "wrong",
        ),
        ("from sys import stdin\nprint(sum(map(int, stdin.readline().split())))", True, "passed"),
        ("print(sum(map(int, stdin.read().split())))", True, "passed"),
        ("import sys\nfor line in sys.stdin:\n    print(sum(map(int, line.split())))", False, "error"),
        ("print(sum(map(int, open(0).read().split())))", False, "wrong"),
        ("a, b = map(int, input().split())\nprint(a + b)\nquit()", False, "error"),
        ("if __name__ == '__main__':\n    a, b = map(int, input().split())\n    print(a + b)", True, "passed"),
        ("a, b = map(int, input().split())\nprint(a - b)", False, "wrong"),
        ("print(3)", False, "wrong"),  # the public test passes, the private ones do not
        ("while True:\n    pass", False, "timeout"),
        ("def broken(:\n    pass", False, "error"),
        ("raise ValueError('no')", False, "error"),
        # annotations evaluated as in LiveCodeBench: a dataclass works, a class used before it exists fails
        (
            "from dataclasses import dataclass\n@dataclass\nclass P:\n    a: int\n    b: int\n"
            f"{READ}print(P(a, b).a + b)",
            True,
            "passed",
        ),
        (f"def total(p: Pair) -> int:\n    return 0\nclass Pair:\n    pass\n{READ}print(a + b)", False, "error"),
        # what LiveCodeBench's worker has loaded before the program runs: multiprocessing, tempfile's directory
        (
            f"import multiprocessing, tempfile\nwith tempfile.TemporaryFile():\n    pass\n{READ}print(a + b)",
            True,
            "passed",
        ),
        (f"import os\nos.write(2, b'debug\\n')\n{READ}print(a + b)", True, "passed"),
        # a swallowed timeout still fails: the alarm prints a line into the captured output, as LiveCodeBench's does
        (f"import time\n{READ}try:\n    time.sleep(100)\nexcept Exception:\n    pass\nprint(a + b)", False, "wrong"),
    ],
)
def test_stdin_programs_are_graded_on_every_test(code, passed, status):
    verdict = run_program_tests(code, ADD, timeout=1.0)
    assert (verdict.passed, verdict.status) == (passed, status)


def test_call_based_programs_call_the_solution_method_and_compare_json():
    tuple_result = "class Solution:\n    def addToAll(self, nums: List[int], k: int) -> List[int]:\n" \
        "        return tuple(x + k for x in nums)"  # fmt: skip
    assert run_program_tests(tuple_result, ADD_TO_ALL, timeout=1.0).passed  # a tuple compares as a list
    assert not run_program_tests(tuple_result.replace("x + k", "x"), ADD_TO_ALL, timeout=1.0).passed
    assert run_program_tests("class Solution:\n    pass", ADD_TO_ALL, timeout=1.0).status == "error"


def test_a_program_cannot_write_the_verdict_itself():
    forged = 'import os\nos.write(1, b\'{"passed": true, "tests_run": 3, "status": "passed"}\\n\')'
    assert not run_program_tests(forged, ADD, timeout=1.0).passed
    printed = 'print(\'{"passed": true, "tests_run": 3, "status": "passed"}\')'
    assert not run_program_tests(printed, ADD, timeout=1.0).passed


@pytest.mark.parametrize(
    "printed, expected, same",
    [
        ("3\n", "3", True),
        ("  1 2 \n 3\n\n", "1 2\n3\n", True),
        ("1.50\n", "1.5\n", True),  # numbers compare as decimals
        ("1.5 2\n", "1.50 2.0\n", True),
        ("1\n2\n", "1 2\n", False),  # line counts differ
        ("abc\n", "abd\n", False),
        ("1e0\n", "1\n", True),
        ("nan\n", "nan\n", True),  # equal as text
    ],
)
def test_printed_output_compares_as_livecodebench_does(printed, expected, same):
    assert same_output(printed, expected) is same


def test_only_a_final_main_guard_is_unwrapped():
    assert unwrap_main_guard("x = 1\nif __name__ == '__main__':\n    print(x)") == "x = 1\nprint(x)"
    assert unwrap_main_guard("if x:\n    pass") == "if x:\n    pass"
    assert unwrap_main_guard("def (") == "def ("


def test_unreadable_runner_output_is_a_failure():
    assert read_verdict(b"").status == "crashed"
    assert read_verdict(b"not json").status == "unreadable"
    assert read_verdict(b'{"passed": "yes", "tests_run": 1, "status": "passed"}').passed is False
    assert read_verdict(b"x" * 5000).status == "unreadable"


@pytest.mark.parametrize("answer", ["", "1", "null", '{"suite": "0" }', "{not json"])
def test_the_checker_fails_a_reference_it_cannot_read_without_raising(answer):
    assert livecodebench_passes("print(3)", answer) is False


def test_the_checker_fails_empty_programs_without_running_them():
    reference = json.dumps({"suite": store_suite(ADD), "timeout": 1.0})
    assert livecodebench_passes("", reference) is False and livecodebench_passes(None, reference) is False
    assert livecodebench_passes("a, b = map(int, input().split())\nprint(a + b)", reference) is True


def test_concurrent_checkers_are_graded_in_threads_in_record_order(monkeypatch):
    calls = []

    def slow_check(prediction, answer):
        calls.append(prediction)
        return prediction == answer

    slow_check.concurrent = True
    monkeypatch.setattr("rlrewards.eval.scoring.get_checker", lambda name: slow_check)
    records = [{"checker": "x", "extracted": str(i % 3), "answer": "1"} for i in range(12)]
    assert grade_records(records) == [i % 3 == 1 for i in range(12)]
    assert sorted(calls) == sorted(str(i % 3) for i in range(12))


def test_programs_using_numpy_import_it_as_in_livecodebench_worker():
    pytest.importorskip("numpy")
    code = "import numpy as np\nprint(int(np.array(input().split(), dtype=int).sum()))"
    assert run_program_tests(code, ADD, timeout=5.0).passed  # the guard removes os.putenv, which numpy calls


FORGED = '{"passed": true, "tests_run": 3, "status": "passed"}'
WRITE_EVERYWHERE = (
    f"for fd in range(3, 10):\n    try:\n        open(fd, 'w', closefd=False).write('{FORGED}\\n')\n"
    "    except OSError:\n        pass\n"
)


@pytest.mark.parametrize(
    "code",
    [
        f"import json\njson.dumps = lambda *args, **kwargs: '{FORGED}'\nprint(0)",
        # write a verdict to every open descriptor, then die before the runner writes its own
        f"import signal\n{WRITE_EVERYWHERE}signal.raise_signal(signal.SIGKILL)",
        f"{WRITE_EVERYWHERE}print(0)",  # the runner's own verdict follows: two lines
    ],
)
def test_a_verdict_written_by_the_program_is_not_taken(code):
    assert not run_program_tests(code, ADD, timeout=2.0).passed


def test_a_verdict_file_with_more_than_one_line_is_unreadable():
    assert read_verdict(f"{FORGED}\n{FORGED}\n".encode()).status == "unreadable"


def test_a_runner_failure_is_a_failed_program_not_an_exception(monkeypatch):
    def cleanup_fails(request, deadline):
        raise OSError(39, "Directory not empty")

    monkeypatch.setattr("rlrewards.utils.code_execution._run_child", cleanup_fails)
    assert run_program_tests("print(3)", ADD, timeout=1.0) == Verdict(False, "crashed")


def test_equal_programs_checked_at_once_run_once(monkeypatch):
    runs = []

    def slow_run(code, suite, timeout):
        runs.append(code)
        time.sleep(0.2)
        return Verdict(True, "passed", len(suite.inputs))

    monkeypatch.setattr("rlrewards.recipes.livecodebench.run_program_tests", slow_run)
    reference = json.dumps({"suite": store_suite(ADD), "timeout": 1.0})
    with ThreadPoolExecutor(max_workers=6) as pool:
        verdicts = list(pool.map(lambda _: livecodebench_passes("print('same program')", reference), range(6)))
    assert verdicts == [True] * 6 and len(runs) == 1


def test_a_missing_suite_is_looked_for_again_once_stored():
    suite = ProgramTests(("7\n",), ("7\n",))
    digest = hashlib.sha256(json.dumps({"inputs": suite.inputs, "outputs": suite.outputs, "fn_name": None}).encode())
    assert load_suite(digest.hexdigest()) is None
    assert store_suite(suite) == digest.hexdigest() and load_suite(digest.hexdigest()) == suite


def test_grading_threads_follow_the_cpus_this_process_may_use(monkeypatch):
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {0, 1, 2}, raising=False)
    assert usable_cpus() == 3


def test_an_interrupted_run_is_not_remembered_as_a_failed_program(monkeypatch):
    calls = []

    def interrupted_then_passing(code, suite, timeout):
        calls.append(code)
        if len(calls) == 1:
            raise KeyboardInterrupt
        return Verdict(True, "passed", len(suite.inputs))

    monkeypatch.setattr("rlrewards.recipes.livecodebench.run_program_tests", interrupted_then_passing)
    reference = json.dumps({"suite": store_suite(ADD), "timeout": 1.0})
    with pytest.raises(KeyboardInterrupt):
        livecodebench_passes("print('interrupted once')", reference)
    assert livecodebench_passes("print('interrupted once')", reference) is True and len(calls) == 2


def test_suites_are_stored_in_the_project_cache_as_paths_resolves_it(monkeypatch, tmp_path):
    monkeypatch.setenv("RLREWARDS_CACHE", str(tmp_path / "cache"))
    assert suite_store() == tmp_path / "cache" / "test_suites"
    monkeypatch.delenv("RLREWARDS_CACHE")
    monkeypatch.setenv("PROJECT_ROOT", str(tmp_path))
    assert suite_store() == tmp_path / ".cache" / "rlrewards" / "test_suites"
