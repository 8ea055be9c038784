"""Example 3 of the paper: the naive transfers of eq. 2 are not incentive compatible (catalogue ``example1``).

In the fundamental value model u_i(q, s) = (alpha s_i + beta sbar) q - mu/2 q^2, agent 1 reports r
while the others report truthfully. With t_1 = (p + sigma q_1) q_1 the derivative of agent 1's
payoff at r = s_1 is q_1(s) times a negative number, so a buyer gains by understating; with the
transfers of eq. 4 the same derivative is 0. Run directly (``python derivations/example3.py
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

NAME = "example3"
TITLE = "Example 3: naive transfers are not incentive compatible"
SOURCE = "example1"
ORDER = 40                     # place in the paper: Example 3 follows eq. 2 in Section 2
PROFILE = ("0.87", "0.32", "0.45", "0.66", "0.31", "0.58")    # agent 1 buys, and trades the most
SIGMA_VALUE = "1"
_PRINTED_KEYS = ("ex3-foc", "ex3-price", "ex3-allocation", "ex3-ic-line2", "ex3-ic-line3", "ex3-direction")

_Q = sympy.Symbol("q")                       # the quantity symbol check_model expects
_R, _RHO, _P = _common.R, _common.RHO, _common.P
_SBAR = sympy.Symbol("sbar", real=True)      # the average signal, for display only
# Stand-ins for p^sigma(s) and q_1(s) when a step is written in terms of earlier ones.
_TP, _TQ = _common.T_P, _common.T_Q


def _model(economy):
    """The utilities with alpha, beta, mu as symbols, checked against the catalogue economy."""
    alpha, beta, mu = sympy.symbols("alpha beta mu", positive=True)
    signals = economy.signals
    mean = sympy.Add(*signals) / len(signals)
    utilities = [(alpha * s + beta * mean) * _Q - mu / 2 * _Q ** 2 for s in signals]
    p = economy.parameters
    values = {alpha: sympy.Rational(p["alpha"]), beta: sympy.Rational(p["beta"]), mu: sympy.Rational(p["mu"])}
    _common.check_model(utilities, values, economy)
    return utilities, values


def _derive(utilities, signals, sigma):
    """Every object of the section, with the parameters as symbols and the signals as s_1 and sbar.

    The last signal is replaced by N sbar minus the others right after the demands are solved for,
    so that SymPy works with s_1 and sbar only (the others cancel; checked).
    """
    n, s1 = len(signals), signals[0]
    mean_form = {signals[-1]: n * _SBAR - sympy.Add(*signals[:-1])}
    marginal = [sympy.expand(sympy.diff(u, _Q).subs(mean_form)) for u in utilities]
    demand = [sympy.cancel(sympy.solve(sympy.Eq(m, _P + sigma * _Q), _Q)[0]) for m in marginal]
    (price,) = sympy.solve(sympy.expand(sympy.Add(*demand)), _P)
    price = sympy.factor(price)
    q1 = sympy.factor(demand[0].subs(_P, price))
    if (price.free_symbols | q1.free_symbols) & set(signals[1:]):
        raise ArithmeticError("the others' signals did not cancel into sbar")
    naive = (price + sigma * q1) * q1
    # Agent 1 reports r: s_1 becomes r and the average moves by (r - s_1)/N.
    report = lambda x, r: x.subs({s1: r, _SBAR: _SBAR + (r - s1) / n}, simultaneous=True)
    q1_r, price_r = sympy.factor(report(q1, _R)), sympy.factor(report(price, _R))
    utility = sympy.collect(sympy.expand(utilities[0].subs(mean_form)), _Q)
    payoff = utility.subs(_Q, q1_r) - (price_r + sigma * q1_r) * q1_r       # V(r), true type s_1
    slope = sympy.diff(payoff, _R)
    at_truth = sympy.factor(slope.subs(_R, s1))
    per_unit = sympy.factor(sympy.cancel(at_truth / q1))
    impact = -(sympy.diff(price, s1) + sympy.diff(price, _SBAR) / n
               + sigma * (sympy.diff(q1, s1) + sympy.diff(q1, _SBAR) / n))
    if sympy.cancel(per_unit - impact) != 0:
        raise ArithmeticError("dV/dr at the truth is not -q_1 (dp/ds_1 + sigma dq_1/ds_1)")
    curvature = sympy.factor(sympy.diff(payoff, _R, 2))
    (best,) = sympy.solve(slope, _R)
    shade = sympy.factor(sympy.cancel((s1 - best) / (s1 - _SBAR)))      # r* = s_1 - shade (s_1 - sbar)
    if shade.free_symbols & {s1, _SBAR}:
        raise ArithmeticError("r* is not s_1 minus a multiple of s_1 - sbar")
    best_form = s1 - shade * (s1 - _SBAR)
    # V is exactly quadratic in r, so V(r*) - V(s_1) = V'(s_1) h + V'' h^2 / 2 with h = r* - s_1
    # (expanding V(r*) - V(s_1) directly is slow).
    if sympy.diff(payoff, _R, 3) != 0:
        raise ArithmeticError("V(r) is not quadratic in r")
    step = best_form - s1
    gain = sympy.factor(sympy.cancel(at_truth * step + curvature * step ** 2 / 2))
    # Eq. 4 from the pivotal report (boundary constant 0 there, eq. 7).
    (pivot,) = sympy.solve(q1_r, _R)
    schedule = report(price + sigma * q1, _RHO)
    ic_transfer = sympy.integrate(sympy.expand(schedule * sympy.diff(report(q1, _RHO), _RHO)), (_RHO, pivot, _R))
    ic_payoff = utility.subs(_Q, q1_r) - ic_transfer
    ic_slope = sympy.factor(sympy.diff(ic_payoff, _R))
    ic_at_truth = sympy.cancel(ic_slope.subs(_R, s1))
    own_response = sympy.factor(sympy.diff(q1, s1) + sympy.diff(q1, _SBAR) / n)      # dq_1/ds_1
    if own_response == 1:
        raise ArithmeticError("dq_1/ds_1 is 1: the printed last line would be the derivative")
    return dict(own_response=own_response, utility=utility, marginal=marginal[0], demand=demand[0], price=price, q1=q1, naive=naive,
                payoff=payoff, at_truth=at_truth, per_unit=per_unit, best=best, best_form=best_form,
                curvature=curvature, gain=gain, pivot=sympy.factor(pivot), ic_payoff=ic_payoff,
                ic_slope=ic_slope, ic_at_truth=ic_at_truth, q1_r=q1_r, price_r=price_r)


_NAMES = {_SBAR: "\\bar s"}


def _latex(expr):
    return sympy.latex(expr, symbol_names=_NAMES)


def _steps(d, signals, sigma, values, point, sigma_value):
    """The section's steps; every formula comes from :func:`_derive`."""
    s1 = signals[0]
    sbar_value = sympy.Add(*point.values()) / len(signals)
    numbers = {**values, sigma: sigma_value, s1: point[s1], _SBAR: sbar_value}
    at = lambda e: sympy.nsimplify(sympy.expand(e.subs(numbers)))
    price_value, q1_value = at(d["price"]), at(d["q1"])
    # V(r) as the model's utility of q_1(r, s_-1) minus the naive transfer, both as functions of r.
    others = sympy.Symbol("s_{-1}")
    q_of_r, p_of_r = sympy.Function("q_1")(_R, others), sympy.Function("p^{\\sigma}")(_R, others)
    composed = d["utility"].subs(_Q, q_of_r) - (p_of_r + sigma * q_of_r) * q_of_r
    steps = [
        _common.Step("Model", "Agent 1's utility; $q$ is the quantity agent 1 receives and $\\bar s$ "
                     "the average of all $N = %d$ signals." % len(signals),
                     "u_1(q, s)", d["utility"], {k: v for k, v in numbers.items() if k != sigma}),
        _common.Step("First-order condition (eq. 3)", "Agent 1's marginal utility must equal the "
                     "marginal price $p + \\sigma q$ (eq. 1). Solved for $q$, agent 1's demand at price $p$:",
                     "q_1(p, s)", d["demand"], numbers,
                     note=f"\\mu_1(q, s) = {_latex(d['marginal'])} = p + \\sigma q"),
        _common.Step("Reference price", "Every agent's demand has this form; they sum to zero "
                     "(market clearing). Solved for $p$:", "p^\\sigma(s)", d["price"], numbers),
        _common.Step("Allocation", "Putting $p^\\sigma(s)$ back into agent 1's demand; agent 1 is a "
                     "buyer at the worked profile:", "q_1(s)", d["q1"], numbers),
        _common.Step("Naive transfer (eq. 2)", "Agent 1 pays the marginal price $p^\\sigma + \\sigma q_1$ "
                     "for every unit:", "t_1(s)", (_TP + sigma * _TQ) * _TQ,
                     {_TP: price_value, _TQ: q1_value, sigma: sigma_value}),
        _common.Step("Payoff from a misreport", "Agent 1, whose true signal is $s_1$, reports $r$ while "
                     "the others report truthfully. It receives $q_1(r, s_{-1})$ and pays the naive "
                     "transfer at the reported profile, $t_1(r, s_{-1}) = [p^\\sigma(r, s_{-1}) + "
                     "\\sigma q_1(r, s_{-1})]\\, q_1(r, s_{-1})$, but values the units with its true "
                     "signal. The reported average is $\\bar s + (r - s_1)/N$, so",
                     "V(r)", sympy.factor(d["payoff"]), rhs_latex=_latex(composed),
                     result=at(d["payoff"]),
                     note=f"q_1(r, s_{{-1}}) = {_latex(d['q1_r'])}, \\quad "
                          f"p^\\sigma(r, s_{{-1}}) = {_latex(d['price_r'])}"),
        _common.Step("Local IC derivative", "Local IC needs $V'(s_1) = 0$. SymPy differentiates $V$ "
                     "and puts $r = s_1$:", "V'(s_1)", d["at_truth"], numbers),
        _common.Step("The derivative per unit traded", "Divided by $q_1(s)$ it is minus agent 1's "
                     "impact on its own marginal price, $-(\\partial p^\\sigma/\\partial s_1 + \\sigma\\, "
                     "\\partial q_1/\\partial s_1)$ (checked by SymPy), negative for every $\\alpha, \\beta, "
                     "\\mu > 0$ and $\\sigma \\ge 0$. So $V'(s_1) \\ne 0$ whenever $q_1(s) \\ne 0$: a "
                     "buyer gains by lowering its report, a seller by raising it.",
                     "\\frac{V'(s_1)}{q_1(s)}", d["per_unit"], numbers),
        _common.Step("Best misreport", "$V$ is a quadratic in $r$ with $V'' = %s < 0$; it is largest "
                     "where $V'(r) = 0$, below the truth for a buyer ($s_1 > \\bar s$):" % _latex(d["curvature"]),
                     "r^*", d["best_form"], numbers),
        _common.Step("Gain from the misreport", "What agent 1 gains by reporting $r^*$ instead of "
                     "the truth:", "V(r^*) - V(s_1)", d["gain"], numbers),
        _common.Step("With the transfers of eq. 4", "Replace the naive transfer by eq.~(4), integrated "
                     "from the pivotal report $r_1 = %s$ (the others' average signal; there "
                     "$q_1(r_1, s_{-1}) = 0$ and the boundary constant of eq.~(7) is 0): "
                     "$t_1(r, s_{-1}) = \\int_{r_1}^{r} [p^\\sigma(\\rho, s_{-1}) + \\sigma q_1(\\rho, s_{-1})]"
                     "\\, \\frac{\\partial q_1(\\rho, s_{-1})}{\\partial\\rho} \\, d\\rho$. The payoff "
                     "$V^{\\mathrm{IC}}(r) = u_1(q_1(r, s_{-1}), s) - t_1(r, s_{-1})$ then has the slope "
                     "below: it vanishes at the truth $r = s_1$ for every profile and every $\\sigma$, "
                     "is positive below it and negative above, so truth-telling is optimal."
                     % _latex(d["pivot"]),
                     "\\frac{d V^{\\mathrm{IC}}(r)}{d r}", d["ic_slope"], numbers),
    ]
    facts = dict(best=at(d["best"]), gain=at(d["gain"]), derivative=at(d["at_truth"]),
                 per_unit=at(d["per_unit"]), ic_derivative=d["ic_at_truth"], allocation=q1_value,
                 price=price_value, payoff=at(d["payoff"]), ic_payoff=at(d["ic_payoff"]))
    return steps, facts


