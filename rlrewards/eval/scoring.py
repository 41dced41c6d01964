"""Per-sample records and what is measured over them: correctness, token counts, accuracy, calibration, pass@k,
majority votes and RLCR's test-time scaling. Moved out of ``rlrewards.eval.generation`` (unchanged)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from rlrewards.algorithms.rlcr import parse_confidence
from rlrewards.eval.metrics import (
    BOOTSTRAP_RESAMPLES,
    auroc,
    brier_score,
    cluster_bootstrap_stderr,
    expected_calibration_error,
    mean_stderr,
    pass_at_k,
    summarize_calibration,
)
from rlrewards.eval.voting import first_match_vote, majority_vote, max_confidence, weighted_majority_vote
from rlrewards.rewards.checkers import get_checker
from rlrewards.tasks.formats import get_answer_format


def score_samples(dataset, samples: list[list[str]], answer_format: str) -> list[dict]:
    """One record per (row, sample): extracted answer and correctness under the row's checker."""
    fmt = get_answer_format(answer_format)
    records = []
    for row, row_samples in zip(dataset, samples):
        for k, text in enumerate(row_samples):
            stated = {"confidence": parse_confidence(text)} if fmt.states_confidence else {}
            records.append(
                {
                    "id": row.get("id"),
                    "sample": k,
                    "completion": text,
                    "extracted": fmt.extract_answer(text),
                    "answer": row["answer"],
                    "correct": None,  # graded below, all records together
                    "well_formed": fmt.is_well_formed(text),
                    **stated,
                    "level": row.get("level"),
                    "checker": row.get("checker"),
                }
            )
    for record, correct in zip(records, grade_records(records)):
        record["correct"] = correct
    return records


def grade_records(records: Sequence[dict]) -> list[bool]:
    """Each record's verdict under its checker. Checkers marked ``concurrent`` (each check waits on a child
    process: ``livecodebench``) run in a thread pool, one thread per CPU this process may use; the others run here,
    in order."""
    checkers = [get_checker(r["checker"] or "numeric") for r in records]

    def grade(index: int) -> bool:
        return bool(checkers[index](records[index]["extracted"], records[index]["answer"]))

    waiting = [i for i, checker in enumerate(checkers) if getattr(checker, "concurrent", False)]
    verdicts: dict[int, bool] = {}
    if waiting:
        with ThreadPoolExecutor(max_workers=usable_cpus()) as pool:
            verdicts.update(zip(waiting, pool.map(grade, waiting)))
    return [verdicts[i] if i in verdicts else grade(i) for i in range(len(records))]


def usable_cpus() -> int:
    """The CPUs this process may run on (a Slurm or cgroup allotment, not the machine's count): more threads than
    that would run programs against wall-clock timeouts on shared cores and fail them."""
    if hasattr(os, "sched_getaffinity"):
        return max(len(os.sched_getaffinity(0)), 1)
    return os.cpu_count() or 1


def count_tokens(tokenizer, records: list[dict]) -> None:
    """``tokens``: the completion's length in tokens, re-tokenized from its decoded text (special tokens such as
    EOS are not counted; the cache keeps texts, not ids)."""
    texts = [r["completion"] for r in records]
    lengths = [len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]] if texts else []
    for record, length in zip(records, lengths):
        record["tokens"] = length


def accuracy_with_stderr(correct: Sequence[bool], prompts: Sequence | None = None) -> tuple[float, float]:
    """Mean correctness and its standard error. With ``prompts`` (record i belongs to prompt ``prompts[i]``, each
    prompt with the same number of samples), the error is clustered by prompt: ``mean_stderr`` of the per-prompt
    accuracies, since a prompt's samples are not independent; with one sample per prompt it is the binomial
    ``sqrt(p (1 - p) / N)``."""
    if len(correct) == 0:
        return 0.0, 0.0
    accuracy = sum(bool(c) for c in correct) / len(correct)
    if prompts is None:
        return accuracy, mean_stderr([float(c) for c in correct])
    by_prompt: dict[Any, list[float]] = {}
    for prompt, right in zip(prompts, correct):
        by_prompt.setdefault(prompt, []).append(float(right))
    return accuracy, mean_stderr([sum(v) / len(v) for v in by_prompt.values()])


def with_decoding_name(metrics: dict[str, float], decoding: str) -> dict[str, float]:
    """``pass@2`` -> ``pass@2_sampled`` and its ``pass@2_stderr`` -> ``pass@2_sampled_stderr``: every metric's
    error sits next to it as ``<metric>_stderr``."""
    named = {}
    for key, value in metrics.items():
        base, is_stderr = (key[: -len("_stderr")], True) if key.endswith("_stderr") else (key, False)
        named[f"{base}_{decoding}_stderr" if is_stderr else f"{base}_{decoding}"] = value
    return named


