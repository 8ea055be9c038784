"""Lemma 2 of the paper: how one report moves the price and the allocation (catalogue ``tanh``).

The sigma-WE system mu_j(q_j(s), s) = p^sigma(s) + sigma q_j(s), sum_j q_j(s) = 0 is
differentiated in s_i by SymPy; it is linear in (dp/ds_i, dq_j/ds_i) and its solution is the
weighted-average formula of Lemma 2. The worked economy is the non-quadratic tanh economy
u_i = (a_i s_i + b mean(s_j^2)) q - m_i/2 q^2 - c_i log cosh q. Run directly (``python
derivations/lemma2.py OUTDIR``) or through ``symmech report``.
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

__all__ = ["NAME", "TITLE", "SOURCE", "ORDER", "PROFILE", "SIGMA_VALUE", "FIGURE_SIGMAS", "build"]

NAME = "lemma2"
TITLE = "Lemma 2: how one report moves the price and the allocation"
SOURCE = "tanh"
ORDER = 60                     # place in the paper: Lemma 2 follows Proposition 1 in Section 2
PROFILE = ("3/4", "3/10", "1/2", "2/5", "3/5")     # agent 1 buys here
SIGMA_VALUE = "1/4"
FIGURE_SIGMAS = ("0", "1/4", "1", "4")
EXAMPLE1_SIZES = (2, 3, 4, 6, 8, 12, 16, 24, 32)
_PRINTED_KEYS = ("lemma2-dp", "lemma2-dq", "lemma2-dp-lower", "lemma2-dp-upper", "lemma2-dq-bounds")
_DPS = 40                      # digits of the worked equilibrium
_FIGURE_DPS = 15               # digits of the figure's equilibria
_SHOWN = 8                     # digits of a numerically found number put into a formula line

SIGMA = sympy.Symbol("sigma", nonnegative=True)
S_I = sympy.Symbol("s_i", real=True)
# the unknowns of the differentiated system, with their LaTeX names
D_P = sympy.Symbol("Dp")
D_P1 = sympy.Symbol("Dp_1")        # the same at the worked profile, i = 1
VARPHI = sympy.Symbol("varphi_N", positive=True)


def _general(n):
    """Symbols A_j, B_j, dq_j/ds and w_j for ``n`` agents."""
    A = sympy.symbols(f"A_1:{n + 1}", real=True)
    B = sympy.symbols(f"B_1:{n + 1}", negative=True)
    dq = sympy.symbols(f"Dq_1:{n + 1}")
    w = sympy.symbols(f"w_1:{n + 1}", positive=True)
    return A, B, dq, w


def _names(n):
    A, B, dq, w = _general(n)
    names = {D_P: "\\frac{\\partial p^{\\sigma}}{\\partial s_i}", SIGMA: "\\sigma"}
    for j in range(n):
        names[dq[j]] = "\\frac{\\partial q_{%d}}{\\partial s_i}" % (j + 1)
    return names


# ---------------------------------------------------------------- model


def _model(economy):
    """The utilities with a_i, b, m_i, c_i as symbols, checked against the catalogue economy."""
    n = economy.n
    signals = economy.signals
    a = sympy.symbols(f"a_1:{n + 1}", positive=True)
    m = sympy.symbols(f"m_1:{n + 1}", positive=True)
    c = sympy.symbols(f"c_1:{n + 1}", positive=True)
    b = sympy.Symbol("b", positive=True)
    q = sympy.Symbol("q")
    mean_square = sympy.Add(*[s ** 2 for s in signals]) / n
    utilities = [(a[k] * signals[k] + b * mean_square) * q - m[k] / 2 * q ** 2 - c[k] * sympy.log(sympy.cosh(q))
                 for k in range(n)]
    p = economy.parameters
    values = {b: sympy.Rational(p["b"])}
    for k in range(n):
        values.update({a[k]: sympy.Rational(p["a"][k]), m[k]: sympy.Rational(p["m"][k]),
                       c[k]: sympy.Rational(p["c"][k])})
    _common.check_model(utilities, values, economy)
    return utilities, values, dict(a=a, b=b, m=m, c=c, q=q)


# ---------------------------------------------------------------- the general derivation


def _differentiated_foc(n):
    """d/ds_i [mu_j(q_j(s), s) - p(s) - sigma q_j(s)], by SymPy's chain rule, in A_j, B_j.

    Returns (expression for a generic j, the same for j = 1..n)."""
    qf = sympy.Function("q_j")(S_I)
    pf = sympy.Function("p")(S_I)
    mu = sympy.Function("mu_j")
    total = sympy.diff(mu(qf, S_I) - pf - SIGMA * qf, S_I)
    A_j, B_j, Dq_j = sympy.symbols("A_j B_j Dq_j")
    # the chain rule's pieces: d mu/d q at q_j(s) is B_j, d mu/d s_i (q held) is A_j
    replace = {}
    for d in total.atoms(sympy.Derivative):
        if d == sympy.Derivative(qf, S_I):
            replace[d] = Dq_j
        elif d == sympy.Derivative(pf, S_I):
            replace[d] = D_P
        elif d.variables == (qf,):
            replace[d] = B_j
    for sub in total.atoms(sympy.Subs):
        replace[sub] = A_j
    generic = sympy.collect(total.xreplace(replace), Dq_j)
    if generic.free_symbols != {A_j, B_j, Dq_j, D_P, SIGMA}:
        raise ArithmeticError(f"the chain rule left {generic}")
    A, B, dq, _ = _general(n)
    each = [generic.xreplace({A_j: A[j], B_j: B[j], Dq_j: dq[j]}) for j in range(n)]
    return generic, each, (A_j, B_j, Dq_j)


def _solve_system(n):
    """SymPy's solution of the differentiated system for n agents: (dp/ds_i, [dq_j/ds_i])."""
    _, each, _ = _differentiated_foc(n)
    A, B, dq, _ = _general(n)
    clearing = sympy.diff(sympy.Add(*[sympy.Function(f"q_{j + 1}")(S_I) for j in range(n)]), S_I)
    clearing = clearing.xreplace({sympy.Derivative(sympy.Function(f"q_{j + 1}")(S_I), S_I): dq[j]
                                  for j in range(n)})
    (solution,) = sympy.solve([*each, clearing], [D_P, *dq], dict=True)
    return solution[D_P], [solution[d] for d in dq], clearing


