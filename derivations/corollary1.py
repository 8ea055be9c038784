"""Corollary 1 of the paper made concrete: the Walrasian allocation with IC, IR transfers runs a
deficit (catalogue ``heterogeneous``).

At sigma = 0 every agent's transfer of eq. 4, integrated from its pivotal report, is
t_i = p* q_i + kappa_i q_i^2 / 2 with kappa_i < 0: a buyer pays p* for the marginal unit and less
for every inframarginal one, a seller receives more. Summed, sum_i t_i = sum_i kappa_i q_i^2/2 < 0.
Run directly (``python derivations/corollary1.py OUTDIR``) or through ``symmech report``.
"""

import sys
from pathlib import Path

import sympy

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)
import _common  # noqa: E402  (the shared helpers sit next to this script)

__all__ = ["NAME", "TITLE", "SOURCE", "ORDER", "PROFILE", "BOUNDARY_PROFILE", "build"]

NAME = "corollary1"
TITLE = "Corollary 1: the Walrasian allocation with IC, IR transfers runs a deficit"
SOURCE = "heterogeneous"
ORDER = 70                     # place in the paper: Corollary 1 follows Lemma 2
PROFILE = ("0.8", "0.32", "0.45", "0.66", "0.31")      # every pivot interior; agent 1 buys
BOUNDARY_PROFILE = ("0.9", "0.95", "1", "0.9", "0.85")  # agent 3 sells at every report: boundary type 1

_Q = sympy.Symbol("q")
_R, _RHO, _P = _common.R, _common.RHO, _common.P
_X = sympy.Symbol("x", real=True)
_W = sympy.Symbol("W", positive=True)             # sum_j 1/mu_j, the market's total demand slope


def _model(economy):
    """The utilities with alpha_i, mu_i, beta as symbols, checked against the catalogue economy."""
    utilities, values, alphas, mus, beta = _common.heterogeneous_model(economy, _Q)
    return utilities, values, (alphas, mus, beta)


def _derive(utilities, signals, values):
    """The Walrasian price and allocation (sigma = 0), the pivots, the eq.-4 transfers and kappa_i(0)."""
    marginal = [sympy.diff(u, _Q) for u in utilities]
    demand = [sympy.solve(sympy.Eq(m, _P), _Q)[0] for m in marginal]           # FOC at sigma = 0
    (price,) = sympy.solve(sympy.Add(*demand), _P)
    allocation = [d.subs(_P, price) for d in demand]
    impact = [sympy.factor(sympy.diff(price, s)) for s in signals]              # dp*/ds_i
    response = [sympy.factor(sympy.diff(q, s)) for q, s in zip(allocation, signals)]   # dq_i/ds_i
    numeric = lambda e: sympy.expand(e.subs(values))
    price_n, allocation_n = numeric(price), [numeric(q) for q in allocation]
    pivots, transfers = [], []
    for q_i, s_i in zip(allocation_n, signals):
        (pivot,) = sympy.solve(q_i.subs(s_i, _R), _R)
        # eq. 4 from the pivotal report, where eq. 7's boundary constant is zero (q_i = 0 there)
        t_i = sympy.integrate(sympy.expand(price_n.subs(s_i, _RHO) * sympy.diff(q_i.subs(s_i, _RHO), _RHO)),
                              (_RHO, pivot, s_i))
        pivots.append(sympy.expand(pivot))
        transfers.append(sympy.expand(t_i))
    return dict(utility=utilities[0], marginal=marginal, demand=demand, price=price, allocation=allocation, impact=impact,
                response=response, price_n=price_n, allocation_n=allocation_n, pivots=pivots,
                transfers=transfers)


def _kappas(d, signals, profiles):
    """kappa_i(0) = 2 (t_i - p* q_i) / q_i^2, read off at the first profile and checked at the others
    (it depends on the parameters only), and checked against -(dp*/ds_i) / (dq_i/ds_i)."""
    kappas = []
    for i, s_i in enumerate(signals):
        found = set()
        for point in profiles:
            q_i = d["allocation_n"][i].subs(point)
            found.add(sympy.nsimplify(2 * (d["transfers"][i].subs(point) - d["price_n"].subs(point) * q_i) / q_i ** 2))
        if len(found) != 1:
            raise ArithmeticError(f"agent {i + 1}: t_i - p* q_i is not a constant times q_i^2")
        kappas.append(found.pop())
    return kappas


