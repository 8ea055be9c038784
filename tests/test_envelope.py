"""IC transfers by the envelope route, and the IC check catching naive transfers.

The package computes transfers by eq. 4 (a price integral along the agent's own reports, with
eq. 7's boundary constant). The envelope theorem gives the same transfers by another road:
U_i(s_i) = U_i(r_b) + integral_{r_b}^{s_i} du_i/ds_i dr and t_i = u_i - U_i, which the
reference computes. The two must agree; naive transfers (eq. 2) must be caught by the IC check,
with a witness misreport that is profitable when recomputed by the reference.
"""

from fractions import Fraction as F

import mpmath
import pytest
import sympy

import symmech
from reference import Reference, mpf_of, quadratic_closed_form, relative_error


def _exact(signals, sigma):
    return tuple(F(x) for x in signals), F(sigma)


def _bar(dps):
    return mpmath.mpf(10) ** (5 - dps)


# -- the two routes agree exactly where both are exact ---------------------------------------

@pytest.mark.parametrize("name, signals, sigma", [
    ("heterogeneous", ("1/10", "1/2", "7/10", "3/10"), "1/10"),
    ("edges", ("0.3", "0.5", "0.9", "0.6"), "1/10"),
    ("two_groups", ("0.12", "0.87", "0.45", "0.3", "0.66"), "0"),
])
def test_envelope_equals_price_integral_exactly(named_economy, name, signals, sigma):
    """Derived in SymPy from the model: envelope transfers == eq. 4 transfers, as Rationals."""
    exact = quadratic_closed_form(named_economy(name), *_exact(signals, sigma))
    for env, eq4 in zip(exact.transfers, exact.transfers_eq4):
        assert sympy.simplify(env - eq4) == 0


# -- symmech's IC transfers against the envelope route ---------------------------------------

ENVELOPE_CASES = [
    ("edges", ("0.3", "0.5", "0.9", "0.6"), "1/10", 30),            # buyer at 0, seller at 1
    ("edges", ("0.3", "0.5", "0.9", "0.6"), "1/10", 50),
    ("edges", ("1", "0", "0.25", "0.75"), "1/5", 30),              # edge pivots and edge signals
    ("two_groups", ("0.12", "0.87", "0.45", "0.3", "0.66"), "1/5", 50),
    ("tanh", ("0.2", "0.75", "0.4"), "1/10", 30),
    ("exp", ("0.15", "0.6", "0.9"), "1/20", 50),
]


@pytest.mark.parametrize("name, signals, sigma, dps", ENVELOPE_CASES)
def test_ic_transfers_follow_the_envelope(named_economy, reference_outcome, name, signals, sigma, dps):
    out = symmech.solve(named_economy(name), list(signals), sigma, dps=dps)
    # a reference at >= dps digits (reuse the dps-60 run of test_solve's sweep for exp)
    ref = reference_outcome(name, *_exact(signals, sigma), 60 if name == "exp" else dps)
    for field in ("transfers", "utilities", "pivots"):
        err = relative_error(getattr(out, field), getattr(ref, field))
        assert err <= _bar(dps), (field, mpmath.nstr(err, 3))
    # the envelope boundary rent: a buyer at every report keeps u(q_b) - t_b > 0 at r_b = 0
    if name == "edges":
        assert out.pivots[0] == 0 and out.pivots[3] == 1


# -- naive transfers are not IC ----------------------------------------------------------------

NAIVE_CASES = [
    ("two_groups", ("0.12", "0.87", "0.45", "0.3", "0.66"), "1/5", 30),
    ("exp", ("0.15", "0.6", "0.9"), "1/20", 30),
]


@pytest.mark.parametrize("name, signals, sigma, dps", NAIVE_CASES)
def test_naive_transfers_are_caught(named_economy, reference_outcome, name, signals, sigma, dps):
    s, sig = _exact(signals, sigma)
    out = symmech.solve(named_economy(name), list(signals), sigma, dps=dps, transfers="naive")
    ref = reference_outcome(name, s, sig, dps)
    assert out.transfers_kind == "naive"
    assert relative_error(out.transfers, ref.naive_transfers) <= _bar(dps)
    assert relative_error(out.utilities, ref.naive_utilities) <= _bar(dps)
    ic = out.checks.incentive_compatibility
    assert ic.holds is False and ic.max_regret > 0
    i, r = ic.agent - 1, ic.misreport
    assert 0 <= r <= 1 and abs(mpf_of(r) - mpf_of(s[i])) > 0
    solver = Reference(named_economy(name))
    with mpmath.workdps(dps + 20):
        truthful = ref.naive_utilities[i]
        gain = solver.report_utility(i, mpf_of(r), [mpf_of(x) for x in s], mpf_of(sig), "naive") - truthful
        assert gain > 0
        assert relative_error(gain, ic.max_regret) <= _bar(dps)
        # no report on a grid of [0, 1] beats the reported maximum (for any agent)
        grid = [mpmath.mpf(k) / 40 for k in range(41)]
        for j in range(len(s)):
            best = max(solver.report_utility(j, x, [mpf_of(v) for v in s], mpf_of(sig), "naive")
                       for x in grid) - ref.naive_utilities[j]
            assert best <= ic.max_regret + _bar(dps), (j + 1, mpmath.nstr(best, 8))


# -- IC transfers have no regret ---------------------------------------------------------------

@pytest.mark.parametrize("dps", [30, 60])
def test_ic_regret_at_rounding_level(named_economy, dps):
    name, signals, sigma = "edges", ("0.3", "0.5", "0.9", "0.6"), "1/10"
    out = symmech.solve(named_economy(name), list(signals), sigma, dps=dps)
    ic = out.checks.incentive_compatibility
    scale = 1 + max(abs(x) for x in out.transfers + out.utilities)
    assert ic.holds is True
    assert abs(ic.max_regret) <= _bar(dps) * scale, mpmath.nstr(ic.max_regret, 3)


def test_ic_misreports_do_not_pay_by_the_reference(named_economy, reference_outcome):
    """The reference's own IC transfers: misreports of a trader never beat the truth."""
    name, signals, sigma = "heterogeneous", ("1/10", "1/2", "7/10", "3/10"), "1/10"
    s, sig = _exact(signals, sigma)
    ref = reference_outcome(name, s, sig, 30)
    solver = Reference(named_economy(name))
    with mpmath.workdps(50):
        profile = [mpf_of(x) for x in s]
        for i, report in [(1, mpmath.mpf("0.3")), (1, mpmath.mpf("0.7")), (0, mpmath.mpf(0))]:
            gain = solver.report_utility(i, report, profile, mpf_of(sig), "ic") - ref.utilities[i]
            assert gain < 0, (i + 1, report, gain)
