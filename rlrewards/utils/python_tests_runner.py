"""Runs one generated Python program against its tests, in a child process, as LiveCodeBench grades code generation.

Started by ``rlrewards.utils.code_execution.run_program_tests`` as ``python -I <this file>`` (isolated mode: no
user site, no PYTHON* variables, no current directory on ``sys.path``) in a fresh temporary directory. It imports
only the standard library, so it starts fast and does not depend on this package. Protocol: one JSON object on stdin
``{code, fn_name, inputs, outputs, timeout, memory_bytes}``; one JSON line ``{passed, tests_run, status}`` on the
stdout it had when it started. Before the program runs, file descriptors 1 and 2 point to /dev/null, so nothing the
program writes can be mistaken for the verdict.

Semantics follow LiveCodeBench's ``lcb_runner/evaluation/testing_util.py`` (LiveCodeBench/LiveCodeBench @ 28fef95):

- The program runs after the same star imports LiveCodeBench prepends (``STANDARD_IMPORTS``), with the recursion
  limit at 50,000 and integer-string conversion allowed up to 50,000 digits.
- With ``fn_name`` (LeetCode, "call-based"): the program is executed once; if it contains ``class Solution`` the
  method is looked up on ``Solution()``, else on the module. Each test's input holds one JSON value per line (the
  arguments), its output one JSON value; a tuple result is compared as a list; the test passes when equal.
- Without (AtCoder, Codeforces, "stdin"): the program's top-level statements (after a final
  ``if __name__ == '__main__':`` is unwrapped) run once per test, with the test input as standard input. The
  printed output passes when, both stripped and split into stripped lines, the line counts agree and each line is
  equal as text or as a list of decimal numbers (``Decimal``, so ``1.50`` equals ``1.5``).
- Every test gets ``timeout`` seconds of wall time; the first failing test ends the run (the problem is failed).

Differences: standard input is a real text stream over the test's bytes (LiveCodeBench mocks a few of its methods:
its ``readline`` returns lines without their newline and its ``readlines`` splits on newlines); ``open(0)`` reads
the same stream. Like LiveCodeBench's ``reliability_guard``, the guard below switches off process and file-system
calls a program has no business making; it is **not** a security sandbox. Run untrusted code in a container.
"""

from __future__ import annotations

import ast
import contextlib
import io
import json
import os
import signal
import sys
from decimal import Decimal, InvalidOperation

STANDARD_IMPORTS = (
    "from string import *\nfrom re import *\nfrom datetime import *\nfrom collections import *\nfrom heapq import *\n"
    "from bisect import *\nfrom copy import *\nfrom math import *\nfrom random import *\nfrom statistics import *\n"
    "from itertools import *\nfrom functools import *\nfrom operator import *\nfrom io import *\nfrom sys import *\n"
    "from json import *\nfrom builtins import *\nfrom typing import *\nimport string\nimport re\nimport datetime\n"
    "import collections\nimport heapq\nimport bisect\nimport copy\nimport math\nimport random\nimport statistics\n"
    "import itertools\nimport functools\nimport operator\nimport io\nimport sys\nimport json\n"
    "sys.setrecursionlimit(50000)\n"
)


class TestTimeout(Exception):
    """A test ran past its time."""


def _on_alarm(signum, frame):
    raise TestTimeout


def unwrap_main_guard(code: str) -> str:
    """The program with a final ``if __name__ == '__main__':`` block replaced by its body (LiveCodeBench's
    ``clean_if_name``), since the program will not run as ``__main__``."""
    try:
        tree = ast.parse(code)
        last = tree.body[-1]
        if isinstance(last, ast.If) and ast.unparse(last.test).strip() == "__name__ == '__main__'":
            return ast.unparse(tree.body[:-1]) + "\n" + ast.unparse(last.body)
    except Exception:  # a program that does not parse fails when compiled, not here
        pass
    return code


def as_function(code: str) -> str:
    """The imports at top level, every other top-level statement inside ``def wrapped_function():`` (LiveCodeBench's
    ``make_function``), so the program runs again for each test."""
    tree = ast.parse(code)
    imports = [s for s in tree.body if isinstance(s, ast.Import | ast.ImportFrom)]
    body = [s for s in tree.body if not isinstance(s, ast.Import | ast.ImportFrom)] or [ast.Pass()]
    arguments = ast.arguments(posonlyargs=[], args=[], kwonlyargs=[], kw_defaults=[], defaults=[])
    function = ast.FunctionDef(name="wrapped_function", args=arguments, body=body, decorator_list=[], lineno=1)
    return STANDARD_IMPORTS + "\n" + ast.unparse(imports) + "\n" + ast.unparse(function)


def stripped_lines(text: str) -> list[str]:
    return [line.strip() for line in text.strip().split("\n")]


def as_decimals(line: str) -> list[Decimal] | None:
    try:
        return [Decimal(part) for part in line.split()]
    except (InvalidOperation, ValueError):
        return None