def _grouped(expr, A):
    """``expr`` (linear in the A_j over a common denominator) with the numerator grouped by A_j,
    each coefficient factored."""
    num, den = sympy.fraction(sympy.cancel(expr))
    num = sympy.expand(num)
    terms = [sympy.factor(num.coeff(a)) * a for a in A]
    if sympy.expand(sympy.Add(*terms) - num) != 0:
        raise ArithmeticError("the numerator is not linear in the A_j")
    return sympy.Add(*terms) / den


def _weighted_average(A, B):
    """Lemma 2's form: sum_j A_j w_j / sum_j w_j with w_j = (sigma - B_j)^-1."""
    weights = [1 / (SIGMA - b) for b in B]
    return sympy.Add(*[a * w for a, w in zip(A, weights)]) / sympy.Add(*weights)


def _check_weighted_form(n):
    """The weighted-average form solves the n-agent system (cheap for any n: put it in).

    With dq_j = (A_j - D) w_j, w_j = (sigma - B_j)^-1, each first-order equation holds for any
    D; clearing, sum_j (A_j - D) w_j = 0, then holds at D = sum_j A_j w_j / sum_j w_j for any
    weights, so it is checked with the w_j as free symbols."""
    _, each, _ = _differentiated_foc(n)
    A, B, dq, w = _general(n)
    own = {dq[j]: (A[j] - D_P) / (SIGMA - B[j]) for j in range(n)}
    residuals = [sympy.cancel(e.xreplace(own)) for e in each]
    average = sympy.Add(*[A[j] * w[j] for j in range(n)]) / sympy.Add(*w)
    clearing = sympy.cancel(sympy.Add(*[(A[j] - average) * w[j] for j in range(n)]))
    if any(r != 0 for r in residuals) or clearing != 0:
        raise ArithmeticError(f"the weighted-average form does not solve the {n}-agent system")
    return _weighted_average(A, B)


# ---------------------------------------------------------------- numbers of the worked economy


def _market(marginal, q, signals, fixed, r):
    """mu_j(q, r) and d mu_j/dq (q, r) as mpmath functions, with the signals other than s_1
    put in exactly and s_1 = r free."""
    others = dict(zip(signals[1:], fixed))
    mus = [sympy.lambdify((q, r), mu.subs(others).subs(signals[0], r), "mpmath") for mu in marginal]
    slopes = [sympy.lambdify((q, r), sympy.diff(mu, q).subs(others).subs(signals[0], r), "mpmath") for mu in marginal]
    return mus, slopes


def _equilibrium(mus, slopes, r, sigma, start=None):
    """(p, [q_j]) of the sigma-WE at own report r (mpf), by Newton's method on the first-order
    conditions and market clearing at the current precision."""
    n = len(mus)

    def f(*x):
        *qs, p = x
        return [mus[j](qs[j], r) - p - sigma * qs[j] for j in range(n)] + [mpmath.fsum(qs)]

    def jacobian(*x):
        *qs, _ = x
        rows = []
        for j in range(n):
            row = [mpmath.mpf(0)] * (n + 1)
            row[j] = slopes[j](qs[j], r) - sigma
            row[n] = mpmath.mpf(-1)
            rows.append(row)
        rows.append([mpmath.mpf(1)] * n + [mpmath.mpf(0)])
        return mpmath.matrix(rows)

    if start is None:
        start = [mpmath.mpf(0)] * n + [mpmath.fsum(mu(mpmath.mpf(0), r) for mu in mus) / n]
    x = mpmath.matrix(start)
    small = mpmath.mpf(10) ** (5 - mpmath.mp.dps)
    for _ in range(60):
        step = mpmath.lu_solve(jacobian(*x), mpmath.matrix(f(*x)))
        x -= step
        if mpmath.norm(step, mpmath.inf) < small:
            break
    values = [x[k] for k in range(n + 1)]
    if max(abs(v) for v in f(*values)) > small:
        raise ArithmeticError(f"the sigma-WE at r = {r} did not converge")
    return values[-1], values[:-1]


