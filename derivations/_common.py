"""Shared machinery of the derivation scripts: SymPy steps, their LaTeX, and the two figures.

A derivation script states its economy's utilities with the parameters as symbols, checks that
they are the catalogue economy once the parameters take their values, and hands them to
:func:`derive_steps`. Every formula shown is computed here by SymPy (differentiate, solve,
integrate); each step is printed the way handcalcs prints a calculation: the formula, the same
formula with the worked economy's numbers in place of the symbols, then the value.
"""

from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from functools import lru_cache
from pathlib import Path

import sympy

__all__ = ["Step", "Section", "derive_steps", "number_latex", "symbol_number", "text_latex", "words_latex", "write_section",
           "check_model", "heterogeneous_model", "build_section", "differences", "pyplot", "save_figure",
           "price_schedule_figure", "surplus_figure"]

RHO, R, P = sympy.symbols("rho r p", real=True)
# Stand-ins for p^sigma(s), q_1(s), kappa_1(sigma) when a step is written in terms of earlier ones.
T_P, T_Q, T_K = sympy.symbols("p^{\\sigma} q_1 \\kappa_1", real=True)
_FIGURE_SIZE = (6.0, 3.6)


@dataclass
class Step:
    """One step: ``lhs = expr`` (the formula), then ``expr`` with ``values`` put in, then its value.

    ``values`` maps symbols to exact numbers; an empty ``values`` shows the formula only.
    ``rhs_latex`` replaces ``expr`` in the formula line when the formula is an unevaluated
    object (an integral); ``expr`` is what gets the numbers.
    """

    title: str
    text: str
    lhs: str
    expr: sympy.Expr
    values: dict = field(default_factory=dict)
    rhs_latex: str = ""
    note: str = ""              # a display before the formula
    tail: str = ""              # appended to the formula line
    result: object = None       # the value, when it is not ``expr`` with ``values`` put in
                                # (a number solved for numerically, say)

    @property
    def value(self):
        """The value of the step: ``result`` if given, else ``expr`` with ``values`` put in, exactly
        (None when no numbers are shown)."""
        if self.result is not None:
            return self.result
        if not self.values:
            return None
        # exact in, exact out: no nsimplify, which can turn a Rational into a product of powers
        # with fractional exponents (13/1536 becomes 2**(473/712)*...)
        return sympy.simplify(self.expr.subs(self.values))


@dataclass
class Section:
    """What a derivation script built: its LaTeX file, its figures and its steps."""

    name: str
    title: str
    source: str                   # the catalogue economy the section works with
    tex: Path
    figures: list                 # the figure files, PDF and PNG of each
    steps: list
    profile: tuple = None         # the worked signal profile (Fractions), if there is one
    sigma: Fraction = None        # the worked slope, if there is one
    threshold: sympy.Expr = None  # the BS threshold the section shows, if it shows one
    facts: dict = field(default_factory=dict)   # numbers the section states, for tests

    def step(self, title):
        """The step called ``title``."""
        return next(s for s in self.steps if s.title == title)


# ---------------------------------------------------------------- derivation


