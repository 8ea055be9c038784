"""The float64 backend: the algorithm of :mod:`symmech.numeric`, vectorised over agents with numpy.

Same steps, same formulas: the sigma-WE by joint Newton on (q_1..q_N, p) (its Jacobian is an
arrowhead, so a step costs O(N)) with the bracketed price search as fallback; for each agent the
equilibrium along its own report on Gauss-Legendre panels (breakpoints 0, 1/2, 1, the true report
and the boundary type), Legendre series of q_i, of the per-unit price p + sigma q_i and of the
eq. 4 integrand (p + sigma q_i) dq_i/dr from Lemma 2, panels split where the series' tail is not
at rounding level; eq. 7's boundary constant; the ex-post checks (MC, BS, IR, the IC regret
search over each schedule with golden refinement and a fresh solve to confirm a violation,
epsilon-Pareto against the Walrasian allocation).

What changes is the arithmetic: float64 arrays of shape (profiles, agents). Many profiles (an
agent's report at many nodes, many agents at once) are solved together, in blocks small enough to
stay in cache; each row starts from a cubic Hermite prediction between two solved reports (values
and Lemma 2 slopes), so two Newton steps reach rounding level. Utilities are evaluated through the
economy's templates (:mod:`symmech.structure`) when it has them: aggregates once per profile,
every agent's mu, d mu/dq and d mu/d s_i vectorised; otherwise through the expanded utilities.

Results carry about 15 significant digits (numbers are reported with dps = 15).
"""

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
import math
import os

import numpy as np
import sympy
from numpy.polynomial import legendre as _legendre
from sympy.printing.numpy import NumPyPrinter

from ._search import golden_max
from .errors import AssumptionError, ConvergenceError
from .model import Q
from .structure import BODY, OWN, derivatives

__all__ = ["FastMarket", "FastOutcome", "Schedules", "NODES", "DPS", "solve_float64", "sample_derivatives",
           "require_assumptions_at_scale"]

#: Significant digits a float64 outcome is reported with.
DPS = 15
#: Gauss-Legendre nodes per panel.
NODES = 14
_EPS = float(np.finfo(np.float64).eps)
_TOL = _EPS * 2 ** 20                  # a Newton step this small has converged (as in numeric)
_ROOT = math.sqrt(_TOL) / 1000
_TARGET = 2.0 ** -37                   # Legendre tail allowed, relative to the series' size
_GAP = 2.0 ** -40                      # breakpoints closer than this merge
_MAX_NEWTON = 40
_MAX_BRACKET = 400
_MAX_SPLITS = 12
_BLOCK = 2 ** 15                       # array elements per block of profiles
_SEARCH_POINTS = 12
_GOLDEN_STEPS = 56


def _power_text(base, n):
    """base**n for an integer n >= 1 by squaring and products (numpy's pow is slow on negatives)."""
    if n == 1:
        return base
    if n % 2 == 0:
        return f"({_power_text(base, n // 2)})**2"
    return f"({base}*{_power_text(base, n - 1)})"


class _Printer(NumPyPrinter):
    """NumPy code with small integer powers as products: pow() of a negative base costs ~100 ns."""

    def _print_Pow(self, expr, rational=False):
        exponent = expr.exp
        if exponent.is_Integer and 2 < abs(int(exponent)) <= 64:
            text = _power_text(f"({self._print(expr.base)})", abs(int(exponent)))
            return f"(1/{text})" if exponent < 0 else text
        return super()._print_Pow(expr, rational=rational)


def default_threads():
    """Threads for the float64 backend's blocks: SYMMECH_THREADS if set, else 1.

    Blocks are independent and numpy releases the GIL in its loops, but the work is
    memory-bound: on the 2-core development machine (shared) two threads were not faster, so
    threading is opt-in.
    """
    value = os.environ.get("SYMMECH_THREADS", "")
    return int(value) if value.isdigit() and int(value) >= 1 else 1


_POOLS = {}


def _pool(threads):
    """One shared pool per thread count (created on first use)."""
    if threads not in _POOLS:
        _POOLS[threads] = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="symmech-float64")
    return _POOLS[threads]


def _lambdify(args, exprs):
    printer = _Printer({"fully_qualified_modules": False, "inline": True, "allow_unknown_functions": True,
                        "user_functions": {}})
    return sympy.lambdify(args, exprs, modules="numpy", cse=True, printer=printer)


def _as(value, shape):
    """A lambdified result (maybe a Python scalar) as a float array of ``shape``."""
    return np.broadcast_to(np.asarray(value, dtype=np.float64), shape)


# -- evaluation through templates ------------------------------------------------------------------

class _Template:
    """One template's numpy functions and its members' values."""

    def __init__(self, template, index, n):
        d = derivatives(template)
        self.members = np.array(template.members, dtype=np.intp) - 1
        self.full = len(self.members) == n and bool((self.members == np.arange(n)).all())
        self.aggregates = [index[a] for a in template.aggregates]
        self.picks = [np.array(p, dtype=np.intp) - 1 for _, p in template.picks]
        self.params = [np.array([float(v) for v in values]) for _, values in template.parameters]
        args = (Q, OWN, *template.aggregates, *(p for p, _ in template.picks), *(p for p, _ in template.parameters))
        self.fixed = _lambdify(args, d.fixed)
        self.moving = _lambdify(args, [d.moving, d.slope])
        self.focus = _lambdify(args, [d.marginal, d.slope])
        self.slope = _lambdify(args, d.slope)
        self.own = _lambdify(args, d.own)
        self.mix = _lambdify(args, [*d.by_aggregate, *d.by_pick])
        self.utility = _lambdify(args, d.utility)


