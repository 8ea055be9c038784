"""The sigma-WE mechanism for any utility, at any precision (eq. 1, Lemma 1, Lemma 2, eq. 4 + 7).

Everything here runs on mpmath numbers at the caller's working precision (see
``symmech._numbers.working_precision``); SymPy is used only to differentiate the utilities and
turn them into mpmath functions once per economy. An economy with templates
(:mod:`symmech.structure`, every model file) is evaluated through them: its aggregates once per
profile, each agent's mu, d mu/dq and d mu/d s_i in O(1), so a profile costs O(N); an economy
given as expanded expressions is compiled as a whole.

Two solvers find the sigma-WE at a profile: a joint Newton iteration on (q_1, ..., q_N, p), fast
from a warm start, and a bracketed fallback (the price lies between min and max of mu_i(0, s)
and excess demand falls in p; each q_i(p) is the root of a decreasing function). Along one
agent's own report the equilibrium is computed once at Gauss-Legendre nodes of a few panels
(:class:`Schedule`), each node warm-started by Hermite extrapolation from the previous ones: the
transfer of eq. 4, the allocation and the per-unit price at any report then come from Legendre
series on those panels. :mod:`symmech.fast` runs the same algorithm in float64.
"""

from dataclasses import dataclass
from functools import lru_cache

import mpmath
import sympy

from ._quadrature import Series, _rule, gauss_legendre
from .errors import AssumptionError, ConvergenceError
from .model import Q
from .structure import BODY, OWN, derivatives

__all__ = ["Market", "Equilibrium", "Schedule", "sweep"]

_MAX_NEWTON = 40
_HISTORY = 3                # nodes the warm-start extrapolation uses
_MAX_BRACKET = 400
_MAX_SPLITS = 10


@dataclass(frozen=True)
class Equilibrium:
    """A sigma-WE at one profile: price, allocation and how it was found."""

    price: object
    allocation: tuple
    slopes: tuple          # d mu_j / d q at the allocation
    iterations: int
    residual: object       # the largest FOC residual or |sum q|, whichever is larger
    method: str


