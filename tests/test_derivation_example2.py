"""Tests of the Example 2 teaching section (group model, A1-A4, sigma-WE with unequal group means).

The section's numbers are compared with the certified assumption constants
(``symmech.certify_assumptions``), with exact finite differences of the catalogue utility, and
with ``symmech.solve`` (a numeric solver of eq. 1) at 30 digits.
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
    """The example2 section of the session's report build (conftest.report_build)."""
    return report_build[1]["example2"]


@pytest.fixture(scope="module")
def economy():
    return symmech.load_model("example2")


def _mpf(x):
    x = Fraction(str(sympy.Rational(x)))
    return mpmath.mpf(x.numerator) / x.denominator


def _printed_allocation(economy, signals, sigma, agent):
    """Example 4's printed q_i = alpha/(mu + sigma) (s_i - sbar), in exact arithmetic."""
    p = economy.parameters
    s = [Fraction(x) for x in signals]
    return p["alpha"] / (p["mu"] + Fraction(sigma)) * (s[agent - 1] - sum(s) / len(s))


def test_constants_inside_the_certified_enclosures(section, economy):
    report = symmech.certify_assumptions(economy)
    facts = section.facts
    exact = lambda x: Fraction(str(sympy.Rational(x)))
    assert report.c_s.contains(exact(facts["c_s"])) and report.C_s.contains(exact(facts["c_s"]))
    assert report.phi_N.contains(exact(facts["phi_N"]))
    assert report.min_cross.contains(exact(facts["cross_other"]))
    assert report.c_q.contains(exact(facts["c_q"])) and report.C_q.contains(exact(facts["c_q"]))
    assert report.M.contains(exact(facts["M"]))
    assert facts["phi_N"] < facts["c_s"] and facts["c_q"] < 0


def test_constants_by_exact_finite_differences(section, economy):
    """mu_1 by a central difference of u_1 in q, its slopes by differences in s (all exact: the
    utility is quadratic, so the differences have no truncation error)."""
    def u1(q, *s):
        point = {Q: sympy.Rational(q), **{x: sympy.Rational(v) for x, v in zip(economy.signals, s)}}
        return economy.utilities[0].subs(point)

    h = Fraction(1, 7)
    base = [Fraction(k + 1, 9) for k in range(economy.n)]

    def mu(q, s):
        return (u1(q + h, *s) - u1(q - h, *s)) / (2 * h)

    def bump(k):
        s = list(base)
        s[k] += h
        return s

    q0 = Fraction(1, 3)
    slope = lambda k: (mu(q0, bump(k)) - mu(q0, base)) / h
    facts = section.facts
    assert slope(0) == facts["c_s"]
    assert slope(1) == facts["cross_own"]                     # agent 2 is in agent 1's group A
    assert slope(3) == facts["cross_other"]                   # agent 4 is in group E
    assert (mu(q0 + h, base) - mu(q0, base)) / h == facts["c_q"]
    assert mu(0, [Fraction(1)] * economy.n) == facts["M"]


@pytest.fixture(scope="module")
def worked(section):
    """symmech.solve at the section's worked profile and slope, 30 digits."""
    return symmech.solve("example2", [str(x) for x in section.profile], section.sigma, dps=30)


def test_price_and_allocations_match_solve(section, worked):
    outcome = worked
    facts = section.facts
    with mpmath.workdps(40):
        assert abs(outcome.price - _mpf(facts["price"])) < _TOL
        assert abs(outcome.allocation[0] - _mpf(facts["allocation_1"])) < _TOL
        assert abs(outcome.allocation[3] - _mpf(facts["allocation_4"])) < _TOL


def test_printed_allocation_differs_only_with_unequal_group_means(section, economy, worked):
    facts = section.facts
    sigma = section.sigma
    worked_signals = [str(x) for x in section.profile]
    equal = ["9/10", "1/5", "2/5", "1/2", "3/5", "2/5"]          # both group means 1/2
    other = ["1/10", "3/10", "1/5", "7/10", "9/10", "4/5"]       # group E above group A
    with mpmath.workdps(40):
        for signals in (worked_signals, equal, other):
            outcome = worked if signals is worked_signals else symmech.solve("example2", signals, sigma, dps=30)
            gap = outcome.allocation[0] - _mpf(_printed_allocation(economy, signals, sigma, 1))
            s = [Fraction(x) for x in signals]
            means = {facts["sbar_A"]: sum(s[:3]) / 3, facts["sbar_E"]: sum(s[3:]) / 3,
                     facts["s_1"]: s[0]}
            assert abs(gap - _mpf(facts["gap"].subs(means))) < _TOL
            if signals is equal:
                assert abs(gap) < _TOL
            else:
                assert abs(gap) > mpmath.mpf(10) ** -3
            if signals is worked_signals:
                assert abs(gap - _mpf(facts["gap_1"])) < _TOL
    x = sympy.Symbol("x")
    assert sympy.simplify(facts["gap"].subs({facts["sbar_A"]: x, facts["sbar_E"]: x})) == 0


def test_section_names_its_source_and_shows_the_difference(section):
    text = section.tex.read_text()
    assert "\\texttt{example2}" in text
    assert "Where the printed paper differs" in text
    assert "Derived minus printed allocation" in text
