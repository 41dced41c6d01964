"""pass@k curves from evaluation metrics: a markdown table of k -> pass@k per benchmark and decoding, and a plot.

``rlrewards-eval`` writes both next to ``metrics.json`` (``pass_at_k.md``, ``pass_at_k.png``) whenever a decoding
drew n > 1 samples; k runs over the powers of two up to n (``rlrewards.eval.scoring.sampling_metrics``), so the NSR
suite's 256 samples give the paper's curve up to pass@256. The same works for ``maj``, ``bon_sc`` and ``borda_sc``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

# (k, value, stderr) in increasing k
Curve = list[tuple[int, float, float]]


def metric_curves(metrics: Mapping[str, float], prefix: str = "pass") -> dict[str, Curve]:
    """Decoding -> its ``<prefix>@k`` curve, read from names ``<prefix>@<k>_<decoding>`` (and their ``_stderr``);
    values that are not numbers are left out."""
    pattern = re.compile(rf"^{re.escape(prefix)}@(\d+)_(.+)$")
    curves: dict[str, Curve] = {}
    for name, value in metrics.items():
        match = pattern.match(name)
        if match is None or name.endswith("_stderr") or not isinstance(value, (int, float)):
            continue
        k, decoding = int(match.group(1)), match.group(2)
        stderr = metrics.get(f"{name}_stderr", 0.0)
        curves.setdefault(decoding, []).append((k, float(value), float(stderr or 0.0)))
    return {decoding: sorted(points) for decoding, points in curves.items()}


def benchmark_curves(results: Mapping[str, Mapping[str, float]], prefix: str = "pass") -> dict[str, Curve]:
    """``benchmark/decoding`` -> curve, for every benchmark's metrics (``{benchmark: metrics}``)."""
    return {
        f"{benchmark}/{decoding}": curve
        for benchmark, metrics in results.items()
        for decoding, curve in metric_curves(metrics, prefix).items()
    }


def curve_table(curves: Mapping[str, Curve], prefix: str = "pass") -> str:
    """A markdown table, one row per k and one column per curve: ``value ± stderr`` in percent."""
    if not curves:
        return ""
    names = list(curves)
    ks = sorted({k for curve in curves.values() for k, _, _ in curve})
    cells = {name: {k: f"{100 * v:.1f} ± {100 * e:.1f}" for k, v, e in curve} for name, curve in curves.items()}
    lines = [f"| k | {' | '.join(f'{name} {prefix}@k (%)' for name in names)} |", "|---" * (len(names) + 1) + "|"]
    lines += [f"| {k} | {' | '.join(cells[name].get(k, '') for name in names)} |" for k in ks]
    return "\n".join(lines) + "\n"


def plot_curves(curves: Mapping[str, Curve], path: Path, prefix: str = "pass") -> Path:
    """One line per curve over k (log2 axis), with a ±1 standard error band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(5, 3.5))
    for name, curve in curves.items():
        ks, values, errors = zip(*curve)
        axis.plot(ks, [100 * v for v in values], marker="o", markersize=3, label=name)
        low = [100 * (v - e) for v, e in zip(values, errors)]
        high = [100 * (v + e) for v, e in zip(values, errors)]
        axis.fill_between(ks, low, high, alpha=0.2)
    axis.set_xscale("log", base=2)
    axis.set_ylim(0, 100)
    axis.set_xlabel("k")
    axis.set_ylabel(f"{prefix}@k (%)")
    axis.legend(fontsize=7)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def write_pass_at_k(results: Mapping[str, Mapping[str, float]], out: Path) -> str:
    """``pass_at_k.md`` and ``pass_at_k.png`` in ``out`` for ``{benchmark: metrics}``; returns the table ("" and
    nothing written without a multi-sample decoding)."""
    curves = benchmark_curves(results)
    table = curve_table(curves)
    if table:
        out.mkdir(parents=True, exist_ok=True)
        (out / "pass_at_k.md").write_text(table)
        plot_curves(curves, out / "pass_at_k.png")
    return table
