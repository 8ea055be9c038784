"""The command line's newer subcommands: derive (closed forms), solve --backend, verify, paper.

Expected values are derived here by hand for a linear economy, not taken from the package.
"""

from fractions import Fraction
import json

import pytest
import sympy

from symmech.cli import main

# u_i = (s_i + mean(s)/2) q - q^2/2: mu_i = s_i + m/2 - q, so (by hand) p = 3m/2 with m = mean(s),
# q_i = (s_i - m)/(1 + sigma).
LINEAR = """\
name = "linear three"
agents = 3

[utility]
all = "(s_i + mean(s_j)/2)*q - q**2/2"
"""


@pytest.fixture
def linear(tmp_path):
    path = tmp_path / "linear.toml"
    path.write_text(LINEAR)
    return str(path)


def test_derive_json_price_and_allocation_match_hand_derivation(capsys, linear):
    assert main(["derive", linear, "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    s1, s2, s3, sigma = sympy.symbols("s_1 s_2 s_3 sigma")
    m = (s1 + s2 + s3) / 3
    assert sympy.simplify(sympy.sympify(data["price"]["sympy"]) - sympy.Rational(3, 2) * m) == 0
    q1 = sympy.sympify(data["allocation"][0]["sympy"], locals={"sigma": sigma})
    assert sympy.simplify(q1 - (s1 - m) / (1 + sigma)) == 0
    for key in ("transfer", "average_price_gap", "bs_threshold"):
        assert key in data


def test_derive_text_and_latex(capsys, linear):
    assert main(["derive", linear]) == 0
    assert "reference price" in capsys.readouterr().out
    assert main(["derive", linear, "--format", "latex"]) == 0
    body = capsys.readouterr().out
    assert "\\label{" in body and "\\documentclass" not in body
    assert main(["derive", linear, "--format", "latex", "--standalone"]) == 0
    doc = capsys.readouterr().out
    assert doc.lstrip().startswith("\\documentclass") and "\\end{document}" in doc


def test_derive_non_quadratic_exits_2_and_points_to_solve(capsys):
    assert main(["derive", "tanh"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("symmech: error:") and "symmech solve" in err and "Traceback" not in err


@pytest.mark.parametrize("backend", ["mpmath", "float64", "auto"])
def test_solve_backend_reaches_solve(capsys, linear, backend):
    # sigma = 4: kappa_i = sigma - (dp/ds_i)/(dq_i/ds_i) = (sigma - 3)/4 >= 0, so BS holds too
    code = main(["solve", linear, "--signals", "0.1,0.4,0.8", "--sigma", "4", "--dps", "15",
                 "--backend", backend, "--format", "json"])
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    m = Fraction(13, 30)
    assert abs(Fraction(data["price"]) - Fraction(3, 2) * m) < Fraction(1, 10 ** 12)
    q1 = (Fraction(1, 10) - m) / 5
    assert abs(Fraction(data["allocation"][0]) - q1) < Fraction(1, 10 ** 12)


def test_solve_rejects_unknown_backend(capsys, linear):
    assert main(["solve", linear, "--signals", "0.1,0.4,0.8", "--sigma", "0.2",
                 "--backend", "gpu"]) == 2
    assert "symmech: error:" in capsys.readouterr().err


def test_check_certified_encloses_the_constants_of_example1(capsys):
    """Example 1 (alpha = 1, beta = 1/2, mu = 1, N = 6): by hand, c_s = C_s = alpha + beta/N,
    phi_N = beta/N, c_q = C_q = -mu, M = alpha + beta; each certified interval must contain it."""
    from fractions import Fraction as F
    from symmech.cli import main
    assert main(["check", "example1", "--certified", "--format", "json"]) == 0
    constants = json.loads(capsys.readouterr().out)["constants"]
    expected = {"c_s": F(13, 12), "C_s": F(13, 12), "phi_N": F(1, 12), "c_q": F(-1), "C_q": F(-1), "M": F(3, 2)}
    for name, value in expected.items():
        low, high = (F(x) for x in constants[name])
        assert low <= value <= high, name


def test_derive_general_keeps_n_as_a_symbol(capsys):
    from symmech.cli import main
    assert main(["derive", "example1", "--general", "--format", "json"]) == 0
    price = json.loads(capsys.readouterr().out)["price"]["sympy"]
    assert "sbar" in price and "alpha" in price
    assert main(["derive", "heterogeneous", "--general"]) == 2
    assert "example1 and example2" in capsys.readouterr().err


@pytest.mark.parametrize("command", [["derive"], ["verify", "--profiles", "1", "--adversarial", "0", "--no-corners"]])
def test_derive_and_verify_refuse_an_economy_breaking_a2(capsys, tmp_path, command):
    """d mu_i/d s_i = -1 + 1/12 < 0 everywhere: A2 fails; --no-check skips the pre-check."""
    from symmech.cli import main
    path = tmp_path / "a2.toml"
    path.write_text('agents = 3\n[utility]\nall = "(-s_i + mean(s_j)/4)*q - q**2/2"\n', encoding="utf-8")
    assert main([command[0], str(path), *command[1:]]) == 2
    err = capsys.readouterr().err
    assert err.startswith("symmech: error: A2 fails for agent") and "--no-check" in err
    assert main([command[0], str(path), *command[1:], "--no-check"]) != 2
