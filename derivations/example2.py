"""Example 2 of the paper, the group model: the assumptions A1-A4 and the sigma-WE (catalogue ``example2``).

Two groups A and E; u_i(q, s) = (alpha s_i + beta_h sbar_A + beta_l sbar_E) q - mu/2 q^2 for i in A,
and the same with A and E swapped for i in E. The constants of A1-A4 and the sigma-WE (eq. 1)
are derived by SymPy with the parameters and the group sizes n_A, n_E as symbols; the allocation
is written through the group means and set beside the one Example 4 prints. Run directly
(``python derivations/example2.py OUTDIR``) or through ``symmech report``.
"""

import sys
from fractions import Fraction
from pathlib import Path

import sympy

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)
import _common  # noqa: E402  (the shared helpers sit next to this script)

__all__ = ["NAME", "TITLE", "SOURCE", "ORDER", "PROFILE", "SIGMA_VALUE", "build"]

NAME = "example2"
TITLE = "Example 2: the group model and the assumptions A1-A4"
SOURCE = "example2"
ORDER = 20                     # place in the paper: Example 2 follows the assumptions of Section 2
PROFILE = ("0.9", "0.7", "0.8", "0.3", "0.2", "0.4")    # group A's signals above group E's
SIGMA_VALUE = "1/2"
_PRINTED_KEYS = ("ex4-allocation", "ex4-price", "ex4-reduction")

_ALPHA, _BETA_H, _BETA_L, _MU = sympy.symbols("alpha beta_h beta_l mu", positive=True)
_N_A, _N_E = sympy.symbols("n_A n_E", positive=True, integer=True)
_SA, _SE, _SBAR = sympy.symbols("sbar_A sbar_E sbar", real=True)
_Q, _P = sympy.symbols("q p", real=True)
_NAMES = {_SA: "\\bar s^A", _SE: "\\bar s^E", _SBAR: "\\bar s", _N_A: "n_A", _N_E: "n_E"}
_FIGURE_OWN = Fraction(1, 2)   # the figure's agents: own signal 1/2, group E's mean 1/2


def _model(economy):
    """The utilities with alpha, beta_h, beta_l, mu and the group sizes as symbols, checked
    against the catalogue; the group mean is (sum of the group's signals) / n_G."""
    signals = economy.signals
    q = sympy.Symbol("q")
    groups = {g: [signals[k - 1] for k in members] for g, members in economy.groups.items()}
    size = {"A": _N_A, "E": _N_E}
    mean = {g: sympy.Add(*ss) / size[g] for g, ss in groups.items()}
    other = {"A": "E", "E": "A"}
    group_of = {s: g for g, ss in groups.items() for s in ss}
    utilities = [(_ALPHA * s + _BETA_H * mean[group_of[s]] + _BETA_L * mean[other[group_of[s]]]) * q
                 - _MU / 2 * q ** 2 for s in signals]
    p = economy.parameters
    values = {_ALPHA: sympy.Rational(p["alpha"]), _BETA_H: sympy.Rational(p["beta_h"]),
              _BETA_L: sympy.Rational(p["beta_l"]), _MU: sympy.Rational(p["mu"]),
              _N_A: len(groups["A"]), _N_E: len(groups["E"])}
    _common.check_model(utilities, values, economy)
    return [u.subs(q, _Q) for u in utilities], values, groups


def _through_means(expr, groups):
    """``expr`` with the last signal of each group replaced through its group mean
    (s_last = n_G sbar_G - the other members), so that sums over a group become n_G sbar_G."""
    last_a, last_e = groups["A"][-1], groups["E"][-1]
    rule = {last_a: _N_A * _SA - sympy.Add(*groups["A"][:-1]),
            last_e: _N_E * _SE - sympy.Add(*groups["E"][:-1])}
    return sympy.expand(expr.subs(rule))


