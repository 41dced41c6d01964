"""Mean ± std cells, written once for every table the package writes (demo table, recipe comparisons, reports)."""

from __future__ import annotations

import statistics


def format_mean_std(mean: float, std: float) -> str:
    return f"{mean:.3f} ± {std:.3f}"


def mean_std(values: list[float], empty: str = "") -> str:
    """Mean ± sample standard deviation over seeds; one value has no spread (0), no values give ``empty``."""
    if not values:
        return empty
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return format_mean_std(statistics.fmean(values), spread)
