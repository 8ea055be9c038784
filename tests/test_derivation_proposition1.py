"""Tests of the Proposition 1 section (derivations/proposition1.py).

The section's exact numbers are compared with ``symmech.solve`` (eq. 4 + 7 by quadrature at
30 digits), with misreports run through ``symmech.solve`` and scored with the economy's utility
evaluated here, with finite differences of ``symmech.solve``, and with the envelope integral of
an allocation this test derives itself from the model's first-order conditions.
"""

from fractions import Fraction

import mpmath
import pytest
import sympy

import symmech
from symmech.model import Q

pytest.importorskip("matplotlib")

_TOL = mpmath.mpf("1e-20")
_DPS = 30


@pytest.fixture(scope="module")
def section(report_build):
    """The proposition1 section of the session's report build (conftest.report_build)."""
    return report_build[1]["proposition1"]


@pytest.fixture(scope="module")
def economy():
    return symmech.load_model("heterogeneous")


@pytest.fixture(scope="module")
def truthful(section):
    return symmech.solve("heterogeneous", section.profile, section.sigma, dps=_DPS)


def _with(profile, k, report):
    """``profile`` with agent k's signal replaced by ``report``."""
    signals = list(profile)
    signals[k - 1] = Fraction(str(sympy.Rational(report)))
    return signals


def _mp(x):
    """An exact number (sympy Rational, Fraction, int) or an mpf as an mpf, without rounding
    through a float."""
    if isinstance(x, mpmath.mpf):
        return x
    x = sympy.Rational(x)
    return mpmath.mpf(x.p) / x.q


def _close(a, b):
    with mpmath.workdps(_DPS):
        return abs(_mp(a) - _mp(b)) < _TOL


def _utility(economy, k, q, signals):
    """u_k(q, s) of the catalogue economy at the signals, evaluated here (exact coefficients)."""
    u = economy.utilities[k - 1].subs(dict(zip(economy.signals, [sympy.Rational(str(x)) for x in signals])))
    a = sympy.Rational(sympy.diff(u, Q).subs(Q, 0))
    m = sympy.Rational(-sympy.diff(u, Q, 2))
    with mpmath.workdps(_DPS):
        return mpmath.mpf(a.p) / a.q * q - mpmath.mpf(m.p) / m.q / 2 * q ** 2


def _agents(section):
    return (section.facts["buyer"], section.facts["edge"])


def test_worked_profile_has_both_boundary_cases(section, truthful):
    facts = section.facts["agents"]
    buyer, edge = facts[section.facts["buyer"]], facts[section.facts["edge"]]
    assert truthful.allocation[section.facts["buyer"] - 1] > 0
    assert 0 < buyer["pivot"] < 1 and buyer["boundary"] == buyer["pivot"]
    assert edge["boundary"] == 1 and edge["pivot"] > 1 and edge["q_b"] < 0


def test_price_and_allocation_match_solve(section, truthful):
    assert _close(section.facts["price"], truthful.price)
    for exact, numeric in zip(section.facts["allocation"], truthful.allocation):
        assert _close(exact, numeric)


@pytest.mark.parametrize("role", ["buyer", "edge"])
def test_transfer_and_utility_match_solve(section, truthful, role):
    k = section.facts[role]
    facts = section.facts["agents"][k]
    assert _close(facts["transfer"], truthful.transfers[k - 1])
    assert _close(facts["utility"], truthful.utilities[k - 1])


def test_transfer_steps_match_solve(section, truthful):
    k, e = section.facts["buyer"], section.facts["edge"]
    assert _close(section.step("Transfer over units (eq. 4)").exact, truthful.transfers[k - 1])
    assert _close(section.step("Transfer over reports").exact, truthful.transfers[k - 1])
    assert _close(section.step(f"Transfer of agent {e} (eq. 4, seller)").exact, truthful.transfers[e - 1])


def test_pivots_match_solve(section, truthful):
    for k in _agents(section):
        assert _close(section.facts["agents"][k]["boundary"], truthful.pivots[k - 1])
    assert truthful.pivots[section.facts["edge"] - 1] == 1          # the boundary type is the top report