def _over(expr, symbols):
    """``expr`` as one fraction whose numerator is collected in ``symbols``, each coefficient factored."""
    num, den = sympy.fraction(sympy.factor(sympy.cancel(sympy.together(expr))))
    num = sympy.collect(sympy.expand(num), symbols, sympy.factor)
    return num / den if den != 1 else num


def _derive(utilities, groups, signals, values):
    """Marginal utilities, constants of A1-A4 and the sigma-WE in terms of the group means.

    A member of a group demands a quantity linear in its own signal, so the group's total demand
    is n_G times the demand at the group's mean signal: market clearing holds for any group
    sizes n_A, n_E. It is checked against the sum of the six agents' demands.
    """
    from symmech.symbolic import SIGMA

    s1, s4 = groups["A"][0], groups["E"][0]
    marginal = [sympy.diff(u, _Q) for u in utilities]
    mu1, mu4 = marginal[0], marginal[signals.index(s4)]
    own, mate, stranger = s1, groups["A"][1], groups["E"][0]
    mu1_means, mu4_means = _through_means(mu1, groups), _through_means(mu4, groups)
    # FOC mu_i(q_i, s) = p + sigma q_i, solved for q_i.
    (demand_a,) = sympy.solve(sympy.Eq(mu1_means, _P + SIGMA * _Q), _Q)
    (demand_e,) = sympy.solve(sympy.Eq(mu4_means, _P + SIGMA * _Q), _Q)
    total = _N_A * demand_a.subs(s1, _SA) + _N_E * demand_e.subs(s4, _SE)
    clearing = sympy.collect(sympy.expand(total * (_MU + SIGMA)), [_SA, _SE, _P], sympy.factor)
    (price,) = sympy.solve(clearing, _P)
    price = _over(price, [_SA, _SE])
    # The six agents' demands summed one by one must give the same clearing condition.
    demands = [sympy.solve(sympy.Eq(m, _P + SIGMA * _Q), _Q)[0] for m in marginal]
    if sympy.simplify(_through_means(sympy.Add(*demands), groups).subs(values) - total.subs(values)) != 0:
        raise ArithmeticError("example2: group totals differ from the sum of the agents' demands")
    allocation_a = _over(demand_a.subs(_P, price), [s1, _SA, _SE])
    allocation_e = _over(demand_e.subs(_P, price), [s4, _SA, _SE])
    sbar = (_N_A * _SA + _N_E * _SE) / (_N_A + _N_E)
    printed = _ALPHA / (_MU + SIGMA) * (s1 - _SBAR)         # Example 4's display, s_i for agent 1
    gap = sympy.factor(sympy.cancel(demand_a.subs(_P, price) - printed.subs(_SBAR, sbar)))
    printed_price = (_ALPHA + _BETA_H + _BETA_L) * _SBAR
    price_gap = sympy.factor(sympy.cancel(price - printed_price.subs(_SBAR, sbar)))
    return dict(mu1=mu1, own=sympy.diff(mu1, own), mate=sympy.diff(mu1, mate),
                stranger=sympy.diff(mu1, stranger), slope_q=sympy.diff(mu1, _Q),
                mu1_means=mu1_means, demand=demand_a, clearing=clearing, price=price,
                allocation=(allocation_a, allocation_e), sbar=sbar, printed=printed, gap=gap,
                price_gap=price_gap, sigma=SIGMA)


