"""Assumptions A1-A4 and A3': sampled constants against closed forms derived by hand.

For a quadratic economy mu_i = a_i . s - m_i q the derivatives are constants read off the
coefficients, and M = max_i max_s |a_i . s| sits at a corner; each expected value below is
written from the parameters, not from the code's output. Witnesses of failures are
re-evaluated with SymPy at the reported point.
"""

import json
import math
import time

import pytest
import sympy
from sympy import Rational as R

from symmech.assumptions import AssumptionReport, check_assumptions, require_assumptions
from symmech.errors import AssumptionError
from symmech.model import Economy, Q, signal_symbols

REL = 1e-12


def _fundamental(alphas, betas, mus):
    """Example 1 with per-agent parameters: u_i = (alpha_i s_i + beta_i s_bar) q - mu_i/2 q^2."""
    n = len(alphas)
    s = signal_symbols(n)
    s_bar = sum(s) / n
    return Economy([(a * s[i] + b * s_bar) * Q - m / 2 * Q**2
                    for i, (a, b, m) in enumerate(zip(alphas, betas, mus))], name="example 1")


def _economy(mus_of_s, n):
    """An economy from marginal utilities given as functions of the signal symbols (u = int mu dq)."""
    s = signal_symbols(n)
    return Economy([sympy.integrate(f(s), (Q, 0, Q)) for f in mus_of_s])


def _recheck(economy, witness, wrt):
    """d mu_i / d(wrt) at the witness point, evaluated by SymPy (independently of lambdify)."""
    s = signal_symbols(economy.n)
    mu = sympy.diff(economy.utilities[witness.agent - 1], Q)
    point = {Q: sympy.Float(witness.q, 30), **{sk: sympy.Float(v, 30) for sk, v in zip(s, witness.signals)}}
    return float(sympy.diff(mu, wrt).subs(point).evalf(30))


def test_example_1_constants_match_closed_forms():
    alpha, beta, mu, n = R(1), R(1, 2), R(3, 2), 5
    report = check_assumptions(_fundamental([alpha] * n, [beta] * n, [mu] * n), seed=1)
    assert isinstance(report, AssumptionReport)
    assert report.c_s == pytest.approx(float(alpha + beta / n), rel=REL)
    assert report.C_s == pytest.approx(float(alpha + beta / n), rel=REL)
    assert report.phi_N == pytest.approx(float(beta / n), rel=REL)
    assert report.varphi_N == pytest.approx(float(beta / n + R(1, n)), rel=REL)
    assert report.c_q == pytest.approx(float(-mu), rel=REL)
    assert report.C_q == pytest.approx(float(-mu), rel=REL)
    assert report.c_phi == pytest.approx(1.0, rel=REL)
    # |mu_i(0, s)| = alpha s_i + beta s_bar, largest at s = (1, ..., 1)
    assert report.M == pytest.approx(float(alpha + beta), rel=REL)
    # q bound 2M/|C_q| = 2 (alpha + beta) / mu = 2
    assert report.q_range == pytest.approx((-2.0, 2.0), rel=REL)
    assert report.holds
    assert all(r.holds and r.witness is None for r in report.records)


def test_heterogeneous_parameters():
    alphas = [R(1), R(3, 2), R(2), R(5, 4)]
    betas = [R(1, 2), R(1), R(1, 4), R(3, 4)]
    mus = [R(1), R(2), R(1, 2), R(3, 2)]
    n = len(alphas)
    report = check_assumptions(_fundamental(alphas, betas, mus), seed=2)
    own = [a + b / n for a, b in zip(alphas, betas)]   # d mu_i/d s_i
    cross = [b / n for b in betas]                      # d mu_i/d s_j, j != i
    assert report.c_s == pytest.approx(float(min(own)), rel=REL)
    assert report.C_s == pytest.approx(float(max(own)), rel=REL)
    assert report.phi_N == pytest.approx(float(max(cross)), rel=REL)
    assert report.min_cross == pytest.approx(float(min(cross)), rel=REL)
    assert report.c_phi == pytest.approx(float(min(betas) / max(betas)), rel=REL)
    assert report.c_q == pytest.approx(float(-max(mus)), rel=REL)
    assert report.C_q == pytest.approx(float(-min(mus)), rel=REL)
    big_m = max(a + b for a, b in zip(alphas, betas))
    assert report.M == pytest.approx(float(big_m), rel=REL)
    bound = float(2 * big_m / min(mus))
    assert report.q_range == pytest.approx((-bound, bound), rel=REL)
    assert report.record("A3").holds == (max(cross) < min(own))
    assert report.holds


