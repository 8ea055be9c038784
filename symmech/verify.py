"""Ex-post checks at a profile, and ``solve``: the mechanism's outcome with every check.

At a profile s: market clearing (the residual of sum q_i), budget surplus (sum t_i), individual
rationality (the worst agent's utility over not trading), incentive compatibility (the largest
regret any agent gets from any misreport in [0, 1], found by a dense search over each agent's
schedule, refined by golden section and confirmed by a fresh solve when positive) and
epsilon-Pareto efficiency (the largest shortfall against the Walrasian allocation with Walrasian
transfers, sigma = 0).

Two backends run the same algorithm: ``"mpmath"`` (:mod:`symmech.numeric`, any dps) and
``"float64"`` (:mod:`symmech.fast`, numpy, vectorised over agents; its outcomes have dps = 15);
``"auto"`` takes float64 when dps <= 15.
"""

from dataclasses import dataclass
from fractions import Fraction
import math

import mpmath

from ._numbers import decimal_text as _decimal, exact_profile, format_number, to_mpf, tolerance, working_precision
from ._quadrature import gauss_legendre
from ._search import golden_max
from .errors import ModelError
from .model import Economy
from .numeric import Market, _nodes_for, sweep

__all__ = ["solve", "Outcome", "Checks", "SolverInfo", "check_profile", "BACKENDS", "backend_for"]

#: The numeric backends ``solve`` accepts.
BACKENDS = ("auto", "mpmath", "float64")
_FLOAT64_DPS = 15

MAX_DPS = 1000           # beyond this a solve takes hours: refuse rather than hang
_SEARCH_POINTS = 12      # per panel, in the dense regret search
_GOLDEN_STEPS = 56


@dataclass(frozen=True)
class MarketClearing:
    holds: bool
    residual: object


@dataclass(frozen=True)
class BudgetSurplus:
    holds: bool
    value: object


@dataclass(frozen=True)
class IndividualRationality:
    holds: bool
    margin: object
    agent: int            # the worst agent, numbered from 1


@dataclass(frozen=True)
class IncentiveCompatibility:
    holds: bool
    max_regret: object
    agent: int            # the agent with the largest regret, from 1
    misreport: object     # the report that gives it


@dataclass(frozen=True)
class Pareto:
    epsilon: object       # max over agents of the shortfall against the WE, at least 0
    agent: int


@dataclass(frozen=True)
class Checks:
    market_clearing: MarketClearing
    budget_surplus: BudgetSurplus
    individual_rationality: IndividualRationality
    incentive_compatibility: IncentiveCompatibility
    pareto: Pareto

    @property
    def all_hold(self):
        return all(c.holds for c in (self.market_clearing, self.budget_surplus,
                                     self.individual_rationality, self.incentive_compatibility))


@dataclass(frozen=True)
class SolverInfo:
    method: str
    iterations: int       # Newton steps for the equilibrium at the profile
    residual: object      # its largest FOC / clearing residual
    nodes: int            # equilibria solved along the agents' own reports
    converged: bool


@dataclass(frozen=True)
class Outcome:
    """The sigma-WE mechanism at one profile: what each agent gets and pays, and the checks."""

    economy: Economy
    signals: tuple
    sigma: Fraction
    dps: int
    transfers_kind: str
    price: object
    allocation: tuple
    transfers: tuple
    utilities: tuple
    budget_surplus: object
    pivots: tuple
    walrasian_price: object
    walrasian_allocation: tuple
    checks: Checks
    solver: SolverInfo

    def to_dict(self):
        """The JSON object of DESIGN.md; numbers as decimal strings, agents from 1."""
        f = lambda x: format_number(x, self.dps)
        c = self.checks
        ic = c.incentive_compatibility
        return {
            "agents": self.economy.n, "sigma": _decimal(self.sigma), "dps": self.dps,
            "price": f(self.price),
            "allocation": [f(x) for x in self.allocation],
            "transfers": [f(x) for x in self.transfers],
            "utilities": [f(x) for x in self.utilities],
            "budget_surplus": f(self.budget_surplus),
            "checks": {
                "market_clearing": {"holds": c.market_clearing.holds, "residual": f(c.market_clearing.residual)},
                "budget_surplus": {"holds": c.budget_surplus.holds, "value": f(c.budget_surplus.value)},
                "individual_rationality": {"holds": c.individual_rationality.holds,
                                           "margin": f(c.individual_rationality.margin),
                                           "agent": c.individual_rationality.agent},
                "incentive_compatibility": {"holds": ic.holds, "max_regret": f(ic.max_regret),
                                            "agent": ic.agent, "misreport": f(ic.misreport)},
                "pareto": {"epsilon": f(c.pareto.epsilon), "agent": c.pareto.agent},
            },
            "solver": {"method": self.solver.method, "iterations": self.solver.iterations,
                       "residual": mpmath.nstr(self.solver.residual, 3),
                       "nodes": self.solver.nodes, "converged": self.solver.converged},
        }

    def to_text(self):
        """A report for people: the outcome per agent, then each check with its witness."""
        from ._text import outcome_text
        return outcome_text(self)