def derive_steps(utilities, signals, sigma, parameters, profile, sigma_value, names):
    """The steps from the model to the BS threshold, for agent 1 of a quadratic economy.

    ``utilities``: u_i(q, s) with parameter symbols; ``parameters``: symbol -> exact value;
    ``profile``: the worked signals; ``names``: symbol -> LaTeX name. Returns (steps, facts)
    where facts holds the exact objects the figures need.
    """
    q = sympy.Symbol("q", real=True)
    n = len(utilities)
    s1 = signals[0]
    point = dict(zip(signals, profile))
    everything = {**parameters, sigma: sigma_value, **point}
    marginal = [sympy.diff(u.subs(sympy.Symbol("q"), q), q) for u in utilities]
    # FOC mu_i(q_i, s) = p + sigma q_i, solved for q_i (linear in q_i for a quadratic economy).
    demand = [sympy.solve(sympy.Eq(m, P + sigma * q), q)[0] for m in marginal]
    (price,) = sympy.solve(sympy.Add(*demand), P)
    price = sympy.factor(sympy.simplify(price))
    allocation = [_by_signal(d.subs(P, price), signals) for d in demand]
    q1 = allocation[0]
    q1_r = q1.subs(s1, R)
    (pivot,) = sympy.solve(q1_r, R)
    pivot = _by_signal(pivot, signals)
    schedule = (price + sigma * q1).subs(s1, RHO)
    integrand = sympy.expand(schedule * sympy.diff(q1.subs(s1, RHO), RHO))
    integral = sympy.integrate(integrand, (RHO, pivot, s1))
    # t_1 - p q_1 = kappa_1 q_1^2 / 2 with kappa_1 free of the signals: read kappa_1 off at the
    # worked profile (cancelling with every signal symbolic is slow), then check the identity
    # at a second profile.
    kappa = sympy.factor(sympy.cancel((2 * (integral - price * q1) / q1 ** 2).subs(point)))
    transfer = price * q1 + kappa * q1 ** 2 / 2
    other = {x: sympy.Rational(k + 2, 3 * n + 7) for k, x in enumerate(signals)}
    if sympy.cancel((integral - transfer).subs(other)) != 0 or sympy.cancel((integral - transfer).subs(point)) != 0:
        raise ArithmeticError("eq. (4) did not integrate to p q_1 + kappa_1 q_1^2 / 2")
    numeric_price = price.subs(parameters)
    kappas = [_kappa(numeric_price, q_i.subs(parameters), s_i, sigma, point) for q_i, s_i in zip(allocation, signals)]
    (root,) = sympy.solve(sympy.numer(sympy.together(kappa)), sigma)
    numeric_roots = {sympy.solve(sympy.numer(sympy.together(k.subs(parameters))), sigma)[0]
                     for k in kappas}
    threshold = max(max(numeric_roots), 0)
    model_params = dict(parameters)
    steps = [
        Step("Model", "Agent 1's utility, as the model states it; $q$ is the quantity agent 1 "
             "receives and $s = (s_1, \\dots, s_N)$ the signals.",
             "u_1(q, s)", utilities[0].subs(sympy.Symbol("q"), q), model_params),
        Step("First-order condition", "Agent 1's marginal utility $\\mu_1 = \\partial u_1/\\partial q$ "
             "must equal the marginal price $p + \\sigma q$ (eq. 1). Solved for $q$, agent 1's "
             "demand at price $p$:",
             "q_1(p, s)", demand[0], {**parameters, sigma: sigma_value},
             note=f"\\mu_1(q, s) = {sympy.latex(marginal[0], symbol_names=names)} "
                  f"= p + \\sigma q"),
        Step("Market clearing", "The demands of all agents sum to zero; over a common "
             "denominator this is one linear equation in $p$:",
             "\\sum_{i=1}^{%d} q_i(p, s)" % n, _by_signal(sympy.Add(*demand), [P, *signals]),
             tail="= 0"),
        Step("Reference price", "Solving market clearing for $p$ gives the reference price "
             "$p^\\sigma(s)$:", "p^\\sigma(s)", price, everything),
        Step("Allocation", "Putting $p^\\sigma(s)$ back into agent 1's demand:",
             "q_1(s)", q1, everything),
        Step("Pivotal report", "The report $r_1$ at which agent 1 neither buys nor sells, "
             "$q_1(r_1, s_{-1}) = 0$, given the others' signals:",
             "r_1", pivot, everything),
        Step("Transfer integral", "Eq. (4) from the pivotal report, where the boundary "
             "constant of eq. (7) is zero because $q_1(r_1, s_{-1}) = 0$. SymPy integrates it to "
             "$p^\\sigma q_1 + \\kappa_1 q_1^2/2$ (checked at two profiles), with",
             "t_1(s)", T_P * T_Q + T_K * T_Q ** 2 / 2,
             {T_P: price.subs(everything), T_Q: q1.subs(everything), T_K: kappa.subs(everything)},
             rhs_latex=sympy.latex(sympy.Integral(sympy.Symbol("SCHED"), (RHO, sympy.Symbol("r_1"), s1)),
                                   symbol_names={**names, sympy.Symbol("r_1"): "r_1"}).replace(
                 "SCHED", "\\left[p^\\sigma(\\rho, s_{-1}) + \\sigma q_1(\\rho, s_{-1})\\right] "
                          "\\frac{\\partial q_1(\\rho, s_{-1})}{\\partial \\rho}"),
             note=f"\\kappa_1(\\sigma) = {sympy.latex(kappa, symbol_names=names)}"),
        Step("Average per-unit price", "Agent 1 pays $t_1/q_1$ per unit; by the transfer step the "
             "gap to the reference price is", "\\frac{t_1(s)}{q_1(s)} - p^\\sigma(s)",
             sympy.cancel(T_P + T_K * T_Q / 2 - T_P),
             {T_P: price.subs(everything), T_Q: q1.subs(everything), T_K: kappa.subs(everything)}),
        Step("Budget-surplus coefficient", "Since the transfer is $t_1 = p^\\sigma q_1 + "
             "\\kappa_1 q_1^2/2$ and $\\sum_i q_i = 0$, the budget surplus is "
             "$\\sum_i t_i = \\sum_i \\kappa_i q_i^2/2$, with",
             "\\kappa_1(\\sigma)", kappa, {**parameters, sigma: sigma_value}),
        Step("BS threshold", "The budget surplus is non-negative at every profile once every "
             "$\\kappa_i \\ge 0$; agent 1's coefficient vanishes at",
             "\\sigma^*", root, model_params),
    ]
    facts = dict(price=price.subs(parameters), allocation=[a.subs(parameters) for a in allocation],
                 pivot=pivot, transfer=transfer.subs(parameters),
                 kappas=kappas, threshold=threshold, everything=everything, point=point)
    return steps, facts


