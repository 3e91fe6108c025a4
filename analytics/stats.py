"""Pure statistics used by analytics: Wilson intervals, percentiles, median/MAD outlier thresholds."""

from __future__ import annotations

import math
from dataclasses import dataclass

Z95 = 1.959963984540054
MAD_TO_SIGMA = 1.4826  # MAD * this estimates the standard deviation of normal data


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion; (0, 1) when there is no data."""
    if n <= 0:
        return 0.0, 1.0
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def percentile(sorted_values: list[float], q: float) -> float | None:
    """Linear-interpolated percentile (same as PostgreSQL percentile_cont) of already sorted values."""
    if not sorted_values:
        return None
    pos = (len(sorted_values) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def median(values: list[float]) -> float:
    return percentile(sorted(values), 0.5) or 0.0 if values else 0.0


def mad(values: list[float]) -> float:
    """Median absolute deviation from the median."""
    if not values:
        return 0.0
    m = median(values)
    return median([abs(v - m) for v in values])


@dataclass(frozen=True)
class Outlier:
    """Whether ``current`` is far above a subject's own history, and the numbers that decided it."""

    is_outlier: bool
    current: float
    median: float
    mad: float
    threshold: float
    history_points: int

    def as_dict(self) -> dict:
        return {"current": self.current, "median": self.median, "mad": self.mad, "threshold": self.threshold,
                "history_points": self.history_points, "rule": "current > max(median + k*1.4826*MAD, median + "
                                                                   "min_excess) and current >= min_count"}


def robust_outlier(history: list[float], current: float, *, k: float = 3.5, min_excess: float = 3.0,
                   min_count: float = 3.0) -> Outlier:
    """Median/MAD test over the subject's own history. ``min_excess`` keeps a flat history (MAD 0) from
    flagging +1; ``min_count`` ignores tiny absolute numbers."""
    m, d = median(history), mad(history)
    threshold = max(m + k * MAD_TO_SIGMA * d, m + min_excess)
    return Outlier(is_outlier=current > threshold and current >= min_count, current=current, median=m, mad=d,
                   threshold=round(threshold, 3), history_points=len(history))
