"""Lemma 1 of the paper (exactly one sigma-WE), its proof followed on the non-quadratic ``tanh`` economy.

u_i(q, s) = (a_i s_i + b mean(s_j^2)) q - m_i/2 q^2 - c_i log cosh q. SymPy differentiates the
first-order condition implicitly to get each agent's demand slope d q_i/d p, bounds it with A4,
and the bracket [min_i mu_i(0, s), max_i mu_i(0, s)] (A1) holds the one price where aggregate
demand vanishes; mpmath finds that price at the worked profile. Run directly
(``python derivations/lemma1.py OUTDIR``) or through ``symmech report``.
"""

import sys
from pathlib import Path

import mpmath
import sympy

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)
import _common  # noqa: E402  (the shared helpers sit next to this script)
from symmech._numbers import to_mpf  # noqa: E402

__all__ = ["NAME", "TITLE", "SOURCE", "ORDER", "PROFILE", "SIGMA_VALUE", "FIGURE_SIGMAS",
           "DIGITS", "build"]

NAME = "lemma1"
TITLE = "Lemma 1: exactly one sigma-Walrasian equilibrium"
SOURCE = "tanh"
ORDER = 30                     # place in the paper: Lemma 1 follows the definition of a sigma-WE
PROFILE = ("0.9", "0.2", "0.6", "0.4", "0.75")
SIGMA_VALUE = "1/4"
FIGURE_SIGMAS = ("0", "1/4", "1")
DIGITS = 30                    # significant digits shown for the price found numerically
_WORK_DPS = DIGITS + 15        # working precision of the nested root searches

_Q, _P = sympy.symbols("q p", real=True)
_B, _N = sympy.symbols("b N", positive=True)
_TAU = sympy.Symbol("tau", nonnegative=True)              # stands for tanh(q)^2 in [0, 1)
_ROOT = sympy.Symbol("ROOT")
_P_HIGH, _P_LOW = sympy.symbols("PHIGH PLOW", real=True)
_NAMES = {_ROOT: "\\text{the one root of } \\textstyle\\sum_i q_i(p, s) = 0 \\text{ in } "
                 "[\\underline p, \\overline p]",
          _P_HIGH: "\\overline p", _P_LOW: "\\underline p", _TAU: "\\tau"}


def _agent_symbols(n):
    a = sympy.symbols(f"a_1:{n + 1}", positive=True)
    m = sympy.symbols(f"m_1:{n + 1}", positive=True)
    c = sympy.symbols(f"c_1:{n + 1}", positive=True)
    return a, m, c


def _model(economy):
    """The utilities with a_i, b, m_i, c_i and N as symbols, checked against the catalogue."""
    signals = economy.signals
    n = len(signals)
    a, m, c = _agent_symbols(n)
    q = sympy.Symbol("q")
    mean_square = sympy.Add(*[s ** 2 for s in signals]) / _N
    utilities = [(a[i] * s + _B * mean_square) * q - m[i] / 2 * q ** 2 - c[i] * sympy.log(sympy.cosh(q))
                 for i, s in enumerate(signals)]
    p = economy.parameters
    values = {_B: sympy.Rational(p["b"]), _N: n}
    for symbols, key in ((a, "a"), (m, "m"), (c, "c")):
        values.update({x: sympy.Rational(v) for x, v in zip(symbols, p[key])})
    _common.check_model(utilities, values, economy)
    return [u.subs(q, _Q) for u in utilities], values, (a, m, c)


# ---------------------------------------------------------------- numbers (mpmath, exact inputs)


def _demand(intercept, m, c, p, sigma):
    """q solving intercept - m q - c tanh q = p + sigma q (one root: the left side falls in q).

    The root lies between (intercept - p)/(m + c + sigma) and (intercept - p)/(m + sigma),
    since |tanh q| <= |q|; Anderson-Bjorck bracketing finds it.
    """
    gap = intercept - p
    if gap == 0:
        return mpmath.mpf(0)
    g = lambda x: gap - (m + sigma) * x - c * mpmath.tanh(x)
    ends = (gap / (m + c + sigma), gap / (m + sigma))
    return mpmath.findroot(g, ends, solver="anderson")


