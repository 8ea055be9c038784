"""Proposition 1 of the paper, the IC transfers of a sigma-WE mechanism, followed step by step
on the heterogeneous fundamental value model (catalogue ``heterogeneous``).

u_i(q, s) = (alpha_i s_i + beta sbar) q - mu_i/2 q^2 for five agents. The section derives the
sigma-WE, one agent's allocation against its own report, the per-unit price of eq. (4), the
transfer by the two integrals of the proof, the boundary constants of eq. (7) in both cases the
economy allows, IR of the boundary type (eq. 6) and global IC. Run directly (``python
derivations/proposition1.py OUTDIR``) or through ``symmech report``.
"""

import sys
from pathlib import Path

import sympy

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)
import _common  # noqa: E402  (the shared helpers sit next to this script)

__all__ = ["NAME", "TITLE", "SOURCE", "ORDER", "PROFILE", "SIGMA_VALUE", "BUYER", "SELLER", "EDGE",
           "build"]

NAME = "proposition1"
TITLE = "Proposition 1: the transfers of an IR, IC sigma-WE mechanism"
SOURCE = "heterogeneous"
ORDER = 50                     # place in the paper: Proposition 1 opens Section 3
PROFILE = ("0.9", "0.95", "0.6", "0.95", "0.7")
SIGMA_VALUE = "1"
BUYER = 2                      # buys, with its pivotal report inside [0, 1]
SELLER = 5                     # sells, with its pivotal report inside [0, 1]
EDGE = 3                       # sells at every report: its boundary type is the top report 1
_PRINTED_KEYS = ("eq7-buyer", "eq7-seller")

R, X, RHO = sympy.symbols("r x rho", real=True)
_Q = sympy.Symbol("q", real=True)
_BETA = sympy.Symbol("beta", positive=True)
_SBAR = sympy.Symbol("sbar", real=True)
_P = sympy.Symbol("p", real=True)


# ---------------------------------------------------------------- the model


def _model(economy):
    """Symbols and exact values of the economy; the utilities are checked against the catalogue."""
    utilities, values, alphas, gammas, _ = _common.heterogeneous_model(economy, _Q, curvature="gamma")
    shown = [(a * s + _BETA * _SBAR) * _Q - g / 2 * _Q ** 2 for a, g, s in zip(alphas, gammas, economy.signals)]
    return alphas, gammas, utilities, shown, values


def _equilibrium(economy, sigma, alphas, gammas, shown, parameters):
    """Marginal utilities, demand, the price in its display form, and the allocation (symbolic).

    ``shown``: the utilities with sbar as a symbol. Market clearing is linear in p; it is solved
    with the parameters' values put in (with ten parameter symbols it is slow) and the display
    form, beta sbar + sum_i w_i alpha_i s_i / sum_i w_i with w_i = 1/(gamma_i + sigma), is
    checked against that solution.
    """
    n = economy.n
    signals = economy.signals
    marginal = [sympy.diff(u, _Q) for u in shown]
    demand = [sympy.solve(sympy.Eq(m, _P + sigma * _Q), _Q)[0] for m in marginal]
    (solved,) = sympy.solve(sympy.Add(*demand).subs(parameters), _P)
    weights = [1 / (g + sigma) for g in gammas]
    compact = _BETA * _SBAR + sympy.Add(*[a * s * w for a, s, w in zip(alphas, signals, weights)]) / sympy.Add(*weights)
    mean = sympy.Add(*signals) / n
    if sympy.cancel(sympy.together(solved - compact.subs(parameters))) != 0:
        raise ArithmeticError("market clearing did not give beta sbar + sum w_i alpha_i s_i / sum w_i")
    allocation = [d.subs(_P, compact).subs(_SBAR, mean) for d in demand]
    return marginal, demand, compact, allocation, weights


# ---------------------------------------------------------------- one agent, numbers in


