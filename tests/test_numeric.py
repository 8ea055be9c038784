"""The numeric core against independent computations: quadrature rules against integrals known
in closed form, the equilibrium against SymPy's exact solution of the linear FOC system, Lemma 2's
formula against a numerical derivative of the solved equilibrium, and each at several precisions."""

import mpmath
import pytest
import sympy

from symmech import Economy, Q, signal_symbols
from symmech._numbers import working_precision
from symmech._quadrature import Series, gauss_legendre
from symmech.numeric import Market, sweep

R = sympy.Rational


@pytest.mark.parametrize("dps", [15, 30, 60])
def test_gauss_legendre_integrates_exp_to_precision(dps):
    with mpmath.workdps(dps + 10):
        nodes, weights = gauss_legendre(dps, mpmath.mpf(0), mpmath.mpf(2))
        value = mpmath.fsum(w * mpmath.exp(x) for x, w in zip(nodes, weights))
        assert abs(value - (mpmath.e ** 2 - 1)) < mpmath.mpf(10) ** -(dps + 5)


def test_series_interpolates_and_integrates_a_polynomial_exactly():
    with mpmath.workdps(40):
        a, b = mpmath.mpf(1) / 3, mpmath.mpf(2)
        f = lambda x: 3 * x ** 5 - x ** 2 + 7
        F = lambda x: x ** 6 / 2 - x ** 3 / 3 + 7 * x
        nodes, _ = gauss_legendre(8, a, b)
        series = Series(a, b, [f(x) for x in nodes])
        r = mpmath.mpf("1.234")
        assert abs(series(r) - f(r)) < mpmath.mpf(10) ** -35
        assert abs(series.integral(r) - (F(r) - F(a))) < mpmath.mpf(10) ** -35
        assert abs(series.integral() - (F(b) - F(a))) < mpmath.mpf(10) ** -35
        assert series.tail() < mpmath.mpf(10) ** -35      # degree 5 < 7: the top coefficients vanish


def _quadratic_economy():
    s = signal_symbols(4)
    a = [1, R(3, 2), R(4, 5), R(6, 5)]
    m = [1, 2, R(1, 2), R(3, 2)]
    b = R(1, 5)
    return Economy([(a[i] * s[i] + b * sum(s) / 4 + R(i, 10)) * Q - m[i] * Q ** 2 / 2 for i in range(4)])


def _exact_equilibrium(economy, signals, sigma):
    """The sigma-WE of a quadratic economy by SymPy's exact linear solve (independent route)."""
    n = economy.n
    qs = sympy.symbols(f"y1:{n + 1}")
    p = sympy.Symbol("p")
    subs = dict(zip(economy.signals, signals))
    eqs = [sympy.diff(u, Q).subs(subs).subs(Q, qs[i]) - p - sigma * qs[i]
           for i, u in enumerate(economy.utilities)]
    eqs.append(sum(qs))
    (sol,) = sympy.linsolve(eqs, [p, *qs])
    return sol[0], sol[1:]


@pytest.mark.parametrize("dps", [15, 30, 60])
def test_equilibrium_matches_exact_linear_solution(dps):
    economy = _quadratic_economy()
    signals = [R(12, 100), R(87, 100), R(45, 100), R(2, 3)]
    sigma = R(1, 7)
    price, allocation = _exact_equilibrium(economy, signals, sigma)
    market = Market(economy)
    with working_precision(dps):
        s = [mpmath.mpf(x.p) / x.q for x in signals]
        eq = market.equilibrium(s, mpmath.mpf(1) / 7)
        tol = mpmath.mpf(10) ** -(dps + 3)
        assert abs(eq.price - sympy.N(price, dps + 10)) < tol
        for x, y in zip(eq.allocation, allocation):
            assert abs(x - sympy.N(y, dps + 10)) < tol


def _tanh_economy():
    s = signal_symbols(3)
    a, m, c = [1, R(6, 5), R(9, 10)], [1, R(3, 2), 1], [R(1, 5), R(1, 10), R(3, 10)]
    return Economy([(a[i] * s[i] + R(1, 4) * sum(x ** 2 for x in s) / 3) * Q - m[i] * Q ** 2 / 2
                    - c[i] * sympy.log(sympy.cosh(Q)) for i in range(3)])


def test_lemma2_response_matches_numerical_derivative():
    market = Market(_tanh_economy())
    with working_precision(30):
        s = [mpmath.mpf("0.3"), mpmath.mpf("0.8"), mpmath.mpf("0.55")]
        sigma = mpmath.mpf("0.2")
        eq = market.equilibrium(s, sigma)
        for i in range(3):
            dp, dq = market.own_report_response(eq, i, s, sigma)

            def solved(r, k):
                t = list(s)
                t[i] = r
                e = market.equilibrium(t, sigma, eq)
                return e.price if k is None else e.allocation[k]

            assert abs(dp - mpmath.diff(lambda r: solved(r, None), s[i])) < mpmath.mpf(10) ** -25
            for k in range(3):
                assert abs(dq[k] - mpmath.diff(lambda r: solved(r, k), s[i])) < mpmath.mpf(10) ** -25


def test_sweep_quantity_and_pivot():
    market = Market(_tanh_economy())
    with working_precision(30):
        s = [mpmath.mpf("0.3"), mpmath.mpf("0.8"), mpmath.mpf("0.55")]
        sigma = mpmath.mpf("0.2")
        base = market.equilibrium(s, sigma)
        for i in range(3):
            schedule = sweep(market, i, s, sigma, base, 30)
            if 0 < schedule.pivot < 1:       # the boundary type trades nothing
                t = list(s)
                t[i] = schedule.pivot
                assert abs(market.equilibrium(t, sigma).allocation[i]) < mpmath.mpf(10) ** -30
            for r in (mpmath.mpf("0.137"), mpmath.mpf("0.61")):   # series between nodes
                t = list(s)
                t[i] = r
                assert abs(schedule.quantity(r) - market.equilibrium(t, sigma).allocation[i]) < mpmath.mpf(10) ** -27


def test_market_rejects_increasing_marginal_utility():
    s = signal_symbols(2)
    economy = Economy([s[0] * Q + Q ** 3, s[1] * Q - Q ** 2])
    from symmech.errors import AssumptionError
    with working_precision(15), pytest.raises(AssumptionError, match="A4 fails for agent 1"):
        Market(economy).equilibrium([mpmath.mpf("0.9"), mpmath.mpf("0.1")], mpmath.mpf(0))
