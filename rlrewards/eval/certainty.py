"""Self-certainty of given completions from a scoring forward pass over prompt + completion (HF backend).

The evaluation keeps completions as text, so each sample is re-tokenized: the chat-templated prompt and the
completion separately, without special tokens, then concatenated, as the official ``src/confidence_list.py``
(backprop07/Self-Certainty @ b17d021) does. The logits at the completion's own token positions go to
``rlrewards.algorithms.self_certainty.self_certainty`` (chunked over rows, float32), ``vocab_size`` from the model's
config as the official code divides by ``config.vocab_size``.

Positions, as the official code takes them (``logits[:, input_length:]`` under the output's attention mask): the
distributions p(. | x, y_1..y_t) for t = 1..T, i.e. from the one after the first completion token to the one after
the last (which predicts what follows the completion, usually EOS). The paper's formula averages p(. | x, y_<t) for
t = 1..T, one position earlier; we follow the code.

``lazy_hf_self_certainty`` gives the same scorer over a model that is loaded at its first call only: the vLLM
engine's (``self_certainty.vllm_hf_scoring``), so that an evaluation that never scores loads no second model.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from rlrewards.algorithms.self_certainty import self_certainty
from rlrewards.utils.padding import pad_token_rows

# per sample: prompt token ids, completion token ids; sequences per forward -> self-certainty of each completion
SelfCertaintyScorer = Callable[[Sequence[list[int]], Sequence[list[int]], int], list[float]]


def right_padded(
    prompts: Sequence[list[int]], completions: Sequence[list[int]], pad_id: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(input_ids, attention_mask, completion_mask)`` of the right-padded concatenations; ``completion_mask`` is 1
    at the completion's token positions (the official ``logits[:, input_length:]`` under the output's mask)."""
    input_ids, attention = pad_token_rows([[*p, *c] for p, c in zip(prompts, completions)], pad_id)
    scored = torch.zeros_like(input_ids)
    for row, (prompt, completion) in enumerate(zip(prompts, completions)):
        scored[row, len(prompt) : len(prompt) + len(completion)] = 1
    return input_ids, attention, scored


@torch.no_grad()
def hf_self_certainty(
    model, tokenizer, prompts: Sequence[list[int]], completions: Sequence[list[int]], batch_size: int = 8
) -> list[float]:
    """Self-certainty of each completion, ``batch_size`` sequences per forward pass (only that many sequences'
    logits exist at once). A completion without tokens scores 0; a non-finite score becomes 0."""
    was_training = model.training
    model.eval()
    vocab_size = getattr(model.config, "vocab_size", None)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    scores: list[float] = []
    try:
        for start in range(0, len(prompts), batch_size):
            batch = right_padded(prompts[start : start + batch_size], completions[start : start + batch_size], pad_id)
            input_ids, attention, scored = (t.to(model.device) for t in batch)
            if not bool(scored.any()):
                scores.extend([0.0] * input_ids.size(0))
                continue
            logits = model(input_ids=input_ids, attention_mask=attention).logits
            values = self_certainty(logits, scored, vocab_size=vocab_size)
            scores.extend(torch.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0).cpu().tolist())
    finally:
        model.train(was_training)
    return scores


def lazy_hf_self_certainty(load: Callable[[], tuple[Any, Any]]) -> SelfCertaintyScorer:
    """``hf_self_certainty`` on the ``(model, tokenizer)`` that ``load()`` returns, called at the first scoring (never
    when nothing is scored) and kept for the later ones."""
    loaded: list[tuple[Any, Any]] = []

    def score(prompts: Sequence[list[int]], completions: Sequence[list[int]], batch_size: int = 8) -> list[float]:
        if not loaded:
            loaded.append(load())
        model, tokenizer = loaded[0]
        return hf_self_certainty(model, tokenizer, prompts, completions, batch_size)

    return score
