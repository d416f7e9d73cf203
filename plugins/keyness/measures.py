"""Keyness statistics for one term: a target corpus against a reference corpus.

  a = the term's frequency in the target,    c = tokens in the target
  b = the term's frequency in the reference, d = tokens in the reference

Log-likelihood as Rayson & Garside (2000) compute it (the UCREL log-likelihood
calculator): E1 = c(a+b)/(c+d), E2 = d(a+b)/(c+d), LL = 2(a ln(a/E1) + b ln(b/E2)),
a zero frequency adding nothing; its p-value from the chi-square distribution
with one degree of freedom. Effect sizes: Log Ratio (Hardie 2014), the binary
log of the ratio of relative frequencies with a zero frequency taken as 0.5;
%DIFF (Gabrielatos & Marchi 2012), undefined (None) when b = 0.
"""
from __future__ import annotations

import math
from typing import Sequence


def log_likelihood(a: int, b: int, c: int, d: int) -> float:
    e1 = c * (a + b) / (c + d)
    e2 = d * (a + b) / (c + d)
    return 2 * ((a * math.log(a / e1) if a else 0.0) + (b * math.log(b / e2) if b else 0.0))


def p_value(ll: float) -> float:
    """Upper tail of chi-square with 1 degree of freedom: P(X >= ll)."""
    return math.erfc(math.sqrt(max(ll, 0.0) / 2))


def log_ratio(a: int, b: int, c: int, d: int) -> float:
    return math.log2(((a or 0.5) / c) / ((b or 0.5) / d))


def percent_diff(a: int, b: int, c: int, d: int) -> float | None:
    if b == 0:
        return None
    reference = b / d
    return (a / c - reference) * 100 / reference


def adjust(p_values: Sequence[float], method: str) -> list[float]:
    """p-values corrected for testing every term: bonferroni, holm, benjamini_hochberg (FDR) or none."""
    m = len(p_values)
    if method == "none" or m == 0:
        return list(p_values)
    if method == "bonferroni":
        return [min(1.0, p * m) for p in p_values]
    order = sorted(range(m), key=p_values.__getitem__)
    adjusted = [0.0] * m
    if method == "holm":  # step-down: (m - rank + 1) p, made non-decreasing
        running = 0.0
        for rank, index in enumerate(order, start=1):
            running = max(running, min(1.0, (m - rank + 1) * p_values[index]))
            adjusted[index] = running
        return adjusted
    if method == "benjamini_hochberg":  # step-up: m p / rank, made non-increasing from the largest p down
        running = 1.0
        for rank in range(m, 0, -1):
            index = order[rank - 1]
            running = min(running, p_values[index] * m / rank)
            adjusted[index] = running
        return adjusted
    raise ValueError(f"unknown correction {method!r}")
