"""An independent high-precision reference for the sigma-WE mechanism, for tests only.

It shares no code with ``symmech.numeric`` or ``symmech.verify``: utilities are compiled here
from their SymPy trees, the equilibrium is the full system

    mu_i(q_i, s) - p - sigma q_i = 0 (all i),   sum_i q_i = 0

solved with ``mpmath.findroot`` (multidimensional Newton) and its residual checked here (at the
hundreds of tanh-sinh nodes, the same system by warm-started Newton steps solved through the
Jacobian's arrow structure), the boundary type is a bracketed root of q_i(r, s_-i) = 0
(Anderson, then bisection until |q_i| is at rounding level), and the IC transfers come from the
ENVELOPE route

    U_i(s_i) = U_i(r_b) + integral_{r_b}^{s_i} du_i/ds_i (q_i(r), (r, s_-i)) dr,
    U_i(r_b) = u_i(q_b, (r_b, s_-i)) - t_b,   t_b = (p(r_b) + sigma q_b) q_b,
    t_i = u_i(q_i, s) - U_i(s_i),

not the eq. 4 route (a price integral over q_i) that the package uses. Everything runs at
``dps + 20`` digits inside ``mpmath.workdps`` scopes.

``quadratic_closed_form`` checks the reference itself: for linear marginal utility it derives
the outcome exactly in SymPy (linsolve for eq. 1, exact integrals for both transfer routes).
"""

from dataclasses import dataclass
from fractions import Fraction

import mpmath
import sympy

from symmech.model import Q, signal_symbols

__all__ = ["Reference", "ReferenceOutcome", "reference_solve", "mpf_of", "ClosedForm",
           "quadratic_closed_form", "relative_error", "COMPARE_DPS"]

EXTRA_DIGITS = 20

_FUNCTIONS = {
    "exp": mpmath.exp, "log": mpmath.log, "sqrt": mpmath.sqrt, "tanh": mpmath.tanh,
    "sinh": mpmath.sinh, "cosh": mpmath.cosh, "atan": mpmath.atan, "sin": mpmath.sin,
    "cos": mpmath.cos, "tan": mpmath.tan, "asinh": mpmath.asinh, "erf": mpmath.erf,
}


def mpf_of(value):
    """An exact number (Fraction, int, str, SymPy Rational) as an mpf at the current precision."""
    if isinstance(value, mpmath.mpf):
        return +value
    if isinstance(value, float):
        raise TypeError("floats never enter the reference; pass an exact number")
    if isinstance(value, sympy.Rational):
        value = Fraction(int(value.p), int(value.q))
    if isinstance(value, str):
        return mpmath.mpf(value)
    value = Fraction(value)
    return mpmath.mpf(value.numerator) / value.denominator


COMPARE_DPS = 150   # comparisons run at this precision, above every dps the tests use


def relative_error(values, expected):
    """max |v - e| / (1 + |e|) over paired sequences (or two scalars), computed at COMPARE_DPS.

    Accepts mpf, Fraction, int, SymPy Rational and decimal strings; never goes through a float.
    """
    if not isinstance(values, (tuple, list)):
        values, expected = (values,), (expected,)
    assert len(values) == len(expected), (len(values), len(expected))
    with mpmath.workdps(COMPARE_DPS):
        pairs = [(mpf_of(v), mpf_of(e)) for v, e in zip(values, expected)]
        return max(abs(v - e) / (1 + abs(e)) for v, e in pairs)


