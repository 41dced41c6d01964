"""Batched generation and task scoring on an evaluation *engine*: HF (the default) or vLLM, with a sample cache.

An ``Engine`` is what an evaluation runs on one backend: its sampler (``sampler(texts, decoding, seed)`` yields,
batch by batch, ``num_samples`` completions per chat-templated prompt text), greedy continuation of raw prefixes,
the log-probability of one given next token and, where an HF model's full-vocabulary logits are at hand, the
self-certainty of given completions: all but the sampler serve the evaluation hooks (``rlrewards.eval.hooks``).
``hf_engine`` runs them all on an HF model; ``rlrewards.eval.vllm_engine.vllm_engine`` the rest on one vLLM engine,
so ``backend=vllm`` loads no HF model, except for self-certainty, which vLLM's top-k log-probs cannot give: there it
comes from an HF copy of the checkpoint loaded at its first use when ``self_certainty.vllm_hf_scoring`` asks, and is
absent otherwise. ``cached_completions`` wraps any sampler with a ``SampleCache``: samples already on disk are
reused, only the missing prompts are generated, and each finished batch is appended at once, so an interrupted
evaluation resumes where it stopped.

Scoring and aggregate metrics live in ``rlrewards.eval.scoring``; their names stay importable from here.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from functools import partial

import torch
from tqdm.auto import tqdm

from rlrewards.eval.cache import SampleCache, prompt_keys, resumed_seed
from rlrewards.eval.certainty import SelfCertaintyScorer, hf_self_certainty
from rlrewards.eval.hooks import EvaluationHook, HookContext, run_amend, run_score
from rlrewards.eval.metrics import BOOTSTRAP_RESAMPLES
from rlrewards.eval.scoring import (
    accuracy_with_stderr,
    confidence_metrics,
    count_tokens,
    sample_scaling,
    sampling_metrics,
    score_samples,
    with_decoding_name,
)
from rlrewards.tasks.formats import get_answer_format
from rlrewards.utils.padding import pad_token_rows

__all__ = [  # moved to scoring, still importable from here
    "accuracy_with_stderr",
    "confidence_metrics",
    "count_tokens",
    "sample_scaling",
    "sampling_metrics",
    "score_samples",
]


@dataclass
class DecodingConfig:
    name: str = "greedy"
    num_samples: int = 1
    temperature: float = 0.0  # 0 means greedy
    top_p: float = 1.0
    max_new_tokens: int = 64
    batch_size: int = 128  # sequences per generate call: batch_size // num_samples prompts
    # sample among the k most likely tokens only; None: off (every token), as TRL samples in training. 0 in a config
    # also means off and becomes None here, so an "off" decoding has one cache key (rlrewards.eval.cache)
    top_k: int | None = None


def decodings_from_config(spec, max_new_tokens: int, batch_size: int) -> list[DecodingConfig]:
    """``{name: {num_samples, temperature, top_p, top_k}}`` from config -> decoding configs sharing length and batch
    limits; ``top_k`` absent, null or 0 is off (None)."""
    return [
        DecodingConfig(
            name=str(name),
            num_samples=int(entry["num_samples"]),
            temperature=float(entry["temperature"]),
            top_p=float(entry.get("top_p", 1.0)),
            max_new_tokens=int(max_new_tokens),
            batch_size=int(batch_size),
            top_k=int(entry["top_k"]) if entry.get("top_k") else None,
        )
        for name, entry in spec.items()
    ]


def prompts_per_batch(decoding: DecodingConfig) -> int:
    return max(1, decoding.batch_size // decoding.num_samples)


# texts, decoding, seed -> per batch, num_samples completions for each text of the batch, in order
TextSampler = Callable[[Sequence[str], DecodingConfig, int], Iterator[list[list[str]]]]
# prefixes, max_new_tokens -> the greedy continuation of each prefix (special tokens removed)
GreedyContinuer = Callable[[Sequence[str], int], list[str]]
# token id sequences, token id -> log pi(token | sequence) for each sequence
NextTokenLogprobs = Callable[[Sequence[list[int]], int], list[float]]


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
            # off (0) unless the decoding sets it: pure sampling at the given temperature, as TRL samples in training
            top_k=(decoding.top_k or 0) if sample else 0,
        ):
            yield [decoded[i : i + n] for i in range(0, len(decoded), n)]
    finally:
        torch.random.set_rng_state(generator_state)


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


def continue_greedily(
    model, tokenizer, prefixes: Sequence[str], max_new_tokens: int, batch_size: int = 64
) -> list[str]:
    return _generate_texts(model, tokenizer, prefixes, batch_size, max_new_tokens=max_new_tokens, do_sample=False)


@torch.no_grad()
def hf_next_token_logprobs(
    model, tokenizer, sequences: Sequence[list[int]], token_id: int, batch_size: int = 64
) -> list[float]:
    """One forward pass per batch of left-padded sequences; the log-softmax of the last position at ``token_id``."""
    was_training = model.training
    model.eval()
    logprobs: list[float] = []
    try:
        for start in range(0, len(sequences), batch_size):
            chunk = sequences[start : start + batch_size]
            # left padding: the last position is every row's last token
            input_ids, attention = pad_token_rows(chunk, tokenizer.pad_token_id, side="left")
            logits = model(input_ids=input_ids.to(model.device), attention_mask=attention.to(model.device)).logits
            logprobs.extend(logits[:, -1].float().log_softmax(dim=-1)[:, token_id].cpu().tolist())
    finally:
        model.train(was_training)
    return logprobs


@dataclass(frozen=True)
class Engine:
    """What an evaluation generates and scores with, all on one backend."""

    sample: TextSampler
    continue_greedily: GreedyContinuer
    next_token_logprobs: NextTokenLogprobs
    # full-vocabulary scoring forward for self-certainty (rlrewards.eval.certainty), always an HF model's; on vLLM
    # (top-k log-probs only) a lazily loaded HF copy with self_certainty.vllm_hf_scoring, else None
    self_certainty: SelfCertaintyScorer | None = None


def hf_engine(model, tokenizer) -> Engine:
    return Engine(
        sample=partial(hf_sample_batches, model, tokenizer),
        continue_greedily=partial(continue_greedily, model, tokenizer),
        next_token_logprobs=partial(hf_next_token_logprobs, model, tokenizer),
        self_certainty=partial(hf_self_certainty, model, tokenizer),
    )


def evaluate_split(
    model,
    tokenizer,
    dataset,
    answer_format: str,
    decodings: Sequence[DecodingConfig],
    seed: int = 0,
    hooks: Sequence[EvaluationHook] = (),
    *,
    engine: Engine | None = None,
    sampler: TextSampler | None = None,
    cache: SampleCache | None = None,
    progress: bool = False,
    bootstrap_resamples: int = BOOTSTRAP_RESAMPLES,
) -> tuple[dict[str, float], list[dict]]:
    """Accuracy (avg@n, with its prompt-clustered standard error) and format adherence for each decoding config;
    pass@k and maj@k with n > 1 samples; calibration when the format states a confidence or a hook gives one; and
    what the recipes' ``hooks`` add (``rlrewards.eval.hooks``: ``amend`` before these metrics, ``score`` after).
    Every reported rate has a ``<metric>_stderr`` (see ``sampling_metrics``, ``confidence_metrics``).

    Everything runs on ``engine`` (default: ``hf_engine(model, tokenizer)``); ``sampler`` replaces its sampler. With
    ``cache``, finished samples are reused (``cached_completions``)."""
    engine = engine or hf_engine(model, tokenizer)
    if sampler is not None:
        engine = replace(engine, sample=sampler)
    has_confidence = any(h.gives_confidence for h in hooks) or get_answer_format(answer_format).states_confidence
    metrics: dict[str, float] = {}
    all_records: list[dict] = []
    texts = chat_texts(tokenizer, list(dataset["prompt"]))
    for decoding in decodings:
        samples = cached_completions(engine.sample, texts, decoding, seed, cache=cache, progress=progress)
        records = score_samples(dataset, samples, answer_format)
        count_tokens(tokenizer, records)
        context = HookContext(engine, tokenizer, dataset, decoding, bootstrap_resamples)
        metrics.update(with_decoding_name(run_amend(hooks, records, context), decoding.name))
        accuracy, stderr = accuracy_with_stderr([r["correct"] for r in records], [r["id"] for r in records])
        metrics[f"accuracy_{decoding.name}"] = accuracy
        metrics[f"accuracy_{decoding.name}_stderr"] = stderr
        metrics[f"format_{decoding.name}"] = sum(r["well_formed"] for r in records) / max(len(records), 1)
        if decoding.num_samples > 1:
            metrics.update(with_decoding_name(sampling_metrics(records), decoding.name))
        if has_confidence:
            metrics.update(with_decoding_name(confidence_metrics(records, bootstrap_resamples), decoding.name))
            if decoding.num_samples > 1:
                metrics.update(with_decoding_name(sample_scaling(records), decoding.name))
        metrics.update(with_decoding_name(run_score(hooks, records, context), decoding.name))
        all_records.extend({**r, "decoding": decoding.name} for r in records)
    return metrics, all_records
