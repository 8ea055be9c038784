"""Certified results with arb balls (python-flint): assumption constants, price, BS sign.

Where :mod:`symmech.assumptions` samples, this module proves. A SymPy expression is turned into
a function on arb balls by walking its tree (:func:`interval_function`); no float is ever
involved, constants are exact rationals enclosed as ``arb(p)/q``. An interval evaluation over a
box encloses every value the expression takes on the box, so a branch-and-bound search with
adaptive bisection (:func:`enclose_extremum`) gives an interval that provably contains the
true minimum or maximum over the box.

:func:`certify_assumptions` encloses M, c_s, C_s, phi_N, c_q, C_q and c_phi (A1-A4, A3') over
the whole signal cube [0, 1]^N and a quantity range, and says of each assumption "holds for
certain", "fails at this point" (with a witness point where a point evaluation proves the
violation) or "undecided". :func:`certify_price` encloses the sigma-WE price at an exact profile
by sign checks of the excess demand; :func:`certify_budget_sign` gives the exact sign of the
budget surplus for quadratic economies.
"""

from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from functools import lru_cache
import heapq
import itertools
import math
import operator

import flint
from flint import arb, fmpq, fmpz
import mpmath
import sympy

from ._numbers import exact, exact_profile, working_precision
from .errors import ConvergenceError, ModelError, SymmechError
from .model import Q, load_model, signal_symbols

__all__ = ["HOLDS", "FAILS", "UNDECIDED", "arb_precision", "interval_function", "Enclosure",
           "Extremum", "enclose", "enclose_extremum", "CertifiedWitness", "CertifiedRecord",
           "CertifiedReport", "certify_assumptions", "PriceCertificate", "certify_price",
           "BudgetCertificate", "certify_budget_sign"]

HOLDS = "holds for certain"
FAILS = "fails at this point"
UNDECIDED = "undecided"

_PREC = 64            # bits of the arb balls in the assumption search
_BUDGET = 2000        # boxes evaluated per extremum search
_DEPTH = 40           # most halvings of one coordinate
_MAX_VERTICES = 8     # the root box's 2^k vertices are tried as points up to this k
_MVF_DIMS = 3         # the mean value form is used for expressions of at most this many variables
_MAX_DEPTH = 60       # box corners stay exact at the 64-bit working precision
_REL_GAP = 2.0**-40        # relative gap at which a search stops (only decides when)
_Q_ROUNDS = 6         # rounds of the self-consistent q range

_STATEMENTS = {
    "A1": "mu_i(0, s) in [-M, M]",
    "A2": "d mu_i/d s_i in [c_s, C_s], c_s > 0",
    "A3": "|d mu_i/d s_j| <= phi_N < c_s (i != j)",
    "A4": "d mu_i/d q in [c_q, C_q], C_q < 0",
    "A3'": "d mu_i/d s_j >= c_phi phi_N, c_phi > 0 (i != j)",
}


@contextmanager
def arb_precision(bits):
    """Run the block with arb balls of ``bits`` bits; restore python-flint's precision on exit."""
    old = flint.ctx.prec
    flint.ctx.prec = int(bits)
    try:
        yield
    finally:
        flint.ctx.prec = old


# ---- exact numbers and balls -----------------------------------------------------------------

def _arb_fraction(x):
    """An exact arb (a point) as a Fraction; +-inf as float infinities."""
    if not x.is_finite():
        return math.inf if x > 0 else -math.inf
    man, exp = x.mid().man_exp()
    man, exp = int(man), int(exp)
    return Fraction(man * 2**exp) if exp >= 0 else Fraction(man, 2**-exp)


def _lower(ball):
    """The ball's lower end mid - rad, exact at any ambient precision (ball.lower() would round to
    python-flint's current precision); -inf when the ball is not finite (nan or unbounded)."""
    if not ball.is_finite():
        return -math.inf
    return _arb_fraction(ball.mid()) - _arb_fraction(ball.rad())


def _upper(ball):
    if not ball.is_finite():
        return math.inf
    return _arb_fraction(ball.mid()) + _arb_fraction(ball.rad())


def _point(x):
    """A ball holding the exact rational x (a point when x is dyadic and short)."""
    return arb(fmpq(int(x.numerator), int(x.denominator)))


def _interval(lo, hi):
    """A ball that contains [lo, hi]; clipped at 0 so a box in [0, oo) never reaches below 0."""
    if lo == hi:
        return _point(lo)
    mid, rad = (lo + hi) / 2, (hi - lo) / 2
    ball = arb(fmpq(mid.numerator, mid.denominator), fmpq(rad.numerator, rad.denominator))
    if lo >= 0:
        return ball.nonnegative_part()
    if hi <= 0:
        return -(-ball).nonnegative_part()
    return ball


def _to_fraction(x):
    """An mpmath mpf as an exact Fraction."""
    if not mpmath.isfinite(x):        # no mpmath.mpf(x) here: that would round to the ambient precision
        raise SymmechError(f"{x} is not a finite number")
    sign, man, exp, _ = x._mpf_           # mpf.man_exp drops the sign; the raw tuple keeps it
    man, exp = (-1) ** sign * int(man), int(exp)
    return Fraction(man * 2**exp) if exp >= 0 else Fraction(man, 2**-exp)


def _decimal(x, digits=12, rounding="nearest"):
    """x as a short decimal string, rounded down ("floor"), up ("ceiling") or to nearest."""
    if isinstance(x, float):
        return "inf" if x > 0 else "-inf"
    if x == 0:
        return "0"
    shift = digits - 1 - math.floor(math.log10(abs(x.numerator)) - math.log10(x.denominator))
    scaled = x * Fraction(10) ** shift
    whole = {"floor": math.floor, "ceiling": math.ceil}.get(rounding, round)(scaled)
    value = Decimal(f"{int(whole)}E{-shift}")        # from a string: exact, no context rounding
    if not -8 <= value.adjusted() <= 20:
        return format(value, "E")
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


# ---- the expression walker -------------------------------------------------------------------

class _ArbOps:
    """arb balls: rigorous enclosures."""

    name = "arb"
    fold = staticmethod(lambda fs, op: _signed_fold(fs, op))

    @staticmethod
    def rational(p, q):
        return arb(fmpz(p)) / fmpz(q)

    pi = staticmethod(arb.pi)
    e = staticmethod(arb.const_e)

    @staticmethod
    def ipow(x, n):
        """x**n for an integer n >= 2, sharp when the ball straddles 0 (x*x would not be)."""
        if x > 0 or x < 0 or x.rad() == 0:
            return x ** fmpz(n)
        lo, hi = x.lower() ** fmpz(n), x.upper() ** fmpz(n)
        if n % 2:
            return lo.union(hi)
        return arb(0).union(lo).union(hi).nonnegative_part()

    @staticmethod
    def root(x, d):
        """x**(1/d) on x >= 0 (SymPy's real root; below 0 it is not real, so nan)."""
        if d == 2:
            return x.sqrt()
        if x > 0:
            return x.root(d)
        if x >= 0:      # touches 0, where arb's root gives nan: [0, upper**(1/d)]
            return arb(0).union(x.upper().root(d)).nonnegative_part()
        return arb("nan")

    functions = {
        sympy.exp: arb.exp, sympy.log: arb.log, sympy.tanh: arb.tanh, sympy.cosh: arb.cosh,
        sympy.sinh: arb.sinh, sympy.atan: arb.atan, sympy.sin: arb.sin, sympy.cos: arb.cos,
        sympy.tan: arb.tan, sympy.asinh: arb.asinh, sympy.asin: arb.asin, sympy.acos: arb.acos,
        sympy.Abs: lambda x: abs(x).nonnegative_part(),
    }