class Market:
    """One economy's utilities as mpmath functions, and the sigma-WE solvers.

    >>> import symmech, mpmath
    >>> from symmech._numbers import working_precision
    >>> market = Market(symmech.load_model("example1"))
    >>> with working_precision(20):
    ...     eq = market.equilibrium([mpmath.mpf(k) / 10 for k in range(1, 7)], mpmath.mpf(0))
    ...     print(mpmath.nstr(eq.price, 15))      # (alpha + beta) * mean(s) = 1.5 * 0.35
    0.525
    """

    def __init__(self, economy):
        self.economy = economy
        self.n = economy.n
        if economy.structure is not None:
            self._evaluator = _StructuredEvaluator(economy.structure)
        else:
            self._evaluator = _ExpandedEvaluator(economy)

    def _foc(self, q, s):
        return self._evaluator.foc(q, s)

    def _agent_foc(self, j, x, s):
        return self._evaluator.agent_foc(j, x, s)

    # -- the equilibrium -------------------------------------------------------------------
    def equilibrium(self, s, sigma, start=None):
        """The sigma-WE at profile ``s`` (mpf list): joint Newton from ``start`` or a bracket."""
        if start is not None:
            found = self._joint_newton(s, sigma, start.price, list(start.allocation))
            if found is not None:
                return found
        price, allocation, used = self._bracketed(s, sigma)
        found = self._joint_newton(s, sigma, price, allocation, used)
        if found is None:
            raise ConvergenceError(
                f"the sigma-WE at s = {_show(s)} did not converge at {mpmath.mp.dps} digits "
                "(Newton from the bracketed price kept moving); try a higher --dps",
                partial={"price": price, "allocation": allocation})
        return found

    def _slopes(self, q, s, sigma):
        mu, slope = self._foc(q, s)
        for j, a in enumerate(slope):
            if not a - sigma < 0:
                raise AssumptionError(
                    f"A4 fails for agent {j + 1}: d mu_{j + 1}/d q = {mpmath.nstr(a, 6)} >= 0 at "
                    f"q = {mpmath.nstr(q[j], 6)}, s = {_show(s)}; marginal utility must decrease in q",
                    assumption="A4", agent=j + 1, witness={"q": q[j], "s": list(s)})
        return mu, slope

    def _joint_newton(self, s, sigma, price, q, used=0):
        """Newton on mu_j(q_j, s) = p + sigma q_j, sum q_j = 0; None if it does not settle."""
        tol = mpmath.eps * 2 ** 20
        root = mpmath.sqrt(tol) / 1000
        first = previous = None
        for it in range(1, _MAX_NEWTON + 1):
            mu, slope = self._slopes(q, s, sigma)
            inverse = [1 / (a - sigma) for a in slope]          # negative by A4
            residual = [m - price - sigma * x for m, x in zip(mu, q)]
            size = max(max(abs(r) for r in residual), abs(mpmath.fsum(q)))
            first = size if first is None else first
            if size > 1000 * first + 1 or not mpmath.isfinite(size):
                return None
            dp = (mpmath.fsum(r * w for r, w in zip(residual, inverse)) - mpmath.fsum(q)) / mpmath.fsum(inverse)
            dq = [(dp - r) * w for r, w in zip(residual, inverse)]
            price += dp
            q = [x + d for x, d in zip(q, dq)]
            step = max(abs(dp) / (1 + abs(price)), max(abs(d) for d in dq) / (1 + max(abs(x) for x in q)))
            # Quadratic convergence: once a step is below sqrt(tol) and has squared the one
            # before, the iterate's error is about step**2, below tol.
            if step <= tol or (step <= root and previous is not None and step <= previous ** 1.5):
                mu, slope = self._slopes(q, s, sigma)
                residual = max(max(abs(m - price - sigma * x) for m, x in zip(mu, q)), abs(mpmath.fsum(q)))
                return Equilibrium(price, tuple(q), tuple(slope), used + it, residual,
                                   "joint Newton" if not used else "bracketed + joint Newton")
            previous = step
        return None

    def _bracketed(self, s, sigma):
        """A price to about 12 digits by safeguarded Newton on excess demand (falls in p)."""
        zero = [self._agent_foc(j, mpmath.mpf(0), s)[0] for j in range(self.n)]
        for j, value in enumerate(zero):
            if not (isinstance(value, mpmath.mpf) or isinstance(value, int)) or not mpmath.isfinite(value):
                raise AssumptionError(
                    f"A1 fails for agent {j + 1}: mu_{j + 1}(0, s) = {mpmath.nstr(value, 6)} at s = {_show(s)}; "
                    "marginal utility must be finite and real there (check the formula)",
                    assumption="A1", agent=j + 1, witness={"q": mpmath.mpf(0), "s": list(s)})
        low, high = min(zero), max(zero)
        q = [mpmath.mpf(0)] * self.n
        if low == high:
            return low, q, 0
        price = (low + high) / 2
        tol = mpmath.mpf(10) ** -12 * (1 + abs(low) + abs(high))
        for it in range(1, _MAX_BRACKET + 1):
            slopes = []
            for j in range(self.n):
                q[j], a = self._quantity(j, s, price, sigma, q[j])
                slopes.append(a)
            excess = mpmath.fsum(q)
            if excess > 0:
                low = price
            else:
                high = price
            step = -excess / mpmath.fsum(1 / (a - sigma) for a in slopes)
            new = price + step
            if not low < new < high:
                new = (low + high) / 2
            if abs(new - price) < tol or high - low < tol:
                return new, q, it
            price = new
        raise ConvergenceError(f"the bracketed price search at s = {_show(s)} did not converge "
                               f"in {_MAX_BRACKET} steps", partial={"price": price})

    def _quantity(self, j, s, price, sigma, start):
        """q_j(p): the root of mu_j(q, s) - p - sigma q (decreasing in q), and d mu_j/d q there."""
        def g(x):
            mu, a = self._agent_foc(j, x, s)
            if not a - sigma < 0:
                self._slopes([x if k == j else mpmath.mpf(0) for k in range(self.n)], s, sigma)
            return mu - price - sigma * x, a - sigma

        x = start
        value, slope = g(x)
        width = 1 + abs(x)
        low = high = x
        for _ in range(_MAX_BRACKET):        # widen until the sign changes
            if value > 0:
                high = x + width
                if g(high)[0] <= 0:
                    low = x
                    break
            else:
                low = x - width
                if g(low)[0] >= 0:
                    high = x
                    break
            width *= 2
        else:
            raise ConvergenceError(f"no quantity for agent {j + 1} at price {mpmath.nstr(price, 10)}")
        tol = mpmath.eps * 2 ** 20 * (1 + abs(x))
        for _ in range(_MAX_BRACKET):
            value, slope = g(x)
            if value > 0:
                low = x
            else:
                high = x
            new = x - value / slope
            if not low <= new <= high:
                new = (low + high) / 2
            if abs(new - x) <= tol or high - low <= tol:
                return new, slope + sigma
            x = new
        raise ConvergenceError(f"quantity of agent {j + 1} did not converge")

    # -- Lemma 2 ---------------------------------------------------------------------------
    def own_report_response(self, eq, i, s, sigma):
        """Lemma 2 at ``eq``: (d p/d s_i, [d q_j/d s_i for every j]).

        .. math:: \\frac{\\partial p}{\\partial s_i} = \\frac{\\sum_j w_j\\, \\partial\\mu_j/\\partial s_i}
                  {\\sum_j w_j}, \\quad w_j = (\\sigma - \\partial\\mu_j/\\partial q_j)^{-1},
                  \\quad \\frac{\\partial q_j}{\\partial s_i} = w_j(\\partial\\mu_j/\\partial s_i - \\partial p/\\partial s_i)
        """
        column = self._evaluator.column(i, list(eq.allocation), s)
        weights = [1 / (sigma - a) for a in eq.slopes]
        dp = mpmath.fsum(w * c for w, c in zip(weights, column)) / mpmath.fsum(weights)
        return dp, [w * (c - dp) for w, c in zip(weights, column)]

    def utility(self, j, q, s):
        """u_j(q, s)."""
        return self._evaluator.utility(j, q, s)