def _figure(base, facts, s1_value):
    """Agent 1's true-type payoff against its report r, naive transfers and eq.-4 transfers."""
    import numpy as np
    plt = _common.pyplot()
    naive = sympy.lambdify(_R, facts["payoff"], "numpy")
    ic = sympy.lambdify(_R, facts["ic_payoff"], "numpy")
    best, truth, gain = float(facts["best"]), float(s1_value), float(facts["gain"])
    rs = np.linspace(max(0.0, 2 * best - truth - 0.1), min(1.0, truth + 0.1), 301)
    fig, ax = plt.subplots(figsize=(6.0, 4.0))
    ax.plot(rs, naive(rs), color="C0", label="naive transfers (eq. 2): $V(r)$")
    ax.plot(rs, ic(rs), color="C2", label=r"IC transfers (eq. 4): $V^{\mathrm{IC}}(r)$")
    ax.axvline(truth, color="black", linestyle=":", linewidth=1)
    ax.axvline(best, color="C3", linestyle="--", linewidth=1)
    ax.plot([truth], [float(naive(truth))], "o", color="C0")
    ax.plot([truth], [float(ic(truth))], "o", color="C2", label="IC maximum: the truth $s_1$")
    ax.plot([best], [float(naive(best))], "o", color="C3", label="naive maximum: the lie $r^*$")
    # the gain: from the truthful payoff up to the payoff at the lie
    ax.annotate("", xy=(best, float(naive(best))), xytext=(best, float(naive(truth))),
                arrowprops=dict(arrowstyle="<->", color="C3"))
    ax.hlines(float(naive(truth)), best, truth, colors="C0", linestyles=":", linewidth=1)
    middle = (float(naive(best)) + float(naive(truth))) / 2
    ax.annotate(f"lie $r^* = {best:.4f}$\ngain $V(r^*) - V(s_1)$\n$= {gain:.5f}$", (best, middle),
                xytext=(-8, 0), textcoords="offset points", ha="right", va="center", fontsize=10, color="C3")
    ax.annotate(f"truth $s_1 = {truth:g}$", (truth, float(ic(truth))), xytext=(-6, -14),
                textcoords="offset points", ha="right", fontsize=10)
    ax.set_xlabel("reported signal $r$ of agent 1")
    ax.set_ylabel("agent 1's true payoff $u_1 - t_1$")
    ax.legend(loc="lower center", fontsize=9)
    _common.save_figure(fig, base)