class _StructuredEvaluator:
    """mu, d mu/dq, d mu/d s_i of every agent at many profiles, through templates and aggregates."""

    def __init__(self, structure):
        self.n = n = structure.n
        index = {a.symbol: k for k, a in enumerate(structure.aggregates)}
        self.templates = [_Template(t, index, n) for t in structure.templates]
        self.bodies = [_lambdify((BODY,), [a.body, sympy.diff(a.body, BODY)]) for a in structure.aggregates]
        self.weights = np.array([float(a.weight) for a in structure.aggregates])
        self.inside = np.zeros((len(structure.aggregates), n), dtype=bool)
        for k, a in enumerate(structure.aggregates):
            self.inside[k, np.array(a.members) - 1] = True
        self.template_of = np.empty(n, dtype=np.intp)
        self.position_of = np.empty(n, dtype=np.intp)
        for k, t in enumerate(self.templates):
            self.template_of[t.members] = k
            self.position_of[t.members] = np.arange(len(t.members))

    def _body(self, k, x):
        f, df = self.bodies[k](x)
        return _as(f, np.shape(x)), _as(df, np.shape(x))

    def aggregates(self, s):
        """A_k at profile s."""
        return np.array([self.weights[k] * np.sum(self._body(k, s[self.inside[k]])[0])
                         for k in range(len(self.bodies))])

    def block(self, s, totals, agents, reports):
        return _Block(self, s, totals, agents, reports)

    def own_slopes(self, x, profiles):
        """(mu_i, d mu_i/dq, d mu_i/d s_i) of every agent i at quantity x[k, i] and profile k.

        Arrays of shape (K, N); O(N) work per profile.
        """
        x, profiles = np.atleast_2d(x), np.atleast_2d(profiles)
        shape = profiles.shape
        totals, moved = self._totals(profiles), self._moved(profiles)
        mu, slope, own = np.empty(shape), np.empty(shape), np.empty(shape)
        for t in self.templates:
            m = t.members
            part = (shape[0], m.size)
            args = self._args(t, x, profiles, totals)
            value, sl = t.focus(*args)
            mu[:, m], slope[:, m] = _as(value, part), _as(sl, part)
            total = _as(t.own(*args), part).copy()
            mix = t.mix(*args)
            for local, a in enumerate(t.aggregates):
                total += _as(mix[local], part) * moved[a][:, m]
            for j, p in enumerate(t.picks):
                total += np.where(p == m, _as(mix[len(t.aggregates) + j], part), 0.0)
            own[:, m] = total
        return mu, slope, own

    def _totals(self, profiles):
        """A_k at each profile (row): shape (K, number of aggregates)."""
        if not self.bodies:
            return np.zeros((profiles.shape[0], 0))
        return np.stack([self.weights[k] * self._body(k, profiles[:, self.inside[k]])[0].sum(axis=1)
                         for k in range(len(self.bodies))], axis=1)

    def _moved(self, profiles):
        """d A_k/d s_i at each profile: one (K, N) array per aggregate."""
        return [self.weights[k] * np.where(self.inside[k], self._body(k, profiles)[1], 0.0)
                for k in range(len(self.bodies))]

    @staticmethod
    def _args(t, x, profiles, totals):
        m = t.members
        return (x[:, m], profiles[:, m], *[totals[:, a:a + 1] for a in t.aggregates],
                *[profiles[:, p] for p in t.picks], *t.params)

    def cross_extremes(self, x, profiles, budget=4_000_000):
        """The largest and smallest d mu_j/d s_i over i != j, and the i of each, for every agent j
        at quantity x[k, j] and profile k: four (K, N) arrays (hi, lo, hi_at, lo_at).

        d mu_j/d s_i = sum_k d mu_j/d A_k * d A_k/d s_i + [pick of j is i] d mu_j/d R (the module
        docstring of :mod:`symmech.structure`); all i at once is O(N) per agent, so O(N^2) per
        profile, done ``budget`` numbers at a time. A non-finite derivative comes out as a
        non-finite extreme, its i as the witness.
        """
        x, profiles = np.atleast_2d(x), np.atleast_2d(profiles)
        count, n = profiles.shape
        totals, moved = self._totals(profiles), self._moved(profiles)
        hi, lo = np.empty((count, n)), np.empty((count, n))
        hi_at, lo_at = np.empty((count, n), dtype=np.intp), np.empty((count, n), dtype=np.intp)
        for t in self.templates:
            m = t.members
            mix = [_as(v, (count, m.size)) for v in t.mix(*self._args(t, x, profiles, totals))]
            step = max(1, budget // (m.size * n))
            for start in range(0, count, step):
                rows = slice(start, min(count, start + step))
                c = np.zeros((rows.stop - rows.start, m.size, n))
                for local, a in enumerate(t.aggregates):
                    c += mix[local][rows, :, None] * moved[a][rows, None, :]
                for j, p in enumerate(t.picks):
                    c[:, np.arange(m.size), p] += mix[len(t.aggregates) + j][rows]
                self_ = (slice(None), np.arange(m.size), m)
                c[self_] = -np.inf                      # i = j is A2's, not A3's
                hi[rows, m], hi_at[rows, m] = c.max(axis=2), c.argmax(axis=2)
                c[self_] = np.inf
                lo[rows, m], lo_at[rows, m] = c.min(axis=2), c.argmin(axis=2)
        return hi, lo, hi_at, lo_at

    def utility_pairs(self, agents, x, s, totals):
        """u_i(x_k, s) for i = agents[k] (profile s, aggregates ``totals``)."""
        out = np.empty(len(agents))
        for k, t in enumerate(self.templates):
            rows = np.nonzero(self.template_of[agents] == k)[0]
            if rows.size:
                pos = self.position_of[agents[rows]]
                args = (x[rows], s[agents[rows]], *[np.full(rows.size, totals[a]) for a in t.aggregates],
                        *[s[p[pos]] for p in t.picks], *[v[pos] for v in t.params])
                out[rows] = _as(t.utility(*args), rows.shape)
        return out


class _Block:
    """R profiles, each the base profile with agent ``agents[r]`` reporting ``reports[r]``.

    Everything that does not depend on q is computed here once: each template's arguments and
    the q-free part of mu, the aggregates of each row and their derivatives in the moved report.
    """

    def __init__(self, ev, s, totals, agents, reports):
        self.ev = ev
        self.agents = agents
        self.reports = reports
        self.size = len(agents)
        self.profile = s
        kinds = len(ev.bodies)
        self.totals = np.empty((self.size, kinds))
        self.moved = np.zeros((self.size, kinds))
        for k in range(kinds):
            f_new, df_new = ev._body(k, reports)
            f_old, _ = ev._body(k, s[agents])
            inside = ev.inside[k, agents]
            self.totals[:, k] = totals[k] + np.where(inside, ev.weights[k] * (f_new - f_old), 0.0)
            self.moved[:, k] = np.where(inside, ev.weights[k] * df_new, 0.0)
        self.parts = []
        for k, t in enumerate(ev.templates):
            mine = np.nonzero(ev.template_of[agents] == k)[0]          # rows whose agent is a member
            pos = ev.position_of[agents[mine]]
            own = np.broadcast_to(s[t.members], (self.size, len(t.members))).copy()
            own[mine, pos] = reports[mine]
            picks = [np.where(p[None, :] == agents[:, None], reports[:, None], s[p][None, :]) for p in t.picks]
            args = (own, *[self.totals[:, a:a + 1] for a in t.aggregates], *picks, *t.params)
            fixed = _as(t.fixed(None, *args), own.shape)
            self.parts.append((t, mine, pos, args, fixed))

    def foc(self, q):
        """mu_j and d mu_j/dq at allocation q (R, N) of these profiles."""
        if len(self.parts) == 1 and self.parts[0][0].full:
            t, _, _, args, fixed = self.parts[0]
            moving, slope = t.moving(q, *args)
            return fixed + moving, _as(slope, q.shape)
        mu, slope = np.empty_like(q), np.empty_like(q)
        for t, _, _, args, fixed in self.parts:
            qt = q[:, t.members]
            moving, sl = t.moving(qt, *args)
            mu[:, t.members] = fixed + moving
            slope[:, t.members] = _as(sl, qt.shape)
        return mu, slope

    def slope(self, q):
        """d mu_j/dq at allocation q (R, N)."""
        if len(self.parts) == 1 and self.parts[0][0].full:
            t, _, _, args, _ = self.parts[0]
            return _as(t.slope(q, *args), q.shape)
        slope = np.empty_like(q)
        for t, _, _, args, _ in self.parts:
            qt = q[:, t.members]
            slope[:, t.members] = _as(t.slope(qt, *args), qt.shape)
        return slope

    def _pairs(self, t, mine, pos, q, args):
        """The template's arguments at (row, own agent) pairs only."""
        r = mine
        pair_args = [a[r, pos] if np.ndim(a) == 2 else a for a in args[:1]]
        pair_args += [a[r, 0] for a in args[1:1 + len(t.aggregates)]]
        pair_args += [a[r, pos] for a in args[1 + len(t.aggregates):1 + len(t.aggregates) + len(t.picks)]]
        pair_args += [v[pos] for v in t.params]
        return (q[r, t.members[pos]], *pair_args)

    def response(self, q, weights, full=False):
        """Lemma 2 pieces: sum_j w_j d mu_j/d s_i, d mu_i/d s_i, and (``full``) the column.

        ``weights`` are w_j = 1/(sigma - d mu_j/dq); i is each row's moved agent.
        """
        total = np.zeros(self.size)
        own_column = np.zeros(self.size)
        column = np.zeros_like(q) if full else None
        for t, mine, pos, args, _ in self.parts:
            qt = q if t.full else q[:, t.members]
            wt = weights if t.full else weights[:, t.members]
            mix = t.mix(qt, *args)
            count = len(t.aggregates)
            part = np.zeros(qt.shape) if full else None
            wsum = None
            for local, a in enumerate(t.aggregates):
                d = np.asarray(mix[local], dtype=np.float64)
                moved = self.moved[:, a]
                if d.ndim == 0:
                    wsum = wt.sum(axis=1) if wsum is None else wsum
                    total += moved * float(d) * wsum
                elif d.ndim == 1:
                    total += moved * (wt @ d)
                else:
                    total += moved * np.einsum("ij,ij->i", wt, d)
                own_column[mine] += moved[mine] * _as(d, qt.shape)[mine, pos]
                if full:
                    part += moved[:, None] * d
            for m, p in enumerate(t.picks):
                d = _as(mix[count + m], qt.shape)
                hit = p[None, :] == self.agents[:, None]
                hits = np.where(hit, d, 0.0)
                total += np.einsum("ij,ij->i", wt, hits)
                own_column[mine] += hits[mine, pos]
                if full:
                    part += hits
            if mine.size:
                own = _as(t.own(*self._pairs(t, mine, pos, q, args)), mine.shape)
                total[mine] += weights[mine, t.members[pos]] * own
                own_column[mine] += own
                if full:
                    part[mine, pos] += own
            if full:
                column[:, t.members] = part
        return total, own_column, column


# -- evaluation through expanded utilities (economies built from expressions) --------------------

class _ExpandedEvaluator:
    """The same interface from expanded utilities: for small economies without templates."""

    def __init__(self, economy):
        self.n = n = economy.n
        signals = economy.signals
        xs = sympy.symbols(f"x_1:{n + 1}", real=True)
        mus = [sympy.diff(u, Q).subs(Q, x) for u, x in zip(economy.utilities, xs)]
        self.focus = _lambdify((*xs, *signals), [*mus, *(sympy.diff(m, x) for m, x in zip(mus, xs))])
        self.columns = [_lambdify((*xs, *signals), [sympy.diff(m, s) for m in mus]) for s in signals]
        self.utilities = [_lambdify((Q, *signals), u) for u in economy.utilities]

    def aggregates(self, s):
        return np.zeros(0)

    def block(self, s, totals, agents, reports):
        return _ExpandedBlock(self, s, agents, reports)

    def utility_pairs(self, agents, x, s, totals):
        return np.array([float(self.utilities[a](v, *s)) for a, v in zip(agents, x)])

    def own_slopes(self, x, profiles):
        x, profiles = np.atleast_2d(x), np.atleast_2d(profiles)
        mu, slope, own = (np.empty(profiles.shape) for _ in range(3))
        for k in range(len(profiles)):
            block = self.block(profiles[k], None, np.arange(self.n), profiles[k].copy())
            q = np.broadcast_to(x[k], (self.n, self.n)).copy()
            m, sl = block.foc(q)
            _, own[k], _ = block.response(q, np.zeros_like(q))
            mu[k], slope[k] = m[0], sl[0]
        return mu, slope, own


class _ExpandedBlock:
    def __init__(self, ev, s, agents, reports):
        self.ev = ev
        self.agents = agents
        self.reports = reports
        self.profile = s
        self.size = len(agents)
        self.profiles = np.broadcast_to(s, (self.size, ev.n)).copy()
        self.profiles[np.arange(self.size), agents] = reports
        self.columns = list(self.profiles.T)

    def foc(self, q):
        n = self.ev.n
        values = self.ev.focus(*q.T, *self.columns)
        mu = np.stack([_as(v, (self.size,)) for v in values[:n]], axis=1)
        slope = np.stack([_as(v, (self.size,)) for v in values[n:]], axis=1)
        return mu, slope

    def slope(self, q):
        return self.foc(q)[1]

    def response(self, q, weights, full=False):
        column = np.empty_like(q)
        for i in np.unique(self.agents):
            rows = np.nonzero(self.agents == i)[0]
            values = self.ev.columns[i](*q[rows].T, *self.profiles[rows].T)
            column[rows] = np.stack([_as(v, rows.shape) for v in values], axis=1)
        rows = np.arange(self.size)
        total = np.einsum("ij,ij->i", weights, column)
        return total, column[rows, self.agents], column if full else None


# -- solving many profiles ---------------------------------------------------------------------------

@dataclass
class _Solved:
    """Solutions of R profiles: price, the moved agent's quantity, Lemma 2 slopes; ``q``, ``dq``
    (R, N) when asked for."""

    price: np.ndarray
    own: np.ndarray
    dprice: np.ndarray
    down: np.ndarray
    q: np.ndarray = None
    dq: np.ndarray = None
    iterations: int = 0


def _show(s):
    s = np.asarray(s)
    if s.size <= 10:
        return "(" + ", ".join(f"{x:.6g}" for x in s) + ")"
    return f"({s.size} signals: " + ", ".join(f"{x:.6g}" for x in s[:4]) + ", ...)"


class FastMarket:
    """An economy's sigma-WE, pivots, schedules and checks in float64.

    >>> import symmech
    >>> market = FastMarket(symmech.load_model("example1"))
    >>> eq = market.equilibrium(np.arange(1, 7) / 10, 0.0)
    >>> round(eq.price, 12)            # (alpha + beta) * mean(s) = 1.5 * 0.35
    0.525
    """

    def __init__(self, economy, nodes=NODES, threads=None):
        self.economy = economy
        self.n = economy.n
        self.nodes = nodes
        self.threads = default_threads() if threads is None else max(1, int(threads))
        if economy.structure is not None:
            self.ev = _StructuredEvaluator(economy.structure)
        else:
            self.ev = _ExpandedEvaluator(economy)
        x, w = _legendre.leggauss(nodes)
        self._x, self._w = x, w
        table = _legendre.legvander(x, nodes - 1)               # P_m(x_k)
        self._transform = (table * w[:, None]).T * ((2 * np.arange(nodes) + 1) / 2)[:, None]
        self.solves = 0

    # -- one profile ------------------------------------------------------------------------------
    def equilibrium(self, s, sigma, start=None):
        """The sigma-WE at profile s: joint Newton from ``start`` (q, p) or from a bracketed price."""
        s = np.asarray(s, dtype=np.float64)
        totals = self.ev.aggregates(s)
        block = self.ev.block(s, totals, np.array([0]), s[:1].copy())
        method = "joint Newton"
        if start is not None:
            found = self._newton(block, s, np.array(start[0], dtype=np.float64)[None, :].copy(),
                                 np.array([start[1]], dtype=np.float64), sigma, True)
            if found is not None:
                return _Equilibrium(float(found[1][0]), found[0][0], found[2][0], found[3], found[4], method)
        price, q, used = self._bracketed(block, sigma)
        found = self._newton(block, s, q[None, :], np.array([price]), sigma, True)
        if found is None:
            raise ConvergenceError(f"the sigma-WE at s = {_show(s)} did not converge in float64 "
                                   "(Newton from the bracketed price kept moving); try --backend mpmath",
                                   partial={"price": price, "allocation": q})
        return _Equilibrium(float(found[1][0]), found[0][0], found[2][0], used + found[3], found[4],
                            "bracketed + joint Newton")

    def _check_slopes(self, block, s, q, slope, sigma):
        bad = ~(slope - sigma < 0)
        if bad.any():
            r, j = np.argwhere(bad)[0]
            profile = s.copy()
            if hasattr(block, "reports"):
                profile[block.agents[r]] = block.reports[r]
            if not np.isfinite(slope[r, j]):
                return False
            raise AssumptionError(
                f"A4 fails for agent {j + 1}: d mu_{j + 1}/d q = {slope[r, j]:.6g} >= 0 at "
                f"q = {q[r, j]:.6g}, s = {_show(profile)}; marginal utility must decrease in q",
                assumption="A4", agent=int(j + 1), witness={"q": float(q[r, j]), "s": list(map(float, profile))})
        return True

    def _newton(self, block, s, q, price, sigma, residual_wanted=False):
        """Joint Newton on every row of ``block``: (q, p, slope, iterations, residual) or None.

        The steps of numeric.Market._joint_newton on R rows at once; each row stops by the same
        test (a step below tol, or below sqrt(tol)/1000 and the previous step to the power 1.5).
        After the last step only the slopes are evaluated (for Lemma 2), unless the residual is
        wanted (then it is None in the result).
        """
        q = np.array(q, dtype=np.float64)
        price = np.array(price, dtype=np.float64)
        first = previous = scale = None
        done = np.zeros(len(price), dtype=bool)
        for it in range(1, _MAX_NEWTON + 1):
            mu, slope = block.foc(q)
            shifted = slope - sigma
            if not shifted.max() < 0 and not self._check_slopes(block, s, q, slope, sigma):
                return None
            weights = 1.0 / shifted                             # negative by A4
            residual = mu
            residual -= sigma * q
            residual -= price[:, None]
            total = q.sum(axis=1)
            if done.all():
                size = np.maximum(np.abs(residual).max(axis=1), np.abs(total))
                return q, price, slope, it - 1, float(size.max())
            dp = (np.einsum("ij,ij->i", residual, weights) - total) / weights.sum(axis=1)
            dq = dp[:, None] - residual
            dq *= weights
            q += dq
            price += dp
            if scale is None:
                scale = 1 + np.abs(q).max(axis=1)
            step = np.maximum(np.abs(dp) / (1 + np.abs(price)), np.abs(dq).max(axis=1) / scale)
            if first is None:
                first = step
            if not np.isfinite(step).all() or (step > 1000 * first + 1).any():
                return None                                     # diverging: the caller rescues
            settled = step <= _TOL
            if previous is not None:
                settled |= (step <= _ROOT) & (step <= previous ** 1.5)
            done |= settled
            previous = step
            if done.all() and not residual_wanted:
                slope = block.slope(q)
                if not (slope - sigma).max() < 0 and not self._check_slopes(block, s, q, slope, sigma):
                    return None
                return q, price, slope, it, None
        return None

    def _demands(self, block, price, sigma, x):
        """q_j(p) for every agent: the root of mu_j(q) - p - sigma q (decreasing), vectorised."""
        def g(x):
            mu, slope = block.foc(x[None, :])
            if not (slope - sigma).max() < 0 and not self._check_slopes(block, block.profile, x[None, :],
                                                                      slope, sigma):
                raise ConvergenceError(f"d mu/dq is not finite at some quantity (price {price:.10g}, "
                                       "float64); try --backend mpmath")
            return mu[0] - price - sigma * x, slope[0] - sigma

        value, _ = g(x)
        width = 1 + np.abs(x)
        low, high = x.copy(), x.copy()
        up = value > 0
        pending = np.ones_like(up)
        for _ in range(_MAX_BRACKET):
            trial = np.where(up, x + width, x - width)
            v, _ = g(trial)
            ok = np.where(up, v <= 0, v >= 0) & pending
            high = np.where(ok & up, trial, high)
            low = np.where(ok & ~up, trial, low)
            pending &= ~ok
            if not pending.any():
                break
            width = np.where(pending, 2 * width, width)
        else:
            raise ConvergenceError(f"no quantity for some agent at price {price:.10g} (float64)")
        low = np.where(up, x, low)
        high = np.where(up, high, x)
        tol = _TOL * (1 + np.abs(x))
        for _ in range(_MAX_BRACKET):
            value, slope = g(x)
            low = np.where(value > 0, x, low)
            high = np.where(value > 0, high, x)
            new = x - value / slope
            new = np.where((new >= low) & (new <= high) & np.isfinite(new), new, (low + high) / 2)
            if np.all((np.abs(new - x) <= tol) | (high - low <= tol)):
                return new, slope + sigma
            x = new
        raise ConvergenceError("the agents' quantities did not converge (float64)")

    def _bracketed(self, block, sigma):
        """A price to about 12 digits by safeguarded Newton on excess demand (falls in p)."""
        zero, _ = block.foc(np.zeros((1, self.n)))
        if not np.isfinite(zero).all():
            j = int(np.nonzero(~np.isfinite(zero[0]))[0][0])
            raise AssumptionError(
                f"A1 fails for agent {j + 1}: mu_{j + 1}(0, s) = {zero[0, j]} in float64 at s = "
                f"{_show(block.profile)}; marginal utility must be finite and real there (check the "
                "formula, or try --backend mpmath)", assumption="A1", agent=j + 1,
                witness={"q": 0.0, "s": list(map(float, block.profile))})
        low, high = float(zero.min()), float(zero.max())
        q = np.zeros(self.n)
        if low == high:
            return low, q, 0
        price = (low + high) / 2
        tol = 1e-12 * (1 + abs(low) + abs(high))
        for it in range(1, _MAX_BRACKET + 1):
            q, slopes = self._demands(block, price, sigma, q)
            excess = q.sum()
            if excess > 0:
                low = price
            else:
                high = price
            new = price - excess / np.sum(1 / (slopes - sigma))
            if not low < new < high:
                new = (low + high) / 2
            if abs(new - price) < tol or high - low < tol:
                return new, q, it
            price = new
        raise ConvergenceError("the bracketed price search did not converge (float64)")

    # -- many profiles ----------------------------------------------------------------------------
    def solve(self, s, totals, sigma, agents, reports, start, full=False):
        """Solve the profiles 'agent agents[r] reports reports[r]' in cache-sized blocks.

        ``start(lo, hi)`` gives (q, p) to start rows lo..hi-1 from. Returns a :class:`_Solved`.
        Blocks are independent: with ``threads`` > 1 they run on a thread pool (numpy releases
        the GIL inside its loops), each writing its own rows, so the result does not depend on it.
        """
        count = len(agents)
        size = max(4, _BLOCK // max(self.n, 1))
        out = _Solved(np.empty(count), np.empty(count), np.empty(count), np.empty(count))
        if full:
            out.q, out.dq = np.empty((count, self.n)), np.empty((count, self.n))
        ranges = [(lo, min(count, lo + size)) for lo in range(0, count, size)]
        work = lambda bounds: self._solve_block(s, totals, sigma, agents, reports, start, full, out, *bounds)  # noqa: E731
        if self.threads > 1 and len(ranges) > 1:
            iterations = list(_pool(self.threads).map(work, ranges))
        else:
            iterations = [work(bounds) for bounds in ranges]
        out.iterations = max(iterations, default=0)
        self.solves += count
        return out

    def _solve_block(self, s, totals, sigma, agents, reports, start, full, out, lo, hi):
        block = self.ev.block(s, totals, agents[lo:hi], reports[lo:hi])
        q0, p0 = start(lo, hi)
        found = self._newton(block, s, q0, p0, sigma)
        if found is None:
            found = self._rescue(s, sigma, agents[lo:hi], reports[lo:hi], q0)
            block = self.ev.block(s, totals, agents[lo:hi], reports[lo:hi])
        q, price, slope, iterations, _ = found
        weights = 1.0 / (sigma - slope)
        total, own_column, column = block.response(q, weights, full)
        dprice = total / weights.sum(axis=1)
        rows = np.arange(hi - lo)
        out.price[lo:hi] = price
        out.own[lo:hi] = q[rows, agents[lo:hi]]
        out.dprice[lo:hi] = dprice
        out.down[lo:hi] = weights[rows, agents[lo:hi]] * (own_column - dprice)
        if full:
            out.q[lo:hi] = q
            out.dq[lo:hi] = weights * (column - dprice[:, None])
        return iterations

    def _rescue(self, s, sigma, agents, reports, q0):
        """Rows whose Newton did not settle: each solved alone from a bracketed price."""
        qs, ps, slopes, its, res = [], [], [], 0, 0.0
        for agent, report in zip(agents, reports):
            profile = s.copy()
            profile[agent] = report
            eq = self.equilibrium(profile, sigma)
            qs.append(eq.allocation)
            ps.append(eq.price)
            slopes.append(eq.slopes)
            its, res = max(its, eq.iterations), max(res, eq.residual)
        return np.array(qs), np.array(ps), np.array(slopes), its, res

    # -- the schedules ------------------------------------------------------------------------------
    def schedules(self, s, sigma, base):
        """Every agent's :class:`Schedules` entry along its own report, others at s."""
        s = np.asarray(s, dtype=np.float64)
        totals = self.ev.aggregates(s)
        n = self.n
        per_batch = max(1, min(n, (2 ** 21) // (8 * n)))
        found = []
        for lo in range(0, n, per_batch):
            agents = np.arange(lo, min(n, lo + per_batch))
            found.append(self._sweep_batch(s, totals, sigma, base, agents))
        return Schedules.join(found, n)

    def _sweep_batch(self, s, totals, sigma, base, agents):
        known = _Known(self.n)
        b = len(agents)
        q_base = np.broadcast_to(base.allocation, (b, self.n))
        block = self.ev.block(s, totals, agents, s[agents])
        weights = 1.0 / (sigma - np.broadcast_to(base.slopes, (b, self.n)))
        total, own_column, column = block.response(np.ascontiguousarray(q_base), weights, True)
        dprice = total / weights.sum(axis=1)
        at_base = known.add(agents, s[agents], q_base, np.full(b, base.price),
                            weights * (column - dprice[:, None]), dprice)

        # reports 0, 1/2 and 1, from the tangent at the true report
        ends = np.array([0.0, 0.5, 1.0])
        rows_agent = np.repeat(agents, 3)
        rows_report = np.tile(ends, b)
        rows_from = np.repeat(at_base, 3)
        solved = self.solve(s, totals, sigma, rows_agent, rows_report,
                            known.tangent(rows_from, rows_report), full=True)
        index = known.add(rows_agent, rows_report, solved.q, solved.price, solved.dq, solved.dprice)
        at_zero, at_half, at_one = index[0::3], index[1::3], index[2::3]
        q_zero = known.q[at_zero, agents]
        q_one = known.q[at_one, agents]

        pivot = np.where(q_zero >= 0, 0.0, 1.0)
        at_pivot = np.where(q_zero >= 0, at_zero, at_one)
        inner = np.nonzero((q_zero < 0) & (q_one > 0))[0]
        if inner.size:
            r, k = self._pivots(s, totals, sigma, agents[inner], known,
                                at_zero[inner], at_half[inner], at_one[inner], at_base[inner])
            pivot[inner], at_pivot[inner] = r, k

        tasks = []
        for m, agent in enumerate(agents):
            points = [(0.0, at_zero[m]), (1.0, at_one[m]), (s[agent], at_base[m]),
                      (pivot[m], at_pivot[m]), (0.5, at_half[m])]
            kept = []
            for x, k in points:
                if all(abs(x - y) > _GAP for y, _ in kept):
                    kept.append((x, k))
            kept.sort()
            tasks += [(agent, a, bb, ka, kb) for (a, ka), (bb, kb) in zip(kept, kept[1:])]
        panels = self._panels(s, totals, sigma, known, tasks)
        q_b = known.q[at_pivot, agents]
        p_b = known.p[at_pivot]
        return _Batch(agents, pivot, (p_b + sigma * q_b) * q_b, panels)

    def _pivots(self, s, totals, sigma, agents, known, at_zero, at_half, at_one, at_base):
        """Each agent's report r in (0, 1) with q_i(r, s_-i) = 0: Newton on r inside a bracket.

        Stops when the Newton step is at rounding level (below 16 eps, or below 2**10 eps twice):
        the report solved then is the boundary type; its q_b (about step * dq_i/dr) enters eq. 7's
        constant consistently.
        """
        count = len(agents)
        low, high = np.zeros(count), np.ones(count)
        q_low, q_high = known.q[at_zero, agents], known.q[at_one, agents]
        r = q_low / (q_low - q_high)
        candidates = [at_zero, at_half, at_base, at_one]
        result_r, result_k = np.empty(count), np.empty(count, dtype=np.intp)
        near_before = np.zeros(count, dtype=bool)     # a step below 2**10 eps twice: rounding level
        active = np.arange(count)
        for _ in range(_MAX_BRACKET):
            ra = r[active]
            near = known.nearest([c[active] for c in candidates], ra)
            solved = self.solve(s, totals, sigma, agents[active], ra, known.tangent(near, ra), full=True)
            index = known.add(agents[active], ra, solved.q, solved.price, solved.dq, solved.dprice)
            latest = np.full(count, -1, dtype=np.intp)
            latest[active] = index
            candidates.append(latest)
            x, slope = solved.own, solved.down
            low[active] = np.where(x < 0, ra, low[active])
            high[active] = np.where(x > 0, ra, high[active])
            mid = (low[active] + high[active]) / 2
            step = np.where(slope > 0, x / np.where(slope > 0, slope, 1.0), np.inf)
            new = np.where((low[active] < ra - step) & (ra - step < high[active]), ra - step, mid)
            close = np.abs(step) <= 1024 * _EPS * (1 + np.abs(ra))
            finished = ((x == 0) | (np.abs(step) <= 16 * _EPS * (1 + np.abs(ra))) | (close & near_before[active])
                        | (high[active] - low[active] <= 4 * _EPS))
            near_before[active] = close
            result_r[active[finished]] = ra[finished]
            result_k[active[finished]] = index[finished]
            r[active] = new
            active = active[~finished]
            if not active.size:
                return result_r, result_k
        raise ConvergenceError(f"agent {agents[active[0]] + 1}'s pivotal report did not converge (float64)")

    def _panels(self, s, totals, sigma, known, tasks):
        """Solve every task's nodes at once, split where a series' tail is too large."""
        n = self.nodes
        done = []
        depth = 0
        while tasks:
            agents = np.array([t[0] for t in tasks], dtype=np.intp)
            a = np.array([t[1] for t in tasks])
            b = np.array([t[2] for t in tasks])
            ka = np.array([t[3] for t in tasks], dtype=np.intp)
            kb = np.array([t[4] for t in tasks], dtype=np.intp)
            half, mid = (b - a) / 2, (a + b) / 2
            reports = (mid[:, None] + half[:, None] * self._x[None, :]).ravel()
            rows_agent = np.repeat(agents, n)
            solved = self.solve(s, totals, sigma, rows_agent, reports,
                                known.hermite(np.repeat(ka, n), np.repeat(kb, n), reports))
            quantity = solved.own.reshape(-1, n)
            unit = (solved.price + sigma * solved.own).reshape(-1, n)
            pay = unit * solved.down.reshape(-1, n)
            cq, cu, cp = (v @ self._transform.T for v in (quantity, unit, pay))
            scale = 1 + np.maximum(np.abs(cq).max(axis=1), np.abs(cp).max(axis=1))
            tail = np.maximum(np.maximum(_tail(cq), _tail(cu)), _tail(cp))
            bad = tail > _TARGET * scale
            good = ~bad
            done.append((agents[good], a[good], b[good], cq[good], cu[good], cp[good]))
            if not bad.any():
                break
            depth += 1
            if depth > _MAX_SPLITS:
                k = np.nonzero(bad)[0][0]
                raise ConvergenceError(
                    f"agent {agents[k] + 1}'s schedule is not smooth enough near report {a[k]:.8g} for "
                    f"float64 (Legendre tail {tail[k]:.3g}); try --backend mpmath")
            split = np.nonzero(bad)[0]
            middle = mid[split]
            solved = self.solve(s, totals, sigma, agents[split], middle,
                                known.hermite(ka[split], kb[split], middle), full=True)
            km = known.add(agents[split], middle, solved.q, solved.price, solved.dq, solved.dprice)
            tasks = []
            for k, j in enumerate(split):
                tasks += [(agents[j], a[j], middle[k], ka[j], km[k]), (agents[j], middle[k], b[j], km[k], kb[j])]
        return [np.concatenate(parts) for parts in zip(*done)]

    # -- checks -------------------------------------------------------------------------------------
    def utility(self, agents, x, s):
        """u_i(x_k, s) for i = agents[k]."""
        s = np.asarray(s, dtype=np.float64)
        return self.ev.utility_pairs(np.asarray(agents), np.asarray(x, dtype=np.float64), s,
                                     self.ev.aggregates(s))

    def direct_payoff(self, schedules, agent, s, sigma, kind, r, base):
        """Agent's payoff from report r with q and t from fresh solves (no interpolation)."""
        s = np.asarray(s, dtype=np.float64)
        totals = self.ev.aggregates(s)
        start = lambda lo, hi: (np.broadcast_to(base.allocation, (hi - lo, self.n)).copy(),
                                np.full(hi - lo, base.price))
        at = self.solve(s, totals, sigma, np.array([agent]), np.array([r]), start)
        x = at.own[0]
        if kind == "naive":
            return float(self.utility([agent], [x], s)[0] - (at.price[0] + sigma * x) * x)
        a = schedules.panel_start(agent, r)
        nodes = (a + r) / 2 + (r - a) / 2 * self._x
        solved = self.solve(s, totals, sigma, np.full(self.nodes, agent), nodes, start)
        integral = (r - a) / 2 * np.sum(self._w * (solved.price + sigma * solved.own) * solved.down)
        transfer = schedules.transfer(np.array([agent]), np.array([a]))[0] + integral
        return float(self.utility([agent], [x], s)[0] - transfer)


def _tail(c):
    """Per row: the Legendre tail estimate of numeric.Series.tail."""
    c = np.abs(c)
    last = np.maximum(c[:, -1], c[:, -2])
    before = np.maximum(c[:, -3], c[:, -4])
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where((before == 0) | (last >= before), last, last * last / before)


@dataclass
class _Equilibrium:
    price: float
    allocation: np.ndarray
    slopes: np.ndarray
    iterations: int
    residual: float
    method: str


class _Known:
    """Solved profiles along own reports: q, p and their Lemma 2 derivatives in the report."""

    def __init__(self, n):
        self.n = n
        self.count = 0
        self.q = np.empty((0, n))
        self.dq = np.empty((0, n))
        self.p = np.empty(0)
        self.dp = np.empty(0)
        self.r = np.empty(0)

    def add(self, agents, r, q, p, dq, dp):
        k = len(agents)
        if self.count + k > len(self.p):
            grow = max(2 * len(self.p), self.count + k)
            for name in ("q", "dq"):
                old = getattr(self, name)
                new = np.empty((grow, self.n))
                new[: self.count] = old[: self.count]
                setattr(self, name, new)
            for name in ("p", "dp", "r"):
                old = getattr(self, name)
                new = np.empty(grow)
                new[: self.count] = old[: self.count]
                setattr(self, name, new)
        sl = slice(self.count, self.count + k)
        self.q[sl], self.dq[sl], self.p[sl], self.dp[sl], self.r[sl] = q, dq, p, dp, r
        self.count += k
        return np.arange(sl.start, sl.stop)

    def tangent(self, index, r):
        """start(lo, hi): first-order prediction from known points ``index`` to reports r."""
        def start(lo, hi):
            k = index[lo:hi]
            h = r[lo:hi] - self.r[k]
            return self.q[k] + h[:, None] * self.dq[k], self.p[k] + h * self.dp[k]
        return start

    def hermite(self, ka, kb, r):
        """start(lo, hi): cubic Hermite prediction between known points ka and kb."""
        def start(lo, hi):
            a, b = ka[lo:hi], kb[lo:hi]
            h = self.r[b] - self.r[a]
            t = (r[lo:hi] - self.r[a]) / h
            t2, t3 = t * t, t * t * t
            h00, h10, h01, h11 = 2 * t3 - 3 * t2 + 1, (t3 - 2 * t2 + t) * h, 3 * t2 - 2 * t3, (t3 - t2) * h
            q = (h00[:, None] * self.q[a] + h10[:, None] * self.dq[a]
                 + h01[:, None] * self.q[b] + h11[:, None] * self.dq[b])
            p = h00 * self.p[a] + h10 * self.dp[a] + h01 * self.p[b] + h11 * self.dp[b]
            return q, p
        return start

    def nearest(self, candidates, r):
        """For each row, the candidate known point (index >= 0) closest in report to r."""
        table = np.stack(candidates, axis=1)
        where = np.where(table >= 0, self.r[np.maximum(table, 0)], np.inf)
        return table[np.arange(len(r)), np.argmin(np.abs(where - r[:, None]), axis=1)]


@dataclass
class _Batch:
    agents: np.ndarray
    pivots: np.ndarray
    pivot_transfers: np.ndarray
    panels: list


class Schedules:
    """Every agent's schedule along its own report: flat arrays of panels, sorted by agent then
    report, each with the Legendre coefficients of q_i, of p + sigma q_i and of the eq. 4
    integrand, and the integral of the integrand from 0 to the panel's start."""

    def __init__(self, n, pivots, pivot_transfers, agents, a, b, cq, cu, cp):
        order = np.lexsort((a, agents))
        self.n = n
        self.pivots, self.pivot_transfers = pivots, pivot_transfers
        self.agent, self.a, self.b = agents[order], a[order], b[order]
        self.cq, self.cu, self.cp = cq[order], cu[order], cp[order]
        self.anti = _legendre.legint(self.cp, lbnd=-1, axis=1)
        whole = (self.b - self.a) * self.cp[:, 0]
        self.first = np.searchsorted(self.agent, np.arange(n), side="left")
        self.last = np.searchsorted(self.agent, np.arange(n), side="right") - 1
        cumulative = np.cumsum(whole) - whole
        self.start = cumulative - cumulative[self.first][self.agent]
        self.keys = self.agent + self.b
        self.nodes = len(self.a) * cq.shape[1]
        self.pivot_integral = self.integral(np.arange(n), pivots)

    @classmethod
    def join(cls, batches, n):
        pivots, transfers = np.empty(n), np.empty(n)
        parts = [[] for _ in range(6)]
        for batch in batches:
            pivots[batch.agents] = batch.pivots
            transfers[batch.agents] = batch.pivot_transfers
            for k in range(6):
                parts[k].append(batch.panels[k])
        return cls(n, pivots, transfers, *(np.concatenate(p) for p in parts))

    def _panel(self, agents, r):
        k = np.searchsorted(self.keys, agents + r, side="left")
        return np.clip(k, self.first[agents], self.last[agents])

    def _x(self, k, r):
        return (2 * r - self.a[k] - self.b[k]) / (self.b[k] - self.a[k])

    def quantity(self, agents, r):
        """q_i(r, s_-i) for i = agents[k], r = r[k]."""
        k = self._panel(agents, r)
        return _legendre.legval(self._x(k, r), self.cq[k].T, tensor=False)

    def unit_price(self, agents, r):
        """p(r, s_-i) + sigma q_i(r, s_-i)."""
        k = self._panel(agents, r)
        return _legendre.legval(self._x(k, r), self.cu[k].T, tensor=False)

    def integral(self, agents, r):
        """The integral of the eq. 4 integrand from 0 to r."""
        k = self._panel(agents, r)
        x = self._x(k, r)
        return self.start[k] + (self.b[k] - self.a[k]) / 2 * _legendre.legval(x, self.anti[k].T, tensor=False)

    def transfer(self, agents, r):
        """The IC/IR transfer of eq. 4 + 7 when agent i reports r."""
        return self.pivot_transfers[agents] + self.integral(agents, r) - self.pivot_integral[agents]

    def naive_transfer(self, agents, r):
        """Eq. 2: (p + sigma q_i) q_i at report r."""
        return self.unit_price(agents, r) * self.quantity(agents, r)

    def panel_start(self, agent, r):
        return float(self.a[self._panel(np.array([agent]), np.array([r]))[0]])

    def search_points(self):
        """(agents, reports): every breakpoint and _SEARCH_POINTS - 1 points inside each panel."""
        inner = np.arange(1, _SEARCH_POINTS) / _SEARCH_POINTS
        reports = np.concatenate([self.a, self.b, self.pivots,
                                  (self.a[:, None] + (self.b - self.a)[:, None] * inner[None, :]).ravel()])
        agents = np.concatenate([self.agent, self.agent, np.arange(self.n), np.repeat(self.agent, len(inner))])
        order = np.lexsort((reports, agents))
        return agents[order], reports[order]


# -- the whole outcome --------------------------------------------------------------------------------

@dataclass
class FastOutcome:
    """Plain float64 results of :func:`solve_float64` (``symmech.verify`` turns them into an Outcome)."""

    price: float
    allocation: np.ndarray
    transfers: np.ndarray
    utilities: np.ndarray
    pivots: np.ndarray
    walrasian_price: float
    walrasian_allocation: np.ndarray
    residual: float               # |sum q|
    ir_margins: np.ndarray
    regrets: np.ndarray
    misreports: np.ndarray
    shortfalls: np.ndarray
    tolerance: float
    method: str
    iterations: int
    solver_residual: float
    nodes: int


def solve_float64(economy, signals, sigma, kind="ic", market=None):
    """The mechanism at profile ``signals`` (floats) in float64, with the data of every check.

    Floating-point warnings are silenced: a NaN or an overflow is caught where it matters (A1 at
    q = 0, the A4 sign test, Newton's residual) and reported as an error.
    """
    with np.errstate(all="ignore"):
        return _solve_float64(economy, signals, sigma, kind, market)


def _solve_float64(economy, signals, sigma, kind, market):
    market = market or FastMarket(economy)
    s = np.asarray(signals, dtype=np.float64)
    n = market.n
    everyone = np.arange(n)
    base = market.equilibrium(s, sigma)
    schedules = market.schedules(s, sigma, base)
    q = base.allocation
    if kind == "ic":
        transfers = schedules.transfer(everyone, s)
    else:
        transfers = (base.price + sigma * q) * q
    gross = market.utility(everyone, q, s)
    utilities = gross - transfers
    walras = market.equilibrium(s, 0.0, (q, base.price))
    scale = max([1.0, float(np.abs(transfers).max()), float(np.abs(utilities).max())])
    tol = 10.0 ** (5 - DPS) * (1 + scale)
    margins = utilities - market.utility(everyone, np.zeros(n), s)
    regrets, misreports = _regrets(market, schedules, s, sigma, kind, utilities, tol, base)
    shortfalls = market.utility(everyone, walras.allocation, s) - walras.price * walras.allocation - utilities
    return FastOutcome(base.price, q, transfers, utilities, schedules.pivots, walras.price, walras.allocation,
                       abs(float(np.sum(q))), margins, regrets, misreports, shortfalls, tol,
                       f"float64 (numpy): {base.method}; transfers on Gauss-Legendre panels, "
                       f"{market.nodes} nodes each", base.iterations, base.residual, market.solves)


def _regrets(market, schedules, s, sigma, kind, truthful, tol, base):
    """Each agent's largest gain from a misreport in [0, 1], and that report (numeric.verify's search)."""
    n = market.n

    def payoff(agents, r):
        t = schedules.transfer(agents, r) if kind == "ic" else schedules.naive_transfer(agents, r)
        return market.utility(agents, schedules.quantity(agents, r), s) - t

    agents, points = schedules.search_points()
    values = payoff(agents, points)
    order = np.lexsort((-values, agents))
    first = np.searchsorted(agents[order], np.arange(n), side="left")
    best_at = order[first]                       # index of each agent's best point
    lo = np.searchsorted(agents, np.arange(n), side="left")
    hi = np.searchsorted(agents, np.arange(n), side="right") - 1
    best_r, best = points[best_at], values[best_at]
    left = points[np.maximum(best_at - 1, lo)]
    right = points[np.minimum(best_at + 1, hi)]
    r, value = golden_max(lambda x: payoff(np.arange(n), x), left, right, (math.sqrt(5) - 1) / 2,
                          _GOLDEN_STEPS, where=np.where)
    better = value > best
    best_r, best = np.where(better, r, best_r), np.where(better, value, best)
    regrets = best - truthful
    for i in np.nonzero(regrets > tol)[0]:       # a violation is confirmed by fresh solves
        regrets[i] = market.direct_payoff(schedules, i, s, sigma, kind, best_r[i], base) - truthful[i]
    return regrets, best_r


# -- the assumptions pre-check at scale ------------------------------------------------------------------

def require_assumptions_at_scale(economy, samples=400, seed=0, market=None):
    """Raise AssumptionError if A4 or A2 breaks at a sampled point, through the templates.

    The pre-check ``solve`` runs for an economy whose expanded utilities do not exist yet (a
    large model file): the sampling of :func:`symmech.assumptions.require_assumptions` (random
    profiles, some with signals at 0 or 1, and the centre; q first in [-1, 1], then in
    [-2M/|C_q|, 2M/|C_q|]) evaluated in O(N) per point.
    """
    from .assumptions import Witness
    market = market or FastMarket(economy)
    n = market.n
    rng = np.random.default_rng(seed)
    found = []
    bound = 1.0
    for _ in range(2):
        free = rng.random((samples, n))
        edge = rng.random((max(1, samples // 4), n))
        mask = rng.random(edge.shape) < 0.5
        edge[mask] = rng.integers(0, 2, edge.shape).astype(np.float64)[mask]
        profiles = np.vstack([free, edge, np.full((1, n), 0.5)])
        q = rng.uniform(-bound, bound, len(profiles))
        with np.errstate(all="ignore"):
            mu0, _, _ = market.ev.own_slopes(np.zeros(profiles.shape), profiles)
            _, slope, own = market.ev.own_slopes(np.broadcast_to(q[:, None], profiles.shape), profiles)
        found.append((profiles, q, slope, own))
        big_m, c_q = np.nanmax(np.abs(mu0)), np.nanmax(slope)
        if not (np.isfinite(big_m) and np.isfinite(c_q) and c_q < 0):
            break
        bound = max(1.0, 2 * big_m / abs(c_q))
    for name, pick, sign, label, meaning in (
            ("A4", 2, 1, "d mu_{a}/d q", "marginal utility must decrease in q"),
            ("A2", 3, -1, "d mu_{a}/d s_{a}", "marginal utility must increase in own signal")):
        for sample in found:
            values = sample[pick]
            bad = ~np.isfinite(values) | (sign * values >= 0)
            if bad.any():
                k, j = np.argwhere(bad)[0]
                value = float(values[k, j])
                quantity = label.format(a=j + 1)
                relation = "is not finite" if not np.isfinite(value) else (">= 0" if sign > 0 else "<= 0")
                witness = Witness(agent=int(j + 1), signals=tuple(map(float, sample[0][k])), q=float(sample[1][k]),
                                  value=value, quantity=quantity)
                raise AssumptionError(f"{name} fails for agent {j + 1}: {quantity} = {value:.6g} {relation} at "
                                      f"q = {sample[1][k]:.6g}, s = {_show(sample[0][k])}; {meaning}",
                                      assumption=name, agent=int(j + 1), witness=witness)


def sample_derivatives(economy, q, profiles, market=None):
    """d mu_i/dq and d mu_i/d s_i of every agent at points (q[k], profiles[k]): two (K, N) arrays.

    Each point's q is used for every agent. Through templates this costs O(N) per point.
    """
    market = market or FastMarket(economy)
    profiles = np.asarray(profiles, dtype=np.float64)
    _, slope, own = market.ev.own_slopes(np.broadcast_to(np.asarray(q, dtype=np.float64)[:, None], profiles.shape),
                                         profiles)
    return slope, own