def backend_for(backend, dps):
    """The backend ``solve`` uses: ``auto`` is float64 when dps <= 15, else mpmath."""
    if backend == "auto":
        return "float64" if isinstance(dps, int) and dps <= _FLOAT64_DPS else "mpmath"
    return backend


def _inputs(economy, signals, sigma, dps, transfers, backend="auto"):
    """Exact, validated inputs; one ModelError naming every mistake."""
    signals, sigma, problems = exact_profile(signals, economy.n, sigma)
    if not isinstance(dps, int) or isinstance(dps, bool) or not 10 <= dps <= MAX_DPS:
        problems.append(f"dps is {dps!r:.30}; ask for 10 to {MAX_DPS} digits")
    if transfers not in ("ic", "naive"):
        problems.append(f"transfers is {transfers!r}; use 'ic' (eq. 4 + 7) or 'naive' (eq. 2)")
    if backend not in BACKENDS:
        problems.append(f"backend is {backend!r}; use 'auto', 'mpmath' (any dps) or 'float64' (numpy, 15 digits)")
    if problems:
        raise ModelError(problems)
    return signals, sigma


def solve(economy, signals, sigma, dps=30, transfers="ic", check_assumptions=True, backend="auto"):
    """The sigma-WE mechanism at a profile, with every ex-post check.

    Parameters
    ----------
    economy : Economy, or a model file path or catalogue name
    signals : one exact number per agent, in [0, 1] ("0.12", 3, Fraction, Rational, float)
    sigma : the slope sigma >= 0 of eq. 1
    dps : significant digits wanted (>= 10); results are correct to at least dps - 5
    transfers : "ic" (eq. 4 with eq. 7's constants) or "naive" (eq. 2)
    check_assumptions : run the A2/A4 sampling pre-check first
    backend : "mpmath" (any dps), "float64" (numpy, vectorised over agents; the outcome has
        dps = 15) or "auto" (float64 when dps <= 15); ``outcome.solver.method`` names it

    Examples
    --------
    >>> import symmech
    >>> out = symmech.solve("example1", ["0.1", "0.2", "0.3", "0.4", "0.5", "0.6"], "0.1", dps=20)
    >>> print(mpmath.nstr(out.price, 10), out.checks.incentive_compatibility.holds, out.solver.method.split(":")[0])
    0.525 True mpmath
    >>> fast = symmech.solve("example1", ["0.1", "0.2", "0.3", "0.4", "0.5", "0.6"], "0.1", backend="float64")
    >>> print(mpmath.nstr(fast.price, 10), fast.dps, fast.solver.method.split(":")[0])
    0.525 15 float64 (numpy)
    """
    if not isinstance(economy, Economy):
        from .model import load_model
        economy = load_model(economy)
    exact_signals, exact_sigma = _inputs(economy, signals, sigma, dps, transfers, backend)
    backend = backend_for(backend, dps)
    if check_assumptions:
        if economy.expanded:
            from .assumptions import require_assumptions
            require_assumptions(economy)
        else:                     # a large model file: sample through the templates instead
            from .fast import require_assumptions_at_scale
            require_assumptions_at_scale(economy)
    if backend == "float64":
        return _outcome_float64(economy, exact_signals, exact_sigma, transfers)
    market = Market(economy)
    with working_precision(dps):
        s = [to_mpf(x) for x in exact_signals]
        return _outcome(market, s, exact_signals, exact_sigma, dps, transfers)


def _outcome_float64(economy, exact_signals, exact_sigma, kind):
    """The outcome by the float64 backend; numbers become mpf (exactly the doubles computed)."""
    from .fast import DPS, solve_float64
    found = solve_float64(economy, [float(x) for x in exact_signals], float(exact_sigma), kind)
    f = lambda x: mpmath.mpf(float(x))        # noqa: E731 - a double is exact as an mpf
    tol = found.tolerance
    agents = range(economy.n)
    worst = min(agents, key=lambda i: found.ir_margins[i])
    top = max(agents, key=lambda i: found.regrets[i])
    gap = max(agents, key=lambda i: found.shortfalls[i])
    surplus = math.fsum(found.transfers)
    checks = Checks(
        MarketClearing(found.residual <= tol, f(found.residual)),
        BudgetSurplus(surplus >= -tol, f(surplus)),
        IndividualRationality(bool(found.ir_margins[worst] >= -tol), f(found.ir_margins[worst]), worst + 1),
        IncentiveCompatibility(bool(found.regrets[top] <= tol), f(found.regrets[top]), top + 1,
                               f(found.misreports[top])),
        Pareto(f(max(found.shortfalls[gap], 0.0)), gap + 1))
    solver = SolverInfo(found.method, found.iterations, f(found.solver_residual), found.nodes, True)
    return Outcome(economy, exact_signals, exact_sigma, DPS, kind, f(found.price),
                   tuple(map(f, found.allocation)), tuple(map(f, found.transfers)), tuple(map(f, found.utilities)),
                   f(surplus), tuple(map(f, found.pivots)), f(found.walrasian_price),
                   tuple(map(f, found.walrasian_allocation)), checks, solver)


