"""Certified results (arb balls) against closed forms, sampling, exact solutions and the solver.

For a quadratic economy mu_i = c_i + a_i s_i + sum_j w_ij s_j - m_i q every constant is read off
the coefficients by hand (derivatives are the coefficients; M sits at a corner of the cube), the
price solves a linear system (SymPy ``linsolve`` here), and the budget surplus is compared with
``symmech.solve``'s quadrature. For the tanh economy of the catalogue the constants follow from
its formula (see its comment) and must agree with sampling. Wrong claims must be rejected and
witnesses re-checked exactly with SymPy.
"""

import doctest
import json
import time
from fractions import Fraction as F

import mpmath
import pytest
import sympy
from sympy import Rational as R

import symmech
from symmech import certify
from symmech.certify import (FAILS, HOLDS, UNDECIDED, Enclosure, arb_precision, certify_assumptions,
                             certify_budget_sign, certify_price, enclose, enclose_extremum,
                             interval_function)
from symmech.errors import ModelError, SymmechError
from symmech.model import Economy, Q, signal_symbols


def _quadratic(c, a, w, m, name="quadratic"):
    """mu_i = c_i + a_i s_i + sum_{j != i} w[i][j] s_j - m_i q, as utilities u_i = int_0^q mu_i."""
    n = len(a)
    s = signal_symbols(n)
    us = []
    for i in range(n):
        value = c[i] + a[i] * s[i] + sum(w[i][j] * s[j] for j in range(n) if j != i)
        us.append(value * Q - m[i] * Q**2 / 2)
    return Economy(us, name=name)


def _example1(alpha, beta, mu, n):
    """Example 1 written from the paper's model: u_i = (alpha s_i + beta sbar) q - mu/2 q^2."""
    s = signal_symbols(n)
    sbar = sum(s) / n
    return Economy([(alpha * s[i] + beta * sbar) * Q - mu / 2 * Q**2 for i in range(n)], name="example 1")


def _tight(enclosure, value, width=F(1, 10**9)):
    return enclosure.contains(value) and enclosure.width <= width


# ---- the evaluator -----------------------------------------------------------------------------

def test_walker_encloses_sympy_values_at_points_of_the_box():
    x, y = sympy.symbols("x y", real=True)
    exprs = [sympy.tanh(3 * x) * y - sympy.Rational(7, 3) * x**3, sympy.exp(x - y) / (1 + y**2),
             sympy.sqrt(x + 2) * sympy.atan(y) - sympy.log(1 + x**2), sympy.cosh(x) - sympy.sinh(y) * sympy.pi,
             sympy.sin(x) * sympy.cos(y) + sympy.Abs(x - y) + sympy.E * y**sympy.Rational(2, 3) + y**-2]
    box = {x: (F(-1, 2), F(3, 4)), y: (F(1, 3), F(2))}
    points = [(F(-1, 2), F(1, 3)), (F(1, 10), F(3, 2)), (F(3, 4), F(2)), (F(0), F(1))]
    for expr in exprs:
        whole = enclose(expr, box)
        fn = interval_function(expr, (x, y), prec=128)
        for px, py in points:
            exact = expr.subs({x: sympy.Rational(px.numerator, px.denominator),
                               y: sympy.Rational(py.numerator, py.denominator)}).evalf(60)
            exact_fraction = F(str(sympy.Float(exact, 60)))
            assert whole.lower <= exact_fraction <= whole.upper, (expr, px, py)
            with arb_precision(128):
                ball = fn([certify._point(px), certify._point(py)])
            assert Enclosure.of_ball(ball).width < F(1, 10**30)
            assert abs(Enclosure.of_ball(ball).lower - exact_fraction) < F(1, 10**35)   # 128 bits


def test_walker_is_sharp_on_even_powers_and_roots():
    x = sympy.Symbol("x", real=True)
    square = enclose(x**2, {x: (-1, 2)})
    assert square.lower == 0 and 4 <= square.upper < 4 + F(1, 10**6)   # x*x would give [-2, 4]
    cube = enclose(x**3, {x: (-1, 2)})
    assert -1 - F(1, 10**6) < cube.lower <= -1 and 8 <= cube.upper < 8 + F(1, 10**6)
    root = enclose(x**sympy.Rational(1, 3), {x: (0, F(1, 8))})
    assert root.lower == 0 and F(1, 2) <= root.upper < F(1, 2) + F(1, 10**6)
    assert enclose(sympy.sqrt(x), {x: (0, 1)}).lower == 0            # the box edge at 0 is kept