class _ExpandedEvaluator:
    """Expanded utilities as mpmath functions: mu, d mu/dq and d mu/d s_i of all agents at once."""

    def __init__(self, economy):
        n = economy.n
        signals = economy.signals
        quantities = sympy.symbols(f"x_1:{n + 1}", real=True)
        mus = [sympy.diff(u, Q) for u in economy.utilities]
        mus_at = [mu.subs(Q, x) for mu, x in zip(mus, quantities)]
        slopes_at = [sympy.diff(mu, x) for mu, x in zip(mus_at, quantities)]
        foc = _Compiled((quantities, signals), mus_at + slopes_at)
        self.foc = lambda q, s: _halves(foc(q, s))
        self._agent_foc = [_Compiled((Q, signals), [mu, sympy.diff(mu, Q)]) for mu in mus]
        self._columns = [_Compiled((quantities, signals), [sympy.diff(mu, s) for mu in mus_at])
                         for s in signals]
        self._utility = [_Compiled((Q, signals), [u]) for u in economy.utilities]

    def agent_foc(self, j, x, s):
        return self._agent_foc[j](x, s)

    def column(self, i, q, s):
        return self._columns[i](q, s)

    def utility(self, j, q, s):
        return self._utility[j](q, s)[0]


class _StructuredEvaluator:
    """Templates over aggregates (:mod:`symmech.structure`) as mpmath functions: O(N) per profile.

    The aggregates of the last profile are kept, so the Newton steps at one profile compute them
    once.
    """

    def __init__(self, structure):
        self.n = structure.n
        index = {a.symbol: k for k, a in enumerate(structure.aggregates)}
        self._aggregates = []
        for a in structure.aggregates:
            w = a.weight
            self._aggregates.append((tuple(m - 1 for m in a.members), frozenset(m - 1 for m in a.members),
                                     (w.numerator, w.denominator),
                                     _Compiled((BODY,), [a.body, sympy.diff(a.body, BODY)])))
        self._templates = []
        for t in structure.templates:
            d = derivatives(t)
            args = (Q, OWN, *t.aggregates, *(p for p, _ in t.picks), *(p for p, _ in t.parameters))
            self._templates.append(_TemplateFunctions(
                t, [index[a] for a in t.aggregates],
                _Compiled(args, [d.marginal, d.slope]),
                _Compiled(args, [d.own, *d.by_aggregate, *d.by_pick]),
                _Compiled(args, [d.utility])))
        self._owner = [None] * self.n
        for k, t in enumerate(structure.templates):
            for position, agent in enumerate(t.members):
                self._owner[agent - 1] = (self._templates[k], position)
        self._last = (None, None, None)

    def _state(self, s):
        """The aggregate values at profile s (cached for the last one)."""
        key, prec, values = self._last
        if prec == mpmath.mp.prec and key is not None and len(key) == len(s) and all(
                x is y or x == y for x, y in zip(key, s)):
            return values
        values = []
        for members, _, (p, q), body in self._aggregates:
            values.append(mpmath.fsum(body(s[m])[0] for m in members) * p / q)
        self._last = (tuple(s), mpmath.mp.prec, values)
        return values

    def _args(self, j, x, s, aggregates):
        functions, position = self._owner[j]
        return functions, position, functions.arguments(position, x, s, aggregates)

    def foc(self, q, s):
        aggregates = self._state(s)
        mu, slope = [], []
        for j in range(self.n):
            functions, _, args = self._args(j, q[j], s, aggregates)
            m, a = functions.foc(*args)
            mu.append(m)
            slope.append(a)
        return mu, slope

    def agent_foc(self, j, x, s):
        functions, _, args = self._args(j, x, s, self._state(s))
        return functions.foc(*args)

    def column(self, i, q, s):
        """d mu_j/d s_i for every j: own term, aggregates' chain rule, picks naming i."""
        aggregates = self._state(s)
        moved = {}
        for k, (_, members, (p, w), body) in enumerate(self._aggregates):
            if i in members:
                moved[k] = mpmath.mpf(body(s[i])[1]) * p / w       # the body's derivative may be an int
        column = []
        for j in range(self.n):
            functions, position, args = self._args(j, q[j], s, aggregates)
            if not moved and j != i and not functions.picks_of(position, i):
                column.append(mpmath.mpf(0))
                continue
            grad = functions.grad(*args)
            value = grad[0] if j == i else mpmath.mpf(0)
            for local, k in enumerate(functions.aggregates):
                if k in moved:
                    value += grad[1 + local] * moved[k]
            for m in functions.picks_of(position, i):
                value += grad[1 + len(functions.aggregates) + m]
            column.append(value)
        return column

    def utility(self, j, q, s):
        functions, _, args = self._args(j, q, s, self._state(s))
        return functions.utility(*args)[0]