def _by_signal(expr, signals):
    """``expr`` as (sum of coefficient * signals) / denominator: signals with equal coefficients
    grouped, each coefficient factored."""
    num, den = sympy.fraction(sympy.cancel(sympy.together(expr)))
    num = sympy.expand(num)
    groups = {}
    for x in signals:
        coefficient = sympy.factor(num.coeff(x))
        groups.setdefault(coefficient, []).append(x)
    rest = sympy.factor(num - sympy.Add(*[c * x for c, xs in groups.items() for x in xs]))
    terms = [c * sympy.Add(*xs) for c, xs in groups.items() if c != 0]
    return sympy.Add(*terms, rest) / sympy.factor(den)


def _pivot_of(q_i, s_i):
    (pivot,) = sympy.solve(q_i.subs(s_i, R), R)
    return pivot


def _kappa(price, q_i, s_i, sigma, point):
    """kappa_i = 2 (t_i - p q_i) / q_i^2 with t_i integrated from the pivot (eq. 4), at ``point``.

    kappa_i depends on sigma only (t_i - p q_i is q_i^2 times a function of sigma); the
    signals are put in before cancelling to keep SymPy fast.
    """
    schedule = (price + sigma * q_i).subs(s_i, RHO)
    t_i = sympy.integrate(sympy.expand(schedule * sympy.diff(q_i.subs(s_i, RHO), RHO)),
                          (RHO, _pivot_of(q_i, s_i), s_i))
    return sympy.factor(sympy.cancel((2 * (t_i - price * q_i) / q_i ** 2).subs(point)))


# ---------------------------------------------------------------- LaTeX


def number_latex(x):
    """An exact number in LaTeX: a terminating decimal as such, else a fraction with its decimal."""
    x = Fraction(str(sympy.Rational(x)))
    if x.denominator == 1:
        return str(x.numerator)
    d = x.denominator
    for prime in (2, 5):
        while d % prime == 0:
            d //= prime
    if d == 1:
        return format(Decimal(x.numerator) / Decimal(x.denominator), "f")
    sign = "-" if x < 0 else ""
    return f"{sign}\\frac{{{abs(x.numerator)}}}{{{x.denominator}}} \\approx {float(x):.6g}"


def symbol_number(x):
    """What stands in for a symbol inside a formula: a number (fractions and negatives in
    parentheses), a matrix, or an expression in parentheses."""
    x = sympy.sympify(x)
    if isinstance(x, sympy.MatrixBase):
        return sympy.latex(x)
    if not x.is_Rational:
        return f"\\left({sympy.latex(x)}\\right)"
    x = Fraction(x.p, x.q)
    if x.denominator == 1 and x >= 0:
        return str(x.numerator)
    text = number_latex(x).split(" \\approx")[0]
    if text.startswith("\\frac"):
        text = "\\tfrac" + text[len("\\frac"):]
    return text if x >= 0 and not text.startswith("\\tfrac") else f"\\left({text}\\right)"