class _MpOps:
    """mpmath numbers at the working precision: plain values, for the candidate Newton."""

    name = "mpmath"
    fold = staticmethod(lambda fs, op: _fold(fs, op))

    @staticmethod
    def rational(p, q):
        return mpmath.mpf(p) / q

    pi = staticmethod(lambda: +mpmath.pi)
    e = staticmethod(lambda: +mpmath.e)

    @staticmethod
    def ipow(x, n):
        return x**n

    @staticmethod
    def root(x, d):
        if x < 0:
            raise SymmechError(f"a root of {mpmath.nstr(x, 8)} < 0 is not real")
        return mpmath.root(x, d)

    functions = {
        sympy.exp: mpmath.exp, sympy.log: mpmath.log, sympy.tanh: mpmath.tanh,
        sympy.cosh: mpmath.cosh, sympy.sinh: mpmath.sinh, sympy.atan: mpmath.atan,
        sympy.sin: mpmath.sin, sympy.cos: mpmath.cos, sympy.tan: mpmath.tan,
        sympy.asinh: mpmath.asinh, sympy.asin: mpmath.asin, sympy.acos: mpmath.acos,
        sympy.Abs: mpmath.fabs,
    }


def _iv_exp_pair(x):
    from mpmath import iv
    return iv.exp(x), iv.exp(-x)


class _IvOps:
    """mpmath.iv intervals, only to measure arb against (iv has no tanh, cosh, sinh, atan)."""

    name = "mpmath.iv"
    fold = staticmethod(lambda fs, op: _fold(fs, op))

    @staticmethod
    def rational(p, q):
        from mpmath import iv
        return iv.mpf(p) / q

    pi = staticmethod(lambda: mpmath.iv.pi)
    e = staticmethod(lambda: mpmath.iv.e)

    @staticmethod
    def ipow(x, n):
        return x**n

    @staticmethod
    def root(x, d):
        if d != 2:
            raise SymmechError("the mpmath.iv backend only takes square roots")
        return mpmath.iv.sqrt(x)

    functions = {
        sympy.exp: lambda x: mpmath.iv.exp(x), sympy.log: lambda x: mpmath.iv.log(x),
        sympy.sin: lambda x: mpmath.iv.sin(x), sympy.cos: lambda x: mpmath.iv.cos(x),
        sympy.cosh: lambda x: (lambda a, b: (a + b) / 2)(*_iv_exp_pair(x)),
        sympy.sinh: lambda x: (lambda a, b: (a - b) / 2)(*_iv_exp_pair(x)),
        sympy.tanh: lambda x: 1 - 2 / (mpmath.iv.exp(2 * x) + 1),
        sympy.Abs: abs,
    }


_BACKENDS = {"arb": _ArbOps, "mpmath": _MpOps, "mpmath.iv": _IvOps}


def _refuse(expr, why):
    text = str(expr)
    text = text if len(text) <= 80 else text[:77] + "..."
    supported = "+, *, integer and rational powers, exp, log, sqrt, tanh, cosh, sinh, atan, sin, cos, " \
                "tan, asinh, asin, acos, Abs, rationals, pi, E"
    raise SymmechError(f"cannot enclose {text}: {why} (supported: {supported})")


def _build(expr, index, ops):
    """A closure values -> value of ``expr``; ``index`` maps each variable to its position."""
    if expr.is_Symbol:
        if expr not in index:
            _refuse(expr, f"the symbol {expr} is not one of the variables {', '.join(map(str, index))}")
        k = index[expr]
        return lambda v: v[k]
    if expr.is_Rational:
        c = ops.rational(int(expr.p), int(expr.q))
        return lambda v: c
    if expr is sympy.pi:
        c = ops.pi()
        return lambda v: c
    if expr is sympy.E:
        c = ops.e()
        return lambda v: c
    if expr.is_Number:
        _refuse(expr, "a binary float or non-rational number; write it as an exact rational")
    if isinstance(expr, sympy.Add):
        return ops.fold([_build(a, index, ops) for a in expr.args], operator.add)
    if isinstance(expr, sympy.Mul):
        return ops.fold([_build(a, index, ops) for a in expr.args], operator.mul)
    if isinstance(expr, sympy.Pow):
        return _power(expr, index, ops)
    if isinstance(expr, sympy.Function) and expr.func in ops.functions and len(expr.args) == 1:
        f, g = ops.functions[expr.func], _build(expr.args[0], index, ops)
        return lambda v: f(g(v))
    _refuse(expr, f"{type(expr).__name__} is not supported by the {ops.name} walker")


def _signed_fold(fs, op):
    """Like :func:`_fold` on arb balls, but a sum of terms >= 0 (<= 0), or a product whose
    factors all have a proven sign, keeps its sign exactly: mid-rad rounding would otherwise
    let e.g. s/80 on s in [0, 1] dip a hair below 0 and hide that it is >= 0."""
    is_mul = op is operator.mul

    def run(v):
        values = [f(v) for f in fs]
        acc = values[0]
        for x in values[1:]:
            acc = op(acc, x)
        if acc >= 0 or acc <= 0:
            return acc
        sign = _sign_of(values, is_mul)
        if sign > 0:
            return acc.nonnegative_part()
        if sign < 0:
            return -(-acc).nonnegative_part()
        return acc
    return run


def _sign_of(values, is_mul):
    """+1 / -1 when the sum (product) of ``values`` is proven >= 0 / <= 0 from their signs, else 0."""
    if is_mul:
        sign = 1
        for x in values:
            if x <= 0 and not x >= 0:
                sign = -sign
            elif not x >= 0:
                return 0
        return sign
    if all(x >= 0 for x in values):
        return 1
    if all(x <= 0 for x in values):
        return -1
    return 0


def _fold(fs, op):
    if len(fs) == 2:
        f, g = fs
        return lambda v: op(f(v), g(v))
    if len(fs) == 3:
        f, g, h = fs
        return lambda v: op(op(f(v), g(v)), h(v))
    first, rest = fs[0], fs[1:]

    def folded(v):
        acc = first(v)
        for f in rest:
            acc = op(acc, f(v))
        return acc
    return folded


def _power(expr, index, ops):
    base, exponent = expr.args
    if not exponent.is_Rational:
        _refuse(expr, "only integer and rational exponents are enclosed")
    f = _build(base, index, ops)
    n, d = int(exponent.p), int(exponent.q)
    one = ops.rational(1, 1)
    if d == 1:
        m = abs(n)
        if m == 1:
            power = f
        else:
            power = lambda v: ops.ipow(f(v), m)  # noqa: E731
    else:
        root = lambda v: ops.root(f(v), d)  # noqa: E731
        m = abs(n)
        power = root if m == 1 else (lambda v: ops.ipow(root(v), m))
    if n < 0:
        return lambda v: one / power(v)
    return power


@lru_cache(maxsize=4096)
def _compiled(expr, variables, backend, prec):
    """The cached closure of ``expr``; constants are enclosed at ``prec`` bits (arb)."""
    ops = _BACKENDS[backend]
    index = {x: k for k, x in enumerate(variables)}
    with arb_precision(prec):
        return _build(expr, index, ops)


def interval_function(expr, variables, backend="arb", prec=_PREC):
    """``expr`` as a function of a list of values, one per symbol in ``variables``.

    With the default backend ``"arb"`` the values are python-flint arb balls and the result is a
    ball that contains every value of ``expr`` for arguments in the input balls (a nan ball
    when the walker cannot bound it there, e.g. log of a ball reaching 0). Call it inside
    :func:`arb_precision`. ``"mpmath.iv"`` evaluates on mpmath intervals instead, only to
    measure speed; ``"mpmath"`` on plain mpf numbers. Raises :class:`SymmechError` for an
    expression the walker does not know.

    >>> from flint import arb
    >>> x = sympy.Symbol("x")
    >>> f = interval_function(sympy.tanh(x) / 3 + x**2, (x,))
    >>> with arb_precision(64):
    ...     print(f([arb(-1, 1)]).lower() <= 0, f([arb(1)]).overlaps(arb(1) + arb(1).tanh() / 3))
    True True
    """
    if backend not in _BACKENDS:
        raise SymmechError(f"unknown backend {backend!r}; use one of {', '.join(_BACKENDS)}")
    expr = sympy.sympify(expr)
    return _compiled(expr, tuple(variables), backend, int(prec))


# ---- enclosures and extremum search ----------------------------------------------------------