def _pivot(mus, slopes, sigma, start):
    """The own report r with q_1(r, s_-1) = 0: agent 1's FOC at q = 0 and the others clear."""
    n = len(mus)

    def f(*x):
        r, *rest = x
        qs, p = [mpmath.mpf(0), *rest[:-1]], rest[-1]
        return [mus[j](qs[j], r) - p - sigma * qs[j] for j in range(n)] + [mpmath.fsum(qs)]

    root = mpmath.findroot(f, start)
    return root[0]


def _float(x, digits=20):
    """A numerically found number as a SymPy Float (for ``Step(result=...)``)."""
    return sympy.Float(mpmath.nstr(x, digits + 5), digits)


def _shown(x):
    """A numerically found number, rounded for a formula line (an exact decimal)."""
    return sympy.Rational(mpmath.nstr(x, _SHOWN, strip_zeros=False, min_fixed=-10, max_fixed=10))


# ---------------------------------------------------------------- the assumptions' constants


def _range(expr, symbol, interval):
    """(min, max) of a polynomial ``expr`` in ``symbol`` over a closed interval: the ends and the
    critical points inside."""
    points = {interval.start, interval.end}
    points |= {x for x in sympy.solve(sympy.diff(expr, symbol), symbol) if x.is_real and x in interval}
    values = [expr.subs(symbol, x) for x in points]
    return min(values), max(values)


def _constants(economy, marginal, q, values):
    """c_s, C_s (A2), phi_N and the smallest cross effect (A3), c_q, C_q (A4), from the model:
    each partial is bounded over its own variable (the others do not enter it)."""
    signals = economy.signals
    unit = sympy.Interval(0, 1)
    t = sympy.Symbol("t", real=True)
    own, cross, slope = [], [], []
    for i, mu in enumerate(marginal):
        mu = mu.subs(values)
        for j, s in enumerate(signals):
            d = sympy.diff(mu, s)
            if d.free_symbols - {s}:
                raise ValueError(f"d mu_{i + 1}/d s_{j + 1} = {d} depends on more than s_{j + 1}")
            (own if i == j else cross).append(_range(d, s, unit))
        # d mu/dq is a function of tanh(q) only, and tanh(q) runs over (-1, 1)
        dq = sympy.diff(mu, q).subs(sympy.tanh(q), t)
        if dq.free_symbols - {t}:
            raise ValueError(f"d mu_{i + 1}/d q = {dq} is not a function of tanh(q)")
        slope.append(_range(dq, t, sympy.Interval(-1, 1)))
    return dict(c_s=min(lo for lo, _ in own), C_s=max(hi for _, hi in own),
                phi_N=max(max(abs(lo), abs(hi)) for lo, hi in cross),
                min_cross=min(lo for lo, _ in cross),
                c_q=min(lo for lo, _ in slope), C_q=max(hi for _, hi in slope))


# ---------------------------------------------------------------- figures


def _allocation_figure(base, mus, slopes, sigmas, count=26):
    """q_1(r, s_-1) against r for each sigma; the pivot (q_1 = 0) marked. Returns the data."""
    plt = _common.pyplot()
    fig, ax = plt.subplots(figsize=(6.0, 3.8))
    data = {}
    with mpmath.workdps(_FIGURE_DPS):
        grid = [mpmath.mpf(k) / (count - 1) for k in range(count)]
        for colour, sigma in enumerate(sigmas):
            sig = to_mpf(sigma)
            start, qs = None, []
            for r in grid:
                p, allocation = _equilibrium(mus, slopes, r, sig, start)
                start = [*allocation, p]
                qs.append(allocation[0])
            # start the pivot search where the curve changes sign
            k = next(k for k in range(count - 1) if qs[k] <= 0 <= qs[k + 1])
            p, allocation = _equilibrium(mus, slopes, grid[k], sig)
            pivot = _pivot(mus, slopes, sig, [grid[k], *allocation[1:], p])
            data[sigma] = dict(reports=grid, allocation=qs, pivot=pivot)
            label = f"$\\sigma = {sigma}$"
            ax.plot([float(r) for r in grid], [float(x) for x in qs], color=f"C{colour}", label=label)
            ax.plot([float(pivot)], [0.0], "o", color=f"C{colour}", markersize=5)
    ax.axhline(0, color="black", linewidth=0.6)
    ax.plot([], [], "o", color="gray", markersize=5, label="pivotal report ($q_1 = 0$)")
    ax.set_xlabel("agent 1's report $r$")
    ax.set_ylabel("allocation $q_1(r, s_{-1})$")
    ax.set_xlim(0, 1)
    ax.legend(loc="upper left")
    _common.save_figure(fig, base)
    return data


