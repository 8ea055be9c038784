"""The precision self-check: ``agreement_digits``, ``precision_check`` and ``--verify-precision``.

``agreement_digits`` is checked on pairs whose agreement is known by construction (b = a (1 + 3
10**-k) agrees with a to k - 1 digits). ``precision_check`` must pass on catalogue economies at
dps 15, 30 and 60 and flag an outcome into which the test writes a wrong number; for linear
catalogue economies the price is also compared with its exact value, derived here (all
d mu_i/dq = -1, so summing eq. 1 over agents gives p = mean_i mu_i(0, s)).
"""

import dataclasses
import json

import mpmath
import pytest
import sympy
from hypothesis import given, settings, strategies as st

import symmech
import symmech.verify
from symmech import ModelError, Q
from symmech.cli import main
from symmech.compare import PrecisionCheck, agreement_digits, compare_outcomes, precision_check
from symmech.model import parse_model

LINEAR3 = """\
name = "linear three"
agents = 3

[utility]
all = "(s_i + mean(s_j)/2)*q - q**2/2"
"""
# u_i = (s_i + m/2) q - q^2/2 with m the mean signal: q_i = (s_i - m)/(1 + sigma), so agent 2 of the
# profile below (s_2 = m = 1/2) does not trade: q_2 = 0 exactly, a quantity that is zero to rounding.
PROFILE3 = ("0.2", "0.5", "0.8")


def mpf(text, dps=80):
    with mpmath.workdps(dps):
        return mpmath.mpf(text)


# ---- agreement_digits --------------------------------------------------------------------------------

@pytest.mark.parametrize("k", [1, 2, 5, 10, 17, 30, 45, 70])
def test_agreement_of_a_known_relative_difference(k):
    with mpmath.workdps(100):
        a = mpmath.mpf(7) / 3
        b = a * (1 + 3 * mpmath.mpf(10) ** -k)       # relative difference 3e-k: k - 1 digits
        assert agreement_digits(a, b, cap=200) == k - 1
        assert agreement_digits(b, a, cap=200) == k - 1
        assert agreement_digits(-a, -b, cap=200) == k - 1


def test_agreement_does_not_depend_on_the_working_precision():
    with mpmath.workdps(60):
        a = mpmath.mpf(1) / 7
        b = a + mpmath.mpf(10) ** -40
    answers = set()
    for dps in (5, 15, 60, 200):
        with mpmath.workdps(dps):
            answers.add(agreement_digits(a, b, cap=100))
    assert answers == {39}          # |a - b| / a = 7e-40: 39 digits


def test_exact_zero_equal_and_unrelated_numbers():
    third = mpf(1) / 3
    assert agreement_digits(mpmath.mpf(0), mpmath.mpf(0), cap=30) == 30
    assert agreement_digits(third, third, cap=30) == 30
    assert agreement_digits(mpmath.mpf(0), third, cap=30) == 0
    assert agreement_digits(third, mpmath.mpf(0), cap=30) == 0
    assert agreement_digits(third, -third, cap=30) == 0
    assert agreement_digits(mpmath.mpf(1), mpmath.mpf(10) ** 50, cap=30) == 0
    assert agreement_digits(mpmath.mpf(1), mpmath.mpf(2), cap=30) == 0
    for bad in (mpmath.nan, mpmath.inf, -mpmath.inf):
        assert agreement_digits(bad, bad, cap=30) == 0
        assert agreement_digits(third, bad, cap=30) == 0
    assert agreement_digits(3, 3, cap=12) == 12                # ints are accepted


def test_cap_defaults_to_the_working_precision():
    with mpmath.workdps(25):
        assert agreement_digits(mpmath.mpf(2), mpmath.mpf(2)) == 25
    assert agreement_digits(mpf(1), 1 + mpf(10) ** -60, cap=20) == 20