def text_latex(text):
    """Plain text safe for LaTeX's text mode (every special character escaped)."""
    special = {"\\": "\\textbackslash{}", "_": "\\_", "^": "\\textasciicircum{}", "&": "\\&", "%": "\\%",
               "#": "\\#", "{": "\\{", "}": "\\}", "$": "\\$", "~": "\\~{}", "<": "\\textless{}",
               ">": "\\textgreater{}"}
    return "".join(special.get(c, c) for c in text)


_GREEK = ("alpha", "beta", "gamma", "delta", "mu", "sigma", "kappa", "phi", "varphi", "rho", "theta")
_WORD_MATH = [(r"\bd(mu|p|q|U)(?=[_^/])", r"\\partial \1"), (r"/d([sq])_", r"/\\partial \1_"),
              (r"\bbar s_", r"\\bar s_"), (r"\bunderline s_", r"\\underline s_"), (r"\bsum_", r"\\sum_"),
              (r"\*\*", "^"), (r"!=", r" \\ne "), (r">=", r" \\ge "), (r"<=", r" \\le "),
              (r"\*", r" "), (r"\bsbar_\{?(-i)\}?", r"\\bar s_{-i}"), (r"\bsbar_minus_i\b", r"\\bar s_{-i}"),
              (r"\bsbar_?([AE])\b", r"\\bar s^{\1}"), (r"\bsbar\b", r"\\bar s"), (r"\bpbar_i\b", r"\\bar p_i"),
              (r"\b(" + "|".join(_GREEK) + r")(?![A-Za-z])", r"\\\1"),
              (r"_([A-Za-z0-9]+|\{[^}]*\})", r"_{\1}"), (r"\^([A-Za-z0-9]+)", r"^{\1}")]


def _kind(token):
    """'math' for a formula-like word, 'join' for what may sit inside a formula (operators,
    numbers, single letters other than a and I), else 'text'."""
    import re

    core = token.rstrip(".,;:")
    if not core:
        return "text"
    if any(c in core for c in "_^=/*<>") or core.strip("()") in _GREEK + ("sbar",):
        return "math"
    if core in ("+", "-") or re.fullmatch(r"[(]?[\d./]+[)]?|[(]?(?![aAI]\b)[A-Za-z][)}]*|\d+[a-z]", core):
        return "join"
    return "text"


def words_latex(text):
    """Words with ASCII formulas (``p^sigma(s)``, ``beta/(N-1)``, ``q_b >= 0``) as LaTeX text in
    which each run of formula-like words is set in math mode (as text when it would not typeset)."""
    import re

    tokens = text.split()
    out, i = [], 0
    while i < len(tokens):
        j = i
        while j < len(tokens) and _kind(tokens[j]) != "text":
            j += 1
            if tokens[j - 1][-1] in ".,;:":
                break
        run = tokens[i:j]
        if run and any(_kind(x) == "math" for x in run):
            body = " ".join(run)
            tail = body[len(body.rstrip(".,;:")):]
            math = body[:len(body) - len(tail)]
            for pattern, repl in _WORD_MATH:
                math = re.sub(pattern, repl, math)
            if math.count("{") == math.count("}"):
                out.append(f"${math}${tail}")
            else:
                out.append(text_latex(body))
            i = j
        else:
            out.append(text_latex(tokens[i]))
            i += 1
    return " ".join(out)


def _step_latex(step, names):
    formula = step.rhs_latex or sympy.latex(step.expr, symbol_names=names)
    lines = [f"\\subsection*{{{step.title}}}", step.text, ""]
    if step.note:
        lines.append(f"\\fitmath{{{step.note}}}")
    lines.append(f"\\fitmath{{{step.lhs} = {formula} {step.tail}}}")
    if step.rhs_latex:
        lines.append(f"\\fitmath{{\\phantom{{{step.lhs}}} = {sympy.latex(step.expr, symbol_names=names)}}}")
    if step.values:
        numbers = {**names, **{k: symbol_number(v) for k, v in step.values.items()}}
        shown = sympy.latex(step.expr, symbol_names=numbers, mul_symbol="dot")
        lines.append(f"\\fitmath{{\\phantom{{{step.lhs}}} = {shown}}}")
    if step.values or step.result is not None:
        lines.append(f"\\fitmath{{\\phantom{{{step.lhs}}} = {_value_latex(step.value, names)}}}")
    return "\n".join(lines) + "\n"


def _value_latex(value, names):
    """A step's value: exact numbers as :func:`number_latex`, floats to 10 digits, else SymPy's LaTeX."""
    if isinstance(value, str):
        return value
    value = sympy.sympify(value)
    if value.is_Rational:
        return number_latex(value)
    if value.is_Float:
        return sympy.latex(sympy.Float(value, 10))
    return sympy.latex(value, symbol_names=names)


