"""Universal self-consistency (Chen et al., 2023) as the self-certainty paper runs it: the model picks a response.

For every decoding with ``num_samples > 1`` and each N of ``usc.sizes`` (N <= the samples drawn), the model reads
the first N responses to a problem in one prompt and names the most consistent one; that response is graded
(``usc@N``). As the official Self-Certainty code (backprop07/Self-Certainty) does it:

- the prompt (``src/templates/USC.py``): "I have generated the following responses to the question: {question}",
  then "Response {i}: {response}" for i = 0 ... N-1, each followed by a blank line, then the request to evaluate
  them, select the most consistent one by majority consensus and answer "The most consistent response is Response
  X". The question is what ``extract_question`` finds in the problem's prompt between ``### Question:`` and
  ``### Format:`` (LiveCodeBench's layout); ZeroEval's math prompts say ``## Question:``, so for them it is empty,
  and we reproduce that. The prompt is the only user turn, chat-templated, answered greedily;
- the index (``src/usc_from_outputs.py``): the number after the last ``Response``; none, or one outside 0 ... N-1,
  selects response 0 (counted in ``usc_unparsed@N``). For fixed-answer questions (its ``close`` mode, which every
  task here is) a selected response without an extractable answer is replaced by the first response that has one
  among the first 8 (the official function's default N, whatever the USC N; with fewer than 8 responses the
  official code would index past the list, we search what there is).

Model output is untrusted: the index is read by one linear scan and an index of more than 6 digits is no index.
The USC prompt holds N whole responses: it is N times the decoding's length, which the model's context must hold.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import replace

from rlrewards.config import ConfigError
from rlrewards.eval.generation import cached_completions, chat_texts
from rlrewards.eval.hooks import EVALUATION_HOOKS, EvaluationHook, HookContext, HookSetup, hook_settings
from rlrewards.eval.metrics import mean_stderr
from rlrewards.eval.scoring import by_prompt

DEFAULT_SIZES = (4, 8, 16)
_RESPONSE_INDEX = re.compile(r"Response\s+(\d+)")
MAX_INDEX_DIGITS = 6
# convert_json_close(input, output, N=8) is called without N: the fallback looks at the first 8 responses whatever
# the USC N (with fewer than 8 it would index past the list; we stop at the list's end)
CLOSE_MODE_SEARCH = 8


def extract_question(prompt: str) -> str:
    """The text between ``### Question:`` and ``### Format:`` (to the end without the latter); "" without the
    former (the official ``extract_question``)."""
    start = prompt.find("### Question:")
    if start == -1:
        return ""
    start += len("### Question:")
    end = prompt.find("### Format:", start)
    return (prompt[start:] if end == -1 else prompt[start:end]).strip()


def usc_prompt(question: str, responses: Sequence[str]) -> str:
    listed = "".join(f"Response {i}: {response}\n\n" for i, response in enumerate(responses))
    return (
        f"I have generated the following responses to the question: {question}\n{listed}"
        "Evaluate these responses.\n"
        "Select the most consistent response based on majority consensus.\n"
        'Format you answer as "The most consistent response is Response X" (wihtout quotes).\n'
    )  # the official wording, its typos included


def response_index(text: str, count: int) -> int | None:
    """The number after the last ``Response`` in ``text`` when it names one of ``count`` responses; else None."""
    matches = _RESPONSE_INDEX.findall(text) if isinstance(text, str) else []
    if not matches or len(matches[-1]) > MAX_INDEX_DIGITS:
        return None
    index = int(matches[-1])
    return index if index < count else None


def selected_sample(group: Sequence[dict], reply: str) -> tuple[int, bool]:
    """(the sample USC selects among ``group``, whether the reply named a valid index)."""
    index = response_index(reply, len(group))
    chosen = 0 if index is None else index
    if group[chosen]["extracted"] is None:  # the official "close" mode, which searches its default N = 8 responses
        searched = group[:CLOSE_MODE_SEARCH]
        chosen = next((i for i, record in enumerate(searched) if record["extracted"] is not None), chosen)
    return chosen, index is not None


def user_prompt(row: dict) -> str:
    users = [m["content"] for m in row["prompt"] if m["role"] == "user"]
    return users[-1] if users else ""


class UniversalSelfConsistency(EvaluationHook):
    def __init__(self, sizes: Sequence[int] = DEFAULT_SIZES):
        self.sizes = tuple(sizes)

    def score(self, records: list[dict], context: HookContext) -> dict[str, float]:
        if context.decoding.num_samples < 2 or not records:
            return {}
        groups = by_prompt(records)
        questions = {row["id"]: extract_question(user_prompt(row)) for row in context.dataset}
        metrics: dict[str, float] = {}
        for size in [s for s in self.sizes if s <= min(len(g) for g in groups)]:
            firsts = [group[:size] for group in groups]
            prompts = [
                [{"role": "user", "content": usc_prompt(questions.get(g[0]["id"], ""), [r["completion"] for r in g])}]
                for g in firsts
            ]
            # greedy; as many sequences per generate call as the sampled decoding, each prompt holding N responses
            decoding = replace(
                context.decoding,
                name=f"usc{size}_{context.decoding.name}",
                num_samples=1,
                temperature=0.0,
                top_p=1.0,
                top_k=None,
                batch_size=max(1, context.decoding.batch_size // size),
            )
            replies = [
                texts[0]
                for texts in cached_completions(
                    context.engine.sample, chat_texts(context.tokenizer, prompts), decoding, 0
                )
            ]
            right, parsed = [], []
            for group, reply in zip(firsts, replies):
                chosen, named = selected_sample(group, reply)
                group[0].setdefault("usc", {})[str(size)] = {"reply": reply, "chosen": chosen}
                right.append(float(bool(group[chosen]["correct"])))
                parsed.append(float(named))
            metrics[f"usc@{size}"] = sum(right) / len(right)
            metrics[f"usc@{size}_stderr"] = mean_stderr(right)
            metrics[f"usc_unparsed@{size}"] = 1.0 - sum(parsed) / len(parsed)
        return metrics


@EVALUATION_HOOKS.register("usc")
def universal_self_consistency(setup: HookSetup) -> UniversalSelfConsistency | None:
    spec = hook_settings(setup, "usc")  # off by default (conf/eval.yaml)
    if not spec or not spec.get("enabled", True):
        return None
    sizes = spec.get("sizes", DEFAULT_SIZES)
    try:
        sizes = [int(size) for size in sizes]
    except (TypeError, ValueError) as err:
        raise ConfigError(f"usc.sizes must be a list of positive integers, got {sizes!r}") from err
    if not sizes or any(size < 1 or not math.isfinite(size) for size in sizes):
        raise ConfigError(f"usc.sizes must be a non-empty list of positive integers, got {sizes!r}")
    return UniversalSelfConsistency(sorted(set(sizes)))
