"""Batched generation and task scoring with HF ``generate`` (the embedded default's evaluator)."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from rlrewards.algorithms.rlcr import parse_confidence
from rlrewards.eval.metrics import (
    auroc,
    expected_calibration_error,
    pass_at_k,
    self_verification_f1,
    summarize_calibration,
)
from rlrewards.eval.voting import majority_vote, max_confidence, weighted_majority_vote
from rlrewards.rewards.checkers import CHECKERS
from rlrewards.tasks.formats import get_answer_format


@dataclass
class DecodingConfig:
    name: str = "greedy"
    num_samples: int = 1
    temperature: float = 0.0  # 0 means greedy
    top_p: float = 1.0
    max_new_tokens: int = 64
    batch_size: int = 128


def decodings_from_config(spec, max_new_tokens: int, batch_size: int) -> list[DecodingConfig]:
    """``{name: {num_samples, temperature}}`` from config -> decoding configs sharing length and batch limits."""
    return [
        DecodingConfig(
            name=str(name),
            num_samples=int(entry["num_samples"]),
            temperature=float(entry["temperature"]),
            max_new_tokens=int(max_new_tokens),
            batch_size=int(batch_size),
        )
        for name, entry in spec.items()
    ]


@torch.no_grad()
def _generate_texts(
    model, tokenizer, texts: Sequence[str], batch_size: int, num_return: int = 1, **generate_kwargs
) -> list[str]:
    """Left-padded batched ``generate`` over raw texts, in eval mode; the decoded continuations, in order
    (``num_return`` consecutive entries per text)."""
    was_training = model.training
    model.eval()
    replies: list[str] = []
    try:
        for start in range(0, len(texts), batch_size):
            batch = tokenizer(
                list(texts[start : start + batch_size]),
                return_tensors="pt",
                padding=True,
                padding_side="left",
                add_special_tokens=False,
            ).to(model.device)
            output = model.generate(
                **batch,
                num_return_sequences=num_return,
                pad_token_id=tokenizer.pad_token_id,
                eos_token_id=tokenizer.eos_token_id,
                **generate_kwargs,
            )
            replies.extend(tokenizer.batch_decode(output[:, batch["input_ids"].shape[1] :], skip_special_tokens=True))
    finally:
        model.train(was_training)
    return replies


def generate_completions(
    model, tokenizer, prompts: Sequence[list[dict]], decoding: DecodingConfig, seed: int = 0
) -> list[list[str]]:
    """For each chat prompt, ``decoding.num_samples`` completion texts (special tokens removed)."""
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    texts = [tokenizer.apply_chat_template(p, tokenize=False, add_generation_prompt=True) for p in prompts]
    sample = decoding.temperature > 0
    try:
        decoded = _generate_texts(
            model,
            tokenizer,
            texts,
            batch_size=max(1, decoding.batch_size // decoding.num_samples),
            num_return=decoding.num_samples,
            max_new_tokens=decoding.max_new_tokens,
            do_sample=sample,
            temperature=decoding.temperature if sample else None,
            top_p=decoding.top_p if sample else None,
            top_k=0,  # pure sampling at the given temperature, as TRL samples during training
        )
    finally:
        torch.random.set_rng_state(generator_state)
    n = decoding.num_samples
    return [decoded[i : i + n] for i in range(0, len(decoded), n)]


def score_samples(dataset, samples: list[list[str]], answer_format: str) -> list[dict]:
    """One record per (row, sample): extracted answer and correctness under the row's checker."""
    fmt = get_answer_format(answer_format)
    records = []
    for row, row_samples in zip(dataset, samples):
        checker = CHECKERS.get(row.get("checker") or "numeric")
        for k, text in enumerate(row_samples):
            predicted = fmt.extract_answer(text)
            stated = {"confidence": parse_confidence(text)} if fmt.states_confidence else {}
            records.append(
                {
                    "id": row.get("id"),
                    "sample": k,
                    "completion": text,
                    "extracted": predicted,
                    "answer": row["answer"],
                    "correct": bool(checker(predicted, row["answer"])),
                    "well_formed": fmt.is_well_formed(text),
                    **stated,
                    "level": row.get("level"),
                }
            )
    return records


def accuracy_with_stderr(correct: Sequence[bool]) -> tuple[float, float]:
    n = len(correct)
    if n == 0:
        return 0.0, 0.0
    p = sum(correct) / n
    return p, math.sqrt(p * (1 - p) / n)


