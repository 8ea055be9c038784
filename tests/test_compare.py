"""Cross-checks of symmech.compare: closed forms vs the numeric solver, Lemma 2's formula vs a
numeric derivative, Lemma 2's bounds; and that each catches a deliberate error."""

from fractions import Fraction
import random

import mpmath
import pytest

import symmech
from symmech.compare import lemma2_bounds, lemma2_constants, lemma2_vs_numeric, symbolic_vs_numeric
from symmech.numeric import Market

PROFILE6 = ["0.1", "0.9", "0.3", "0.7", "0.5", "0.2"]
# heterogeneous is left out: its derivation alone takes seconds (tests/test_symbolic.py covers it)
QUADRATIC = [name for name in symmech.catalogue_names()
             if symmech.is_quadratic(symmech.load_model(name)) and name != "heterogeneous"]


def _profile(economy, seed):
    rng = random.Random(seed)
    return [Fraction(rng.randrange(1, 1000), 1000) for _ in range(economy.n)]


@pytest.mark.parametrize("name", QUADRATIC)
def test_closed_forms_agree_with_numeric_solve(name):
    economy = symmech.load_model(name)
    derivation = symmech.derive(economy)           # once: SymPy is the slow side
    for dps in (15, 30) if name == "example2" else (15,):
        check = symbolic_vs_numeric(economy, _profile(economy, 1), "1", dps=dps, derivation=derivation)
        assert check.minimum >= dps - 5, check.to_text()
        assert {"price", "allocation[1]", "transfers[1]"} <= set(check.digits)


def test_closed_forms_of_another_economy_are_caught(tmp_path):
    # the same model as example1 with beta = 0.6 instead of 0.5: the price formula differs
    text = symmech.load_model("example1")
    path = tmp_path / "other.toml"
    path.write_text('agents = 6\n[parameters]\nalpha = 1\nbeta = "0.6"\nmu = 1\n'
                    '[utility]\nall = "(alpha*s_i + beta*mean(s_j))*q - mu/2*q**2"\n')
    wrong = symmech.derive(str(path))
    check = symbolic_vs_numeric(text, PROFILE6, "1", dps=20, derivation=wrong)
    assert check.minimum <= 2


@pytest.mark.parametrize("name", ["tanh", "example2", "heterogeneous"])
def test_lemma2_formula_agrees_with_numeric_derivative(name):
    economy = symmech.load_model(name)
    for dps in (15, 30):
        check = lemma2_vs_numeric(economy, _profile(economy, 2), "0.3", dps=dps, agents=[1, 2])
        assert check.minimum >= dps - 5, check.to_text()


def test_a_wrong_lemma2_weight_is_caught(monkeypatch):
    # weights (sigma + d mu/dq)^-1 instead of (sigma - d mu/dq)^-1: a sign slip in the formula
    def wrong(self, eq, i, s, sigma):
        column = self._evaluator.column(i, list(eq.allocation), s)
        weights = [1 / (sigma + a) for a in eq.slopes]
        dp = mpmath.fsum(w * c for w, c in zip(weights, column)) / mpmath.fsum(weights)
        return dp, [w * (c - dp) for w, c in zip(weights, column)]

    monkeypatch.setattr(Market, "own_report_response", wrong)
    check = lemma2_vs_numeric("tanh", ["0.1", "0.8", "0.4", "0.6", "0.3"], "0.3", dps=20, agents=[1])
    assert check.minimum <= 3


def test_lemma2_constants_bound_every_weighted_average():
    # independent of any economy: draw slopes and marginal effects inside the assumption box
    rng = random.Random(7)
    for _ in range(200):
        n = rng.randrange(2, 8)
        c = {"c_s": mpmath.mpf(rng.uniform(0.5, 1)), "phi_N": mpmath.mpf(rng.uniform(0, 0.4)),
             "c_q": mpmath.mpf(-rng.uniform(1.5, 3)), "C_q": mpmath.mpf(-rng.uniform(0.2, 1.4))}
        c["C_s"] = c["c_s"] + rng.uniform(0, 1)
        c["min_cross"] = -c["phi_N"] * rng.choice([0, rng.random(), 1]) if rng.random() < .5 else c["phi_N"] * rng.random()
        sigma = mpmath.mpf(rng.uniform(0, 2))
        lower, upper = lemma2_constants(c, n, sigma)
        for _ in range(20):
            slopes = [rng.uniform(float(c["c_q"]), float(c["C_q"])) for _ in range(n)]
            m = [rng.uniform(float(c["c_s"]), float(c["C_s"]))]
            m += [rng.uniform(float(c["min_cross"]), float(c["phi_N"])) for _ in range(n - 1)]
            w = [1 / (sigma - a) for a in slopes]
            dp = sum(x * y for x, y in zip(w, m)) / sum(w)
            assert lower - 1e-12 <= dp <= upper + 1e-12
        # the sigma-free constant of the derivation: upper <= (c_q/C_q) max(C_s, 1) varphi_N
        assert upper <= c["c_q"] / c["C_q"] * max(c["C_s"], 1) * (c["phi_N"] + mpmath.mpf(1) / n) * (1 + 1e-12)


@pytest.mark.parametrize("name", ["example1", "example2", "tanh"])
def test_lemma2_bounds_hold_on_catalogue(name):
    economy = symmech.load_model(name)
    profiles = [_profile(economy, k) for k in range(4)]
    bounds = lemma2_bounds(economy, "0.5", profiles, dps=15)
    assert bounds.holds and bounds.lower <= bounds.observed[0] <= bounds.observed[1] <= bounds.upper * (1 + 1e-12)
    assert bounds.c_ps * bounds.varphi_N == pytest.approx(float(bounds.lower))


def test_a_too_small_upper_constant_is_caught():
    economy = symmech.load_model("tanh")
    report = symmech.check_assumptions(economy)
    constants = {k: getattr(report, k) for k in ("c_s", "C_s", "phi_N", "c_q", "C_q", "min_cross")}
    constants["C_s"] = constants["c_s"] / 2          # deliberately wrong: C_s below c_s
    constants["phi_N"] = 0
    bounds = lemma2_bounds(economy, "0.5", [_profile(economy, 0)], dps=15, constants=constants)
    assert not bounds.holds


def test_lemma2_own_response_is_positive():
    bounds = lemma2_bounds("tanh", "0", [["0.1", "0.8", "0.4", "0.6", "0.3"]], dps=15)
    assert bounds.min_dq_ds > 0