def build(outdir):
    """Write ``example3.tex`` and its figure into ``outdir``; return the Section."""
    import symmech
    from symmech.symbolic import SIGMA

    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    economy = symmech.load_model(SOURCE)
    utilities, values = _model(economy)
    signals = economy.signals
    profile = tuple(sympy.Rational(x) for x in PROFILE)
    sigma_value = sympy.Rational(SIGMA_VALUE)
    point = dict(zip(signals, profile))
    d = _derive(utilities, signals, SIGMA)
    steps, facts = _steps(d, signals, SIGMA, values, point, sigma_value)
    if not (facts["allocation"] > 0 and facts["best"] < profile[0] and facts["gain"] > 0 and facts["ic_derivative"] == 0):
        raise ArithmeticError("example3: the worked profile does not show a buyer's profitable understatement")
    figure = outdir / f"{NAME}-misreport"
    _figure(figure, facts, profile[0])
    intro = ("Eq.~(2) suggests charging each agent the marginal price $p^\\sigma + \\sigma q_i$ for "
             "every unit it trades. The paper's Example 3 shows that an agent who knows the others' "
             "signals then gains by misreporting: it moves the reference price in its favour. Here "
             "SymPy derives agent 1's payoff from a report $r$ in the fundamental value model of "
             "Example 1 ($u_i = (\\alpha s_i + \\beta \\bar s) q - \\mu q^2/2$; the catalogue economy "
             "has $N = %d$, $\\alpha = %s$, $\\beta = %s$, $\\mu = %s$), finds the local IC condition, "
             "the best lie and its gain, and contrasts them with the transfers of eq.~(4)."
             % (economy.n, *(_common.number_latex(v) for v in values.values())))
    closing = ("\\noindent At the worked profile agent 1 buys $q_1 = %s$ units; by understating its "
               "signal from $s_1 = %s$ to $r^* = %s$ it lowers the price it pays by more than the value "
               "of the units it gives up, and gains $%s$. Under the transfers of eq.~(4) every unit "
               "is paid at the price that made agent 1 pivotal for it, so the report no longer moves "
               "what agent 1 pays for the units it keeps, and truth-telling is optimal "
               "(Figure~\\ref{fig:example3-misreport}).\n\n\\noindent The paper's last line of the local IC "
               "condition, $q_i(s)(\\partial p^\\sigma/\\partial s_i + \\sigma)$, is not the derivative "
               "itself: the derivative above is $-q_1(s)(\\partial p^\\sigma/\\partial s_1 + \\sigma\\, "
               "\\partial q_1/\\partial s_1)$ with $\\partial q_1/\\partial s_1 = %s \\ne 1$. Both vanish "
               "exactly when $q_1(s) = 0$, so the paper's conclusion stands."
               % (_common.number_latex(facts["allocation"]), _common.number_latex(profile[0]),
                  _common.number_latex(facts["best"]), _common.number_latex(facts["gain"]), _latex(d["own_response"])))
    caption = ("Agent 1's payoff with its true signal $s_1$ against its report $r$, the others "
               "truthful, at the worked profile. Blue: naive transfers (eq.~2), largest at the lie "
               "$r^* < s_1$ (red); green: transfers of eq.~(4), largest at the truth $r = s_1$ "
               "(dotted).\\label{fig:example3-misreport}")
    return _common.write_section(outdir, NAME, TITLE, SOURCE, intro, steps, [(figure, caption)],
                                 names=_NAMES, differences=_common.differences(_PRINTED_KEYS),
                                 profile=profile, sigma_value=sigma_value, closing=closing, facts=facts)


if __name__ == "__main__":
    print(build(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(".")).tex)