def test_floats_are_refused():
    with pytest.raises(TypeError):
        agreement_digits(0.1, mpmath.mpf("0.1"))


@settings(derandomize=True, max_examples=60, deadline=None, database=None)
@given(st.integers(1, 10**30), st.integers(-300, 300), st.integers(1, 60), st.integers(1, 9))
def test_agreement_is_scale_free_and_matches_the_perturbation(mantissa, power, k, factor):
    """b = a (1 + f 10**-k), f in 1..9: k - 1 or k digits; scaling both by 2**power changes nothing."""
    with mpmath.workdps(120):
        a = mpmath.mpf(mantissa) * mpmath.mpf(10) ** (power // 10)
        b = a * (1 + factor * mpmath.mpf(10) ** -k)
        digits = agreement_digits(a, b, cap=500)
        assert digits in (k - 1, k)
        assert agreement_digits(mpmath.ldexp(a, power), mpmath.ldexp(b, power), cap=500) == digits


# ---- precision_check on the catalogue ---------------------------------------------------------------

def exact_linear_price(economy, signals):
    """p = mean_i mu_i(0, s) when every d mu_i/dq is -1 (sum eq. 1 over i; sum q_i = 0)."""
    subs = {s: sympy.Rational(str(x)) for s, x in zip(economy.signals, signals)}
    assert all(sympy.diff(mu, Q) == -1 for mu in economy.marginal_utilities)
    return sum(mu.subs(Q, 0).subs(subs) for mu in economy.marginal_utilities) / economy.n


CATALOGUE_RUNS = [   # (economy, dps, signals, sigma)
    ("tanh", 15, ("0.12", "0.87", "0.45", "0.66", "0.31"), "0.2"),
    ("example2", 30, ("0.12", "0.87", "0.45", "0.66", "0.31", "0.58"), "1"),
    ("example1", 60, ("0.1", "0.2", "0.3", "0.4", "0.5", "0.6"), "0.1"),
]


@pytest.mark.parametrize("name, dps, signals, sigma", CATALOGUE_RUNS)
def test_precision_check_passes_on_the_catalogue(name, dps, signals, sigma):
    outcome = symmech.solve(name, signals, sigma, dps=dps)
    check = precision_check(outcome)
    assert isinstance(check, PrecisionCheck)
    assert (check.dps, check.reference_dps, check.threshold) == (dps, dps + 20, dps - 5)
    assert not check.flagged and check.minimum >= dps - 5, check.to_text()
    n = outcome.economy.n
    assert len(check.quantities) == 3 * n + 2
    names = [q.name for q in check.quantities]
    assert names[0] == "price" and names[-1] == "budget_surplus"
    assert names[1:n + 1] == [f"allocation[{k}]" for k in range(1, n + 1)]
    assert check.minimum == min(q.digits for q in check.quantities)
    assert check.digits(check.worst) == check.minimum
    if name.startswith("example"):           # linear: the exact price, derived independently
        with mpmath.workdps(dps + 30):
            exact = exact_linear_price(outcome.economy, signals)
            truth = mpmath.mpf(exact.p) / exact.q
        assert agreement_digits(outcome.price, truth, cap=dps) >= dps - 5
        # the self-check's digits are what an exact comparison gives (to rounding of the last digit)
        assert abs(agreement_digits(outcome.price, truth, cap=dps) - check.digits("price")) <= 1


# ---- sabotage: a wrong number written into the first outcome is flagged ------------------------------

@pytest.fixture(scope="module")
def linear_runs():
    """The LINEAR3 economy at PROFILE3: a run at 15 digits and the rerun at 35."""
    economy = parse_model(LINEAR3, source="linear3")
    first = symmech.solve(economy, PROFILE3, "0.25", dps=15)
    rerun = symmech.solve(economy, PROFILE3, "0.25", dps=35)
    return first, rerun


def scaled(x, relative):
    """x (1 + relative), computed with enough digits that the perturbation is what was asked."""
    with mpmath.workdps(60):
        return x * (1 + mpmath.mpf(relative))


def test_precision_check_flags_a_wrong_price(linear_runs):
    first, _ = linear_runs
    wrong = dataclasses.replace(first, price=scaled(first.price, "3e-10"))   # 9 digits right, dps 15
    check = precision_check(wrong)
    assert check.flagged and check.worst == "price" and check.minimum == 9
    assert "FLAGGED" in check.to_text() and "price" in check.to_text()
    assert check.to_dict()["flagged"] is True


def test_precision_check_flags_a_wrong_allocation(linear_runs):
    first, rerun = linear_runs
    allocation = list(first.allocation)
    allocation[2] = scaled(allocation[2], "3e-8")
    check = compare_outcomes(dataclasses.replace(first, allocation=tuple(allocation)), rerun)
    assert check.flagged and check.worst == "allocation[3]" and check.minimum == 7
    assert all(q.digits >= 10 for q in check.quantities if q.name != "allocation[3]")


@pytest.mark.parametrize("relative, flagged", [("3e-13", False), ("3e-11", False), ("3e-10", True)])
def test_the_flag_falls_exactly_at_dps_minus_five(linear_runs, relative, flagged):
    """dps 15: a transfer right to 12, 10 or 9 digits; flagged below dps - 5 = 10."""
    first, rerun = linear_runs
    transfers = list(first.transfers)
    transfers[0] = scaled(transfers[0], relative)
    check = compare_outcomes(dataclasses.replace(first, transfers=tuple(transfers)), rerun)
    digits = check.digits("transfers[1]")
    assert digits == int(-mpmath.log10(mpmath.mpf(relative)))     # 3e-k: k - 1 digits
    assert check.flagged is flagged and check.flagged == (digits < 10)


def test_a_quantity_that_is_zero_to_rounding_is_compared_absolutely(linear_runs):
    first, rerun = linear_runs
    assert abs(rerun.allocation[1]) < mpmath.mpf(10) ** -30       # agent 2 does not trade
    check = compare_outcomes(first, rerun)
    assert "allocation[2]" in check.absolute and not check.flagged
    assert "zero to rounding" in check.to_text()
    assert "allocation[2]" in check.to_dict()["compared_absolutely"]
    # noise of 1e-13 (below 10**-(dps - 5) times the scale) is still zero to rounding: not flagged ...
    noisy = dataclasses.replace(first, allocation=(first.allocation[0], mpmath.mpf(10) ** -13,
                                                   first.allocation[2]))
    assert not compare_outcomes(noisy, rerun).flagged
    # ... but 1e-7 is a real, wrong trade: compared relatively, 0 digits, flagged
    wrong = dataclasses.replace(first, allocation=(first.allocation[0], mpmath.mpf(10) ** -7,
                                                   first.allocation[2]))
    check = compare_outcomes(wrong, rerun)
    assert check.flagged and check.worst == "allocation[2]" and check.minimum == 0
    assert "allocation[2]" not in check.absolute


def test_the_rerun_uses_the_same_inputs_at_more_digits(linear_runs, monkeypatch):
    first, _ = linear_runs
    naive = dataclasses.replace(first, transfers_kind="naive")
    calls = []

    def fake_solve(economy, signals, sigma, dps=30, transfers="ic", check_assumptions=True):
        calls.append((economy, signals, sigma, dps, transfers, check_assumptions))
        return dataclasses.replace(naive, dps=dps)

    monkeypatch.setattr(symmech.verify, "solve", fake_solve)
    check = precision_check(naive, extra=7)
    assert calls == [(first.economy, first.signals, first.sigma, 22, "naive", False)]
    assert check.reference_dps == 22 and check.minimum == 15 and not check.flagged


@pytest.mark.parametrize("extra", [0, -3, 2.5, True, "20", None])
def test_a_bad_extra_is_a_model_error(linear_runs, extra):
    with pytest.raises(ModelError) as info:
        precision_check(linear_runs[0], extra=extra)
    assert "extra" in str(info.value) and ">= 1" in str(info.value)


def test_only_an_outcome_can_be_checked():
    with pytest.raises(ModelError) as info:
        precision_check({"price": "1"})
    assert "Outcome of symmech.solve" in str(info.value)


def test_to_dict_has_the_shape_of_the_outcome(linear_runs):
    first, rerun = linear_runs
    data = compare_outcomes(first, rerun).to_dict()
    json.dumps(data)                                        # plain JSON types only
    assert set(data["digits"]) == {"price", "allocation", "transfers", "utilities", "budget_surplus"}
    assert all(len(data["digits"][k]) == 3 for k in ("allocation", "transfers", "utilities"))
    assert isinstance(data["digits"]["price"], int)
    assert (data["dps"], data["reference_dps"], data["threshold"]) == (15, 35, 10)


# ---- the command line ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def linear_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("precision") / "linear3.toml"
    path.write_text(LINEAR3, encoding="utf-8")
    return str(path)


def run(capsys, *argv):
    status = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


def solve_argv(path, *extra):
    return ["solve", path, "--signals", ",".join(PROFILE3), "--sigma", "0.25", "--dps", "15", *extra]


def test_verify_precision_in_json(capsys, linear_file):
    status, out, err = run(capsys, *solve_argv(linear_file, "--verify-precision", "--format", "json"))
    data = json.loads(out)
    precision = data["precision"]
    assert precision["flagged"] is False and precision["minimum"] >= 10
    assert precision["reference_dps"] == 35
    assert status in (0, 1) and "precision check failed" not in err
    status_without, out_without, _ = run(capsys, *solve_argv(linear_file, "--format", "json"))
    assert "precision" not in json.loads(out_without) and status_without == status


def test_verify_precision_in_text_and_latex(capsys, linear_file):
    status, out, _ = run(capsys, *solve_argv(linear_file, "--verify-precision"))
    assert status in (0, 1)
    report = out.split("precision self-check:")
    assert len(report) == 2 and "price" in report[0].lower()       # after the outcome
    assert "ok: every quantity agrees" in report[1]
    status, out, _ = run(capsys, *solve_argv(linear_file, "--verify-precision", "--format", "latex"))
    table, _, comments = out.partition(r"\end{tabular}")
    assert comments.strip() and all(line.startswith("% ") for line in comments.strip().splitlines())


def test_a_flagged_run_exits_3_with_one_message(capsys, linear_file, monkeypatch):
    """A sabotaged solver: the rerun (dps 35) returns a price wrong in the 9th digit."""
    real = symmech.verify.solve

    def sabotaged(*args, **kwargs):
        outcome = real(*args, **kwargs)
        if outcome.dps == 35:
            outcome = dataclasses.replace(outcome, price=scaled(outcome.price, "3e-9"))
        return outcome

    monkeypatch.setattr(symmech.verify, "solve", sabotaged)
    monkeypatch.setattr(symmech, "solve", sabotaged)
    status, out, err = run(capsys, *solve_argv(linear_file, "--verify-precision", "--format", "json"))
    assert status == 3
    assert json.loads(out)["precision"]["flagged"] is True
    lines = [line for line in err.splitlines() if line.startswith("symmech: precision check failed")]
    assert len(lines) == 1 and "price" in lines[0] and "--dps" in lines[0]
    assert "Traceback" not in err


def test_help_documents_the_exit_statuses(capsys):
    for argv in (["--help"], ["solve", "--help"]):
        status, out, _ = run(capsys, *argv)
        assert status == 0
        text = " ".join(out.split())
        assert "exit status" in text and "--verify-precision" in text
        for code in ("0 every check held", "1 a check failed", "2 bad input", "3 solve --verify-precision"):
            assert code in text, code