def _example1_impact():
    """Example 1 with N agents: dp/ds_1 by Lemma 2's formula from each model, and varphi_N."""
    from symmech.model import Q
    from symmech.paper import example1_economy

    rows = {}
    for n in EXAMPLE1_SIZES:
        economy = example1_economy(n)
        marginal = economy.marginal_utilities
        s1 = economy.signals[0]
        A = [sympy.diff(mu, s1) for mu in marginal]
        B = [sympy.diff(mu, Q) for mu in marginal]
        # A3's constant: the cross effects on agent 1 and of agent 1 (all agents are alike)
        cross = [sympy.diff(mu, s1) for mu in marginal[1:]] + [sympy.diff(marginal[0], s) for s in economy.signals[1:]]
        phi = max(abs(x) for x in cross)
        rows[n] = dict(dp=sympy.nsimplify(_weighted_average(A, B)), phi=phi, varphi=phi + sympy.Rational(1, n),
                       parameters=economy.parameters)
    return rows


def _example1_figure(base, rows, sigma_value):
    plt = _common.pyplot()
    from matplotlib.ticker import FixedLocator, NullLocator, ScalarFormatter

    ns = sorted(rows)
    fig, ax = plt.subplots(figsize=(6.0, 3.6))
    ax.loglog(ns, [float(rows[n]["varphi"]) for n in ns], "-", color="C3", linewidth=2.5, alpha=0.6,
              label="scale $\\varphi_N = \\phi_N + 1/N$")
    ax.loglog(ns, [float(rows[n]["dp"].subs(SIGMA, sigma_value)) for n in ns], "o", color="C0",
              label="price impact $\\partial p^\\sigma / \\partial s_1$")
    ax.xaxis.set_major_locator(FixedLocator(ns))
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xlabel("number of agents $N$")
    ax.set_ylabel("size (log scale)")
    ax.legend(loc="upper right")
    _common.save_figure(fig, base)


# ---------------------------------------------------------------- the section


def _table(rows):
    """A small LaTeX table: one row per agent j of (q_j, A_j, B_j, w_j)."""
    lines = ["\\begin{center}\\begin{tabular}{ccccc}", "$j$ & $q_j$ & $A_j$ & $B_j$ & $w_j$ \\\\ \\hline"]
    for j, (x, a, b, w) in enumerate(rows, start=1):
        lines.append(f"{j} & ${x}$ & ${a}$ & ${b}$ & ${w}$ \\\\")
    lines.append("\\end{tabular}\\end{center}")
    return "\n".join(lines)


