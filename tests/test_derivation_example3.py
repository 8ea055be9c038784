"""Tests of the Example 3 section (naive transfers are not IC) against symmech.solve.

The section derives agent 1's best misreport under the naive transfers of eq. 2 and its gain with
SymPy; here they are found by a brute-force search over reports with the numeric solver, and the
local IC derivative under eq.-4 transfers by a finite difference of the solver's payoffs.
"""

from fractions import Fraction

import mpmath
import pytest
import sympy

import symmech
from symmech.model import Q

pytest.importorskip("matplotlib")

DPS = 20


@pytest.fixture(scope="module")
def section(report_build):
    """The example3 section of the session's report build (conftest.report_build)."""
    return report_build[1]["example3"]


def _mpf(x):
    x = Fraction(str(x))
    return mpmath.mpf(x.numerator) / x.denominator


def _true_payoff(section, report, transfers, dps=DPS):
    """Agent 1's payoff u_1(q_1(r, s_-1), s) - t_1(r, s_-1) with its true signal s_1, from symmech.solve."""
    economy = symmech.load_model(section.source)
    signals = [Fraction(str(x)) for x in section.profile]
    reported = [Fraction(str(report))] + signals[1:]
    out = symmech.solve(economy, reported, section.sigma, dps=dps, transfers=transfers, check_assumptions=False)
    utility = sympy.lambdify((Q, *economy.signals), economy.utilities[0], "mpmath")
    return utility(out.allocation[0], *map(_mpf, signals)) - out.transfers[0]


def test_best_misreport_and_gain_match_the_solvers_payoffs(section):
    """The naive payoff V(r) is a quadratic in the report (q_1 and p^sigma are linear in r): the
    parabola through the solver's payoffs at three reports has its top at the section's r*, and
    the solver's payoff there beats the truth by the section's gain and beats nearby reports."""
    # dps 15 lets symmech.solve use its float backend: fast, and ample for a 1e-9 check
    with mpmath.workdps(15):
        payoff = lambda r: _true_payoff(section, r, "naive", dps=15)      # noqa: E731
        (a, fa), (b, fb), (c, fc) = [(_mpf(r), payoff(r)) for r in (Fraction(1, 4), Fraction(1, 2), Fraction(3, 4))]
        # vertex of the interpolating parabola
        top = b - ((b - a) ** 2 * (fb - fc) - (b - c) ** 2 * (fb - fa)) / (2 * ((b - a) * (fb - fc) - (b - c) * (fb - fa)))
        best = Fraction(mpmath.nstr(top, 12))
        value, truthful = payoff(best), payoff(section.profile[0])
        assert abs(top - _mpf(section.facts["best"])) < 1e-6
        assert abs(value - truthful - _mpf(section.facts["gain"])) < 1e-9
        assert value > max(payoff(best - Fraction(1, 100)), payoff(best + Fraction(1, 100)))
        assert value - truthful > 0 and best < Fraction(str(section.profile[0]))   # the buyer understates


def test_solvers_ic_check_finds_the_buyers_profitable_lie(section):
    out = symmech.solve(section.source, [str(x) for x in section.profile], section.sigma, dps=DPS,
                        transfers="naive")
    ic = out.checks.incentive_compatibility
    with mpmath.workdps(DPS):
        assert not ic.holds
        assert ic.agent == 1 and out.allocation[0] > 0                      # a buyer
        assert ic.misreport < _mpf(section.profile[0])                      # who understates
        assert abs(ic.misreport - _mpf(section.facts["best"])) < 1e-6
        assert abs(ic.max_regret - _mpf(section.facts["gain"])) < 1e-12


def test_local_ic_derivative_naive_and_eq4(section):
    """Central differences of the solver's true-type payoff at r = s_1: nonzero (the section's value)
    under naive transfers, zero under the transfers of eq. 4."""
    s1, h = Fraction(str(section.profile[0])), Fraction(1, 10 ** 4)
    with mpmath.workdps(DPS):
        slope = lambda kind: (_true_payoff(section, s1 + h, kind) - _true_payoff(section, s1 - h, kind)) / (2 * _mpf(h))
        naive, ic = slope("naive"), slope("ic")
        assert abs(naive - _mpf(section.facts["derivative"])) < 1e-10    # V is quadratic: the difference is exact
        assert naive < 0
        assert abs(ic) < 1e-7
    assert section.facts["ic_derivative"] == 0
