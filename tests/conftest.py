"""Shared pieces of the numeric checks: economies written here (none from the catalogue) and a
cached run of the independent reference solver in ``tests/reference.py``.

Every economy is built from SymPy expressions with exact constants; parameters are chosen so
that A1-A4 hold on [0, 1]^N (own signal slope >= 1/2, cross slopes <= 1/5, d mu/d q <= -1/4).
"""

from fractions import Fraction as F
from functools import lru_cache

import pytest
import sympy

from symmech import Economy, Q, signal_symbols

from reference import reference_solve

__all__ = ["ECONOMIES"]


def _mean(symbols):
    return sum(symbols) / len(symbols)


def _heterogeneous():
    """4 agents, each with its own own-signal slope, cross weights, curvature and intercept."""
    s = signal_symbols(4)
    a = [F(1), F(3, 2), F(1, 2), F(5, 4)]
    m = [F(1), F(1, 2), F(2), F(3, 4)]
    c = [F(0), F(1, 10), F(-1, 10), F(1, 20)]
    us = []
    for i in range(4):
        cross = sum(F(1 + i + 2 * j, 60) * s[j] for j in range(4) if j != i)
        us.append((c[i] + a[i] * s[i] + cross) * Q - m[i] * Q**2 / 2)
    return Economy(us, name="heterogeneous quadratic")


def _two_groups():
    """Group model with groups of 2 and 3, own group weighted more than the other."""
    s = signal_symbols(5)
    groups = {"A": (1, 2), "E": (3, 4, 5)}
    alpha, high, low, mu = F(1), F(3, 10), F(1, 10), F(1)
    us = []
    for i in range(5):
        own, other = ("A", "E") if i + 1 in groups["A"] else ("E", "A")
        mean_own = _mean([s[k - 1] for k in groups[own]])
        mean_other = _mean([s[k - 1] for k in groups[other]])
        us.append((alpha * s[i] + high * mean_own + low * mean_other) * Q - mu * Q**2 / 2)
    return Economy(us, name="two groups 2+3", groups=groups)


def _three_groups():
    """Three groups of sizes 1, 2, 3 with group-specific slopes and curvatures."""
    s = signal_symbols(6)
    groups = {"X": (1,), "Y": (2, 3), "Z": (4, 5, 6)}
    alpha = {"X": F(1), "Y": F(5, 4), "Z": F(3, 4)}
    mu = {"X": F(1), "Y": F(1, 2), "Z": F(3, 2)}
    high, low = F(1, 5), F(1, 20)
    us = []
    for i in range(6):
        g = next(name for name, members in groups.items() if i + 1 in members)
        value = alpha[g] * s[i]
        for name, members in groups.items():
            value += (high if name == g else low) * _mean([s[k - 1] for k in members])
        us.append(value * Q - mu[g] * Q**2 / 2)
    return Economy(us, name="three groups 1+2+3", groups=groups)


def _tanh():
    """Non-quadratic: mu_i = a_i s_i + s_bar/5 + tanh(s_i)/4 - m_i q - tanh(q)/4."""
    s = signal_symbols(3)
    a, m = [F(1), F(3, 4), F(3, 2)], [F(1), F(3, 2), F(3, 4)]
    bar = _mean(s)
    us = [(a[i] * s[i] + bar / 5 + sympy.tanh(s[i]) / 4) * Q - m[i] * Q**2 / 2
          - sympy.log(sympy.cosh(Q)) / 4 for i in range(3)]
    return Economy(us, name="tanh")


def _exp():
    """Non-quadratic: u_i = (a_i s_i + s_bar/5) q + c_i s_i (1 - exp(-q)) - m_i q^2/2."""
    s = signal_symbols(3)
    a, c, m = [F(1), F(3, 2), F(1, 2)], [F(1, 2), F(1, 4), F(1)], [F(1), F(1, 2), F(2)]
    bar = _mean(s)
    us = [(a[i] * s[i] + bar / 5) * Q + c[i] * s[i] * (1 - sympy.exp(-Q)) - m[i] * Q**2 / 2
          for i in range(3)]
    return Economy(us, name="exp")


def _edges():
    """Agent 1 buys at every own report (intercept +2), agent 4 sells at every one (-2)."""
    s = signal_symbols(4)
    bar = _mean(s)
    c = [F(2), F(0), F(1, 10), F(-2)]
    m = [F(1), F(3, 4), F(1), F(5, 4)]
    us = [(c[i] + s[i] + bar / 5) * Q - m[i] * Q**2 / 2 for i in range(4)]
    return Economy(us, name="edge pivots")


def _fundamental():
    """Symmetric fundamental value model, 3 agents (for profiles with a non-trader)."""
    s = signal_symbols(3)
    bar = _mean(s)
    return Economy([(s[i] + bar / 2) * Q - Q**2 / 2 for i in range(3)], name="fundamental 3")


ECONOMIES = {
    "heterogeneous": _heterogeneous, "two_groups": _two_groups, "three_groups": _three_groups,
    "tanh": _tanh, "exp": _exp, "edges": _edges, "fundamental": _fundamental,
}


@lru_cache(maxsize=None)
def _economy(name):
    return ECONOMIES[name]()


@lru_cache(maxsize=None)
def _reference(name, signals, sigma, dps):
    return reference_solve(_economy(name), signals, sigma, dps)


@pytest.fixture(scope="session")
def named_economy():
    """``named_economy(name)``: the economy called ``name``, built once per session."""
    return _economy


@pytest.fixture(scope="session")
def reference_outcome():
    """``reference_outcome(name, signals, sigma, dps)`` with exact inputs, cached."""
    def run(name, signals, sigma, dps=30):
        return _reference(name, tuple(F(x) for x in signals), F(sigma), dps)
    return run


@pytest.fixture(scope="session")
def report_build(tmp_path_factory):
    """(folder, {name: Section}, exit status): every derivation script run once for the session,
    through ``symmech report`` when pdflatex exists (the Sections it builds are kept), else
    directly (status None). Tests of the teaching sections share it."""
    import shutil

    import symmech.report as report_module
    from symmech.cli import main

    out = tmp_path_factory.mktemp("report")
    if shutil.which("pdflatex") is None:
        return out, {s.name: s for s in report_module.build_sections(out)}, None
    kept = []
    build = report_module.build_sections

    def keep(*args, **kwargs):
        kept.extend(build(*args, **kwargs))
        return kept

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(report_module, "build_sections", keep)
        status = main(["report", "--out", str(out)])
    return out, {s.name: s for s in kept}, status