def test_walker_refuses_what_it_cannot_enclose():
    x, y = sympy.symbols("x y", real=True)
    for expr in (sympy.gamma(x), x**y, sympy.Max(x, y), sympy.Float("0.1") * x, sympy.erf(x)):
        with pytest.raises(SymmechError, match="cannot enclose"):
            interval_function(expr, (x, y))
    with pytest.raises(SymmechError, match="not one of the variables"):
        interval_function(x + y, (x,))


def test_extremum_encloses_a_known_minimum():
    x, y = sympy.symbols("x y", real=True)
    expr = (x - sympy.Rational(1, 3))**2 + sympy.cosh(y - sympy.Rational(1, 5))
    found = enclose_extremum(expr, {x: (0, 1), y: (-1, 1)}, "min")
    assert _tight(found.bound, 1, F(1, 10**9)) and found.settled      # min at (1/3, 1/5) is 1
    found = enclose_extremum(expr, {x: (0, 1), y: (-1, 1)}, "max")
    top = F(4, 9) + F(str(sympy.cosh(R(6, 5)).evalf(40)))               # at (1, -1)
    assert abs(found.bound.lower - top) < F(1, 10**9) and found.bound.upper >= top - F(1, 10**30)
    # the point proving the inner end lies in the box and its value encloses SymPy's there
    px, py = found.point
    assert 0 <= px <= 1 and -1 <= py <= 1
    there = F(str(expr.subs({x: R(px.numerator, px.denominator), y: R(py.numerator, py.denominator)}).evalf(40)))
    assert abs(there - found.value.lower) < F(1, 10**15) and found.value.lower <= found.bound.upper + F(1, 10**15)


def test_monotone_variables_are_fixed_so_linear_searches_are_exact():
    """A linear function in 30 variables: every partial derivative has a proven sign, so the
    search ends on one vertex with no bisection at all."""
    xs = sympy.symbols("x0:30", real=True)
    expr = sum((k - 10) * x / 7 for k, x in enumerate(xs))
    found = enclose_extremum(expr, {x: (0, 1) for x in xs}, "max")
    top = F(sum(k - 10 for k in range(11, 30)), 7)
    assert _tight(found.bound, top, F(1, 10**15)) and found.boxes == 1
    # x10 has weight 0 and does not matter; every other coordinate sits at the right end
    assert all(found.point[k] == int(k > 10) for k in range(30) if k != 10)


# ---- assumption constants ----------------------------------------------------------------------

def test_example_1_constants_lie_in_tight_certified_intervals():
    alpha, beta, mu, n = R(1), R(1, 2), R(3, 2), 4
    report = certify_assumptions(_example1(alpha, beta, mu, n))
    own, cross = F(1) + F(1, 2) / n, F(1, 2) / n                        # alpha + beta/N, beta/N
    assert _tight(report.c_s, own) and _tight(report.C_s, own)
    assert _tight(report.phi_N, cross) and _tight(report.min_cross, cross)
    assert _tight(report.varphi_N, cross + F(1, n))
    assert _tight(report.c_q, F(-3, 2)) and _tight(report.C_q, F(-3, 2))
    assert _tight(report.M, F(3, 2))                                    # alpha + beta at s = 1
    assert _tight(report.c_phi, 1, F(1, 10**6))
    assert [r.status for r in report.records] == [HOLDS] * 5 and report.holds
    # 2M/|C_q| = 2 (alpha + beta)/mu = 2: the range covers it
    assert report.q_range[1] >= 2


def test_many_agents_certify_quickly():
    n = 30
    start = time.perf_counter()
    report = certify_assumptions(_example1(R(1), R(1, 2), R(1), n))
    assert time.perf_counter() - start < 10
    assert _tight(report.c_s, 1 + F(1, 2 * n)) and _tight(report.phi_N, F(1, 2 * n)) and report.holds
    assert report.searches <= 12          # agents share searches: mu_i(0, s) is one up to renaming


def test_heterogeneous_constants_with_a_negative_intercept():
    c = [F(0), F(1, 10), F(-3), F(1, 2)]
    a = [F(1), F(3, 2), F(1, 2), F(5, 4)]
    m = [F(1), F(1, 2), F(2), F(3, 4)]
    w = [[F(1 + i + 2 * j, 60) for j in range(4)] for i in range(4)]
    report = certify_assumptions(_quadratic(c, a, w, m), q_bound="5/2")
    assert report.q_range == (F(-5, 2), F(5, 2))
    # |mu_i(0, s)| is largest at s = 0 or s = 1 (all weights are >= 0): agent 3 gives |-3| = 3
    at_one = [c[i] + a[i] + sum(w[i][j] for j in range(4) if j != i) for i in range(4)]
    big_m = max(max(abs(c[i]), abs(at_one[i])) for i in range(4))
    assert big_m == 3 and _tight(report.M, big_m)
    assert _tight(report.c_s, min(a)) and _tight(report.C_s, max(a))
    off = [w[i][j] for i in range(4) for j in range(4) if i != j]
    assert _tight(report.phi_N, max(off)) and _tight(report.min_cross, min(off))
    assert _tight(report.c_q, -max(m)) and _tight(report.C_q, -min(m))
    assert report.holds


