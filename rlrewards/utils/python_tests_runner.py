"""Runs one generated Python program against its tests, in a child process, as LiveCodeBench grades code generation.

Started by ``rlrewards.utils.code_execution.run_program_tests`` as ``python -I <this file>`` (isolated mode: no
user site, no PYTHON* variables, no current directory on ``sys.path``) in a fresh temporary directory. It imports
only the standard library (numpy too when the program mentions a package built on it, as LiveCodeBench's worker has
it imported), so it starts fast and does not depend on this package. Protocol: one JSON object on stdin ``{code,
fn_name, inputs, outputs, timeout, memory_bytes}``; one JSON line ``{passed, tests_run, status}`` on the stdout it
had when it started, and exit status 0. Before the program runs, file descriptors 1 and 2 point to /dev/null, so
what an honest program prints never reaches the verdict (a hostile one can still forge it: not a sandbox).

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
- Resource limits: a 4 GiB address space (``memory_bytes``) and 16 MiB per written file; LiveCodeBench's ``run_test``
  calls its guard without a memory limit, so a program using more memory passes there and fails here.

Standard input is mocked as LiveCodeBench mocks it, quirks included (``MockedStdin`` for ``sys.stdin``: its
``readline()`` keeps the line break, it cannot be iterated, ``buffer.readline()`` is always the first line;
``ImportedStdin`` for a ``stdin`` bound by an import: its ``readline()`` drops the break), and ``open(0)`` does not
read the test's input (there, the star import of builtins binds the real ``open`` before the mock, so it reads the
worker's inherited standard input; here, the runner's request pipe, at its end). ``scripts/diff_livecodebench.py``
compares the two graders program by program. The version followed is LiveCodeBench @ 28fef95 (``testing_util.py``
last changed in 16de2a1, May 2025); the version current when the self-certainty paper appeared (15808c7, January
2025) had a StringIO as standard input (iterable, without ``buffer``). Before the program runs, the runner loads
what LiveCodeBench's worker has loaded and would fail to load under the guard (multiprocessing, tempfile's
directory; numpy when the program mentions a package built on it). The guard switches off what LiveCodeBench's
``reliability_guard`` does (``quit()`` included), plus ``os._exit``, ``exec*``, ``spawnv``, ``setsid`` and
``setpgid``; it is **not** a security sandbox. Run untrusted code in a container.
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


# os functions LiveCodeBench's reliability_guard sets to None
LCB_DISABLED_OS_CALLS = (
    "kill", "system", "putenv", "remove", "removedirs", "rmdir", "fchdir", "setuid", "fork", "forkpty", "killpg",
    "rename", "renames", "truncate", "replace", "unlink", "fchmod", "fchown", "chmod", "chown", "chroot", "lchflags",
    "lchmod", "lchown", "getcwd", "chdir",
)  # fmt: skip
# and what could end the runner without a verdict or leave processes behind once it is killed
RUNNER_DISABLED_OS_CALLS = ("_exit", "execv", "execve", "execvp", "spawnv", "setsid", "setpgid")
# packages that import numpy, which LiveCodeBench's worker has imported before the program runs (testing_util imports
# it); imported here after the guard, numpy would fail (it calls os.putenv, which the guard removes)
NUMPY_USERS = ("numpy", "scipy", "pandas", "sklearn", "networkx")
VERDICT = '{"passed": %s, "tests_run": %d, "status": "%s"}\n'  # rendered with %, which a program cannot patch


class TestTimeout(Exception):
    """A test ran past its time."""


def _on_alarm(signum, frame):
    # LiveCodeBench's handler prints this line: in a stdin test it lands in the captured output, so a program that
    # swallows the timeout and goes on to print its answer still fails there, and here
    print("timeout occured: alarm went off")
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
    # dont_inherit: the program must not get this module's ``from __future__ import annotations`` (its annotations
    # would become strings: @dataclass breaks, an annotation naming an undefined class no longer fails)
    exec(compile(code, "<solution>", "exec", dont_inherit=True), namespace)
    return namespace


def timed(seconds: float, function, *args):
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        return function(*args)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


def run_call_based(code: str, fn_name: str, inputs: list[str], outputs: list[str], timeout: float) -> tuple[int, str]:
    namespace = timed(timeout, execute, STANDARD_IMPORTS + "\n\n" + code)
    if "class Solution" in code:  # as LiveCodeBench decides, by the text (a KeyError when none is defined)
        method = getattr(timed(timeout, namespace["Solution"]), fn_name, None)
    else:
        method = namespace.get(fn_name)
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


class MockedStdin:
    """``sys.stdin`` during one test, as LiveCodeBench's ``call_method`` mocks it (``MockStdinWithBuffer``):
    ``read()`` is the whole input, ``readline()`` the next line with its line break ("" at the end), ``readlines()``
    the input split at line breaks (without them), ``buffer.read()`` its bytes and ``buffer.readline()`` always the
    first line; other attributes come from a StringIO over the input. It is not iterable: ``for line in sys.stdin``
    raises TypeError, as there."""

    def __init__(self, text: str):
        self._text, self._stream = text, io.StringIO(text)
        self.buffer = MockedStdinBuffer(text)

    def read(self, *args):
        return self._text

    def readline(self, *args):
        return self._stream.readline(*args)

    def readlines(self, *args):
        return self._text.split("\n")

    def __getattr__(self, name):
        return getattr(self._stream, name)


class MockedStdinBuffer:
    def __init__(self, text: str):
        self._bytes = text.encode("utf-8")

    def read(self, *args):
        return self._bytes

    def readline(self, *args):
        return self._bytes.split(b"\n")[0] + b"\n"


class ImportedStdin:
    """The standard input a program bound when its imports ran (``from sys import stdin``, and the star import of
    ``sys`` in the prelude), before any test. LiveCodeBench's patches of ``sys.stdin.read``, ``.readline`` and
    ``.readlines`` are entered before ``sys.stdin`` itself is replaced, so they land on this object: during a test
    ``read()`` is the whole input, ``readline()`` the next line *without* its line break (StopIteration past the
    end) and ``readlines()`` the input split at line breaks; the rest reads the worker's empty standard input."""

    buffer = io.BytesIO()

    def __init__(self):
        self._text: str | None = None

    def during(self, text: str | None) -> None:
        self._text, self._lines = text, iter((text or "").split("\n"))

    def read(self, *args):
        return self._text if self._text is not None else ""

    def readline(self, *args):
        return next(self._lines) if self._text is not None else ""

    def readlines(self, *args):
        return self._text.split("\n") if self._text is not None else []

    def __iter__(self):
        return iter(())

    def __getattr__(self, name):
        return getattr(io.StringIO(), name)


