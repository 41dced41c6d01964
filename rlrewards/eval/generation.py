"""Batched generation and task scoring: HF ``generate`` (the default) or vLLM, with a sample cache on disk.

Generation goes through a *sampler*: ``sampler(texts, decoding, seed)`` yields, batch by batch, ``num_samples``
completions per chat-templated prompt text. ``hf_sample_batches`` and ``vllm_sampler`` return the same structure, so
scoring and metrics are shared. ``cached_completions`` wraps any sampler with a ``SampleCache``: samples already on
disk are reused, only the missing prompts are generated, and each finished batch is appended at once, so an
interrupted evaluation resumes where it stopped.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import torch
from tqdm.auto import tqdm

from rlrewards.algorithms.rlcr import parse_confidence
from rlrewards.eval.cache import SampleCache, prompt_keys, resumed_seed
from rlrewards.eval.metrics import (
    BOOTSTRAP_RESAMPLES,
    auroc,
    brier_score,
    cluster_bootstrap_stderr,
    expected_calibration_error,
    mean_stderr,
    pass_at_k,
    self_verification_f1,
    summarize_calibration,
)
from rlrewards.eval.voting import majority_vote, max_confidence, weighted_majority_vote
from rlrewards.rewards.checkers import get_checker
from rlrewards.tasks.formats import get_answer_format


@dataclass
class DecodingConfig:
    name: str = "greedy"
    num_samples: int = 1
    temperature: float = 0.0  # 0 means greedy
    top_p: float = 1.0
    max_new_tokens: int = 64
    batch_size: int = 128  # sequences per generate call: batch_size // num_samples prompts


def decodings_from_config(spec, max_new_tokens: int, batch_size: int) -> list[DecodingConfig]:
    """``{name: {num_samples, temperature, top_p}}`` from config -> decoding configs sharing length and batch limits."""
    return [
        DecodingConfig(
            name=str(name),
            num_samples=int(entry["num_samples"]),
            temperature=float(entry["temperature"]),
            top_p=float(entry.get("top_p", 1.0)),
            max_new_tokens=int(max_new_tokens),
            batch_size=int(batch_size),
        )
        for name, entry in spec.items()
    ]


def prompts_per_batch(decoding: DecodingConfig) -> int:
    return max(1, decoding.batch_size // decoding.num_samples)


# texts, decoding, seed -> per batch, num_samples completions for each text of the batch, in order
TextSampler = Callable[[Sequence[str], DecodingConfig, int], Iterator[list[list[str]]]]


def chat_texts(tokenizer, prompts: Sequence[list[dict]]) -> list[str]:
    """Chat prompts as the exact text the model continues (the chat template with its generation prompt)."""
    return [tokenizer.apply_chat_template(p, tokenize=False, add_generation_prompt=True) for p in prompts]


@torch.no_grad()
def _generate_batches(
    model, tokenizer, texts: Sequence[str], batch_size: int, num_return: int = 1, **generate_kwargs
) -> Iterator[list[str]]:
    """Left-padded batched ``generate`` over raw texts, in eval mode; per batch, the decoded continuations in order
    (``num_return`` consecutive entries per text)."""
    was_training = model.training
    model.eval()
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
            yield tokenizer.batch_decode(output[:, batch["input_ids"].shape[1] :], skip_special_tokens=True)
    finally:
        model.train(was_training)


def _generate_texts(model, tokenizer, texts: Sequence[str], batch_size: int, **generate_kwargs) -> list[str]:
    batches = _generate_batches(model, tokenizer, texts, batch_size, **generate_kwargs)
    return [reply for batch in batches for reply in batch]


def hf_sample_batches(
    model, tokenizer, texts: Sequence[str], decoding: DecodingConfig, seed: int
) -> Iterator[list[list[str]]]:
    """The HF sampler: ``torch.manual_seed(seed)`` once, then the batches in order, so a prompt's samples depend on
    the prompts generated before it in the same call (the global RNG state is restored afterwards)."""
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    sample = decoding.temperature > 0
    n = decoding.num_samples
    try:
        for decoded in _generate_batches(
            model,
            tokenizer,
            texts,
            batch_size=prompts_per_batch(decoding),
            num_return=n,
            max_new_tokens=decoding.max_new_tokens,
            do_sample=sample,
            temperature=decoding.temperature if sample else None,
            top_p=decoding.top_p if sample else None,
            top_k=0,  # pure sampling at the given temperature, as TRL samples during training
        ):
            yield [decoded[i : i + n] for i in range(0, len(decoded), n)]
    finally:
        torch.random.set_rng_state(generator_state)


def vllm_sampler(checkpoint: str, tokenizer, seed: int) -> TextSampler:
    """A vLLM engine on ``checkpoint`` (``LLM(model=checkpoint, seed=seed)``) as a sampler with ``SamplingParams(n,
    temperature, top_p, max_tokens, seed)``. UNTESTED against a real vLLM here (not installed on our machines; the
    tests drive it with a stand-in module). Prompts go in as token ids of the chat-templated text, tokenized without
    special tokens as the HF path does (vLLM would otherwise add a BOS before the template's own). The request seed
    makes each prompt's samples independent of its batch. Chunks of ``batch_size // num_samples`` prompts per call
    keep the cache writes per batch: raise ``batch_size`` for throughput. Raises ImportError without vllm."""
    from vllm import LLM, SamplingParams

    engine = LLM(model=checkpoint, seed=seed)

    def sample(texts: Sequence[str], decoding: DecodingConfig, seed: int) -> Iterator[list[list[str]]]:
        params = SamplingParams(
            n=decoding.num_samples,
            temperature=decoding.temperature,
            top_p=decoding.top_p,
            max_tokens=decoding.max_new_tokens,
            seed=seed,
        )
        step = prompts_per_batch(decoding)
        for start in range(0, len(texts), step):
            requests = [
                {"prompt_token_ids": tokenizer(text, add_special_tokens=False)["input_ids"]}
                for text in texts[start : start + step]
            ]
            outputs = engine.generate(requests, params, use_tqdm=False)
            yield [[completion.text for completion in output.outputs] for output in outputs]

    return sample


def cached_completions(
    sampler: TextSampler,
    texts: Sequence[str],
    decoding: DecodingConfig,
    seed: int,
    cache: SampleCache | None = None,
    progress: bool = False,
) -> list[list[str]]:
    """``decoding.num_samples`` completions per prompt text: reused from ``cache`` where finished, generated for the
    rest (appended to the cache batch by batch), with a progress bar over the generated batches.

    Reused samples are valid samples but not bit-identical to an uninterrupted run's: with HF sampling a prompt's
    samples depend on the batches before it, and the missing prompts are drawn with ``resumed_seed``. With nothing
    cached the run seed is used as is, so a fresh run matches an evaluation without a cache."""
    keys = prompt_keys(texts)
    finished = cache.read(decoding, seed) if cache is not None else {}
    missing = [index for index, key in enumerate(keys) if key not in finished]
    if missing:
        missing_keys = [keys[i] for i in missing]
        draw_seed = seed if len(missing) == len(keys) else resumed_seed(seed, missing_keys)
        batches = sampler([texts[i] for i in missing], decoding, draw_seed)
        total = math.ceil(len(missing) / prompts_per_batch(decoding))
        done = 0
        for batch in tqdm(batches, total=total, desc=f"generate ({decoding.name})", unit="batch", disable=not progress):
            batch_keys = missing_keys[done : done + len(batch)]
            if len(batch_keys) != len(batch):
                raise RuntimeError(f"sampler returned {done + len(batch)} prompts' samples for {len(missing)} prompts")
            finished.update(zip(batch_keys, batch))
            if cache is not None:
                cache.append(decoding, seed, batch_keys, batch)
            done += len(batch)
    return [finished[key] for key in keys]


def generate_completions(
    model, tokenizer, prompts: Sequence[list[dict]], decoding: DecodingConfig, seed: int = 0
) -> list[list[str]]:
    """For each chat prompt, ``decoding.num_samples`` completion texts (special tokens removed), with HF."""
    sampler = partial(hf_sample_batches, model, tokenizer)
    return cached_completions(sampler, chat_texts(tokenizer, prompts), decoding, seed)


def score_samples(dataset, samples: list[list[str]], answer_format: str) -> list[dict]:
    """One record per (row, sample): extracted answer and correctness under the row's checker."""
    fmt = get_answer_format(answer_format)
    records = []
    for row, row_samples in zip(dataset, samples):
        checker = get_checker(row.get("checker") or "numeric")
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
        record["correct"] = bool(get_checker(checker)(record["extracted"], answer))
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


def self_reward_metrics(
    records: Sequence[dict], threshold: float, resamples: int = BOOTSTRAP_RESAMPLES
) -> dict[str, float]:
    """Self-verification F1 (LaSeR's), AUROC and ECE of the clipped score, and RM@K (score-weighted vote) vs
    Maj@K over the first K samples of each prompt. F1, AUROC and ECE carry a ``_stderr``: the bootstrap over
    prompts (``cluster_bootstrap_stderr``, ``resamples`` draws, fixed seed); 0 resamples leaves them out."""
    scores = [r["self_reward"] for r in records]
    correct = [r["correct"] for r in records]
    statistics = {
        "self_verification_f1": partial(self_verification_f1, threshold=threshold),
        "self_reward_auroc": auroc,
        "self_reward_ece": expected_calibration_error,
    }
    metrics = {name: statistic(scores, correct) for name, statistic in statistics.items()}
    if resamples:
        clusters = [r["id"] for r in records]
        for name, statistic in statistics.items():
            metrics[f"{name}_stderr"] = cluster_bootstrap_stderr(statistic, (scores, correct), clusters, resamples)
    weighted = [{**r, "confidence": r["self_reward"]} for r in records]
    scaling = sample_scaling(weighted, sizes=(1, 2, 4, 8, 16, 32))
    for key, value in scaling.items():
        if key.startswith("tts_maj@"):
            metrics[key.replace("tts_maj@", "maj@")] = value
        elif key.startswith("tts_wmaj@"):
            metrics[key.replace("tts_wmaj@", "rm@")] = value
    return metrics


def with_decoding_name(metrics: dict[str, float], decoding: str) -> dict[str, float]:
    """``pass@2`` -> ``pass@2_sampled`` and its ``pass@2_stderr`` -> ``pass@2_sampled_stderr``: every metric's
    error sits next to it as ``<metric>_stderr``."""
    named = {}
    for key, value in metrics.items():
        base, is_stderr = (key[: -len("_stderr")], True) if key.endswith("_stderr") else (key, False)
        named[f"{base}_{decoding}_stderr" if is_stderr else f"{base}_{decoding}"] = value
    return named


def evaluate_split(
    model,
    tokenizer,
    dataset,
    answer_format: str,
    decodings: Sequence[DecodingConfig],
    seed: int = 0,
    self_reward: SelfRewardSpec | None = None,
    rescue: bool = True,
    *,
    sampler: TextSampler | None = None,
    cache: SampleCache | None = None,
    progress: bool = False,
    bootstrap_resamples: int = BOOTSTRAP_RESAMPLES,
) -> tuple[dict[str, float], list[dict]]:
    """Accuracy (avg@n, with its prompt-clustered standard error) and format adherence for each decoding config;
    pass@k and maj@k with n > 1 samples; calibration when the format states a confidence; LaSeR's self-verification
    when ``self_reward`` is given. Every reported rate has a ``<metric>_stderr`` (see ``sampling_metrics``,
    ``confidence_metrics``, ``self_reward_metrics``).

    ``sampler`` generates (default: HF ``generate`` on ``model``); ``model`` is still used for RLCR's probes and
    LaSeR's scoring. With ``cache``, finished samples are reused (``cached_completions``)."""
    sampler = sampler or partial(hf_sample_batches, model, tokenizer)
    states_confidence = get_answer_format(answer_format).states_confidence
    metrics: dict[str, float] = {}
    all_records: list[dict] = []
    prompts = list(dataset["prompt"])
    texts = chat_texts(tokenizer, prompts)
    for decoding in decodings:
        samples = cached_completions(sampler, texts, decoding, seed, cache=cache, progress=progress)
        records = score_samples(dataset, samples, answer_format)
        count_tokens(tokenizer, records)
        if rescue and states_confidence:
            rescue_missing(model, tokenizer, dataset, records, answer_format)
            metrics[f"answer_adherence_{decoding.name}"] = sum(r["answer_stated"] for r in records) / max(
                len(records), 1
            )
        accuracy, stderr = accuracy_with_stderr([r["correct"] for r in records], [r["id"] for r in records])
        metrics[f"accuracy_{decoding.name}"] = accuracy
        metrics[f"accuracy_{decoding.name}_stderr"] = stderr
        metrics[f"format_{decoding.name}"] = sum(r["well_formed"] for r in records) / max(len(records), 1)
        if decoding.num_samples > 1:
            metrics.update(with_decoding_name(sampling_metrics(records), decoding.name))
        if states_confidence:
            metrics.update(with_decoding_name(confidence_metrics(records, bootstrap_resamples), decoding.name))
            if decoding.num_samples > 1:
                metrics.update(with_decoding_name(sample_scaling(records), decoding.name))
        if self_reward is not None:
            keyed = list(zip(prompts, dataset["id"]))
            for record, score in zip(records, self_reward_scores_for(model, tokenizer, keyed, records, self_reward)):
                record["self_reward"] = score
            verification = self_reward_metrics(records, self_reward.threshold, bootstrap_resamples)
            metrics.update(with_decoding_name(verification, decoding.name))
        all_records.extend({**r, "decoding": decoding.name} for r in records)
    return metrics, all_records


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


def sampling_metrics(records: Sequence[dict], sizes: Sequence[int] = (1, 2, 4, 8, 16, 32)) -> dict[str, float]:
    """For n samples per prompt: unbiased pass@k and majority vote over the first k samples (maj@k), for each k in
    ``sizes`` up to n, averaged over prompts, each with ``<metric>_stderr``: the standard error over prompts
    (``mean_stderr`` of the per-prompt values). Accuracy over all samples is avg@n, reported as ``accuracy_*``."""
    groups = _by_prompt(records)
    available = min((len(g) for g in groups), default=0)
    results = {}
    for k in [size for size in sizes if size <= available]:
        passed = [pass_at_k(len(g), sum(bool(r["correct"]) for r in g), k) for g in groups]
        results[f"pass@{k}"] = sum(passed) / len(groups)
        results[f"pass@{k}_stderr"] = mean_stderr(passed)
        voted = [
            float(majority_vote([r["extracted"] for r in g[:k]]) in {r["extracted"] for r in g[:k] if r["correct"]})
            for g in groups
        ]
        results[f"maj@{k}"] = sum(voted) / len(groups)
        results[f"maj@{k}_stderr"] = mean_stderr(voted)
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