def _agent(k, economy, sigma, sigma_value, utilities, allocation, price, parameters, point):
    """Agent k's exact objects at the worked profile: q_k(r), its slope, boundary type, transfer
    by units and by reports, utility and the payoff V(r) of a report r."""
    s_k = economy.signals[k - 1]
    numbers = {**parameters, sigma: sigma_value}
    others = {s: v for s, v in point.items() if s != s_k}
    q_r = sympy.expand(allocation[k - 1].subs(numbers).subs(others).subs(s_k, R))
    p_r = sympy.expand(price.subs(numbers).subs(others).subs(s_k, R))
    slope = sympy.diff(q_r, R)
    if sympy.diff(q_r, R, 2) != 0 or slope <= 0:
        raise ArithmeticError(f"agent {k}: q_k(r) is not linear and strictly increasing")
    (pivot,) = sympy.solve(q_r, R)
    boundary = pivot if 0 <= pivot <= 1 else (0 if q_r.subs(R, 0) > 0 else 1)
    q_b, p_b = q_r.subs(R, boundary), p_r.subs(R, boundary)
    t_b = (p_b + sigma_value * q_b) * q_b                      # eq. (7) as derived
    (report_of,) = sympy.solve(sympy.Eq(q_r, X), R)             # s_k(x), the report that buys x
    schedule = sympy.expand(p_r.subs(R, report_of) + sigma_value * X)
    marginal = sympy.diff(utilities[k - 1], _Q).subs(numbers).subs(others).subs(s_k, report_of).subs(_Q, X)
    if sympy.expand(marginal - schedule) != 0:
        raise ArithmeticError(f"agent {k}: mu_k(x, (s_k(x), s_-k)) is not p^sigma(s_k(x), s_-k) + sigma x")
    s_true = point[s_k]
    q_s = q_r.subs(R, s_true)
    by_units = t_b + sympy.integrate(schedule, (X, q_b, q_s))
    per_report = sympy.expand((p_r + sigma_value * q_r) * slope).subs(R, RHO)
    transfer_of = sympy.expand(t_b + sympy.integrate(per_report, (RHO, boundary, R)))   # t_k(r, s_-k)
    by_reports = transfer_of.subs(R, s_true)
    if by_units != by_reports:
        raise ArithmeticError(f"agent {k}: the integral over units and over reports differ")
    u_true = utilities[k - 1].subs(numbers).subs(point)           # u_k(q, s) at the true signals
    payoff = sympy.expand(u_true.subs(_Q, q_r) - transfer_of)     # V(r)
    utility = payoff.subs(R, s_true)
    regret = sympy.expand(payoff - utility)
    c = -regret.coeff(R, 2)
    if sympy.expand(regret + c * (R - s_true) ** 2) != 0 or c <= 0:
        raise ArithmeticError(f"agent {k}: V(r) - V(s_k) is not -c (r - s_k)^2 with c > 0")
    u_b = utilities[k - 1].subs(numbers).subs(others).subs(s_k, boundary).subs(_Q, q_b)
    return dict(agent=k, q_r=q_r, p_r=p_r, slope=slope, pivot=pivot, boundary=boundary, q_b=q_b, p_b=p_b,
                t_b=t_b, report_of=report_of, schedule=schedule, q=q_s, transfer=by_units,
                per_report=per_report, transfer_of=transfer_of, payoff=payoff, utility=utility, c=c,
                ir_margin=u_b - t_b, signal=s_true)


def _same(shown, derived, parameters, what):
    """Raise unless a display form equals the derived expression (parameters in, sigma and the
    signals symbolic)."""
    if sympy.cancel(sympy.together((shown - derived).subs(parameters))) != 0:
        raise ArithmeticError(f"{what}: the display form differs from the derivation")


# ---------------------------------------------------------------- LaTeX of a hand step


class _Hand:
    """Builds Steps whose numbers line may put expressions (a line in r, say) in for stand-ins.

    _common.Step's numbers line takes numbers only; here the numbers line is rendered by SymPy
    with each stand-in printed as its value, and handed to the Step through a placeholder
    symbol whose LaTeX name is that line.
    """

    def __init__(self, names):
        self.names = names
        self.steps = []

    def __call__(self, title, text, lhs, expr, values, *, formula="", value=None, note="", tail="",
                 approx=True, order=None):
        shown = {**self.names, **{k: _common.symbol_number(v) for k, v in values.items()}}
        numbers = sympy.latex(expr, symbol_names=shown, mul_symbol="dot", order=order)
        formula = formula or sympy.latex(expr, symbol_names=self.names, order=order)
        if isinstance(expr, sympy.MatrixBase):         # matrix cells are in text style
            numbers, formula = (t.replace("\\frac", "\\dfrac") for t in (numbers, formula))
        if value is None:
            value = _exact(expr.subs(values))
        holder = sympy.Symbol(f"_numbers_{len(self.steps)}")
        self.names[holder] = numbers
        step = _common.Step(title, text, lhs, holder, rhs_latex=formula,
                            note=note, tail=tail, result=_value_tex(value, self.names, approx))
        step.exact = value
        self.steps.append(step)
        return value


def _exact(expr):
    return sympy.expand(sympy.simplify(expr))      # no nsimplify: see _common.Step.value


def _listing(numbers):
    """1, 2 and 4."""
    words = [str(x) for x in numbers]
    return ", ".join(words[:-1]) + " and " + words[-1] if len(words) > 1 else "".join(words)


def _square_tex(c, s):
    """-c (r - s)^2 in LaTeX, exact and approximate."""
    exact = _common.number_latex(c).split(" \\approx")[0]
    shift = _common.number_latex(s).split(" \\approx")[0]
    return (f"-{exact}\\,(r - {shift})^2 \\approx -{sympy.latex(sympy.Float(c, 6))}\\,(r - {shift})^2")


