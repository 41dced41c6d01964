"""Differential check of rlrewards' LiveCodeBench grading (rlrewards/utils/python_tests_runner.py) against
LiveCodeBench's own ``run_test``, on a battery of programs for one stdin problem and one LeetCode (call-based) problem;
prints each program's two verdicts and the disagreements.

    python scripts/diff_livecodebench.py --official <dir>

<dir> holds LiveCodeBench's ``testing_util.py`` (``lcb_runner/evaluation/testing_util.py`` of
LiveCodeBench/LiveCodeBench), which rlrewards does not ship, e.g. ``git -C <clone> show
HEAD:lcb_runner/evaluation/testing_util.py > <dir>/testing_util.py``. Its ``run_test`` disables os functions in the
process that calls it, so each call runs in a forked child with LiveCodeBench's global timeout, as its
``check_correctness`` does (restated here in a few lines). Expected disagreements: none (the battery includes the
programs that depend on the quirks of LiveCodeBench's mocked standard input, which ours reproduces).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys

from rlrewards.utils.code_execution import ProgramTests, overall_timeout, run_program_tests

TIMEOUT = 2.0
STDIN = ProgramTests(("1 2\n", "10 20\n", "-5 5\n"), ("3\n", "30\n", "0\n"))
CRLF = ProgramTests(("ab\r\n",), ("3\n",))  # a line break written \r\n: input() keeps the \r in both
CRLF_PROGRAMS = {"input() keeps \\r": "print(len(input()))", "read().split()": "print(len(stdin.read().split()) + 2)"}
CALL = ProgramTests(("[1, 2]\n3", "[]\n1", "[-1]\n1"), ("[4, 5]", "[]", "[0]"), "addToAll")
SUM = "print(sum(map(int, {})))"
STDIN_PROGRAMS = {
    "input()": "a, b = map(int, input().split())\nprint(a + b)",
    "sys.stdin.read": "import sys\n" + SUM.format("sys.stdin.read().split()"),
    "sys.stdin.readline": "import sys\n" + SUM.format("sys.stdin.readline().split()"),
    "readline keeps the line break": "import sys\nline = sys.stdin.readline()\n"
    + SUM.format("line.split() if line.endswith('\\n') else []"),
    "from sys import stdin; readline": "from sys import stdin\n" + SUM.format("stdin.readline().split()"),
    "from sys import stdin; line break": "from sys import stdin\nline = stdin.readline()\n"
    + SUM.format("line.split() if line.endswith('\\n') else []"),
    "prelude's stdin.read": SUM.format("stdin.read().split()"),
    "imported stdin, iterated": "from sys import stdin\nfor line in stdin:\n    " + SUM.format("line.split()"),
    "import numpy": "import numpy as np\n" + SUM.format("np.array(input().split(), dtype=int)"),
    "import resource": "import resource\n" + SUM.format("input().split()"),
    "os.getcwd": "import os\nos.getcwd()\n" + SUM.format("input().split()"),
    "for line in sys.stdin": "import sys\nfor line in sys.stdin:\n    " + SUM.format("line.split()"),
    "readlines": "import sys\n" + SUM.format("sys.stdin.readlines()[0].split()"),
    "buffer.read": "import sys\n" + SUM.format("sys.stdin.buffer.read().split()"),
    "buffer.readline": "import sys\n" + SUM.format("sys.stdin.buffer.readline().split()"),
    "open(0)": SUM.format("open(0).read().split()"),
    "main guard": "def main():\n    a, b = map(int, input().split())\n    print(a + b)\n"
    "if __name__ == '__main__':\n    main()",
    "main guard, double quotes": 'if __name__ == "__main__":\n    a, b = map(int, input().split())\n    print(a + b)',
    "exit() after print": "a, b = map(int, input().split())\nprint(a + b)\nexit()",
    "sys.exit(0) after print": "import sys\na, b = map(int, input().split())\nprint(a + b)\nsys.exit(0)",
    "quit() after print": "a, b = map(int, input().split())\nprint(a + b)\nquit()",
    "float 3.0 for 3": "a, b = map(int, input().split())\nprint(float(a + b))",
    "trailing spaces": "a, b = map(int, input().split())\nprint(' ', a + b, ' ')",
    "extra blank line": "a, b = map(int, input().split())\nprint(a + b)\nprint()",
    "extra line": "a, b = map(int, input().split())\nprint(a + b)\nprint('x')",
    "wrong": "a, b = map(int, input().split())\nprint(a - b)",
    "public test only": "print(3)",
    "no output": "pass",
    "input() past the end": "a, b = map(int, input().split())\ninput()\nprint(a + b)",
    "runtime error": "print(1 // 0)",
    "syntax error": "def f(:\n    pass",
    "infinite loop": "while True:\n    pass",
    "deep recursion": "import sys\ndef f(n):\n    return 0 if n == 0 else 1 + f(n - 1)\nf(20000)\n"
    + SUM.format("sys.stdin.read().split()"),
    "global state across tests": "seen = []\na, b = map(int, input().split())\nseen.append(1)\n"
    "print(a + b + len(seen) - 1)",
    "print(end='')": "a, b = map(int, input().split())\nprint(a + b, end='')",
    "sys.stdout.write": "import sys\na, b = map(int, input().split())\nsys.stdout.write(str(a + b) + '\\n')",
    "empty program": "",
    # annotations are evaluated as in LiveCodeBench (the runner's own future import must not reach the program)
    "self-referencing annotation": "class V:\n    def __init__(self, x: int):\n        self.x = x\n"
    "    def __add__(self, o: V) -> V:\n        return V(self.x + o.x)\n" + "a, b = map(int, input().split())\n"
    "print((V(a) + V(b)).x)",
    "dataclass": "from dataclasses import dataclass\n@dataclass\nclass P:\n    a: int\n    b: int\n"
    "a, b = map(int, input().split())\nprint(P(a, b).a + b)",
    "import multiprocessing": "import multiprocessing\n" + SUM.format("input().split()"),
    "tempfile": "import tempfile\nwith tempfile.TemporaryFile() as f:\n    pass\n" + SUM.format("input().split()"),
    "os.write(2) debug": "import os\nos.write(2, b'debug\\n')\n" + SUM.format("input().split()"),
    "swallowed timeout": "import time\ntry:\n    time.sleep(100)\nexcept Exception:\n    pass\n"
    + SUM.format("input().split()"),
    "5,000-digit integer": "a, b = map(int, input().split())\nprint(a + b)\nstr(10 ** 5000)",
}
CALL_PROGRAMS = {
    "list": "class Solution:\n    def addToAll(self, nums: List[int], k: int) -> List[int]:\n"
    "        return [x + k for x in nums]",
    "tuple": "class Solution:\n    def addToAll(self, nums, k):\n        return tuple(x + k for x in nums)",
    "generator": "class Solution:\n    def addToAll(self, nums, k):\n        return (x + k for x in nums)",
    "wrong": "class Solution:\n    def addToAll(self, nums, k):\n        return nums",
    "no such method": "class Solution:\n    def other(self, nums, k):\n        return nums",
    "module function": "def addToAll(nums, k):\n    return [x + k for x in nums]",
    "helper method": "class Solution:\n    def add(self, x, k):\n        return x + k\n"
    "    def addToAll(self, nums, k):\n        return [self.add(x, k) for x in nums]",
    "raises": "class Solution:\n    def addToAll(self, nums, k):\n        raise ValueError",
    "infinite loop": "class Solution:\n    def addToAll(self, nums, k):\n        while True:\n            pass",
    "prints and returns": "class Solution:\n    def addToAll(self, nums, k):\n        print('hi')\n"
    "        return [x + k for x in nums]",
    "mutates its input": "class Solution:\n    def addToAll(self, nums, k):\n        nums[:] = [x + k for x in nums]\n"
    "        return nums",
    "syntax error": "class Solution:\n    def addToAll(self, nums, k)\n        return nums",
    "empty program": "",
    "undefined class in an annotation": "from typing import Optional\nclass Solution:\n"
    "    def addToAll(self, nums: List[int], k: int, root: Optional[TreeNode] = None) -> List[int]:\n"
    "        return [x + k for x in nums]",
    "dataclass": "from dataclasses import dataclass\n@dataclass\nclass Item:\n    v: int\nclass Solution:\n"
    "    def addToAll(self, nums, k):\n        return [Item(x).v + k for x in nums]",
}


def _official_child(path: str, sample: dict, code: str, timeout: float, results) -> None:
    sys.path.insert(0, path)
    sys.set_int_max_str_digits(50000)  # compute_code_generation_metrics sets it at import, before its workers fork
    import numpy as np
    import testing_util

    outcome, _ = testing_util.run_test(sample, test=code, debug=False, timeout=int(timeout))
    # LiveCodeBench counts a test passed when its result (an array's first item) is > 0: True, never -1 ... -4
    results.append([bool(np.all(np.asarray(r.item(0) if isinstance(r, np.ndarray) else r) > 0)) for r in outcome])


def official_passes(path: str, suite: ProgramTests, code: str) -> bool:
    """LiveCodeBench's ``check_correctness``: ``run_test`` in a child process, killed after the global timeout; the
    program passes when every test's result is True."""
    sample = {"input_output": json.dumps({"inputs": list(suite.inputs), "outputs": list(suite.outputs),
                                          "fn_name": suite.fn_name})}  # fmt: skip
    with multiprocessing.Manager() as manager:
        results = manager.list()
        child = multiprocessing.Process(target=_official_child, args=(path, sample, code, TIMEOUT, results))
        child.start()
        child.join(overall_timeout(TIMEOUT, len(suite.inputs)))
        if child.is_alive():
            child.kill()
        outcome = list(results[0]) if results else []
    return len(outcome) == len(suite.inputs) and all(outcome)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--official", required=True, help="a folder holding LiveCodeBench's testing_util.py")
    args = parser.parse_args()
    disagreements = []
    batteries = (("stdin", STDIN, STDIN_PROGRAMS), ("crlf", CRLF, CRLF_PROGRAMS), ("call", CALL, CALL_PROGRAMS))
    for kind, suite, programs in batteries:
        for name, code in programs.items():
            ours = run_program_tests(code, suite, TIMEOUT).passed
            theirs = official_passes(args.official, suite, code)
            print(f"{kind:<6}{name:<30} ours={str(ours):<6} official={theirs}")
            if ours != theirs:
                disagreements.append(f"{kind}: {name}")
    total = sum(len(programs) for _, _, programs in batteries)
    print(f"{total - len(disagreements)}/{total} programs graded the same; disagreements: {disagreements or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