@dataclass(frozen=True)
class Enclosure:
    """An interval [lower, upper] proven to contain a number; ends are exact Fractions (or +-inf)."""

    lower: object
    upper: object

    @property
    def width(self):
        return self.upper - self.lower

    @property
    def finite(self):
        return not (isinstance(self.lower, float) or isinstance(self.upper, float))

    def contains(self, x):
        """Whether x lies in the interval: an exact number, or an mpf (taken at its exact value)."""
        x = _to_fraction(x) if isinstance(x, mpmath.mpf) else exact(x)
        return self.lower <= x <= self.upper

    def to_list(self, digits=17):
        """[lower rounded down, upper rounded up] as decimal strings: still an enclosure."""
        return [_decimal(self.lower, digits, "floor"), _decimal(self.upper, digits, "ceiling")]

    def text(self, digits=8):
        """'[lo, hi]' rounded outward; a narrow interval as 'mid (width w)', mid to 10 digits."""
        if not self.finite or self.lower == self.upper:
            lo, hi = self.to_list(digits)
            return lo if self.lower == self.upper else f"[{lo}, {hi}]"
        mid = (self.lower + self.upper) / 2
        if self.width > abs(mid) * Fraction(1, 10**6) + Fraction(1, 10**30):
            lo, hi = self.to_list(digits)
            return f"[{lo}, {hi}]"
        return f"{_decimal(mid, 10)} (width {_decimal(self.width, 2, 'ceiling')})"

    @staticmethod
    def of_ball(ball):
        return Enclosure(_lower(ball), _upper(ball))


def _hull_max(items):
    return Enclosure(max(e.lower for e in items), max(e.upper for e in items))


def _hull_min(items):
    return Enclosure(min(e.lower for e in items), min(e.upper for e in items))


@dataclass(frozen=True)
class Extremum:
    """An extremum over a box: ``bound`` contains the true min (or max); the point is where the
    inner end of the bound was proven (``value`` encloses the expression there)."""

    kind: str                 # "min" or "max"
    bound: Enclosure
    point: tuple | None       # exact Fractions, one per variable
    value: Enclosure | None
    boxes: int
    settled: bool             # the gap closed below tolerance (else the budget or depth ran out)


def enclose(expr, box, prec=_PREC):
    """An Enclosure of every value of ``expr`` on ``box`` (dict symbol -> (lo, hi)), one evaluation.

    >>> x = sympy.Symbol("x")
    >>> e = enclose(3 * x / 4 - 1, {x: (0, 1)})
    >>> e.contains(-1), e.contains("-0.25"), e.width < 0.75 + 1e-8
    (True, True, True)
    """
    variables = tuple(box)
    fn = interval_function(expr, variables, prec=prec)
    with arb_precision(prec):
        return Enclosure.of_ball(fn([_interval(exact(lo), exact(hi)) for lo, hi in box.values()]))


def enclose_extremum(expr, box, kind="min", budget=_BUDGET, depth=_DEPTH, prec=_PREC):
    """Enclose min (or max) of ``expr`` over ``box`` (dict symbol -> (lo, hi), exact ends).

    Each variable is mapped onto [0, 1] (x = lo + (hi - lo) t, exactly), so every box met has
    dyadic corners and its ball is built without rounding. Then:

    1. monotonicity: where a partial derivative is proven >= 0 (or <= 0) on the whole box,
       the minimum lies on the face t = 0 (or t = 1), so that variable is fixed; repeated until
       no derivative has a proven sign (a linear expression ends as a single point);
    2. branch and bound on the rest: the box with the weakest lower bound is split along its
       widest coordinate until the gap to the best value proven at a point (box midpoints, and
       the vertices when at most 8 variables are left) is below 2^-40 relative, ``budget`` boxes
       were evaluated, or boxes are ``depth`` halvings fine. With at most 3 variables the lower
       bound is the better of the natural interval extension and the mean value form.

    The result's ``bound`` provably contains the true min (max); ``point`` (exact Fractions,
    one per variable of ``box``) is where its inner end was proven, ``value`` encloses the
    expression there.

    >>> x, y = sympy.symbols("x y")
    >>> e = enclose_extremum((x - sympy.Rational(1, 3))**2 + y, {x: (0, 1), y: (0, 1)})
    >>> e.bound.lower <= 0 <= e.bound.upper, e.bound.width < 1e-9, e.point[1]
    (True, True, Fraction(0, 1))
    """
    if kind not in ("min", "max"):
        raise ModelError([f"kind is {kind!r}; use 'min' or 'max'"])
    if not 0 <= int(depth) <= _MAX_DEPTH or int(prec) < _PREC:
        raise ModelError([f"depth must lie in [0, {_MAX_DEPTH}] and prec be >= {_PREC} bits "
                          f"(got depth {depth}, prec {prec})"])
    variables = tuple(box)
    ranges = [(exact(lo), exact(hi)) for lo, hi in box.values()]
    for v, (lo, hi) in zip(variables, ranges):
        if lo > hi:
            raise ModelError([f"the range of {v} is [{lo}, {hi}], which is empty"])
    target = sympy.sympify(expr)
    target = -target if kind == "max" else target
    unit = tuple(sympy.Symbol(f"_t{k}", real=True) for k in range(len(variables)))
    mapping = {v: (t if (lo, hi) == (0, 1) else _rational(lo) + _rational(hi - lo) * t)
               for v, t, (lo, hi) in zip(variables, unit, ranges)}
    scaled = target.xreplace(mapping)
    with arb_precision(prec):
        fixed, reduced = _monotone_faces(scaled, [t for t in unit if t in scaled.free_symbols], prec)
        rest = tuple(t for t in unit if t in reduced.free_symbols)
        fn = interval_function(reduced, rest, prec=prec)
        bound, where, value, boxes, settled = _minimise(fn, len(rest), budget, int(depth),
                                                        _gradient(reduced, rest, prec))
    at = {**fixed, **dict(zip(rest, where))} if where is not None else None
    point = None if at is None else tuple(lo + (hi - lo) * at.get(t, Fraction(1, 2))
                                          for t, (lo, hi) in zip(unit, ranges))
    if kind == "max":
        bound = Enclosure(-bound.upper, -bound.lower)
        value = None if value is None else Enclosure(-value.upper, -value.lower)
    return Extremum(kind, bound, point, value, boxes, settled)


def _rational(x):
    return sympy.Rational(x.numerator, x.denominator)


def _unit_ball(num, level):
    """The ball of [num/2^level, (num+1)/2^level] (within [0, 1], so never below 0)."""
    return arb(fmpq(2 * num + 1, 2 ** (level + 1)), fmpq(1, 2 ** (level + 1))).nonnegative_part()


def _unit_point(num, level):
    """The exact midpoint of that interval, as a ball and as a Fraction."""
    return arb(fmpq(2 * num + 1, 2 ** (level + 1))), Fraction(2 * num + 1, 2 ** (level + 1))


def _monotone_faces(expr, free, prec):
    """(fixed, reduced): variables fixed at 0 or 1 where a derivative has a proven sign on the
    unit box, and ``expr`` with them put in. Sound: if d f/d t >= 0 on the box, the minimum
    over the box is attained on the face t = 0 (and stays there on every face fixed after)."""
    fixed, remaining = {}, list(free)
    while remaining:
        balls = [_unit_ball(0, 0)] * len(remaining)
        found = {}
        for t in remaining:
            try:
                slope = interval_function(sympy.diff(expr, t), tuple(remaining), prec=prec)(balls)
            except SymmechError:
                continue
            if slope >= 0:
                found[t] = 0
            elif slope <= 0:
                found[t] = 1
        if not found:
            break
        fixed.update({t: Fraction(v) for t, v in found.items()})
        expr = expr.xreplace({t: sympy.Integer(v) for t, v in found.items()})
        remaining = [t for t in remaining if t not in found and t in expr.free_symbols]
    return fixed, expr


def _gradient(expr, variables, prec):
    """Closures of the partial derivatives for the mean value form, or None (too many
    variables to pay for, or a derivative the walker cannot enclose, e.g. of Abs)."""
    if not 0 < len(variables) <= _MVF_DIMS:
        return None
    try:
        return [interval_function(sympy.diff(expr, v), variables, prec=prec) for v in variables]
    except SymmechError:
        return None


def _better_lower(a, b):
    """The larger of two lower bounds (arb points or None for 'unbounded')."""
    if a is None:
        return b
    if b is None:
        return a
    return b if b > a else a