def _weights_form(expr, mus, weights):
    """``expr`` with mu_j = 1/w_j and the last w_j = W - (the others): SymPy's rewrite, factored."""
    rewritten = expr.subs({m: 1 / w for m, w in zip(mus, weights)})
    rewritten = sympy.factor(sympy.cancel(rewritten.subs(weights[-1], _W - sympy.Add(*weights[:-1]))))
    return rewritten


def _steps(d, signals, symbols, values, point, kappas, boundary):
    alphas, mus, beta = symbols
    weights = sympy.symbols(f"w_1:{len(signals) + 1}", positive=True)
    n = len(signals)
    at = lambda e: sympy.nsimplify(sympy.expand(e.subs(values).subs(point)))
    p_star, q = at(d["price"]), [at(x) for x in d["allocation"]]
    t = [sympy.nsimplify(x.subs(point)) for x in d["transfers"]]
    seller = min(range(n), key=lambda i: q[i])
    w_values = {**{w: 1 / values[m] for w, m in zip(weights, mus)}, _W: sum(1 / values[m] for m in mus)}
    shown_values = {**w_values, alphas[0]: values[alphas[0]], beta: values[beta]}
    impact_w = _weights_form(d["impact"][0], mus, weights)
    response_w = _weights_form(d["response"][0], mus, weights)
    kappa_w = sympy.factor(sympy.cancel(-impact_w / response_w))
    if kappa_w.subs(shown_values) != kappas[0]:
        raise ArithmeticError("kappa_1 from the integral differs from -(dp*/ds_1)/(dq_1/ds_1)")
    T_P, T_Q, T_K = sympy.Symbol("p^{*}"), _common.T_Q, _common.T_K
    Ks = sympy.symbols(f"\\kappa_1:{n + 1}")
    Qs = sympy.symbols(f"q_1:{n + 1}")
    surplus = sympy.Add(*[k * x ** 2 for k, x in zip(Ks, Qs)]) / 2
    surplus_values = {**dict(zip(Ks, kappas)), **dict(zip(Qs, q))}
    if sum(t) != surplus.subs(surplus_values):
        raise ArithmeticError("sum_i t_i differs from sum_i kappa_i q_i^2 / 2")
    T_S = sympy.Symbol("q_%d" % (seller + 1))
    T_KS = sympy.Symbol("\\kappa_%d" % (seller + 1))
    steps = [
        _common.Step("Model", "Agent 1's utility; each agent $i$ has its own $\\alpha_i$ and $\\mu_i$, "
                     "$\\beta$ is common and $\\bar s$ is the average of all $N = %d$ signals:" % n,
                     "u_1(q, s)", _mean_form(d["utility"], signals),
                     {**values, signals[0]: point[signals[0]], _SBAR: sum(point.values()) / n}),
        _common.Step("Walrasian demand", "At $\\sigma = 0$ the first-order condition (eq. 1) is "
                     "$\\mu_i(q, s) = p$; solved for $q$, agent $i$'s demand at price $p$ (agent 1 shown):",
                     "q_1(p, s)", sympy.cancel(_mean_form(d["demand"][0], signals)),
                     {**values, signals[0]: point[signals[0]], _SBAR: sum(point.values()) / n}),
        _common.Step("Walrasian price", "The demands sum to zero; SymPy solves for $p$. With the "
                     "catalogue's parameters the Walrasian price is linear in the signals:",
                     "p^*(s)", d["price_n"], point),
        _common.Step("Walrasian allocation", "Agent 1's demand at $p^*(s)$; agent 1 buys at the "
                     "worked profile:", "q_1(s)", d["allocation_n"][0], point),
        _common.Step("Pivotal report", "The report $r_1$ at which agent 1 would not trade, "
                     "$q_1(r_1, s_{-1}) = 0$; it lies in $(0, 1)$, so eq.~(7)'s boundary constant is zero:",
                     "r_1", d["pivots"][0], point),
        _common.Step("Price impact", "How much agent 1's report moves the Walrasian price "
                     "(Lemma 2), written with the demand slopes $w_j = 1/\\mu_j$ and their sum "
                     "$W = \\sum_j w_j$:", "\\frac{\\partial p^*}{\\partial s_1}", impact_w, shown_values),
        _common.Step("Quantity response", "How much agent 1's report moves its own allocation:",
                     "\\frac{\\partial q_1}{\\partial s_1}", response_w, shown_values),
        _common.Step("Transfer integral", "Eq.~(4) at $\\sigma = 0$: agent 1 pays, for its $x$-th "
                     "unit, the Walrasian price at the report $s_1(x)$ that would have given it $x$ "
                     "units. Both $p^*$ and $q_1$ are linear in the report, so SymPy integrates to "
                     "$p^* q_1 + \\kappa_1 q_1^2/2$ (checked at two profiles), with "
                     "$\\kappa_1(0) = -(\\partial p^*/\\partial s_1)/(\\partial q_1/\\partial s_1)$:",
                     "t_1(s)", T_P * T_Q + T_K * T_Q ** 2 / 2, {T_P: p_star, T_Q: q[0], T_K: kappas[0]},
                     rhs_latex="\\int_{r_1}^{s_1} p^*(\\rho, s_{-1})\\, \\frac{\\partial q_1(\\rho, s_{-1})}"
                               "{\\partial \\rho}\\, d\\rho"),
        _common.Step("The coefficient is negative", "Every $w_j > 0$ and $W > w_1$, so "
                     "$\\kappa_1(0) < 0$: the price of an inframarginal unit, $p^*(s_1(x), s_{-1})$ "
                     "with $s_1(x) < s_1$, is below $p^*(s)$.",
                     "\\kappa_1(0)", kappa_w, shown_values),
        _common.Step("Average price of a buyer", "Agent 1 pays per unit",
                     "\\frac{t_1}{q_1} - p^*", T_K * T_Q / 2, {T_Q: q[0], T_K: kappas[0]},
                     tail="< 0"),
        _common.Step("Average price of a seller", "Agent %d sells (the same steps give its "
                     "$\\kappa_%d(0)$); it receives per unit sold" % (seller + 1, seller + 1),
                     "\\frac{t_%d}{q_%d} - p^*" % (seller + 1, seller + 1), T_KS * T_S / 2,
                     {T_S: q[seller], T_KS: kappas[seller]}, tail="> 0"),
        _common.Step("Budget surplus", "Summing $t_i = p^* q_i + \\kappa_i q_i^2/2$ over the agents, "
                     "$p^* \\sum_i q_i = 0$ by market clearing, so (checked against the sum of the "
                     "integrated transfers)", "\\sum_i t_i", surplus, surplus_values, tail="< 0"),
    ]
    steps += _boundary_steps(d, signals, boundary)
    facts = dict(price=p_star, allocation=q, transfers=t, kappas=kappas, surplus=sum(t),
                 pivots=[at(x) for x in d["pivots"]], seller=seller + 1,
                 price_n=d["price_n"], allocation_n=d["allocation_n"])
    return steps, facts