def _steps(d, values, groups, profile, sigma_value):
    """The steps of the section, each formula computed in :func:`_derive`."""
    signals = [*groups["A"], *groups["E"]]
    s1, s4 = groups["A"][0], groups["E"][0]
    sigma = d["sigma"]
    point = dict(zip(signals, profile))
    means = {_SA: sympy.Add(*[point[s] for s in groups["A"]]) / values[_N_A],
             _SE: sympy.Add(*[point[s] for s in groups["E"]]) / values[_N_E]}
    means[_SBAR] = d["sbar"].subs({**values, **means})
    everything = {**values, sigma: sigma_value, s1: point[s1], s4: point[s4], **means}
    phi = sympy.Max(sympy.Abs(d["mate"]), sympy.Abs(d["stranger"]))
    at_zero = d["mu1_means"].subs(_Q, 0)
    mate, stranger = sympy.latex(groups["A"][1]), sympy.latex(groups["E"][0])
    steps = [
        _common.Step("Marginal utility", "Agent 1 (group A) values a unit at $\\mu_1 = \\partial u_1/"
                     "\\partial q$; the group means are $\\bar s^A = (s_1 + s_2 + s_3)/n_A$ and "
                     "$\\bar s^E = (s_4 + s_5 + s_6)/n_E$, with group sizes $n_A = n_E = 3$.",
                     "\\mu_1(q, s)", d["mu1"], values),
        _common.Step("A2: own-signal slope", "Agent 1's own signal enters directly and through "
                     "its group's mean:", "\\frac{\\partial \\mu_1}{\\partial s_1}", d["own"], values,
                     tail="= c_s = C_s"),
        _common.Step("A3: a signal of the own group", f"Another member of group A, ${mate}$, moves "
                     "$\\mu_1$ only through $\\bar s^A$:",
                     f"\\frac{{\\partial \\mu_1}}{{\\partial {mate}}}", d["mate"], values),
        _common.Step("A3: a signal of the other group", f"A member of group E, ${stranger}$, moves "
                     "$\\mu_1$ through $\\bar s^E$:",
                     f"\\frac{{\\partial \\mu_1}}{{\\partial {stranger}}}", d["stranger"], values),
        _common.Step("A3: the constant $\\phi_N$", "The largest effect of another agent's signal "
                     "(the members of a group are alike, so these two are all there are):",
                     "\\phi_N", phi, values),
        _common.Step("A3: informational smallness", "A3 needs $\\phi_N < c_s$; the margin is",
                     "c_s - \\phi_N", d["own"] - phi, values, tail="> 0"),
        _common.Step("A4: slope in the quantity", "Holding a unit more lowers the marginal value by",
                     "\\frac{\\partial \\mu_1}{\\partial q}", d["slope_q"], values,
                     tail="= c_q = C_q < 0"),
        _common.Step("A1: the largest marginal utility at $q = 0$", "Through the group means, "
                     "$\\mu_1(0, s) = %s$ rises in every signal (the slopes above are positive), "
                     "so it is largest at $s = (1, \\dots, 1)$, where both group means are 1:"
                     % sympy.latex(at_zero, symbol_names=_NAMES),
                     "\\mu_1(0, (1, \\dots, 1))", at_zero, {**values, s1: 1, _SA: 1, _SE: 1},
                     tail="= M"),
        _common.Step("A1: the smallest marginal utility at $q = 0$", "and smallest at $s = 0$, so "
                     "$\\mu_1(0, s) \\in [0, M] \\subset [-M, M]$:",
                     "\\mu_1(0, (0, \\dots, 0))", at_zero, {**values, s1: 0, _SA: 0, _SE: 0}),
        _common.Step("sigma-WE: demand", "Eq. (1): agent 1's marginal utility equals the marginal "
                     "price $p + \\sigma q$. Solved for $q$, through the group means:",
                     "q_1(p, s)", d["demand"], {**values, sigma: sigma_value}),
        _common.Step("sigma-WE: market clearing", "A member's demand is linear in its own signal, "
                     "so group A's total demand is $n_A$ times the demand at signal $\\bar s^A$ "
                     "(likewise for E). Market clearing, times $\\mu + \\sigma$:",
                     "(\\mu + \\sigma) \\sum_{i=1}^{6} q_i(p, s)", d["clearing"], tail="= 0"),
        _common.Step("sigma-WE: reference price", "Solving market clearing for $p$; each group "
                     "mean is weighted by how much all agents value it:",
                     "p^\\sigma(s)", d["price"], everything),
        _common.Step("sigma-WE: allocation of an A agent", "Agent 1's demand at $p^\\sigma(s)$:",
                     "q_1(s)", d["allocation"][0], everything),
        _common.Step("sigma-WE: allocation of an E agent", "The same for agent 4 of group E:",
                     "q_4(s)", d["allocation"][1], everything),
        _common.Step("The printed allocation", "Example 4 prints $q_i(s) = \\frac{\\alpha}{\\mu + "
                     "\\sigma}(s_i - \\bar s)$ with $\\bar s = (n_A \\bar s^A + n_E \\bar s^E)/(n_A + "
                     "n_E)$ the overall mean; for agent 1:", "q_1^{\\text{printed}}(s)", d["printed"],
                     everything),
        _common.Step("Derived minus printed allocation", "SymPy's difference, with $\\bar s$ "
                     "written through the group means:", "q_1(s) - q_1^{\\text{printed}}(s)",
                     d["gap"], everything),
        _common.Step("Derived minus printed price", "The same for the reference price, printed as "
                     "$(\\alpha + \\beta_h + \\beta_l)\\bar s$; the difference vanishes here because "
                     "$n_A = n_E$:", "p^\\sigma(s) - p^{\\text{printed}}(s)", d["price_gap"],
                     everything),
    ]
    return steps, everything, means


