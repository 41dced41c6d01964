"""Figures written next to evaluation results (PNG, matplotlib's non-interactive backend)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from rlrewards.eval.metrics import calibration_bins, expected_calibration_error


def reliability_diagram(
    confidences: Sequence[float], correct: Sequence[bool], path: Path, title: str, n_bins: int = 10
) -> Path:
    """Accuracy per confidence bin against the diagonal, with bin counts; the title carries the ECE."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    bins = calibration_bins(confidences, correct, n_bins)
    centers = [(b["low"] + b["high"]) / 2 for b in bins]
    accuracy = [b["accuracy"] if b["count"] else 0.0 for b in bins]
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(4.5, 5.5), height_ratios=[3, 1], sharex=True)
    top.bar(centers, accuracy, width=1 / n_bins, edgecolor="black", alpha=0.8, label="accuracy")
    top.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfect calibration")
    top.set_ylabel("accuracy")
    top.set_ylim(0, 1)
    ece = expected_calibration_error(confidences, correct, n_bins)
    top.set_title(f"{title}\nECE {ece:.3f}, n={len(confidences)}", fontsize=9)
    top.legend(loc="upper left", fontsize=8)
    bottom.bar(centers, [b["count"] for b in bins], width=1 / n_bins, edgecolor="black", color="tab:grey")
    bottom.set_xlabel("stated confidence")
    bottom.set_ylabel("count")
    bottom.set_xlim(0, 1)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def reliability_diagrams(records: Sequence[dict], out_dir: Path, stage: str) -> list[Path]:
    """One diagram per decoding whose records carry a ``confidence`` field (the recipe's format states one);
    a missing confidence counts as 0, as in the RLCR evaluation."""
    written = []
    for decoding in dict.fromkeys(r.get("decoding") for r in records):
        chosen = [r for r in records if r.get("decoding") == decoding]
        if not chosen or "confidence" not in chosen[0]:
            continue
        confidences = [r["confidence"] if r["confidence"] is not None else 0.0 for r in chosen]
        correct = [r["correct"] for r in chosen]
        path = out_dir / f"reliability_{stage}_{decoding}.png"
        written.append(reliability_diagram(confidences, correct, path, f"{stage}, {decoding} decoding"))
    return written
