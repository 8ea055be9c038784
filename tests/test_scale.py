"""Economies by template (symmech.structure): the same numbers as the expanded utilities, at scale.

Independent sides: the expanded utilities come from the model loader's per-agent builder (SymPy
expressions in s_1..s_N); their derivatives here are ``sympy.diff`` evaluated exactly at random
rational points. The templates are evaluated by both backends' structured evaluators. At scale, a
1000-agent file loads without expanding, and float64 at N = 300 is checked against the bench's
independent numpy loop (bench/baseline_numpy.py: nested Newton, 12-node Gauss-Legendre, no symmech).
"""

import dataclasses
import random
import sys
from fractions import Fraction as F
from pathlib import Path

import mpmath
import numpy as np
import pytest
import sympy

import symmech
from symmech import fast, numeric
from symmech._numbers import working_precision
from symmech.errors import AssumptionError, ModelError
from symmech.model import MAX_EXPANDED_AGENTS, Q, parse_model

ROOT = Path(__file__).resolve().parent.parent

MODELS = {
    # picks with an agent-dependent index, i, a list parameter, an aggregate of s_j**2, tanh in q
    "picks": 'agents = 5\n[parameters]\nw = [1, 2, 3, 4, 5]\n[utility]\n'
             'all = "(s_i + s[i % N + 1]/5 + w*mean(s_j**2)/10 + i/50)*q - q**2/2 - tanh(q)/4"\n',
    # groups, sum over a group, a constant pick, exp inside an aggregate, a slope that moves with s_i
    "groups": 'agents = 5\ngroups = { A = [1, 2], B = [3, 4, 5] }\n[utility]\n'
              'A = "(s_i + sum(s_j, B)/10 + s[1]/7)*q - q**2"\n'
              'B = "(s_i + mean(exp(s_j), A)/4)*q - (1 + s_i/5)*q**2/2 - q**4/40"\n',
}


def _economies():
    found = {name: symmech.load_model(name) for name in symmech.catalogue_names()}
    found.update({name: parse_model(text, source=name) for name, text in MODELS.items()})
    return found


ECONOMIES = _economies()


def _point(n, seed):
    rng = random.Random(seed)
    s = [F(rng.randint(0, 100), 100) for _ in range(n)]
    q = [F(rng.randint(-120, 120), 100) for _ in range(n)]
    return s, q


def _exact_derivatives(economy, s, q):
    """mu_j, d mu_j/dq, d mu_j/d s_i (matrix [j][i]) and u_j from the expanded utilities."""
    subs = dict(zip(economy.signals, map(sympy.Rational, s)))
    rows = []
    for j, u in enumerate(economy.utilities):
        at = {**subs, Q: sympy.Rational(q[j])}
        mu = sympy.diff(u, Q)
        rows.append((mu.subs(at), sympy.diff(mu, Q).subs(at),
                     [sympy.diff(mu, x).subs(at) for x in economy.signals], u.subs(at)))
    return rows


@pytest.mark.parametrize("name", sorted(ECONOMIES))
def test_every_catalogue_and_test_model_has_a_structure_that_expands_to_its_utilities(name):
    economy = ECONOMIES[name]
    assert economy.structure is not None
    for built, expanded in zip(economy.utilities, economy.structure.expand_all()):
        assert sympy.simplify(built - expanded) == 0


@pytest.mark.parametrize("name", sorted(ECONOMIES))
def test_structured_evaluation_matches_sympy_diff_of_expanded_utilities(name):
    economy = ECONOMIES[name]
    n = economy.n
    mp_eval = numeric._StructuredEvaluator(economy.structure)
    np_eval = fast._StructuredEvaluator(economy.structure)
    for seed in range(3):
        s, q = _point(n, seed)
        exact = _exact_derivatives(economy, s, q)
        with working_precision(30):
            sm, qm = [mpmath.mpf(x.numerator) / x.denominator for x in s], \
                     [mpmath.mpf(x.numerator) / x.denominator for x in q]
            mu, slope = mp_eval.foc(qm, sm)
            columns = [mp_eval.column(i, qm, sm) for i in range(n)]
            bar = mpmath.mpf(10) ** -28
            for j, (m, a, col, u) in enumerate(exact):
                assert abs(mu[j] - sympy.N(m, 40)) < bar * (1 + abs(sympy.N(m)))
                assert abs(slope[j] - sympy.N(a, 40)) < bar * (1 + abs(sympy.N(a)))
                assert abs(mp_eval.utility(j, qm[j], sm) - sympy.N(u, 40)) < bar * (1 + abs(sympy.N(u)))
                for i in range(n):
                    assert abs(columns[i][j] - sympy.N(col[i], 40)) < bar, (j, i)
        # float64: every agent's column at once, one profile per row (row i moves agent i)
        sf, qf = np.array([float(x) for x in s]), np.array([float(x) for x in q])
        block = np_eval.block(sf, np_eval.aggregates(sf), np.arange(n), sf.copy())
        grid = np.broadcast_to(qf, (n, n)).copy()
        mu64, slope64 = block.foc(grid)
        total, own, column = block.response(grid, np.ones((n, n)), full=True)
        u64 = np_eval.utility_pairs(np.arange(n), qf, sf, np_eval.aggregates(sf))
        for j, (m, a, col, u) in enumerate(exact):
            assert mu64[0, j] == pytest.approx(float(m), rel=1e-13, abs=1e-13)
            assert slope64[0, j] == pytest.approx(float(a), rel=1e-13, abs=1e-13)
            assert u64[j] == pytest.approx(float(u), rel=1e-13, abs=1e-13)
            for i in range(n):          # row i: d mu_j/d s_i
                assert column[i, j] == pytest.approx(float(col[i]), rel=1e-12, abs=1e-13)
        for i in range(n):
            assert own[i] == pytest.approx(float(exact[i][2][i]), rel=1e-12, abs=1e-13)
            assert total[i] == pytest.approx(sum(float(exact[j][2][i]) for j in range(n)), rel=1e-12, abs=1e-12)