class _TemplateFunctions:
    """One template's compiled functions and its members' per-agent values."""

    def __init__(self, template, aggregates, foc, grad, utility):
        self.aggregates = aggregates               # global aggregate indices, in argument order
        self.members = [m - 1 for m in template.members]
        self.picks = [indices for _, indices in template.picks]
        self._values = [values for _, values in template.parameters]
        self._foc, self._grad, self._utility = foc, grad, utility
        self._cache = {}

    def parameters(self, position):
        prec = mpmath.mp.prec
        table = self._cache.get(prec)
        if table is None:
            table = self._cache[prec] = [[mpmath.mpf(v[k].numerator) / v[k].denominator for v in self._values]
                                         for k in range(len(self._values[0]) if self._values else 0)]
        return table[position] if table else []

    def arguments(self, position, x, s, aggregates):
        return (x, s[self.members[position]], *[aggregates[k] for k in self.aggregates],
                *[s[indices[position] - 1] for indices in self.picks], *self.parameters(position))

    def picks_of(self, position, i):
        """The picks that name agent i (from 0) for this member."""
        return [m for m, indices in enumerate(self.picks) if indices[position] - 1 == i]

    def foc(self, *args):
        return self._foc(*args)

    def grad(self, *args):
        return self._grad(*args)

    def utility(self, *args):
        return self._utility(*args)


class _Compiled:
    """Expressions as one mpmath function, common subexpressions shared.

    Rational constants become arguments computed once per precision: lambdify would otherwise
    rebuild ``mpf(1)/mpf(20)`` at every call, and a float constant would lose digits.
    """

    def __init__(self, args, exprs):
        constants = sorted({r for e in exprs for r in e.atoms(sympy.Rational) if not r.is_Integer},
                           key=lambda r: (r.p, r.q))
        names = sympy.symbols(f"c_0:{len(constants)}")
        exprs = [e.xreplace(dict(zip(constants, names))) for e in exprs]
        self._constants = [(r.p, r.q) for r in constants]
        self._function = sympy.lambdify((*args, names), exprs, modules="mpmath", cse=True)
        self._cache = {}

    def __call__(self, *args):
        prec = mpmath.mp.prec
        values = self._cache.get(prec)
        if values is None:
            values = self._cache[prec] = [mpmath.mpf(p) / q for p, q in self._constants]
        return self._function(*args, values)