def build(outdir):
    """Write ``lemma2.tex`` and its figures into ``outdir``; return the Section."""
    import symmech

    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    economy = symmech.load_model(SOURCE)
    n = economy.n
    utilities, values, sym = _model(economy)
    q, b = sym["q"], sym["b"]
    m1, c1 = sym["m"][0], sym["c"][0]
    signals = economy.signals
    s1 = signals[0]
    profile = tuple(sympy.Rational(x) for x in PROFILE)
    sigma_value = sympy.Rational(SIGMA_VALUE)
    point = dict(zip(signals, profile))
    # d/dq log cosh q = sinh q / cosh q, written as tanh q
    marginal = [sympy.diff(u, q).subs(sympy.sinh(q) / sympy.cosh(q), sympy.tanh(q)) for u in utilities]

    # ---- the general derivation, N = 3 shown; the weighted form also checked for N = n
    shown_n = 3
    generic, _, (A_j, B_j, Dq_j) = _differentiated_foc(shown_n)
    dp3, dq3, clearing3 = _solve_system(shown_n)
    A3, B3, dq_3, w3 = _general(shown_n)
    weighted3 = _weighted_average(A3, B3)
    if sympy.cancel(weighted3 - dp3) != 0:
        raise ArithmeticError("SymPy's dp/ds_1 is not the weighted average")
    own_form = (A3[0] - D_P) / (SIGMA - B3[0])
    if sympy.cancel(own_form.xreplace({D_P: dp3}) - dq3[0]) != 0:
        raise ArithmeticError("SymPy's dq_1/ds_1 is not (A_1 - dp/ds_1)/(sigma - B_1)")
    dp_formula = _check_weighted_form(n)
    A, B, _, w = _general(n)

    # ---- the worked equilibrium and the partials there
    r = sympy.Symbol("r", real=True)
    mus, slopes = _market([mu.subs(values) for mu in marginal], q, signals, profile[1:], r)
    own_partial = [sympy.diff(mu, s1) for mu in marginal]          # A_j as functions of (q, s)
    quantity_partial = [sympy.diff(mu, q) for mu in marginal]      # B_j as functions of (q, s)
    with mpmath.workdps(_DPS):
        sig = to_mpf(sigma_value)
        price, allocation = _equilibrium(mus, slopes, to_mpf(profile[0]), sig)
        A_num = [own_partial[j].subs(values).subs(point) for j in range(n)]          # exact here
        B_num = [sympy.lambdify(q, quantity_partial[j].subs(values).subs(point), "mpmath")(allocation[j])
                 for j in range(n)]
        w_num = [1 / (sig - x) for x in B_num]
        dp_num = mpmath.fsum(to_mpf(a) * x for a, x in zip(A_num, w_num)) / mpmath.fsum(w_num)
        dq_num = (to_mpf(A_num[0]) - dp_num) / (sig - B_num[0])
        dq_all = [x * (to_mpf(a) - dp_num) for a, x in zip(A_num, w_num)]

    # ---- the assumptions' constants and Lemma 2's bounds
    k = _constants(economy, marginal, q, values)
    phi_sym, c_s, C_s, c_q, C_q, N = sympy.symbols("phi_N c_s C_s c_q C_q N", real=True)
    constants = {phi_sym: k["phi_N"], c_s: k["c_s"], C_s: k["C_s"], c_q: k["c_q"], C_q: k["C_q"], N: n}
    varphi = k["phi_N"] + sympy.Rational(1, n)
    w_lo, w_hi = 1 / (SIGMA - c_q), 1 / (SIGMA - C_q)
    # numerator of the weighted average: own effect in [c_s, C_s], N - 1 cross effects in
    # [min_cross, phi_N]; denominator in [N w_lo, N w_hi]. The lower bound drops the cross effects,
    # which needs them >= 0 (true here, checked below; A3' in general)
    upper_dp = sympy.simplify(w_hi * (C_s + (N - 1) * phi_sym) / (N * w_lo))
    lower_dp = sympy.simplify(w_lo * c_s / (N * w_hi))
    bound_values = {**constants, SIGMA: sigma_value}
    upper_value, lower_value = upper_dp.subs(bound_values), lower_dp.subs(bound_values)
    # dq_i/ds_i = sum_{j != i} (w_j/W)(A_i - A_j)/(sigma - B_i); A_i - A_j >= c_s - phi_N and
    # sum_{j != i} w_j/W >= (N-1) w_lo/((N-1) w_lo + w_hi) >= (N-1)/(N-1 + c_q/C_q) for sigma >= 0
    c_qs = sympy.simplify((N - 1) / (N - 1 + c_q / C_q) * (c_s - phi_sym))
    lower_dq = c_qs / (SIGMA - c_q)
    C_qs = (C_s + phi_sym) / (-C_q)
    lower_dq_value, C_qs_value = lower_dq.subs(bound_values), C_qs.subs(constants)
    if not (k["min_cross"] >= 0 and lower_value <= dp_num <= upper_value and lower_dq_value <= dq_num <= C_qs_value):
        raise ArithmeticError("the worked numbers break Lemma 2's bounds")

    # ---- figures
    allocation_base = outdir / f"{NAME}-allocation"
    curves = _allocation_figure(allocation_base, mus, slopes, FIGURE_SIGMAS)
    impact_base = outdir / f"{NAME}-impact"
    example1 = _example1_impact()
    _example1_figure(impact_base, example1, sigma_value)
    ratios = {n_: sympy.simplify(row["dp"] / row["varphi"]) for n_, row in example1.items()}
    example1_parameters = [_common.number_latex(example1[EXAMPLE1_SIZES[0]]["parameters"][x])
                           for x in ("alpha", "beta", "mu")]

    # ---- the steps
    names = {**_names(shown_n), A_j: "A_j", B_j: "B_j", Dq_j: "\\frac{\\partial q_j}{\\partial s_i}",
             phi_sym: "\\phi_N", c_s: "c_s", C_s: "C_s", c_q: "c_q", C_q: "C_q"}
    names[D_P1] = "\\frac{\\partial p^{\\sigma}}{\\partial s_1}"
    names[VARPHI] = "\\varphi_N"
    q_values = {q: _shown(allocation[0])}
    A_shown = {A[j]: A_num[j] for j in range(n)}
    B_shown = {B[j]: _shown(B_num[j]) for j in range(n)}
    w_shown = {w[j]: _shown(w_num[j]) for j in range(n)}
    fmt = lambda x: mpmath.nstr(x, 10)          # noqa: E731
    table = _table([(fmt(allocation[j]), _common.number_latex(A_num[j]), fmt(B_num[j]), fmt(w_num[j]))
                    for j in range(n)])
    weighted_n = sympy.Add(*[A[j] * w[j] for j in range(n)]) / sympy.Add(*w)

    steps = [
        _common.Step("Model", "Agent 1's utility; agent $j$'s has its own $a_j, m_j, c_j$ and the "
                     "same $b$.", "u_1(q, s)", utilities[0], values,
                     result=sympy.expand(utilities[0].subs(values))),
        _common.Step("Marginal utility", "$\\mu_1 = \\partial u_1/\\partial q$, by SymPy:",
                     "\\mu_1(q, s)", marginal[0], values,
                     result=sympy.expand(marginal[0].subs(values))),
        _common.Step("Differentiating the first-order condition",
                     "In a $\\sigma$-WE every agent $j$ has $\\mu_j(q_j(s), s) = p^\\sigma(s) + \\sigma q_j(s)$ "
                     "(eq.~1) at every profile, so the derivative of the difference in $s_i$ is zero. "
                     "SymPy's chain rule, with $A_j = \\partial\\mu_j/\\partial s_i$ and "
                     "$B_j = \\partial\\mu_j/\\partial q$, both at $(q_j(s), s)$:",
                     "\\frac{d}{d s_i}\\left[\\mu_j(q_j(s), s) - p^\\sigma(s) - \\sigma q_j(s)\\right]",
                     generic, tail="= 0"),
        _common.Step("Differentiating market clearing",
                     "$\\sum_j q_j(s) = 0$ at every profile; for $N = %d$ agents:" % shown_n,
                     "\\frac{d}{d s_i}\\sum_{j=1}^{%d} q_j(s)" % shown_n, clearing3, tail="= 0"),
        _common.Step("Solving the linear system",
                     "The %d equations of the first step ($j = 1, \\dots, %d$) and the clearing "
                     "equation are linear in the %d derivatives. SymPy solves them:"
                     % (shown_n, shown_n, shown_n + 1),
                     "\\frac{\\partial p^{\\sigma}}{\\partial s_i}", _grouped(dp3, A3)),
        _common.Step("The weighted average",
                     "With the weights $w_j = (\\sigma - B_j)^{-1} > 0$ (A4: $B_j < 0$) this is "
                     "Lemma 2's form: SymPy's \\texttt{cancel} reduces its difference from the "
                     "solution above to 0. For the worked economy's $N = %d$ the form is checked by "
                     "putting it into the %d equations."
                     % (n, n + 1),
                     "\\frac{\\partial p^{\\sigma}}{\\partial s_i}",
                     sympy.Add(*[A3[j] * w3[j] for j in range(shown_n)]) / sympy.Add(*w3),
                     tail="= \\frac{\\sum_j A_j w_j}{\\sum_j w_j}"),
        _common.Step("Own allocation response",
                     "SymPy's solution for agent $i$'s own allocation (here $i = 1$) is shown first; "
                     "its difference from Lemma 2's form $(A_i - \\partial p^\\sigma/\\partial s_i)/"
                     "(\\sigma - B_i)$ cancels to 0:",
                     "\\frac{\\partial q_1}{\\partial s_i}", own_form,
                     note="\\frac{\\partial q_1}{\\partial s_i} = %s"
                          % sympy.latex(_grouped(dq3[0], A3), symbol_names=names)),
        _common.Step("Equilibrium at the worked profile",
                     "Newton's method (\\texttt{mpmath}, %d digits) solves the %d first-order "
                     "conditions and market clearing, the model's functions with the exact signals, "
                     "for $p$ and $q_1, \\dots, q_%d$ (every $q_j$ is in the table below). "
                     "Agent 1's first-order condition then gives the price from $q_1 = %s$:"
                     % (_DPS, n, n, fmt(allocation[0])),
                     "p^\\sigma(s)", marginal[0] - SIGMA * q, {**values, **point, SIGMA: sigma_value, **q_values},
                     note="\\mu_j(q_j, s) = p + \\sigma q_j \\;(j = 1, \\dots, %d), \\qquad \\sum_j q_j = 0" % n,
                     result=_float(price)),
        _common.Step("Own-signal effects",
                     "$A_j = \\partial\\mu_j/\\partial s_1$ from the model; for agent 1 itself",
                     "A_1", own_partial[0], {**values, **point}),
        _common.Step("Cross effects", "and for every other agent $j \\ne 1$ (the signal enters "
                     "only through $b\\,\\overline{s^2}$):",
                     "A_j", own_partial[1], {**values, **point}),
        _common.Step("Quantity effect", "$B_1 = \\partial\\mu_1/\\partial q$ at agent 1's equilibrium "
                     "quantity $q_1$ (shown to %d digits in the middle line):" % _SHOWN,
                     "B_1", quantity_partial[0], {m1: values[m1], c1: values[c1], **q_values},
                     result=_float(B_num[0])),
        _common.Step("Weights", "Every agent's weight $w_j = (\\sigma - B_j)^{-1}$; all agents' "
                     "numbers at the equilibrium:\n" + table, "w_1", 1 / (SIGMA - B[0]),
                     {SIGMA: sigma_value, B[0]: B_shown[B[0]]}, result=_float(w_num[0])),
        _common.Step("Price response", "Lemma 2's weighted average at the worked profile:",
                     "\\frac{\\partial p^{\\sigma}}{\\partial s_1}", weighted_n, {**A_shown, **w_shown},
                     result=_float(dp_num)),
        _common.Step("Allocation response", "and agent 1's own allocation:",
                     "\\frac{\\partial q_1}{\\partial s_1}", (A[0] - D_P1) / (SIGMA - B[0]),
                     {A[0]: A_num[0], D_P1: _shown(dp_num), SIGMA: sigma_value, B[0]: B_shown[B[0]]},
                     result=_float(dq_num)),
        _common.Step("Informational smallness (A3)",
                     "$\\phi_N$ bounds $|\\partial\\mu_i/\\partial s_j|$, $i \\ne j$; from the model "
                     "each cross effect is $2 b s_j / N$ with $N = %d$, largest at $s_j = 1$. The "
                     "impact scale of Lemma 2 is $\\varphi_N = \\phi_N + 1/N$:" % n,
                     "\\varphi_N", phi_sym + 1 / N, {phi_sym: k["phi_N"], N: n},
                     note="\\phi_N = \\max_{i \\ne j}\\max_{q, s}\\left|\\frac{\\partial\\mu_i}{\\partial s_j}\\right| "
                          "= %s" % _common.number_latex(k["phi_N"])),
        _common.Step("Price impact relative to the scale", "Lemma 2 says this ratio stays between "
                     "two positive constants as $N$ grows:", "\\frac{\\partial p^{\\sigma}/\\partial s_1}"
                     "{\\varphi_N}", D_P1 / VARPHI, {D_P1: _shown(dp_num), VARPHI: varphi},
                     result=_float(dp_num / to_mpf(varphi))),
        _common.Step("Bounds on the price response",
                     "A2 and A4 from the model: $\\partial\\mu_i/\\partial s_i \\in [c_s, C_s] = [%s, %s]$, "
                     "$\\partial\\mu_i/\\partial q \\in [c_q, C_q] = [%s, %s]$, so every weight lies in "
                     "$[(\\sigma - c_q)^{-1}, (\\sigma - C_q)^{-1}]$. In the weighted average the own "
                     "effect is at most $C_s$ and each of the $N - 1$ cross effects at most $\\phi_N$, so the "
                     "numerator is at most $(\\sigma - C_q)^{-1}(C_s + (N - 1)\\phi_N)$ and the denominator "
                     "at least $N(\\sigma - c_q)^{-1}$:"
                     % tuple(_common.number_latex(x) for x in (k["c_s"], k["C_s"], k["c_q"], k["C_q"])),
                     "\\overline{p}_s", upper_dp, bound_values,
                     note="\\frac{\\partial p^{\\sigma}}{\\partial s_i} \\le \\overline{p}_s"),
        _common.Step("Lower bound on the price response",
                     "Here every cross effect $2 b s_i/N$ is $\\ge 0$ (the smallest is %s), so "
                     "dropping them leaves the own term: the numerator is at least $(\\sigma - c_q)^{-1} c_s$ and "
                     "the denominator at most $N(\\sigma - C_q)^{-1}$:" % _common.number_latex(k["min_cross"]),
                     "\\underline{p}_s", lower_dp, bound_values,
                     note="\\frac{\\partial p^{\\sigma}}{\\partial s_i} \\ge \\underline{p}_s"),
        _common.Step("Bounds on the allocation response",
                     "$A_i - \\partial p^\\sigma/\\partial s_i = \\sum_{j \\ne i} (w_j/W)(A_i - A_j)$ with "
                     "$W = \\sum_j w_j$, each $A_i - A_j \\ge c_s - \\phi_N > 0$ and "
                     "$\\sum_{j \\ne i} w_j / W \\ge (N - 1)/(N - 1 + c_q/C_q)$ for $\\sigma \\ge 0$. "
                     "Dividing by $\\sigma - B_i \\le \\sigma - c_q$ gives Lemma 2's lower bound "
                     "$c_{qs}/(\\sigma - c_q)$, with",
                     "c_{qs}", c_qs, constants),
        _common.Step("Monotone allocation", "so at the worked profile $\\partial q_1/\\partial s_1 \\ge "
                     "\\underline{q}_s > 0$ with", "\\underline{q}_s", lower_dq, bound_values,
                     tail="= \\frac{c_{qs}}{\\sigma - c_q}"),
        _common.Step("Upper bound on the allocation response",
                     "and, since $A_i - A_j \\le C_s + \\phi_N$ and $\\sigma - B_i \\ge -C_q$, "
                     "$\\partial q_i/\\partial s_i \\le C_{qs}$ with", "C_{qs}", C_qs, constants),
    ]
    intro = ("Lemma 2 says how agent $i$'s report $s_i$ moves the reference price $p^\\sigma(s)$ and "
             "its own allocation $q_i(s)$: the price moves by a weighted average of the report's "
             "effects on all agents' marginal utilities, so by $O(\\varphi_N)$, and the own allocation "
             "rises in the own report, which is what makes the $\\sigma$-WE mechanism incentive "
             "compatible (Proposition 1). The proof differentiates the $\\sigma$-WE conditions; here "
             "SymPy does it. The worked economy is not quadratic: agent $i$ has "
             "$u_i(q, s) = (a_i s_i + b\\,\\overline{s^2})\\, q - m_i q^2/2 - c_i \\log\\cosh q$, "
             "$\\overline{s^2}$ the mean of the squared signals, $N = %d$, $b = %s$, "
             "$a = (%s)$, $m = (%s)$, $c = (%s)$."
             % (n, _common.number_latex(values[b]),
                *(", ".join(_common.number_latex(values[x]) for x in sym[key]) for key in ("a", "m", "c"))))
    closing = ("The worked numbers sit inside the bounds: "
               "$%s \\le \\partial p^\\sigma/\\partial s_1 = %s \\le %s$ and "
               "$\\partial q_1/\\partial s_1 = %s \\ge %s > 0$. Since $\\partial q_i/\\partial s_i > 0$ "
               "at every profile, $q_i(\\cdot, s_{-i})$ is increasing (Figure~\\ref{fig:lemma2-allocation}), "
               "and local IC gives global IC (Proposition 1). For Example 1 with $N$ agents the same "
               "formula gives $\\partial p^\\sigma/\\partial s_1 / \\varphi_N = %s$ at every $N$ "
               "(Figure~\\ref{fig:lemma2-impact}): the price impact is exactly of order $\\varphi_N$."
               % (_value(lower_value), fmt(dp_num), _value(upper_value), fmt(dq_num), _value(lower_dq_value),
                  _common.number_latex(ratios[EXAMPLE1_SIZES[0]]) if len(set(ratios.values())) == 1 else "varying"))
    figures = [(allocation_base, "Agent 1's allocation $q_1(r, s_{-1})$ against its own report $r$ in the "
                                 "tanh economy, the others' signals at the worked profile, for several slopes "
                                 "$\\sigma$. Every curve rises (Lemma 2), more gently for larger $\\sigma$; a "
                                 "dot marks the pivotal report where agent 1 turns from seller to buyer."
                                 "\\label{fig:lemma2-allocation}"),
               (impact_base, "Example 1 ($\\alpha = %s$, $\\beta = %s$, $\\mu = %s$) with $N$ agents: the "
                             "price impact $\\partial p^\\sigma/\\partial s_1$ from Lemma 2's formula (equal "
                             "weights, so the same at every $\\sigma$) and the scale $\\varphi_N$, on log-log "
                             "axes. %s\\label{fig:lemma2-impact}"
                % (*example1_parameters, _ratio_text(ratios)))]
    facts = dict(profile=profile, sigma=sigma_value, price=price, allocation=tuple(allocation),
                 dp_ds1=dp_num, dq_ds1=dq_num, dq_all=tuple(dq_all), A=tuple(A_num), B=tuple(B_num),
                 weights=tuple(w_num), phi_N=k["phi_N"], varphi_N=varphi, constants=k,
                 dp_bounds=(lower_value, upper_value), dq_bounds=(lower_dq_value, C_qs_value),
                 dp_formula=dp_formula, A_symbols=A, B_symbols=B, sigma_symbol=SIGMA,
                 general_dp=dp3, general_dq=tuple(dq3), general_symbols=(A3, B3),
                 curves=curves, example1=example1)
    return _common.write_section(outdir, NAME, TITLE, SOURCE, intro, steps,
                                 [(allocation_base, figures[0][1]), (impact_base, figures[1][1])],
                                 names=names, differences=_differences(k, lower_value, n), profile=profile,
                                 sigma_value=sigma_value, closing=closing, facts=facts)


