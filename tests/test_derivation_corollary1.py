"""Tests of the Corollary 1 section (the Walrasian allocation with IC, IR transfers runs a deficit).

The section's exact numbers are compared with symmech.solve (eq. 4 by quadrature, eq. 7's
boundary constants); kappa_i(0) is re-fitted from solver transfers at two profiles; and the
deficit itself is checked as a property at seeded random interior profiles.
"""

import random
from fractions import Fraction

import mpmath
import pytest

import symmech
from symmech.report import derivations_folder, load_script

pytest.importorskip("matplotlib")

DPS = 30


@pytest.fixture(scope="module")
def section(report_build):
    """The corollary1 section of the session's report build (conftest.report_build)."""
    return report_build[1]["corollary1"]


@pytest.fixture(scope="module")
def worked(section):
    return symmech.solve(section.source, [str(x) for x in section.profile], 0, dps=DPS)


def _mpf(x):
    x = Fraction(str(x))
    return mpmath.mpf(x.numerator) / x.denominator


def test_budget_surplus_matches_the_solver_and_is_negative(section, worked):
    with mpmath.workdps(DPS):
        assert worked.budget_surplus < 0
        assert abs(worked.budget_surplus - _mpf(section.facts["surplus"])) < mpmath.mpf(10) ** -20
        assert abs(worked.price - _mpf(section.facts["price"])) < mpmath.mpf(10) ** -20
        assert all(0 < r < 1 for r in worked.pivots)                  # the profile is interior


def test_kappa_refitted_from_solver_transfers_is_negative(section, worked):
    """(t_i - p* q_i) / (q_i^2/2) at two profiles differing in s_i: the same number, < 0."""
    profile = [Fraction(str(x)) for x in section.profile]
    with mpmath.workdps(DPS):
        for i, kappa in enumerate(section.facts["kappas"]):
            moved = list(profile)
            moved[i] += Fraction(1, 20) if profile[i] < Fraction(1, 2) else -Fraction(1, 20)
            other = symmech.solve(section.source, moved, 0, dps=DPS)
            fits = [(out.transfers[i] - out.price * out.allocation[i]) / (out.allocation[i] ** 2 / 2)
                    for out in (worked, other)]
            assert abs(fits[0] - fits[1]) < mpmath.mpf(10) ** -18
            assert abs(fits[0] - _mpf(kappa)) < mpmath.mpf(10) ** -18
            assert fits[0] < 0


def test_average_prices_of_buyer_and_seller(section, worked):
    seller = section.facts["seller"] - 1
    with mpmath.workdps(DPS):
        assert worked.allocation[0] > 0 and worked.allocation[seller] < 0
        assert worked.transfers[0] / worked.allocation[0] < worked.price                 # buyer pays less
        assert worked.transfers[seller] / worked.allocation[seller] > worked.price       # seller gets more


def test_deficit_at_random_interior_profiles(section):
    rng = random.Random(20161)
    for _ in range(8):
        profile = [Fraction(rng.randint(1, 99), 100) for _ in range(5)]
        out = symmech.solve(section.source, profile, 0, dps=15)
        assert any(abs(q) > 1e-6 for q in out.allocation)
        assert out.budget_surplus < -1e-9, profile


def test_boundary_type_pays_the_walrasian_price(section):
    """At the section's boundary profile agent 3 sells at every report, reports its boundary type 1,
    and eq. 7 makes it trade every unit at p*: no shortfall."""
    module = load_script(derivations_folder() / "corollary1.py")
    out = symmech.solve(section.source, list(module.BOUNDARY_PROFILE), 0, dps=DPS)
    with mpmath.workdps(DPS):
        assert out.allocation[2] < 0 and out.pivots[2] == 1
        assert abs(out.transfers[2] - out.price * out.allocation[2]) < mpmath.mpf(10) ** -20
        assert out.budget_surplus < 0                              # the interior agents still lose money


def test_surplus_changes_sign_where_the_figure_says(section):
    """The surplus-against-sigma figure marks a zero; symmech.solve finds the sign change there."""
    crossing = Fraction(str(section.facts["crossing"].evalf(12)))
    step = Fraction(1, 1000)
    below = symmech.solve(section.source, [str(x) for x in section.profile], crossing - step, dps=15)
    above = symmech.solve(section.source, [str(x) for x in section.profile], crossing + step, dps=15)
    assert below.budget_surplus < 0 < above.budget_surplus