class _Market:
    """The worked economy at one profile: intercepts mu_i(0, s) and the exact m_i, c_i."""

    def __init__(self, intercepts, ms, cs):
        self.intercepts, self.ms, self.cs = intercepts, ms, cs

    def demands(self, p, sigma):
        """Each agent's demand q_i(p, s), as mpf (call inside a workdps scope)."""
        return [_demand(to_mpf(a), to_mpf(m), to_mpf(c), p, to_mpf(sigma))
                for a, m, c in zip(self.intercepts, self.ms, self.cs)]

    def aggregate(self, p, sigma):
        return mpmath.fsum(self.demands(p, sigma))

    def price(self, sigma, low, high):
        """The root of aggregate demand in [low, high], bracketed."""
        return mpmath.findroot(lambda p: self.aggregate(p, sigma), (to_mpf(low), to_mpf(high)),
                               solver="anderson")


def _decimal(x, digits=10):
    if x == 0:
        return "0"
    return mpmath.nstr(x, digits, min_fixed=-10, max_fixed=10)


def _exact_latex(x):
    """An exact number without its decimal approximation."""
    return _common.number_latex(x).split(" \\approx")[0]


def _sum_latex(values, digits=10):
    """'a + b - c' for a list of mpf, to ``digits`` significant digits."""
    text = _decimal(values[0], digits)
    for v in values[1:]:
        text += (" - " if v < 0 else " + ") + _decimal(abs(v), digits)
    return text


# ---------------------------------------------------------------- steps


