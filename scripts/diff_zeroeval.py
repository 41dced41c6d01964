"""Differential check of rlrewards' ZeroEval extraction and grade (rlrewards/recipes/zeroeval.py) against the
official functions, on random strings; prints the disagreements.

    python scripts/diff_zeroeval.py --official <dir> [--cases 30000] [--seed 0]

<dir> holds the official modules, which rlrewards does not ship: ``eval_utils.py`` from WildEval/ZeroEval
(``src/evaluation/eval_utils.py``) and ``eval_utils_padding.py`` from backprop07/Self-Certainty
(``src/evaluation/eval_utils_padding.py``), e.g. ``git -C <clone> show HEAD:<path> > <dir>/<name>``. The official
grade is ``new_math.py``'s, restated here in its few lines. Expected disagreements: answers whose fraction
arithmetic uses ``**`` (the official ``eval()`` computes powers; ours leaves them as text).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import warnings

from rlrewards.recipes.zeroeval import zeroeval_answer, zeroeval_math_match

FRAGMENTS = ['{', '}', '"answer"', '"reasoning"', ':', ' ', '\n', '"', ',', 'answer', '42', '-3.5', '\\frac', '{1}',
             '{2}', '\\sqrt', '2', '$', '\\text{ ', 'cm}', '=', 'x', '/', '.', 'BBBB', '\\boxed{', 'boxed', '\\left',
             '\\dfrac', '^\\circ', '\\%', 'π', '0.5', '1/2', '\\\\', 'abc', '(', ')', '+', '*']  # fmt: skip
ANSWERS = ['42', '-15', '0.5', '1/2', '\\frac{3}{4}', '\\dfrac12', '3.0', '$1,024$', 'x=7', '\\sqrt{3}', '\\sqrt3',
           '2\\pi', 'π', '10\\%', '90^\\circ', 'B', 'BBBB', '5 \\text{ cm}', '.25', '\\left(1,2\\right)', '7/1',
           ' 18 ', '# 18', '1e3', 'nan', '\\frac{1}{0}', '(1+2)/3', '\\frac{-1}{4}', '\\frac1/2', '2**3']  # fmt: skip


def random_text(rng: random.Random) -> str:
    if rng.random() < 0.5:
        return "".join(rng.choice(FRAGMENTS) for _ in range(rng.randint(1, 25)))
    answer = "".join(rng.choice(ANSWERS) for _ in range(rng.randint(1, 3)))
    return rng.choice([
        json.dumps({"reasoning": "r", "answer": answer}),
        '```json\n{\n "reasoning": "\\\\frac", \n"answer": "' + answer + '"\n}\n```',
        "reasoning...\nanswer: " + answer,
        '{"answer": ' + answer + "}",
    ])  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--official", required=True)
    parser.add_argument("--cases", type=int, default=30000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    sys.path.insert(0, args.official)
    warnings.simplefilter("ignore")  # the official eval() warns on text such as "2(3)"
    import eval_utils_padding as official

    def official_grade(answer: str | None, gold: str) -> bool:
        if answer is None:
            return False
        gold = official.sanitize_math_answers(gold.replace("#", "").strip())
        if answer == gold:
            return True
        ours, theirs = re.search(r"-?\d+(\.\d+)?", answer), re.search(r"-?\d+(\.\d+)?", gold)
        return bool(ours and theirs and float(ours.group()) == float(theirs.group()))

    rng = random.Random(args.seed)
    extract, grade, shown = 0, 0, 0
    for _ in range(args.cases):
        text, gold = random_text(rng), rng.choice(ANSWERS)
        theirs = official.extract_answer_from_output(text, "meta-llama/Llama-3.1-8B-Instruct", "math")
        ours = zeroeval_answer(text)
        extract += theirs != ours
        grade += official_grade(theirs, gold) != zeroeval_math_match(ours, gold)
        if theirs != ours and shown < 10:
            shown += 1
            print(f"differs: {text!r}: official {theirs!r}, ours {ours!r}")
    print(f"{args.cases} cases (seed {args.seed}): extraction differs on {extract}, grade on {grade}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