_SBAR = sympy.Symbol("\\bar s")


def _mean_form(expr, signals):
    """``expr`` with sbar for the average (the last signal rewritten as N sbar - the others)."""
    n = len(signals)
    u = sympy.expand(expr.subs(signals[-1], n * _SBAR - sympy.Add(*signals[:-1])))
    return sympy.collect(u, _Q)


def _boundary_steps(d, signals, boundary):
    """The boundary case: agent 3 sells at every report r <= 1 and reports s_3 = 1."""
    k = 2
    q_k = d["allocation_n"][k]
    pivot = sympy.nsimplify(d["pivots"][k].subs(boundary))
    at_one = sympy.nsimplify(q_k.subs(boundary))
    return [_common.Step("At a boundary type", "At the profile $s' = (%s)$ agent 3 sells even at "
                         "its highest report, so its pivotal report lies above 1 and eq.~(7) takes "
                         "the highest report, 1, as its boundary type. Its signal is that boundary type: "
                         "the integral of eq.~(4) is empty and $t_3(s') = p^*(s')\\, q_3(s')$, no "
                         "shortfall. The pivotal report (with $q_3(s') = %s$):"
                         % (", ".join(_common.number_latex(x) for x in boundary.values()),
                            _common.number_latex(at_one)),
                         "r_3", d["pivots"][k], boundary, tail="> 1")] if pivot > 1 and at_one < 0 else []


def _schedule_figure(base, d, facts, signals, point):
    """Agent 1's per-unit price p*(s_1(x), s_-1) against the unit x, with p*(s); the gap shaded."""
    import numpy as np
    plt = _common.pyplot()
    s1 = signals[0]
    rest = {k: v for k, v in point.items() if k != s1}
    (report,) = sympy.solve(sympy.Eq(d["allocation_n"][0].subs(rest).subs(s1, _R), _X), _R)
    unit_price = sympy.lambdify(_X, d["price_n"].subs(rest).subs(s1, report), "numpy")
    q1, p_star = float(facts["allocation"][0]), float(facts["price"])
    xs = np.linspace(0.0, q1, 200)
    ys = np.broadcast_to(np.asarray(unit_price(xs), dtype=float), xs.shape)
    shortfall = -float(facts["kappas"][0]) * q1 ** 2 / 2
    fig, ax = plt.subplots(figsize=(6.0, 3.8))
    ax.plot(xs, ys, color="C0", label=r"price of unit $x$: $p^*(s_1(x), s_{-1})$")
    ax.axhline(p_star, color="C3", linestyle="--", label=f"Walrasian price $p^*(s) = {p_star:.4f}$")
    ax.fill_between(xs, ys, p_star, color="C3", alpha=0.25,
                    label=f"shortfall $p^* q_1 - t_1 = {shortfall:.5f}$")
    ax.set_xlabel("unit $x$ bought by agent 1 ($0 \\leq x \\leq q_1$)")
    ax.set_ylabel("price per unit")
    ax.set_xlim(0, q1)
    ax.legend(loc="lower right", fontsize=9)
    _common.save_figure(fig, base)