def _ratio_text(ratios):
    """The figure's comment on dp/ds_1 / varphi_N over N (computed, not assumed)."""
    values = set(ratios.values())
    if values == {1}:
        return ("Their ratio is exactly 1 at every $N$ shown, so the two coincide: the price impact is "
                "of order $\\varphi_N$ and no smaller.")
    if len(values) == 1:
        return ("Their ratio is %s at every $N$ shown, so the two lines are parallel."
                % _common.number_latex(values.pop()))
    return "Their ratio stays between %s and %s." % tuple(_common.number_latex(v) for v in (min(values), max(values)))


def _value(x):
    return _common.number_latex(x).split(" \\approx")[-1] if not sympy.Rational(x).q == 1 else str(x)


def _differences(k, lower_value, n):
    items = _common.differences(_PRINTED_KEYS)
    items.append("In the tanh economy the cross effects $2 b s_i/N$ are $\\ge 0$ but vanish at $s_i = 0$, "
                 "so A3' with $c_\\phi > 0$ fails there. The price still rises in $s_i$, and the lower "
                 "bound found above, $\\underline{p}_s = %s$, comes from the own effect alone: it is a "
                 "multiple of $1/N$ (here $1/N = %s$). It is also a multiple of $\\varphi_N$ only because "
                 "$\\phi_N = %s$ is of order $1/N$ in this economy; where $\\phi_N$ shrinks more slowly "
                 "than $1/N$, a lower bound $c_{ps}\\varphi_N$ needs cross effects of order $\\phi_N$, "
                 "which is A3'." % (_common.number_latex(lower_value), _common.number_latex(sympy.Rational(1, n)),
                                    _common.number_latex(k["phi_N"])))
    return items


if __name__ == "__main__":
    print(build(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(".")).tex)
