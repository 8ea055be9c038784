"""``symmech.solve`` against the independent reference (tests/reference.py) on economies written
here, its JSON contract, its input errors, and its accuracy as dps grows.

The reference itself is first checked against closed forms derived exactly with SymPy from the
model (linear marginal utility), so a disagreement below points at one side only.
"""

import json
import re
from fractions import Fraction as F

import mpmath
import pytest

import symmech
from reference import COMPARE_DPS, quadratic_closed_form, relative_error

TOL_30 = mpmath.mpf(10) ** -25          # the brief's bar at dps 30

# (named_economy, signals, sigma): every economy written in conftest.py, none from the catalogue
CASES = [
    ("heterogeneous", ("1/10", "1/2", "7/10", "3/10"), "1/10"),
    ("heterogeneous", ("0", "1", "1/2", "1/4"), "1/4"),            # signals at both edges
    ("two_groups", ("0.12", "0.87", "0.45", "0.3", "0.66"), "1/5"),
    ("three_groups", ("0.9", "0.1", "0.5", "0.35", "0.8", "0.2"), "1/10"),
    ("tanh", ("0.2", "0.75", "0.4"), "1/10"),
    ("exp", ("0.15", "0.6", "0.9"), "1/20"),
    ("edges", ("0.3", "0.5", "0.9", "0.6"), "1/10"),                # pivots at 0 and at 1
    ("fundamental", ("1/5", "3/5", "2/5"), "1/10"),                 # agent 3 does not trade
]
QUADRATIC = {"heterogeneous", "two_groups", "three_groups", "edges", "fundamental"}
FIELDS = ("price", "allocation", "transfers", "utilities", "budget_surplus", "pivots",
          "walrasian_price", "walrasian_allocation")


def _exact(signals, sigma):
    return tuple(F(x) for x in signals), F(sigma)


@pytest.fixture(scope="module")
def solved(named_economy):
    """``solved(name, signals, sigma, dps, kind)``: symmech.solve, once per module."""
    cache = {}

    def run(name, signals, sigma, dps=30, transfers="ic"):
        key = (name, tuple(signals), sigma, dps, transfers)
        if key not in cache:
            cache[key] = symmech.solve(named_economy(name), list(signals), sigma, dps=dps,
                                       transfers=transfers)
        return cache[key]
    return run


# -- the reference against exact closed forms ------------------------------------------------

@pytest.mark.parametrize("name, signals, sigma", [c for c in CASES if c[0] in QUADRATIC])
def test_reference_matches_closed_form(named_economy, reference_outcome, name, signals, sigma):
    """Reference (findroot + bisection + tanh-sinh envelope) vs sympy.linsolve + exact integrals."""
    s, sig = _exact(signals, sigma)
    exact = quadratic_closed_form(named_economy(name), s, sig)
    ref = reference_outcome(name, s, sig, 30)
    bar = mpmath.mpf(10) ** -45        # the reference works at 50 digits
    for field in FIELDS[:-2] + ("walrasian_price", "walrasian_allocation", "naive_transfers",
                                "walrasian_utilities"):
        err = relative_error(getattr(ref, field), getattr(exact, field))
        assert err < bar, (field, err)


# -- symmech.solve against the reference -----------------------------------------------------

@pytest.mark.parametrize("name, signals, sigma", CASES)
def test_solve_matches_reference(solved, reference_outcome, name, signals, sigma):
    out = solved(name, signals, sigma)
    ref = reference_outcome(name, *_exact(signals, sigma), 30)
    assert out.signals == _exact(signals, sigma)[0] and out.sigma == F(sigma)
    for field in FIELDS:
        err = relative_error(getattr(out, field), getattr(ref, field))
        assert err < TOL_30, (field, mpmath.nstr(err, 5))


def test_edge_pivots(solved, reference_outcome):
    """A buyer at every report pivots at 0, a seller at every report at 1."""
    signals, sigma = CASES[6][1], CASES[6][2]
    ref = reference_outcome("edges", *_exact(signals, sigma), 30)
    assert ref.pivots[0] == 0 and ref.allocation[0] > 0
    assert ref.pivots[3] == 1 and ref.allocation[3] < 0
    out = solved("edges", signals, sigma)
    assert out.pivots[0] == 0 and out.pivots[3] == 1
    assert 0 < out.pivots[1] < 1 and 0 < out.pivots[2] < 1


def test_non_trader(named_economy, solved):
    """An agent whose signal makes q_i = 0 exactly pays 0, gets utility 0, pivots at its signal."""
    name, signals, sigma = CASES[7]
    exact = quadratic_closed_form(named_economy(name), *_exact(signals, sigma))
    assert exact.allocation[2] == 0 and exact.transfers[2] == 0      # derived, not assumed
    out = solved(name, signals, sigma)
    tol = mpmath.mpf(10) ** -25
    assert abs(out.allocation[2]) < tol and abs(out.transfers[2]) < tol
    assert abs(out.utilities[2]) < tol
    assert relative_error(out.pivots[2], F(2, 5)) < tol


# -- the JSON contract of DESIGN.md ----------------------------------------------------------

_NUMBER = re.compile(r"^-?(\d+(\.\d+)?|\.\d+)([eE][+-]?\d+)?$")
_TOP = {"agents", "sigma", "dps", "price", "allocation", "transfers", "utilities",
        "budget_surplus", "checks"}
