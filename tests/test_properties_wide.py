"""Ex-post properties of the sigma-WE mechanism over Hypothesis-drawn economies written as model files.

Economies (quadratic and not, 2-12 agents, random groups, exact random parameters) have, for an
agent i in group G,

    mu_i(q, s) = a_i s_i + b_i mean(s_j, G) + e_i mean(s_j) + d_i atan(s_i) - m_i q - c_i g(q)

with g = 0 (linear), tanh(q), q**3, or g = tanh and d_i > 0 (the "atan" kind). The ranges below
keep A1-A4 on [0, 1]^N: d mu_i/d s_i >= a_i - |e_i|/N >= 0.65, |d mu_i/d s_j| <= b_i/2 + |e_i|/2
<= 0.35 < 0.65 (i != j) and d mu_i/dq <= -m_i < 0.

At each drawn profile, with tolerance(dps, scale) of symmech._numbers, the test evaluates the
utilities itself (SymPy, exact signals, dps + 20 digits) and checks market clearing and the FOCs
of eq. 1, individual rationality (u_i(q_i, s) - t_i >= u_i(0, s)), the package's IC regret search,
and one misreport by a second solve at the misreported profile (the payoff it gives with the true
signals must not beat the truth). Pinned examples cover a signal at 0 and at 1, all signals equal
in a symmetric economy (no trade, no payments), pivots exactly at the edges 0 and 1, and 12 agents.

For quadratic economies the closed forms of symmech.symbolic (issue 3) are evaluated exactly at the
profile and compared with the numbers of symmech.solve (price, allocation, transfers at any pivot,
budget surplus); at sigma >= bs_threshold the surplus must be >= 0, and below it the symbolic
deficit profile must run the same deficit numerically. Drawn economies there have 2 agents
(derive costs seconds of SymPy per economy); the catalogue adds 6 and 7.
"""

from dataclasses import dataclass
from fractions import Fraction as F

import mpmath
import pytest
import sympy
from hypothesis import HealthCheck, Phase, example, given, settings, strategies as st

import symmech
from symmech import Q
from symmech._numbers import tolerance
from symmech.model import parse_model

DPS = 20
_TAILS = {"linear": "", "tanh": " - c*log(cosh(q))", "cubic": " - c*q**4/4", "atan": " - c*log(cosh(q))"}


@dataclass(frozen=True)
class Spec:
    """An economy as the test draws it: per-agent exact parameters and a group label per agent."""

    kind: str
    labels: tuple       # group of each agent, e.g. ("A", "A", "B")
    a: tuple
    b: tuple
    e: tuple
    m: tuple
    c: tuple
    d: tuple

    @property
    def n(self):
        return len(self.labels)

    def text(self):
        """The model file of this economy."""
        groups = {g: [k + 1 for k, x in enumerate(self.labels) if x == g] for g in sorted(set(self.labels))}
        own = " + d*atan(s_i)" if self.kind == "atan" else ""
        lines = [f'name = "drawn {self.kind}"', f"agents = {self.n}",
                 "groups = { " + ", ".join(f"{g} = {members}" for g, members in groups.items()) + " }",
                 "[parameters]"]
        for name in ("a", "b", "e", "m", "c", "d"):
            lines.append(f"{name} = [" + ", ".join(f'"{x}"' for x in getattr(self, name)) + "]")
        lines.append("[utility]")
        for g in groups:
            lines.append(f'{g} = "(a*s_i + b*mean(s_j, {g}) + e*mean(s_j){own})*q - m/2*q**2{_TAILS[self.kind]}"')
        return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Case:
    spec: Spec
    signals: tuple      # Fractions in [0, 1]
    sigma: F
    spot: tuple         # (agent index from 0, misreport) for the second solve

    def __repr__(self):   # Hypothesis prints this on failure: enough to rebuild the case
        return (f"Case(kind={self.spec.kind!r}, labels={self.spec.labels}, signals="
                f"{[str(x) for x in self.signals]}, sigma={self.sigma}, spot=({self.spot[0]}, {self.spot[1]}))")