IMPORTED_STDIN = ImportedStdin()


def run_stdin(code: str, inputs: list[str], outputs: list[str], timeout: float) -> tuple[int, str]:
    program = timed(timeout, execute, as_function(unwrap_main_guard(code)))["wrapped_function"]
    real_stdout = sys.stdout
    for index, (given, expected) in enumerate(zip(inputs, outputs)):
        printed = io.StringIO()
        IMPORTED_STDIN.during(given)
        sys.stdin, sys.stdout = MockedStdin(given), printed
        try:
            timed(timeout, program)
        except SystemExit:  # exit() after printing the answer is how many solutions end
            pass
        finally:
            sys.stdin, sys.stdout = IMPORTED_STDIN, real_stdout
            IMPORTED_STDIN.during(None)
        if not same_output(printed.getvalue(), expected):
            return index, "wrong"
    return len(inputs), "passed"


def preload_like_livecodebench() -> None:
    """What LiveCodeBench's worker has loaded before a program runs, and which would fail to load after the guard:
    multiprocessing (its import calls os.getcwd) and tempfile's directory (found with os.getcwd); both are loaded
    there by the ``multiprocessing.Manager`` that ``check_correctness`` starts."""
    import multiprocessing  # noqa: F401
    import tempfile

    tempfile.gettempdir()


def limit_resources(memory_bytes: int) -> None:
    import resource

    limits = {resource.RLIMIT_AS: memory_bytes, resource.RLIMIT_FSIZE: 1 << 24, resource.RLIMIT_CORE: 0}
    for limit, value in limits.items():
        with contextlib.suppress(ValueError, OSError):  # a limit the platform refuses is left as it is
            resource.setrlimit(limit, (value, value))


def guard() -> None:
    """What LiveCodeBench's ``reliability_guard`` switches off (after the runner's own setup), plus the calls that
    could end the runner without a verdict or leave processes behind. As there, this is not a security boundary."""
    import builtins
    import shutil
    import subprocess

    builtins.quit = builtins.help = None  # quit() fails there too: the star import of builtins copies this None
    import posix

    for name in LCB_DISABLED_OS_CALLS + RUNNER_DISABLED_OS_CALLS:
        for module in (os, posix):  # os re-exports posix's functions: both names must go
            if hasattr(module, name):
                setattr(module, name, None)
    shutil.rmtree = shutil.move = shutil.chown = None
    subprocess.Popen = None
    for module in ("ipdb", "joblib", "resource", "psutil", "tkinter"):
        sys.modules[module] = None


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
    sys.stdin = IMPORTED_STDIN
    if hasattr(sys, "set_int_max_str_digits"):  # Python >= 3.10.7
        sys.set_int_max_str_digits(50000)
    signal.signal(signal.SIGALRM, _on_alarm)
    os.environ["OMP_NUM_THREADS"] = os.environ["OPENBLAS_NUM_THREADS"] = "1"
    if any(name in request["code"] for name in NUMPY_USERS):
        with contextlib.suppress(Exception):
            import numpy  # noqa: F401
    preload_like_livecodebench()
    limit_resources(int(request["memory_bytes"]))
    real_exit = os._exit
    guard()
    tests_run, status = grade(request)
    verdict_channel.write(VERDICT % ("true" if status == "passed" else "false", tests_run, status))
    verdict_channel.flush()
    real_exit(0)  # no atexit handler a program registered runs


if __name__ == "__main__":
    main()