def _value_tex(value, names, approx=True):
    if isinstance(value, str):
        return value
    value = sympy.sympify(value)
    if value.is_Rational:
        return _common.number_latex(value)
    if isinstance(value, sympy.MatrixBase):
        return sympy.latex(value.applyfunc(lambda v: sympy.Float(v, 6)))
    text = sympy.latex(value, symbol_names=names)
    if approx and any(not a.is_Integer for a in value.atoms(sympy.Rational)):
        text += " \\approx " + sympy.latex(value.evalf(6), symbol_names=names)
    return text


# ---------------------------------------------------------------- the figure


def _payoff_figure(base, agents):
    """V_k(r) = u_k(q_k(r, s_-k), s) - t_k(r, s_-k) against the report r, true signal marked."""
    import numpy as np
    plt = _common.pyplot()
    fig, ax = plt.subplots(figsize=(6.0, 3.8))
    rs = np.linspace(0, 1, 201)
    labels = {BUYER: "buys, pivot inside", SELLER: "sells, pivot inside", EDGE: "sells at every report"}
    for colour, a in zip(("C0", "C1", "C2"), agents):
        f = sympy.lambdify(R, a["payoff"], "numpy")
        k, s = a["agent"], float(a["signal"])
        ax.plot(rs, np.broadcast_to(f(rs), rs.shape), color=colour,
                label=f"agent {k}, {labels[k]} ($s_{k} = {s:g}$)")
        ax.plot([s], [float(a["utility"])], "o", color=colour)
        ax.axvline(s, color=colour, linewidth=0.6, linestyle=":")
    ax.axhline(0, color="black", linewidth=0.8, label="IR level $0$")
    ax.set_xlabel("report $r$ of agent $k$")
    ax.set_ylabel("payoff $V_k(r) = u_k - t_k$")
    ax.set_xlim(0, 1)
    ax.legend(loc="lower right", fontsize=9)
    _common.save_figure(fig, base)


# ---------------------------------------------------------------- the section


