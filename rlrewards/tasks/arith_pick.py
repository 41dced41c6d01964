"""``arith_pick``: arith with an early decision, the TEMPO demo's testbed.

A prompt lists ``choices`` labelled arith expressions and names the one to evaluate first, e.g.
``B|A:12+7*3|B:5*4-2|C:9+9``; the answer is the value of expression ``B``. A solution opens with its pick and the
expression it copies (``B:5*4-2``), then works it step by step as in arith. The pick is the first completion token;
everything after it is determined by it (copy, then arithmetic). The expressions of a prompt have distinct values,
so a wrong pick is a wrong answer.

The warm start learns from a teacher that picks a label at random (uniform, whatever the prompt names) and then
works that expression correctly: the SFT policy opens with each label about equally often and can already evaluate
any of them. What RL has to learn sits in the first token: pick the named label. Held-out reference solutions
pick the named one. The check is arith's (numeric).
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass
from functools import cached_property

from datasets import Dataset

from rlrewards.tasks.arith import ArithProblem, ArithTask
from rlrewards.tasks.base import check_split, validate_rows

LABELS = string.ascii_uppercase


def group_distinct_answers(pool: list[ArithProblem], size: int, count: int) -> list[tuple[ArithProblem, ...]]:
    """``count`` groups of ``size`` problems taken in order from ``pool``, each group's answers distinct.

    A problem whose answer is already in the group being filled is skipped (not reused). Raises ValueError when the
    pool runs out.
    """
    groups: list[tuple[ArithProblem, ...]] = []
    current: list[ArithProblem] = []
    for problem in pool:
        if len(groups) == count:
            break
        if any(problem.answer == other.answer for other in current):
            continue
        current.append(problem)
        if len(current) == size:
            groups.append(tuple(current))
            current = []
    if len(groups) < count:
        raise ValueError(f"task arith_pick: only {len(groups)} of {count} groups of {size} distinct answers")
    return groups


def pick_prompt(target: int, problems: tuple[ArithProblem, ...]) -> str:
    """``B|A:..|B:..|C:..``: the named label, then each labelled expression."""
    listed = "|".join(f"{LABELS[k]}:{p.expression}" for k, p in enumerate(problems))
    return f"{LABELS[target]}|{listed}"


@dataclass
class ArithPickTask(ArithTask):
    """Config (``conf/task/arith_pick.yaml``) -> deterministic splits of pick-then-evaluate problems."""

    choices: int = 3
    name: str = "arith_pick"

    def __post_init__(self):
        super().__post_init__()
        if not 2 <= self.choices <= len(LABELS):
            raise ValueError(f"task.choices={self.choices} must lie in [2, {len(LABELS)}]")

    @cached_property
    def _groups(self) -> dict[str, list[tuple[ArithProblem, ...]]]:
        # A quarter more problems than the groups use: some are skipped to keep a group's answers distinct.
        sizes = {split: (n * self.choices * 5) // 4 + 20 for split, n in self.split_sizes.items() if n}
        pools = self.draw_problems(sizes)
        return {
            split: group_distinct_answers(pools.get(split, []), self.choices, n)
            for split, n in self.split_sizes.items()
        }

    def pick_row(self, problems: tuple[ArithProblem, ...], split: str, index: int) -> dict:
        target = random.Random(f"{self.seed}-target-{split}-{index}").randrange(self.choices)
        pick = target
        if split == "train":  # the teacher picks at random
            pick = random.Random(f"{self.seed}-pick-{index}").randrange(self.choices)
        chosen = problems[pick]
        steps = [f"{LABELS[pick]}:{chosen.expression}", *chosen.steps()]
        return {
            "id": f"arith_pick-{split}-{index}",
            "prompt": [{"role": "user", "content": pick_prompt(target, problems)}],
            "completion": [{"role": "assistant", "content": self.format.render(steps, str(chosen.answer))}],
            "answer": str(problems[target].answer),
            "level": len(problems[target].ops),
            "checker": "numeric",
        }

    def load_split(self, split: str) -> Dataset:
        check_split(split)
        rows = [self.pick_row(group, split, i) for i, group in enumerate(self._groups[split])]
        validate_rows(rows, source=f"task arith_pick ({split})")
        return Dataset.from_list(rows)
