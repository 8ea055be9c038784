r"""LaTeX for a :class:`~symmech.symbolic.Derivation`: labelled amsmath equations and a parameter table.

The body can be ``\input`` into a paper that loads amsmath; ``standalone=True`` wraps it in a
complete article. Formulas come from SymPy's LaTeX printer with the derivation's symbol names;
long sums are broken over lines inside ``align`` (no breqn).
"""

import re

import sympy

from .symbolic import SIGMA

__all__ = ["derivation_latex"]

_WIDTH = 60           # visible characters per displayed line (rough), before breaking a sum
_PREAMBLE = r"""\documentclass[11pt]{article}
\usepackage[margin=2.2cm]{geometry}
\usepackage{amsmath}
\usepackage{amssymb}
\begin{document}
"""


def derivation_latex(derivation, standalone=False, label_prefix="eq"):
    r"""The derivation as LaTeX: labelled equations (``\label{eq:price}``, ``eq:allocation-1``, ...).

    Parameters
    ----------
    derivation : a :class:`~symmech.symbolic.Derivation` (from ``derive`` or ``derive_example``)
    standalone : a complete ``article`` document instead of an ``\input``-able body
    label_prefix : the prefix of every equation label (``eq`` gives ``eq:price``); the table is
        labelled ``tab:<prefix>-parameters``

    Examples
    --------
    >>> from symmech.symbolic import derive
    >>> body = derivation_latex(derive("example1"))
    >>> r"\label{eq:price}" in body and r"\label{eq:allocation-6}" in body
    True
    """
    writer = _Writer(derivation, label_prefix)
    body = writer.body()
    if not standalone:
        return body
    title = _text(derivation.name)
    return (_PREAMBLE + f"\\section*{{Closed forms: {title}}}\n" + body + "\\end{document}\n")