def test_tanh_sampled_constants_lie_inside_the_certified_intervals():
    economy = symmech.load_model("tanh")
    report = certify_assumptions(economy)
    bound = report.q_range[1]
    sampled = symmech.check_assumptions(economy, q_bound=float(bound))
    slack = 1e-12                                       # float64 rounding of the sampled values
    for name, side in [("M", "max"), ("c_s", "min"), ("C_s", "max"), ("phi_N", "max"),
                       ("c_q", "min"), ("C_q", "max"), ("min_cross", "min")]:
        enclosure, value = getattr(report, name), getattr(sampled, name)
        # a sampled extremum is attained at a point of the box: never beyond the true one
        if side == "max":
            assert value <= float(enclosure.upper) + slack, name
        else:
            assert value >= float(enclosure.lower) - slack, name
        assert enclosure.lower - F(1, 10**6) <= F(repr(value)) <= enclosure.upper + F(1, 10**6), name
    # closed forms from the formula: d mu_i/d s_i = a_i + s_i/10, d mu_i/d s_j = s_j/10,
    # d mu_i/d q = -m_i - c_i/cosh(q)^2, mu_i(0, s) = a_i s_i + mean(s^2)/4
    assert _tight(report.c_s, F(9, 10)) and _tight(report.C_s, F(13, 10))
    assert _tight(report.phi_N, F(1, 10)) and _tight(report.c_q, F(-17, 10)) and _tight(report.M, F(29, 20))
    with mpmath.workdps(40):
        top = -1 - mpmath.mpf(1) / 10 / mpmath.cosh(mpmath.mpf(bound.numerator) / bound.denominator) ** 2
        assert report.C_q.contains(top) and report.C_q.width < F(1, 10**9)
    # 2M/|C_q| fits in the range, with M and C_q certified over it
    assert 2 * report.M.upper / -report.C_q.upper <= bound
    assert report.holds
    a3p = report.record("A3'")
    assert a3p.status == FAILS and a3p.witness.signals[a3p.witness.other - 1] == 0


def test_a_wrong_bound_is_rejected():
    report = certify_assumptions(_example1(R(1), R(1, 2), R(1), 3))
    assert report.C_q.contains(-1)
    assert not report.C_q.contains("-1.1") and not report.C_q.contains("-0.9")
    assert not report.c_s.contains(F(7, 6) + F(1, 10**6))     # c_s = 1 + 1/6 exactly
    tanh = certify_assumptions("tanh", q_bound=1)
    assert not tanh.c_s.contains("0.95") and tanh.c_s.contains("0.9")


def test_an_economy_breaking_a4_fails_at_a_witness_sympy_confirms():
    s1, s2 = signal_symbols(2)
    # mu_i = s_i + (s_1 + s_2)/4 - q + q^2: d mu_i/d q = 2q - 1 >= 0 once q >= 1/2
    us = [(sk + (s1 + s2) / 4) * Q - Q**2 / 2 + Q**3 / 3 for sk in (s1, s2)]
    economy = Economy(us, name="A4 broken")
    for report in (certify_assumptions(economy, q_bound=2), certify_assumptions(economy)):
        a4 = report.record("A4")
        assert a4.status == FAILS and not report.holds
        w = a4.witness
        mu = sympy.diff(us[w.agent - 1], Q)
        point = {Q: R(w.q.numerator, w.q.denominator),
                 **{sk: R(x.numerator, x.denominator) for sk, x in zip((s1, s2), w.signals)}}
        exact = sympy.diff(mu, Q).subs(point)
        assert exact.is_Rational and exact >= 0
        assert w.value.contains(F(int(exact.p), int(exact.q)))
        assert "A4 fails for agent" in a4.message