def _steps(utilities, values, symbols, signals, profile, sigma_value):
    from symmech.symbolic import SIGMA

    a, m, c = symbols
    n = len(signals)
    point = dict(zip(signals, profile))
    model = {**values, **point}
    worked = {**model, SIGMA: sigma_value}
    marginal = [sympy.diff(u, _Q) for u in utilities]
    foc = marginal[0] - _P - SIGMA * _Q
    slope = sympy.diff(marginal[0], _Q)
    # d q_1/d p by the implicit function theorem on the FOC g(q, p) = 0.
    dq_dp = -sympy.diff(foc, _P) / sympy.diff(foc, _Q)
    # SymPy's slope holds sinh(q)^2/cosh(q)^2 = tanh(q)^2; name that tau.
    slope_tau = sympy.expand(slope.subs(sympy.sinh(_Q), sympy.tanh(_Q) * sympy.cosh(_Q)))
    slope_tau = sympy.expand(slope_tau.subs(sympy.tanh(_Q) ** 2, _TAU))
    if sympy.simplify(slope_tau.subs(_TAU, sympy.tanh(_Q) ** 2) - slope) != 0 or _Q in slope_tau.free_symbols:
        raise ArithmeticError("lemma1: d mu_1/d q is not a function of tanh(q)^2")
    steepest, flattest = slope_tau.subs(_TAU, 0), slope_tau.subs(_TAU, 1)
    if sympy.limit(slope, _Q, sympy.oo) != flattest or sympy.limit(slope, _Q, -sympy.oo) != flattest:
        raise ArithmeticError("lemma1: d mu_1/d q does not tend to its tau = 1 value")
    dq_dp_tau = sympy.simplify(dq_dp.subs(sympy.sinh(_Q), sympy.tanh(_Q) * sympy.cosh(_Q))
                               .subs(sympy.tanh(_Q) ** 2, _TAU))
    if _Q in dq_dp_tau.free_symbols:
        raise ArithmeticError("lemma1: d q_1/d p is not a function of tanh(q)^2")
    aggregate_bound = -sympy.Add(*[1 / (m[k] + c[k] + SIGMA) for k in range(n)])
    intercepts = [sympy.nsimplify(mu.subs(_Q, 0).subs(model)) for mu in marginal]
    high_agent = max(range(n), key=lambda k: intercepts[k])
    low_agent = min(range(n), key=lambda k: intercepts[k])
    p_high, p_low = intercepts[high_agent], intercepts[low_agent]
    market = _Market(intercepts, [values[x] for x in m], [values[x] for x in c])
    with mpmath.workdps(_WORK_DPS):
        at_high = market.demands(to_mpf(p_high), sigma_value)
        at_low = market.demands(to_mpf(p_low), sigma_value)
        price = market.price(sigma_value, p_low, p_high)
        allocation = market.demands(price, sigma_value)
        cleared = mpmath.fsum(allocation)
        if not (p_low <= price <= p_high) or abs(cleared) > mpmath.mpf(10) ** (-DIGITS - 5):
            raise ArithmeticError(f"lemma1: the price {price} does not clear the market ({cleared})")
        price_text = mpmath.nstr(price, DIGITS)
        prices = {s: mpmath.nstr(market.price(s, p_low, p_high), DIGITS + 5) for s in map(sympy.Rational, FIGURE_SIGMAS)}
        prices[sympy.Rational(sigma_value)] = mpmath.nstr(price, DIGITS + 5)
        high_sum, low_sum = mpmath.fsum(at_high), mpmath.fsum(at_low)
        allocation_text = [mpmath.nstr(x, 12) for x in allocation]
    # Stand-ins for q_i(pbar, s), q_i(p_, s), q_i(p^sigma, s), named in LaTeX through ``names``.
    qs_high = sympy.symbols(f"QHIGH1:{n + 1}")
    qs_low = sympy.symbols(f"QLOW1:{n + 1}")
    qs_eq = sympy.symbols(f"QEQ1:{n + 1}")
    names = {**_NAMES}
    for k in range(n):
        names[qs_high[k]] = f"q_{{{k + 1}}}(\\overline p, s)"
        names[qs_low[k]] = f"q_{{{k + 1}}}(\\underline p, s)"
        names[qs_eq[k]] = f"q_{{{k + 1}}}(p^\\sigma, s)"
    k_hi, k_lo = high_agent + 1, low_agent + 1
    listing = "$, $".join(f"\\mu_{k + 1}(0, s) = {_exact_latex(v)}" for k, v in enumerate(intercepts))
    steps = [
        _common.Step("Model", "Agent 1's utility; every agent has the same form with its own "
                     "$a_i$, $m_i$, $c_i$.", "u_1(q, s)", utilities[0], model),
        _common.Step("Marginal utility", "What agent 1 would pay for one more unit:", "\\mu_1(q, s) = \\frac{\\partial u_1}{\\partial q}",
                     marginal[0], model),
        _common.Step("First-order condition", "Facing the price $p$ for the first unit and the "
                     "slope $\\sigma$, agent 1 demands the $q$ where marginal utility meets the "
                     "marginal price, the root of", "g_1(q, p)", foc, worked, tail="= 0"),
        _common.Step("A4: slope of the marginal utility", "The slope depends on $q$ only through "
                     "$\\tau = \\sinh^2 q/\\cosh^2 q = \\tanh^2 q \\in [0, 1)$; it is linear in "
                     "$\\tau$ and falls between its values at $\\tau = 0$ ($q = 0$) and $\\tau = 1$ "
                     "($|q| \\to \\infty$):", "\\frac{\\partial \\mu_1}{\\partial q}", slope, values,
                     note="\\frac{\\partial \\mu_1}{\\partial q} = %s, \\qquad "
                          "\\frac{\\partial \\mu_1}{\\partial q}\\Big|_{\\tau = 0} = %s, \\qquad "
                          "\\frac{\\partial \\mu_1}{\\partial q}\\Big|_{\\tau = 1} = %s"
                          % tuple(sympy.latex(x, symbol_names=_NAMES) for x in (slope_tau, steepest, flattest))),
        _common.Step("A4: the bounds for agent 1", "So $\\partial \\mu_1/\\partial q \\in "
                     "[-(m_1 + c_1), -m_1)$: strictly negative, as A4 asks. The steepest value, at "
                     "$q = 0$:", "\\frac{\\partial \\mu_1}{\\partial q}(0, s)", steepest, values,
                     tail="\\le \\frac{\\partial \\mu_1}{\\partial q} < -m_1 = %s"
                          % _common.number_latex(-values[m[0]])),
        _common.Step("Existence of each demand", "Hence $g_1(q, p)$ falls in $q$ with slope at most "
                     "$-(m_1 + \\sigma) < 0$, so it runs from $+\\infty$ to $-\\infty$ and crosses "
                     "zero exactly once: agent 1's demand $q_1(p, s)$ exists and is unique for every "
                     "$p$. Differentiating $g_1(q_1(p, s), p) = 0$ in $p$ (implicit function "
                     "theorem):", "\\frac{\\partial q_1}{\\partial p} = -\\frac{\\partial g_1/"
                     "\\partial p}{\\partial g_1/\\partial q}", dq_dp, {**values, SIGMA: sigma_value}),
        _common.Step("Demand slope at $q = 0$", "Putting in the bounds of A4 ($\\tau = \\tanh^2 q$):",
                     "\\frac{\\partial q_1}{\\partial p}\\Big|_{\\tau = 0}", dq_dp_tau.subs(_TAU, 0),
                     {**values, SIGMA: sigma_value}),
        _common.Step("Demand slope as $|q| \\to \\infty$", "", "\\frac{\\partial q_1}{\\partial p}"
                     "\\Big|_{\\tau = 1}", dq_dp_tau.subs(_TAU, 1), {**values, SIGMA: sigma_value},
                     tail="< \\frac{\\partial q_1}{\\partial p} \\le %s"
                          % sympy.latex(dq_dp_tau.subs(_TAU, 0).subs({**values, SIGMA: sigma_value}))),
        _common.Step("Aggregate demand falls", "Each agent's demand falls in $p$ at least as fast "
                     "as $1/(m_i + c_i + \\sigma)$, so the slope of aggregate demand, $\\frac{\\partial}{\\partial p}"
                     "\\sum_{i=1}^{%d} q_i(p, s)$, is at most $B(\\sigma)$ below: aggregate demand is "
                     "strictly decreasing in $p$ and can vanish at most once." % n,
                     "B(\\sigma)",
                     aggregate_bound, {**values, SIGMA: sigma_value}, tail="< 0"),
        _common.Step("Upper end of the bracket", "At $q = 0$ the marginal utilities are $%s$. At "
                     "$\\overline p = \\max_i \\mu_i(0, s)$ every agent has $g_i(0, \\overline p) = "
                     "\\mu_i(0, s) - \\overline p \\le 0$, and $g_i$ falls in $q$, so every "
                     "$q_i(\\overline p, s) \\le 0$. The largest is agent %d's:" % (listing, k_hi),
                     "\\overline p = \\mu_{%d}(0, s)" % k_hi, marginal[high_agent].subs(_Q, 0), model),
        _common.Step("Lower end of the bracket", "Likewise at $\\underline p = \\min_i \\mu_i(0, s)$ "
                     "every $q_i(\\underline p, s) \\ge 0$. The smallest is agent %d's:" % k_lo,
                     "\\underline p = \\mu_{%d}(0, s)" % k_lo, marginal[low_agent].subs(_Q, 0), model),
        _common.Step("Aggregate demand at $\\overline p$", "Each agent's demand found by mpmath at "
                     "$\\sigma = %s$ (agent %d's is exactly zero):"
                     % (_common.number_latex(sigma_value), k_hi),
                     "\\sum_{i=1}^{%d} q_i(\\overline p, s)" % n, sympy.Add(*qs_high, evaluate=False),
                     result=f"{_sum_latex(at_high)} = {_decimal(high_sum)} \\le 0"),
        _common.Step("Aggregate demand at $\\underline p$", "",
                     "\\sum_{i=1}^{%d} q_i(\\underline p, s)" % n, sympy.Add(*qs_low, evaluate=False),
                     result=f"{_sum_latex(at_low)} = {_decimal(low_sum)} \\ge 0"),
        _common.Step("The equilibrium price", "Aggregate demand is continuous, $\\ge 0$ at "
                     "$\\underline p$, $\\le 0$ at $\\overline p$ and strictly decreasing, so it "
                     "vanishes at exactly one price in between: the $\\sigma$-WE reference price. "
                     "mpmath's \\texttt{findroot} (Anderson--Bj\\\"orck bracketing on "
                     "$[\\underline p, \\overline p]$, each demand itself bracketed between "
                     "$(\\mu_i(0, s) - p)/(m_i + c_i + \\sigma)$ and $(\\mu_i(0, s) - p)/(m_i + "
                     "\\sigma)$) finds it at %d digits of working precision from the exact inputs; "
                     "shown to %d significant digits:" % (_WORK_DPS, DIGITS),
                     "p^\\sigma(s)", _ROOT, result=price_text),
        _common.Step("The equilibrium allocation", "Each agent's demand at $p^\\sigma(s)$ (12 "
                     "digits); they sum to zero within $10^{-%d}$:" % (DIGITS + 5),
                     "\\big(q_1(s), \\dots, q_{%d}(s)\\big)" % n,
                     sympy.Tuple(*qs_eq),
                     result="\\left(" + ", ".join(allocation_text) + "\\right)"),
    ]
    facts = dict(price=price_text, prices=prices, p_high=p_high, p_low=p_low,
                 intercepts=intercepts, at_high=[mpmath.nstr(x, 20) for x in at_high],
                 at_low=[mpmath.nstr(x, 20) for x in at_low], allocation=allocation_text,
                 dq_dp=dq_dp.subs(values), digits=DIGITS, slope_bounds=(steepest.subs(values),
                                                                        flattest.subs(values)))
    return steps, facts, market, names


