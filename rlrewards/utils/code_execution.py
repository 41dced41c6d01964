"""Grading generated programs by running them: one child process per (program, test suite).

``run_program_tests`` starts ``python -I rlrewards/utils/python_tests_runner.py`` (see that file for the grading
semantics, LiveCodeBench's) in a fresh temporary directory with a memory limit, hands it the program and the tests,
and reads back its verdict. It never raises: a program that crashes the child, prints over the verdict channel,
exceeds the overall time or returns anything unreadable has failed. The overall time is LiveCodeBench's global
timeout, ``(timeout + 1) * tests + 5`` seconds (``lcb_runner/evaluation/compute_code_generation_metrics.py``).

This is not a security sandbox: it keeps an honest but wrong program from hanging or flooding the evaluation, not
a hostile one from the machine or from forging its verdict. Evaluate untrusted models inside a container.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

RUNNER = Path(__file__).with_name("python_tests_runner.py")
DEFAULT_MEMORY_BYTES = 4 << 30
VERDICT_BYTES = 4096  # the verdict is one short JSON line; more means something else wrote there


@dataclass(frozen=True)
class ProgramTests:
    """A problem's tests: inputs and expected outputs as strings, and the method to call (None: stdin programs)."""

    inputs: Sequence[str]
    outputs: Sequence[str]
    fn_name: str | None = None


@dataclass(frozen=True)
class Verdict:
    passed: bool
    status: str  # passed, wrong, timeout, error (from the runner); killed, crashed, unreadable (seen from here)
    tests_run: int = 0


def overall_timeout(per_test: float, tests: int) -> float:
    return (per_test + 1) * tests + 5


def run_program_tests(
    code: str, suite: ProgramTests, timeout: float = 6.0, memory_bytes: int = DEFAULT_MEMORY_BYTES
) -> Verdict:
    """Whether ``code`` passes every test of ``suite``, each within ``timeout`` seconds. Never raises."""
    if not isinstance(code, str) or not code.strip() or not suite.inputs:
        return Verdict(False, "error")
    request = {
        "code": code,
        "fn_name": suite.fn_name,
        "inputs": list(suite.inputs),
        "outputs": list(suite.outputs),
        "timeout": timeout,
        "memory_bytes": memory_bytes,
    }
    try:
        verdict = _run_child(json.dumps(request).encode(), overall_timeout(timeout, len(suite.inputs)))
    except Exception as err:  # noqa: BLE001 - whatever the child did to its directory, the evaluation goes on
        logger.warning("the test runner failed (%s: %s); the program is graded wrong", type(err).__name__, err)
        verdict = Verdict(False, "crashed")
    if verdict.status in ("crashed", "unreadable"):
        logger.debug("test runner verdict %s for a program of %d tests", verdict.status, len(suite.inputs))
    return verdict


def _run_child(request: bytes, deadline: float) -> Verdict:
    """The runner in its own session and temporary directory; its verdict goes to a file (the runner's file-size
    limit bounds it) rather than a pipe, so no output can fill this process's memory."""
    with (
        tempfile.TemporaryDirectory(prefix="rlrewards-run-", ignore_cleanup_errors=True) as workdir,
        tempfile.TemporaryFile() as verdict_file,
    ):
        try:
            child = subprocess.Popen(
                [sys.executable, "-I", str(RUNNER)],
                stdin=subprocess.PIPE,
                stdout=verdict_file,
                stderr=subprocess.DEVNULL,
                cwd=workdir,
                start_new_session=True,  # a session of its own, so a timeout kills whatever the program started too
            )
        except OSError as err:  # the interpreter could not start: a machine problem, not the program's
            logger.warning("could not start the test runner: %s", err)
            return Verdict(False, "crashed")
        try:
            child.communicate(request, deadline)
        except subprocess.TimeoutExpired:
            return Verdict(False, "killed")
        finally:
            kill_session(child)  # on a timeout, and anything the program left running
        verdict_file.seek(0)
        output = verdict_file.read(VERDICT_BYTES + 1)
    return read_verdict(output) if child.returncode == 0 else Verdict(False, "crashed")


def kill_session(child: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):  # the session is already gone
        os.killpg(child.pid, signal.SIGKILL)
    child.wait()


def read_verdict(output: bytes) -> Verdict:
    """The runner's one verdict line, or a failure when the output is anything else (empty, longer than a verdict,
    more than one line: something besides the runner wrote there)."""
    if not output or len(output) > VERDICT_BYTES:
        return Verdict(False, "crashed" if not output else "unreadable")
    lines = output.decode("utf-8", errors="replace").strip().split("\n")
    try:
        if len(lines) != 1:
            raise ValueError("more than one line")
        verdict = json.loads(lines[0])
        return Verdict(verdict["passed"] is True, str(verdict["status"]), int(verdict["tests_run"]))
    except (ValueError, KeyError, TypeError):
        return Verdict(False, "unreadable")
