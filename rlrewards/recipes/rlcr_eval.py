"""RLCR's evaluation hook ``rlcr_probes``: ask a model for the answer or the confidence its completion did not state.

The official evaluation (damanimehul/RLCR ``evaluation.py``, ``ans_at_end`` and ``confidence_at_end``) runs both on
every model it compares, the RLVR baseline (whose format states no confidence) and the base model included: when a
completion has no ``<answer>`` tag, the model continues "prompt + completion + answer probe" greedily for 50 tokens
and that reply is the answer; then, when it has no ``<confidence>`` tag, it continues "prompt + completion (+ the
probed answer in answer tags) + confidence probe" greedily for 20 tokens and the reply's number is the confidence.
So every row of the comparison gets ECE/Brier/AUROC, and every row gets the same answer rescue.

The probe texts here are our own wording (``ANSWER_PROBE``, ``CONFIDENCE_PROBE``); ``evaluation.probes`` (in-run)
and ``probes`` (``rlrewards-eval``) take other texts, written in the config or as ``file:<path>``.

When the hook applies (``rlcr_probes``): in-run, with the run's ``evaluation.probes`` (RLCR's recipes set it) every
completion is probed, else only formats that state a confidence, and never with ``evaluation.rescue_missing=false``;
with ``rlrewards-eval``, its own ``probes`` (``suite=rlcr`` sets it, so every run of the comparison is probed) win
over the run's ``evaluation.probes``, else confidence formats only.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from omegaconf import OmegaConf

from rlrewards.algorithms.rlcr import parse_confidence
from rlrewards.eval.generation import GreedyContinuer
from rlrewards.eval.hooks import EVALUATION_HOOKS, EvaluationHook, HookContext, HookSetup
from rlrewards.rewards.checkers import get_checker
from rlrewards.tasks.formats import get_answer_format
from rlrewards.tasks.prompts import read_text_value

ANSWER_PROBE = "\n\nTime is up. My final answer is "
CONFIDENCE_PROBE = "\n\nOn a scale from 0 to 100, my confidence that this answer is correct is "
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


@dataclass(frozen=True)
class Probes:
    """The probe texts and reply lengths (the official ones: 50 tokens for an answer, 20 for a confidence)."""

    answer: str = ANSWER_PROBE
    confidence: str = CONFIDENCE_PROBE
    answer_tokens: int = 50
    confidence_tokens: int = 20


def probes_from_config(spec: Mapping[str, Any], key: str) -> Probes:
    """``{answer, confidence, answer_tokens, confidence_tokens}`` (each optional; a null text is our wording; a text
    may be ``file:<path>``) -> ``Probes``. ``key`` names the config entry in errors."""
    from rlrewards.config import ConfigError

    unknown = sorted(set(spec) - {"answer", "confidence", "answer_tokens", "confidence_tokens"})
    if unknown:
        raise ConfigError(f"{key}: unknown keys {unknown}. Known: answer, confidence, answer_tokens, confidence_tokens")
    values: dict[str, Any] = {}
    for name in ("answer", "confidence"):
        if spec.get(name) is not None:
            if not isinstance(spec[name], str) or not spec[name]:
                raise ConfigError(f"{key}.{name}={spec[name]!r} must be a non-empty text or file:<path>")
            values[name] = read_text_value(spec[name], f"{key}.{name}")
    for name in ("answer_tokens", "confidence_tokens"):
        if spec.get(name) is not None:
            if int(spec[name]) < 1:
                raise ConfigError(f"{key}.{name}={spec[name]} must be a positive number of tokens")
            values[name] = int(spec[name])
    return Probes(**values)


def evaluation_probes(spec: Mapping[str, Any] | None, answer_format: str, key: str) -> Probes | None:
    """Which probes an evaluation runs. A ``spec`` mapping (RLCR's recipes and ``suite=rlcr`` set one): probe every
    completion, whatever its format, as the official evaluation probes every model. None: only formats that state a
    confidence are probed, with our wording (what a run outside RLCR's comparison needs); others are not probed."""
    if spec is not None:
        return probes_from_config(spec, key)
    return Probes() if get_answer_format(answer_format).states_confidence else None


def probed_confidence(text: str) -> float | None:
    """The official extractor's rule: a number in [0, 1] as is, in (1, 100] divided by 100, else None."""
    match = _NUMBER.search(text or "")
    if not match:
        return None
    value = float(match.group())
    if 0.0 <= value <= 1.0:
        return value
    return value / 100.0 if 1.0 < value <= 100.0 else None


def rescue_missing(
    continue_greedily: GreedyContinuer,
    tokenizer,
    dataset,
    records: list[dict],
    probes: Probes | None = None,
) -> None:
    """Ask for a missing answer, then a missing confidence, as RLCR's evaluation does, for any answer format; the
    record keeps what the model stated itself in ``answer_stated`` / ``confidence_stated``. A stated confidence is
    the last ``<confidence>`` tag's number, also in formats that do not ask for one (the official check looks for
    the tag in every model's output)."""
    probes = probes or Probes()
    prompts = {
        row_id: tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
        for row_id, prompt in zip(dataset["id"], dataset["prompt"])
    }
    gold = {row["id"]: (row["answer"], row.get("checker") or "numeric") for row in dataset}
    said = {}  # id(record) -> the completion as the confidence probe continues it
    for record in records:
        if record.get("confidence") is None:
            record["confidence"] = parse_confidence(record["completion"])
        record["answer_stated"] = record["extracted"] is not None
        record["confidence_stated"] = record["confidence"] is not None
        said[id(record)] = prompts[record["id"]] + record["completion"]
    missing_answer = [r for r in records if not r["answer_stated"]]
    prefixes = [said[id(r)] + probes.answer for r in missing_answer]
    for record, reply in zip(missing_answer, continue_greedily(prefixes, probes.answer_tokens)):
        # The official evaluation wraps the reply in answer tags and reads the last tag back, for every format.
        tagged = f"<answer> {reply} </answer>"
        record["extracted"] = get_answer_format("answer_tag").extract_answer(tagged)
        answer, checker = gold[record["id"]]
        record["correct"] = bool(get_checker(checker)(record["extracted"], answer))
        said[id(record)] += tagged  # the confidence probe sees the answer it gave (not the answer probe)
    missing_confidence = [r for r in records if not r["confidence_stated"]]
    prefixes = [said[id(r)] + probes.confidence for r in missing_confidence]
    for record, reply in zip(missing_confidence, continue_greedily(prefixes, probes.confidence_tokens)):
        record["confidence"] = probed_confidence(reply)


class ProbeHook(EvaluationHook):
    """Rescue a missing answer, then a missing confidence, on the evaluation's engine; reports
    ``answer_adherence`` (the share of completions that stated an answer themselves)."""

    gives_confidence = True

    def __init__(self, probes: Probes):
        self.probes = probes

    def amend(self, records: list[dict], context: HookContext) -> dict[str, float]:
        rescue_missing(context.engine.continue_greedily, context.tokenizer, context.dataset, records, self.probes)
        return {"answer_adherence": sum(r["answer_stated"] for r in records) / max(len(records), 1)}


def _container(spec):
    return OmegaConf.to_container(spec, resolve=True) if OmegaConf.is_config(spec) else spec


def run_probes(cfg) -> Probes | None:
    """The probes of a run's own evaluations: ``evaluation.probes`` (every format), else confidence formats only;
    none with ``evaluation.rescue_missing=false``."""
    if not cfg.evaluation.get("rescue_missing", True):
        return None
    spec = _container(cfg.evaluation.get("probes"))
    return evaluation_probes(spec, str(cfg.recipe.answer_format), "evaluation.probes")


def eval_probes(cfg, train_cfg) -> Probes | None:
    """``probes`` of an ``rlrewards-eval`` evaluation (``suite=rlcr`` sets it: every run is probed, as the official
    evaluation probes every model), else the run's own ``evaluation.probes`` (RLCR's recipes set it), else
    confidence formats only (``evaluation_probes``)."""
    key, spec = "probes", cfg.get("probes")
    if spec is None:
        key, spec = "evaluation.probes (the run's config.yaml)", (train_cfg.get("evaluation") or {}).get("probes")
    return evaluation_probes(_container(spec), str(train_cfg.recipe.answer_format), key)


@EVALUATION_HOOKS.register("rlcr_probes")
def rlcr_probes(setup: HookSetup) -> ProbeHook | None:
    """A probe file that cannot be read fails here, before any model loads."""
    if setup.eval_config is None:
        probes = run_probes(setup.run_config)
    else:
        probes = eval_probes(setup.eval_config, setup.run_config)
    return None if probes is None else ProbeHook(probes)