def write_section(outdir, name, title, source, intro, steps, figures, *, names=None, differences=(),
                  profile=None, sigma_value=None, threshold=None, closing="", facts=None,
                  source_text=None):
    """Write ``<name>.tex`` into ``outdir`` and return the :class:`Section`.

    ``figures``: (base path without suffix, caption) pairs; ``differences``: LaTeX items for
    "Where the printed paper differs"; ``profile``/``sigma_value``: the worked profile, named in
    the opening; ``threshold``: the exact BS threshold, stated after the steps; ``closing``:
    LaTeX after the steps; ``source_text``: LaTeX naming the source economy when it is not a
    catalogue economy.
    """
    outdir = Path(outdir)
    names = names or {}
    where = source_text or f"\\texttt{{{source}}} (symmech catalogue)"
    parts = [f"\\section{{{title}}}\n\\label{{sec:{name}}}\n",
             f"\\noindent\\textbf{{Source economy:}} {where}.\n\n", intro, "\n\n"]
    if profile is not None:
        profile_text = ", ".join(number_latex(x) for x in profile)
        parts.append(f"Worked profile: $s = ({profile_text})$, slope $\\sigma = {number_latex(sigma_value)}$. "
                     "Each step shows the formula, the formula with the worked numbers put in, and the value.\n")
    parts += [_step_latex(step, names) for step in steps]
    if threshold is not None:
        parts.append(f"\\medskip\\noindent The exact threshold over all agents is "
                     f"$\\sigma^* = {number_latex(threshold)}$; "
                     "\\texttt{symmech.derive} finds the same.\n")
    if closing:
        parts.append(f"\\medskip\n{closing}\n")
    for path, caption in figures:           # floats: LaTeX puts them near here
        parts.append("\\begin{figure}[!htbp]\n\\centering\n"
                     f"\\includegraphics[width=0.85\\linewidth]{{{Path(path).with_suffix('.pdf').name}}}\n"
                     f"\\caption{{{caption}}}\n\\end{{figure}}\n")
    if differences:
        parts.append("\\subsection*{Where the printed paper differs}\n\\begin{itemize}\n")
        parts += [f"\\item {d}\n" for d in differences]
        parts.append("\\end{itemize}\n")
    tex = outdir / f"{name}.tex"
    tex.write_text("".join(parts), encoding="utf-8")
    return Section(name=name, title=title, source=source, tex=tex,
                   figures=[Path(p).with_suffix(ext) for p, _ in figures for ext in (".pdf", ".png")],
                   steps=steps, profile=None if profile is None else tuple(profile),
                   sigma=None if sigma_value is None else Fraction(str(sigma_value)),
                   threshold=threshold, facts=dict(facts or {}))


# ---------------------------------------------------------------- figures


def pyplot():
    """matplotlib's pyplot on the Agg backend, with the report's font sizes."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    plt.rcParams.update({"font.size": 11, "axes.labelsize": 12, "legend.fontsize": 10})
    return plt


def save_figure(fig, base):
    """Save ``fig`` as ``base``.pdf and ``base``.png (150 dpi), laid out tight, and close it."""
    fig.tight_layout()
    for ext in (".pdf", ".png"):
        fig.savefig(Path(base).with_suffix(ext), dpi=150)
    pyplot().close(fig)


def price_schedule_figure(base, facts, sigma, s1):
    """Agent 1's per-unit price p^sigma(s_1(x), s_-1) + sigma x against the unit x, transfer shaded."""
    import numpy as np
    plt = pyplot()
    x = sympy.Symbol("x", real=True)
    q1 = facts["allocation"][0]
    everything = facts["everything"]
    (report,) = sympy.solve(sympy.Eq(q1.subs(s1, R), x), R)       # the report s_1(x) that buys x units
    schedule = (facts["price"].subs(s1, report) + sigma * x).subs({k: v for k, v in everything.items() if k != s1})
    quantity = q1.subs(everything)
    f = sympy.lambdify(x, schedule, "numpy")
    end = float(quantity)
    xs = np.linspace(min(0.0, end), max(0.0, end), 200)
    ys = np.broadcast_to(np.asarray(f(xs), dtype=float), xs.shape)
    fig, ax = plt.subplots(figsize=_FIGURE_SIZE)
    ax.plot(xs, ys, color="C0", label=r"$p^\sigma(s_1(x), s_{-1}) + \sigma x$")
    ax.fill_between(xs, 0, ys, color="C0", alpha=0.25,
                    label=f"transfer $t_1$ = {float(facts['transfer'].subs(everything)):.4f}")
    ax.axhline(0, color="black", linewidth=0.6)
    ax.set_xlabel("unit $x$ bought by agent 1")
    ax.set_ylabel("price of unit $x$")
    ax.set_ylim(bottom=0)
    ax.legend(loc="lower right")
    save_figure(fig, base)