def _grid(lo, hi, den):
    return st.integers(int(lo * den), int(hi * den)).map(lambda k: F(k, den))


@st.composite
def cases(draw):
    n = draw(st.integers(2, 6))              # 7-12 agents are slow: pinned below, not drawn
    kind = draw(st.sampled_from(sorted(_TAILS)))
    labels = tuple(draw(st.lists(st.sampled_from("ABC"), min_size=n, max_size=n)))
    per_agent = lambda strategy: tuple(draw(st.lists(strategy, min_size=n, max_size=n)))  # noqa: E731
    c_top = F(1, 5) if kind == "cubic" else (F(1, 2) if kind != "linear" else F(0))
    spec = Spec(kind, labels,
                a=per_agent(_grid(F(3, 4), F(3, 2), 20)), b=per_agent(_grid(0, F(1, 2), 20)),
                e=per_agent(_grid(F(-1, 5), F(1, 5), 20)), m=per_agent(_grid(F(1, 2), 2, 10)),
                c=per_agent(_grid(0, c_top, 20)),
                d=per_agent(_grid(0, F(1, 2), 10)) if kind == "atan" else (F(0),) * n)
    signals = tuple(draw(st.lists(_grid(0, 1, 100), min_size=n, max_size=n)))
    sigma = draw(_grid(0, 1, 20))
    spot = (draw(st.integers(0, n - 1)), draw(_grid(0, 1, 50)))
    return Case(spec, signals, sigma, spot)