def _allocation_figure(base, d, values, sigma_value, groups):
    """q of an A agent and of an E agent against group A's mean: derived and printed."""
    import numpy as np
    plt = _common.pyplot()
    s1, s4 = groups["A"][0], groups["E"][0]
    fixed = {**values, d["sigma"]: sigma_value, _SE: sympy.Rational(_FIGURE_OWN)}
    sbar = d["sbar"].subs(fixed)
    # Both agents have own signal 1/2, so the printed formula gives them the same quantity.
    lines = [(d["allocation"][0].subs(s1, _FIGURE_OWN), "C0", "-", "A agent (derived)"),
             (d["allocation"][1].subs(s4, _FIGURE_OWN), "C3", "-", "E agent (derived)"),
             (d["printed"].subs({_SBAR: sbar, s1: _FIGURE_OWN}), "black", "--",
              "either agent (printed Example 4)")]
    # Group A's mean can range over [s_1/3, (s_1 + 2)/3] with s_1 = 1/2 held fixed.
    n_a = values[_N_A]
    xs = np.linspace(float(_FIGURE_OWN / n_a), float((_FIGURE_OWN + n_a - 1) / n_a), 200)
    fig, ax = plt.subplots(figsize=(6.0, 3.8))
    for expr, colour, style, label in lines:
        f = sympy.lambdify(_SA, sympy.simplify(expr.subs(fixed)), "numpy")
        ax.plot(xs, np.broadcast_to(np.asarray(f(xs), dtype=float), xs.shape), color=colour,
                linestyle=style, linewidth=1.8 if style == "-" else 1.4, label=label)
    ax.axvline(float(_FIGURE_OWN), color="grey", linewidth=0.8)
    ax.text(float(_FIGURE_OWN) + 0.01, 0.92, "$\\bar s^A = \\bar s^E$", fontsize=10,
            transform=ax.get_xaxis_transform())
    ax.axhline(0, color="black", linewidth=0.6)
    ax.set_xlabel("mean signal of group A, $\\bar s^A$")
    ax.set_ylabel("allocation $q_i$")
    ax.legend(loc="lower left", fontsize=9)
    _common.save_figure(fig, base)


