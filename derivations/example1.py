"""Example 1 of the paper, the fundamental value model, derived step by step (catalogue ``example1``).

u_i(q, s) = (alpha s_i + beta sbar) q - mu/2 q^2, with sbar the average of all N signals.
Run directly (``python derivations/example1.py OUTDIR``) or through ``symmech report``.
"""

import sys
from pathlib import Path

import sympy

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)
import _common  # noqa: E402  (the shared helpers sit next to this script)

__all__ = ["NAME", "TITLE", "SOURCE", "ORDER", "PROFILE", "SIGMA_VALUE", "build"]

NAME = "example1"
TITLE = "Example 1: the fundamental value model"
SOURCE = "example1"
ORDER = 10                     # place in the paper: Example 1 opens Section 2
PROFILE = ("0.87", "0.12", "0.45", "0.66", "0.31", "0.58")    # agent 1 buys here
SIGMA_VALUE = "1"
_PRINTED_KEYS = ("ex1-cross-weight", "ex3-price", "ex3-allocation")


def _model(economy):
    """The utilities with alpha, beta, mu as symbols, checked against the catalogue economy."""
    alpha, beta, mu = sympy.symbols("alpha beta mu", positive=True)
    signals = economy.signals
    q = sympy.Symbol("q")
    mean = sympy.Add(*signals) / len(signals)
    utilities = [(alpha * s + beta * mean) * q - mu / 2 * q ** 2 for s in signals]
    values = {alpha: sympy.Rational(economy.parameters["alpha"]), beta: sympy.Rational(economy.parameters["beta"]),
              mu: sympy.Rational(economy.parameters["mu"])}
    _common.check_model(utilities, values, economy)
    return utilities, values


def build(outdir):
    """Write ``example1.tex`` and its figures into ``outdir``; return the Section."""
    import symmech

    economy = symmech.load_model(SOURCE)
    utilities, values = _model(economy)
    intro = ("Each agent values a unit at $\\alpha s_i + \\beta \\bar s$, where $\\bar s$ is the "
             "average of all $N = %d$ signals, and holding $q$ units costs $\\mu q^2/2$. "
             "The catalogue economy has $\\alpha = %s$, $\\beta = %s$, $\\mu = %s$."
             % (economy.n, *(_common.number_latex(v) for v in values.values())))
    return _common.build_section(outdir, NAME, TITLE, SOURCE, intro, economy, utilities, values,
                                 PROFILE, SIGMA_VALUE, _PRINTED_KEYS)


if __name__ == "__main__":
    print(build(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(".")).tex)
