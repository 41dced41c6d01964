"""Self-certainty: how far the model's next-token distributions sit from uniform (Kang et al., 2025, "Scalable
Best-of-N Selection for Large Language Models via Self-Certainty", arXiv:2502.18581).

For a completion of T tokens with next-token distributions p_t over a vocabulary of V tokens:

    SC = (1/T) sum_t KL(U || p_t) = (1/T) sum_t ( -log V - (1/V) sum_j log p_t(j) )

It is >= 0 (a KL divergence) and larger when the model is more certain; it needs no verifier and no training.

Official code (backprop07/Self-Certainty @ b17d021, ``src/confidence_list.py`` ``confidence_logprob_sum``): the
log-softmax is summed over the logits' last dimension and divided by ``config.vocab_size`` (equal for most models;
pass ``vocab_size`` to reproduce a model whose logits are padded past it), averaged over the completion's attention
mask. The logits are read in bfloat16 autocast there; here in float32.
"""

from __future__ import annotations

import math

import torch


def self_certainty(
    logits: torch.Tensor, mask: torch.Tensor, vocab_size: int | None = None, chunk_size: int = 8
) -> torch.Tensor:
    """Mean KL(uniform || p) over the masked positions of each row.

    Args:
        logits: ``(B, T, V)`` next-token logits at the completion's positions.
        mask: ``(B, T)`` 1 for completion tokens, 0 for padding.
        vocab_size: V in the formula; default ``logits.size(-1)``.
        chunk_size: rows converted to float32 at a time, so the float32 copy of ``(B, T, V)`` never exists whole.

    Returns:
        ``(B,)`` float32 self-certainty; 0 for a row with no masked position (the least certain value, so an
        empty completion never wins a selection by it).
    """
    if logits.dim() != 3 or mask.shape != logits.shape[:2]:
        raise ValueError(f"logits must be (B, T, V) and mask (B, T), got {tuple(logits.shape)} and {tuple(mask.shape)}")
    v = float(vocab_size or logits.size(-1))
    per_row = []
    for start in range(0, logits.size(0), chunk_size):
        chunk = logits[start : start + chunk_size].float()
        log_prob_sum = torch.log_softmax(chunk, dim=-1).sum(dim=-1)  # (b, T)
        per_token = -log_prob_sum / v - math.log(v)
        weights = mask[start : start + chunk_size].float()
        tokens = weights.sum(dim=-1)
        per_row.append(torch.where(tokens > 0, (per_token * weights).sum(dim=-1) / tokens.clamp(min=1), 0.0))
    return torch.cat(per_row) if per_row else torch.zeros(0)