def _low_end(ball):
    return ball.lower() if ball.is_finite() else None


def _minimise(fn, k, budget, depth, gradient=None):
    """(Enclosure of min fn over [0, 1]^k, best point, its value, boxes used, settled).

    A box is a tuple of (num, level) per coordinate: [num/2^level, (num+1)/2^level]. Heap keys
    are floats, used only to choose the next box; every bound returned is computed exactly.
    A box's lower bound is the better of the natural interval extension and, with a gradient,
    the mean value form f(m) + grad f(box) . (box - m), whose overestimate shrinks like the
    square of the box width (the natural one only like the width).
    """
    best = {"top": None, "point": None, "ball": None}     # proven upper bound of the min

    def try_point(balls, point, ball=None):
        ball = fn(balls) if ball is None else ball
        if ball.is_finite() and (best["top"] is None or ball.upper() < best["top"]):
            best.update(top=ball.upper(), point=point, ball=ball)

    def evaluate(box, balls, mids):
        """The box's lower bound (None: unbounded); its midpoint is tried as a point too."""
        low = _low_end(fn(balls))
        middle = fn([m for m, _ in mids])
        try_point(None, tuple(f for _, f in mids), middle)
        if gradient is not None:
            value = middle
            for g, (_, level) in zip(gradient, box):
                value += g(balls) * arb(0, fmpq(1, 2 ** (level + 1)))
            low = _better_lower(low, _low_end(value))
        return low

    def key(low):
        return -math.inf if low is None else float(low)

    root = ((0, 0),) * k
    root_balls = [_unit_ball(0, 0)] * k
    root_mids = [_unit_point(0, 0)] * k
    if k <= _MAX_VERTICES:
        for corner in itertools.product((0, 1), repeat=k):
            try_point([arb(c) for c in corner], tuple(Fraction(c) for c in corner))
    counter = itertools.count()
    low = evaluate(root, root_balls, root_mids)
    heap = [(key(low), next(counter), low, root, root_balls, root_mids)]
    finished = []                     # lower bounds of boxes at full depth, never split
    boxes, settled = 1, False
    while heap:
        top = best["top"]
        if top is not None and heap[0][0] >= float(top) - _REL_GAP * (1 + abs(float(top))):
            settled = True
            break
        if boxes >= budget:
            break
        _, _, low, box, balls, mids = heapq.heappop(heap)
        axis = min(range(k), key=lambda a: box[a][1]) if k else None
        if axis is None or box[axis][1] >= depth:
            finished.append(low)
            continue
        num, level = box[axis]
        for half in (2 * num, 2 * num + 1):
            child = box[:axis] + ((half, level + 1),) + box[axis + 1:]
            child_balls = balls[:axis] + [_unit_ball(half, level + 1)] + balls[axis + 1:]
            child_mids = mids[:axis] + [_unit_point(half, level + 1)] + mids[axis + 1:]
            child_low = evaluate(child, child_balls, child_mids)
            heapq.heappush(heap, (key(child_low), next(counter), child_low, child, child_balls, child_mids))
            boxes += 1
    lows = [item[2] for item in heap] + finished
    upper = math.inf if best["top"] is None else _arb_fraction(best["top"])
    if any(x is None for x in lows):
        lower = -math.inf
    else:
        lower = min((_arb_fraction(x) for x in lows), default=upper)
    value = None if best["ball"] is None else Enclosure.of_ball(best["ball"])
    return Enclosure(min(lower, upper), upper), best["point"], value, boxes, settled


# ---- assumption constants ---------------------------------------------------------------------

@dataclass(frozen=True)
class CertifiedWitness:
    """A point where a point evaluation (a ball) proves an assumption broken.

    ``signals`` and ``q`` are exact Fractions; ``value`` encloses ``quantity`` there.
    """

    agent: int
    signals: tuple
    q: Fraction
    value: Enclosure
    quantity: str
    other: int | None = None

    def point_text(self):
        return f"q = {_decimal(self.q)}, s = ({', '.join(_decimal(x) for x in self.signals)})"

    def to_dict(self):
        return {"agent": self.agent, "other": self.other, "quantity": self.quantity,
                "value": self.value.to_list(), "q": str(self.q),
                "signals": [str(x) for x in self.signals]}


@dataclass(frozen=True)
class CertifiedRecord:
    """One assumption: its statement, status (HOLDS, FAILS, UNDECIDED), constants as enclosures.

    ``message`` explains a failure (with the witness) or says which bound is in doubt.
    """

    name: str
    statement: str
    status: str
    constants: tuple
    witness: CertifiedWitness | None = None
    message: str = ""

    @property
    def holds(self):
        return self.status == HOLDS

    def to_dict(self):
        return {"name": self.name, "statement": self.statement, "status": self.status,
                "constants": {k: (v.to_list() if v is not None else None) for k, v in self.constants},
                "witness": self.witness.to_dict() if self.witness else None,
                "message": self.message}


@dataclass(frozen=True)
class CertifiedReport:
    """Rigorous enclosures of the constants of A1-A4 and A3' over s in [0, 1]^N, q in q_range.

    Each constant is an :class:`Enclosure` that provably contains the true extremum:
    ``M`` = max |mu_i(0, s)|; ``c_s``, ``C_s`` = min, max of d mu_i/d s_i; ``phi_N`` = max over
    i != j of |d mu_i/d s_j|; ``varphi_N`` = phi_N + 1/N; ``c_q``, ``C_q`` = min, max of
    d mu_i/d q; ``min_cross`` = min over i != j of d mu_i/d s_j; ``c_phi`` = min_cross/phi_N
    (None when phi_N may be 0). ``records`` holds A1, A2, A3, A4, A3' in that order.
    """

    economy_name: str
    agents: int
    M: Enclosure
    c_s: Enclosure
    C_s: Enclosure
    phi_N: Enclosure
    varphi_N: Enclosure
    c_q: Enclosure
    C_q: Enclosure
    c_phi: Enclosure | None
    min_cross: Enclosure
    records: tuple
    boxes: int
    searches: int
    budget: int
    depth: int
    prec: int
    q_range: tuple
    q_bound_source: str

    @property
    def holds(self):
        """Whether A1-A4 all hold for certain (A3' is reported separately)."""
        return all(r.status == HOLDS for r in self.records if r.name in ("A1", "A2", "A3", "A4"))

    def record(self, name):
        for r in self.records:
            if r.name == name:
                return r
        raise KeyError(name)

    def to_dict(self):
        names = ("M", "c_s", "C_s", "phi_N", "varphi_N", "c_q", "C_q", "c_phi", "min_cross")
        return {"economy": self.economy_name, "agents": self.agents, "method": "arb interval arithmetic",
                "boxes": self.boxes, "searches": self.searches, "budget": self.budget,
                "depth": self.depth, "prec_bits": self.prec,
                "q_range": [str(x) for x in self.q_range], "q_bound_source": self.q_bound_source,
                "holds": self.holds,
                "constants": {k: (getattr(self, k).to_list() if getattr(self, k) is not None else None)
                              for k in names},
                "assumptions": [r.to_dict() for r in self.records]}

    def to_text(self):
        lo, hi = self.q_range
        lines = [f"Assumptions of section 2 for {self.economy_name} (N = {self.agents}), certified",
                 f"arb interval arithmetic ({self.prec} bits) over s in [0, 1]^{self.agents}, "
                 f"q in [{_decimal(lo)}, {_decimal(hi)}] (q bound: {self.q_bound_source});",
                 f"{self.boxes} boxes in {self.searches} searches (budget {self.budget} each, depth "
                 f"{self.depth}). Each constant is an interval that contains its true value.", ""]
        width = max(len(s) for s in _STATEMENTS.values())
        lines.append(f"{'':5}{'statement':{width}}  {'status':19} constants")
        for r in self.records:
            consts = ", ".join(f"{k} in {v.text()}" if v is not None else f"{k} undefined"
                               for k, v in r.constants)
            lines.append(f"{r.name:5}{r.statement:{width}}  {r.status:19} {consts}")
            if r.message:
                lines.append(f"{'':5}{r.message}")
        return "\n".join(lines)