def test_an_economy_breaking_a2_fails_and_a_singular_one_is_undecided():
    s1, s2 = signal_symbols(2)
    # mu_i = (s_i - 1/2)^2 + s_j/10 - q: own slope 2 s_i - 1 < 0 for s_i < 1/2
    us = [((s1 - R(1, 2))**2 + s2 / 10) * Q - Q**2 / 2, ((s2 - R(1, 2))**2 + s1 / 10) * Q - Q**2 / 2]
    a2 = certify_assumptions(Economy(us), q_bound=1).record("A2")
    assert a2.status == FAILS
    w = a2.witness
    slope = sympy.diff(us[w.agent - 1], Q, signal_symbols(2)[w.agent - 1])
    assert slope.subs({sk: R(x.numerator, x.denominator) for sk, x in zip((s1, s2), w.signals)}) <= 0
    # mu_i = log(s_i + 1/1000) ... would be fine; log(s_i) is not bounded near s_i = 0
    us = [(sympy.log(s1) + s2 / 10) * Q - Q**2 / 2, (sympy.log(s2) + s1 / 10) * Q - Q**2 / 2]
    report = certify_assumptions(Economy(us), q_bound=1, budget=200)
    assert report.record("A1").status == UNDECIDED and report.M.upper == float("inf")
    assert report.record("A2").status == UNDECIDED and "c_s" in report.record("A2").message


def test_an_economy_breaking_a3_fails_with_both_points_proven():
    s1, s2 = signal_symbols(2)
    # agent 1 cares about s_2 ten times more than about its own signal: phi_N = 1 > c_s = 1/10
    us = [(s1 / 10 + s2) * Q - Q**2 / 2, (s2 + s1 / 10) * Q - Q**2 / 2]
    report = certify_assumptions(Economy(us), q_bound=1)
    a3 = report.record("A3")
    assert a3.status == FAILS and report.record("A2").status == HOLDS
    assert _tight(report.phi_N, 1) and _tight(report.c_s, F(1, 10))
    w = a3.witness
    cross = sympy.diff(us[w.agent - 1], Q, signal_symbols(2)[w.other - 1])
    assert (w.agent, w.other) == (1, 2) and abs(cross) >= report.c_s.upper
    assert "A3 fails for agent 1" in a3.message and "d mu_1/d s_1" in a3.message


def test_catalogue_statuses_and_records_serialise():
    expected = {"example1": [HOLDS] * 5, "example2": [HOLDS] * 5, "heterogeneous": [HOLDS] * 5,
                "groups3": [HOLDS] * 5, "tanh": [HOLDS] * 4 + [FAILS]}
    for name, statuses in expected.items():
        report = certify_assumptions(name)
        assert [r.status for r in report.records] == statuses, name
        data = json.loads(json.dumps(report.to_dict()))
        assert [a["status"] for a in data["assumptions"]] == statuses
        assert "holds for certain" in report.to_text()


# ---- the price ----------------------------------------------------------------------------------

def _exact_equilibrium(economy, signals, sigma):
    """The sigma-WE by SymPy's linsolve: mu_i(q_i, s) = p + sigma q_i, sum q_i = 0."""
    n = economy.n
    qs = sympy.symbols(f"x1:{n + 1}")
    p = sympy.Symbol("p")
    point = {sk: R(x) for sk, x in zip(economy.signals, signals)}
    equations = [mu.subs(point).subs(Q, x) - p - R(sigma) * x
                 for mu, x in zip(economy.marginal_utilities, qs)] + [sum(qs)]
    (solution,) = sympy.linsolve(equations, [p, *qs])
    return [F(int(v.p), int(v.q)) for v in solution]


def test_certified_price_contains_the_exact_price_of_a_quadratic_economy():
    economy = symmech.load_model("heterogeneous")
    for signals, sigma in [(["0.1", "0.9", "0.3", "0.4", "0.75"], "0.05"), (["0", "1", "1", "0", "0.5"], "0")]:
        price, *allocation = _exact_equilibrium(economy, signals, sigma)
        cert = certify_price(economy, signals, sigma, delta="1e-25")
        assert cert.status == HOLDS and cert.contains(price)
        assert cert.upper - cert.lower == 2 * F(1, 10**25)
        assert all(e.contains(q) for e, q in zip(cert.allocation, allocation))
        # a price off by more than delta is outside
        assert not cert.contains(price + F(3, 10**25))
    assert json.loads(json.dumps(cert.to_dict()))["status"] == HOLDS


def test_certified_price_contains_the_solvers_price_for_tanh():
    signals, sigma = ["0.1", "0.2", "0.3", "0.4", "0.5"], "0.1"
    cert = certify_price("tanh", signals, sigma, delta="1e-20")
    outcome = symmech.solve("tanh", signals, sigma, dps=40)     # correct to 35 digits
    assert cert.status == HOLDS and cert.contains(outcome.price)
    assert all(e.contains(q) for e, q in zip(cert.allocation, outcome.allocation))