def _compile(expr, variables):
    """A SymPy expression -> a function of a tuple of mpf values (one per variable).

    The expression is turned into Python source with plain mpf arithmetic. Rational constants
    are rounded at the precision in force when called (cached per precision), so no double
    ever enters (the lambdify trap of SymPy issues #8818/#16464 cannot happen here).
    """
    index = {v: k for k, v in enumerate(variables)}
    constants = []

    def const(value):
        constants.append(value)
        return f"_c[{len(constants) - 1}]"

    def emit(e):
        if e.is_Symbol:
            return f"_x[{index[e]}]"
        if e.is_Integer:
            return const(sympy.Integer(e))
        if e.is_Rational:
            return const(sympy.Rational(e))
        if e == sympy.pi or e == sympy.E:
            return const(e)
        if e.is_Add:
            return "(" + " + ".join(emit(a) for a in e.args) + ")"
        if e.is_Mul:
            return "(" + " * ".join(emit(a) for a in e.args) + ")"
        if e.is_Pow:
            if e.exp.is_Integer:
                return f"({emit(e.base)} ** {int(e.exp)})"
            if e.exp == sympy.Rational(1, 2):
                return f"_f['sqrt']({emit(e.base)})"
            return f"_f['power']({emit(e.base)}, {emit(e.exp)})"
        if isinstance(e, sympy.Function):
            name = type(e).__name__.lower()
            if name not in _FUNCTIONS or len(e.args) != 1:
                raise ValueError(f"reference cannot evaluate {e}")
            return f"_f[{name!r}]({emit(e.args[0])})"
        raise ValueError(f"reference cannot evaluate {e!r}")

    body = emit(sympy.sympify(expr))
    code = compile(f"lambda _x, _c, _f: {body}", "<reference>", "eval")
    raw = eval(code, {})   # source built above from a SymPy tree: names are only _x, _c, _f
    cache = {}
    funcs = dict(_FUNCTIONS, power=mpmath.power)

    def evaluate(env):
        prec = mpmath.mp.prec
        if prec not in cache:
            cache[prec] = [_constant(c) for c in constants]
        return raw(env, cache[prec], funcs)

    return evaluate


def _constant(c):
    """A SymPy number as an mpf at the current precision, rounded once."""
    if c == sympy.pi:
        return +mpmath.pi
    if c == sympy.E:
        return +mpmath.e
    return mpmath.mpf(int(c.p)) / int(c.q)


@dataclass(frozen=True)
class ReferenceOutcome:
    """The reference's numbers for one profile (mpf at dps + 20 digits)."""

    price: object
    allocation: tuple
    transfers: tuple
    naive_transfers: tuple
    utilities: tuple
    naive_utilities: tuple
    budget_surplus: object
    pivots: tuple
    walrasian_price: object
    walrasian_allocation: tuple
    walrasian_utilities: tuple
    quadrature_error: object
    dps: int