class _Writer:
    def __init__(self, derivation, prefix):
        self.d = derivation
        self.prefix = prefix
        self.lines = []

    # ---- pieces ---------------------------------------------------------------------------------
    def tex(self, expr):
        return sympy.latex(expr, symbol_names=self.d.symbol_names)

    def label(self, name, agent=None):
        suffix = "" if agent is None else "-" + _slug(agent)
        return f"\\label{{{self.prefix}:{name}{suffix}}}"

    def emit(self, *lines):
        self.lines.extend(lines)

    def paragraph(self, title, text=""):
        self.emit("", f"\\paragraph{{{title}}} {text}".rstrip())

    def align(self, rows, relation="="):
        """rows: (lhs, expr or LaTeX string, label, note); long sums broken over lines."""
        self.emit(r"\begin{align}")
        out = []
        for lhs, rhs, label, note in rows:
            pieces = self.pieces(rhs) if not isinstance(rhs, str) else [rhs]
            tail = f"\\qquad \\text{{{note}}}" if note else ""
            block = [f"{lhs} &{relation} {pieces[0]}"]
            block += [f"&\\quad {p}" for p in pieces[1:]]
            block[-1] += tail
            text = [line + r" \nonumber \\" for line in block[:-1]] + [block[-1] + f" {label}"]
            out.append("\n".join(text))
        self.emit(" \\\\\n".join(out))
        self.emit(r"\end{align}")

    def pieces(self, expr):
        """The expression's LaTeX in lines of at most about _WIDTH characters (a sum is broken)."""
        whole = self.tex(expr)
        if _visible(whole) <= _WIDTH:
            return [whole]
        factor, inner = _split_product(expr, self.d.signals)
        terms = inner.as_ordered_terms() if isinstance(inner, sympy.Add) else []
        if len(terms) < 2:
            return [whole]
        signed = [self.signed(t) for t in terms]
        open_, close = ("", "") if factor is None else (self.tex(factor) + r" \Bigl(", r"\Bigr)")
        if factor is not None and factor.could_extract_minus_sign():
            open_ = "- " + self.tex(-factor) + r" \Bigl("
        first = signed[0][2:] if signed[0].startswith("+ ") else signed[0]
        if open_ and _visible(open_) + _visible(first) > _WIDTH:
            lines, current = [open_], first
        else:
            lines, current = [], open_ + first
        for term in signed[1:]:
            if _visible(current) + _visible(term) > _WIDTH:
                lines.append(current)
                current = term
            else:
                current += " " + term
        lines.append(current + close)
        return lines

    def signed(self, term):
        coeff, _ = term.as_coeff_Mul()
        if coeff < 0:
            return "- " + self.tex(-term)
        return "+ " + self.tex(term)

    # ---- sections -------------------------------------------------------------------------------
    def body(self):
        d = self.d
        self.emit(f"% symmech derive: exact closed forms of the sigma-WE mechanism for {_comment(d.name)}.",
                  r"% Needs \usepackage{amsmath}. Labels: " + f"{self.prefix}:price, {self.prefix}:allocation-<agent>, "
                  f"{self.prefix}:dp-ds-<agent>, {self.prefix}:dq-ds-<agent>, {self.prefix}:pivot-<agent>,",
                  f"% {self.prefix}:kappa-<agent>, {self.prefix}:transfer-<agent>, {self.prefix}:edge-<agent>, "
                  f"{self.prefix}:gap-<agent>, {self.prefix}:budget-surplus, {self.prefix}:bs-threshold(-<group>), "
                  f"{self.prefix}:naive-ic-<agent>.")
        self.model()
        self.equilibrium()
        self.lemma2()
        self.transfers()
        self.threshold()
        self.naive()
        self.notes()
        return "\n".join(self.lines) + "\n"

    def model(self):
        d = self.d
        if d.groups:
            groups = "; ".join(f"group {_text(g)}: agents {', '.join(map(str, m))}" for g, m in d.groups.items())
            text = f"{_text(d.name)}, with {len(d.agents)} agents ({groups})."
        elif d.parameters or len(d.agents) > 1 and d.agents[0] == "1":
            text = f"{_text(d.name)}, with {len(d.agents)} agents."
        else:
            text = (f"{_text(d.name)}, with the number of agents and the group sizes kept as symbols; "
                    "the formulas are for one agent $i$ of each group, whose signal $s_i$ enters the group mean.")
        self.paragraph("Model.", text + r" Slope $\sigma \ge 0$; the signal profile is $\mathbf{s}$.")
        self.table()

    def table(self):
        d = self.d
        rows = []
        for name, value in d.parameters.items():
            rows.append((f"${self.tex(sympy.Symbol(name))}$", _value_tex(value, self.tex)))
        for text in d.assumptions:
            rows.append((r"\multicolumn{2}{l}{$" + _assumption_tex(text) + "$}", None))
        if not rows:
            return
        self.emit(r"\begin{table}[htbp]", r"\centering", r"\begin{tabular}{ll}", r"\hline")
        self.emit(r"parameter & value \\ \hline" if d.parameters else r"\multicolumn{2}{l}{assumptions} \\ \hline")
        for left, right in rows:
            self.emit(f"{left} \\\\" if right is None else f"{left} & {right} \\\\")
        caption = "Parameter values" if d.parameters else "Assumptions on the symbols"
        self.emit(r"\hline", r"\end{tabular}", f"\\caption{{{caption} of {_text(d.name)}.}}",
                  f"\\label{{tab:{self.prefix}-parameters}}", r"\end{table}")

    def per_agent(self, lhs, values, name):
        """One aligned row per agent (or class): ``lhs(i, c) = value``, labelled ``name``."""
        rows = []
        for agent, value in zip(self.d.agents, values):
            i, note, c = self.who(agent)
            rows.append((lhs(i, c), value, self.label(name, agent), note))
        self.align(rows)

    def who(self, agent):
        """(agent index, note, class subscript): "1" -> ("1", "", "1"); "i in A" -> ("i", "$i \\in A$", "A")."""
        if agent.startswith("i in "):
            return "i", f"$i \\in {agent[5:]}$", agent[5:]
        return agent, "", agent

    def equilibrium(self):
        d = self.d
        self.paragraph(r"Reference price and allocation (eq.~1).",
                       r"The $\sigma$-WE solves $\mu_i(q_i, \mathbf{s}) = p^{\sigma}(\mathbf{s}) + \sigma q_i$ "
                       r"for every agent and $\sum_i q_i = 0$:")
        self.align([(r"p^{\sigma}(\mathbf{s})", d.price, self.label("price"), "")])
        self.per_agent(lambda i, c: f"q_{{{i}}}(\\mathbf{{s}})", d.allocation, "allocation")

    def lemma2(self):
        d = self.d
        self.paragraph("Lemma 2.", r"The reference price and the own quantity respond to an own report as")
        rows = []
        for agent, dp, dq in zip(d.agents, d.dp_ds, d.dq_ds):
            i, note, c = self.who(agent)
            rows.append((f"\\frac{{\\partial p^{{\\sigma}}}}{{\\partial s_{{{i}}}}}", dp,
                         self.label("dp-ds", agent), note))
            rows.append((f"\\frac{{\\partial q_{{{i}}}}}{{\\partial s_{{{i}}}}}", dq,
                         self.label("dq-ds", agent), note))
        self.align(rows)

    def transfers(self):
        d = self.d
        self.paragraph("Pivotal reports.", r"Agent $i$'s report $r_i$ with $q_i(r_i, \mathbf{s}_{-i}) = 0$ "
                       r"(interior when $0 \le r_i \le 1$):")
        self.per_agent(lambda i, c: f"r_{{{i}}}", [pivot.report for pivot in d.pivot], "pivot")
        self.paragraph("IC and IR transfers (eq.~4 and 7).",
                       r"Integrating eq.~4 from an interior pivot gives "
                       r"$t_i(\mathbf{s}) = p^{\sigma}(\mathbf{s})\, q_i(\mathbf{s}) + \tfrac{\kappa_i}{2}\, "
                       r"q_i(\mathbf{s})^2$ with")
        self.per_agent(lambda i, c: f"\\kappa_{{{c}}}", d.kappa, "kappa")
        self.per_agent(lambda i, c: f"t_{{{i}}}(\\mathbf{{s}})",
                       [(f"p^{{\\sigma}}(\\mathbf{{s}})\\, q_{{{i}}}(\\mathbf{{s}}) + "
                         f"\\frac{{\\kappa_{{{c}}}}}{{2}}\\, q_{{{i}}}(\\mathbf{{s}})^{{2}}")
                        for i, _, c in map(self.who, d.agents)], "transfer")
        self.emit(r"A pivot at an end report $a$ ($a = 0$ when $r_i < 0$: $i$ buys at every report; "
                  r"$a = 1$ when $r_i > 1$: $i$ sells at every report) adds "
                  r"$\tfrac{w_i}{2}\, q_i(a, \mathbf{s}_{-i})^2$ to $t_i$, with")
        self.per_agent(lambda i, c: f"w_{{{c}}}", d.edge_weight, "edge")
        self.paragraph("Average price.", r"The average per-unit price $\bar p_i = t_i / q_i$ exceeds the "
                       r"reference price by $\kappa_i q_i / 2$:")
        self.per_agent(lambda i, c: f"\\bar p_{{{i}}}(\\mathbf{{s}}) - p^{{\\sigma}}(\\mathbf{{s}})",
                       d.average_price_gap, "gap")

    def threshold(self):
        d = self.d
        self.paragraph("Budget surplus.", r"When every pivot is interior, $\sum_i q_i = 0$ leaves")
        self.align([(r"\sum_i t_i(\mathbf{s})", self.surplus(), self.label("budget-surplus"), "")])
        self.emit(r"so BS holds at every such profile iff $\sum_i \kappa_i y_i^2 \ge 0$ whenever "
                  r"$\sum_i y_i = 0$ (a pivot at an end report adds $\tfrac{w_i}{2} q_i(a, \mathbf{s}_{-i})^2$, "
                  r"which is $\ge 0$ when $w_i \ge 0$). The smallest slopes from which on "
                  r"every $\kappa_i \ge 0$ in a group, and the exact threshold $\sigma^{*}$ (BS at every "
                  r"profile iff $\sigma \ge \sigma^{*}$), are")
        rows, conditions = [], []
        groups = list(d.bs_thresholds)
        for group, value in d.bs_thresholds.items():
            value, condition = _unless(value)
            if condition is not None:
                conditions.append(condition)
            name = r"\sigma^{*}" if groups == ["all"] else f"\\sigma^{{*}}_{{{_group_tex(group)}}}"
            label = self.label("bs-threshold") if groups == ["all"] else self.label("bs-threshold", group)
            rows.append((name, self.threshold_tex(value), label, ""))
        overall = d.bs_threshold
        if isinstance(overall, sympy.Max) and len(groups) > 1:
            overall_tex = r"\max\left(" + ", ".join(f"\\sigma^{{*}}_{{{_group_tex(g)}}}" for g in groups) + r"\right)"
        else:
            overall_tex = self.threshold_tex(_unless(overall)[0])
        if groups != ["all"]:
            rows.append((r"\sigma^{*}", overall_tex, self.label("bs-threshold"), "overall"))
        self.align(rows)
        if conditions:
            self.emit("Each value needs a positive denominator, " + ", ".join(
                f"${self.tex(c)}$" for c in conditions) + r"; otherwise no slope gives BS ($\sigma^{*} = \infty$).")

    def surplus(self):
        d = self.d
        squares = {str(s)[4:]: s for s in d.symbol_names if str(s).startswith("Qsq_")}
        parts = []
        for agent in d.agents:
            i, _, c = self.who(agent)
            tail = (self.tex(squares[c if c in squares else "all"]) if squares
                    else f"q_{{{i}}}(\\mathbf{{s}})^{{2}}")
            parts.append(f"\\frac{{\\kappa_{{{c}}}}}{{2}}\\, {tail}")
        if len(parts) > 4:
            parts = [parts[0], r"\dots", parts[-1]]
        return " + ".join(parts)

    def threshold_tex(self, value):
        """A threshold: a number, a formula, or a root of a polynomial with its decimal value."""
        if isinstance(value, sympy.CRootOf):
            poly = sympy.Poly(value.expr, value.poly.gen)
            text = self.tex(poly.as_expr().subs(poly.gen, SIGMA))
            if _visible(text) > _WIDTH - 25:
                text = r"P(\sigma)"
                note = (r"\text{, } P \text{ of degree } " + str(poly.degree())
                        + r" \text{ (in the JSON output)}")
            else:
                note = ""
            return (f"{sympy.latex(sympy.N(value, 12))} \\quad \\text{{(root {value.index + 1} of }} "
                    f"{text} = 0{note}\\text{{)}}")
        if value.free_symbols or value == sympy.oo:
            return self.tex(value)
        if value.is_Rational:
            return self.tex(value) + ("" if value.q == 1 else f" \\approx {sympy.latex(sympy.N(value, 6))}")
        return f"{self.tex(value)} \\approx {sympy.latex(sympy.N(value, 12))}"

    def naive(self):
        d = self.d
        naive = d.naive_ic_condition
        self.paragraph(r"Naive transfers (eq.~2; Example~3).",
                       r"With $t_i = (p^{\sigma} + \sigma q_i)\, q_i$, the derivative of $i$'s payoff in its own "
                       r"report $r$ at the truth is $q_i(\mathbf{s})$ times")
        rows = []
        for agent, factor, fails in zip(d.agents, naive.factor, naive.fails_where):
            i, note, c = self.who(agent)
            rows.append((f"\\frac{{\\partial}}{{\\partial r}}\\Big|_{{r = s_{{{i}}}}} \\Big/ q_{{{i}}}", factor,
                         self.label("naive-ic", agent), note))
        self.align(rows)
        if all(isinstance(w, sympy.Ne) for w in naive.fails_where):
            self.emit(r"This factor never vanishes for $\sigma \ge 0$, so local IC fails wherever "
                      r"$q_i(\mathbf{s}) \ne 0$: a buyer gains by understating, a seller by overstating.")
        else:
            self.emit(r"Local IC fails where $q_i(\mathbf{s}) \ne 0$ and the factor is not zero.")

    def notes(self):
        notes = list(self.d.notes)
        if self.d.no_trade_profile is not None:
            profile = ", ".join(self.tex(x) for x in self.d.no_trade_profile)
            notes.insert(0, f"no trade at the interior profile $({profile})$, so the threshold is exact")
        if notes:
            shown = [n if "$" in n else _text(n).replace("s\\_i", "$s_i$") for n in notes if "Qsq" not in n]
            self.paragraph("Notes.", "; ".join(shown) + ".")


