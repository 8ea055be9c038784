"""Golden-section search for a maximum, written once for mpmath scalars and numpy arrays.

The regret search of :mod:`symmech.verify` (one agent, mpmath) and of :mod:`symmech.fast` (every
agent at once, float64 arrays) run the same iteration; only the choice between two values
differs: ``x if cond else y`` for scalars, ``numpy.where`` for arrays.
"""

__all__ = ["golden_max", "choose"]


def choose(cond, x, y):
    """``x`` where ``cond`` holds, else ``y`` (scalars; numpy.where does this for arrays)."""
    return x if cond else y


def golden_max(f, a, b, ratio, steps, where=choose):
    """(argmax, max) of f on [a, b] by golden-section search: ``steps`` evaluations after two.

    ``ratio`` is (sqrt(5) - 1)/2 at the caller's precision; ``where`` picks per element. The
    interval shrinks by ``ratio`` per step; f is taken to be unimodal on [a, b].

    >>> x, fx = golden_max(lambda t: -(t - 0.3) ** 2, 0.0, 1.0, (5 ** 0.5 - 1) / 2, 40)
    >>> round(x, 6), fx <= 0
    (0.3, True)
    """
    c, d = b - ratio * (b - a), a + ratio * (b - a)
    fc, fd = f(c), f(d)
    for _ in range(steps):
        left = fc >= fd                      # the maximum lies in [a, d]: drop (d, b]
        b = where(left, d, b)
        a = where(left, a, c)
        new_c = where(left, b - ratio * (b - a), d)
        new_d = where(left, c, a + ratio * (b - a))
        fnew = f(where(left, new_c, new_d))
        fc, fd = where(left, fnew, fd), where(left, fc, fnew)
        c, d = new_c, new_d
    take = fc >= fd
    return where(take, c, d), where(take, fc, fd)