# RLCR's evaluation (evaluation.py: ans_at_end, confidence_at_end), in our words: when a completion states no answer
# or no confidence, the model is asked for it after its own text, greedily, and the reply is scored.
ANSWER_PROBE = "\n\nTime is up. My final answer is "
CONFIDENCE_PROBE = "\n\nOn a scale from 0 to 100, my confidence that this answer is correct is "
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def probed_confidence(text: str) -> float | None:
    """The official extractor's rule: a number in [0, 1] as is, in (1, 100] divided by 100, else None."""
    match = _NUMBER.search(text or "")
    if not match:
        return None
    value = float(match.group())
    if 0.0 <= value <= 1.0:
        return value
    return value / 100.0 if 1.0 < value <= 100.0 else None


def continue_greedily(
    model, tokenizer, prefixes: Sequence[str], max_new_tokens: int, batch_size: int = 64
) -> list[str]:
    return _generate_texts(model, tokenizer, prefixes, batch_size, max_new_tokens=max_new_tokens, do_sample=False)


def rescue_missing(model, tokenizer, dataset, records: list[dict], answer_format: str) -> None:
    """Ask for a missing answer (50 tokens) and a missing confidence (20 tokens), as RLCR's evaluation does; the
    record keeps what the model stated itself in ``answer_stated`` / ``confidence_stated``."""
    fmt = get_answer_format(answer_format)
    prompts = {
        row_id: tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
        for row_id, prompt in zip(dataset["id"], dataset["prompt"])
    }
    gold = {row["id"]: (row["answer"], row.get("checker") or "numeric") for row in dataset}
    for record in records:
        record["answer_stated"] = record["extracted"] is not None
        record["confidence_stated"] = record.get("confidence") is not None
    missing_answer = [r for r in records if not r["answer_stated"]]
    replies = continue_greedily(
        model, tokenizer, [prompts[r["id"]] + r["completion"] + ANSWER_PROBE for r in missing_answer], 50
    )
    for record, reply in zip(missing_answer, replies):
        record["extracted"] = fmt.extract_answer(f"<answer>{reply}</answer>")
        answer, checker = gold[record["id"]]
        record["correct"] = bool(CHECKERS.get(checker)(record["extracted"], answer))
    missing_confidence = [r for r in records if not r["confidence_stated"]]
    replies = continue_greedily(
        model,
        tokenizer,
        [prompts[r["id"]] + r["completion"] + CONFIDENCE_PROBE for r in missing_confidence],
        20,
    )
    for record, reply in zip(missing_confidence, replies):
        record["confidence"] = probed_confidence(reply)


@dataclass(frozen=True)
class SelfRewardSpec:
    """LaSeR's test-time self-verification: score = clip(beta_v * (log pi(z_c | x, y, EOS) - c_ref), 0, 1)."""

    slot_token_id: int
    c_ref: float
    beta_v: float = 0.1
    threshold: float = 0.5


