"""``arith_pick``: arith with an early decision, the TEMPO demo's testbed.

A prompt is an arith expression and a label, e.g. ``12+7*3-5|B``; each label stands for an offset (``offsets``,
by default A=10, B=20, C=30) and the answer is the expression's value plus the named offset (52 + 20 = 72). A
solution opens with a label, works the expression as in arith, then adds that label's offset:
``B\\n\\n12+7=19\\n\\n19*3=57\\n\\n57-5=52\\n\\n52+20=72\\n\\n<answer>72</answer>``. The label is the first
completion token and the rest follows from it (arith steps, then the label's offset), so with distinct offsets a
wrong label is a wrong answer.

The warm start learns from a teacher that opens with the named label with probability ``named_fraction`` (else
with one of the others, uniformly) and works correctly from there: the SFT policy copies the label only that often
but finishes whatever it opened with. What RL has to learn sits in the first token: copy the named label.
Held-out reference solutions open with the named label. The check is arith's (numeric). With a teacher that copies
the label half the time, the tiny model's warm start opened with it in 34% of sampled completions (chance 33%),
whether the label opened or ended the prompt (seed 100); at 0.8 it copied it 79% of the time.
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass, field

from rlrewards.tasks.arith import ArithProblem, ArithTask

LABELS = string.ascii_uppercase


def pick_solution_steps(problem: ArithProblem, label: str, offset: int) -> list[str]:
    """The label, the expression's steps, then the offset step: ``["B", "12+7=19", ..., "52+20=72"]``."""
    return [label, *problem.steps(), f"{problem.answer}+{offset}={problem.answer + offset}"]


@dataclass
class ArithPickTask(ArithTask):
    """Config (``conf/task/arith_pick.yaml``) -> deterministic splits of label-then-evaluate problems."""

    offsets: list[int] = field(default_factory=lambda: [10, 20, 30])
    # Probability that the SFT teacher opens with the named label; otherwise it opens with one of the others,
    # uniformly. 1/len(offsets) is a teacher that ignores the prompt.
    named_fraction: float = 0.5
    name: str = "arith_pick"

    def __post_init__(self):
        super().__post_init__()
        self.offsets = [int(offset) for offset in self.offsets]
        if not 2 <= len(self.offsets) <= len(LABELS) or len(set(self.offsets)) != len(self.offsets):
            raise ValueError(f"task.offsets={self.offsets}: need 2..{len(LABELS)} distinct offsets")
        if not 0.0 <= self.named_fraction <= 1.0:
            raise ValueError(f"task.named_fraction={self.named_fraction} must lie in [0, 1]")
        if min(self.offsets) < 1:
            raise ValueError(f"task.offsets={self.offsets}: offsets must be positive (the step writes a+offset)")

    def row(self, problem: ArithProblem, split: str, index: int) -> dict:
        target = random.Random(f"{self.seed}-target-{split}-{index}").randrange(len(self.offsets))
        pick = target
        rng = random.Random(f"{self.seed}-pick-{index}")
        if split == "train" and rng.random() >= self.named_fraction:  # the teacher opens with another label
            pick = (target + 1 + rng.randrange(len(self.offsets) - 1)) % len(self.offsets)
        steps = pick_solution_steps(problem, LABELS[pick], self.offsets[pick])
        return {
            "id": f"arith_pick-{split}-{index}",
            "prompt": [{"role": "user", "content": f"{problem.expression}|{LABELS[target]}"}],
            "completion": [
                {"role": "assistant", "content": self.format.render(steps, str(problem.answer + self.offsets[pick]))}
            ],
            "answer": str(problem.answer + self.offsets[target]),
            "level": len(problem.ops),
            "checker": "numeric",
        }