def _surplus_in_sigma(utilities, values, signals, point, sigma):
    """sum_i t_i at ``point`` as a function of the slope sigma (eq. 4 from each pivot; the worked
    profile's pivots stay interior for the sigma shown), with the parameters put in."""
    marginal = [sympy.diff(u.subs(values), _Q) for u in utilities]
    demand = [sympy.solve(sympy.Eq(m, _P + sigma * _Q), _Q)[0] for m in marginal]
    (price,) = sympy.solve(sympy.Add(*demand), _P)
    total = 0
    for d_i, s_i in zip(demand, signals):
        rest = {k: v for k, v in point.items() if k != s_i}
        q_i = sympy.cancel(d_i.subs(_P, price).subs(rest))
        p_i = sympy.cancel(price.subs(rest))
        (pivot,) = sympy.solve(q_i.subs(s_i, _R), _R)
        # the integrand is a polynomial in rho: integrate its antiderivative (cancelling the
        # rational functions of sigma on the way is slow, and only numbers are needed from here)
        integrand = sympy.Poly(sympy.expand((p_i + sigma * q_i).subs(s_i, _RHO)
                                            * sympy.diff(q_i.subs(s_i, _RHO), _RHO)), _RHO)
        antiderivative = integrand.integrate().as_expr()
        total += antiderivative.subs(_RHO, point[s_i]) - antiderivative.subs(_RHO, pivot)
    return total


def _mpf(x):
    import mpmath
    x = sympy.sympify(x)
    if x.is_Rational:
        return mpmath.mpf(int(x.p)) / int(x.q)
    return mpmath.mpf(str(sympy.N(x, 40)))       # an algebraic number (a CRootOf), to 40 digits


def _surplus_figure(base, surplus, sigma, threshold):
    """The budget surplus at the worked profile against sigma, with its zero and the BS threshold."""
    import numpy as np
    plt = _common.pyplot()
    import mpmath
    f = sympy.lambdify(sigma, surplus, "mpmath")
    with mpmath.workdps(30):       # surplus(0) < 0 <= surplus(threshold): a sign change to bisect
        crossing = mpmath.findroot(f, (mpmath.mpf(0), _mpf(threshold)), solver="anderson")
        crossing = sympy.Float(crossing, 30)
    f = sympy.lambdify(sigma, surplus, "numpy")
    top = 1.6 * float(max(threshold, crossing))
    xs = np.linspace(0.0, top, 300)
    fig, ax = plt.subplots(figsize=(6.0, 3.6))
    ax.plot(xs, f(xs), color="C1", label="budget surplus $\\Sigma_i\\, t_i$ at the worked profile")
    ax.axhline(0, color="black", linewidth=0.6)
    ax.plot([0], [float(f(0))], "o", color="C3", label=f"$\\sigma = 0$ (Corollary 1): {float(f(0)):.4f}")
    ax.plot([float(crossing)], [0], "o", color="C2", label=f"zero at this profile: $\\sigma = {float(crossing):.4f}$")
    ax.axvline(float(threshold), color="C2", linestyle="--",
               label=f"BS threshold $\\sigma^* = {float(sympy.N(threshold, 20)):.4f}$")
    ax.set_xlabel("slope $\\sigma$ of the price schedule")
    ax.set_ylabel("budget surplus $\\Sigma_i\\, t_i$")
    ax.legend(loc="lower right", fontsize=9)
    _common.save_figure(fig, base)
    return crossing


