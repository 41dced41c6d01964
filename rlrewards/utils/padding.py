"""Token-id lists padded into one batch: the padding every scoring forward of the package builds."""

from __future__ import annotations

from collections.abc import Sequence

import torch


def pad_token_rows(
    rows: Sequence[Sequence[int]], pad_id: int, side: str = "right", min_width: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(input_ids, attention_mask)``, both ``(len(rows), width)`` long tensors on the CPU, ``width`` the longest
    row (at least ``min_width``). Right padding keeps every row's positions as built; left padding puts every row's
    last token in the last column (what a next-token read needs)."""
    if side not in ("right", "left"):
        raise ValueError(f"side must be 'right' or 'left', got {side!r}")
    width = max(min_width, max((len(row) for row in rows), default=0))
    input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    attention = torch.zeros_like(input_ids)
    for index, row in enumerate(rows):
        span = slice(0, len(row)) if side == "right" else slice(width - len(row), width)
        input_ids[index, span] = torch.tensor(list(row), dtype=torch.long)
        attention[index, span] = 1
    return input_ids, attention