@torch.no_grad()
def self_reward_scores_for(model, tokenizer, prompts, records: Sequence[dict], spec: SelfRewardSpec) -> list[float]:
    """One extra token of prefill per sample: the prompt, the completion, EOS, then read z_c's log-prob."""
    was_training = model.training
    model.eval()
    by_id = {}
    for prompt, record_id in prompts:
        by_id[record_id] = tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
    texts = [by_id[r["id"]] + r["completion"] for r in records]
    scores: list[float] = []
    try:
        for start in range(0, len(texts), 64):
            chunk = [
                tokenizer(t, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
                for t in texts[start : start + 64]
            ]
            width = max(len(ids) for ids in chunk)
            input_ids = torch.full((len(chunk), width), tokenizer.pad_token_id, dtype=torch.long)
            attention = torch.zeros_like(input_ids)
            for row, ids in enumerate(chunk):  # left padding: the last position is every row's EOS
                input_ids[row, width - len(ids) :] = torch.tensor(ids)
                attention[row, width - len(ids) :] = 1
            logits = model(input_ids=input_ids.to(model.device), attention_mask=attention.to(model.device)).logits
            logp = logits[:, -1].float().log_softmax(dim=-1)[:, spec.slot_token_id].cpu()
            clipped = (spec.beta_v * (logp - spec.c_ref)).clamp(0.0, 1.0)
            scores.extend(clipped.tolist())
    finally:
        model.train(was_training)
    return scores


def self_reward_metrics(records: Sequence[dict], threshold: float) -> dict[str, float]:
    """Self-verification F1 (LaSeR's), AUROC and ECE of the clipped score, and RM@K (score-weighted vote) vs
    Maj@K over the first K samples of each prompt."""
    scores = [r["self_reward"] for r in records]
    correct = [r["correct"] for r in records]
    metrics = {
        "self_verification_f1": self_verification_f1(scores, correct, threshold),
        "self_reward_auroc": auroc(scores, correct),
        "self_reward_ece": expected_calibration_error(scores, correct),
    }
    weighted = [{**r, "confidence": r["self_reward"]} for r in records]
    scaling = sample_scaling(weighted, sizes=(1, 2, 4, 8, 16, 32))
    for key, value in scaling.items():
        if key.startswith("tts_maj@"):
            metrics[key.replace("tts_maj@", "maj@")] = value
        elif key.startswith("tts_wmaj@"):
            metrics[key.replace("tts_wmaj@", "rm@")] = value
    return metrics


def evaluate_split(
    model,
    tokenizer,
    dataset,
    answer_format: str,
    decodings: Sequence[DecodingConfig],
    seed: int = 0,
    self_reward: SelfRewardSpec | None = None,
    rescue: bool = True,
) -> tuple[dict[str, float], list[dict]]:
    """Accuracy (and its standard error) and format adherence for each decoding config; calibration when the
    format states a confidence; LaSeR's self-verification when ``self_reward`` is given."""
    metrics: dict[str, float] = {}
    all_records: list[dict] = []
    prompts = list(dataset["prompt"])
    for decoding in decodings:
        samples = generate_completions(model, tokenizer, prompts, decoding, seed=seed)
        records = score_samples(dataset, samples, answer_format)
        if rescue and get_answer_format(answer_format).states_confidence:
            rescue_missing(model, tokenizer, dataset, records, answer_format)
            metrics[f"answer_adherence_{decoding.name}"] = sum(r["answer_stated"] for r in records) / max(
                len(records), 1
            )
        accuracy, stderr = accuracy_with_stderr([r["correct"] for r in records])
        metrics[f"accuracy_{decoding.name}"] = accuracy
        metrics[f"accuracy_{decoding.name}_stderr"] = stderr
        metrics[f"format_{decoding.name}"] = sum(r["well_formed"] for r in records) / max(len(records), 1)
        if decoding.num_samples > 1:
            metrics.update({f"{k}_{decoding.name}": v for k, v in sampling_metrics(records).items()})
        if get_answer_format(answer_format).states_confidence:
            metrics.update({f"{k}_{decoding.name}": v for k, v in confidence_metrics(records).items()})
            if decoding.num_samples > 1:
                metrics.update({f"{k}_{decoding.name}": v for k, v in sample_scaling(records).items()})
        if self_reward is not None:
            keyed = list(zip(prompts, dataset["id"]))
            for record, score in zip(records, self_reward_scores_for(model, tokenizer, keyed, records, self_reward)):
                record["self_reward"] = score
            metrics.update(
                {f"{k}_{decoding.name}": v for k, v in self_reward_metrics(records, self_reward.threshold).items()}
            )
        all_records.extend({**r, "decoding": decoding.name} for r in records)
    return metrics, all_records


def confidence_metrics(records: Sequence[dict]) -> dict[str, float]:
    """Calibration of stated confidences, as the RLCR evaluation scores it: a confidence still missing after the
    probe counts as 0; ``confidence_adherence`` is the fraction of samples that stated one unasked."""
    confidences = [r["confidence"] if r["confidence"] is not None else 0.0 for r in records]
    correct = [r["correct"] for r in records]
    summary = summarize_calibration(confidences, correct)
    stated = [r.get("confidence_stated", r["confidence"] is not None) for r in records]
    summary["confidence_adherence"] = sum(stated) / max(len(records), 1)
    return summary


def sampling_metrics(records: Sequence[dict], sizes: Sequence[int] = (1, 2, 4, 8, 16, 32)) -> dict[str, float]:
    """For n samples per prompt: unbiased pass@k and majority vote over the first k samples (maj@k), for each k in
    ``sizes`` up to n, averaged over prompts. Accuracy over all samples is avg@n, reported as ``accuracy_*``."""
    groups = _by_prompt(records)
    available = min((len(g) for g in groups), default=0)
    results = {}
    for k in [size for size in sizes if size <= available]:
        passed = [pass_at_k(len(g), sum(bool(r["correct"]) for r in g), k) for g in groups]
        results[f"pass@{k}"] = sum(passed) / len(groups)
        voted = [
            majority_vote([r["extracted"] for r in g[:k]]) in {r["extracted"] for r in g[:k] if r["correct"]}
            for g in groups
        ]
        results[f"maj@{k}"] = sum(voted) / len(groups)
    return results


def _by_prompt(records: Sequence[dict]) -> list[list[dict]]:
    by_prompt: dict[object, list[dict]] = {}
    for record in records:
        by_prompt.setdefault(record["id"], []).append(record)
    return [sorted(g, key=lambda r: r["sample"]) for g in by_prompt.values()]


def sample_scaling(records: Sequence[dict], sizes: Sequence[int] = (1, 2, 4, 8, 16)) -> dict[str, float]:
    """Accuracy of majority vote, confidence-weighted vote and max-confidence over the first N samples of each
    prompt (RLCR Fig. 4), for each N up to the number of samples drawn."""
    groups = _by_prompt(records)
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
