"""The command line: exit status, one-line errors, the three output formats, lean start-up.

Numbers printed by ``symmech solve`` are compared with closed forms derived here, with
Fractions, for a linear economy written by the test (not taken from the package).
"""

from fractions import Fraction
import json
from pathlib import Path
import re
import shlex
import subprocess
import sys

import pytest

from symmech.cli import main

ROOT = Path(__file__).resolve().parents[1]

# u_i = (s_i + mean(s)/2) q - q^2/2. Derived by hand: mu_i = v_i - q with v_i = s_i + m/2, m = mean(s);
# sigma-WE: v_i - q_i = p + sigma q_i and sum q_i = 0, so p = mean(v) = 3m/2, q_i = (s_i - m)/(1 + sigma).
LINEAR = """\
name = "{name}"
agents = 3

[utility]
all = "(s_i + mean(s_j)/2)*q - q**2/2"
"""
SIGNALS = ("0.1", "0.4", "0.8")     # pivots (others' means) 0.6, 0.45, 0.25: away from 1/2 and own reports
SIGMA = "0.2"
DPS = 15

# Breaks A2: mu_i = -s_i - q falls in the own signal.
FALLING = """\
agents = 3

[utility]
all = "-s_i*q - q**2/2"
"""

# Two mistakes: a parameter that is not a number and a name that is not defined.
MISTAKES = """\
agents = 2

[parameters]
alpha = "abc"

[utility]
all = "(alpha*s_i + zeta)*q - q**2/2"
"""

CHECK_WORDS = ("market clearing", "budget surplus", "individual ration", "incentive compat", "pareto")


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    files = {"linear": LINEAR.format(name="linear three"), "falling": FALLING, "mistakes": MISTAKES,
             "special": LINEAR.format(name=r"R&D_100% #1 {x} ~ ^ \\ $")}
    paths = {}
    for key, text in files.items():
        paths[key] = folder / f"{key}.toml"
        paths[key].write_text(text)
    return {k: str(v) for k, v in paths.items()}


def run(capsys, *argv):
    """main(argv) -> (exit status, stdout, stderr)."""
    status = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


def solve_args(model, *extra, signals=",".join(SIGNALS), sigma=SIGMA):
    return ["solve", model, "--signals", signals, "--sigma", sigma, "--dps", str(DPS), *extra]


def assert_one_error(status, err):
    assert status == 2
    assert err.startswith("symmech: error: "), err
    assert err.count("symmech: error:") == 1, err
    assert "Traceback" not in err


# ------------------------------------------------------------------ closed forms (independent)


def linear_closed_form(signals, sigma):
    """Price, allocation, IC transfers and utilities of the LINEAR economy, exactly.

    Agent i reporting r, others fixed (S = sum of the others, N = 3): q_i(r) = k (a r - b) with
    k = 1/(1 + sigma), a = (N-1)/N, b = S/N; p(r) = 3/2 (r/N + b). q_i(r) = 0 at r_b = S/(N-1),
    the others' mean, inside [0, 1], so the boundary constant is 0 and
    t_i = integral_{r_b}^{s_i} [p(r) + sigma q_i(r)] q_i'(r) dr, an integral of a linear function.
    """
    s = [Fraction(x) for x in signals]
    sigma = Fraction(sigma)
    n = len(s)
    m = sum(s) / n
    k = 1 / (1 + sigma)
    price = Fraction(3, 2) * m
    allocation = [(x - m) * k for x in s]
    transfers, utilities = [], []
    for i, x in enumerate(s):
        others = sum(s) - x
        a, b = Fraction(n - 1, n), others / n
        slope = k * a * (Fraction(3, 2) / n + sigma * k * a)       # integrand = slope r + level
        level = k * a * (Fraction(3, 2) * b - sigma * k * b)
        r_b = others / (n - 1)
        t = slope * (x * x - r_b * r_b) / 2 + level * (x - r_b)
        v = x + m / 2
        q = allocation[i]
        transfers.append(t)
        utilities.append(v * q - q * q / 2 - t)
    return price, allocation, transfers, utilities


def close(text, exact, digits=DPS - 5):
    """A printed decimal string agrees with an exact value to ``digits`` digits (absolute + relative)."""
    value = Fraction(text)
    return abs(value - exact) <= Fraction(1, 10 ** digits) * (1 + abs(exact))


# ------------------------------------------------------------------ bad input: exit 2, one message