def _halves(values):
    half = len(values) // 2
    return values[:half], values[half:]


def _show(s):
    if len(s) > 10:            # a large economy: the first few signals say enough
        return f"({len(s)} signals: " + ", ".join(mpmath.nstr(x, 6) for x in s[:4]) + ", ...)"
    return "(" + ", ".join(mpmath.nstr(x, 6) for x in s) + ")"


def _with(s, i, r):
    t = list(s)
    t[i] = r
    return t


@lru_cache(maxsize=64)
def _transform(n, prec):
    """Rows m of (2m + 1)/2 w_k P_m(x_k): Legendre coefficients from values at the nodes."""
    _, weights, table = _rule(n, prec)
    with mpmath.workprec(prec):
        return tuple(tuple((2 * m + 1) * w * row[m] / 2 for w, row in zip(weights, table)) for m in range(n))


@lru_cache(maxsize=64)
def _recurrence(count, prec):
    """Clenshaw's constants for Legendre series: (2k + 1)/(k + 1) and (k + 1)/(k + 2), k < count."""
    with mpmath.workprec(prec):
        return (tuple(mpmath.mpf(2 * k + 1) / (k + 1) for k in range(count)),
                tuple(mpmath.mpf(k + 1) / (k + 2) for k in range(count)))


def _clenshaw(c, x):
    """sum_m c_m P_m(x) by Clenshaw's recurrence (P_{k+1} = (2k+1)/(k+1) x P_k - k/(k+1) P_{k-1})."""
    if len(c) == 1:
        return +c[0]
    alpha, beta = _recurrence(len(c), mpmath.mp.prec)
    b1 = b2 = mpmath.mpf(0)
    for k in range(len(c) - 1, 0, -1):
        b1, b2 = c[k] + alpha[k] * x * b1 - beta[k] * b2, b1
    return c[0] + x * b1 - b2 / 2


class _Series(Series):
    """A :class:`~symmech._quadrature.Series` for the sweeps: the same interpolant, computed lazily.

    The tail estimate needs only the last four coefficients (a panel that fails it never pays for
    the rest); coefficients come from one dot product each with a cached table; evaluation and
    integration use Clenshaw's recurrence, the antiderivative being a Legendre series again
    (integral of P_m from -1 is (P_{m+1} - P_{m-1})/(2m + 1), of P_0 it is P_1 + P_0).
    """

    __slots__ = ("values", "_coefficients", "_top", "_antiderivative", "_prec")

    def __init__(self, a, b, values):          # noqa: super().__init__ would compute every coefficient
        self.a, self.b = a, b
        self.values = list(values)
        self._prec = mpmath.mp.prec
        self._coefficients = self._top = self._antiderivative = None

    @property
    def coefficients(self):
        if self._coefficients is None:
            rows = _transform(len(self.values), self._prec)
            self._coefficients = [mpmath.fdot(row, self.values) for row in rows]
        return self._coefficients

    @coefficients.setter
    def coefficients(self, value):
        self._coefficients = value

    def tail(self):
        if len(self.values) < 4 or self._coefficients is not None:
            return super().tail()
        if self._top is None:
            self._top = [mpmath.fdot(row, self.values) for row in _transform(len(self.values), self._prec)[-4:]]
        last, before = max(abs(self._top[-1]), abs(self._top[-2])), max(abs(self._top[-3]), abs(self._top[-4]))
        return last if before == 0 or last >= before else last * last / before

    def __call__(self, r):
        return _clenshaw(self.coefficients, self._x(r))

    def integral(self, r=None):
        c = self.coefficients
        half = (self.b - self.a) / 2
        if r is None:
            return 2 * half * c[0]
        if self._antiderivative is None:
            d = [mpmath.mpf(0)] * (len(c) + 1)
            d[0], d[1] = c[0], c[0]
            for m in range(1, len(c)):
                d[m + 1] += c[m] / (2 * m + 1)
                d[m - 1] -= c[m] / (2 * m + 1)
            self._antiderivative = d
        return half * _clenshaw(self._antiderivative, self._x(r))


@dataclass
class _Panel:
    a: object
    b: object
    quantity: Series       # q_i(r)
    unit_price: Series     # p(r) + sigma q_i(r)
    payment: Series        # (p(r) + sigma q_i(r)) q_i'(r), the integrand of eq. 4 in r
    start: object          # integral of ``payment`` from 0 to a


