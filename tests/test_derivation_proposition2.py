"""The Proposition 2 section: its exact Pareto gaps, thresholds and slopes against symmech.solve,
symmech.derive and the model itself."""

from fractions import Fraction
import random

import mpmath
import pytest
import sympy

import symmech
from symmech.paper import example1_economy, fit_slope


@pytest.fixture(scope="module")
def section(report_build):
    """The proposition2 section of the session's report build (conftest.report_build)."""
    return report_build[1]["proposition2"]


def _spread(n):
    # written out here, not taken from the section: s_k evenly over [1/4, 3/4]
    return [Fraction(1, 4) + Fraction(k, 2 * (n - 1)) for k in range(n)]


def _interior(n, seed, count=2):
    rng = random.Random(seed)
    return [[Fraction(rng.randrange(60, 941), 1000) for _ in range(n)] for _ in range(count)]


def _slope(section, n):
    return section.facts["sigma"][n]


@pytest.mark.parametrize("n, backend", [(5, "mpmath"), (20, "float64"), (100, "float64")])
def test_pareto_gap_matches_solve(section, n, backend):
    kwargs = dict(dps=20, backend="mpmath") if backend == "mpmath" else dict(backend="float64")
    outcome = symmech.solve(example1_economy(n), _spread(n), _slope(section, n), check_assumptions=False, **kwargs)
    exact = section.facts["epsilon"][n]
    with mpmath.workdps(30):
        assert abs(outcome.checks.pareto.epsilon - mpmath.mpf(exact.numerator) / exact.denominator) <= 1e-10 * exact


def test_shortfall_formula_at_a_random_profile(section):
    """The section's per-agent shortfall, maxed over agents, is solve's epsilon away from the spread profile."""
    n = 7
    profile = _interior(n, seed=3, count=1)[0]
    sigma = Fraction(1, 2)
    outcome = symmech.solve(example1_economy(n), profile, sigma, dps=20, check_assumptions=False)
    f = section.facts
    mean = sum(profile) / n
    gaps = [f["shortfall"].subs({f["N"]: n, f["sigma_symbol"]: sympy.Rational(sigma.numerator, sigma.denominator),
                                 f["d"]: sympy.Rational((s - mean).numerator, (s - mean).denominator)})
            for s in profile]
    expected = max(max(gaps), 0)
    with mpmath.workdps(30):
        assert abs(outcome.checks.pareto.epsilon - mpmath.mpf(sympy.Rational(expected).p) / sympy.Rational(expected).q) \
            <= 1e-12


@pytest.mark.parametrize("n", [5, 7])
def test_threshold_matches_derive(section, n):
    threshold = section.facts["threshold"].subs(section.facts["N"], n)
    assert sympy.simplify(threshold - symmech.derive(example1_economy(n)).bs_threshold) == 0


def test_phi_from_the_model(section):
    """A3's bound, max_{j != i} |d mu_i / d s_j|, read off the parsed model for N = 7."""
    economy = example1_economy(7)
    from symmech.model import Q
    cross = {abs(sympy.diff(u, Q, s)) for i, u in enumerate(economy.utilities)
             for j, s in enumerate(economy.signals) if i != j}
    phi = max(cross)
    assert section.facts["varphi"].subs(section.facts["N"], 7) == phi + sympy.Rational(1, 7)


def test_constant_is_symmech_papers(section):
    from symmech.paper import _C_LARGE

    assert section.facts["C"] == _C_LARGE
    for n in (5, 10, 1000):
        assert section.facts["sigma"][n] == _C_LARGE * section.facts["varphi"].subs(section.facts["N"], n)


@pytest.mark.parametrize("n", [10, 50])
def test_budget_surplus_at_c_varphi(section, n):
    for profile in [_spread(n), *_interior(n, seed=n)]:
        outcome = symmech.solve(example1_economy(n), profile, _slope(section, n), check_assumptions=False,
                                backend="float64")
        assert outcome.budget_surplus >= 0
        assert outcome.checks.budget_surplus.holds


def test_below_the_threshold_runs_a_deficit(section):
    """The threshold is sharp: just below sigma*(N) solve finds a deficit where two agents trade."""
    n = 6
    threshold = section.facts["threshold"].subs(section.facts["N"], n)
    sigma = Fraction(str(sympy.Rational(threshold) * sympy.Rational(9, 10)))
    profile = [Fraction(3, 4), Fraction(1, 4)] + [Fraction(1, 2)] * (n - 2)
    outcome = symmech.solve(example1_economy(n), profile, sigma, dps=20, check_assumptions=False)
    assert outcome.budget_surplus < 0


def test_fitted_slope_is_one(section):
    """Proposition 2's rate, fitted to solve's epsilons (not the section's) for large N."""
    sizes = (100, 200, 500)
    epsilons, varphis = [], []
    for n in sizes:
        outcome = symmech.solve(example1_economy(n), _spread(n), _slope(section, n), check_assumptions=False,
                                backend="float64")
        epsilons.append(float(outcome.checks.pareto.epsilon))
        varphis.append(float(Fraction(3, 2 * n)))          # phi_N = beta/N with beta = 1/2, plus 1/N
    slope, _ = fit_slope(varphis, epsilons)
    assert abs(slope - 1) < 0.1
    assert abs(section.facts["tail_slope"] - 1) < 0.1


def test_gap_over_rate_is_bounded(section):
    ratios = [r["epsilon"] / r["varphi"] for r in section.facts["rows"]]
    assert all(0 < x < section.facts["gap_limit"] for x in ratios)        # rises towards the limit
    assert ratios == sorted(ratios)


def test_smallest_surplus_nonnegative(section):
    assert all(r["min_surplus"] >= 0 for r in section.facts["rows"])


def test_tex_states_the_numbers(section):
    text = section.tex.read_text()
    assert "\\section{Proposition 2" in text
    assert f"{section.facts['tail_slope']:.3f}" in text
    assert "Where the printed paper differs" in text
