"""``arith``: a seeded generator of verifiable multi-step arithmetic problems.

A problem is a chain ``a op1 b op2 c ...`` evaluated left to right (no precedence), e.g. ``12+7*3-5``. The
solution writes one step per paragraph (``12+7=19``, ``19*3=57``, ``57-5=52``), separated by a blank line, and ends
with the final answer in the recipe's answer format. Difficulty grows with the number of steps and operand size;
the level (number of steps) is visible in the prompt, so a model can learn how hard a problem is.

Splits are deterministic functions of the task seed and never share an expression.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from functools import cached_property

from datasets import Dataset

from rlrewards.rewards.checkers import numeric_match
from rlrewards.tasks.base import check_split, validate_rows
from rlrewards.tasks.formats import get_answer_format


@dataclass(frozen=True)
class ArithProblem:
    start: int
    ops: tuple[tuple[str, int], ...]

    @property
    def expression(self) -> str:
        return str(self.start) + "".join(f"{op}{operand}" for op, operand in self.ops)

    def steps(self) -> list[str]:
        value, lines = self.start, []
        for op, operand in self.ops:
            result = apply_op(value, op, operand)
            lines.append(f"{value}{op}{operand}={result}")
            value = result
        return lines

    @property
    def answer(self) -> int:
        value = self.start
        for op, operand in self.ops:
            value = apply_op(value, op, operand)
        return value


def apply_op(value: int, op: str, operand: int) -> int:
    if op == "+":
        return value + operand
    if op == "-":
        return value - operand
    if op == "*":
        return value * operand
    raise ValueError(f"unknown operator {op!r}")


def restate_results(lines: list[str], draws: list[float], fraction: float) -> list[str]:
    """After each ``a op b = c`` line whose draw is below ``fraction``, a line with ``c`` alone."""
    out: list[str] = []
    for line, draw in zip(lines, draws):
        out.append(line)
        if draw < fraction:
            out.append(line.rsplit("=", 1)[-1])
    return out


def sample_problem(
    rng: random.Random, steps: int, max_operand: int, max_multiplier: int, max_value: int
) -> ArithProblem:
    """Every intermediate result stays in [0, max_value]."""
    value = rng.randint(1, max_operand)
    start, ops = value, []
    for _ in range(steps):
        choices = ["+"] if value < max_value else []
        if value >= 1:
            choices.append("-")
        if value >= 1 and value * 2 <= max_value:
            choices.append("*")
        op = rng.choice(choices)
        if op == "+":
            operand = rng.randint(1, min(max_operand, max_value - value))
        elif op == "-":
            operand = rng.randint(1, min(max_operand, value))
        else:
            operand = rng.randint(2, max(2, min(max_multiplier, max_value // value)))
        ops.append((op, operand))
        value = apply_op(value, op, operand)
    return ArithProblem(start, tuple(ops))


@dataclass
class ArithTask:
    """Config (``conf/task/arith.yaml``) -> deterministic train/validation/test datasets."""

    answer_format: str = "answer_tag"
    seed: int = 1234
    min_steps: int = 2
    max_steps: int = 3
    max_operand: int = 20
    max_multiplier: int = 9
    max_value: int = 999
    split_sizes: dict[str, int] = field(default_factory=lambda: {"train": 20000, "validation": 200, "test": 500})
    prompt_template: str = "{expression}"
    # Fraction of the training split's worked solutions that state the answer without writing the steps: a teacher
    # that skips its work. Only the SFT warm start reads those solutions; prompts, answers and checks are unchanged.
    direct_answer_fraction: float = 0.0
    # Chance that a worked training solution restates a step's result as a step of its own ("7*2=14", then "14"): a
    # useless step the SFT start learns to write now and then (the PURE demo's PRM over-rewards it). SFT data only.
    restate_fraction: float = 0.0
    name: str = "arith"

    def __post_init__(self):
        if not 1 <= self.min_steps <= self.max_steps:
            raise ValueError(
                f"task.min_steps={self.min_steps} and task.max_steps={self.max_steps} need 1 <= min <= max"
            )
        if self.max_operand < 2 or self.max_multiplier < 2 or self.max_value < 2 * self.max_operand:
            raise ValueError("task: need max_operand >= 2, max_multiplier >= 2 and max_value >= 2 * max_operand")
        if not 0.0 <= self.direct_answer_fraction <= 1.0:
            raise ValueError(f"task.direct_answer_fraction={self.direct_answer_fraction} must lie in [0, 1]")
        if not 0.0 <= self.restate_fraction <= 1.0:
            raise ValueError(f"task.restate_fraction={self.restate_fraction} must lie in [0, 1]")
        self.split_sizes = dict(self.split_sizes)
        self.format = get_answer_format(self.answer_format)

    @cached_property
    def _problems(self) -> dict[str, list[ArithProblem]]:
        # Held-out splits are drawn first so the training split can exclude their expressions.
        rng = random.Random(self.seed)
        seen: set[str] = set()
        problems: dict[str, list[ArithProblem]] = {}
        for split in ("test", "validation", "train"):
            wanted, drawn, attempts = self.split_sizes.get(split, 0), [], 0
            while len(drawn) < wanted:
                attempts += 1
                if attempts > 50 * wanted + 1000:
                    raise ValueError(
                        f"task arith: cannot draw {wanted} distinct '{split}' problems with max_steps="
                        f"{self.max_steps}, max_operand={self.max_operand}; lower task.split_sizes.{split}"
                    )
                steps = rng.randint(self.min_steps, self.max_steps)
                problem = sample_problem(rng, steps, self.max_operand, self.max_multiplier, self.max_value)
                if problem.expression not in seen:
                    seen.add(problem.expression)
                    drawn.append(problem)
            problems[split] = drawn
        return problems

    def row(self, problem: ArithProblem, split: str, index: int) -> dict:
        level = len(problem.ops)
        prompt = self.prompt_template.format(level=level, expression=problem.expression)
        extras = {}
        if self.format.states_confidence:
            # SFT teaches the format only: confidences are spread over 0.1..0.9 independently of correctness, so
            # RL starts uncalibrated and can explore every value.
            extras = {
                "confidence": random.Random(f"{self.seed}-{split}-{index}").randint(1, 9) / 10,
                "analysis": f"{level} steps",
            }
        steps = problem.steps()
        if split == "train" and random.Random(f"{self.seed}-direct-{index}").random() < self.direct_answer_fraction:
            steps = []
        elif split == "train" and self.restate_fraction > 0:
            rng = random.Random(f"{self.seed}-restate-{index}")
            steps = restate_results(steps, [rng.random() for _ in steps], self.restate_fraction)
        solution = self.format.render(steps, str(problem.answer), **extras)
        return {
            "id": f"arith-{split}-{index}",
            "prompt": [{"role": "user", "content": prompt}],
            "completion": [{"role": "assistant", "content": solution}],
            "answer": str(problem.answer),
            "level": level,
            "checker": "numeric",
        }

    def load_split(self, split: str) -> Dataset:
        check_split(split)
        rows = [self.row(p, split, i) for i, p in enumerate(self._problems[split])]
        validate_rows(rows, source=f"task {self.name} ({split})")
        return Dataset.from_list(rows)

    def check(self, prediction: str | None, answer: str) -> bool:
        return numeric_match(prediction, answer)