def build(outdir):
    """Write ``proposition1.tex`` and its figure into ``outdir``; return the Section."""
    import symmech
    from symmech.symbolic import SIGMA

    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    economy = symmech.load_model(SOURCE)
    n, signals = economy.n, economy.signals
    profile = tuple(sympy.Rational(x) for x in PROFILE)
    sigma_value = sympy.Rational(SIGMA_VALUE)
    point = dict(zip(signals, profile))
    alphas, gammas, utilities, shown, parameters = _model(economy)
    marginal, demand, compact, allocation, weights = _equilibrium(economy, SIGMA, alphas, gammas, shown,
                                                                  parameters)
    mean = sympy.Add(*signals) / n
    price = compact.subs(_SBAR, mean)
    everything = {**parameters, SIGMA: sigma_value, **point}
    agents = {k: _agent(k, economy, SIGMA, sigma_value, utilities, allocation, price, parameters, point)
              for k in (BUYER, SELLER, EDGE)}
    buyer, seller, edge = agents[BUYER], agents[SELLER], agents[EDGE]
    if not (buyer["q"] > 0 and buyer["boundary"] == buyer["pivot"] and seller["q"] < 0
            and seller["boundary"] == seller["pivot"] and edge["pivot"] > 1 and edge["boundary"] == 1):
        raise ValueError("the worked profile does not show an interior buyer, an interior seller and a "
                         "seller at every report")

    k = BUYER
    a_k, g_k, s_k = alphas[k - 1], gammas[k - 1], signals[k - 1]
    e = EDGE
    a_e, g_e, s_e = alphas[e - 1], gammas[e - 1], signals[e - 1]
    # Stand-ins: quantities of earlier steps, named as the text names them.
    P_S, Q_K, D_K, PK, S_X, Q_B, P_B, T_B = sympy.symbols("P_S Q_K D_K PK S_X Q_B P_B T_B", real=True)
    names = {_SBAR: "\\bar s", P_S: "p^\\sigma(s)", Q_K: f"q_{k}(s)",
             D_K: f"\\frac{{\\partial q_{k}}}{{\\partial s_{k}}}", PK: f"\\frac{{\\partial p^\\sigma}}{{\\partial s_{k}}}",
             S_X: f"s_{k}(x)", Q_B: "q_b", P_B: "p_b", T_B: "t_b", _P: "p"}
    hand = _Hand(names)
    sbar_value = mean.subs(point)
    p_value = price.subs(everything)
    q_values = [a.subs(everything) for a in allocation]
    if sum(q_values) != 0:
        raise ArithmeticError("the allocation does not clear the market")

    hand("Model", f"Agent $k = {k}$'s utility, as the model states it. We write $\\gamma_i$ for the "
         "catalogue's curvature \\texttt{mu}$_i$, keeping $\\mu_i(q, s) = \\partial u_i/\\partial q$ for "
         "the marginal utility as the paper does; $\\bar s$ is the average of all five signals.",
         f"u_{k}(q, s)", shown[k - 1],
         {a_k: parameters[a_k], _BETA: parameters[_BETA], g_k: parameters[g_k], s_k: point[s_k], _SBAR: sbar_value})
    hand("Demand", "Marginal utility equals the marginal price $p + \\sigma q$ (the $\\sigma$-WE "
         "condition, eq. 1); solved for $q$, agent $k$'s demand at price $p$:",
         f"q_{k}(p, s)", demand[k - 1],
         {a_k: parameters[a_k], _BETA: parameters[_BETA], g_k: parameters[g_k], s_k: point[s_k],
          _SBAR: sbar_value, SIGMA: sigma_value},
         note=f"\\mu_{k}(q, s) = {sympy.latex(marginal[k - 1], symbol_names=names)} = p + \\sigma q")
    p_values = {**parameters, SIGMA: sigma_value, **point, _SBAR: sbar_value}
    hand("Reference price", "The five demands sum to zero (market clearing); SymPy solves for $p$ "
         "and the result is $\\beta \\bar s$ plus the average of $\\alpha_i s_i$ weighted by "
         "$1/(\\gamma_i + \\sigma)$:", "p^\\sigma(s)", compact, p_values, order="old")
    vector = sympy.Matrix([d.subs(_P, P_S) for d in demand])
    hand("Allocation", "Each agent's demand at $p^\\sigma(s)$; the five quantities sum to zero exactly. "
         f"Agents {_listing(i for i, q in enumerate(q_values, 1) if q > 0)} buy, agents "
         f"{_listing(i for i, q in enumerate(q_values, 1) if q < 0)} sell.",
         "\\begin{pmatrix} q_1(s) \\\\ \\vdots \\\\ q_5(s) \\end{pmatrix}", vector, {**p_values, P_S: p_value},
         value=sympy.Matrix(q_values))

    # Agent k's allocation against its own report.
    slope_p = sympy.diff(price, s_k)
    total = sympy.Add(*weights)
    dp = hand("Price against own report", f"How the reference price moves with agent {k}'s report "
              "(Lemma 2, first part): $\\beta/N$ through $\\bar s$ plus agent $k$'s weight in the average.",
              f"\\frac{{\\partial p^\\sigma}}{{\\partial s_{k}}}", slope_p, {**parameters, SIGMA: sigma_value},
              order="old")
    dq_general = a_k * (1 - weights[k - 1] / total) / (g_k + SIGMA)
    _same(dq_general, sympy.diff(allocation[k - 1], s_k), parameters, "dq_k/ds_k")
    dq = hand("Allocation against own report is increasing",
              "Differentiating agent $k$'s demand at $p^\\sigma$ (Lemma 2, second part). The $\\beta/N$ "
              "terms cancel, and SymPy simplifies the slope to the display above the formula, a "
              "product of positive numbers: $q_k(\\cdot, s_{-k})$ is strictly increasing.",
              f"\\frac{{\\partial q_{k}}}{{\\partial s_{k}}}", (a_k + _BETA / n - PK) / (g_k + SIGMA),
              {a_k: parameters[a_k], _BETA: parameters[_BETA], g_k: parameters[g_k], SIGMA: sigma_value, PK: dp},
              note=f"\\frac{{\\partial q_{k}}}{{\\partial s_{k}}} = {sympy.latex(dq_general, symbol_names=names, order='old')}")
    if dq != buyer["slope"] or dp != sympy.diff(buyer["p_r"], R):
        raise ArithmeticError("the slopes differ from the agent's own computation")
    line = Q_K + D_K * (R - s_k)
    hand("Allocation against a report $r$", f"All of agent {k}'s quantities are linear in its own "
         "report here, so the allocation at a report $r$, the others' signals fixed, is (SymPy "
         "checks it against the model with $s_k = r$):", f"q_{k}(r, s_{{-{k}}})", line,
         {Q_K: q_values[k - 1], D_K: dq, s_k: point[s_k]})
    inverse = sympy.solve(sympy.Eq(line, X), R)[0]
    report_of = hand("The report that buys $x$ units", "Inverting the increasing allocation: "
                     f"$s_{k}(x)$ solves $q_{k}(s_{k}(x), s_{{-{k}}}) = x$ (eq. 5).", f"s_{k}(x)", inverse,
                     {Q_K: q_values[k - 1], D_K: dq, s_k: point[s_k]})
    pivot = hand("Pivotal report", f"The report at which agent {k} neither buys nor sells; it lies "
                 "in $[0, 1]$, so $\\underline s_k = \\bar s_k = s_k(0)$:",
                 f"\\underline s_{k} = s_{k}(0)", inverse.subs(X, 0), {Q_K: q_values[k - 1], D_K: dq, s_k: point[s_k]})
    if report_of != buyer["report_of"] or pivot != buyer["pivot"]:
        raise ArithmeticError("s_k(x) differs from the agent's own computation")

    # Local IC: the price of the x-th unit.
    others_mean = (_SBAR * n - s_k + S_X) / n
    marginal_x = marginal[k - 1].subs({_SBAR: others_mean, s_k: S_X, _Q: X}, simultaneous=True)
    mu_x = hand("Marginal utility at the pivotal report",
                "Local IC makes the marginal transfer for the $x$-th unit equal agent $k$'s marginal "
                "utility for it had it reported the type that is pivotal for that unit, $s_k(x)$ "
                "(proof of Proposition 1): $\\mathrm{d} t_k / \\mathrm{d} x = \\mu_k(x, (s_k(x), s_{-k}))$. "
                "Here $\\bar s$ is the true average, so $s_k(x)$ replaces $s_k$ in it:",
                f"\\mu_{k}(x, (s_{k}(x), s_{{-{k}}}))", marginal_x,
                {a_k: parameters[a_k], _BETA: parameters[_BETA], g_k: parameters[g_k], s_k: point[s_k],
                 _SBAR: sbar_value, S_X: report_of})
    per_unit = hand("Per-unit price", "By the $\\sigma$-WE condition at the report $s_k(x)$ that "
                    "marginal utility is the marginal price there. SymPy checks that the two lines "
                    "agree for every $x$:", f"p^\\sigma(s_{k}(x), s_{{-{k}}}) + \\sigma x",
                    P_S + PK * (S_X - s_k) + SIGMA * X,
                    {P_S: p_value, PK: dp, S_X: report_of, s_k: point[s_k], SIGMA: sigma_value})
    if sympy.expand(mu_x - per_unit) != 0 or sympy.expand(per_unit - buyer["schedule"]) != 0:
        raise ArithmeticError("local IC: mu_k(x, (s_k(x), s_-k)) differs from p^sigma + sigma x")

    names.update({sympy.Symbol("LO"): f"\\underline s_{k}", sympy.Symbol("QR"): f"q_{k}(r, s_{{-{k}}})",
                  sympy.Symbol("TR"): f"t_{k}(r, s_{{-{k}}})", sympy.Symbol("UK"): f"U_{k}(s)",
                  sympy.Symbol("VR"): f"V_{k}(r)"})
    # Boundary constant, interior pivot; then eq. (4) by units and by reports.
    q_piv = buyer["q_r"].subs(R, pivot)
    hand("Boundary constant, interior pivot", "Eq. (7) for a buyer: the boundary type pays the "
         "per-unit price at the boundary for the units it gets there. At an interior pivot it gets "
         "none, so the constant is zero, and IR of that type (eq. 6) holds with equality.",
         f"t_{k}(\\underline s_{k}, s_{{-{k}}})", (P_B + SIGMA * Q_B) * Q_B,
         {P_B: buyer["p_r"].subs(R, pivot), Q_B: q_piv, SIGMA: sigma_value},
         formula=f"\\left[p^\\sigma(\\underline s_{k}, s_{{-{k}}}) + \\sigma q_{k}(\\underline s_{k}, s_{{-{k}}})\\right] "
                 f"q_{k}(\\underline s_{k}, s_{{-{k}}})")
    unit_integral = sympy.Integral(per_unit, (X, 0, q_values[k - 1]))
    t_units = hand("Transfer over units (eq. 4)", "Adding the per-unit prices of the units from the "
                   "boundary quantity $0$ to $q_k(s)$; SymPy integrates:", f"t_{k}(s)",
                   T_B + sympy.Integral(sympy.Symbol("PU"), (X, Q_B, Q_K)),
                   {T_B: 0, Q_B: 0, Q_K: q_values[k - 1], sympy.Symbol("PU"): per_unit},
                   formula=f"t_{k}(\\underline s_{k}, s_{{-{k}}}) + \\int_{{q_{k}(\\underline s_{k}, s_{{-{k}}})}}^{{q_{k}(s)}}"
                           f" \\left[p^\\sigma(s_{k}(x), s_{{-{k}}}) + \\sigma x\\right] \\mathrm{{d}}x",
                   value=unit_integral.doit())
    schedule_rho = buyer["per_report"]
    t_reports = hand("Transfer over reports", "The same transfer with the change of variables "
                     f"$x = q_{k}(\\rho, s_{{-{k}}})$, an integral over the reports from the pivot to "
                     "the true signal; SymPy finds the same number:", f"t_{k}(s)",
                     sympy.Integral(sympy.Symbol("PR"), (RHO, sympy.Symbol("LO"), s_k)),
                     {sympy.Symbol("PR"): schedule_rho, sympy.Symbol("LO"): pivot, s_k: point[s_k]},
                     formula=f"\\int_{{\\underline s_{k}}}^{{s_{k}}} \\left[p^\\sigma(\\rho, s_{{-{k}}}) + "
                             f"\\sigma q_{k}(\\rho, s_{{-{k}}})\\right] \\frac{{\\partial q_{k}(\\rho, s_{{-{k}}})}}"
                             "{\\partial \\rho} \\mathrm{d}\\rho",
                     value=sympy.integrate(schedule_rho, (RHO, pivot, point[s_k])))
    if not (t_units == t_reports == buyer["transfer"]):
        raise ArithmeticError("the two transfer integrals differ")
    u_k = hand("Utility", f"Agent {k}'s utility in the mechanism, value of its units less the transfer:",
               f"U_{k}(s) = u_{k}(q_{k}(s), s) - t_{k}(s)",
               (a_k * s_k + _BETA * _SBAR) * Q_K - g_k / 2 * Q_K ** 2 - T_B,
               {a_k: parameters[a_k], s_k: point[s_k], _BETA: parameters[_BETA], _SBAR: sbar_value,
                g_k: parameters[g_k], Q_K: q_values[k - 1], T_B: t_units})
    if u_k != buyer["utility"]:
        raise ArithmeticError("the utility differs from the agent's own computation")

    # The second boundary case: a seller at every report.
    zero_report = -sympy.Add(*[a * s * w for a, s, w in zip(alphas, signals, weights) if s != s_k]) / (total * (g_k + SIGMA))
    _same(zero_report, allocation[k - 1].subs(s_k, 0), parameters, "q_k(0, s_-k)")
    hand("No agent buys at every report", "At the report $0$ agent $k$ values a unit at "
         "$\\beta \\bar s$, while the reference price adds an average of the others' "
         "$\\alpha_j s_j \\ge 0$: SymPy finds $q_k(0, s_{-k}) \\le 0$ for every agent and profile. "
         "In this economy the second case of eq. (7) is therefore a seller at every report.",
         f"q_{k}(0, s_{{-{k}}})", zero_report, {**parameters, SIGMA: sigma_value, **point}, order="old")
    hand(f"Agent {e} sells at every report", f"Agent {e}'s allocation against its own report $r$ "
         f"(steps as for agent {k}); even the top report $r = 1$ sells:", f"q_{e}(r, s_{{-{e}}})",
         sympy.Symbol("QE") + sympy.Symbol("DE") * (R - s_e),
         {sympy.Symbol("QE"): q_values[e - 1], sympy.Symbol("DE"): edge["slope"], s_e: point[s_e]},
         formula=f"q_{e}(s) + \\frac{{\\partial q_{e}}}{{\\partial s_{e}}} (r - s_{e})", value=edge["q_r"],
         tail=f", \\qquad q_{e}(1, s_{{-{e}}}) = {_common.number_latex(edge['q_b'])} < 0")
    names[sympy.Symbol("QE")] = f"q_{e}(s)"
    hand(f"Boundary type of agent {e}", f"Agent {e}'s pivotal report lies above $1$, so "
         f"$\\bar s_{e} = \\sup\\{{s'_{e} : q_{e}(s'_{e}, s_{{-{e}}}) < 0\\}} = 1$ is the boundary type "
         "and the report $1$ the end of the integral.", f"s_{e}(0)",
         s_e - sympy.Symbol("QE") / sympy.Symbol("DE"),
         {sympy.Symbol("QE"): q_values[e - 1], sympy.Symbol("DE"): edge["slope"], s_e: point[s_e]},
         formula=f"s_{e} - \\frac{{q_{e}(s)}}{{\\partial q_{e} / \\partial s_{e}}}")
    t_b = hand("Boundary constant, seller at every report", "Eq. (7) as derived: the boundary "
               "type is paid the per-unit price at the boundary, $p_b + \\sigma q_b$, for each of "
               f"the $-q_b$ units it delivers, with $p_b = p^\\sigma(1, s_{{-{e}}})$ and "
               f"$q_b = q_{e}(1, s_{{-{e}}})$. (The printed second line of eq. 7 has the opposite "
               "sign; see below.)", f"t_{e}(\\bar s_{e}, s_{{-{e}}})", (P_B + SIGMA * Q_B) * Q_B,
               {P_B: edge["p_b"], Q_B: edge["q_b"], SIGMA: sigma_value},
               formula=f"\\left[p^\\sigma(\\bar s_{e}, s_{{-{e}}}) + \\sigma q_{e}(\\bar s_{e}, s_{{-{e}}})\\right] "
                       f"q_{e}(\\bar s_{e}, s_{{-{e}}})")
    sbar_b = mean.subs(point) + (1 - point[s_e]) / n          # the average at (1, s_-e)
    u_b = (a_e * 1 + _BETA * _SBAR) * Q_B - g_e / 2 * Q_B ** 2 - T_B
    foc = sympy.solve(sympy.Eq(a_e * 1 + _BETA * _SBAR - g_e * Q_B, P_B + SIGMA * Q_B), _SBAR)[0]
    margin_general = sympy.factor(sympy.expand(u_b.subs(T_B, (P_B + SIGMA * Q_B) * Q_B).subs(_SBAR, foc)))
    margin = hand("IR of the boundary type (eq. 6)", "The boundary type's utility under the boundary "
                  f"constant, where $\\bar s$ is now the average signal at the profile $(1, s_{{-{e}}})$; "
                  "with its $\\sigma$-WE condition SymPy reduces it to the display above the formula, "
                  "never negative:", f"u_{e}(q_b, (1, s_{{-{e}}})) - t_{e}(\\bar s_{e}, s_{{-{e}}})",
                  u_b, {a_e: parameters[a_e], _BETA: parameters[_BETA], _SBAR: sbar_b, Q_B: edge["q_b"],
                        g_e: parameters[g_e], T_B: t_b},
                  note=f"u_{e} - t_b = {sympy.latex(margin_general, symbol_names={**names, g_e: sympy.latex(g_e)})}")
    if margin != edge["ir_margin"] or margin != margin_general.subs({g_e: parameters[g_e], Q_B: edge["q_b"]}):
        raise ArithmeticError("IR margin of the boundary type")
    edge_unit = sympy.Integral(edge["schedule"], (X, q_values[e - 1], edge["q_b"]))
    t_e = hand(f"Transfer of agent {e} (eq. 4, seller)", "The seller line of eq. (4): the boundary "
               f"constant less the per-unit prices of the units between $q_{e}(s)$ and the boundary "
               f"quantity; the per-unit price comes from agent {e}'s own $s_{e}(x)$ as above:",
               f"t_{e}(s)", T_B - sympy.Symbol("IE"), {T_B: t_b, sympy.Symbol("IE"): edge_unit},
               formula=f"t_{e}(\\bar s_{e}, s_{{-{e}}}) - \\int_{{q_{e}(s)}}^{{q_{e}(\\bar s_{e}, s_{{-{e}}})}}"
                       f" \\left[p^\\sigma(s_{e}(x), s_{{-{e}}}) + \\sigma x\\right] \\mathrm{{d}}x",
               value=t_b - edge_unit.doit())
    if t_e != edge["transfer"]:
        raise ArithmeticError("agent %d: the transfer differs" % e)

    # Global IC.
    transfer_r = hand("Transfer against a report $r$", f"What agent {k} pays when it reports $r$, "
                      "the others' signals fixed: the integral over reports from the pivot to $r$ "
                      "(for $r$ below the pivot it runs backwards, the seller line of eq. 4):",
                      f"t_{k}(r, s_{{-{k}}})", sympy.Integral(sympy.Symbol("PR"), (RHO, sympy.Symbol("LO"), R)),
                      {sympy.Symbol("PR"): buyer["per_report"], sympy.Symbol("LO"): pivot},
                      formula=f"\\int_{{\\underline s_{k}}}^{{r}} \\left[p^\\sigma(\\rho, s_{{-{k}}}) + "
                              f"\\sigma q_{k}(\\rho, s_{{-{k}}})\\right] \\frac{{\\partial q_{k}(\\rho, s_{{-{k}}})}}"
                              "{\\partial \\rho} \\mathrm{d}\\rho",
                      value=buyer["transfer_of"])
    QR, TR, VR, UK = (sympy.Symbol(x) for x in ("QR", "TR", "VR", "UK"))
    payoff_r = (a_k * s_k + _BETA * _SBAR) * QR - g_k / 2 * QR ** 2 - TR
    payoff_value = hand("Payoff of a report $r$", f"Agent {k}'s payoff when its true signal is "
                        f"$s_{k}$ but it reports $r$: the true value of the units it gets at $r$ less "
                        "what it pays at $r$; $\\bar s$ is the true average.",
                        f"V_{k}(r)", payoff_r,
                        {a_k: parameters[a_k], s_k: point[s_k], _BETA: parameters[_BETA], _SBAR: sbar_value,
                         g_k: parameters[g_k], QR: buyer["q_r"], TR: transfer_r},
                        formula=f"u_{k}(q_{k}(r, s_{{-{k}}}), s) - t_{k}(r, s_{{-{k}}})")
    regret_value = buyer["payoff"] - buyer["utility"]
    hand("Global IC", f"Less the truthful payoff $U_{k}(s) = V_{k}(s_{k})$, SymPy factors the "
         "difference as $-c\\,(r - s_k)^2$ and finds $c = (\\alpha_k + \\beta/N)\\, "
         "(\\partial q_k/\\partial s_k) / 2 > 0$: no report does better than the truth.",
         f"V_{k}(r) - V_{k}(s_{k})", VR - UK, {VR: payoff_value, UK: u_k},
         formula=f"V_{k}(r) - U_{k}(s)", value=_square_tex(buyer["c"], point[s_k]))
    hand.steps[-1].exact = regret_value
    if sympy.expand(payoff_value - u_k - regret_value) != 0:
        raise ArithmeticError("global IC: the payoff difference")
    for a in agents.values():
        alpha = parameters[alphas[a["agent"] - 1]]
        if a["c"] != (alpha + parameters[_BETA] / n) * a["slope"] / 2:
            raise ArithmeticError(f"agent {a['agent']}: the IC curvature is not (alpha + beta/N) dq/ds / 2")

    envelope_integrand = (a_k + _BETA / n) * (Q_K + D_K * (RHO - s_k))
    envelope = hand("Envelope", "A check of the whole construction: the truthful utility grows by "
                    "$\\partial u_k / \\partial s_k = (\\alpha_k + \\beta/N)\\, q_k$ along truthful "
                    "reports, from $U_k = 0$ at the pivot:", f"U_{k}(s) - U_{k}(\\underline s_{k}, s_{{-{k}}})",
                    sympy.Integral(envelope_integrand, (RHO, sympy.Symbol("LO"), s_k)),
                    {a_k: parameters[a_k], _BETA: parameters[_BETA], Q_K: q_values[k - 1], D_K: dq,
                     s_k: point[s_k], sympy.Symbol("LO"): pivot},
                    value=sympy.integrate(envelope_integrand.subs({a_k: parameters[a_k], _BETA: parameters[_BETA],
                                                                   Q_K: q_values[k - 1], D_K: dq, s_k: point[s_k]}),
                                          (RHO, pivot, point[s_k])))
    if envelope != u_k:
        raise ArithmeticError("envelope")

    figure = outdir / f"{NAME}-payoff"
    _payoff_figure(figure, [buyer, seller, edge])
    figures = [(figure, "Payoff $V_k(r) = u_k(q_k(r, s_{-k}), s) - t_k(r, s_{-k})$ of a report $r$ "
                        "for three agents at the worked profile: an interior-pivot buyer, an "
                        "interior-pivot seller and the seller at every report. Each curve peaks at the "
                        "agent's true signal (dot, dotted line), where it lies above the IR level $0$.")]
    intro = ("Proposition 1 says what the transfers of any IR and IC mechanism implementing the "
             "$\\sigma$-WE allocation must be: each unit is paid at the marginal price the agent "
             "would face had it reported the type that is pivotal for that unit (eq. 4), plus a "
             "boundary constant for the type at the end of the integral (eqs. 6, 7). We follow the "
             "proof on the heterogeneous fundamental value model: five agents with "
             "$u_i(q, s) = (\\alpha_i s_i + \\beta \\bar s) q - \\gamma_i q^2 / 2$, $\\beta = %s$, "
             "$(\\alpha_i) = (%s)$, $(\\gamma_i) = (%s)$. Agent %d buys with an interior pivotal "
             "report; agent %d sells at every report, which brings in the second boundary case; "
             "the figure adds agent %d, a seller with an interior pivotal report."
             % (_common.number_latex(parameters[_BETA]),
                ", ".join(_common.number_latex(parameters[a]) for a in alphas),
                ", ".join(_common.number_latex(parameters[g]) for g in gammas), BUYER, EDGE, SELLER))
    closing = ("The payoff figure shows global IC for three agents at once; the same factorisation "
               "$V_k(r) - V_k(s_k) = -c_k (r - s_k)^2$ holds for agents %s with $c_k = %s$." %
               (", ".join(str(a["agent"]) for a in agents.values()),
                ", ".join(_common.number_latex(a["c"]).split(" \\approx")[0] for a in agents.values())))
    facts = {"agents": {a["agent"]: {key: a[key] for key in ("q", "slope", "pivot", "boundary", "q_b", "p_b",
                                                            "t_b", "transfer", "utility", "c", "ir_margin",
                                                            "transfer_of", "payoff")}
                        for a in agents.values()},
             "price": p_value, "allocation": tuple(q_values), "buyer": BUYER, "seller": SELLER,
             "edge": EDGE}
    return _common.write_section(outdir, NAME, TITLE, SOURCE, intro, hand.steps, figures, names=names,
                                 differences=_common.differences(_PRINTED_KEYS), profile=profile,
                                 sigma_value=sigma_value, closing=closing, facts=facts)


if __name__ == "__main__":
    print(build(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(".")).tex)
