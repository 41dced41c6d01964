"""LaSeR's test-time self-verification: the log-probability of the slot token after a finished solution.

The scoring is backend-agnostic: ``self_reward_scores_for`` builds each sample's token ids (prompt, completion, EOS)
and asks a ``NextTokenLogprobs`` function for log pi(z_c | ids): ``hf_next_token_logprobs`` runs one forward pass of
an HF model; the vLLM engine (``rlrewards.eval.vllm_engine``) reads the same number from ``prompt_logprobs``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial

import torch

from rlrewards.eval.metrics import (
    BOOTSTRAP_RESAMPLES,
    auroc,
    cluster_bootstrap_stderr,
    expected_calibration_error,
    self_verification_f1,
)
from rlrewards.eval.scoring import sample_scaling

# token id sequences, token id -> log pi(token | sequence) for each sequence
NextTokenLogprobs = Callable[[Sequence[list[int]], int], list[float]]


@dataclass(frozen=True)
class SelfRewardSpec:
    """LaSeR's test-time self-verification: score = clip(beta_v * (log pi(z_c | x, y, EOS) - c_ref), 0, 1)."""

    slot_token_id: int
    c_ref: float
    beta_v: float = 0.1
    threshold: float = 0.5


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
            width = max(len(ids) for ids in chunk)
            input_ids = torch.full((len(chunk), width), tokenizer.pad_token_id, dtype=torch.long)
            attention = torch.zeros_like(input_ids)
            for row, ids in enumerate(chunk):  # left padding: the last position is every row's last token
                input_ids[row, width - len(ids) :] = torch.tensor(ids)
                attention[row, width - len(ids) :] = 1
            logits = model(input_ids=input_ids.to(model.device), attention_mask=attention.to(model.device)).logits
            logprobs.extend(logits[:, -1].float().log_softmax(dim=-1)[:, token_id].cpu().tolist())
    finally:
        model.train(was_training)
    return logprobs


def self_reward_scores_for(
    next_token_logprobs: NextTokenLogprobs, tokenizer, prompts, records: Sequence[dict], spec: SelfRewardSpec
) -> list[float]:
    """One extra token of prefill per sample: the prompt, the completion, EOS, then read z_c's log-prob."""
    by_id = {}
    for prompt, record_id in prompts:
        by_id[record_id] = tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
    texts = [by_id[r["id"]] + r["completion"] for r in records]
    sequences = [tokenizer(t, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id] for t in texts]
    if not sequences:
        return []
    logprobs = torch.tensor(next_token_logprobs(sequences, spec.slot_token_id), dtype=torch.float32)
    return (spec.beta_v * (logprobs - spec.c_ref)).clamp(0.0, 1.0).tolist()


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