def _symmetric(n, kind, signals, sigma=F(1, 4), spot=None, m=None, c=None):
    """Equal a, b, e, d for every agent (m and c may differ: they vanish at q = 0), one group per
    half. With all signals equal, mu_i(0, s) is the same for every i, so q = 0 solves eq. 1."""
    labels = tuple("A" if k < n // 2 else "B" for k in range(n))
    spec = Spec(kind, labels, a=(F(1),) * n, b=(F(1, 4),) * n, e=(F(1, 10),) * n,
                m=tuple(m or (F(1),) * n), c=tuple(c or (F(1, 5),) * n),
                d=(F(1, 4),) * n if kind == "atan" else (F(0),) * n)
    return Case(spec, tuple(F(x) for x in signals), F(sigma), spot or (0, F(1, 2)))


_ECONOMIES = {}


def economy_of(spec):
    """The economy of ``spec``, parsed from its model file (cached: Hypothesis repeats specs)."""
    if spec not in _ECONOMIES:
        _ECONOMIES[spec] = parse_model(spec.text(), source=f"drawn-{spec.kind}")
    return _ECONOMIES[spec]


class Utilities:
    """u_i and mu_i evaluated by the test itself: SymPy with exact signals, then evalf."""

    def __init__(self, economy, signals):
        subs = {s: sympy.Rational(x.numerator, x.denominator) for s, x in zip(economy.signals, signals)}
        self.u = [u.subs(subs) for u in economy.utilities]
        self.mu = [sympy.diff(u, Q) for u in self.u]

    @staticmethod
    def _at(expr, q):
        digits = DPS + 20
        value = expr.subs(Q, sympy.Float(mpmath.nstr(q, digits), digits)).evalf(digits)
        with mpmath.workdps(digits):
            return mpmath.mpf(str(value))

    def utility(self, i, q):
        return self._at(self.u[i], q)

    def marginal(self, i, q):
        return self._at(self.mu[i], q)


def _payoff(economy, case, i, report):
    """Agent i's payoff with the true signals when it reports ``report`` (others truthful)."""
    signals = list(case.signals)
    signals[i] = report
    lie = symmech.solve(economy, signals, case.sigma, dps=DPS, check_assumptions=False)
    truth = Utilities(economy, case.signals)
    with mpmath.workdps(DPS + 20):
        return truth.utility(i, lie.allocation[i]) - lie.transfers[i]


def check_properties(case):
    """MC, FOCs, IR and IC at ``case``; returns the outcome for further checks."""
    economy = economy_of(case.spec)
    outcome = symmech.solve(economy, case.signals, case.sigma, dps=DPS)
    own = Utilities(economy, case.signals)
    n = economy.n
    q, t, p = outcome.allocation, outcome.transfers, outcome.price
    with mpmath.workdps(DPS + 20):
        sigma = mpmath.mpf(case.sigma.numerator) / case.sigma.denominator
        scale = max([mpmath.mpf(1), abs(p)] + [abs(x) for x in (*q, *t, *outcome.utilities)])
        tol = tolerance(DPS, scale)
        # market clearing and eq. 1: mu_i(q_i, s) = p + sigma q_i
        assert abs(mpmath.fsum(q)) <= tol, ("MC", mpmath.fsum(q))
        for i in range(n):
            residual = own.marginal(i, q[i]) - p - sigma * q[i]
            assert abs(residual) <= tol, ("FOC", i + 1, residual)
        # utilities as reported, and IR: u_i(q_i, s) - t_i >= u_i(0, s)
        for i in range(n):
            mine = own.utility(i, q[i]) - t[i]
            assert abs(mine - outcome.utilities[i]) <= tol, ("utility", i + 1)
            margin = mine - own.utility(i, mpmath.mpf(0))
            assert margin >= -tol, ("IR", i + 1, margin)
        # IC: the package's regret search, and one misreport solved afresh
        ic = outcome.checks.incentive_compatibility
        assert ic.max_regret <= tol, ("IC search", ic.agent, ic.misreport, ic.max_regret)
        i, report = case.spot
        regret = _payoff(economy, case, i, report) - outcome.utilities[i]
        assert regret <= tol, ("IC spot", i + 1, report, regret)
    return outcome, tol


SETTINGS = settings(derandomize=True, max_examples=15, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@SETTINGS
@given(cases())
@example(_symmetric(4, "tanh", ["0", "1", "0.3", "0.7"], spot=(1, F(0))))          # signals at 0 and at 1
@example(_symmetric(3, "cubic", ["1", "1", "0"], sigma=0, spot=(2, F(1))))         # sigma = 0, edges
def test_mechanism_properties_on_drawn_economies(case):
    check_properties(case)


@settings(SETTINGS, max_examples=8)
@given(st.sampled_from(sorted(_TAILS)), st.integers(2, 6), _grid(0, 1, 100), _grid(0, 1, 20))
@example("linear", 7, F(37, 100), F(1, 2))
def test_all_signals_equal_in_a_symmetric_economy_means_no_trade(kind, n, signal, sigma):
    """Derived: q = 0 solves eq. 1 (mu_i(0, s) is the same for all i); each agent's boundary type is
    then its own report, so t_i = [p + sigma 0] 0 = 0: no trade, no payments, zero surplus."""
    m = [F(1) + F(k, 4) for k in range(n)]               # different curvatures: still no trade
    case = _symmetric(n, kind, [signal] * n, sigma=sigma, spot=(n - 1, F(9, 10)), m=m)
    outcome, tol = check_properties(case)
    assert all(abs(x) <= tol for x in outcome.allocation)
    assert all(abs(x) <= tol for x in outcome.transfers)
    assert abs(outcome.budget_surplus) <= tol


@pytest.mark.parametrize("kind", ["linear", "tanh", "atan"])
@pytest.mark.parametrize("edge, own, others", [(0, "1/2", "0"), (1, "3/10", "1")])
def test_a_pivot_exactly_at_an_edge(kind, edge, own, others):
    """Agent 1 reports ``own``, everyone else ``others``; at the own report r = others all signals
    are equal, so q_1(r, s_-1) = 0 there (derived above): agent 1's pivot is exactly 0 or 1."""
    n = 4
    case = _symmetric(n, kind, [own] + [others] * (n - 1), spot=(0, F(others)))
    outcome, tol = check_properties(case)
    assert abs(outcome.pivots[0] - edge) <= tol, outcome.pivots
    # agent 1 buys when its signal is above the others' (0 < 1/2), sells when below (3/10 < 1)
    assert (outcome.allocation[0] > 0) == (edge == 0)


def test_twelve_agents_with_three_groups():
    labels = tuple("ABC"[k % 3] for k in range(12))
    spec = Spec("tanh", labels, a=tuple(F(3, 4) + F(k, 20) for k in range(12)), b=(F(1, 3),) * 12,
                e=tuple(F(k - 6, 40) for k in range(12)), m=tuple(F(1, 2) + F(k, 8) for k in range(12)),
                c=(F(1, 4),) * 12, d=(F(0),) * 12)
    signals = tuple(F((37 * k) % 101, 100) for k in range(1, 13))
    check_properties(Case(spec, signals, F(3, 10), (5, F(99, 100))))


def test_the_drawn_model_files_parse_to_the_intended_marginal_utility():
    """The Spec's model text against the marginal utility written out here with SymPy."""
    labels = ("A", "B", "A")
    spec = Spec("atan", labels, a=(F(1), F(5, 4), F(3, 4)), b=(F(1, 2), F(0), F(1, 4)),
                e=(F(-1, 5), F(1, 10), F(0)), m=(F(1), F(2), F(1, 2)), c=(F(1, 10), F(0), F(1, 2)),
                d=(F(1, 2), F(1, 10), F(0)))
    economy = economy_of(spec)
    s = economy.signals
    for i in range(3):
        group = [k for k in range(3) if labels[k] == labels[i]]
        mean_group = sum(s[k] for k in group) / len(group)
        mu = (spec.a[i] * s[i] + spec.b[i] * mean_group + spec.e[i] * sum(s) / 3 + spec.d[i] * sympy.atan(s[i])
              - spec.m[i] * Q - spec.c[i] * sympy.tanh(Q))
        assert sympy.simplify(economy.marginal_utilities[i] - mu) == 0
    report = symmech.check_assumptions(economy, samples=300)
    assert report.holds, report.to_text()


# ---- symbolic (issue 3) = numeric, and the budget surplus against the symbolic threshold ----------------

try:
    from symmech.symbolic import deficit_profile, derive
except ImportError:            # issue 3 not there yet
    derive = deficit_profile = None

needs_symbolic = pytest.mark.skipif(derive is None, reason="needs symmech.symbolic (issue 3)")
_DERIVED = {}


def derived(economy):
    """symmech.symbolic.derive(economy), once per economy (it costs seconds of SymPy)."""
    key = (economy.source, economy.utilities)
    if key not in _DERIVED:
        _DERIVED[key] = derive(economy)
    return _DERIVED[key]


def symbolic_at(derivation, signals, sigma):
    """Price, allocation, transfers (eq. 4 + 7, any pivot) of the derivation at a profile, exactly."""
    values = {s: sympy.Rational(x.numerator, x.denominator) for s, x in zip(derivation.signals, signals)}
    values[derivation.sigma] = sympy.Rational(sigma.numerator, sigma.denominator)
    def exact(expr):
        value = sympy.cancel(expr.subs(values))      # rational inputs: a rational number
        assert value.is_Rational, value
        return value

    return (exact(derivation.price), [exact(q) for q in derivation.allocation],
            [exact(pivot.transfer) for pivot in derivation.pivot])


def _mpf(rational):
    return mpmath.mpf(int(rational.p)) / int(rational.q)


def assert_symbolic_equals_numeric(economy, signals, sigma):
    """symbolic = numeric to tolerance(DPS); the sign of the surplus against the BS threshold."""
    derivation = derived(economy)
    price, allocation, transfers = symbolic_at(derivation, signals, sigma)
    outcome = symmech.solve(economy, signals, sigma, dps=DPS)
    with mpmath.workdps(DPS + 20):
        scale = max([1, abs(_mpf(price))] + [abs(_mpf(x)) for x in (*allocation, *transfers)])
        tol = tolerance(DPS, scale)
        pairs = [("price", outcome.price, price)]
        pairs += [(f"q_{k + 1}", a, b) for k, (a, b) in enumerate(zip(outcome.allocation, allocation))]
        pairs += [(f"t_{k + 1}", a, b) for k, (a, b) in enumerate(zip(outcome.transfers, transfers))]
        surplus = sum(transfers)
        pairs.append(("budget surplus", outcome.budget_surplus, surplus))
        for name, numeric, exact in pairs:
            assert abs(numeric - _mpf(exact)) <= tol, (name, numeric, exact)
        # at or above the threshold no profile runs a deficit
        if sympy.Rational(sigma.numerator, sigma.denominator) >= derivation.bs_threshold:
            assert surplus >= 0 and outcome.budget_surplus >= -tol, (sigma, derivation.bs_threshold, surplus)
    return derivation


def _linear_specs(n):
    """Two-agent (or n-agent) quadratic specs with exact random parameters."""
    return st.builds(lambda labels, a, b, e, m: Spec("linear", labels, a, b, e, m, (F(0),) * n, (F(0),) * n),
                     st.lists(st.sampled_from("AB"), min_size=n, max_size=n).map(tuple),
                     st.lists(_grid(F(3, 4), F(3, 2), 20), min_size=n, max_size=n).map(tuple),
                     st.lists(_grid(0, F(1, 2), 20), min_size=n, max_size=n).map(tuple),
                     st.lists(_grid(F(-1, 5), F(1, 5), 20), min_size=n, max_size=n).map(tuple),
                     st.lists(_grid(F(1, 2), 2, 10), min_size=n, max_size=n).map(tuple))


NO_SHRINK = (Phase.explicit, Phase.generate)     # a derivation costs seconds: report, do not shrink


@needs_symbolic
@settings(derandomize=True, max_examples=5, deadline=None, database=None, phases=NO_SHRINK,
          suppress_health_check=[HealthCheck.too_slow])
@given(_linear_specs(2), st.lists(_grid(0, 1, 100), min_size=2, max_size=2), _grid(0, 2, 20))
@example(Spec("linear", ("A", "B"), (F(1), F(5, 4)), (F(0), F(0)), (F(1, 5), F(-1, 10)), (F(1), F(3, 2)),
              (F(0),) * 2, (F(0),) * 2), [F(0), F(1)], F(0))          # signals at both edges, sigma 0
def test_symbolic_equals_numeric_on_drawn_two_agent_economies(spec, signals, sigma):
    """Two agents: symmech.symbolic.derive takes seconds per economy, more for more agents."""
    assert_symbolic_equals_numeric(economy_of(spec), tuple(signals), sigma)


@needs_symbolic
@settings(derandomize=True, max_examples=8, deadline=None, database=None, phases=NO_SHRINK,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(["example1", "example2", "groups3"]), st.lists(_grid(0, 1, 20), min_size=7, max_size=7),
       _grid(0, 1, 20))
@example("example1", [F(1, 2)] + [F(0)] * 6, F(1, 2))       # a pivot at the edge 0, above 3/7
@example("example2", [F(1, 2)] * 7, F(1, 4))                # all signals equal: no trade, below the threshold
def test_symbolic_equals_numeric_on_catalogue_economies(name, signals, sigma):
    economy = symmech.load_model(name)
    assert_symbolic_equals_numeric(economy, tuple(signals[:economy.n]), sigma)


@needs_symbolic
@pytest.mark.parametrize("name", ["example1", "groups3"])
def test_below_the_threshold_the_symbolic_deficit_profile_runs_a_numeric_deficit(name):
    """Below bs_threshold, deficit_profile gives a profile; solve must find the same negative surplus."""
    economy = symmech.load_model(name)
    derivation = derived(economy)
    threshold = derivation.bs_threshold
    assert threshold.is_Rational and 0 < threshold < 1, threshold
    sigma = F(int(threshold.p), int(threshold.q)) / 2
    witness = deficit_profile(derivation, sigma)
    assert witness is not None and witness.budget_surplus < 0
    signals = tuple(F(int(x.p), int(x.q)) for x in witness.signals)
    outcome = symmech.solve(economy, signals, sigma, dps=DPS)
    with mpmath.workdps(DPS + 20):
        tol = tolerance(DPS, max(abs(t) for t in outcome.transfers))
        assert outcome.budget_surplus < -tol
        assert abs(outcome.budget_surplus - _mpf(witness.budget_surplus)) <= tol
    assert not outcome.checks.budget_surplus.holds