class Reference:
    """Compiled utilities of one economy and the reference computations on it.

    Methods taking numbers expect to run inside a ``mpmath.workdps`` scope (``solve`` opens one).
    """

    def __init__(self, economy):
        self.economy = economy
        self.n = economy.n
        s = signal_symbols(self.n)
        variables = (Q, *s)
        self._u, self._mu, self._dmu_dq, self._du_dsi = [], [], [], []
        for i, u in enumerate(economy.utilities):
            u = sympy.sympify(u)
            mu = sympy.diff(u, Q)
            self._u.append(_compile(u, variables))
            self._mu.append(_compile(mu, variables))
            self._dmu_dq.append(_compile(sympy.diff(mu, Q), variables))
            self._du_dsi.append(_compile(sympy.diff(u, s[i]), variables))

    # -- primitives -------------------------------------------------------------------------
    def u(self, i, q, s):
        return self._u[i]((q, *s))

    def mu(self, i, q, s):
        return self._mu[i]((q, *s))

    def du_dsi(self, i, q, s):
        return self._du_dsi[i]((q, *s))

    # -- equilibrium --------------------------------------------------------------------------
    def equilibrium(self, s, sigma, guess=None):
        """(q_1..q_N, p) solving the full sigma-WE system by multidimensional Newton."""
        n = self.n
        s = tuple(s)

        def system(*x):
            q, p = x[:n], x[n]
            rows = [self._mu[i]((q[i], *s)) - p - sigma * q[i] for i in range(n)]
            rows.append(mpmath.fsum(q))
            return rows

        def jacobian(*x):
            m = mpmath.zeros(n + 1, n + 1)
            for i in range(n):
                m[i, i] = self._dmu_dq[i]((x[i], *s)) - sigma
                m[i, n] = -1
                m[n, i] = 1
            return m

        if guess is None:
            zero = mpmath.mpf(0)
            guess = [zero] * n + [mpmath.fsum(self.mu(i, zero, s) for i in range(n)) / n]
        x = list(guess)
        bound = mpmath.mpf(10) ** (-mpmath.mp.dps + 4)
        for _ in range(8):   # findroot may stop short: check the residual and go on
            # tol is on the residual (MDNewton's error); a tighter one makes its damping loop
            # halve the step down to nothing at every call
            root = mpmath.findroot(system, x, J=jacobian, tol=bound / 100, maxsteps=60, verify=False)
            x = [root[k] for k in range(n + 1)]
            scale = 1 + max(abs(v) for v in x)
            if max(abs(v) for v in system(*x)) <= bound * scale:
                return tuple(x[:n]), x[n]
        raise ArithmeticError(f"reference equilibrium did not converge at s={s}, sigma={sigma}")

    def newton(self, s, sigma, guess):
        """The same full system by plain Newton steps, for the many quadrature nodes.

        The Jacobian of the system is an arrow (diagonal d_i = dmu_i/dq - sigma, a column of -1,
        a row of 1), so each Newton step is solved exactly by eliminating dq_i; this avoids
        findroot's dense LU, which costs ~30 ms per solve at 50 digits.
        """
        n = self.n
        s = tuple(s)
        q, p = list(guess[:n]), guess[n]
        bound = mpmath.mpf(10) ** (-mpmath.mp.dps + 4)
        for _ in range(60):
            f = [self._mu[i]((q[i], *s)) - p - sigma * q[i] for i in range(n)]
            g = mpmath.fsum(q)
            scale = 1 + max(abs(v) for v in q) + abs(p)
            if max(max(abs(v) for v in f), abs(g)) <= bound * scale:
                return tuple(q), p
            d = [self._dmu_dq[i]((q[i], *s)) - sigma for i in range(n)]
            # d_i dq_i - dp = -f_i and sum dq_i = -g
            dp = (mpmath.fsum(f[i] / d[i] for i in range(n)) - g) / mpmath.fsum(1 / x for x in d)
            q = [q[i] + (dp - f[i]) / d[i] for i in range(n)]
            p = p + dp
        raise ArithmeticError(f"reference Newton did not converge at s={s}, sigma={sigma}")

    def walk(self, i, r, s, sigma):
        """(q tuple, p) at the profile where agent i (0-based) reports r and the others s_-i."""
        profile = list(s)
        profile[i] = r
        return self.equilibrium(profile, sigma)

    def boundary(self, i, s, sigma):
        """Agent i's boundary type r_b: q_i(r_b, s_-i) = 0, or 0 / 1 at the edges."""
        def qi(r):
            return self.walk(i, r, s, sigma)[0][i]

        zero, one = mpmath.mpf(0), mpmath.mpf(1)
        q0, q1 = qi(zero), qi(one)
        if q0 >= 0:
            return zero
        if q1 <= 0:
            return one
        r = mpmath.findroot(qi, (zero, one), solver="anderson", tol=mpmath.eps * 256, maxsteps=100,
                            verify=False)
        # Anderson may stop short; polish with bisection on the bracket until q_i(r) is tiny.
        lo, hi = zero, one
        tiny = mpmath.mpf(10) ** (-mpmath.mp.dps + 4)
        for _ in range(4 * mpmath.mp.prec):
            value = qi(r)
            if abs(value) <= tiny:
                return r
            if value < 0:
                lo = r
            else:
                hi = r
            r = (lo + hi) / 2
        raise ArithmeticError(f"reference boundary type of agent {i + 1} did not converge")

    def envelope_utility(self, i, s, sigma):
        """(U_i(s), quadrature error estimate, r_b) by the envelope integral from r_b to s_i."""
        r_end = s[i]
        r_b = self.boundary(i, s, sigma)
        q_b_all, p_b = self.walk(i, r_b, s, sigma)
        q_b = q_b_all[i]
        t_b = (p_b + sigma * q_b) * q_b
        at_b = list(s)
        at_b[i] = r_b
        u_b = self.u(i, q_b, at_b)

        last = [None]

        def integrand(r):
            profile = list(s)
            profile[i] = r
            if last[0] is None:
                q_all, p = self.equilibrium(profile, sigma)
            else:
                q_all, p = self.newton(profile, sigma, last[0])
            last[0] = [*q_all, p]   # warm start for the next node
            return self.du_dsi(i, q_all[i], profile)

        if r_end == r_b:
            integral, error = mpmath.mpf(0), mpmath.mpf(0)
        else:
            # split at interior points so each tanh-sinh piece is short
            points = [r_b, (r_b + r_end) / 2, r_end]
            integral, error = mpmath.quad(integrand, points, method="tanh-sinh", error=True)
        return u_b - t_b + integral, error, r_b

    def report_utility(self, i, report, s, sigma, kind="ic"):
        """Agent i's utility with true profile s when it reports ``report`` (others truthful)."""
        q_all, p = self.walk(i, report, s, sigma)
        q = q_all[i]
        if kind == "naive":
            t = (p + sigma * q) * q
        else:
            reported = list(s)
            reported[i] = report
            big_u, _, _ = self.envelope_utility(i, reported, sigma)
            t = self.u(i, q, reported) - big_u
        return self.u(i, q, s) - t

    # -- everything at one profile ----------------------------------------------------------
    def solve(self, signals, sigma, dps):
        with mpmath.workdps(dps + EXTRA_DIGITS):
            s = tuple(mpf_of(x) for x in signals)
            sig = mpf_of(sigma)
            q, p = self.equilibrium(s, sig)
            transfers, utilities, pivots, naive_t, naive_u = [], [], [], [], []
            worst = mpmath.mpf(0)
            for i in range(self.n):
                big_u, err, r_b = self.envelope_utility(i, s, sig)
                worst = max(worst, abs(err))
                ui = self.u(i, q[i], s)
                transfers.append(ui - big_u)
                utilities.append(big_u)
                pivots.append(r_b)
                naive_t.append((p + sig * q[i]) * q[i])
                naive_u.append(ui - naive_t[-1])
            if worst > mpmath.mpf(10) ** -(dps + 10):
                raise ArithmeticError(f"reference quadrature error estimate {worst} is too large")
            q_star, p_star = self.equilibrium(s, mpmath.mpf(0))
            w_util = tuple(self.u(i, q_star[i], s) - p_star * q_star[i] for i in range(self.n))
            return ReferenceOutcome(
                price=p, allocation=tuple(q), transfers=tuple(transfers),
                naive_transfers=tuple(naive_t), utilities=tuple(utilities),
                naive_utilities=tuple(naive_u), budget_surplus=mpmath.fsum(transfers),
                pivots=tuple(pivots), walrasian_price=p_star, walrasian_allocation=tuple(q_star),
                walrasian_utilities=w_util, quadrature_error=worst, dps=dps)


