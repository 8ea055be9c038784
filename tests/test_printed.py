"""The printed-formula comparison: every verdict backed independently.

A row that agrees is re-simplified here from its printed and derived strings (an identity to 0, a
condition to a ratio free of the signals). A row that differs carries a witness (economy, sigma,
profile); the numeric solver symmech.solve (or, for a statement about the model itself, the
model's marginal utility) computes the quantity there, which must match the derived value and
miss the printed one.
"""

import random
from functools import lru_cache

import mpmath
import pytest
import sympy

import symmech
from symmech import Q
from symmech.model import parse_model
from symmech.printed import PRINTED, WITNESS_MODELS, compare_printed
from symmech.symbolic import SIGMA, derive

R = sympy.Rational

#: The verdicts this comparison reached; a change here is a change of finding, so it must be seen.
EXPECTED = {
    "ex1-cross-weight": False, "ex3-foc": True, "ex3-price": True, "ex3-allocation": True,
    "ex3-ic-line2": False, "ex3-ic-line3": True, "ex3-direction": True,
    "lemma2-dp": True, "lemma2-dq": True, "lemma2-dp-lower": False, "lemma2-dp-upper": True,
    "lemma2-dq-bounds": True, "eq7-buyer": True, "eq7-seller": False,
    "ex4-allocation": False, "ex4-price": False, "ex4-pivot": False, "ex4-average-price": False,
    "ex4-gap-middle": False, "ex4-gap": False, "ex4-threshold": False, "ex4-reduction": False,
}

_SYMBOLS = {name: sympy.Symbol(name, positive=True) for name in ("alpha", "beta", "beta_h", "beta_l", "mu")}
_SYMBOLS.update({name: sympy.Symbol(name, positive=True, integer=True) for name in ("N", "n", "n_A", "n_E")})
_SYMBOLS.update({name: sympy.Symbol(name, real=True) for name in ("s_i", "sbar", "sbar_A", "sbar_E", "q_i")})
_SYMBOLS["sigma"] = SIGMA


@pytest.fixture(scope="module")
def rows():
    return {row["key"]: row for row in compare_printed()}


@lru_cache(maxsize=None)
def _economy(name):
    return parse_model(WITNESS_MODELS[name], source=name) if name in WITNESS_MODELS else symmech.load_model(name)


@lru_cache(maxsize=None)
def _solve(name, signals, sigma, dps=30, transfers="ic"):
    return symmech.solve(_economy(name), list(signals), sigma, dps=dps, check_assumptions=False, transfers=transfers)


def _number(text):
    return mpmath.mpf(sympy.Rational(sympy.sympify(text)).p) / sympy.Rational(sympy.sympify(text)).q


def test_every_printed_formula_has_a_row_and_the_expected_verdict(rows):
    assert set(rows) == {item.key for item in PRINTED} == set(EXPECTED)
    for key, row in rows.items():
        assert row["agrees"] is EXPECTED[key], (key, row["difference"], row["note"])
        assert row["where"] and row["quantity"] and row["printed"] and row["derived"]
        assert (row["witness"] is None) == row["agrees"], key


@pytest.mark.parametrize("key", [k for k, v in EXPECTED.items() if v])
def test_agreeing_rows_simplify_to_zero(rows, key):
    row = rows[key]
    difference = sympy.sympify(row["difference"], locals=_SYMBOLS)
    if row["kind"] == "condition":
        # the printed condition is a non-zero multiple (free of the signals) of the derived one
        assert difference != 0 and not difference.free_symbols & {_SYMBOLS["s_i"], _SYMBOLS["sbar"]}
        printed = sympy.sympify(row["printed_sympy"], locals=_SYMBOLS)
        assert printed.has(_SYMBOLS["q_i"])
    elif row["printed_sympy"] is not None and row["kind"] == "identity" and key.startswith("ex3"):
        printed = sympy.sympify(row["printed_sympy"], locals=_SYMBOLS)
        derived = sympy.sympify(row["derived"], locals=_SYMBOLS)
        assert sympy.simplify(printed - derived) == 0
    else:
        assert difference == 0


def test_lemma2_formulas_on_a_random_economy():
    """Lemma 2's printed weighted averages, evaluated on a 3-agent economy with unequal curvatures
    and cross effects of both signs, equal derive()'s slopes."""
    rng = random.Random(5)
    n = 3
    s = symmech.signal_symbols(n)
    A = [[R(rng.randint(15, 30), 20) if j == k else R(rng.randint(-4, 5), 20) for k in range(n)] for j in range(n)]
    m = [R(2, 4), R(5, 4), R(7, 4)]
    economy = symmech.Economy([sum(A[j][k] * s[k] for k in range(n)) * Q - m[j] * Q ** 2 / 2 for j in range(n)])
    d = derive(economy)
    w = [1 / (SIGMA + m[j]) for j in range(n)]
    for i in range(n):
        printed_dp = sum(A[j][i] * w[j] for j in range(n)) / sum(w)
        assert sympy.cancel(printed_dp - d.dp_ds[i]) == 0
        assert sympy.cancel((A[i][i] - printed_dp) / (SIGMA + m[i]) - d.dq_ds[i]) == 0


# ---- witnesses of the rows that differ, checked with the numeric solver --------------------------