_CHECKS = {"market_clearing": {"holds", "residual"},
           "budget_surplus": {"holds", "value"},
           "individual_rationality": {"holds", "margin", "agent"},
           "incentive_compatibility": {"holds", "max_regret", "agent", "misreport"},
           "pareto": {"epsilon"}}


def _number(text, expected, dps):
    """A decimal string that parses with mpmath and agrees with ``expected`` to dps - 5 digits."""
    assert isinstance(text, str) and _NUMBER.match(text), text
    with mpmath.workdps(COMPARE_DPS):
        value = mpmath.mpf(text)
    assert relative_error(value, expected) <= mpmath.mpf(10) ** (5 - dps), (text, expected)


@pytest.mark.parametrize("case", [2, 6])
def test_to_dict_contract(solved, reference_outcome, case):
    name, signals, sigma = CASES[case]
    out = solved(name, signals, sigma)
    ref = reference_outcome(name, *_exact(signals, sigma), 30)
    d = out.to_dict()
    assert json.loads(json.dumps(d)) == d
    assert _TOP <= set(d) and set(d) - _TOP <= {"solver"}
    n, dps = len(signals), out.dps
    assert d["agents"] == n and isinstance(d["agents"], int)
    assert d["dps"] == 30 and isinstance(d["dps"], int)
    assert isinstance(d["sigma"], str) and F(d["sigma"]) == F(sigma)
    _number(d["price"], ref.price, dps)
    _number(d["budget_surplus"], ref.budget_surplus, dps)
    for key in ("allocation", "transfers", "utilities"):
        assert isinstance(d[key], list) and len(d[key]) == n
        for text, expected in zip(d[key], getattr(ref, key)):
            _number(text, expected, dps)
    checks = d["checks"]
    assert set(checks) == set(_CHECKS)
    for key, fields in _CHECKS.items():
        assert fields <= set(checks[key]) and set(checks[key]) - fields <= {"agent"}, key
        if "holds" in fields:
            assert isinstance(checks[key]["holds"], bool)
    c = out.checks
    _number(checks["market_clearing"]["residual"], c.market_clearing.residual, dps)
    _number(checks["budget_surplus"]["value"], ref.budget_surplus, dps)
    assert checks["budget_surplus"]["holds"] == (ref.budget_surplus >= 0)
    # IR: staying out gives 0, so the margin is the smallest utility; agents numbered from 1
    ir = checks["individual_rationality"]
    worst = min(range(n), key=lambda i: ref.utilities[i])
    assert ir["agent"] == worst + 1 and type(ir["agent"]) is int
    _number(ir["margin"], ref.utilities[worst], dps)
    ic = checks["incentive_compatibility"]
    assert type(ic["agent"]) is int and 1 <= ic["agent"] <= n
    _number(ic["max_regret"], c.incentive_compatibility.max_regret, dps)
    _number(ic["misreport"], c.incentive_compatibility.misreport, dps)
    assert 0 <= mpmath.mpf(ic["misreport"]) <= 1
    _number(checks["pareto"]["epsilon"], c.pareto.epsilon, dps)
    # epsilon-PE against the WE: the largest shortfall of IC utility below the WE utility
    with mpmath.workdps(COMPARE_DPS):   # mpf arithmetic outside a scope would round to 15 digits
        shortfall = max(w - u for w, u in zip(ref.walrasian_utilities, ref.utilities))
    _number(checks["pareto"]["epsilon"], max(shortfall, 0), dps)


# -- bad input -------------------------------------------------------------------------------

@pytest.mark.parametrize("signals, sigma, dps, words", [
    (["0.1", "0.2"], "0.1", 30, ["signal", "3"]),                      # wrong count
    (["0.1", "1.5", "0.2"], "0.1", 30, ["signal", "1.5"]),             # outside [0, 1]
    (["0.1", "-0.25", "0.2"], "0.1", 30, ["signal", "-0.25"]),
    (["0.1", "0.5", "0.2"], "-0.05", 30, ["sigma"]),                  # sigma < 0
    (["0.1", "0.5", "0.2"], "0.1", 9, ["dps"]),                       # dps < 10
])
def test_bad_input(named_economy, signals, sigma, dps, words):
    with pytest.raises(symmech.ModelError) as info:
        symmech.solve(named_economy("tanh"), signals, sigma, dps=dps)
    message = str(info.value).lower()
    for word in words:
        assert word in message, (word, message)


# -- accuracy as dps grows -------------------------------------------------------------------

def test_dps_sweep(solved, reference_outcome):
    """Errors against a dps-80 run and against the reference fall with dps, each below 10^-(dps-5)."""
    name, signals, sigma = CASES[5]          # the exp economy: nothing is exact there
    best = solved(name, signals, sigma, dps=80)
    ref = reference_outcome(name, *_exact(signals, sigma), 60)
    fields = ("price", "allocation", "transfers", "utilities", "budget_surplus")

    def error(out, against):
        return max(relative_error(getattr(out, f), getattr(against, f)) for f in fields)

    assert error(best, ref) < mpmath.mpf(10) ** -55
    previous = [mpmath.inf, mpmath.inf]
    for dps in (15, 30, 60):
        out = solved(name, signals, sigma, dps=dps)
        errors = [error(out, best), error(out, ref)]
        bar = mpmath.mpf(10) ** (5 - dps)
        for k in range(2):
            assert errors[k] < bar, (dps, k, mpmath.nstr(errors[k], 3))
            assert errors[k] < previous[k], (dps, k, mpmath.nstr(errors[k], 3))
        previous = errors