def test_price_inputs_are_checked():
    with pytest.raises(ModelError) as info:
        certify_price("example1", ["0.1", "2"], "-1")
    assert len(info.value.problems) == 3
    with pytest.raises(ModelError):
        certify_price("example1", ["0.5"] * 6, 0, delta=0)


# ---- the budget surplus -------------------------------------------------------------------------

def test_exact_budget_sign_matches_the_solver():
    # agent 1's intercept 1 makes it buy at every report (r_b = 0); agent 3's -1 sells (r_b = 1)
    c, a, m = [F(1), F(0), F(-1)], [F(1), F(3, 2), F(1)], [F(1), F(1, 2), F(2)]
    w = [[F(1, 10), F(1, 10), F(1, 20)], [F(1, 5), F(1, 5), F(1, 10)], [F(1, 8), F(1, 8), F(1, 8)]]
    cases = [(_quadratic(c, a, w, m, "boundary types"), ["0.2", "0.5", "0.9"], "0.1"),
             (_quadratic(c, a, w, m, "boundary types"), ["0.7", "0.1", "0.4"], "0"),
             (_quadratic(c, a, w, m, "boundary types"), ["0.7", "0.1", "0.4"], "3"),
             (_example1(R(1), R(1, 2), R(1), 3), ["0.1", "0.5", "0.8"], "0"),
             (_example1(R(1), R(1, 2), R(1), 3), ["0.3", "0.35", "0.9"], "5")]
    signs = set()
    for economy, signals, sigma in cases:
        cert = certify_budget_sign(economy, signals, sigma)
        outcome = symmech.solve(economy, signals, sigma, dps=30)
        assert cert.sign == mpmath.sign(outcome.budget_surplus), (signals, sigma)
        assert abs(cert.value - F(mpmath.nstr(outcome.budget_surplus, 30))) < F(1, 10**20)
        assert cert.status == (HOLDS if cert.value >= 0 else FAILS)
        # boundary types against the solver's pivots (found there by root finding)
        assert all(abs(r - F(mpmath.nstr(x, 30))) < F(1, 10**20) for r, x in zip(cert.boundary_types, outcome.pivots))
        signs.add(cert.sign)
    assert signs == {-1, 1}
    assert certify_budget_sign(*cases[0]).boundary_types[::2] == (0, 1)    # the always-buyer and -seller


def test_budget_sign_is_undecided_beyond_quadratic_economies():
    cert = certify_budget_sign("tanh", ["0.1", "0.2", "0.3", "0.4", "0.5"], "0.1")
    assert cert.status == UNDECIDED and cert.sign is None and "not quadratic" in cert.message
    assert json.loads(json.dumps(cert.to_dict()))["sign"] is None


# ---- speed and docs --------------------------------------------------------------------------

def test_arb_is_faster_than_mpmath_iv_on_one_derivative(capsys):
    """One derivative (d mu_4/d q of the tanh economy) over 1000 boxes of q in [-3, 3].
    Measured here (best of 5): arb 2.5-4 ms, mpmath.iv 60-70 ms, about 17-25x (the issue says
    12-24x); arb's sign-keeping sums and products are included."""
    from mpmath import iv
    dq = sympy.diff(symmech.load_model("tanh").marginal_utilities[3], Q)
    edges = [F(-3) + F(6 * k, 1000) for k in range(1001)]
    fast = interval_function(dq, (Q,))
    slow = interval_function(dq, (Q,), backend="mpmath.iv")
    def best_of(fn, inputs, repeats=5):
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            for x in inputs:
                fn([x])
            times.append(time.perf_counter() - start)
        return min(times)

    with arb_precision(53):
        balls = [certify._interval(lo, hi) for lo, hi in zip(edges, edges[1:])]
        arb_time = best_of(fast, balls)
    # iv's own string parsing rounds each end outward
    boxes = [iv.mpf([f"{lo.numerator}/{lo.denominator}", f"{hi.numerator}/{hi.denominator}"])
             for lo, hi in zip(edges, edges[1:])]
    iv_time = best_of(slow, boxes)
    with capsys.disabled():
        print(f"\n1000 boxes: arb {arb_time * 1e3:.1f} ms, mpmath.iv {iv_time * 1e3:.1f} ms, "
              f"ratio {iv_time / arb_time:.1f}x")
    assert iv_time > 2 * arb_time


def test_docstring_examples_run():
    failures, _ = doctest.testmod(certify, optionflags=doctest.ELLIPSIS)
    assert failures == 0