_COMPILED = []    # the last few (economy, Reference) pairs: compiling costs SymPy time


def reference_solve(economy, signals, sigma, dps=30):
    """The reference outcome of ``economy`` at ``signals`` (exact), ``sigma`` (exact), ``dps``."""
    for known, solver in _COMPILED:
        if known is economy:
            break
    else:
        solver = Reference(economy)
        _COMPILED.append((economy, solver))
        del _COMPILED[:-8]
    return solver.solve(signals, sigma, dps)


# -- closed forms for economies with linear marginal utility ---------------------------------

@dataclass(frozen=True)
class ClosedForm:
    """Exact (SymPy Rational) outcome of an economy whose mu_i is linear in q."""

    price: object
    allocation: tuple
    transfers: tuple          # envelope route
    transfers_eq4: tuple      # the price-integral route, exact too: must equal ``transfers``
    naive_transfers: tuple
    utilities: tuple
    budget_surplus: object
    pivots: tuple
    walrasian_price: object
    walrasian_allocation: tuple
    walrasian_utilities: tuple


def _linear_equilibrium(economy, sigma):
    """q_i(s), p(s) as exact expressions in the signal symbols, by sympy.linsolve."""
    n = economy.n
    qs = sympy.symbols(f"x_1:{n + 1}", real=True)
    price = sympy.Symbol("price", real=True)
    equations = [sympy.diff(u, Q).subs(Q, qs[i]) - price - sigma * qs[i]
                 for i, u in enumerate(economy.utilities)]
    equations.append(sum(qs))
    (solution,) = sympy.linsolve(equations, [*qs, price])
    return tuple(sympy.expand(x) for x in solution[:n]), sympy.expand(solution[n])


