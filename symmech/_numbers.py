"""Exact inputs and mpmath precision: the one module that owns both.

Inputs stay exact (``"1.1"`` is 11/10, a float is the decimal it prints as) until they enter an
mpmath computation, and every mpmath computation runs inside :func:`working_precision`, which
adds guard digits in a scope and never assigns ``mp.dps`` globally.
"""

from contextlib import contextmanager
from fractions import Fraction
import numbers as _abc
import re

import mpmath

__all__ = ["exact", "exact_profile", "decimal_text", "to_mpf", "working_precision", "GUARD_DIGITS",
           "tolerance", "format_number"]

GUARD_DIGITS = 10
_DECIMAL = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$", re.ASCII)
_RATIO = re.compile(r"^[+-]?\d+\s*/\s*[+-]?\d+$", re.ASCII)
_MAX_DIGITS = 400         # an input longer than this is a mistake, not a number to compute with
_MAX_EXPONENT = 400


def exact(value):
    """Return ``value`` as an exact :class:`fractions.Fraction`, or raise ``ValueError``.

    Accepts ints, decimal strings (``"0.12"``, ``"1e-3"``), ratio strings (``"11/10"``),
    Fractions, SymPy Rationals and floats (taken as the decimal they print as).

    >>> exact("1.1"), exact("11/10"), exact(1.1), exact(3)
    (Fraction(11, 10), Fraction(11, 10), Fraction(11, 10), Fraction(3, 1))
    """
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a number")
    if isinstance(value, (int, Fraction)):
        value = Fraction(value)
        if max(abs(value.numerator), value.denominator).bit_length() > 4 * _MAX_DIGITS:
            raise ValueError(f"a number with over {_MAX_DIGITS} digits is too large")
        return value
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"{value!r} is not a finite number")
        return Fraction(repr(value))
    if isinstance(value, str):
        text = value.strip()
        decimal = _DECIMAL.match(text)
        if decimal or _RATIO.match(text):
            if len(text) > _MAX_DIGITS or (decimal and decimal.group(3)
                                           and abs(int(decimal.group(3)[1:])) > _MAX_EXPONENT):
                raise ValueError(f"{text[:20]}... is too large a number (at most {_MAX_DIGITS} "
                                 f"characters and exponents up to {_MAX_EXPONENT})")
            try:
                return Fraction(text.replace(" ", ""))
            except ZeroDivisionError:
                raise ValueError(f"{value!r} divides by zero") from None
        raise ValueError(f"{value!r} is not an exact number (write e.g. 0.12 or 3/25)")
    # SymPy Rational/Integer without importing SymPy here.
    if isinstance(value, _abc.Rational):
        return Fraction(int(value.numerator), int(value.denominator))
    p, q = getattr(value, "p", None), getattr(value, "q", None)
    if isinstance(p, int) and isinstance(q, int) and q != 0:
        return Fraction(p, q)
    raise ValueError(f"{value!r} is not an exact number")


def to_mpf(value):
    """An exact number as an mpf at the current working precision (rounded once)."""
    f = exact(value)
    return mpmath.mpf(f.numerator) / f.denominator


@contextmanager
def working_precision(dps):
    """Run the block at ``dps`` significant digits plus guard digits; restore on exit."""
    with mpmath.workdps(int(dps) + GUARD_DIGITS):
        yield


def tolerance(dps, scale=1):
    """The accuracy promised for a result at ``dps`` digits: 10**-(dps - 5), relative to scale."""
    return mpmath.mpf(10) ** (5 - int(dps)) * (1 + abs(scale))


def format_number(x, dps):
    """A decimal string with ``dps`` significant digits, as in the JSON contract."""
    if isinstance(x, Fraction):
        if x.denominator == 1:
            return str(x.numerator)
        with mpmath.workdps(dps + 5):
            x = mpmath.mpf(x.numerator) / x.denominator
    return mpmath.nstr(x, int(dps), strip_zeros=True, min_fixed=-6, max_fixed=int(dps) + 1)


def decimal_text(x):
    """An exact number as the decimal string a user would write (a ratio if it has none).

    >>> decimal_text(Fraction(3, 25)), decimal_text(Fraction(-1, 8)), decimal_text(Fraction(1, 3))
    ('0.12', '-0.125', '1/3')
    """
    x = Fraction(x)
    d = x.denominator
    twos = fives = 0
    while d % 2 == 0:
        d //= 2
        twos += 1
    while d % 5 == 0:
        d //= 5
        fives += 1
    if d != 1:
        return f"{x.numerator}/{x.denominator}"
    places = max(twos, fives)
    text = f"{x.numerator * 10 ** places // x.denominator}"
    if places == 0:
        return text
    sign = "-" if text.startswith("-") else ""
    digits = text.lstrip("-").rjust(places + 1, "0")
    return sign + (digits[:-places] + "." + digits[-places:]).rstrip("0").rstrip(".")


def exact_profile(signals, agents, sigma):
    """A profile's signals (one per agent, in [0, 1]) and sigma >= 0, exact, with every problem.

    Returns ``(signals, sigma, problems)``; the caller raises one error naming all the problems.
    """
    if isinstance(signals, (str, bytes)) or not hasattr(signals, "__iter__"):
        return (), None, [f"signals must be a list with one number per agent, got {signals!r:.60}"]
    signals = list(signals)
    problems, parsed = [], []
    for k, x in enumerate(signals, start=1):
        try:
            parsed.append(exact(x))
        except (TypeError, ValueError) as err:
            problems.append(f"signal of agent {k}: {err}")
            continue
        if not 0 <= parsed[-1] <= 1:
            problems.append(f"signal of agent {k} is {decimal_text(parsed[-1])}, outside [0, 1]")
    if len(signals) != agents:
        problems.append(f"signals: the economy has {agents} agents but {len(signals)} signals "
                        "were given; give one signal per agent")
    try:
        sigma = exact(sigma)
        if sigma < 0:
            problems.append(f"sigma is {decimal_text(sigma)}; the slope sigma must be >= 0")
    except (TypeError, ValueError) as err:
        problems.append(f"sigma: {err}")
    return tuple(parsed), sigma, problems
