"""Gauss-Legendre panels with Legendre series, at any precision.

A panel holds a function's values at the n Gauss-Legendre nodes of [a, b]. From them come the
integral (Gauss-Legendre), the degree n-1 Legendre interpolant (to evaluate or integrate the
function anywhere in the panel) and an error estimate from the decay of the last coefficients.
"""

from functools import lru_cache

import mpmath

__all__ = ["gauss_legendre", "Series"]


@lru_cache(maxsize=64)
def _rule(n, prec):
    """Nodes (ascending), weights and P_m(x_k) on [-1, 1], as mpf tuples at ``prec`` bits."""
    with mpmath.workprec(prec + 30):
        nodes, weights = [], []
        eps = mpmath.mpf(2) ** (-prec - 20)
        for k in range(n, 0, -1):
            x = mpmath.cos(mpmath.pi * (4 * k - 1) / (4 * n + 2))
            for _ in range(200):
                p_prev, p = mpmath.mpf(1), x
                for m in range(2, n + 1):
                    p_prev, p = p, ((2 * m - 1) * x * p - (m - 1) * p_prev) / m
                slope = n * (x * p - p_prev) / (x * x - 1)
                step = p / slope
                x -= step
                if abs(step) < eps:
                    break
            nodes.append(x)
            weights.append(2 / ((1 - x * x) * slope * slope))
        table = [_legendre_values(x, n) for x in nodes]
    with mpmath.workprec(prec):
        return (tuple(+x for x in nodes), tuple(+w for w in weights),
                tuple(tuple(+v for v in row) for row in table))


def _legendre_values(x, count):
    """P_0(x) ... P_{count-1}(x)."""
    values = [mpmath.mpf(1), x]
    for m in range(2, count):
        values.append(((2 * m - 1) * x * values[-1] - (m - 1) * values[-2]) / m)
    return values[:count]


def gauss_legendre(n, a, b):
    """The n nodes (ascending) and weights of Gauss-Legendre on [a, b], at the current precision."""
    nodes, weights, _ = _rule(n, mpmath.mp.prec)
    half, mid = (b - a) / 2, (a + b) / 2
    return [mid + half * x for x in nodes], [half * w for w in weights]


class Series:
    """The Legendre interpolant on [a, b] of values given at the n Gauss-Legendre nodes."""

    __slots__ = ("a", "b", "coefficients")

    def __init__(self, a, b, values):
        n = len(values)
        _, weights, table = _rule(n, mpmath.mp.prec)
        self.a, self.b = a, b
        self.coefficients = [
            (2 * m + 1) * mpmath.fsum(w * f * row[m] for w, f, row in zip(weights, values, table)) / 2
            for m in range(n)]

    def _x(self, r):
        return (2 * r - self.a - self.b) / (self.b - self.a)

    def tail(self):
        """An estimate of the interpolation error from the decay of the last coefficients.

        The last pair's size, times the decay rate seen from the pair before it (capped at 1):
        the next, unseen coefficient is about that large when the decay is geometric.
        """
        c = [abs(x) for x in self.coefficients]
        if len(c) < 4:
            return max(c)
        last, before = max(c[-1], c[-2]), max(c[-3], c[-4])
        return last if before == 0 or last >= before else last * last / before

    def __call__(self, r):
        """The interpolant at r in [a, b]."""
        values = _legendre_values(self._x(r), len(self.coefficients))
        return mpmath.fsum(c * v for c, v in zip(self.coefficients, values))

    def integral(self, r=None):
        """The integral of the interpolant from a to r (to b when r is None)."""
        c = self.coefficients
        half = (self.b - self.a) / 2
        if r is None:
            return 2 * half * c[0]
        x = self._x(r)
        values = _legendre_values(x, len(c) + 1)
        total = c[0] * (x + 1)
        for m in range(1, len(c)):
            total += c[m] * (values[m + 1] - values[m - 1]) / (2 * m + 1)
        return half * total