class _Searches:
    """Extremum searches over the cube, cached per expression up to a renaming of the signals
    (every signal ranges over [0, 1], so the extremum does not depend on which ones appear)."""

    def __init__(self, n, q_bound, budget, depth, prec):
        self.signals = signal_symbols(n)
        self.q_bound = q_bound
        self.budget, self.depth, self.prec = budget, depth, prec
        self.cache = {}
        self.boxes = 0

    def run(self, expr, kind, first=()):
        """(Extremum, where) for ``expr`` in q and the signals; where maps the found point back
        to (q, signals) as exact Fractions (absent signals at 0). The signals in ``first`` (the
        agent's own, then the other one of a cross derivative) are renamed first, so that
        agents in the same position of a symmetric economy share one search."""
        present = expr.free_symbols
        free = [s for s in first if s in present]
        free += [s for s in self.signals if s in present and s not in free]
        canon = tuple(sympy.Symbol(f"_x{k}", real=True) for k in range(len(free)))
        key_expr = expr.xreplace(dict(zip(free, canon)))
        uses_q = Q in expr.free_symbols
        variables = ((Q,) if uses_q else ()) + canon
        key = (key_expr, kind)
        if key not in self.cache:
            box = {v: ((-self.q_bound, self.q_bound) if v is Q else (0, 1)) for v in variables}
            found = enclose_extremum(key_expr, box, kind, self.budget, self.depth, self.prec)
            self.boxes += found.boxes
            self.cache[key] = found
        found = self.cache[key]
        return found, self._where(found.point, uses_q, free)

    def _where(self, point, uses_q, free):
        if point is None:
            return None
        values = list(point)
        q = values.pop(0) if uses_q else Fraction(0)
        chosen = dict(zip(free, values))
        return q, tuple(chosen.get(s, Fraction(0)) for s in self.signals)


@dataclass(frozen=True)
class _Found:
    """An extremum of one expression, tagged with its agent(s) and point."""

    bound: Enclosure
    value: Enclosure | None
    where: tuple | None
    agent: int
    other: int | None
    quantity: str


def _family(searches, items, kind):
    """Extrema of each (expr, agent, other, quantity) item."""
    found = []
    signals = searches.signals
    for expr, agent, other, quantity in items:
        first = (signals[agent - 1],) + (() if other is None else (signals[other - 1],))
        ext, where = searches.run(expr, kind, first)
        found.append(_Found(ext.bound, ext.value, where, agent, other, quantity))
    return found


def _witness(found):
    q, signals = found.where
    return CertifiedWitness(found.agent, signals, q, found.value, found.quantity, found.other)


def _items(economy):
    """(expression, agent, other, name) for mu_i(0, s), d mu_i/d s_i, d mu_i/d q, d mu_i/d s_j."""
    mus = economy.marginal_utilities
    s = economy.signals
    n = economy.n
    partials = [_Partials(mu) for mu in mus]
    zero = [(mu.subs(Q, 0), i + 1, None, f"mu_{i + 1}(0, s)") for i, mu in enumerate(mus)]
    own = [(partials[i](s[i]), i + 1, None, f"d mu_{i + 1}/d s_{i + 1}") for i in range(n)]
    dq = [(partials[i](Q), i + 1, None, f"d mu_{i + 1}/d q") for i in range(n)]
    cross = [(partials[i](s[j]), i + 1, j + 1, f"d mu_{i + 1}/d s_{j + 1}")
             for i in range(n) for j in range(n) if i != j]
    return zero, own, dq, cross


class _Partials:
    """d mu/d x term by term: only the terms of the sum mu that contain x are differentiated
    (with N agents, a mean over the signals has N terms and each partial needs one of them)."""

    def __init__(self, mu):
        self.terms = [(term, term.free_symbols) for term in sympy.Add.make_args(mu)]

    def __call__(self, x):
        return sympy.Add(*[sympy.diff(term, x) for term, free in self.terms if x in free])


def _abs_max(max_found, min_found):
    """max |f| from max f and min f: max(max f, -min f), each side an enclosure."""
    neg = Enclosure(-min_found.bound.upper, -min_found.bound.lower)
    return Enclosure(max(max_found.bound.lower, neg.lower), max(max_found.bound.upper, neg.upper))


def _best(found, kind, side):
    """The item whose bound's ``side`` end is extreme (its point proves that end)."""
    pick = min if kind == "min" else max
    return pick(found, key=lambda f: getattr(f.bound, side))


def _a1(zero_max, zero_min):
    m_items = [_abs_max(a, b) for a, b in zip(zero_max, zero_min)]
    big_m = _hull_max(m_items)
    if big_m.upper != math.inf:
        return big_m, CertifiedRecord("A1", _STATEMENTS["A1"], HOLDS, (("M", big_m),))
    message = ("undecided: M's upper bound is not finite (some mu_i(0, s) could not be bounded on a "
               "box: a singularity, or a domain edge the walker cannot see past); raise depth/budget")
    return big_m, CertifiedRecord("A1", _STATEMENTS["A1"], UNDECIDED, (("M", big_m),), None, message)


def _signed(name, enclosure, found, kind, constants, want, quantity_text):
    """A2 / A4 / A3' style verdicts: the extreme ``enclosure`` must be > 0 (want "positive",
    kind "min") or < 0 (want "negative", kind "max")."""
    if want == "positive":
        proven, broken = enclosure.lower > 0, enclosure.upper <= 0
        side, bad = "upper", "<= 0"
    else:
        proven, broken = enclosure.upper < 0, enclosure.lower >= 0
        side, bad = "lower", ">= 0"
    if proven:
        return CertifiedRecord(name, _STATEMENTS[name], HOLDS, constants)
    if broken:
        culprit = _best(found, kind, side)
        w = _witness(culprit)
        message = (f"{name} fails for agent {w.agent}: {w.quantity} in {w.value.text(10)} {bad} at "
                   f"{w.point_text()} (a point evaluation proves it)")
        return CertifiedRecord(name, _STATEMENTS[name], FAILS, constants, w, message)
    which = "lower" if want == "positive" else "upper"
    message = (f"undecided: {quantity_text} lies in {enclosure.text(10)}; its {which} bound is not "
               f"{'> 0' if want == 'positive' else '< 0'} and no point with a value {bad} was found; "
               "raise budget or depth")
    return CertifiedRecord(name, _STATEMENTS[name], UNDECIDED, constants, None, message)


def _a3(phi, c_s, cross_max, cross_min, own_min, varphi):
    constants = (("phi_N", phi), ("c_s", c_s), ("varphi_N", varphi))
    if phi.upper < c_s.lower:
        return CertifiedRecord("A3", _STATEMENTS["A3"], HOLDS, constants)
    if phi.lower >= c_s.upper:
        # |d mu_i/d s_j| at one point >= d mu_k/d s_k at another: both proven by point balls
        top = _best(cross_max, "max", "lower")
        bottom = _best(cross_min, "min", "upper")
        culprit = top if top.bound.lower >= -bottom.bound.upper else bottom
        w = _witness(culprit)
        own = _witness(_best(own_min, "min", "upper"))
        message = (f"A3 fails for agent {w.agent}: {w.quantity} in {w.value.text(10)} at "
                   f"{w.point_text()}, while {own.quantity} in {own.value.text(10)} at {own.point_text()}: "
                   "another agent's signal moves mu_i at least as much as one's own can")
        return CertifiedRecord("A3", _STATEMENTS["A3"], FAILS, constants, w, message)
    message = (f"undecided: phi_N in {phi.text(10)} and c_s in {c_s.text(10)} overlap, so phi_N < c_s "
               "is neither proven nor refuted; raise budget or depth")
    return CertifiedRecord("A3", _STATEMENTS["A3"], UNDECIDED, constants, None, message)


def _quotient(num, den):
    """An enclosure of num/den for den > 0 (exact interval division), else None."""
    if not den.lower > 0 or not (num.finite and den.finite):
        return None
    ends = [a / b for a in (num.lower, num.upper) for b in (den.lower, den.upper)]
    return Enclosure(min(ends), max(ends))


def _round_up(x, digits=3):
    """The smallest decimal with ``digits`` significant digits that is >= x > 0."""
    shift = digits - 1 - math.floor(math.log10(x.numerator) - math.log10(x.denominator))
    scale = Fraction(10) ** shift
    return Fraction(math.ceil(x * scale)) / scale


