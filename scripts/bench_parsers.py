"""Time every parser of model output on 8/16/32/64 KB worst cases; a linear parser shows a 64KB/8KB ratio near 8.

    PYTHONPATH=. python scripts/bench_parsers.py [--cap 3]

Parsers are discovered from the registries (answer formats, checkers, reward functions) plus the free functions
that read completions (confidence, ``\\boxed{}``, the eval probe, PURE's arithmetic step PRMs). A call slower than
``--cap`` seconds is interrupted (the regex engine checks signals) and the larger sizes of that row are skipped.
"""

from __future__ import annotations

import argparse
import inspect
import signal
import time
from collections.abc import Callable

from rlrewards.algorithms.rlcr import parse_confidence
from rlrewards.recipes.pure import ArithRulePRM, HackableArithPRM
from rlrewards.recipes.rlcr_eval import probed_confidence
from rlrewards.rewards.checkers import CHECKERS
from rlrewards.rewards.core import REWARDS
from rlrewards.tasks.formats import ANSWER_FORMATS, get_answer_format, last_boxed

SIZES_KB = (8, 16, 32, 64)
TABC_BLOCK = "</think> <answer>1</answer> <analysis>a</analysis> <confidence>0.5</confidence> "
UNCLOSED = "<think><answer><analysis><confidence>\\boxed{"


def _fill(unit: str, size: int, tail: str = "") -> str:
    return (unit * (size // len(unit) + 1))[: size - len(tail)] + tail


CASES: dict[str, Callable[[int], str]] = {
    "tabc_block": lambda n: _fill(TABC_BLOCK, n, "x"),  # the case: every block matches, the end does not
    "tabc_block_closed": lambda n: _fill(TABC_BLOCK, n - len(TABC_BLOCK)) + TABC_BLOCK,  # well formed: full scan
    "unclosed_tags": lambda n: _fill(UNCLOSED, n),
    "digits": lambda n: _fill("1", n),
    "open_braces": lambda n: "\\boxed" + _fill("{", n - 6),
    "open_think": lambda n: "<think>" + _fill("a", n - 7),  # think_answer's tempered tokens scan, then give back
    "trailing_space": lambda n: "<think>x</think><answer>1</answer>" + _fill(" ", n - 35, "x"),
    "long_equation": lambda n: "1+1=" + _fill("1", n - 4),  # a PRM step whose result has 64 K digits
    "open_code_blocks": lambda n: _fill("```python\nx", n),  # code blocks never closed: the fence regex's n^2
}


RAISED: dict[Callable, str] = {}  # parser -> the first exception it raised


class _Slow(Exception):
    pass


def _alarm(signum, frame):
    raise _Slow


def parsers() -> dict[str, Callable[[str], object]]:
    found: dict[str, Callable[[str], object]] = {}
    for name in ANSWER_FORMATS.names():
        fmt = get_answer_format(name)
        found[f"format {name}.extract_answer"] = fmt.extract_answer
        found[f"format {name}.is_well_formed"] = fmt.is_well_formed
    for name in CHECKERS.names():
        check = CHECKERS.get(name)
        found[f"checker {name}"] = lambda text, check=check: check(text, "1")
    for name in REWARDS.names():
        fn = REWARDS.get(name)
        formats = ANSWER_FORMATS.names() if "answer_format" in inspect.signature(fn).parameters else [None]
        for fmt_name in formats:
            extra = {"answer_format": fmt_name} if fmt_name else {}
            found[f"reward {name}" + (f"[{fmt_name}]" if fmt_name else "")] = lambda text, fn=fn, extra=extra: fn(
                prompts=["q"], completions=[text], completion_ids=None, answer=["1"], checker=["numeric"], **extra
            )
    found["parse_confidence"] = parse_confidence
    found["last_boxed"] = last_boxed
    found["probed_confidence"] = probed_confidence
    for prm in (ArithRulePRM(), HackableArithPRM()):
        found[f"prm {type(prm).__name__}.step_reward"] = lambda text, prm=prm: prm.step_reward(text, 1)
    return found


def best_time(fn: Callable[[str], object], text: str, cap: float, repeats: int = 5) -> float | None:
    """The fastest of ``repeats`` calls (the machine is shared: the minimum is the parser's own cost); slow calls
    (over 0.2 s) are not repeated; None when a call ran past ``cap``."""
    best: float | None = None
    for _ in range(repeats):
        elapsed = time_call(fn, text, cap)
        if elapsed is None:
            return None
        best = elapsed if best is None else min(best, elapsed)
        if elapsed > 0.2:
            break
    return best


def time_call(fn: Callable[[str], object], text: str, cap: float) -> float | None:
    signal.setitimer(signal.ITIMER_REAL, cap)
    start = time.perf_counter()
    try:
        fn(text)
    except _Slow:
        return None
    except Exception as err:  # noqa: BLE001 - a parser that raises is reported, not fatal to the benchmark
        RAISED.setdefault(fn, f"{type(err).__name__}: {str(err)[:70]}")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cap", type=float, default=3.0, help="seconds after which a call is interrupted")
    args = parser.parse_args()
    signal.signal(signal.SIGALRM, _alarm)
    header = "".join(f"{kb:>9}KB" for kb in SIZES_KB)
    print(f"{'parser':<44}{'worst case':<19}{header}  64/8")
    for name, fn in parsers().items():
        worst: tuple[str, list[float | None]] | None = None
        for case, make in CASES.items():
            times: list[float | None] = []
            for kb in SIZES_KB:
                elapsed = best_time(fn, make(kb * 1024), args.cap) if not times or times[-1] is not None else None
                times.append(elapsed)
            if worst is None or _key(times) > _key(worst[1]):
                worst = (case, times)
        case, times = worst
        cells = "".join(f"{t * 1000:>9.2f}ms" if t is not None else f"{'>' + str(args.cap) + 's':>11}" for t in times)
        ratio = f"{times[-1] / times[0]:6.1f}" if times[0] and times[-1] is not None else "   n/a"
        print(f"{name:<44}{case:<19}{cells}  {ratio}")
        if fn in RAISED:
            print(f"    raised {RAISED[fn]}")


def _key(times: list[float | None]) -> tuple[int, float]:
    """Order rows by how many sizes finished (fewer is worse), then by the largest finished time."""
    done = [t for t in times if t is not None]
    return (len(times) - len(done), max(done, default=0.0))


if __name__ == "__main__":
    main()