def _outcome(market, s, exact_signals, exact_sigma, dps, kind):
    sigma = to_mpf(exact_sigma)
    n = market.n
    base = market.equilibrium(s, sigma)
    schedules = []
    for i in range(n):
        schedules.append(sweep(market, i, s, sigma, base, dps))
    q = base.allocation
    payment = (lambda sch, r: sch.transfer(r)) if kind == "ic" else (lambda sch, r: sch.naive_transfer(r))
    transfers = tuple(payment(schedules[i], s[i]) for i in range(n))
    utilities = tuple(market.utility(i, q[i], s) - transfers[i] for i in range(n))
    walras = market.equilibrium(s, mpmath.mpf(0), base)
    checks = check_profile(market, s, sigma, dps, kind, base, schedules, transfers, utilities, walras)
    solver = SolverInfo(f"mpmath: {base.method}; transfers on Gauss-Legendre panels, "
                        f"{_nodes_for(dps)} nodes each",
                        base.iterations, base.residual,
                        sum(sch.nodes for sch in schedules), True)
    return Outcome(market.economy, exact_signals, exact_sigma, dps, kind, base.price, q, transfers,
                   utilities, mpmath.fsum(transfers), tuple(sch.pivot for sch in schedules),
                   walras.price, walras.allocation, checks, solver)


def check_profile(market, s, sigma, dps, kind, base, schedules, transfers, utilities, walras):
    """MC, BS, IR, IC and epsilon-PE at profile s, each with its margin and witness."""
    n = market.n
    q = base.allocation
    scale = max([1] + [abs(t) for t in transfers] + [abs(u) for u in utilities])
    tol = tolerance(dps, scale)
    residual = abs(mpmath.fsum(q))
    surplus = mpmath.fsum(transfers)
    margins = [utilities[i] - market.utility(i, mpmath.mpf(0), s) for i in range(n)]
    worst = min(range(n), key=lambda i: margins[i])
    regrets = [_regret(market, schedules[i], i, s, sigma, kind, utilities[i], tol) for i in range(n)]
    top = max(range(n), key=lambda i: regrets[i][0])
    shortfall = [market.utility(i, walras.allocation[i], s) - walras.price * walras.allocation[i]
                 - utilities[i] for i in range(n)]
    gap = max(range(n), key=lambda i: shortfall[i])
    return Checks(
        MarketClearing(residual <= tol, residual),
        BudgetSurplus(surplus >= -tol, surplus),
        IndividualRationality(margins[worst] >= -tol, margins[worst], worst + 1),
        IncentiveCompatibility(regrets[top][0] <= tol, regrets[top][0], top + 1, regrets[top][1]),
        Pareto(max(shortfall[gap], mpmath.mpf(0)), gap + 1))


def _regret(market, schedule, i, s, sigma, kind, truthful, tol):
    """The largest gain of agent i from reporting r in [0, 1] instead of s_i, and that r."""
    def payoff(r):
        t = schedule.transfer(r) if kind == "ic" else schedule.naive_transfer(r)
        return market.utility(i, schedule.quantity(r), s) - t

    points = set(schedule.grid())
    for panel in schedule.panels:
        step = (panel.b - panel.a) / _SEARCH_POINTS
        points.update(panel.a + k * step for k in range(1, _SEARCH_POINTS))
    points = sorted(points)
    values = [payoff(r) for r in points]
    k = max(range(len(points)), key=lambda j: values[j])
    best_r, best = points[k], values[k]
    left, right = points[max(k - 1, 0)], points[min(k + 1, len(points) - 1)]
    r, value = golden_max(payoff, left, right, (mpmath.sqrt(5) - 1) / 2, _GOLDEN_STEPS)
    if value > best:
        best_r, best = r, value
    regret = best - truthful
    if regret > tol:      # a violation is confirmed by a fresh solve, not by the series
        regret = _direct_payoff(market, schedule, i, s, sigma, kind, best_r) - truthful
    return regret, best_r


def _direct_payoff(market, schedule, i, s, sigma, kind, r):
    """Agent i's payoff from report r with q and t from fresh solves (no interpolation)."""
    panel = schedule.panel_at(r)
    profile = list(s)
    profile[i] = r
    warm = schedule.equilibria.get(panel.a) or next(iter(schedule.equilibria.values()))
    eq = market.equilibrium(profile, sigma, warm)
    x = eq.allocation[i]
    if kind == "naive":
        return market.utility(i, x, s) - (eq.price + sigma * x) * x
    n = len(panel.payment.coefficients)
    nodes, weights = gauss_legendre(n, panel.a, r)
    total = mpmath.mpf(0)
    for node, w in zip(nodes, weights):
        profile[i] = node
        eq_node = market.equilibrium(profile, sigma, eq)
        _, dq = market.own_report_response(eq_node, i, profile, sigma)
        total += w * (eq_node.price + sigma * eq_node.allocation[i]) * dq[i]
    transfer = schedule.transfer(panel.a) + total
    return market.utility(i, x, s) - transfer