def same_output(printed: str, expected: str) -> bool:
    """LiveCodeBench's stdin comparison: equal line counts, each line equal as text or as decimal numbers."""
    got, want = stripped_lines(printed), stripped_lines(expected)
    if len(got) != len(want):
        return False
    for mine, theirs in zip(got, want):
        if mine == theirs:
            continue
        mine_numbers, their_numbers = as_decimals(mine), as_decimals(theirs)
        if mine_numbers is None or their_numbers is None or mine_numbers != their_numbers:
            return False
    return True


def execute(code: str) -> dict:
    namespace = {"__name__": "solution", "__builtins__": __builtins__}
    exec(compile(code, "<solution>", "exec"), namespace)
    return namespace


def timed(seconds: float, function, *args):
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        return function(*args)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


def run_call_based(code: str, fn_name: str, inputs: list[str], outputs: list[str], timeout: float) -> tuple[int, str]:
    namespace = timed(timeout, execute, STANDARD_IMPORTS + "\n\n" + code)
    owner = timed(timeout, namespace["Solution"]) if "class Solution" in code and "Solution" in namespace else None
    method = getattr(owner, fn_name, None) if owner is not None else namespace.get(fn_name)
    if not callable(method):
        return 0, "error"
    for index, (given, expected) in enumerate(zip(inputs, outputs)):
        arguments = [json.loads(line) for line in given.split("\n")]
        result = timed(timeout, method, *arguments)
        if isinstance(result, tuple):
            result = list(result)
        if result != json.loads(expected):
            return index, "wrong"
    return len(inputs), "passed"


class _Stdin:
    """What ``sys.stdin`` and ``open(0)`` read during one test."""

    text = ""

    @classmethod
    def stream(cls):
        return io.TextIOWrapper(io.BytesIO(cls.text.encode()), encoding="utf-8")


def run_stdin(code: str, inputs: list[str], outputs: list[str], timeout: float) -> tuple[int, str]:
    program = timed(timeout, execute, as_function(unwrap_main_guard(code)))["wrapped_function"]
    real_stdin, real_stdout = sys.stdin, sys.stdout
    for index, (given, expected) in enumerate(zip(inputs, outputs)):
        _Stdin.text, printed = given, io.StringIO()
        sys.stdin, sys.stdout = _Stdin.stream(), printed
        try:
            timed(timeout, program)
        except SystemExit:  # exit() after printing the answer is how many solutions end
            pass
        finally:
            sys.stdin, sys.stdout = real_stdin, real_stdout
        if not same_output(printed.getvalue(), expected):
            return index, "wrong"
    return len(inputs), "passed"


def open_reading_stdin(real_open):
    def patched(file, *args, **kwargs):
        return _Stdin.stream() if file == 0 else real_open(file, *args, **kwargs)

    return patched


def limit_resources(memory_bytes: int) -> None:
    import resource

    limits = {resource.RLIMIT_AS: memory_bytes, resource.RLIMIT_FSIZE: 1 << 24, resource.RLIMIT_CORE: 0}
    for limit, value in limits.items():
        with contextlib.suppress(ValueError, OSError):  # a limit the platform refuses is left as it is
            resource.setrlimit(limit, (value, value))


def guard() -> None:
    """Switch off what a solution never needs and could use to harm the machine or the verdict (after the runner's
    own setup). As LiveCodeBench's ``reliability_guard``, this is not a security boundary."""
    import builtins
    import shutil
    import subprocess

    builtins.open = open_reading_stdin(builtins.open)
    for name in ("kill", "killpg", "system", "fork", "forkpty", "putenv", "remove", "unlink", "removedirs", "rmdir",
                 "rename", "renames", "truncate", "replace", "fchmod", "chmod", "chown", "lchown", "setuid",
                 "execv", "execve", "execvp", "spawnv", "_exit", "dup2", "write", "chdir"):  # fmt: skip
        if hasattr(os, name):
            setattr(os, name, None)
    shutil.rmtree = shutil.move = shutil.chown = None
    subprocess.Popen = None


def grade(request: dict) -> tuple[int, str]:
    code, inputs, outputs = request["code"], request["inputs"], request["outputs"]
    timeout = float(request["timeout"])
    try:
        if request.get("fn_name"):
            return run_call_based(code, request["fn_name"], inputs, outputs, timeout)
        return run_stdin(code, inputs, outputs, timeout)
    except TestTimeout:
        return 0, "timeout"
    except BaseException:  # compile errors, runtime errors, SystemExit at import, MemoryError: the problem fails
        return 0, "error"


def main() -> None:
    request = json.loads(sys.stdin.read())
    verdict_channel = os.fdopen(os.dup(1), "w")
    silent = os.open(os.devnull, os.O_WRONLY)
    os.dup2(silent, 1)
    os.dup2(silent, 2)
    sys.set_int_max_str_digits(50000)
    signal.signal(signal.SIGALRM, _on_alarm)
    limit_resources(int(request["memory_bytes"]))
    real_exit = os._exit
    guard()
    tests_run, status = grade(request)
    verdict_channel.write(json.dumps({"passed": status == "passed", "tests_run": tests_run, "status": status}) + "\n")
    verdict_channel.flush()
    real_exit(0)  # no atexit handler a program registered runs


if __name__ == "__main__":
    main()