def test_group_model_cross_effects():
    # Example 2: groups A = {1, 2, 3}, E = {4, 5, 6}; own group weighted beta_h, other beta_l.
    alpha, beta_h, beta_l, mu = R(1), R(1, 2), R(1, 4), R(1)
    s = signal_symbols(6)
    mean_a, mean_e = sum(s[:3]) / 3, sum(s[3:]) / 3
    utilities = []
    for i in range(6):
        own_mean, other_mean = (mean_a, mean_e) if i < 3 else (mean_e, mean_a)
        utilities.append((alpha * s[i] + beta_h * own_mean + beta_l * other_mean) * Q - mu / 2 * Q**2)
    report = check_assumptions(Economy(utilities), seed=3)
    assert report.c_s == pytest.approx(float(alpha + beta_h / 3), rel=REL)
    assert report.phi_N == pytest.approx(float(beta_h / 3), rel=REL)
    assert report.min_cross == pytest.approx(float(beta_l / 3), rel=REL)
    assert report.c_phi == pytest.approx(float(beta_l / beta_h), rel=REL)
    assert report.M == pytest.approx(float(alpha + beta_h + beta_l), rel=REL)
    assert report.record("A3'").holds


def test_q_range_formula_with_curved_marginal_utility():
    # mu_i = s_i + s_bar/4 - q - q^3: d mu/d q = -1 - 3 q^2, so C_q = -1 (at q = 0) and
    # c_q = -1 - 3 q_bound^2 (at the ends); M = 1 + 1/4, q_bound = 2M/|C_q| = 5/2.
    n = 3
    econ = _economy([lambda s, i=i: s[i] + sum(s) / (4 * n) - Q - Q**3 for i in range(n)], n)
    report = check_assumptions(econ, seed=4)
    assert report.M == pytest.approx(1.25, rel=REL)
    assert report.C_q == pytest.approx(-1.0, rel=REL)
    assert report.q_range == pytest.approx((-2.5, 2.5), rel=REL)
    assert report.c_q == pytest.approx(-1 - 3 * 2.5**2, rel=REL)
    assert "2M/|C_q|" in report.q_bound_source


def test_q_range_is_at_least_one():
    # 2M/|C_q| = 2 * (1/10 + 1/10) / 2 = 1/5 < 1
    report = check_assumptions(_fundamental([R(1, 10)] * 3, [R(1, 10)] * 3, [R(2)] * 3), samples=200)
    assert report.q_range == (-1.0, 1.0)


def test_given_q_bound_is_used_and_validated():
    econ = _fundamental([R(1)] * 2, [R(1, 2)] * 2, [R(1)] * 2)
    assert check_assumptions(econ, samples=100, q_bound=7).q_range == (-7.0, 7.0)
    with pytest.raises(ValueError):
        check_assumptions(econ, samples=100, q_bound=0)


def test_a4_failure_is_caught_with_a_true_witness():
    # agent 2: u = (s_2 + s_bar/4) q - q^2/2 + q^3/3, so d mu_2/d q = 2q - 1 >= 0 for q >= 1/2
    n = 3
    s = signal_symbols(n)
    utilities = [(s[i] + sum(s) / (4 * n)) * Q - Q**2 / 2 + (Q**3 / 3 if i == 1 else 0) for i in range(n)]
    econ = Economy(utilities)
    record = check_assumptions(econ, seed=5).record("A4")
    assert not record.holds
    w = record.witness
    assert w.agent == 2
    assert _recheck(econ, w, Q) >= 0
    assert _recheck(econ, w, Q) == pytest.approx(w.value, rel=1e-9, abs=1e-12)
    with pytest.raises(AssumptionError) as info:
        require_assumptions(econ)
    err = info.value
    assert err.assumption == "A4" and err.agent == 2
    assert "agent 2" in str(err) and "\n" not in str(err)
    assert _recheck(econ, err.witness, Q) >= 0


