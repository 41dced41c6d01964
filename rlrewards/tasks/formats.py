"""Answer formats: how a solution is written out and how its final answer is read back.

A recipe picks one by name (``recipe.answer_format``). The task writes SFT targets with ``render`` and reward
functions read completions with ``extract_answer``. Extraction never raises: model output is untrusted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rlrewards.registry import RECIPE_MODULES, Registry
from rlrewards.tasks.tags import ends_with_tag_chain, last_tag_content, tag_link

STEP_SEPARATOR = "\n\n"  # PURE splits steps at "\n\n"; every format keeps that convention.


@dataclass(frozen=True)
class AnswerFormat:
    name: str
    instruction: str
    states_confidence = False  # the format ends with <analysis>...</analysis> <confidence>q</confidence>

    def render(self, steps: list[str], answer: str, **extras) -> str:
        raise NotImplementedError

    def extract_answer(self, text: str) -> str | None:
        """The content of the last ``<answer>...</answer>``, stripped; None when there is none."""
        if not isinstance(text, str):
            return None
        content = last_tag_content(text, "<answer>", "</answer>")
        return content.strip() if content is not None else None

    def is_well_formed(self, text: str) -> bool:
        raise NotImplementedError


class AnswerTagFormat(AnswerFormat):
    """Steps separated by blank lines, then ``<answer>N</answer>`` as the last step."""

    def render(self, steps: list[str], answer: str, **extras) -> str:
        return STEP_SEPARATOR.join([*steps, f"<answer>{answer}</answer>"])

    def is_well_formed(self, text: str) -> bool:
        return isinstance(text, str) and text.rstrip().endswith("</answer>") and text.count("<answer>") == 1


class ThinkAnswerFormat(AnswerFormat):
    """``<think>steps</think> <answer>N</answer>``: the R1-style format RLVR baselines use."""

    _WELL_FORMED = re.compile(
        r"^\s*<think>(?:(?!</?think>).)*</think>\s*<answer>(?:(?!</?answer>).)*</answer>\s*$", re.DOTALL
    )

    def render(self, steps: list[str], answer: str, **extras) -> str:
        return f"<think>{STEP_SEPARATOR.join(steps)}</think> <answer>{answer}</answer>"

    def is_well_formed(self, text: str) -> bool:
        return isinstance(text, str) and self._WELL_FORMED.match(text) is not None


def last_boxed(text: str) -> str | None:
    """Content of the last ``\\boxed{...}`` (or ``\\fbox{...}``), braces balanced; None when absent."""
    if not isinstance(text, str):
        return None
    start = max(text.rfind("\\boxed"), text.rfind("\\fbox"))
    if start < 0:
        return None
    brace = text.find("{", start)
    if brace < 0:
        return None
    depth = 0
    for index in range(brace, len(text)):
        if text[index] == "{":
            depth += 1
        elif text[index] == "}":
            depth -= 1
            if depth == 0:
                return text[brace + 1 : index].strip()
    return None


class BoxedFormat(AnswerFormat):
    """Free-form reasoning ending in ``\\boxed{N}``: the MATH convention (TEMPO's MATH reward reads the last box)."""

    def render(self, steps: list[str], answer: str, **extras) -> str:
        return STEP_SEPARATOR.join([*steps, f"The final answer is $\\boxed{{{answer}}}$."])

    def extract_answer(self, text: str) -> str | None:
        return last_boxed(text)

    def is_well_formed(self, text: str) -> bool:
        return last_boxed(text) is not None


class OfficialPatternFormat(AnswerFormat):
    """RLCR's format checks (damanimehul/RLCR ``reward_fns.format_reward``): ``re.match`` of ``official_pattern``,
    which needs no opening ``<think>`` and allows only whitespace after the last tag; with a confidence tag, the
    last ``<confidence>`` must hold a finite number in [0, 1] (the official check let ``nan`` through).

    The official regex backtracks over every tag occurrence (n^4 for ``tabc``: 44 s on a 12 KB completion of
    repeated tag blocks); ``is_well_formed`` decides the same language in one forward pass (``ends_with_tag_chain``).
    ``official_pattern`` is kept as the reference the tests compare against, never run on model output."""

    official_pattern: re.Pattern = re.compile(r".*?</think>\s*<answer>.*?</answer>\s*\Z", re.DOTALL | re.MULTILINE)
    links: tuple[re.Pattern, ...] = (tag_link("</think>", "<answer>"),)
    final_close = "</answer>"

    def render(self, steps: list[str], answer: str, **extras) -> str:
        return f"<think>{STEP_SEPARATOR.join(steps)}</think> <answer>{answer}</answer>"

    def is_well_formed(self, text: str) -> bool:
        return isinstance(text, str) and ends_with_tag_chain(text, self.links, self.final_close)


class ConfidenceFormat(OfficialPatternFormat):
    """``...</think> <answer>y</answer> <analysis>why it may be wrong</analysis> <confidence>q</confidence>``
    (RLCR's ``tabc``)."""

    states_confidence = True
    official_pattern = re.compile(
        r".*?</think>\s*<answer>.*?</answer>\s*<analysis>.*?</analysis>\s*<confidence>.*?</confidence>\s*\Z",
        re.DOTALL | re.MULTILINE,
    )
    links = (
        tag_link("</think>", "<answer>"),
        tag_link("</answer>", "<analysis>"),
        tag_link("</analysis>", "<confidence>"),
    )
    final_close = "</confidence>"

    def render(self, steps: list[str], answer: str, confidence: float = 0.5, analysis: str = "", **extras) -> str:
        think = STEP_SEPARATOR.join(steps)
        return (
            f"<think>{think}</think> <answer>{answer}</answer> <analysis>{analysis}</analysis> "
            f"<confidence>{confidence:g}</confidence>"
        )

    def is_well_formed(self, text: str) -> bool:
        from rlrewards.algorithms.rlcr import parse_confidence

        return super().is_well_formed(text) and parse_confidence(text) is not None


ANSWER_FORMATS: Registry[AnswerFormat] = Registry("answer format", autoload=RECIPE_MODULES)
ANSWER_FORMATS.register("answer_tag")(
    AnswerTagFormat("answer_tag", "Work step by step, one step per paragraph, and end with <answer>N</answer>.")
)
ANSWER_FORMATS.register("think_answer")(
    ThinkAnswerFormat("think_answer", "Think inside <think></think>, then give <answer>N</answer>.")
)
ANSWER_FORMATS.register("ta")(
    OfficialPatternFormat("ta", "Think, close with </think>, then give <answer>N</answer> and nothing after it.")
)
ANSWER_FORMATS.register("tabc")(
    ConfidenceFormat(
        "tabc",
        "Think, close with </think>, give <answer>N</answer>, analyse how it could be wrong in <analysis></analysis>, "
        "and end with your confidence (0 to 1) in <confidence></confidence>.",
    )
)
ANSWER_FORMATS.register("boxed")(
    BoxedFormat("boxed", "Let's think step by step and output the final answer within \\boxed{}.")
)


def get_answer_format(name: str) -> AnswerFormat:
    return ANSWER_FORMATS.get(name)