def _payoff(name, agent, truth, report, sigma, dps):
    """u_i(q_i(r, s_-i), s) - t_i(r, s_-i) with naive transfers, from symmech.solve at the report."""
    signals = list(truth)
    signals[agent - 1] = report
    out = _solve(name, tuple(signals), sigma, dps, "naive")
    economy = _economy(name)
    q = out.allocation[agent - 1]
    values = {Q: sympy.Float(mpmath.nstr(q, dps + 5), dps + 5)}
    values.update({x: R(v) for x, v in zip(economy.signals, truth)})
    utility = sympy.N(economy.utilities[agent - 1].subs(values), dps + 5)
    return mpmath.mpf(str(utility)) - out.transfers[agent - 1]


def _numeric(witness):
    """The quantity a witness names, computed without the symbolic module."""
    check, name = witness["check"], witness["model"]
    sigma, agent = witness.get("sigma"), witness.get("agent")
    signals = tuple(witness.get("signals") or ())
    if check == "marginal_utility":
        economy = _economy(name)
        mu = economy.marginal_utilities[agent - 1]
        other = economy.signals[witness["other"] - 1]
        return mpmath.mpf(sympy.Rational(mu.subs(other, 1) - mu.subs(other, 0)).p) / \
            sympy.Rational(mu.subs(other, 1) - mu.subs(other, 0)).q
    if check == "naive_ic_derivative":
        h = R(1, 10 ** 8)
        s = R(signals[agent - 1])
        with mpmath.workdps(40):
            up = _payoff(name, agent, signals, str(s + h), sigma, 30)
            down = _payoff(name, agent, signals, str(s - h), sigma, 30)
            return (up - down) / (2 * mpmath.mpf(h.p) / h.q)
    if check == "dp_ds":
        h = R(1, 10 ** 6)
        moved = list(signals)
        moved[agent - 1] = str(R(moved[agent - 1]) + h)
        with mpmath.workdps(40):
            return (_solve(name, tuple(moved), sigma).price - _solve(name, signals, sigma).price) / (mpmath.mpf(h.p) / h.q)
    if check == "seller_boundary_ir":
        out = _solve(name, signals, sigma, 15)
        assert out.pivots[agent - 1] == 1          # sells at every report: the boundary type is report 1
        q, p, sig = out.allocation[agent - 1], out.price, mpmath.mpf(R(sigma).p) / R(sigma).q
        economy = _economy(name)
        values = {Q: sympy.Float(mpmath.nstr(q, 25), 25), **{x: R(v) for x, v in zip(economy.signals, signals)}}
        utility = mpmath.mpf(str(sympy.N(economy.utilities[agent - 1].subs(values), 25)))
        printed_margin = utility - (-(p + sig * q) * q)
        return printed_margin, out.utilities[agent - 1]
    if check == "budget_surplus":
        return _solve(name, signals, sigma, 15).budget_surplus
    if check == "reduction_price":
        return _solve(witness["other_model"], signals, sigma, 15).price, _solve(name, signals, sigma, 15).price
    out = _solve(name, signals, sigma, 15)
    k = agent - 1
    return {"allocation": out.allocation[k], "price": out.price, "pivot": out.pivots[k],
            "average_price": out.transfers[k] / out.allocation[k],
            "average_price_gap": out.transfers[k] / out.allocation[k] - out.price}[check]


@pytest.mark.parametrize("key", [k for k, v in EXPECTED.items() if not v])
def test_differing_rows_have_a_numeric_witness(rows, key):
    witness = rows[key]["witness"]
    value = _numeric(witness)
    tol = mpmath.mpf(10) ** -9
    if witness["check"] == "seller_boundary_ir":
        printed_margin, derived_margin = value
        assert printed_margin < 0 <= derived_margin                   # printed eq. 7 breaks IR (eq. 6)
        assert abs(printed_margin - _number(witness["printed"])) < tol
        assert abs(derived_margin - _number(witness["derived"])) < tol
    elif witness["check"] == "budget_surplus":
        assert value < 0                                              # a deficit at the printed threshold
        assert abs(value - _number(witness["derived"])) < tol
    elif witness["check"] == "dp_ds":
        assert value < 0                                              # no positive lower bound
        assert abs(value - _number(witness["derived"])) < mpmath.mpf(10) ** -6
    elif witness["check"] == "reduction_price":
        example1_price, group_price = value
        assert abs(example1_price - _number(witness["printed"])) < tol
        assert abs(group_price - _number(witness["derived"])) < tol
        assert abs(example1_price - group_price) > mpmath.mpf(10) ** -3
    else:
        assert abs(value - _number(witness["derived"])) < tol, (value, witness)
        assert abs(value - _number(witness["printed"])) > mpmath.mpf(10) ** -4, (value, witness)


def test_example3_last_line_vanishes_where_the_derivative_does(rows):
    """The last line of Example 3 is not the derivative, but zero exactly when it is: check both
    the derivative's value at a trading profile (numeric) and its zero at a no-trade profile."""
    row = rows["ex3-ic-line3"]
    assert row["agrees"]
    truth = ("9/10", "1/5", "1/2", "3/10", "7/10", "2/5")
    h = R(1, 10 ** 8)
    with mpmath.workdps(40):
        up = _payoff("example1", 1, truth, str(R(9, 10) + h), "3/4", 30)
        down = _payoff("example1", 1, truth, str(R(9, 10) - h), "3/4", 30)
        numeric = (up - down) / (2 * mpmath.mpf(h.p) / h.q)
    d = derive("example1")
    values = {**dict(zip(d.signals, map(R, truth))), SIGMA: R(3, 4)}
    derived = d.naive_ic_condition.derivative[0].subs(values)
    assert abs(numeric - mpmath.mpf(derived.p) / derived.q) < mpmath.mpf(10) ** -9
    assert numeric < 0 < d.allocation[0].subs(values)             # a buyer gains by understating