@pytest.mark.parametrize("signals, sigma, dps, words", [
    ("0.1,abc,0.9", SIGMA, DPS, ["abc"]),
    ("0.1,,0.9", SIGMA, DPS, ["empty"]),
    ("0.1,0.5", SIGMA, DPS, ["3", "2"]),                     # wrong count
    ("0.1,0.5,1.5", SIGMA, DPS, ["1.5"]),                    # outside [0, 1]
    (",".join(SIGNALS), "-1", DPS, ["sigma"]),
    (",".join(SIGNALS), SIGMA, 5, ["dps", "5"]),
])
def test_bad_solve_input_is_one_message(capsys, models, signals, sigma, dps, words):
    status, out, err = run(capsys, "solve", models["linear"], "--signals", signals, "--sigma", sigma,
                           "--dps", dps)
    assert_one_error(status, err)
    assert out == ""
    for word in words:
        assert word in err


def test_missing_file_is_one_message(capsys, tmp_path):
    missing = tmp_path / "no_such_model.toml"
    status, out, err = run(capsys, *solve_args(str(missing)))
    assert_one_error(status, err)
    assert "no_such_model" in err


def test_model_file_mistakes_are_all_named(capsys, models):
    status, _, err = run(capsys, *solve_args(models["mistakes"], signals="0.1,0.2"))
    assert_one_error(status, err)
    assert "alpha" in err and "zeta" in err


@pytest.mark.parametrize("argv", [
    [],
    ["solve"],
    ["solve", "example2", "--signals", "0.1"],                  # no --sigma
    ["solve", "example2", "--signals", "0.1", "--sigma", "0.1", "--dps", "abc"],
    ["solve", "example2", "--signals", "0.1", "--sigma", "0.1", "--format", "xml"],
    ["solve", "example2", "--signals", "0.1", "--sigma", "0.1", "--transfers", "vcg"],
    ["frobnicate"],
])
def test_argument_errors_are_one_message(capsys, argv):
    status, out, err = run(capsys, *argv)
    assert_one_error(status, err)
    assert out == ""


def test_debug_shows_the_traceback(capsys, tmp_path):
    status, _, err = run(capsys, "--debug", *solve_args(str(tmp_path / "missing.toml")))
    assert status == 2
    assert "Traceback" in err and "symmech: error:" in err