def _q_range(q_bound, searches_for, big_m, dq_items):
    """(q_bound, source, searches): the bound given, or one grown from 1 until it covers
    2M/|C_q| with M and C_q certified over it.

    Why 2M/|C_q|: at a sigma-WE, mu_i(q_i, s) = p + sigma q_i with p in [-M, M] (p lies between
    min_j and max_j of mu_j(0, s)); for a buyer |C_q| q_i <= mu_i(0, s) - mu_i(q_i, s) <= 2M, and
    likewise for a seller. That needs A4 along [0, q_i], which the range itself certifies.
    """
    if q_bound is not None:
        bound = exact(q_bound)
        if bound <= 0:
            raise ModelError([f"q_bound must be > 0, got {q_bound!r}"])
        return bound, "given", searches_for(bound)
    bound = Fraction(1)
    for _ in range(_Q_ROUNDS):
        searches = searches_for(bound)
        c_q_top = _hull_max([f.bound for f in _family(searches, dq_items, "max")]).upper
        if not (c_q_top < 0 and big_m != math.inf):
            return bound, (f"{_decimal(bound)}, a default: 2M/|C_q| is undefined (C_q < 0 and a finite M "
                           f"are not both proven on [-{_decimal(bound)}, {_decimal(bound)}])"), searches
        need = 2 * big_m / -c_q_top
        if need <= bound:
            return bound, (f"{_decimal(bound)} >= 2M/|C_q| (<= {_decimal(need, 8, 'ceiling')}) with M and C_q "
                           "certified over this range, so every sigma-WE allocation lies inside"), searches
        bound = _round_up(need)
    return bound, (f"{_decimal(bound)}: 2M/|C_q| still grew after {_Q_ROUNDS} rounds; the constants hold "
                   "over this range only"), searches


def certify_assumptions(economy, q_bound=None, depth=_DEPTH, budget=_BUDGET, prec=_PREC):
    """Rigorous enclosures of the constants of A1-A4 and A3', and a certified verdict on each.

    Every constant is an interval that provably contains its true value over s in [0, 1]^N and
    q in [-q_bound, q_bound]. Without ``q_bound`` the range starts at [-1, 1] and grows until it
    covers 2M/|C_q| with M and C_q certified over it (at a sigma-WE p lies in [-M, M] and
    |C_q| |q_i| <= 2M), as the sampled :func:`symmech.check_assumptions` chooses its range.
    Each extremum comes from :func:`enclose_extremum` with ``budget`` boxes and ``depth``
    halvings; expressions equal up to a renaming of the signals are searched once.

    Statuses: ``HOLDS`` ("holds for certain") when the enclosures prove the assumption;
    ``FAILS`` ("fails at this point") when a point evaluation (a ball at an exact point) proves a
    violation, with that point as the witness; ``UNDECIDED`` otherwise, with the bound in doubt.

    Examples
    --------
    Example 1 (alpha = 1, beta = 1/2, mu = 1, N = 6): d mu_i/d s_i = 13/12, d mu_i/d q = -1.

    >>> from fractions import Fraction
    >>> report = certify_assumptions("example1")
    >>> report.c_s.contains(Fraction(13, 12)), report.c_s.width < 1e-15, report.C_q.contains(-1)
    (True, True, True)
    >>> [r.status for r in report.records][:2], report.holds
    (['holds for certain', 'holds for certain'], True)
    """
    economy = load_model(economy)
    zero, own, dq, cross = _items(economy)

    made = []

    def searches_for(bound):
        made.append(_Searches(economy.n, bound, budget, depth, prec))
        return made[-1]

    base = searches_for(Fraction(1))          # mu_i(0, s) does not involve q
    zero_max, zero_min = _family(base, zero, "max"), _family(base, zero, "min")
    big_m, a1 = _a1(zero_max, zero_min)
    bound, source, searches = _q_range(q_bound, searches_for, big_m.upper, dq)
    own_min, own_max = _family(searches, own, "min"), _family(searches, own, "max")
    dq_min, dq_max = _family(searches, dq, "min"), _family(searches, dq, "max")
    cross_min, cross_max = _family(searches, cross, "min"), _family(searches, cross, "max")

    c_s, C_s = _hull_min([f.bound for f in own_min]), _hull_max([f.bound for f in own_max])
    c_q, C_q = _hull_min([f.bound for f in dq_min]), _hull_max([f.bound for f in dq_max])
    phi = _hull_max([_abs_max(a, b) for a, b in zip(cross_max, cross_min)])
    min_cross = _hull_min([f.bound for f in cross_min])
    third = Fraction(1, economy.n)
    varphi = Enclosure(phi.lower + third, phi.upper + third)
    c_phi = _quotient(min_cross, phi)

    a2 = _signed("A2", c_s, own_min, "min", (("c_s", c_s), ("C_s", C_s)), "positive", "c_s")
    a3 = _a3(phi, c_s, cross_max, cross_min, own_min, varphi)
    a4 = _signed("A4", C_q, dq_max, "max", (("c_q", c_q), ("C_q", C_q)), "negative", "C_q")
    a3p = _signed("A3'", min_cross, cross_min, "min", (("c_phi", c_phi), ("min d mu_i/d s_j", min_cross)),
                  "positive", "min d mu_i/d s_j")
    return CertifiedReport(
        economy_name=economy.name, agents=economy.n, M=big_m, c_s=c_s, C_s=C_s, phi_N=phi,
        varphi_N=varphi, c_q=c_q, C_q=C_q, c_phi=c_phi, min_cross=min_cross,
        records=(a1, a2, a3, a4, a3p), boxes=sum(m.boxes for m in made),
        searches=sum(len(m.cache) for m in made), budget=budget, depth=depth, prec=prec,
        q_range=(-bound, bound), q_bound_source=source)


# ---- inputs at one profile --------------------------------------------------------------------

def _profile_inputs(economy, signals, sigma):
    """Exact signals (in [0, 1], one per agent) and sigma >= 0; one ModelError naming every problem."""
    signals, sigma, problems = exact_profile(signals, economy.n, sigma)
    if problems:
        raise ModelError(problems)
    return signals, sigma


def _at_profile(economy, signals):
    """Each mu_j(q, s) and d mu_j/d q with the exact profile put in: expressions in q alone."""
    point = {sk: sympy.Rational(x.numerator, x.denominator) for sk, x in zip(economy.signals, signals)}
    mus = [mu.xreplace(point) for mu in economy.marginal_utilities]
    return mus, [sympy.diff(mu, Q) for mu in mus]


# ---- the price: a candidate by Newton, certified by sign checks --------------------------------

def _own_root(mu, slope, p, sigma, start, tol):
    """The root of the decreasing g(q) = mu(q) - p - sigma q (mpmath): bracket, then Newton
    kept inside the bracket (a bisection step whenever Newton would leave it)."""
    g = lambda x: mu([x]) - p - sigma * x  # noqa: E731
    a, b, step = start - 1, start + 1, mpmath.mpf(1)
    for _ in range(400):
        if g(a) > 0:
            break
        a, step = a - step, 2 * step
    else:
        raise ConvergenceError(f"no q with mu(q) > p + sigma q below {mpmath.nstr(a, 6)} (A4 broken?)")
    step = mpmath.mpf(1)
    for _ in range(400):
        if g(b) < 0:
            break
        b, step = b + step, 2 * step
    else:
        raise ConvergenceError(f"no q with mu(q) < p + sigma q above {mpmath.nstr(b, 6)} (A4 broken?)")
    x = min(max(start, a), b)
    for _ in range(400):
        gx = g(x)
        if gx == 0:
            return x
        a, b = (x, b) if gx > 0 else (a, x)
        d = slope([x]) - sigma
        nx = x - gx / d if d < 0 else (a + b) / 2
        if not a < nx < b:
            nx = (a + b) / 2
        if abs(nx - x) <= tol * (1 + abs(x)) or b - a <= tol * (1 + abs(x)):
            return nx
        x = nx
    raise ConvergenceError(f"the root of mu(q) = p + sigma q did not settle (bracket [{mpmath.nstr(a, 8)}, "
                           f"{mpmath.nstr(b, 8)}])")


