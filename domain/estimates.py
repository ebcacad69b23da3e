"""Estimates with 95% confidence intervals, and the two-sided p-value of a difference.

The methods, each the textbook one for its kind of figure (no numpy or scipy: the normal
distribution's CDF is `math.erfc`):
- a proportion (cases cured, cases that rolled on): the Wilson score interval, which stays
  within [0, 1] and behaves with few cases or a rate near 0 or 1;
- a ratio of two totals over the same cases (amount collected / amount owed, cost / amount
  collected): the ratio estimator with its delta-method (Taylor linearisation) standard
  error, `sqrt(sum((y_i - R x_i)^2) / (n - 1) / n) / mean(x)`, and a normal interval;
- a mean over cases (contacts per case): the sample standard deviation over `sqrt(n)`, and a
  normal interval.
A figure that cannot be negative has its interval cut at 0. With one case there is no
spread to estimate, so no interval (None); with no case, no figure.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

# The two-sided 95% quantile of the standard normal distribution.
Z_95 = 1.959963984540054


@dataclass(frozen=True)
class Estimate:
    """A figure, its 95% confidence interval and standard error; None where it cannot be
    computed (no value: nothing counted; no interval: too few cases to see the spread)."""

    value: float | None
    low: float | None = None
    high: float | None = None
    standard_error: float | None = None


NO_ESTIMATE = Estimate(None)


@dataclass(frozen=True)
class Proportion:
    """`count` of `of` cases, with its Wilson interval."""

    count: int
    of: int
    estimate: Estimate


def wilson(count: int, of: int) -> Proportion:
    """The proportion `count / of` with its Wilson score interval."""
    if of == 0:
        return Proportion(count, of, NO_ESTIMATE)
    share = count / of
    z2 = Z_95 * Z_95
    scale = 1 + z2 / of
    centre = (share + z2 / (2 * of)) / scale
    half = Z_95 / scale * math.sqrt(share * (1 - share) / of + z2 / (4 * of * of))
    standard_error = math.sqrt(share * (1 - share) / of)
    return Proportion(
        count,
        of,
        Estimate(share, max(0.0, centre - half), min(1.0, centre + half), standard_error),
    )


def ratio_estimate(numerators: Sequence[int], denominators: Sequence[int]) -> Estimate:
    """`sum(numerators) / sum(denominators)` over the same cases, with its delta-method
    interval (cut at 0: both totals are amounts, never negative)."""
    cases = len(denominators)
    total = sum(denominators)
    if cases == 0 or total == 0:
        return NO_ESTIMATE
    ratio = sum(numerators) / total
    if cases < 2:
        return Estimate(ratio)
    residuals = sum((y - ratio * x) ** 2 for y, x in zip(numerators, denominators, strict=True))
    mean_denominator = total / cases
    standard_error = math.sqrt(residuals / (cases - 1) / cases) / mean_denominator
    return normal_interval(ratio, standard_error)


def mean_estimate(values: Sequence[int]) -> Estimate:
    """The mean of `values` (counts, never negative), with its normal interval."""
    cases = len(values)
    if cases == 0:
        return NO_ESTIMATE
    mean = sum(values) / cases
    if cases < 2:
        return Estimate(mean)
    variance = sum((value - mean) ** 2 for value in values) / (cases - 1)
    return normal_interval(mean, math.sqrt(variance / cases))


def normal_interval(value: float, standard_error: float, *, floor: float | None = 0.0) -> Estimate:
    """`value ± 1.96 standard errors`, the low end cut at `floor` (None: not cut)."""
    low = value - Z_95 * standard_error
    return Estimate(
        value,
        low if floor is None else max(floor, low),
        value + Z_95 * standard_error,
        standard_error,
    )


def two_sided_p_value(z: float) -> float:
    """P(|Z| >= |z|) for a standard normal Z: `2 (1 - Φ(|z|))`, as `erfc(|z| / √2)`."""
    return math.erfc(abs(z) / math.sqrt(2))