# ---------------------------------------------------------------- figure


def _float_demands(market, p, sigma):
    """Aggregate demand at the prices ``p`` (numpy array), in floats: for the picture only.

    Newton on each agent's FOC from q = 0; the FOC's slope lies in [-(m+c+sigma), -(m+sigma)],
    so Newton converges from anywhere in a few steps.
    """
    import numpy as np
    total = np.zeros_like(p)
    for a, m, c in zip(market.intercepts, market.ms, market.cs):
        a, m, c = float(a), float(m), float(c)
        q = np.zeros_like(p)
        for _ in range(60):
            g = a - (m + sigma) * q - c * np.tanh(q) - p
            q = q + g / (m + sigma + c / np.cosh(q) ** 2)
        total += q
    return total


def _zoom(ax, market, facts):
    """An inset around the crossings: the three prices differ by about 10^-3."""
    import numpy as np
    roots = [float(facts["prices"][sympy.Rational(t)]) for t in FIGURE_SIGMAS]
    pad = 0.6 * (max(roots) - min(roots))
    ps = np.linspace(min(roots) - pad, max(roots) + pad, 50)
    inset = ax.inset_axes([0.11, 0.08, 0.34, 0.36])
    for colour, text, root in zip(("C0", "C1", "C3"), FIGURE_SIGMAS, roots):
        inset.plot(ps, _float_demands(market, ps, float(sympy.Rational(text))), color=colour)
        inset.plot([root], [0], "o", color=colour, markersize=5)
    inset.axhline(0, color="black", linewidth=0.6)
    inset.set_xlim(ps[0], ps[-1])
    inset.set_title("near the crossings", fontsize=8)
    inset.tick_params(labelsize=7)
    inset.ticklabel_format(useOffset=False)
    inset.locator_params(axis="x", nbins=3)


