"""The Lemma 2 section (derivations/lemma2.py): its numbers against independent routes."""

from fractions import Fraction

import mpmath
import pytest
import sympy

import symmech
from symmech.model import Q

_STEP = Fraction(1, 10 ** 12)
_DPS = 40


@pytest.fixture(scope="module")
def section(report_build):
    """The lemma2 section of the session's report build (conftest.report_build)."""
    return report_build[1]["lemma2"]


def _solve(profile, sigma):
    return symmech.solve("tanh", list(profile), sigma, dps=_DPS, check_assumptions=False)


@pytest.fixture(scope="module")
def differences(section):
    """Central differences in s_1 of symmech.solve's price and q_1 at the worked profile."""
    profile = [Fraction(str(x)) for x in section.facts["profile"]]
    sigma = Fraction(str(section.facts["sigma"]))
    up = _solve([profile[0] + _STEP, *profile[1:]], sigma)
    down = _solve([profile[0] - _STEP, *profile[1:]], sigma)
    middle = _solve(profile, sigma)
    with mpmath.workdps(_DPS):
        h = 2 * mpmath.mpf(_STEP.numerator) / _STEP.denominator
        return dict(dp=(up.price - down.price) / h, dq=(up.allocation[0] - down.allocation[0]) / h,
                    middle=middle)


def test_equilibrium_matches_solve(section, differences):
    middle = differences["middle"]
    assert abs(section.facts["price"] - middle.price) < mpmath.mpf(10) ** -30
    for mine, theirs in zip(section.facts["allocation"], middle.allocation):
        assert abs(mine - theirs) < mpmath.mpf(10) ** -30


def test_price_response_is_the_finite_difference(section, differences):
    assert abs(section.facts["dp_ds1"] - differences["dp"]) < mpmath.mpf(10) ** -15
    assert section.step("Price response").value == pytest.approx(float(differences["dp"]), rel=1e-15)


def test_allocation_response_is_the_finite_difference(section, differences):
    assert abs(section.facts["dq_ds1"] - differences["dq"]) < mpmath.mpf(10) ** -15
    assert section.step("Allocation response").value == pytest.approx(float(differences["dq"]), rel=1e-15)


def test_weighted_average_against_derive(section):
    """The section's dp/ds_i formula, fed a quadratic economy's partials, is d/ds_1 of
    symmech.derive's closed-form price; the own response likewise of q_1."""
    economy = symmech.load_model("heterogeneous")
    assert economy.n == len(section.facts["A_symbols"])
    derived = symmech.derive(economy)
    sigma = derived.sigma
    s1 = economy.signals[0]
    A = [sympy.diff(mu, s1) for mu in economy.marginal_utilities]
    B = [sympy.diff(mu, Q) for mu in economy.marginal_utilities]
    put = {**dict(zip(section.facts["A_symbols"], A)), **dict(zip(section.facts["B_symbols"], B)),
           section.facts["sigma_symbol"]: sigma}
    formula = section.facts["dp_formula"].xreplace(put)
    assert sympy.cancel(formula - sympy.diff(derived.price, s1)) == 0
    own = (A[0] - formula) / (sigma - B[0])
    assert sympy.cancel(own - sympy.diff(derived.allocation[0], s1)) == 0


def test_general_solution_is_derive_for_three_agents(section):
    """SymPy's solution of the 3-agent system against derive on a 3-agent quadratic economy."""
    economy = symmech.model.parse_model(
        'agents = 3\n[parameters]\nalpha = [1, "6/5", "4/5"]\nbeta = "1/3"\nmu = [1, "3/2", 2]\n'
        '[utility]\nall = "(alpha*s_i + beta*mean(s_j))*q - mu/2*q**2"\n')
    derived = symmech.derive(economy)
    s1 = economy.signals[0]
    A3, B3 = section.facts["general_symbols"]
    put = {**dict(zip(A3, [sympy.diff(mu, s1) for mu in economy.marginal_utilities])),
           **dict(zip(B3, [sympy.diff(mu, Q) for mu in economy.marginal_utilities])),
           section.facts["sigma_symbol"]: derived.sigma}
    assert sympy.cancel(section.facts["general_dp"].xreplace(put) - sympy.diff(derived.price, s1)) == 0
    for j in range(3):
        expected = sympy.diff(derived.allocation[j], s1)
        assert sympy.cancel(section.facts["general_dq"][j].xreplace(put) - expected) == 0


def test_bounds_hold_and_constants_are_the_model_ones(section):
    facts = section.facts
    low, high = facts["dp_bounds"]
    assert 0 < low <= facts["dp_ds1"] <= high
    low_q, high_q = facts["dq_bounds"]
    assert 0 < low_q <= facts["dq_ds1"] <= high_q
    # A3 for u_i = (a_i s_i + b mean(s^2)) q - ...: d mu_i/d s_j = 2 b s_j / N, largest at s_j = 1
    economy = symmech.load_model("tanh")
    b = sympy.Rational(economy.parameters["b"])
    assert facts["phi_N"] == 2 * b / economy.n
    assert facts["varphi_N"] == facts["phi_N"] + sympy.Rational(1, economy.n)
    report = symmech.check_assumptions(economy)
    assert float(facts["phi_N"]) == pytest.approx(float(report.phi_N), rel=1e-6)


def test_allocation_rises_in_own_report(section):
    """q_1(r, s_-1) from symmech.solve on a grid of own reports, and the figure's curve there."""
    profile = [Fraction(str(x)) for x in section.facts["profile"]]
    sigma = Fraction(1, 4)
    reports = [Fraction(k, 8) for k in range(9)]
    qs = [symmech.solve("tanh", [r, *profile[1:]], sigma, dps=15, check_assumptions=False).allocation[0]
          for r in reports]
    assert all(a < b for a, b in zip(qs, qs[1:]))
    curve = section.facts["curves"]["1/4"]
    for r, q in zip(curve["reports"], curve["allocation"]):
        if r * 8 == int(r * 8):
            assert float(q) == pytest.approx(float(qs[int(r * 8)]), abs=1e-10)


def test_pivot_is_where_solve_gives_no_trade(section):
    profile = [Fraction(str(x)) for x in section.facts["profile"]]
    for sigma in ("0", "4"):
        out = symmech.solve("tanh", profile, sigma, dps=20, check_assumptions=False)
        assert float(out.pivots[0]) == pytest.approx(float(section.facts["curves"][sigma]["pivot"]), abs=1e-10)


def test_example1_impact_is_derive_closed_form(section):
    from symmech.paper import example1_economy

    for n in (3, 8):
        derived = symmech.derive(example1_economy(n))
        assert sympy.simplify(section.facts["example1"][n]["dp"] - derived.dp_ds[0]) == 0