def _candidate(mus, slopes, sigma, tol):
    """A sigma-WE price by a safeguarded Newton on the excess demand Z(p) = sum_j q_j(p), which
    falls from >= 0 at min_j mu_j(0) to <= 0 at max_j mu_j(0); returns (p, q, slopes at q)."""
    zero = [mpmath.mpf(0)]
    at_zero = [mu(zero) for mu in mus]
    a, b = min(at_zero), max(at_zero)
    q = [mpmath.mpf(0)] * len(mus)

    def excess(p):
        nonlocal q
        q = [_own_root(mu, dmu, p, sigma, x, tol) for mu, dmu, x in zip(mus, slopes, q)]
        return mpmath.fsum(q)

    p = (a + b) / 2
    for _ in range(400):
        if b - a <= tol * (1 + abs(p)):
            break
        z = excess(p)
        if z == 0:
            break
        a, b = (p, b) if z > 0 else (a, p)
        dz = mpmath.fsum(1 / (dmu([x]) - sigma) for dmu, x in zip(slopes, q))
        np_ = p - z / dz if dz < 0 else (a + b) / 2
        if not a < np_ < b:
            np_ = (a + b) / 2
        done = abs(np_ - p) <= tol * (1 + abs(p))
        p = np_
        if done:
            break
    excess(p)
    return p, q, [dmu([x]) for dmu, x in zip(slopes, q)]


@dataclass(frozen=True)
class PriceCertificate:
    """A certified enclosure of the sigma-WE price at an exact profile.

    With ``status`` HOLDS the price provably lies in [``lower``, ``upper``] = candidate -+ delta:
    the excess demand is proven > 0 at ``lower`` and < 0 at ``upper`` (``excess_at_lower``,
    ``excess_at_upper`` enclose it), each q_j(p) there being bracketed by sign checks of
    g_j(q) = mu_j(q, s) - p - sigma q; ``allocation`` encloses each q_j at the price. Sound under
    A4 (mu_j decreasing in q, which makes q_j(p) and the price unique); the bracket's own slope
    is checked. Otherwise ``status`` is UNDECIDED and ``message`` says which check failed.
    """

    economy_name: str
    signals: tuple
    sigma: Fraction
    delta: Fraction
    status: str
    candidate: Fraction
    lower: Fraction
    upper: Fraction
    allocation: tuple
    excess_at_lower: Enclosure | None
    excess_at_upper: Enclosure | None
    dps: int
    prec: int
    message: str = ""

    @property
    def enclosure(self):
        return Enclosure(self.lower, self.upper)

    def contains(self, price):
        return self.enclosure.contains(price)

    def to_dict(self):
        return {"economy": self.economy_name, "signals": [str(x) for x in self.signals],
                "sigma": str(self.sigma), "delta": str(self.delta), "status": self.status,
                "price": self.enclosure.to_list(30), "candidate": _decimal(self.candidate, 30),
                "allocation": [e.to_list(20) for e in self.allocation],
                "excess_at_lower": self.excess_at_lower.to_list() if self.excess_at_lower else None,
                "excess_at_upper": self.excess_at_upper.to_list() if self.excess_at_upper else None,
                "dps": self.dps, "prec_bits": self.prec, "message": self.message}

    def to_text(self):
        lo, hi = self.enclosure.to_list(30)
        lines = [f"sigma-WE price of {self.economy_name} at s = ({', '.join(_decimal(x) for x in self.signals)}), "
                 f"sigma = {_decimal(self.sigma)}: {self.status}",
                 f"price in [{lo}, {hi}] (candidate -+ delta, delta = {_decimal(self.delta)}; "
                 f"Newton at {self.dps} digits, arb at {self.prec} bits)"]
        if self.message:
            lines.append(self.message)
        return "\n".join(lines)


def _bracket_roots(arb_mus, mp_mus, mp_slopes, price, sigma, eps, start, tol):
    """For each agent, exact [a_j, b_j] with g_j(a_j) > 0 > g_j(b_j) proven by arb, or the agent
    (from 1) whose check failed."""
    pb, sb = _point(price), _point(sigma)
    p_mp = mpmath.mpf(price.numerator) / price.denominator
    s_mp = mpmath.mpf(sigma.numerator) / sigma.denominator
    brackets = []
    for j, (f, mu, dmu, x0) in enumerate(zip(arb_mus, mp_mus, mp_slopes, start), start=1):
        root = _to_fraction(_own_root(mu, dmu, p_mp, s_mp, x0, tol))
        a, b = root - eps, root + eps
        ga = f([_point(a)]) - pb - sb * _point(a)
        gb = f([_point(b)]) - pb - sb * _point(b)
        if not (ga > 0 and gb < 0):
            return None, j
        brackets.append((a, b))
    return brackets, None


def certify_price(economy, signals, sigma, delta="1e-20", dps=None):
    """A certified enclosure [p - delta, p + delta] of the sigma-WE price at an exact profile.

    The candidate p comes from a safeguarded Newton in mpmath. The excess demand
    Z(P) = sum_j q_j(P) falls in P, and q_j(P) is the root of the decreasing
    g_j(q) = mu_j(q, s) - P - sigma q; so arb sign checks g_j(a_j) > 0 > g_j(b_j) bracket each
    q_j(P) in [a_j, b_j], and sum_j a_j > 0 at P = p - delta, sum_j b_j < 0 at P = p + delta prove
    the price lies between. Returns a :class:`PriceCertificate`.

    >>> cert = certify_price("example1", ["0.1", "0.2", "0.3", "0.4", "0.5", "0.6"], "0.1")
    >>> cert.status, cert.contains("0.525")     # (alpha + beta) * mean(s) = 1.5 * 0.35
    ('holds for certain', True)
    """
    economy = load_model(economy)
    s, sigma = _profile_inputs(economy, signals, sigma)
    try:
        delta = exact(delta)
    except (TypeError, ValueError) as err:
        raise ModelError([f"delta: {err}"]) from None
    if delta <= 0:
        raise ModelError([f"delta is {delta}; the half-width delta must be > 0"])
    need = math.ceil(-math.log10(delta)) if delta < 1 else 0
    dps = max(30, need + 20) if dps is None else int(dps)
    prec = int(dps * 3.33) + 32
    mus, slopes = _at_profile(economy, s)
    with working_precision(dps):
        tol = mpmath.mpf(10) ** (-dps - 5)
        mp_mus = [interval_function(m, (Q,), backend="mpmath", prec=mpmath.mp.prec) for m in mus]
        mp_slopes = [interval_function(m, (Q,), backend="mpmath", prec=mpmath.mp.prec) for m in slopes]
        sigma_mp = mpmath.mpf(sigma.numerator) / sigma.denominator
        price, q, dq = _candidate(mp_mus, mp_slopes, sigma_mp, tol)
        candidate = _to_fraction(price)
        # each q_j moves by delta / |mu_j' - sigma| when p moves by delta; brackets a quarter of the
        # smallest such move keep sum_j a_j > 0 (and sum_j b_j < 0) with room to spare
        weight = min(1 / abs(x - sigma_mp) for x in dq)
        eps = delta * _to_fraction(weight) / 4
        lower, upper = candidate - delta, candidate + delta
        arb_mus = [interval_function(m, (Q,), prec=prec) for m in mus]
        arb_slopes = [interval_function(m, (Q,), prec=prec) for m in slopes]
        with arb_precision(prec):
            low, bad_low = _bracket_roots(arb_mus, mp_mus, mp_slopes, lower, sigma, eps, q, tol)
            high, bad_high = _bracket_roots(arb_mus, mp_mus, mp_slopes, upper, sigma, eps, q, tol)
            slope_ok = low is not None and high is not None and all(
                f([_interval(hb[0], lb[1])]) - _point(sigma) < 0
                for f, lb, hb in zip(arb_slopes, low, high))

    def result(status, message, allocation=(), at_low=None, at_high=None):
        return PriceCertificate(economy.name, s, sigma, delta, status, candidate, lower, upper,
                                tuple(allocation), at_low, at_high, dps, prec, message)

    if low is None or high is None:
        agent, where = (bad_low, "p - delta") if low is None else (bad_high, "p + delta")
        return result(UNDECIDED, f"undecided: agent {agent}'s quantity at {where} could not be bracketed "
                                 "by sign checks; try a larger delta or dps")
    at_low = Enclosure(sum(a for a, _ in low), sum(b for _, b in low))
    at_high = Enclosure(sum(a for a, _ in high), sum(b for _, b in high))
    allocation = [Enclosure(hb[0], lb[1]) for lb, hb in zip(low, high)]
    if not slope_ok:
        return result(UNDECIDED, "undecided: d mu_j/d q - sigma < 0 could not be proven on the brackets",
                      allocation, at_low, at_high)
    if at_low.lower > 0 and at_high.upper < 0:
        return result(HOLDS, "", allocation, at_low, at_high)
    return result(UNDECIDED, f"undecided: excess demand at p - delta in {at_low.text()}, at p + delta in "
                             f"{at_high.text()}; the signs are not proven; try a larger delta",
                  allocation, at_low, at_high)


