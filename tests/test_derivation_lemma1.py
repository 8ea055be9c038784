"""Tests of the Lemma 1 teaching section (exactly one sigma-WE, on the non-quadratic ``tanh`` economy).

The prices the section shows are compared with ``symmech.solve`` (Newton on the whole system)
at 30 digits; monotonicity of aggregate demand and the bracket are checked with demands computed
here from the catalogue model (mpmath root of each agent's first-order condition).
"""

from fractions import Fraction

import mpmath
import pytest
import sympy

import symmech
from symmech.model import Q

pytest.importorskip("matplotlib")

_TOL = mpmath.mpf(10) ** -20


@pytest.fixture(scope="module")
def section(report_build):
    """The lemma1 section of the session's report build (conftest.report_build)."""
    return report_build[1]["lemma1"]


@pytest.fixture(scope="module")
def model(section):
    """Each agent's marginal utility at the worked profile as a function of q (mpmath)."""
    economy = symmech.load_model("tanh")
    point = {s: sympy.Rational(x) for s, x in zip(economy.signals, section.profile)}
    marginal = [sympy.diff(u, Q).subs(point) for u in economy.utilities]
    return economy, marginal, [sympy.lambdify(Q, m, "mpmath") for m in marginal]


def _mpf(x):
    x = Fraction(str(sympy.Rational(x)))
    return mpmath.mpf(x.numerator) / x.denominator


def _aggregate(functions, p, sigma):
    """sum_i q_i(p) with q_i the root of mu_i(q) = p + sigma q (Newton's method from q = 0)."""
    sigma = _mpf(sigma)
    total = mpmath.mpf(0)
    for mu in functions:
        total += mpmath.findroot(lambda q: mu(q) - p - sigma * q, mpmath.mpf(0), solver="newton")
    return total


@pytest.mark.parametrize("sigma", ["0", "1/4", "1"])
def test_price_matches_solve(section, sigma):
    outcome = symmech.solve("tanh", [str(x) for x in section.profile], sigma, dps=30)
    with mpmath.workdps(40):
        shown = mpmath.mpf(section.facts["prices"][sympy.Rational(sigma)])
        assert abs(shown - outcome.price) < _TOL
        if sympy.Rational(sigma) == section.sigma:
            # the 30 digits printed in the section
            assert section.facts["price"] in section.tex.read_text()
            assert abs(mpmath.mpf(section.facts["price"]) - outcome.price) < _TOL
            assert len(section.facts["price"].lstrip("0.")) >= 29


def test_bracket_ends_are_the_extreme_marginal_utilities(section, model):
    _, marginal, _ = model
    at_zero = [m.subs(Q, 0) for m in marginal]
    assert section.facts["p_high"] == max(at_zero)
    assert section.facts["p_low"] == min(at_zero)


@pytest.mark.parametrize("sigma", ["0", "1/4", "1"])
def test_bracket_brackets(section, model, sigma):
    _, _, functions = model
    with mpmath.workdps(25):
        high = _aggregate(functions, _mpf(section.facts["p_high"]), sigma)
        low = _aggregate(functions, _mpf(section.facts["p_low"]), sigma)
        assert high < 0 < low
        assert _mpf(section.facts["p_low"]) < mpmath.mpf(section.facts["prices"][sympy.Rational(sigma)]) \
            < _mpf(section.facts["p_high"])


def test_demands_at_the_bracket_match(section, model):
    _, _, functions = model
    sigma = _mpf(section.sigma)
    with mpmath.workdps(25):
        for key, end in (("at_high", "p_high"), ("at_low", "p_low")):
            p = _mpf(section.facts[end])
            for mu, shown in zip(functions, section.facts[key]):
                q = mpmath.findroot(lambda x: mu(x) - p - sigma * x, mpmath.mpf(0), solver="newton")
                assert abs(q - mpmath.mpf(shown)) < mpmath.mpf(10) ** -18


@pytest.mark.parametrize("sigma", ["0", "1"])
def test_aggregate_demand_strictly_decreasing(section, model, sigma):
    """Finite differences on a grid across (and beyond) the bracket: every quotient lies in
    [-sum 1/(m_i + sigma), -sum 1/(m_i + c_i + sigma)], the bounds the section derives from A4."""
    economy, _, functions = model
    p_low, p_high = _mpf(section.facts["p_low"]), _mpf(section.facts["p_high"])
    m, c = economy.parameters["m"], economy.parameters["c"]
    s = Fraction(sympy.Rational(sigma).p, sympy.Rational(sigma).q)
    steepest = -sum(1 / (mi + s) for mi in m)
    flattest = -sum(1 / (mi + ci + s) for mi, ci in zip(m, c))
    with mpmath.workdps(25):
        grid = mpmath.linspace(p_low - 1, p_high + 1, 25)
        values = [_aggregate(functions, p, sigma) for p in grid]
        for (p0, d0), (p1, d1) in zip(zip(grid, values), zip(grid[1:], values[1:])):
            quotient = (d1 - d0) / (p1 - p0)
            assert _mpf(steepest) - mpmath.mpf(10) ** -15 <= quotient <= _mpf(flattest) + mpmath.mpf(10) ** -15
    bound = section.step("Aggregate demand falls").value          # B(sigma) at the worked slope
    assert bound == sympy.Rational(-sum(1 / (mi + ci + Fraction(section.sigma)) for mi, ci in zip(m, c)))