def surplus_figure(base, facts, sigma, signals):
    """The budget surplus sum_i t_i against sigma at the worked profile, zero at the threshold."""
    import numpy as np
    plt = pyplot()
    rest = {k: v for k, v in facts["everything"].items() if k != sigma}
    surplus = sympy.Add(*[k * q ** 2 for k, q in zip(facts["kappas"], facts["allocation"])]) / 2
    f = sympy.lambdify(sigma, sympy.simplify(surplus.subs(rest)), "numpy")
    threshold = float(facts["threshold"])
    xs = np.linspace(0, max(1.0, 3 * threshold), 300)
    fig, ax = plt.subplots(figsize=_FIGURE_SIZE)
    ax.plot(xs, f(xs), color="C1", label="budget surplus $\\sum_i t_i$")
    ax.axhline(0, color="black", linewidth=0.6)
    ax.axvline(threshold, color="C3", linestyle="--",
               label=f"threshold $\\sigma^* = {sympy.latex(facts['threshold'])}$")
    ax.plot([threshold], [0], "o", color="C3")
    ax.set_xlabel("slope $\\sigma$")
    ax.set_ylabel("budget surplus")
    ax.legend(loc="lower right")
    save_figure(fig, base)


# ---------------------------------------------------------------- one section, end to end


def check_model(utilities, values, economy):
    """Raise ValueError unless ``utilities`` with ``values`` put in are the catalogue economy's."""
    q = sympy.Symbol("q")
    from symmech.model import Q
    for i, (u, target) in enumerate(zip(utilities, economy.utilities), start=1):
        if sympy.expand(u.subs(values).subs(q, Q) - target) != 0:
            raise ValueError(f"agent {i}: the derivation's utility is not the catalogue's {economy.source}")


def heterogeneous_model(economy, q, curvature="mu"):
    """Example 1 with agent-specific alpha_i and curvature (catalogue ``heterogeneous``), symbolic.

    u_i = (alpha_i s_i + beta sbar) q - c_i q^2/2 with c_i named ``curvature``_i; checked against
    ``economy``. Returns (utilities, values, alphas, curvatures, beta).
    """
    n = economy.n
    alphas = sympy.symbols(f"alpha_1:{n + 1}", positive=True)
    curvatures = sympy.symbols(f"{curvature}_1:{n + 1}", positive=True)
    beta = sympy.Symbol("beta", positive=True)
    mean = sympy.Add(*economy.signals) / n
    utilities = [(a * s + beta * mean) * q - c / 2 * q ** 2
                 for a, s, c in zip(alphas, economy.signals, curvatures)]
    p = economy.parameters
    values = {beta: sympy.Rational(p["beta"])}
    values.update({a: sympy.Rational(v) for a, v in zip(alphas, p["alpha"])})
    values.update({c: sympy.Rational(v) for c, v in zip(curvatures, p["mu"])})
    check_model([u.subs(q, sympy.Symbol("q")) for u in utilities], values, economy)
    return utilities, values, alphas, curvatures, beta


@lru_cache(maxsize=None)
def _printed_rows(keys):
    """The rows of :func:`symmech.printed.compare_printed` for ``keys`` (a tuple), by key."""
    from symmech.printed import compare_printed

    return {row["key"]: row for row in compare_printed(keys)}


# How the names in printed.py's formula strings are typeset.
_PRINTED_NAMES = {"sbar": "\\bar s", "sbar_minus_i": "\\bar s_{-i}", "sbar_A": "\\bar s^A",
                  "sbar_E": "\\bar s^E", "dp_ds_i": "\\frac{\\partial p^\\sigma}{\\partial s_i}",
                  "q_under": "q_i(\\underline{s}_i)", "q_b": "q_b", "p_b": "p_b", "s_i": "s_i",
                  "q_i": "q_i", "n_A": "n_A", "n_E": "n_E", "beta_h": "\\beta_h", "beta_l": "\\beta_l"}
