"""Association measures over a 2x2 contingency table (Evert 2008, "Corpora and collocations").

        | y      | not y  |
  x     | O11    | O12    | R1
  not x | O21    | O22    | R2
        | C1     | C2     | N

Expected E_ij = R_i * C_j / N. For collocates in a window, x is "a position in
the node's window" (each position once, even where two windows overlap; node
positions are left out of the whole table) and y is "the collocate". For
bigrams, x is "the first word" and y "the second word" of an adjacent pair.
"""
from __future__ import annotations

import math
from typing import NamedTuple


class Scores(NamedTuple):
    frequency: int
    expected: float
    mi: float
    t_score: float
    log_likelihood: float
    p: float
    log_dice: float


def log_likelihood(o11: int, r1: int, c1: int, n: int) -> float:
    """Dunning's (1993) G2 = 2 * sum O_ij ln(O_ij / E_ij) over the four cells; a cell observed 0 times adds 0."""
    o12, o21 = r1 - o11, c1 - o11
    o22 = n - r1 - c1 + o11
    r2, c2 = n - r1, n - c1
    total = 0.0  # O ln(O / E) with E = R C / N, written out: this runs for every candidate pair
    if o11 > 0:
        total += o11 * math.log(o11 * n / (r1 * c1))
    if o12 > 0:
        total += o12 * math.log(o12 * n / (r1 * c2))
    if o21 > 0:
        total += o21 * math.log(o21 * n / (r2 * c1))
    if o22 > 0:
        total += o22 * math.log(o22 * n / (r2 * c2))
    return max(0.0, 2 * total)


def chi2_p(statistic: float) -> float:
    """Upper tail of the chi-square distribution with one degree of freedom."""
    return math.erfc(math.sqrt(max(statistic, 0.0) / 2))


def score(o11: int, r1: int, c1: int, n: int, f_x: int, f_y: int) -> Scores:
    """All measures for one pair; f_x and f_y are the two words' own frequencies (for log-Dice)."""
    e11 = r1 * c1 / n
    ll = log_likelihood(o11, r1, c1, n)
    return Scores(
        frequency=o11,
        expected=e11,
        mi=math.log2(o11 / e11),  # Church & Hanks (1990)
        t_score=(o11 - e11) / math.sqrt(o11),  # Church et al. (1991)
        log_likelihood=ll,
        p=chi2_p(ll),
        log_dice=14 + math.log2(2 * o11 / (f_x + f_y)),  # Rychlý (2008)
    )