def _unless(value):
    """(the value, its validity condition) for Piecewise((v, c), (oo, True)); else (value, None)."""
    if isinstance(value, sympy.Piecewise) and len(value.args) == 2 and value.args[1].expr == sympy.oo:
        return value.args[0].expr, value.args[0].cond
    return value, None


def _split_product(expr, signals=()):
    """(the factor outside, the sum inside) for c * (a + b + ...), or (None, expr).

    Of several sums in the product, one with signals in it goes inside, the longest of those.
    """
    if isinstance(expr, sympy.Mul):
        sums = [a for a in expr.args if isinstance(a, sympy.Add)]
        if sums:
            inner = max(sums, key=lambda a: (bool(a.free_symbols & set(signals)), len(a.args)))
            rest = list(expr.args)
            rest.remove(inner)
            return (sympy.Mul(*rest, evaluate=False) if len(rest) > 1 else rest[0]), inner
    return None, expr


def _visible(tex):
    """A rough count of the characters a LaTeX formula shows on one line."""
    text = re.sub(r"\\(left|right|Bigl|Bigr|mathbf|operatorname|quad|qquad|,)", "", tex)
    text = re.sub(r"\\[a-zA-Z]+", "x", text)
    return len(re.sub(r"[{}_^ ]", "", text))