class Schedule:
    """Agent i's allocation and per-unit price along its own report r in [0, 1], others fixed.

    ``pivot`` is the boundary type of eq. 5 (the report at which i stops trading, or 0 / 1 when i
    buys / sells at every report); ``pivot_transfer`` is eq. 7's constant, derived from IR of
    that type: it pays its marginal per-unit price for every unit, (p + sigma q_b) q_b.
    """

    def __init__(self, agent, pivot, pivot_transfer, panels, nodes, equilibria):
        self.agent = agent
        self.pivot = pivot
        self.pivot_transfer = pivot_transfer
        self.panels = panels
        self.nodes = nodes
        self.equilibria = equilibria   # at each breakpoint: {r: Equilibrium}
        self._pivot_integral = self._integral(pivot)

    def panel_at(self, r):
        """The panel holding report r."""
        for panel in self.panels:
            if r <= panel.b:
                return panel
        return self.panels[-1]

    def _integral(self, r):
        panel = self.panel_at(r)
        if r == panel.b:
            return panel.start + panel.payment.integral()
        if r == panel.a:
            return panel.start
        return panel.start + panel.payment.integral(r)

    def quantity(self, r):
        """q_i(r, s_-i)."""
        if r in self.equilibria:
            return self.equilibria[r].allocation[self.agent]
        return self.panel_at(r).quantity(r)

    def unit_price(self, r):
        """p(r, s_-i) + sigma q_i(r, s_-i): the price of the marginal unit at report r."""
        return self.panel_at(r).unit_price(r)

    def transfer(self, r):
        """The IC/IR transfer of eq. 4 + 7 when i reports r."""
        return self.pivot_transfer + self._integral(r) - self._pivot_integral

    def naive_transfer(self, r):
        """The transfer of eq. 2 when i reports r: (p + sigma q_i) q_i."""
        return self.unit_price(r) * self.quantity(r)

    def grid(self):
        """Every breakpoint and node: where the schedule is known best."""
        points = {self.pivot}
        for panel in self.panels:
            points.update((panel.a, panel.b))
        return sorted(points)


