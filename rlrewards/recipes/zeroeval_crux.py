"""CRUXEval as the self-certainty paper grades it: ZeroEval's json answer, compared as a string with the output.

ZeroEval's CRUXEval-O (``flydust/zero-eval``, config ``crux``; WildEval/ZeroEval ``data_prep/crux.py``) asks for the
output of a Python function on a given input; the gold is CRUXEval's output literal. The Self-Certainty fork grades
it without running any code (``src/evaluation/new_crux.py``): the answer read from the json object as for math
(``rlrewards/recipes/zeroeval.py``, steps 1-3), its quotes stripped from both ends and its line breaks written as
``\\n``, must equal the gold with its quotes stripped (``zeroeval_crux``).

Votes and Best-of-N read the answer differently (``extract_answer_from_output(..., dataset="crux")``, used by
``src/voting_from_list.py``): ``AAAA...`` is first cut to ``A`` (ZeroEval's ``convert_AAAAA_to_A``), then the same
quote stripping. So the ``zeroeval_json_raw`` format keeps the answer as read, the checker applies the grade's
sanitization, and its ``equivalent`` pools two answers whose vote keys are equal (``crux_vote_key``): the voted
sample's own answer is graded, as in the official selection-then-grading.
"""

from __future__ import annotations

from rlrewards.recipes.zeroeval import ZeroEvalJsonFormat, collapse_repeated_letter, raw_answer
from rlrewards.rewards.checkers import CHECKERS
from rlrewards.tasks.formats import ANSWER_FORMATS


class ZeroEvalJsonRawFormat(ZeroEvalJsonFormat):
    """ZeroEval's json answer as read (``str`` of the ``answer`` value), without the math sanitization."""

    def extract_answer(self, text: str) -> str | None:
        return raw_answer(text) if isinstance(text, str) else None


ANSWER_FORMATS.register("zeroeval_json_raw")(
    ZeroEvalJsonRawFormat(
        "zeroeval_json_raw", 'Reason, then give {"reasoning": "...", "answer": "..."} in a json block (answer as is).'
    )
)


def crux_graded_answer(answer: str) -> str:
    """``new_crux.py``'s sanitization: quotes stripped from both ends, line breaks written as ``\\n``."""
    return answer.strip("'\"").replace("\n", "\\n")


def crux_vote_key(answer: str) -> str:
    """The answer the official voting compares: ``AAAA...`` cut to ``A``, then the grade's sanitization."""
    return crux_graded_answer(collapse_repeated_letter(answer))


@CHECKERS.register("zeroeval_crux")
def zeroeval_crux_match(prediction: str | None, answer: str) -> bool:
    """The sanitized answer equals CRUXEval's output literal with its quotes stripped."""
    return isinstance(prediction, str) and crux_graded_answer(prediction) == str(answer).strip("'\"")


# Votes (rlrewards.eval.scoring.vote) compare the official vote keys, not the graded strings.
zeroeval_crux_match.equivalent = lambda first, second: crux_vote_key(first) == crux_vote_key(second)