def _demand_figure(base, market, facts):
    import numpy as np
    plt = _common.pyplot()
    low, high = float(facts["p_low"]), float(facts["p_high"])
    ps = np.linspace(low - 0.35, high + 0.35, 400)
    fig, ax = plt.subplots(figsize=(6.0, 3.8))
    ax.axvspan(low, high, color="0.88", label="bracket $[\\underline{p}, \\overline{p}]$")
    for colour, text in zip(("C0", "C1", "C3"), FIGURE_SIGMAS):
        sigma = sympy.Rational(text)
        ax.plot(ps, _float_demands(market, ps, float(sigma)), color=colour,
                label=f"$\\sigma = {sympy.latex(sigma)}$")
        root = float(facts["prices"][sigma])
        ax.plot([root], [0], "o", color=colour, markersize=6)
    ax.axhline(0, color="black", linewidth=0.6)
    _zoom(ax, market, facts)
    ax.set_xlabel("reference price $p$")
    ax.set_ylabel("aggregate demand $\\sum_i q_i(p, s)$")
    ax.legend(loc="upper right", fontsize=9)
    _common.save_figure(fig, base)


def build(outdir):
    """Write ``lemma1.tex`` and its figure into ``outdir``; return the Section."""
    import symmech

    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    economy = symmech.load_model(SOURCE)
    utilities, values, symbols = _model(economy)
    profile = tuple(sympy.Rational(x) for x in PROFILE)
    sigma_value = sympy.Rational(SIGMA_VALUE)
    steps, facts, market, names = _steps(utilities, values, symbols, economy.signals, profile, sigma_value)
    base = outdir / f"{NAME}-demand"
    _demand_figure(base, market, facts)
    a, m, c = symbols
    n = economy.n
    params = lambda xs: ", ".join(_exact_latex(values[x]) for x in xs)
    intro = ("Lemma 1 says that for every slope $\\sigma \\ge 0$ eq.~(1) has exactly one solution. "
             "The printed proof (Section 3) only says that A1 and A4 guarantee a unique demand "
             "$q_i(p, s)$ for each $p$ and then a unique price clearing the market; here the steps "
             "are carried out on a non-quadratic economy, where nothing is linear: $%d$ agents with "
             "$u_i(q, s) = (a_i s_i + b\\,\\frac{1}{N}\\sum_j s_j^2)\\,q - \\frac{m_i}{2} q^2 - c_i "
             "\\log\\cosh q$, $a = (%s)$, $m = (%s)$, $c = (%s)$, $b = %s$."
             % (n, params(a), params(m), params(c), _common.number_latex(values[_B])))
    closing = ("The argument uses A4 twice (each demand exists and is unique; aggregate demand "
               "falls) and A1 once (the bracket $[\\underline p, \\overline p] \\subset [-M, M]$ "
               "holds the price, so it exists). At $\\sigma = %s$ and $\\sigma = %s$ the same "
               "search gives $p^0(s) = %s$ and $p^1(s) = %s$; \\texttt{symmech.solve} (Newton on "
               "the whole system) agrees to more than 20 digits. Eq.~(1) as printed writes $mu$ "
               "without the agent's index; it is $\\mu_i$."
               % (FIGURE_SIGMAS[0], FIGURE_SIGMAS[2],
                  mpmath.nstr(mpmath.mpf(facts["prices"][sympy.Integer(0)]), 15),
                  mpmath.nstr(mpmath.mpf(facts["prices"][sympy.Integer(1)]), 15)))
    caption = ("Aggregate demand $\\sum_i q_i(p, s)$ at the worked profile against the reference "
               "price $p$, for three slopes $\\sigma$. Each curve falls and crosses zero once (dot: "
               "the $\\sigma$-WE price), inside the bracket $[\\min_i \\mu_i(0, s), \\max_i "
               "\\mu_i(0, s)]$ (shaded), which does not depend on $\\sigma$; the inset magnifies "
               "the three crossings, about $10^{-3}$ apart. A larger $\\sigma$ makes demand less "
               "price-sensitive.")
    return _common.write_section(outdir, NAME, TITLE, SOURCE, intro, steps, [(base, caption)],
                                 names=names, profile=profile, sigma_value=sigma_value,
                                 closing=closing, facts=facts)


if __name__ == "__main__":
    print(build(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(".")).tex)