def build(outdir):
    """Write ``example2.tex`` and its figure into ``outdir``; return the Section."""
    import symmech

    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    economy = symmech.load_model(SOURCE)
    utilities, values, groups = _model(economy)
    profile = tuple(sympy.Rational(x) for x in PROFILE)
    sigma_value = sympy.Rational(SIGMA_VALUE)
    d = _derive(utilities, groups, economy.signals, values)
    steps, everything, means = _steps(d, values, groups, profile, sigma_value)
    base = outdir / f"{NAME}-allocation"
    _allocation_figure(base, d, values, sigma_value, groups)
    members = "; ".join(f"{g} = \\{{{', '.join(map(str, m))}\\}}" for g, m in economy.groups.items())
    intro = ("The group model: two groups of agents (%s). An agent of group A values a unit at "
             "$\\alpha s_i + \\beta_h \\bar s^A + \\beta_l \\bar s^E$ and holding $q$ units costs "
             "$\\mu q^2/2$; in group E the roles of the two means swap. The catalogue economy has "
             "$\\alpha = %s$, $\\beta_h = %s$, $\\beta_l = %s$, $\\mu = %s$. The first steps find "
             "the constants of the assumptions A1--A4 for agent 1 (every agent is alike); the last "
             "ones solve eq.~(1) when the two groups' mean signals differ (group A's signals are "
             "higher in the worked profile: $\\bar s^A = %s$, $\\bar s^E = %s$)."
             % (members, *(_common.number_latex(values[x]) for x in (_ALPHA, _BETA_H, _BETA_L, _MU)),
                _common.number_latex(means[_SA]), _common.number_latex(means[_SE])))
    closing = ("So the allocation depends on the two group means separately, not only on the "
               "overall mean $\\bar s$: an agent whose group has the higher mean gets "
               "$(\\beta_h - \\beta_l)(\\bar s^A - \\bar s^E)\\,n_E/((n_A + n_E)(\\mu + \\sigma))$ "
               "more than Example 4 prints, and an agent of group E gets "
               "$(\\beta_h - \\beta_l)(\\bar s^A - \\bar s^E)\\,n_A/((n_A + n_E)(\\mu + \\sigma))$ "
               "less. "
               "Both formulas agree when $\\bar s^A = \\bar s^E$ or $\\beta_h = \\beta_l$. "
               "The reference price agrees with the printed one in this economy only because "
               "the two groups have the same size; for the same reason the reduction to Example 1 "
               "(the last item below) holds here. \\texttt{symmech check example2} and "
               "\\texttt{symmech.certify\\_assumptions} find the same constants $c_s$, $\\phi_N$, "
               "$c_q = C_q$ and $M$.")
    caption = ("Allocation of an agent of group A (blue) and of an agent of group E (red), each "
               "with own signal $%s$, as group A's mean signal $\\bar s^A$ rises (group E's mean "
               "held at $%s$, $\\sigma = %s$). Solid: the derived $\\sigma$-WE allocation; dashed: "
               "Example 4's printed $\\frac{\\alpha}{\\mu + \\sigma}(s_i - \\bar s)$, the same "
               "for both agents. They meet only where the group means are equal."
               % (_common.number_latex(_FIGURE_OWN), _common.number_latex(_FIGURE_OWN),
                  _common.number_latex(sigma_value)))
    numbers = {**values, d["sigma"]: sigma_value}
    facts = dict(c_s=d["own"].subs(values), phi_N=max(d["mate"].subs(values), d["stranger"].subs(values)),
                 cross_own=d["mate"].subs(values), cross_other=d["stranger"].subs(values),
                 c_q=d["slope_q"].subs(values), M=d["mu1_means"].subs({**values, _SA: 1, _SE: 1,
                                                                      economy.signals[0]: 1, _Q: 0}),
                 price=d["price"].subs(everything), allocation_1=d["allocation"][0].subs(everything),
                 allocation_4=d["allocation"][1].subs(everything),
                 printed_1=d["printed"].subs(everything), gap_1=d["gap"].subs(everything),
                 gap=d["gap"].subs(numbers), price_formula=d["price"].subs(numbers),
                 allocation_formula=d["allocation"][0].subs(numbers), means=means,
                 sbar_A=_SA, sbar_E=_SE, s_1=economy.signals[0])
    return _common.write_section(outdir, NAME, TITLE, SOURCE, intro, steps,
                                 [(base, caption)], names=_NAMES,
                                 differences=_common.differences(_PRINTED_KEYS), profile=profile,
                                 sigma_value=sigma_value, closing=closing, facts=facts)


if __name__ == "__main__":
    print(build(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(".")).tex)