def _nodes_for(dps):
    """Gauss-Legendre nodes per panel for ``dps`` digits: about 3/4 node per digit wanted.

    A Legendre series on a panel gains about 1.3 digits per node for the schedules met in the
    catalogue (convergence rate ~20 per degree on panels up to half the report range); the tail
    must fall below 10**-(dps + 1).
    """
    return max(10, (3 * (dps + 1) + 3) // 4)


def sweep(market, i, s, sigma, base, dps):
    """Agent i's :class:`Schedule` at profile s: one pass of warm-started solves along [0, 1].

    ``base`` is the equilibrium at s (a warm start); ``dps`` sets the accuracy aimed at.
    """
    zero, one = mpmath.mpf(0), mpmath.mpf(1)
    at_zero = market.equilibrium(_with(s, i, zero), sigma, base)
    at_one = market.equilibrium(_with(s, i, one), sigma, base)
    if at_zero.allocation[i] >= 0:
        pivot, at_pivot = zero, at_zero
    elif at_one.allocation[i] <= 0:
        pivot, at_pivot = one, at_one
    else:
        pivot, at_pivot = _pivot(market, i, s, sigma, at_zero, at_one)
    q_b = at_pivot.allocation[i]
    pivot_transfer = (at_pivot.price + sigma * q_b) * q_b

    target = mpmath.mpf(10) ** -(dps + 1)
    breaks = _breakpoints([zero, one, s[i], pivot, mpmath.mpf(1) / 2], target)
    n = _nodes_for(dps)
    panels, count, warm, total = [], 0, at_zero, mpmath.mpf(0)
    pending = list(zip(breaks, breaks[1:]))
    while pending:
        a, b = pending.pop(0)
        panel, used, last = _panel(market, i, s, sigma, a, b, n, warm)
        count += used
        scale = 1 + max(abs(v) for v in panel[0].values + panel[2].values)   # the functions' size
        if max(panel[0].tail(), panel[1].tail(), panel[2].tail()) > target * scale:
            if b - a < mpmath.mpf(2) ** -_MAX_SPLITS:
                raise ConvergenceError(
                    f"agent {i + 1}'s schedule is not smooth enough near report {mpmath.nstr(a, 8)} "
                    f"to reach {dps} digits (Legendre tail {mpmath.nstr(panel[2].tail(), 3)})")
            mid = (a + b) / 2
            pending[:0] = [(a, mid), (mid, b)]
            continue
        panels.append(_Panel(a, b, *panel, start=total))
        total += panel[2].integral()
        warm = last
    equilibria = {zero: at_zero, one: at_one, pivot: at_pivot, s[i]: base}
    return Schedule(i, pivot, pivot_transfer, panels, count, equilibria)


def _breakpoints(points, gap):
    """The points sorted, dropping any within ``gap`` of one listed before it.

    A pivot a hair from the truthful report (a near non-trader) would otherwise make a panel
    too thin for its nodes to differ; the integral over such a sliver is below ``gap`` anyway.
    """
    kept = []
    for x in points:
        if all(abs(x - y) > gap for y in kept):
            kept.append(x)
    return sorted(kept)


def _panel(market, i, s, sigma, a, b, n, warm):
    """Solve at the n nodes of [a, b]; return the three series, solves used and the last eq."""
    nodes, _ = gauss_legendre(n, a, b)
    q, price, pay = [], [], []
    eq, history = warm, []
    for r in nodes:
        profile = _with(s, i, r)
        if history:
            eq = _predict(history, r)
        eq = market.equilibrium(profile, sigma, eq)
        dp, dq = market.own_report_response(eq, i, profile, sigma)
        history = [(r, eq, dp, dq)] + history[:_HISTORY - 1]
        unit = eq.price + sigma * eq.allocation[i]
        q.append(eq.allocation[i])
        price.append(unit)
        pay.append(unit * dq[i])
    return (_Series(a, b, q), _Series(a, b, price), _Series(a, b, pay)), n, eq


def _predict(history, r):
    """The equilibrium at report r extrapolated from the last nodes: a close warm start.

    Hermite extrapolation through the last nodes' prices and allocations and their Lemma 2
    derivatives (degree 2k - 1 from k nodes), so a few Newton steps reach full precision.
    """
    points = []
    for r0, eq, dp, dq in history:
        values = [eq.price, *eq.allocation]
        slopes = [dp, *dq]
        points += [(r0, values, slopes), (r0, values, slopes)]
    z = [x for x, _, _ in points]
    level = [v for _, v, _ in points]
    total = list(level[0])
    factor = mpmath.mpf(1)
    for order in range(1, len(points)):
        nxt = []
        for k in range(len(points) - order):
            if z[k + order] == z[k]:          # a repeated node: the divided difference is the slope
                nxt.append(points[k][2])
            else:
                width = z[k + order] - z[k]
                nxt.append([(b - a) / width for a, b in zip(level[k], level[k + 1])])
        level = nxt
        factor *= r - z[order - 1]
        total = [t + factor * c for t, c in zip(total, level[0])]
    eq = history[0][1]
    return Equilibrium(total[0], tuple(total[1:]), eq.slopes, 0, eq.residual, eq.method)


def _pivot(market, i, s, sigma, at_zero, at_one):
    """The report r in (0, 1) with q_i(r, s_-i) = 0: Newton on r, kept inside a bracket."""
    low, high = mpmath.mpf(0), mpmath.mpf(1)
    q_low, q_high = at_zero.allocation[i], at_one.allocation[i]
    r = q_low / (q_low - q_high)
    eq = at_zero if r < mpmath.mpf(1) / 2 else at_one
    tol = mpmath.eps * 2 ** 20
    for _ in range(_MAX_BRACKET):
        profile = _with(s, i, r)
        eq = market.equilibrium(profile, sigma, eq)
        x = eq.allocation[i]
        if x == 0:
            return r, eq
        if x < 0:
            low = r
        else:
            high = r
        _, dq = market.own_report_response(eq, i, profile, sigma)
        step = x / dq[i] if dq[i] > 0 else None
        if step is not None and abs(step) <= tol:      # before the bracket: r - step may round to r
            new = r - step
            eq = market.equilibrium(_with(s, i, new), sigma, eq)
            return new, eq
        new = r - step if step is not None else (low + high) / 2
        if not low < new < high:
            new = (low + high) / 2
        if abs(new - r) <= tol:
            eq = market.equilibrium(_with(s, i, new), sigma, eq)
            return new, eq
        r = new
    raise ConvergenceError(f"agent {i + 1}'s pivotal report did not converge")