def confidence_metrics(records: Sequence[dict], resamples: int = BOOTSTRAP_RESAMPLES) -> dict[str, float]:
    """Calibration of stated confidences, as the RLCR evaluation scores it: a confidence still missing after the
    probe counts as 0; ``confidence_adherence`` is the fraction of samples that stated one unasked. ECE, Brier and
    AUROC carry a ``_stderr``: the bootstrap over prompts (``cluster_bootstrap_stderr``, ``resamples`` draws, fixed
    seed); 0 resamples leaves them out."""
    confidences = [r["confidence"] if r["confidence"] is not None else 0.0 for r in records]
    correct = [r["correct"] for r in records]
    summary = summarize_calibration(confidences, correct)
    if resamples:
        clusters = [r["id"] for r in records]
        for name, statistic in {"ece": expected_calibration_error, "brier": brier_score, "auroc": auroc}.items():
            summary[f"{name}_stderr"] = cluster_bootstrap_stderr(statistic, (confidences, correct), clusters, resamples)
    stated = [r.get("confidence_stated", r["confidence"] is not None) for r in records]
    summary["confidence_adherence"] = sum(stated) / max(len(records), 1)
    return summary


def powers_of_two(limit: int) -> list[int]:
    """1, 2, 4, ... up to ``limit`` (inclusive): the k of pass@k, maj@k and the selection metrics."""
    sizes, k = [], 1
    while k <= limit:
        sizes.append(k)
        k *= 2
    return sizes


def sampling_metrics(records: Sequence[dict], sizes: Sequence[int] | None = None) -> dict[str, float]:
    """For n samples per prompt: unbiased pass@k and majority vote over the first k samples (maj@k), for each k in
    ``sizes`` up to n (default: the powers of two up to n, so pass@256 with the NSR paper's 256 samples), averaged
    over prompts, each with ``<metric>_stderr``: the standard error over prompts (``mean_stderr`` of the per-prompt
    values). Accuracy over all samples is avg@n, reported as ``accuracy_*``.

    Cost per prompt: pass@k is a running product over at most n factors per k, maj@k one pass over the first k
    samples, so all sizes together take O(n log n), not O(n^2)."""
    groups = by_prompt(records)
    available = min((len(g) for g in groups), default=0)
    results = {}
    for k in [size for size in (powers_of_two(available) if sizes is None else sizes) if size <= available]:
        passed = [pass_at_k(len(g), sum(bool(r["correct"]) for r in g), k) for g in groups]
        results[f"pass@{k}"] = sum(passed) / len(groups)
        results[f"pass@{k}_stderr"] = mean_stderr(passed)
        voted = [float(vote(g[:k]) in {r["extracted"] for r in g[:k] if r["correct"]}) for g in groups]
        results[f"maj@{k}"] = sum(voted) / len(groups)
        results[f"maj@{k}_stderr"] = mean_stderr(voted)
    return results


def answer_equivalence(group: Sequence[dict]):
    """The ``equivalent(a, b)`` of the prompt's checker, for checkers whose votes pool answers that differ as
    strings (LiveBench's AMPS_Hard, ``zeroeval_amps_hard``); None for the others, whose votes compare strings."""
    name = group[0].get("checker") if group else None
    return getattr(get_checker(name), "equivalent", None) if name else None


def vote(group: Sequence[dict], weights: Sequence[float] | None = None):
    """The voted answer of one prompt's samples: majority (or weighted, e.g. Borda) over their extracted answers,
    pooling the answers the checker deems equivalent (``first_match_vote``)."""
    answers = [r["extracted"] for r in group]
    weights = [1.0] * len(group) if weights is None else weights
    equivalent = answer_equivalence(group)
    if equivalent is None:
        return weighted_majority_vote(answers, weights)
    return first_match_vote(answers, weights, equivalent)


def by_prompt(records: Sequence[dict]) -> list[list[dict]]:
    """The records grouped by prompt id (in order of first appearance), each group in sample order."""
    groups: dict[object, list[dict]] = {}
    for record in records:
        groups.setdefault(record["id"], []).append(record)
    return [sorted(g, key=lambda r: r["sample"]) for g in groups.values()]


def sample_scaling(records: Sequence[dict], sizes: Sequence[int] = (1, 2, 4, 8, 16)) -> dict[str, float]:
    """Accuracy of majority vote, confidence-weighted vote and max-confidence over the first N samples of each
    prompt (RLCR Fig. 4), for each N up to the number of samples drawn."""
    groups = by_prompt(records)
    available = min((len(g) for g in groups), default=0)
    results = {}
    for n in [size for size in sizes if size <= available]:
        hits = {"maj": 0, "wmaj": 0, "maxconf": 0}
        for group in groups:
            first = group[:n]
            answers = [r["extracted"] for r in first]
            weights = [r["confidence"] or 0.0 for r in first]
            correct_answers = {r["extracted"] for r in first if r["correct"]}
            hits["maj"] += majority_vote(answers) in correct_answers
            hits["wmaj"] += weighted_majority_vote(answers, weights) in correct_answers
            hits["maxconf"] += max_confidence(answers, weights) in correct_answers
        for method, count in hits.items():
            results[f"tts_{method}@{n}"] = count / max(len(groups), 1)
    return results