def build(outdir):
    """Write ``corollary1.tex`` and its figure into ``outdir``; return the Section."""
    import symmech

    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    economy = symmech.load_model(SOURCE)
    utilities, values, symbols = _model(economy)
    signals = economy.signals
    point = dict(zip(signals, (sympy.Rational(x) for x in PROFILE)))
    boundary = dict(zip(signals, (sympy.Rational(x) for x in BOUNDARY_PROFILE)))
    other = dict(zip(signals, (sympy.Rational(k + 2, 11) for k in range(len(signals)))))
    d = _derive(utilities, signals, values)
    kappas = _kappas(d, signals, [point, other])
    steps, facts = _steps(d, signals, symbols, values, point, kappas, boundary)
    if not all(0 < r < 1 for r in facts["pivots"]):
        raise ValueError(f"corollary1: the worked profile needs every pivot in (0, 1), got {facts['pivots']}")
    if not (facts["surplus"] < 0 and all(k < 0 for k in kappas) and facts["allocation"][0] > 0):
        raise ArithmeticError("corollary1: the worked profile does not show the deficit")
    figure = outdir / f"{NAME}-schedule"
    _schedule_figure(figure, d, facts, signals, point)
    from symmech.symbolic import SIGMA
    surplus = _surplus_in_sigma(utilities, values, signals, point, SIGMA)
    if surplus.subs(SIGMA, 0) != facts["surplus"]:
        raise ArithmeticError("corollary1: the surplus at sigma = 0 differs between the two derivations")
    threshold = symmech.derive(economy).bs_threshold
    surplus_figure = outdir / f"{NAME}-surplus"
    facts["crossing"] = _surplus_figure(surplus_figure, surplus, SIGMA, threshold)
    facts["threshold"] = threshold
    intro = ("Corollary~1 says that the Walrasian allocation ($\\sigma = 0$) with incentive "
             "compatible, individually rational transfers runs a budget deficit at every profile where "
             "someone trades and every signal is interior. Here SymPy builds those transfers from "
             "eq.~(4) in the heterogeneous fundamental value model $u_i = (\\alpha_i s_i + \\beta \\bar s) q "
             "- \\mu_i q^2/2$ ($N = %d$, $\\alpha = (%s)$, $\\mu = (%s)$, $\\beta = %s$), and shows where "
             "the deficit comes from." % (
                 economy.n, ", ".join(_common.number_latex(values[a]) for a in symbols[0]),
                 ", ".join(_common.number_latex(values[m]) for m in symbols[1]),
                 _common.number_latex(values[symbols[2]])))
    seller = facts["seller"]
    closing = ("\\noindent This is the proof sketch of Corollary~1 made concrete: each buyer pays "
               "$p^*(s)$ for the marginal unit and strictly less, $p^*(s_i', s_{-i})$ with $s_i' < s_i$, "
               "for every inframarginal unit (Figure~\\ref{fig:corollary1-schedule}); each seller "
               "receives strictly more. At the worked profile agent 1 pays on average $%s$ below "
               "$p^* = %s$, agent %d receives $%s$ above it, and the budget surplus is $\\sum_i t_i = %s < 0$. "
               "The hypothesis $s_i \\in (0, 1)$ matters: an agent whose signal is its boundary type "
               "(the last step) trades all its units at $p^*$ and adds nothing to the deficit; if every "
               "trading agent were at its boundary type the budget would balance."
               % (_common.number_latex(-kappas[0] * facts["allocation"][0] / 2), _common.number_latex(facts["price"]),
                  seller, _common.number_latex(kappas[seller - 1] * facts["allocation"][seller - 1] / 2),
                  _common.number_latex(facts["surplus"])))
    caption = ("Agent 1's price for its $x$-th unit under the IC transfers at $\\sigma = 0$ "
               "(the Walrasian price at the report $s_1(x)$ that would give it $x$ units), against "
               "the Walrasian price $p^*(s)$ it pays at the margin; the shaded area is what agent 1 "
               "pays less than $p^* q_1$.\\label{fig:corollary1-schedule}")
    surplus_caption = ("The budget surplus $\\sum_i t_i$ at the worked profile against the slope "
                       "$\\sigma$ (eq. 4 from each pivotal report): negative at $\\sigma = 0$ as "
                       "Corollary~1 says, zero at $\\sigma = %s$, and non-negative at every profile once "
                       "$\\sigma$ reaches the economy's BS threshold $\\sigma^* = %s$ (dashed, from "
                       "\\texttt{symmech.derive})."
                       % (sympy.latex(sympy.Float(facts["crossing"], 8)),
                          sympy.latex(sympy.N(threshold, 8))))
    figures = [(figure, caption), (surplus_figure, surplus_caption)]
    return _common.write_section(outdir, NAME, TITLE, SOURCE, intro, steps, figures,
                                 profile=tuple(point.values()), sigma_value=0, closing=closing, facts=facts)


if __name__ == "__main__":
    print(build(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(".")).tex)
