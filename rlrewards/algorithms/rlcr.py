"""RLCR: calibration rewards on verbalized confidence (Damani et al., "Beyond Binary Rewards", arXiv:2507.16806).

The model ends its completion with ``<answer>y</answer> <analysis>...</analysis> <confidence>q</confidence>``. With
``c = 1[y is correct]`` the paper's reward is

    R_RLCR = c - (q - c)^2                                   (a bounded proper scoring rule: E[R] peaks at q = P(c))

The official code (damanimehul/RLCR ``reward_fns.py``) instead sums three format-gated rewards with weights 0.5:
format, accuracy ``c`` and Brier ``1 - (q - c)^2``, i.e. ``0.5 * R_RLCR + 1`` for well-formed output and 0 otherwise;
the constant cancels in the group baseline (maintainers' answer on damanimehul/RLCR#3). One fix: the official
parser accepts ``nan`` (it passes the ``< 0 or > 1`` test) and then yields NaN rewards; here non-finite confidences
are malformed.
"""

from __future__ import annotations

import math

from rlrewards.tasks.tags import last_tag_content


def parse_confidence(text: str) -> float | None:
    """The value of the last ``<confidence>...</confidence>``; None when missing, not a number, not finite or
    outside [0, 1]."""
    if not isinstance(text, str):
        return None
    content = last_tag_content(text, "<confidence>", "</confidence>")  # linear; findall was quadratic
    if content is None:
        return None
    raw = content.strip()
    if len(raw) > 64:  # a number, not an essay; also bounds float() on hostile input
        return None
    try:
        value = float(raw)
    except ValueError:
        return None
    return value if math.isfinite(value) and 0.0 <= value <= 1.0 else None


def brier_reward(correct: bool, confidence: float) -> float:
    """``1 - (confidence - correct)^2``, in [0, 1]: the official code's Brier reward."""
    return 1.0 - (float(confidence) - float(bool(correct))) ** 2


def rlcr_reward(correct: bool, confidence: float) -> float:
    """``correct - (confidence - correct)^2``, in [-1, 1]: the paper's single RLCR reward."""
    c = float(bool(correct))
    return c - (float(confidence) - c) ** 2