def quadratic_closed_form(economy, signals, sigma):
    """The sigma-WE outcome derived exactly from the model, for linear marginal utility.

    Allocation and price from the linear system (eq. 1); for each agent i with the others fixed
    the boundary type solves the linear equation q_i(r) = 0 (clamped to the edges 0 / 1), and the
    transfer is computed twice: by the envelope integral and by integrating the unit price
    p(r) + sigma q_i(r) against dq_i(r) (both integrands are polynomials in r, so exact).
    """
    n = economy.n
    syms = signal_symbols(n)
    sigma = sympy.Rational(Fraction(sigma).numerator, Fraction(sigma).denominator)
    point = {syms[k]: sympy.Rational(Fraction(v).numerator, Fraction(v).denominator)
             for k, v in enumerate(signals)}
    q_of_s, p_of_s = _linear_equilibrium(economy, sigma)
    r = sympy.Symbol("r", real=True)
    q_now = [x.subs(point) for x in q_of_s]
    p_now = p_of_s.subs(point)
    env_t, eq4_t, naive_t, utilities, pivots = [], [], [], [], []
    for i, u in enumerate(economy.utilities):
        walk = {**point, syms[i]: r}
        q_r, p_r = q_of_s[i].subs(walk), p_of_s.subs(walk)
        if q_r.subs(r, 0) >= 0:
            r_b = sympy.Integer(0)
        elif q_r.subs(r, 1) <= 0:
            r_b = sympy.Integer(1)
        else:
            (r_b,) = sympy.solve(sympy.Eq(q_r, 0), r)
        q_b, p_b = q_r.subs(r, r_b), p_r.subs(r, r_b)
        t_b = (p_b + sigma * q_b) * q_b
        u_b = u.subs({**point, syms[i]: r_b}).subs(Q, q_b)
        slope = sympy.diff(u, syms[i]).subs(walk).subs(Q, q_r)      # du_i/ds_i along the walk
        big_u = u_b - t_b + sympy.integrate(slope, (r, r_b, point[syms[i]]))
        u_now = u.subs(point).subs(Q, q_now[i])
        env_t.append(sympy.simplify(u_now - big_u))
        unit = (p_r + sigma * q_r) * sympy.diff(q_r, r)
        eq4_t.append(sympy.simplify(t_b + sympy.integrate(unit, (r, r_b, point[syms[i]]))))
        naive_t.append((p_now + sigma * q_now[i]) * q_now[i])
        utilities.append(u_now - env_t[-1])
        pivots.append(r_b)
    q_star, p_star = _linear_equilibrium(economy, sympy.Integer(0))
    q_star = tuple(x.subs(point) for x in q_star)
    p_star = p_star.subs(point)
    w_util = tuple(u.subs(point).subs(Q, q_star[i]) - p_star * q_star[i]
                   for i, u in enumerate(economy.utilities))
    return ClosedForm(price=p_now, allocation=tuple(q_now), transfers=tuple(env_t),
                      transfers_eq4=tuple(eq4_t), naive_transfers=tuple(naive_t),
                      utilities=tuple(utilities), budget_surplus=sum(env_t),
                      pivots=tuple(pivots), walrasian_price=p_star,
                      walrasian_allocation=q_star, walrasian_utilities=w_util)