_LONGEST_SHOWN = 240          # a derived formula longer than this (as text) is not displayed


def _printed_math(text):
    """A formula string of printed.py as LaTeX, or None when it is words or too long to show."""
    import re
    from sympy.parsing.sympy_parser import parse_expr

    if not text or len(text) > _LONGEST_SHOWN or not re.fullmatch(r"[\w\s+\-*/().]+", text):
        return None
    local = {w: sympy.Symbol(w) for w in set(re.findall(r"[A-Za-z_]\w*", text))}
    try:
        expr = parse_expr(text, local_dict=local)
    except (SyntaxError, TypeError, ValueError):
        return None
    if isinstance(expr, sympy.Symbol) and str(expr) not in _PRINTED_NAMES:
        return None                          # a tag in words (understate_if_buyer), not a formula
    return sympy.latex(expr, symbol_names={local[w]: n for w, n in _PRINTED_NAMES.items() if w in local})


def differences(keys):
    """One item per printed formula of ``keys`` (rows of :func:`symmech.printed.compare_printed`):
    what the paper prints, what is derived, and whether they agree."""
    rows = _printed_rows(tuple(keys))
    out = []
    for key in keys:
        row = rows[key]
        printed, derived = _printed_math(row["printed_sympy"]), _printed_math(row["derived"])
        quantity = row["quantity"]
        if _kind(quantity.split()[0]) == "text":          # a formula keeps its case (beta_h)
            quantity = quantity[:1].upper() + quantity[1:]
        quantity = words_latex(quantity)
        item = f"{quantity} ({text_latex(row['where'])}). The paper "
        item += (f"prints\n\\fitmath{{{printed}}}" if printed else f"says ``{words_latex(row['printed'])}''.")
        if row["agrees"]:
            item += "\nThis agrees with the derivation" + (": " + words_latex(row["note"]) + "." if row["note"] else ".")
        else:
            if derived and printed:
                item += f"\nDerived instead:\n\\fitmath{{{derived}}}"
            item += "\nThis differs from the derivation" + (": " + words_latex(row["note"]) + "." if row["note"]
                                                             else " above (the derived expression is too long to print here).")
        out.append(item)
    return out


def build_section(outdir, name, title, source, intro, economy, utilities, values, profile,
                  sigma_value, printed_keys):
    """Derive, draw and write one section; check the threshold against ``symmech.derive``."""
    import symmech
    from symmech.symbolic import SIGMA

    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    profile = tuple(sympy.Rational(x) for x in profile)
    sigma_value = sympy.Rational(sigma_value)
    steps, facts = derive_steps(utilities, economy.signals, SIGMA, values, profile, sigma_value, {})
    derived = symmech.derive(economy).bs_threshold
    if sympy.simplify(derived - facts["threshold"]) != 0:
        raise ArithmeticError(f"{name}: threshold {facts['threshold']} but symmech.derive finds {derived}")
    pivots = [_pivot_of(q_i, s_i).subs(values).subs(facts["point"]) for q_i, s_i in zip(facts["allocation"], economy.signals)]
    if not all(0 <= r <= 1 for r in pivots):
        raise ValueError(f"{name}: the worked profile needs every pivotal report in [0, 1], got {pivots}")
    schedule, surplus = outdir / f"{name}-schedule", outdir / f"{name}-surplus"
    price_schedule_figure(schedule, facts, SIGMA, economy.signals[0])
    surplus_figure(surplus, facts, SIGMA, economy.signals)
    figures = [(schedule, "Agent 1's per-unit price $p^\\sigma(s_1(x), s_{-1}) + \\sigma x$ for "
                          "the $x$-th unit, where $s_1(x)$ is the report at which agent 1 gets $x$ units, "
                          "at the worked profile; the shaded area is the transfer $t_1$."),
               (surplus, "Budget surplus $\\sum_i t_i$ at the worked profile against the slope "
                         "$\\sigma$; it crosses zero at the derived threshold $\\sigma^*$.")]
    return write_section(outdir, name, title, source, intro, steps, figures,
                         differences=differences(printed_keys), profile=profile,
                         sigma_value=sigma_value, threshold=facts["threshold"])
