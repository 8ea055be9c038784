"""The float64 backend against independent routes, and the backend switch.

float64 (symmech.fast, numpy) is compared with the independent reference of tests/reference.py
(findroot equilibria, tanh-sinh envelope transfers, 50 digits) on every economy written in
conftest.py, and with the mpmath backend on the catalogue: both must agree to float64 accuracy
(relative 1e-10, the promise dps - 5 at dps = 15). The IC check of the float64 backend must catch
naive transfers with a misreport the reference confirms.
"""

from fractions import Fraction as F

import mpmath
import pytest
import sympy

import symmech
from reference import Reference, mpf_of, relative_error
from symmech import Economy, Q, signal_symbols
from symmech.errors import AssumptionError, ModelError
from symmech.model import parse_model
from test_scale import MODELS            # picks (s[i % N + 1]), i, list parameters; groups, sums

BAR = mpmath.mpf(10) ** -10

CASES = [
    ("heterogeneous", ("1/10", "1/2", "7/10", "3/10"), "1/10"),
    ("heterogeneous", ("0", "1", "1/2", "1/4"), "1/4"),
    ("two_groups", ("0.12", "0.87", "0.45", "0.3", "0.66"), "1/5"),
    ("three_groups", ("0.9", "0.1", "0.5", "0.35", "0.8", "0.2"), "1/10"),
    ("tanh", ("0.2", "0.75", "0.4"), "1/10"),
    ("exp", ("0.15", "0.6", "0.9"), "1/20"),
    ("edges", ("0.3", "0.5", "0.9", "0.6"), "1/10"),
    ("fundamental", ("1/5", "3/5", "2/5"), "1/10"),
]
FIELDS = ("price", "allocation", "transfers", "utilities", "budget_surplus", "pivots",
          "walrasian_price", "walrasian_allocation")
PROFILES = {"example1": ("0.1", "0.2", "0.3", "0.4", "0.5", "0.6"),
            "example2": ("0.9", "0.15", "0.4", "0.55", "0.2", "0.7"),
            "groups3": ("0.1", "0.8", "0.3", "0.6", "0.45", "0.95", "0.05"),
            "heterogeneous": ("0.12", "0.87", "0.45", "0.66", "0.31"),
            "tanh": ("0.12", "0.87", "0.45", "0.66", "0.31"),
            "picks": ("0.12", "0.87", "0.45", "0.66", "0.31"),
            "groups": ("0.12", "0.87", "0.45", "0.66", "0.31")}


def _exact(signals, sigma):
    return tuple(F(x) for x in signals), F(sigma)


@pytest.mark.parametrize("name, signals, sigma", CASES)
def test_float64_matches_the_reference(named_economy, reference_outcome, name, signals, sigma):
    out = symmech.solve(named_economy(name), list(signals), sigma, backend="float64")
    ref = reference_outcome(name, *_exact(signals, sigma), 30)
    assert out.dps == 15 and out.solver.method.startswith("float64")
    for field in FIELDS:
        err = relative_error(getattr(out, field), getattr(ref, field))
        assert err < BAR, (field, mpmath.nstr(err, 5))
    c = out.checks
    assert c.market_clearing.holds and c.individual_rationality.holds and c.incentive_compatibility.holds
    assert c.budget_surplus.holds == (ref.budget_surplus >= 0)


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_float64_and_mpmath_backends_agree_on_the_catalogue(name):
    signals = PROFILES[name]
    economy = parse_model(MODELS[name], source=name) if name in MODELS else symmech.load_model(name)
    fast = symmech.solve(economy, signals, "0.1", backend="float64")
    slow = symmech.solve(economy, signals, "0.1", dps=20, backend="mpmath")
    assert slow.solver.method.startswith("mpmath") and slow.dps == 20
    for field in FIELDS:
        err = relative_error(getattr(fast, field), getattr(slow, field))
        assert err < BAR, (field, mpmath.nstr(err, 5))
    for check in ("market_clearing", "budget_surplus", "individual_rationality", "incentive_compatibility"):
        assert getattr(fast.checks, check).holds == getattr(slow.checks, check).holds, check
    assert fast.checks.individual_rationality.agent == slow.checks.individual_rationality.agent
    assert abs(fast.checks.pareto.epsilon - slow.checks.pareto.epsilon) < BAR
    assert abs(fast.checks.incentive_compatibility.max_regret) < BAR


def test_float64_catches_naive_transfers(named_economy, reference_outcome):
    name, signals, sigma = "exp", ("0.15", "0.6", "0.9"), "1/20"
    s, sig = _exact(signals, sigma)
    out = symmech.solve(named_economy(name), list(signals), sigma, transfers="naive", backend="float64")
    ref = reference_outcome(name, s, sig, 30)
    assert relative_error(out.transfers, ref.naive_transfers) < BAR
    ic = out.checks.incentive_compatibility
    assert ic.holds is False and ic.max_regret > 0
    i, r = ic.agent - 1, F(float(ic.misreport))       # the misreport as the exact binary number
    with mpmath.workdps(50):
        gain = Reference(named_economy(name)).report_utility(
            i, mpf_of(r), [mpf_of(x) for x in s], mpf_of(sig), "naive") - ref.naive_utilities[i]
        assert gain > 0 and relative_error(gain, ic.max_regret) < mpmath.mpf(10) ** -8


def test_auto_picks_float64_up_to_15_digits():
    signals = PROFILES["example1"]
    low = symmech.solve("example1", signals, "0.1", dps=12)
    assert low.solver.method.startswith("float64") and low.dps == 15
    high = symmech.solve("example1", signals, "0.1", dps=16)
    assert high.solver.method.startswith("mpmath") and high.dps == 16
    forced = symmech.solve("example1", signals, "0.1", dps=12, backend="mpmath")
    assert forced.solver.method.startswith("mpmath") and forced.dps == 12
    d = low.to_dict()
    assert d["dps"] == 15
    for text in [d["price"], *d["transfers"], *d["allocation"]]:
        digits = text.lstrip("-").split("e")[0].replace(".", "").lstrip("0")
        assert len(digits) <= 15, text
    # the price of Example 1 is (alpha + beta) mean(s) = 1.5 * 0.35 exactly: 15 digits show it
    assert d["price"] == "0.525"


def test_a_backend_that_does_not_exist_is_a_model_error():
    with pytest.raises(ModelError) as info:
        symmech.solve("example1", PROFILES["example1"], "0.1", backend="gpu")
    assert "backend" in str(info.value) and "float64" in str(info.value)


def test_float64_stops_where_a4_breaks():
    s = signal_symbols(2)
    economy = Economy([s[0] * Q + Q ** 3, s[1] * Q - Q ** 2])
    with pytest.raises(AssumptionError) as info:
        symmech.solve(economy, ["0.9", "0.1"], "0", backend="float64", check_assumptions=False)
    error = info.value
    assert error.assumption == "A4" and error.agent == 1
    assert 6 * error.witness["q"] >= 0               # d mu_1/dq = 6 q (by hand): A4 broken there


@pytest.mark.parametrize("backend", ["float64", "mpmath"])
def test_both_backends_report_a_marginal_utility_that_is_not_real(backend):
    s = signal_symbols(2)
    bad = sympy.atanh(2)                             # complex: the formula leaves the reals
    economy = Economy([(s[0] + bad) * Q - Q ** 2 / 2, s[1] * Q - Q ** 2 / 2])
    with pytest.raises(AssumptionError) as info:
        symmech.solve(economy, ["0.4", "0.6"], "0.1", dps=20, backend=backend, check_assumptions=False)
    assert info.value.assumption == "A1" and info.value.agent == 1