def test_a2_failure_is_caught_with_a_true_witness():
    # agent 3: mu_3 = s_3 - 2 s_3^2 + ..., so d mu_3/d s_3 = 1 - 4 s_3 < 0 for s_3 > 1/4
    n = 3
    s = signal_symbols(n)
    own = [s[0], s[1], s[2] - 2 * s[2]**2]
    econ = Economy([(own[i] + sum(s) / (4 * n)) * Q - Q**2 / 2 for i in range(n)])
    report = check_assumptions(econ, seed=6)
    record = report.record("A2")
    assert not record.holds and record.witness.agent == 3
    assert _recheck(econ, record.witness, s[2]) <= 0
    # the most negative own effect: 1 - 4 + 1/12 at s_3 = 1
    assert report.c_s == pytest.approx(-3 + 1 / 12, rel=REL)
    assert report.record("A4").holds
    with pytest.raises(AssumptionError) as info:
        require_assumptions(econ)
    assert info.value.assumption == "A2" and info.value.agent == 3
    assert "agent 3" in str(info.value)
    assert _recheck(econ, info.value.witness, s[2]) <= 0


@pytest.mark.parametrize("weight", [R(2), R(1)])
def test_a3_fails_when_cross_effect_reaches_own_effect(weight):
    # mu_1 = s_1 + weight s_2 - q, mu_2 = s_2 + s_1/2 - q: phi_N = weight >= c_s = 1
    s1, s2 = signal_symbols(2)
    econ = Economy([(s1 + weight * s2) * Q - Q**2 / 2, (s2 + s1 / 2) * Q - Q**2 / 2])
    report = check_assumptions(econ, samples=300, seed=7)
    assert report.phi_N == pytest.approx(float(weight), rel=REL)
    assert report.c_s == pytest.approx(1.0, rel=REL)
    record = report.record("A3")
    assert not record.holds
    assert (record.witness.agent, record.witness.other) == (1, 2)
    assert abs(_recheck(econ, record.witness, s2)) >= report.c_s
    require_assumptions(econ)   # A2 and A4 hold: the pre-check passes


def test_a3_prime_fails_for_a_negative_cross_effect():
    s1, s2 = signal_symbols(2)
    econ = Economy([(s1 - s2 / 4) * Q - Q**2 / 2, (s2 + s1 / 4) * Q - Q**2 / 2])
    report = check_assumptions(econ, samples=300, seed=8)
    assert report.record("A3").holds            # |-1/4| < 1
    record = report.record("A3'")
    assert not record.holds
    assert (record.witness.agent, record.witness.other) == (1, 2)
    assert record.witness.value == pytest.approx(-0.25, rel=REL)
    assert report.c_phi == pytest.approx(-1.0, rel=REL)   # min cross / phi_N = (-1/4) / (1/4)


def test_non_finite_derivative_fails_with_its_point():
    # mu_i = sqrt(s_i) - q: d mu_i/d s_i = 1/(2 sqrt(s_i)) is infinite at s_i = 0
    s = signal_symbols(2)
    econ = Economy([sympy.sqrt(s[i]) * Q - Q**2 / 2 for i in range(2)])
    record = check_assumptions(econ, samples=200, seed=9).record("A2")
    assert not record.holds
    w = record.witness
    assert not math.isfinite(w.value)
    assert w.signals[w.agent - 1] == 0.0
    assert "not finite" in record.message