def _group_tex(label):
    """A group or class label as a subscript: "A" -> "A", "agent 3" -> "3", "agents 1, 2" -> "1,2"."""
    if label.startswith("agent"):
        return label.split(" ", 1)[1].replace(" ", "")
    return r"\text{" + _text(label) + "}"


def _slug(agent):
    return agent[5:] if agent.startswith("i in ") else re.sub(r"[^A-Za-z0-9]+", "-", agent).strip("-")


def _text(text):
    """Plain text made safe for LaTeX."""
    out = str(text).replace("\\", "\0")
    for a, b in (("&", r"\&"), ("%", r"\%"), ("#", r"\#"), ("_", r"\_"), ("{", r"\{"), ("}", r"\}"),
                 ("~", r"\textasciitilde{}"), ("^", r"\textasciicircum{}")):
        out = out.replace(a, b)
    return out.replace("\0", r"\textbackslash{}")


def _comment(text):
    return " ".join(str(text).split())


def _value_tex(value, tex):
    if isinstance(value, tuple):
        return "$(" + ", ".join(tex(sympy.Rational(v.numerator, v.denominator)) for v in value) + ")$"
    return f"${tex(sympy.Rational(value.numerator, value.denominator))}$"


def _assumption_tex(text):
    """An assumption such as "beta_h > beta_l > 0" in LaTeX."""
    out = []
    for word in text.replace(",", " , ").split():
        if word in (">", "<", ">=", "<=", "=", ","):
            out.append({">=": r"\ge", "<=": r"\le"}.get(word, word))
        elif word.replace(".", "").isdigit():
            out.append(word)
        else:
            out.append(sympy.latex(sympy.Symbol(word)))
    return " ".join(out).replace(" ,", ",")
