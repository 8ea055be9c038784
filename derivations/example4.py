"""Example 4 of the paper, the group model, derived step by step (catalogue ``example2``).

Two groups A and E; u_i(q, s) = (alpha s_i + beta_h sbar_A + beta_l sbar_E) q - mu/2 q^2 for i in A,
and the same with A and E swapped for i in E. Run directly (``python derivations/example4.py
OUTDIR``) or through ``symmech report``.
"""

import sys
from pathlib import Path

import sympy

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)
import _common  # noqa: E402  (the shared helpers sit next to this script)

__all__ = ["NAME", "TITLE", "SOURCE", "ORDER", "PROFILE", "SIGMA_VALUE", "build"]

NAME = "example4"
TITLE = "Example 4: the group model's mechanism and its BS threshold"
SOURCE = "example2"
ORDER = 90                     # place in the paper: Example 4 closes Section 2
PROFILE = ("0.87", "0.12", "0.45", "0.66", "0.31", "0.58")    # agent 1 (group A) buys here
SIGMA_VALUE = "1"
_PRINTED_KEYS = ("ex4-price", "ex4-allocation", "ex4-pivot", "ex4-gap", "ex4-threshold")


def _model(economy):
    """The utilities with alpha, beta_h, beta_l, mu as symbols, checked against the catalogue."""
    alpha, beta_h, beta_l, mu = sympy.symbols("alpha beta_h beta_l mu", positive=True)
    signals = economy.signals
    q = sympy.Symbol("q")
    groups = {g: [signals[k - 1] for k in members] for g, members in economy.groups.items()}
    mean = {g: sympy.Add(*ss) / len(ss) for g, ss in groups.items()}
    other = {"A": "E", "E": "A"}
    group_of = {s: g for g, ss in groups.items() for s in ss}
    utilities = [(alpha * s + beta_h * mean[group_of[s]] + beta_l * mean[other[group_of[s]]]) * q
                 - mu / 2 * q ** 2 for s in signals]
    p = economy.parameters
    values = {alpha: sympy.Rational(p["alpha"]), beta_h: sympy.Rational(p["beta_h"]),
              beta_l: sympy.Rational(p["beta_l"]), mu: sympy.Rational(p["mu"])}
    _common.check_model(utilities, values, economy)
    return utilities, values


def build(outdir):
    """Write ``example4.tex`` and its figures into ``outdir``; return the Section."""
    import symmech

    economy = symmech.load_model(SOURCE)
    utilities, values = _model(economy)
    groups = "; ".join(f"{g} = \\{{{', '.join(map(str, m))}\\}}" for g, m in economy.groups.items())
    intro = ("Two groups of agents (%s). An agent values a unit at $\\alpha s_i + \\beta_h \\bar s_G "
             "+ \\beta_l \\bar s_{G'}$, where $\\bar s_G$ is the average signal of its own group and "
             "$\\bar s_{G'}$ that of the other group, and holding $q$ units costs $\\mu q^2/2$. "
             "The catalogue economy has $\\alpha = %s$, $\\beta_h = %s$, $\\beta_l = %s$, $\\mu = %s$. "
             "Agent 1 belongs to group A."
             % (groups, *(_common.number_latex(v) for v in values.values())))
    return _common.build_section(outdir, NAME, TITLE, SOURCE, intro, economy, utilities, values,
                                 PROFILE, SIGMA_VALUE, _PRINTED_KEYS)


if __name__ == "__main__":
    print(build(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(".")).tex)