def test_sample_derivatives_match_sympy():
    economy = ECONOMIES["groups"]
    rng = np.random.default_rng(3)
    profiles = np.round(rng.random((4, economy.n)), 2)
    qs = np.round(rng.uniform(-1, 1, 4), 2)
    slope, own = fast.sample_derivatives(economy, qs, profiles)
    for k in range(4):
        exact = _exact_derivatives(economy, [F(str(x)) for x in profiles[k]], [F(str(qs[k]))] * economy.n)
        for j, (_, a, col, _) in enumerate(exact):
            assert slope[k, j] == pytest.approx(float(a), rel=1e-13)
            assert own[k, j] == pytest.approx(float(col[j]), rel=1e-13)


def test_formulas_that_do_not_separate_have_no_structure_but_load():
    economy = parse_model('agents = 3\n[utility]\nall = "mean(s_j*s_i)*q + s_i*q - q**2/2"\n')
    assert economy.structure is None and economy.n == 3
    text = f'agents = {MAX_EXPANDED_AGENTS + 1}\n[utility]\nall = "mean(s_j*s_i)*q + s_i*q - q**2/2"\n'
    with pytest.raises(ModelError) as info:
        parse_model(text)
    assert "separate" in str(info.value) and "s_i" in str(info.value)


def test_a_structure_is_dropped_with_new_utilities():
    economy = ECONOMIES["example1"]
    other = dataclasses.replace(economy, utilities=tuple(u + Q for u in economy.utilities))
    assert other.structure is None
    same = dataclasses.replace(economy, name="renamed")
    assert same.structure is economy.structure


def _cubic_text(n, seed=11, extra=""):
    rng = np.random.default_rng(seed)
    row = lambda v: "[" + ", ".join(f"{x:.3f}" for x in v) + "]"  # noqa: E731
    return (f"agents = {n}\n[parameters]\na = {row(rng.uniform(0.5, 1.5, n))}\nb = 0.5\n"
            f"m = {row(rng.uniform(0.5, 1.5, n))}\nc = {row(rng.uniform(0, 0.5, n))}\n{extra}"
            '[utility]\nall = "(a*s_i + b*mean(s_j))*q - m/2*q**2 - c/4*q**4"\n')


def test_a_thousand_agent_file_loads_without_expanding():
    economy = parse_model(_cubic_text(1000), source="cubic1000")
    assert economy.n == 1000 and not economy.expanded
    template = economy.structure.templates[0]
    assert len(template.members) == 1000 and len(economy.structure.aggregates) == 1
    # one agent's utility by the template equals the formula written out by hand for it
    a = dict(template.parameters)
    values = {str(k): v for k, v in a.items()}
    s = economy.signals
    k = 417
    hand = ((sympy.Rational(values["a"][k - 1]) * s[k - 1] + sum(s) / 2000) * Q
            - sympy.Rational(values["m"][k - 1]) / 2 * Q**2 - sympy.Rational(values["c"][k - 1]) / 4 * Q**4)
    assert sympy.expand(economy.structure.expand(k) - hand) == 0
    assert not economy.expanded           # expanding one agent does not build the others


def test_agents_above_the_expanded_limit_still_get_every_per_agent_check():
    n = MAX_EXPANDED_AGENTS + 50
    d = ["2"] * n
    d[237] = "1"
    text = (f"agents = {n}\n[parameters]\nd = [{', '.join(d)}]\n"
            '[utility]\nall = "(s_i + log(d - 1))*q - q**2/2"\n')
    with pytest.raises(ModelError) as info:
        parse_model(text)
    assert "agent 238" in str(info.value)


def _baseline():
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        import baseline_numpy
    finally:
        sys.path.pop(0)
    return baseline_numpy


def test_float64_at_300_agents_holds_its_checks_and_matches_an_independent_loop(tmp_path):
    baseline = _baseline()
    n = 300
    path = tmp_path / "cubic300.toml"
    path.write_text(baseline.model_text(n))
    signals = baseline.profile(n)
    economy = symmech.load_model(path)
    assert not economy.expanded
    out = symmech.solve(economy, signals, baseline.SIGMA, backend="float64")
    checks = out.checks
    assert checks.market_clearing.holds and checks.individual_rationality.holds
    assert checks.incentive_compatibility.holds, checks.incentive_compatibility
    assert out.solver.method.startswith("float64")
    theirs = baseline.run(path, signals)
    ours = np.array([float(t) for t in out.transfers])
    assert np.max(np.abs(ours - theirs)) < 1e-9 * (1 + np.max(np.abs(theirs)))
    # the surplus is the sum of the transfers, and utilities are u_i(q_i) - t_i by the templates
    assert float(out.budget_surplus) == pytest.approx(float(np.sum(ours)), abs=1e-12)


def test_the_scale_pre_check_finds_a_broken_assumption_without_expanding():
    n = MAX_EXPANDED_AGENTS + 20
    text = f'agents = {n}\n[utility]\nall = "(s_i + mean(s_j)/2)*q + q**3/3 - q**2/2"\n'   # d mu/dq = 2q - 1
    economy = parse_model(text)
    with pytest.raises(AssumptionError) as info:
        symmech.solve(economy, ["0.5"] * n, "0.1", backend="float64")
    error = info.value
    assert error.assumption == "A4" and not economy.expanded
    assert 2 * error.witness.q - 1 >= 0          # the witness breaks A4 (derived by hand)
