"""Calibration and verification metrics. Inputs may be lists, numpy arrays or tensors.

Semantics follow the RLCR official evaluation (``eval/eval_utils.py``): ECE with equal-width bins whose outer edges
are widened to -inf/+inf (so 0 lands in the first bin and 1 in the last), left-closed like ``np.digitize``; Brier =
mean squared gap; AUROC of confidence vs correctness, 0.5 when it cannot rank (constant confidence, one class).

Standard errors treat prompts as the independent units (samples of one prompt are correlated): ``mean_stderr`` for
a mean of per-prompt values, ``cluster_bootstrap_stderr`` for statistics that are not means (ECE, AUROC, F1).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import Any

import numpy as np


def _as_array(values: Any, dtype=float) -> np.ndarray:
    if hasattr(values, "detach"):
        values = values.detach().cpu().numpy()
    return np.asarray(values, dtype=dtype).reshape(-1)


def _pair(confidences: Any, correct: Any) -> tuple[np.ndarray, np.ndarray]:
    q, c = _as_array(confidences), _as_array(correct)
    if q.shape != c.shape:
        raise ValueError(f"{q.size} confidences but {c.size} correctness labels")
    return q, c


def calibration_bins(confidences: Any, correct: Any, n_bins: int = 10) -> list[dict[str, float]]:
    """Per bin: its range, count, mean confidence and accuracy (the reliability diagram's data)."""
    q, c = _pair(confidences, correct)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    # np.digitize on the inner edges: bin k holds edges[k] <= q < edges[k+1]; outer edges are -inf/+inf.
    index = np.digitize(q, edges[1:-1], right=False)
    bins = []
    for k in range(n_bins):
        members = index == k
        count = int(members.sum())
        bins.append(
            {
                "low": float(edges[k]),
                "high": float(edges[k + 1]),
                "count": count,
                "confidence": float(q[members].mean()) if count else float("nan"),
                "accuracy": float(c[members].mean()) if count else float("nan"),
            }
        )
    return bins


def expected_calibration_error(confidences: Any, correct: Any, n_bins: int = 10) -> float:
    """``sum_b (n_b / N) |mean q_b - acc_b|`` over equal-width bins; 0 for empty input."""
    q, _ = _pair(confidences, correct)
    if q.size == 0:
        return 0.0
    return float(
        sum(
            b["count"] / q.size * abs(b["confidence"] - b["accuracy"])
            for b in calibration_bins(q, correct, n_bins)
            if b["count"]
        )
    )


def brier_score(confidences: Any, correct: Any) -> float:
    """Mean of ``(q - c)^2``; 0 for empty input."""
    q, c = _pair(confidences, correct)
    return float(np.mean((q - c) ** 2)) if q.size else 0.0


def auroc(confidences: Any, correct: Any) -> float:
    """Area under the ROC curve of confidence as a score for correctness (ties count one half); 0.5 when there is a
    single class or the confidence is constant."""
    q, c = _pair(confidences, correct)
    positive, negative = q[c > 0.5], q[c <= 0.5]
    if positive.size == 0 or negative.size == 0:
        return 0.5
    # Mann-Whitney U with average ranks for ties, O(N log N): tied values share the mean of the ranks they span.
    values = np.concatenate([positive, negative])
    _, group_of, group_sizes = np.unique(values, return_inverse=True, return_counts=True)
    last_rank = np.cumsum(group_sizes)
    rank_of = (last_rank - (group_sizes - 1) / 2)[group_of]
    positive_rank_sum = rank_of[: positive.size].sum()
    u = positive_rank_sum - positive.size * (positive.size + 1) / 2
    return float(u / (positive.size * negative.size))


def self_verification_f1(scores: Any, correct: Any, threshold: float = 0.5) -> float:
    """LaSeR's "F1": harmonic mean of the accuracy on correct and on incorrect solutions, predicting "correct"
    when ``score > threshold``; 0 when either class is absent."""
    s, c = _pair(scores, correct)
    predicted = s > threshold
    truth = c > 0.5
    if truth.all() or (~truth).all():
        return 0.0
    on_correct = float(predicted[truth].mean())
    on_incorrect = float((~predicted[~truth]).mean())
    return 0.0 if on_correct + on_incorrect == 0 else 2 * on_correct * on_incorrect / (on_correct + on_incorrect)


def summarize_calibration(confidences: Sequence[float], correct: Sequence[bool], n_bins: int = 10) -> dict[str, float]:
    return {
        "ece": expected_calibration_error(confidences, correct, n_bins),
        "brier": brier_score(confidences, correct),
        "auroc": auroc(confidences, correct),
        "mean_confidence": float(np.mean(_as_array(confidences))) if len(confidences) else 0.0,
    }


def pass_at_k(num_samples: int, num_correct: int, k: int) -> float:
    """Unbiased pass@k (Chen et al. 2021): ``1 - C(n - c, k) / C(n, k)``, the chance that k of the n samples drawn
    without replacement contain a correct one; computed as a running product, exact for any n."""
    if not 0 < k <= num_samples or not 0 <= num_correct <= num_samples:
        raise ValueError(f"pass@k needs 0 < k <= n and 0 <= c <= n, got n={num_samples}, c={num_correct}, k={k}")
    if num_samples - num_correct < k:
        return 1.0
    miss = 1.0
    for i in range(num_samples - num_correct + 1, num_samples + 1):
        miss *= 1.0 - k / i
    return 1.0 - miss


def mean_stderr(values: Any) -> float:
    """Standard error of the mean of independent values (one per prompt): ``sqrt(mean((x - mean)^2) / n)``, the
    plug-in variance, so that 0/1 values give the binomial ``sqrt(p (1 - p) / n)``; 0 for fewer than two values."""
    x = _as_array(values)
    if x.size < 2:
        return 0.0
    return float(np.sqrt(x.var() / x.size))


BOOTSTRAP_RESAMPLES = 200
BOOTSTRAP_SEED = 0


def cluster_bootstrap_stderr(
    statistic: Callable[..., float],
    columns: Sequence[Any],
    clusters: Sequence[Hashable],
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> float:
    """Bootstrap standard error of ``statistic(*columns)`` with whole clusters (prompts) resampled with replacement:
    the standard deviation (ddof 1) of the statistic over ``resamples`` draws of as many clusters as there are, from
    ``np.random.default_rng(seed)``, so the same inputs always give the same value. Each column holds one entry per
    record, ``clusters[i]`` names record i's cluster. 0 with fewer than two clusters or two resamples."""
    arrays = [_as_array(column) for column in columns]
    if any(a.size != len(clusters) for a in arrays):
        sizes = ", ".join(str(a.size) for a in arrays)
        raise ValueError(f"cluster_bootstrap_stderr: columns of {sizes} entries for {len(clusters)} cluster labels")
    members: dict[Hashable, list[int]] = {}
    for index, cluster in enumerate(clusters):
        members.setdefault(cluster, []).append(index)
    groups = [np.asarray(indices) for indices in members.values()]
    if len(groups) < 2 or resamples < 2:
        return 0.0
    rng = np.random.default_rng(seed)
    estimates = []
    for _ in range(resamples):
        drawn = np.concatenate([groups[g] for g in rng.integers(0, len(groups), size=len(groups))])
        estimates.append(statistic(*(a[drawn] for a in arrays)))
    return float(np.std(estimates, ddof=1))