# ---- the budget surplus sign, exactly, for quadratic economies ---------------------------------

@dataclass(frozen=True)
class BudgetCertificate:
    """The sign of the budget surplus sum_i t_i (IC transfers, eq. 4 + 7) at an exact profile.

    ``status``: HOLDS when BS >= 0 is proven, FAILS when BS < 0 is proven (the profile is the
    witness), UNDECIDED when it could not be decided (``message`` says why). For quadratic
    economies every number is exact: ``value`` (the surplus), ``price``, ``allocation``,
    ``transfers`` and ``boundary_types`` (each agent's r_b) are Fractions.
    """

    economy_name: str
    signals: tuple
    sigma: Fraction
    status: str
    sign: int | None
    value: Fraction | None
    price: Fraction | None
    allocation: tuple
    transfers: tuple
    boundary_types: tuple
    method: str
    message: str = ""

    def to_dict(self):
        text = lambda x: None if x is None else str(x)  # noqa: E731
        return {"economy": self.economy_name, "signals": [str(x) for x in self.signals],
                "sigma": str(self.sigma), "status": self.status, "sign": self.sign,
                "budget_surplus": text(self.value), "price": text(self.price),
                "allocation": [str(x) for x in self.allocation],
                "transfers": [str(x) for x in self.transfers],
                "boundary_types": [str(x) for x in self.boundary_types],
                "method": self.method, "message": self.message}

    def to_text(self):
        head = (f"budget surplus of {self.economy_name} at s = ({', '.join(_decimal(x) for x in self.signals)}), "
                f"sigma = {_decimal(self.sigma)}: BS >= 0 {self.status}")
        lines = [head]
        if self.value is not None:
            lines.append(f"BS = {self.value} = {_decimal(self.value, 20)} (sign {self.sign:+d}; {self.method})")
        if self.message:
            lines.append(self.message)
        return "\n".join(lines)


def _linear_form(economy):
    """(intercepts a_i, signal weights B[i][k], curvatures m_i) of mu_i = a_i + B_i . s - m_i q
    as Fractions, or (None, reason) when some mu_i is not of that form."""
    symbols = (Q, *economy.signals)
    rows = []
    for i, mu in enumerate(economy.marginal_utilities, start=1):
        try:
            poly = sympy.Poly(mu, *symbols)
        except sympy.PolynomialError:
            return None, f"mu_{i} is not a polynomial in q and s, so the economy is not quadratic"
        if poly.total_degree() > 1:
            return None, f"mu_{i} has degree {poly.total_degree()} in (q, s), so the economy is not quadratic"
        coeffs = [poly.coeff_monomial(1), *(poly.coeff_monomial(x) for x in symbols)]
        if not all(c.is_Rational for c in coeffs):
            return None, f"mu_{i} has a coefficient that is not rational"
        a, m, *b = [Fraction(int(c.p), int(c.q)) for c in coeffs]
        rows.append((a, tuple(b), -m))
    return rows, None


def certify_budget_sign(economy, signals, sigma):
    """The exact sign of the budget surplus (IC transfers, eq. 4 + 7) at an exact profile.

    For a quadratic economy, mu_i = a_i + B_i . s - m_i q, the sigma-WE is linear in s:
    q_i = (a_i + B_i . s - p)/(m_i + sigma) and sum_i q_i = 0 give
    p = [sum_i (a_i + B_i . s)/(m_i + sigma)] / [sum_i 1/(m_i + sigma)]. Along agent i's own
    report r, q_i(r) = A + D r and p(r) = P0 + P1 r, so the boundary type r_b (the root of
    q_i(r) = 0 in [0, 1], else 0 when q_i(0) > 0, else 1) and
    t_i = [p(r_b) + sigma q_i(r_b)] q_i(r_b) + int_{r_b}^{s_i} [p(r) + sigma q_i(r)] D dr
    are exact rationals. Other economies get UNDECIDED: rigorous quadrature over the implicit
    equilibrium is not done here.

    >>> cert = certify_budget_sign("example1", ["0.1", "0.2", "0.3", "0.4", "0.5", "0.6"], 0)
    >>> cert.status, cert.sign      # Corollary 1: at sigma = 0 the IC/IR mechanism runs a deficit
    ('fails at this point', -1)
    """
    economy = load_model(economy)
    s, sigma = _profile_inputs(economy, signals, sigma)
    rows, reason = _linear_form(economy)

    def undecided(why, method="none"):
        return BudgetCertificate(economy.name, s, sigma, UNDECIDED, None, None, None, (), (), (), method,
                                 f"undecided: {why}")

    if rows is None:
        return undecided(f"{reason}; the exact route needs marginal utilities linear in q and s "
                         "(a rigorous quadrature over the implicit equilibrium is not implemented)")
    for i, (_, _, m) in enumerate(rows, start=1):
        if m + sigma <= 0:
            return undecided(f"d mu_{i}/d q - sigma = {-m - sigma} >= 0 (A4 fails), so the sigma-WE is not "
                             "the unique solution of a linear system")
    method = "exact rational arithmetic (sigma-WE linear in s; eq. 4 + 7 integrated in closed form)"
    n = economy.n
    c = [m + sigma for _, _, m in rows]
    w_sum = sum(1 / x for x in c)
    p0 = sum(a / x for (a, _, _), x in zip(rows, c)) / w_sum
    pi = [sum(b[k] / x for (_, b, _), x in zip(rows, c)) / w_sum for k in range(n)]

    def price(profile):
        return p0 + sum(w * x for w, x in zip(pi, profile))

    def quantity(i, profile):
        a, b, _ = rows[i]
        return (a + sum(w * x for w, x in zip(b, profile)) - price(profile)) / c[i]

    transfers, types = [], []
    for i in range(n):
        at_zero = s[:i] + (Fraction(0),) + s[i + 1:]
        base_q, base_p = quantity(i, at_zero), price(at_zero)
        slope_q, slope_p = (rows[i][1][i] - pi[i]) / c[i], pi[i]
        if slope_q < 0:
            return undecided(f"agent {i + 1}'s quantity falls in its own report (d q_{i + 1}/d s_{i + 1} = "
                             f"{slope_q} < 0; A2/A3 fail), so eq. 4 is not the IC transfer", method)
        if slope_q == 0:
            r_b = Fraction(0) if base_q > 0 else (Fraction(1) if base_q < 0 else s[i])
        else:
            root = -base_q / slope_q
            r_b = min(max(root, Fraction(0)), Fraction(1))
        q_b = base_q + slope_q * r_b
        t_b = (base_p + slope_p * r_b + sigma * q_b) * q_b
        level, rise = base_p + sigma * base_q, slope_p + sigma * slope_q

        def antiderivative(r):
            return slope_q * (level * r + rise * r * r / 2)

        transfers.append(t_b + antiderivative(s[i]) - antiderivative(r_b))
        types.append(r_b)
    value = sum(transfers)
    sign = (value > 0) - (value < 0)
    status = HOLDS if value >= 0 else FAILS
    message = "" if value >= 0 else f"BS = {_decimal(value, 12)} < 0 at this profile (exact)"
    return BudgetCertificate(economy.name, s, sigma, status, sign, value, price(s),
                             tuple(quantity(i, s) for i in range(n)), tuple(transfers), tuple(types),
                             method, message)