def test_console_error_through_python_m(tmp_path):
    missing = tmp_path / "missing.toml"
    done = subprocess.run([sys.executable, "-m", "symmech", *solve_args(str(missing))],
                          capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert_one_error(done.returncode, done.stderr)
    assert done.stdout == ""


# ------------------------------------------------------------------ solve output


def test_json_follows_the_contract_and_the_closed_form(capsys, models):
    status, out, err = run(capsys, *solve_args(models["linear"], "--format", "json"))
    data = json.loads(out)
    assert {"agents", "sigma", "dps", "price", "allocation", "transfers", "utilities",
            "budget_surplus", "checks"} <= set(data)
    assert data["agents"] == 3 and data["dps"] == DPS and Fraction(data["sigma"]) == Fraction(SIGMA)
    checks = data["checks"]
    assert set(checks) == {"market_clearing", "budget_surplus", "individual_rationality",
                           "incentive_compatibility", "pareto"}
    assert {"holds", "residual"} <= set(checks["market_clearing"])
    assert {"holds", "value"} <= set(checks["budget_surplus"])
    assert {"holds", "margin", "agent"} <= set(checks["individual_rationality"])
    assert {"holds", "max_regret", "agent", "misreport"} <= set(checks["incentive_compatibility"])
    assert "epsilon" in checks["pareto"]
    for name in ("individual_rationality", "incentive_compatibility"):
        assert checks[name]["agent"] in (1, 2, 3)              # agents numbered from 1

    price, allocation, transfers, utilities = linear_closed_form(SIGNALS, SIGMA)
    assert close(data["price"], price)
    for key, exact_values in (("allocation", allocation), ("transfers", transfers),
                              ("utilities", utilities)):
        assert len(data[key]) == 3
        assert all(close(t, e) for t, e in zip(data[key], exact_values)), key
    assert close(data["budget_surplus"], sum(transfers))
    assert checks["market_clearing"]["holds"] and checks["incentive_compatibility"]["holds"]
    # exit status 0 exactly when every check with a verdict holds
    verdicts = [c["holds"] for c in checks.values() if "holds" in c]
    assert status == (0 if all(verdicts) else 1)
    assert ("check failed" in err) == (status == 1)


@pytest.mark.parametrize("signals", [
    ("0.1", "0.4", "0.9"),      # agent 2's boundary type is 1/2 (the others' mean)
    ("0.1", "0.3", "0.5"),      # agent 2 does not trade: its report is its boundary type
])
def test_pinned_boundary_cases_match_the_closed_form(capsys, models, signals):
    status, out, err = run(capsys, *solve_args(models["linear"], "--format", "json",
                                               signals=",".join(signals)))
    assert status in (0, 1), err
    data = json.loads(out)
    price, allocation, transfers, _ = linear_closed_form(signals, SIGMA)
    assert close(data["price"], price)
    assert all(close(t, e) for t, e in zip(data["allocation"], allocation))
    assert all(close(t, e) for t, e in zip(data["transfers"], transfers))


def test_text_names_price_allocation_transfers_and_checks(capsys, models):
    status, out, _ = run(capsys, *solve_args(models["linear"]))
    assert status in (0, 1)
    text = out.lower().replace("_", " ")
    for word in ("price", "q i", "t i", *CHECK_WORDS):
        assert word in text, word
    assert "allocation" in text or "q i" in text
    assert "transfer" in text or "t i" in text


def test_naive_transfers_fail_incentive_compatibility(capsys, models):
    # With t_i = (p + sigma q_i) q_i, d/dr of the payoff at the truth is -q_i (p' + sigma q_i') != 0
    # for every trading agent, so some misreport pays: IC must fail and the exit status is 1.
    status, out, err = run(capsys, *solve_args(models["linear"], "--transfers", "naive", "--format", "json"))
    assert status == 1
    assert json.loads(out)["checks"]["incentive_compatibility"]["holds"] is False
    assert "incentive compatibility" in err and "Traceback" not in err


def test_latex_table_escapes_and_has_a_row_per_agent(capsys, models):
    status, out, _ = run(capsys, *solve_args(models["special"], "--format", "latex"))
    assert status in (0, 1)
    assert out.startswith(r"\begin{tabular}") and out.rstrip().endswith(r"\end{tabular}")
    assert r"R\&D\_100\% \#1 \{x\} \textasciitilde{} \textasciicircum{} \textbackslash{} \$" in out
    agent_rows = [line for line in out.splitlines() if re.match(r"^[123] & ", line)]
    assert len(agent_rows) == 3 and all(line.count("&") == 4 for line in agent_rows)
    unescaped = re.sub(r"\\[{}$&%#_]", "", out)
    assert unescaped.count("{") == unescaped.count("}")
    assert unescaped.count("$") % 2 == 0
    price, *_ = linear_closed_form(SIGNALS, SIGMA)
    shown = re.search(r"Price \$p\^\\sigma\(s\)\$ = \$([-0-9.]+)\$", out)
    assert shown and close(shown.group(1), price)
    for word in ("Market clearing", "Budget surplus", "Individual rationality",
                 "Incentive compatibility", "Pareto"):
        assert word in out


def test_readme_quick_start_solves(capsys):
    """The README's first Quick start line runs one economy; its symmech part must exit 0."""
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"## Quick start.*?```sh\n(.*?)```", readme, re.S).group(1)
    commands = [line for line in block.splitlines() if line.strip()]
    assert len(commands) == 2
    symmech_part = commands[0].split("&&")[-1].strip()
    words = shlex.split(symmech_part)
    assert words[0].endswith("symmech")
    status, out, err = run(capsys, *words[1:])
    assert status == 0, err
    assert "price" in out.lower()


# ------------------------------------------------------------------ check, catalogue, start-up


def test_check_prints_each_assumption_and_exit_status(capsys, models):
    status, out, _ = run(capsys, "check", models["linear"], "--samples", 200, "--seed", 1)
    assert status == 0                    # mu_i = s_i + mean(s)/2 - q: A1-A4 hold on [0, 1]^3
    for name in ("A1", "A2", "A3", "A4"):
        assert name in out
    status, out, _ = run(capsys, "check", models["falling"], "--samples", 200, "--seed", 1,
                         "--format", "json")
    assert status == 1                    # d mu_i/d s_i = -1 < 0 breaks A2
    records = {r["name"]: r for r in json.loads(out)["assumptions"]}
    assert records["A2"]["holds"] is False


def test_catalogue_lists_example2(capsys):
    status, out, _ = run(capsys, "catalogue")
    assert status == 0
    names = [line.split()[0] for line in out.splitlines() if line.strip()]
    assert "example2" in names
    assert all(len(line.split()) >= 2 for line in out.splitlines() if line.strip())


def test_help_does_not_import_sympy_or_mpmath():
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "symmech", "--help"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0
    assert "solve" in done.stdout
    imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if "|" in line}
    assert "sympy" not in imported and "mpmath" not in imported