def test_report_serialises_and_reads_well():
    n = 3
    s = signal_symbols(n)
    econ = Economy([(s[i] + sum(s) / (4 * n)) * Q - Q**2 / 2 + (Q**3 / 3 if i == 1 else 0) for i in range(n)])
    report = check_assumptions(econ, samples=300, seed=10)
    data = json.loads(json.dumps(report.to_dict()))
    assert [a["name"] for a in data["assumptions"]] == ["A1", "A2", "A3", "A4", "A3'"]
    assert float(data["constants"]["C_q"]) == report.C_q        # repr round-trips exactly
    a4 = data["assumptions"][3]
    assert a4["holds"] is False and a4["witness"]["agent"] == 2
    assert data["holds"] is False and data["samples"] == report.samples
    text = report.to_text()
    for name in ("A1", "A2", "A3", "A4", "A3'", "c_q =", "C_q =", "phi_N =", "varphi_N ="):
        assert name in text
    assert "FAILS" in text and "agent 2" in text


def test_seeded_and_reproducible():
    econ = _fundamental([R(1)] * 4, [R(1, 2)] * 4, [R(1)] * 4)
    assert check_assumptions(econ, samples=300, seed=11) == check_assumptions(econ, samples=300, seed=11)


def test_require_passes_on_good_economy_and_is_fast():
    econ = _fundamental([R(1)] * 6, [R(1, 2)] * 6, [R(1)] * 6)
    require_assumptions(econ)                  # compiles and caches
    start = time.perf_counter()
    for _ in range(5):
        require_assumptions(econ)
    assert (time.perf_counter() - start) / 5 < 0.2


# ---- through templates (large economies): the cross derivatives without expanded utilities ------

_PICKY = """
name = "groups with a leader"
agents = 7
groups = { A = [1, 2, 3], B = [4, 5, 6, 7] }
[parameters]
a = [1, "6/5", "9/10", 1, "11/10", 1, "4/5"]
[utility]
A = "(a*s_i + mean(s_j**2, A)/3 - mean(s_j, B)/5 + s[4]/7)*q - q**2/2 - q**4/20"
B = "(a*s_i + mean(s_j, B)/4 - mean(s_j**2, A)/6)*q - q**2/2"
"""


def _structured_twin(economy):
    """The same economy held as templates only (utilities not expanded), as for N > 200."""
    return Economy(None, structure=economy.structure, name=economy.name)


@pytest.mark.parametrize("source", ["example2", "tanh", "groups3", "picky"])
def test_templates_give_the_expanded_constants(source):
    """A3 and A3' through templates (d mu_j/d s_i = sum_k d mu_j/d A_k d A_k/d s_i + picks) agree
    with sympy.diff of the expanded utilities at the same sampled points."""
    from symmech.model import load_model, parse_model

    economy = parse_model(_PICKY, source="picky") if source == "picky" else load_model(source)
    twin = _structured_twin(economy)
    assert economy.expanded and not twin.expanded
    a, b = check_assumptions(economy, samples=300, seed=3), check_assumptions(twin, samples=300, seed=3)
    assert not twin.expanded                                   # never expanded on the way
    for name in ("M", "c_s", "C_s", "c_q", "C_q", "phi_N", "min_cross"):
        assert getattr(b, name) == pytest.approx(getattr(a, name), rel=1e-12, abs=1e-14), name
    assert [r.holds for r in a.records] == [r.holds for r in b.records]


def test_templates_name_a_true_witness_when_a3_fails():
    """A leader whose signal moves every A agent more than their own: the witness pair's cross
    derivative, recomputed by sympy.diff at the witness point, is the value reported."""
    from symmech.model import parse_model

    economy = parse_model(_PICKY.replace("s[4]/7", "2*s[4]"), source="picky-strong")
    record = check_assumptions(_structured_twin(economy), samples=300, seed=4).record("A3")
    w = record.witness
    assert not record.holds and w.other == 4 and w.agent in (1, 2, 3)
    mu = sympy.diff(economy.utilities[w.agent - 1], Q)
    at = {Q: w.q, **dict(zip(economy.signals, w.signals))}
    assert float(sympy.diff(mu, economy.signals[w.other - 1]).subs(at)) == pytest.approx(w.value, rel=1e-12)