def test_boundary_types_by_solve(section, economy):
    """At the interior pivot the agent trades nothing and pays nothing (constant 0); the boundary
    type 1 of the seller at every report still sells, and its IR margin is the section's."""
    k, e = section.facts["buyer"], section.facts["edge"]
    at_pivot = symmech.solve(economy, _with(section.profile, k, section.facts["agents"][k]["pivot"]),
                             section.sigma, dps=_DPS)
    assert abs(at_pivot.allocation[k - 1]) < _TOL and abs(at_pivot.transfers[k - 1]) < _TOL
    top = _with(section.profile, e, 1)
    at_top = symmech.solve(economy, top, section.sigma, dps=_DPS)
    edge = section.facts["agents"][e]
    assert at_top.allocation[e - 1] < 0 and _close(edge["q_b"], at_top.allocation[e - 1])
    assert _close(edge["t_b"], at_top.transfers[e - 1])
    with mpmath.workdps(_DPS):
        margin = _utility(economy, e, at_top.allocation[e - 1], top) - at_top.transfers[e - 1]
    assert margin >= 0 and _close(edge["ir_margin"], margin)


@pytest.mark.parametrize("role", ["buyer", "edge"])
def test_misreports_never_pay(section, economy, truthful, role):
    """Payoff of reporting r with the true signal, from symmech.solve: never above the truthful
    payoff, and short of it by the section's c_k (r - s_k)^2."""
    k = section.facts[role]
    c = section.facts["agents"][k]["c"]
    s_k = sympy.Rational(section.profile[k - 1])
    with mpmath.workdps(_DPS):
        truth = _utility(economy, k, truthful.allocation[k - 1], section.profile) - truthful.transfers[k - 1]
    for r in ("0", "3/10", "4/5", "1"):
        out = symmech.solve(economy, _with(section.profile, k, r), section.sigma, dps=_DPS)
        with mpmath.workdps(_DPS):
            payoff = _utility(economy, k, out.allocation[k - 1], section.profile) - out.transfers[k - 1]
            assert payoff <= truth + _TOL
            assert _close(truth - payoff, c * (sympy.Rational(r) - s_k) ** 2)


def test_local_ic_by_finite_differences(section, economy, truthful):
    """dt_k/dq_k along reports equals the marginal price p^sigma + sigma q_k at the truth (central
    differences are exact here: t_k is quadratic and q_k linear in the report)."""
    k = section.facts["buyer"]
    s_k = sympy.Rational(section.profile[k - 1])
    h = sympy.Rational(1, 50)
    up = symmech.solve(economy, _with(section.profile, k, s_k + h), section.sigma, dps=_DPS)
    down = symmech.solve(economy, _with(section.profile, k, s_k - h), section.sigma, dps=_DPS)
    with mpmath.workdps(_DPS):
        slope = (up.transfers[k - 1] - down.transfers[k - 1]) / (up.allocation[k - 1] - down.allocation[k - 1])
        assert abs(slope - (truthful.price + _mp(section.sigma) * truthful.allocation[k - 1])) < _TOL


def _own_allocation(economy, profile, sigma, k):
    """q_k(rho, s_-k) from the model's first-order conditions, solved here with SymPy."""
    rho = sympy.Symbol("rho", real=True)
    p = sympy.Symbol("p", real=True)
    values = dict(zip(economy.signals, [sympy.Rational(str(x)) for x in profile]))
    values[economy.signals[k - 1]] = rho
    qs = sympy.symbols(f"q1:{economy.n + 1}", real=True)
    sigma = sympy.Rational(str(sigma))
    equations = [sympy.Eq(sympy.diff(u, Q).subs(values).subs(Q, q), p + sigma * q)
                 for u, q in zip(economy.utilities, qs)]
    equations.append(sympy.Eq(sympy.Add(*qs), 0))
    solution = sympy.solve(equations, [*qs, p], dict=True)[0]
    return rho, solution[qs[k - 1]]


@pytest.mark.parametrize("role", ["buyer", "edge"])
def test_envelope(section, economy, truthful, role):
    """U_k(s) - U_k(boundary) = integral of du_k/ds_k = (alpha_k + beta/N) q_k along truthful reports."""
    k = section.facts[role]
    boundary = section.facts["agents"][k]["boundary"]
    rho, q_k = _own_allocation(economy, section.profile, section.sigma, k)
    s_k = economy.signals[k - 1]
    weight = sympy.diff(sympy.diff(economy.utilities[k - 1], Q), s_k)     # d mu_k / d s_k, a number
    rise = sympy.integrate(weight * q_k, (rho, boundary, sympy.Rational(section.profile[k - 1])))
    at_boundary = symmech.solve(economy, _with(section.profile, k, boundary), section.sigma, dps=_DPS)
    with mpmath.workdps(_DPS):
        gained = truthful.utilities[k - 1] - at_boundary.utilities[k - 1]
        assert abs(gained - _mp(rise)) < _TOL


def test_section_shows_the_printed_slip(section):
    text = section.tex.read_text()
    assert "Where the printed paper differs" in text and "seller" in text
    assert "\\includegraphics" in text
