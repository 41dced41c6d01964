"""Report figures (PNG) over groups of runs (one group = one experiment or recipe, several seeds): training curves,
reliability diagrams and voting curves over the number of samples K."""

from __future__ import annotations

import re
import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path

from rlrewards.eval.metrics import calibration_bins, expected_calibration_error
from rlrewards.reporting.runs import Run

# summary keys of the voting methods, as ``eval/<method>@<K>_<decoding>``; the label says what is voted on.
# (``tts_maj@K`` is left out: it equals ``maj@K``, which every multi-sample evaluation reports.)
VOTING_METHODS = {
    "maj": "majority vote",
    "tts_wmaj": "confidence-weighted vote",
    "tts_maxconf": "max confidence",
    "rm": "self-reward-weighted vote (RM@K)",
    "pass": "pass@K (any sample correct)",
    "bon_sc": "most self-certain sample (Best-of-N)",
    "borda_sc": "Borda vote by self-certainty",
}
# training curves: accuracy, reward and length for every recipe, then each recipe's own signal (drawn where logged)
DEFAULT_CURVES = (
    "train/rewards/accuracy/mean",
    "train/reward",
    "train/completions/mean_length",
    "train/tempo/td_share",
    "train/pure/single_step_frac",
    "train/aux/laser_self_reward/self_verification_f1",
    "train/rlcr/ece",
)
_VOTING_KEY = re.compile(r"^eval/(?P<method>[a-z_]+)@(?P<k>\d+)_(?P<decoding>\w+?)(?P<stderr>_stderr)?$")


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    _pyplot().close(figure)
    return path


def mean_curve(runs: Sequence[Run], metric: str) -> tuple[list[int], list[float], list[float], list[float]]:
    """Steps every run logged ``metric`` at, with the mean, min and max over runs there."""
    curves = [dict(run.curve(metric)) for run in runs]
    curves = [c for c in curves if c]
    if not curves:
        return [], [], [], []
    steps = sorted(set.intersection(*(set(c) for c in curves)))
    values = [[c[s] for c in curves] for s in steps]
    return steps, [statistics.fmean(v) for v in values], [min(v) for v in values], [max(v) for v in values]


def training_curves(groups: Mapping[str, Sequence[Run]], metrics: Sequence[str], path: Path) -> Path | None:
    """One panel per metric; a line per group (mean over its seeds, band = min..max). None when nothing logged."""
    present = [m for m in metrics if any(mean_curve(runs, m)[0] for runs in groups.values())]
    if not present:
        return None
    plt = _pyplot()
    columns = min(3, len(present))
    rows = -(-len(present) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(4.5 * columns, 3.4 * rows), squeeze=False)
    for axis in axes.flat[len(present) :]:
        axis.set_visible(False)
    for axis, metric in zip(axes.flat, present):
        for label, runs in groups.items():
            steps, mean, low, high = mean_curve(runs, metric)
            if steps:
                (line,) = axis.plot(steps, mean, label=f"{label} ({len(runs)})")
                axis.fill_between(steps, low, high, color=line.get_color(), alpha=0.15)
        axis.set_title(metric, fontsize=9)
        axis.set_xlabel("step")
        axis.legend(fontsize=7)
    return _save(figure, path)


def confidence_records(runs: Sequence[Run], decoding: str, confidence_key: str) -> tuple[list[float], list[bool]]:
    """Pooled (confidence, correct) of the runs' final evaluation records of one decoding; a missing confidence
    counts as 0, as in the RLCR evaluation."""
    confidences, correct = [], []
    for run in runs:
        for record in run.eval_records("after"):
            if record.get("decoding") == decoding and confidence_key in record:
                value = record[confidence_key]
                confidences.append(float(value) if value is not None else 0.0)
                correct.append(bool(record["correct"]))
    return confidences, correct


def reliability_panels(
    groups: Mapping[str, Sequence[Run]], path: Path, decoding: str = "greedy", confidence_key: str = "confidence"
) -> Path | None:
    """A reliability diagram per group (accuracy per confidence bin against the diagonal, ECE in the title)."""
    pooled = {label: confidence_records(runs, decoding, confidence_key) for label, runs in groups.items()}
    pooled = {label: data for label, data in pooled.items() if data[0]}
    if not pooled:
        return None
    plt = _pyplot()
    figure, axes = plt.subplots(1, len(pooled), figsize=(3.6 * len(pooled), 3.6), squeeze=False)
    for axis, (label, (confidences, correct)) in zip(axes[0], pooled.items()):
        bins = calibration_bins(confidences, correct)
        centers = [(b["low"] + b["high"]) / 2 for b in bins]
        axis.bar(centers, [b["accuracy"] if b["count"] else 0.0 for b in bins], width=0.1, edgecolor="black")
        axis.plot([0, 1], [0, 1], linestyle="--", color="grey")
        ece = expected_calibration_error(confidences, correct)
        axis.set_title(f"{label}\n{confidence_key}, ECE {ece:.3f}, n={len(confidences)}", fontsize=8)
        axis.set_xlim(0, 1)
        axis.set_ylim(0, 1)
        axis.set_xlabel(confidence_key)
    axes[0][0].set_ylabel("accuracy")
    return _save(figure, path)


def voting_curves(runs: Sequence[Run]) -> dict[tuple[str, str], dict[int, float]]:
    """``{(method, decoding): {K: mean over runs}}`` from the runs' final summaries (every K all runs report)."""
    collected: dict[tuple[str, str], dict[int, list[float]]] = {}
    for run in runs:
        for key, value in run.summary.items():
            match = _VOTING_KEY.match(key)
            if match and not match["stderr"] and match["method"] in VOTING_METHODS and isinstance(value, int | float):
                by_k = collected.setdefault((match["method"], match["decoding"]), {})
                by_k.setdefault(int(match["k"]), []).append(float(value))
    return {
        method: {k: statistics.fmean(v) for k, v in sorted(by_k.items()) if len(v) == len(runs)}
        for method, by_k in collected.items()
    }


def voting_panels(groups: Mapping[str, Sequence[Run]], path: Path) -> Path | None:
    """Accuracy of each voting method over K, a panel per group that reports any."""
    curves = {label: voting_curves(runs) for label, runs in groups.items()}
    curves = {label: c for label, c in curves.items() if any(len(points) > 1 for points in c.values())}
    if not curves:
        return None
    plt = _pyplot()
    figure, axes = plt.subplots(1, len(curves), figsize=(4.2 * len(curves), 3.4), squeeze=False)
    for axis, (label, methods) in zip(axes[0], curves.items()):
        for (method, decoding), points in sorted(methods.items()):
            if len(points) > 1:
                line_label = f"{VOTING_METHODS[method]}, {decoding}"
                axis.plot(list(points), list(points.values()), marker="o", label=line_label)
        axis.set_xscale("log", base=2)
        axis.set_xlabel("K samples")
        axis.set_title(label, fontsize=9)
        axis.legend(fontsize=7)
    axes[0][0].set_ylabel("accuracy")
    return _save(figure, path)
