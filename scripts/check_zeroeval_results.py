"""Regrade ZeroEval's published outputs with rlrewards and compare with ZeroEval's own summaries.

WildEval/ZeroEval ships every model's greedy outputs (``result_dirs/<set>/<model>.json``: rows with ``output`` and
``answer``) and what its ``src/evaluation`` scripts computed from them (``result_dirs/<set>.summary.json``: ``Acc``
and ``No answer`` in %). For CRUXEval (``crux``) that grade is the one the self-certainty fork's ``new_crux.py``
applies, so reading the outputs with ``zeroeval_json_raw`` and grading with ``zeroeval_crux`` should reproduce each
summary row. For GSM8K (``gsm``) and MATH level 5 (``math-l5``) ZeroEval's own ``math_eval.py`` grades by first
numbers only, where the fork (and ``zeroeval_math``) also normalizes and compares whole answers: there only the
no-answer rate (the json extraction) is expected to agree, and the accuracies are shown side by side.

    git clone https://github.com/WildEval/ZeroEval /tmp/ZeroEval
    python scripts/check_zeroeval_results.py --zeroeval /tmp/ZeroEval

Prints one line per model file with a summary row (ours vs theirs, in %), then the models that differ. Files
without a summary row of the same name are listed and skipped (ZeroEval renames a few models in its summary).
Nothing from ZeroEval is imported: only its result files are read.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rlrewards.rewards.checkers import get_checker
from rlrewards.tasks.formats import get_answer_format

# set -> (answer format, checker, whether ZeroEval's summary grades as the checker does)
RESULT_SETS = {
    "crux": ("zeroeval_json_raw", "zeroeval_crux", True),
    "gsm": ("zeroeval_json", "zeroeval_math", False),
    "math-l5": ("zeroeval_json", "zeroeval_math", False),
}


def regrade(rows: list[dict], answer_format: str, checker: str) -> tuple[float, float]:
    """(accuracy %, no-answer %) of the first output of each row, as rlrewards reads and grades it."""
    fmt, check = get_answer_format(answer_format), get_checker(checker)
    answers = [fmt.extract_answer(row["output"][0] if row["output"] else "") for row in rows]
    correct = sum(bool(check(answer, row["answer"])) for answer, row in zip(answers, rows))
    missing = sum(answer is None for answer in answers)
    return 100 * correct / len(rows), 100 * missing / len(rows)


def compare_set(results: Path, name: str, tolerance: float) -> None:
    answer_format, checker, same_grade = RESULT_SETS[name]
    summary = {row["Model"]: row for row in json.loads((results / f"{name}.summary.json").read_text())}
    files = sorted((results / name).glob("*.json"))
    differing, unmatched = [], []
    print(f"\n== {name}: {answer_format} + {checker}" + ("" if same_grade else " (accuracy: not ZeroEval's grade)"))
    print(f"{'model':45s} {'acc ours':>9s} {'theirs':>7s} {'no-ans ours':>12s} {'theirs':>7s}")
    for path in files:
        if path.stem not in summary:
            unmatched.append(path.stem)
            continue
        ours = regrade(json.loads(path.read_text()), answer_format, checker)
        theirs = (float(summary[path.stem]["Acc"]), float(summary[path.stem]["No answer"]))
        print(f"{path.stem:45s} {ours[0]:9.2f} {theirs[0]:7.2f} {ours[1]:12.2f} {theirs[1]:7.2f}")
        checked = zip(ours, theirs) if same_grade else [(ours[1], theirs[1])]
        if any(abs(a - b) > tolerance for a, b in checked):
            differing.append(path.stem)
    print(f"{len(summary)} summary rows, {len(files)} files, compared {len(files) - len(unmatched)}")
    print(f"differing ({'accuracy or no-answer' if same_grade else 'no-answer'}): {differing or 'none'}")
    print(f"files without a summary row of the same name: {unmatched or 'none'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--zeroeval", type=Path, required=True, help="a WildEval/ZeroEval checkout")
    parser.add_argument("--sets", nargs="+", default=list(RESULT_SETS), choices=list(RESULT_SETS))
    parser.add_argument("--tolerance", type=float, default=0.01, help="%% points (the summaries round to 0.01)")
    args = parser.parse_args()
    for name in args.sets:
        compare_set(args.zeroeval / "result_dirs", name, args.tolerance)


if __name__ == "__main__":
    main()
