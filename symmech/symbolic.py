"""Exact closed forms of the sigma-WE mechanism for quadratic economies, derived with SymPy.

An economy is quadratic when every marginal utility mu_i(q, s) is a polynomial of degree at most
one in q and the signals jointly, mu_i = c_i + sum_j A_ij s_j - m_i q. Then eq. 1 is a linear
system, and every object of the mechanism has an exact closed form: :func:`derive` solves the
system, differentiates it (Lemma 2), finds each agent's pivotal report, integrates eq. 4 from the
boundary type (eq. 7 as derived) and reads off the budget-surplus threshold on sigma.
:func:`derive_example` does the same for the paper's Examples 1 and 2 with N and the group sizes
kept as symbols. Nothing here imports the numeric solvers; :mod:`symmech.verify` checks these
formulas against them in the tests.
"""

from dataclasses import dataclass, field
from fractions import Fraction
from functools import lru_cache
import math

import sympy

from ._numbers import exact
from .errors import ModelError
from .model import Q, load_model

__all__ = ["SIGMA", "Derivation", "Pivot", "NaiveIC", "Deficit", "is_quadratic", "derive",
           "derive_example", "deficit_profile"]

#: The slope sigma of eq. 1 in every derived formula.
SIGMA = sympy.Symbol("sigma", nonnegative=True)

_DIGITS = 30                                  # digits of the decimal values shown beside roots


@dataclass(frozen=True)
class Pivot:
    """Agent i's pivotal report and its transfer at every report.

    ``report`` is r_b with q_i(r_b, s_-i) = 0 (it may lie outside [0, 1]); ``transfer`` is a
    ``sympy.Piecewise``: integrated from report 0 when r_b < 0 (the agent buys at every report),
    from report 1 when r_b > 1 (sells at every report), else from r_b (interior pivot).
    """

    report: sympy.Expr
    transfer: sympy.Expr


@dataclass(frozen=True)
class NaiveIC:
    """Example 3's local IC condition for the naive transfers of eq. 2, per agent.

    ``derivative[k]`` is d/dr [u_i(q_i(r, s_-i), s) - (p(r, s_-i) + sigma q_i(r, s_-i)) q_i(r, s_-i)]
    at r = s_i; it equals ``q_i(s) * factor[k]``. Local IC needs it to vanish, so the naive
    mechanism fails IC wherever ``fails_where[k]`` holds.
    """

    derivative: tuple
    factor: tuple
    fails_where: tuple


@dataclass(frozen=True)
class Deficit:
    """A profile at which the IC/IR mechanism runs a deficit, every pivot interior."""

    sigma: sympy.Rational
    signals: tuple
    budget_surplus: sympy.Rational


@dataclass(frozen=True)
class Derivation:
    r"""The closed forms of the sigma-WE mechanism of one quadratic economy (eq. 1, 4, 7).

    Per agent (or, for :func:`derive_example`, per class of symmetric agents, ``agents``):

    - ``price`` p^sigma(s) and ``allocation`` q_i(s) solve eq. 1;
    - ``dp_ds`` and ``dq_ds`` are Lemma 2's dp^sigma/ds_i and dq_i/ds_i;
    - ``pivot`` is the pivotal report r_b and the transfer at every report (:class:`Pivot`);
    - ``transfer`` t_i(s) is eq. 4 integrated from an interior pivot, with t_b = 0;
    - ``kappa``: for an interior pivot t_i - p^sigma q_i = kappa_i q_i^2 / 2 with

      .. math:: \kappa_i(\sigma) = \sigma - \frac{\partial p^\sigma/\partial s_i}{\partial q_i/\partial s_i};

    - ``average_price_gap`` is t_i/q_i - p^sigma = kappa_i q_i / 2 (as in Example 4);
    - ``edge_weight`` w_i = sigma + P_i/D_i: a pivot at end report a (0 or 1) adds
      w_i q_i(a, s_-i)^2 / 2 to the interior formula;
    - ``budget_surplus`` is sum_i t_i at a profile whose pivots are all interior,
      sum_i kappa_i q_i^2 / 2, because sum_i q_i = 0;
    - ``bs_thresholds`` (per group, or per class of agents with equal kappa) is the smallest
      sigma >= 0 from which on kappa >= 0 in that group; ``bs_threshold`` is the exact overall one;
    - ``naive_ic_condition``: :class:`NaiveIC`.

    The threshold. A pivot at report 0 or 1 adds (sigma + P_i/D_i) q_i(a)^2 / 2 >= 0 to t_i - p q_i
    (a the end report, P_i = dp/ds_i, D_i = dq_i/ds_i), so the interior form decides. BS holds at
    every profile with interior pivots iff sum_i kappa_i y_i^2 >= 0 for the reachable directions
    y of q. Near a profile with no trade strictly inside the cube (``no_trade_profile``) pivots are
    interior and, when the signal matrix A is invertible, s -> q reaches every y with sum y = 0.
    So ``bs_threshold`` is the smallest sigma0 >= 0 such that for all sigma >= sigma0 the form is
    positive semidefinite on {sum y = 0}: all kappa_i >= 0, or exactly one kappa_i < 0 with
    kappa_i + 1 / sum_{j != i} 1/kappa_j >= 0. Without such a no-trade profile it is still
    sufficient for BS (a note says so). ``oo`` means no slope gives BS.
    """

    name: str
    sigma: sympy.Symbol
    signals: tuple                  # the signal symbols the formulas use
    agents: tuple                   # labels: "1", "2", ... or classes such as "i in A"
    price: sympy.Expr
    allocation: tuple
    dp_ds: tuple
    dq_ds: tuple
    pivot: tuple                    # of Pivot
    transfer: tuple
    kappa: tuple
    average_price_gap: tuple
    edge_weight: tuple              # w_i: a pivot at end report a adds w_i q_i(a, s_-i)^2 / 2
    budget_surplus: sympy.Expr
    bs_thresholds: dict             # group or class label -> threshold
    bs_threshold: sympy.Expr
    naive_ic_condition: NaiveIC
    parameters: dict = field(default_factory=dict)     # name -> exact value (Fraction or tuple)
    assumptions: tuple = ()                            # text, for symbolic parameters
    groups: dict = field(default_factory=dict)         # group name -> agents (from 1)
    no_trade_profile: tuple = None                     # exact profile in (0,1)^N with q = 0, or None
    notes: tuple = ()
    symbol_names: dict = field(default_factory=dict)   # symbol -> LaTeX name

    def latex(self, expr):
        """``expr`` in LaTeX with this derivation's symbol names."""
        return sympy.latex(expr, symbol_names=self.symbol_names)

    def to_dict(self):
        """The JSON object of ``symmech derive --format json``: exact SymPy strings, LaTeX beside."""
        f = self._entry
        agents = lambda values: [dict(agent=a, **f(v)) for a, v in zip(self.agents, values)]
        threshold = f(self.bs_threshold)
        threshold["value"] = _decimal(self.bs_threshold)
        naive = self.naive_ic_condition
        return {
            "model": self.name,
            "sigma": str(self.sigma),
            "signals": [str(s) for s in self.signals],
            "agents": list(self.agents),
            "price": f(self.price),
            "allocation": agents(self.allocation),
            "transfer": agents(self.transfer),
            "average_price_gap": agents(self.average_price_gap),
            "bs_threshold": threshold,
            "bs_thresholds": {k: dict(f(v), value=_decimal(v)) for k, v in self.bs_thresholds.items()},
            "dp_ds": agents(self.dp_ds),
            "dq_ds": agents(self.dq_ds),
            "kappa": agents(self.kappa),
            "edge_weight": agents(self.edge_weight),
            "pivot": [{"agent": a, "report": f(pv.report), "transfer": f(pv.transfer)}
                      for a, pv in zip(self.agents, self.pivot)],
            "budget_surplus": f(self.budget_surplus),
            "naive_ic": [{"agent": a, "derivative": f(d), "factor": f(c), "fails_where": f(w)}
                         for a, d, c, w in zip(self.agents, naive.derivative, naive.factor,
                                               naive.fails_where)],
            "parameters": {k: _value_text(v) for k, v in self.parameters.items()},
            "assumptions": list(self.assumptions),
            "groups": {k: list(v) for k, v in self.groups.items()},
            "no_trade_profile": (None if self.no_trade_profile is None
                                 else [str(x) for x in self.no_trade_profile]),
            "notes": list(self.notes),
        }

    def to_text(self):
        """A readable report of every closed form (SymPy's string printer)."""
        s = sympy.sstr
        lines = [f"Closed forms for {self.name} (sigma-WE mechanism, eq. 1, 4, 7; exact, by SymPy)"]
        if self.parameters:
            lines.append("parameters: " + ", ".join(f"{k} = {_value_text(v)}" for k, v in self.parameters.items()))
        lines += [f"assumption: {a}" for a in self.assumptions]
        lines += ["", "reference price (eq. 1):", f"  p = {s(self.price)}", "", "allocation (eq. 1):"]
        lines += [f"  q[{a}] = {s(v)}" for a, v in zip(self.agents, self.allocation)]
        lines += ["", "Lemma 2: dp/ds_i and dq_i/ds_i:"]
        lines += [f"  [{a}] dp/ds_i = {s(p)},  dq_i/ds_i = {s(d)}"
                  for a, p, d in zip(self.agents, self.dp_ds, self.dq_ds)]
        lines += ["", "pivotal report r_b (q_i(r_b, s_-i) = 0):"]
        lines += [f"  r[{a}] = {s(pv.report)}" for a, pv in zip(self.agents, self.pivot)]
        lines += ["", "IC/IR transfer, interior pivot (eq. 4 + 7): t_i = p q_i + kappa_i q_i**2/2"]
        lines += [f"  kappa[{a}] = {s(k)}" for a, k in zip(self.agents, self.kappa)]
        lines += [f"  t[{a}] = {s(t)}" for a, t in zip(self.agents, self.transfer)]
        lines += ["", "average price gap t_i/q_i - p = kappa_i q_i/2:"]
        lines += [f"  [{a}] {s(g)}" for a, g in zip(self.agents, self.average_price_gap)]
        lines += ["", f"budget surplus, interior pivots: {s(self.budget_surplus)}", "",
                  "budget-surplus threshold on sigma:"]
        value = lambda v: "" if v.free_symbols or v.is_Rational or v == sympy.oo else f"  (= {_decimal(v, 12)})"
        lines += [f"  {k}: sigma >= {s(v)}{value(v)}" for k, v in self.bs_thresholds.items()]
        lines.append(f"  overall: sigma >= {s(self.bs_threshold)}{value(self.bs_threshold)}")
        naive = self.naive_ic_condition
        lines += ["", "naive transfers (eq. 2), local IC derivative at the truth = q_i * factor:"]
        lines += [f"  [{a}] factor = {s(c)}; IC fails where {s(w)}"
                  for a, c, w in zip(self.agents, naive.factor, naive.fails_where)]
        if self.no_trade_profile is not None:
            lines += ["", "no-trade profile inside the cube: " + ", ".join(map(str, self.no_trade_profile))]
        lines += [""] + [f"note: {n}" for n in self.notes] if self.notes else []
        return "\n".join(lines)

    def _entry(self, expr):
        return {"sympy": sympy.sstr(expr), "latex": self.latex(expr)}


# ---- quadratic economies ------------------------------------------------------------------------

def is_quadratic(economy):
    """Whether every marginal utility is linear in q and the signals jointly (closed forms exist).

    >>> import symmech
    >>> is_quadratic(symmech.load_model("example2")), is_quadratic(symmech.load_model("tanh"))
    (True, False)
    """
    economy = load_model(economy)
    return not _linear_problems(economy)[1]


def _linear_problems(economy):
    """(per agent (c_i, [A_i1..A_iN], m_i) with mu_i = c_i + sum_j A_ij s_j - m_i q, the agents that fail)."""
    parts, bad = [], []
    gens = (Q, *economy.signals)
    for i, mu in enumerate(economy.marginal_utilities, start=1):
        try:
            poly = sympy.Poly(mu, *gens)
        except sympy.PolynomialError:
            bad.append(i)
            continue
        if poly.total_degree() > 1 or any(c.free_symbols for c in poly.coeffs()):
            bad.append(i)
            continue
        parts.append((poly.coeff_monomial(1), [poly.coeff_monomial(s) for s in economy.signals],
                      -poly.coeff_monomial(Q)))
    return parts, bad


def _linear_parts(economy):
    parts, bad = _linear_problems(economy)
    if bad:
        who = f"agent {bad[0]}" if len(bad) == 1 else f"agents {', '.join(map(str, bad))}"
        raise ModelError([f"closed forms need marginal utility linear in q and s (quadratic utility), "
                          f"but {who} {'has' if len(bad) == 1 else 'have'} e.g. mu = "
                          f"{_short(economy.marginal_utilities[bad[0] - 1])}; use `symmech solve` "
                          "for this economy"], source=economy.source or None)
    flat = [i for i, (_, _, m) in enumerate(parts, start=1) if not m > 0]
    if flat:
        raise ModelError([f"A4 needs d mu_i/dq < 0, but agent {flat[0]} has d mu/dq = "
                          f"{-parts[flat[0] - 1][2]}; the sigma-WE is not unique there"],
                         source=economy.source or None)
    return parts


def derive(economy):
    """The exact closed forms of the sigma-WE mechanism of a quadratic economy.

    Parameters
    ----------
    economy : Economy, or a model file path or catalogue name

    Raises :class:`ModelError` (one line) when a marginal utility is not linear in q and s.

    Examples
    --------
    >>> d = derive("example1")
    >>> d.price
    (s_1 + s_2 + s_3 + s_4 + s_5 + s_6)/4
    >>> d.kappa[0], d.bs_threshold
    ((7*sigma - 3)/10, 3/7)
    """
    economy = load_model(economy)
    parts = _linear_parts(economy)
    n = economy.n
    field_ = _Field([SIGMA], [x for c, row, m in parts for x in (c, m, *row)])
    unit = lambda k: [1 if j == k else 0 for j in range(n)]
    model = _LinearModel(
        field_, economy.signals,
        values=[field_.linear(c, row) for c, row, _ in parts],
        slopes=[field_.element(m) for _, _, m in parts],
        own=[field_.linear(0, unit(k)) for k in range(n)],
        directions=[field_.linear(0, unit(k)) for k in range(n)],
        weights=[field_.element(1)] * n,
        to_mean=[lambda lin: lin] * n)
    core = _mechanism(model)
    kappas = core["kappa"]
    labels, members = _classes(economy, kappas)
    thresholds = {label: _threshold([kappas[k] for k in ks]) for label, ks in zip(labels, members)}
    overall, notes = _overall_threshold(kappas)
    no_trade = _no_trade_profile(parts)
    if no_trade is None:
        notes.append("no profile strictly inside the cube gives every agent q_i = 0 (or the signal "
                     "matrix is singular): the threshold is sufficient for BS, maybe not necessary")
    if overall != sympy.oo and _threshold(core["weight"]) > overall:
        notes.append("some end-report weight w_i = sigma + P_i/D_i is negative just above the threshold "
                     "(negative cross effects): there a pivot at report 0 or 1 lowers the surplus, and the "
                     "threshold covers profiles with interior pivots only")
    if not all(_positive_for_all_sigma(d) for d in core["dq_ds"]):
        notes.append("dq_i/ds_i is not positive for every sigma >= 0: Lemma 2's monotonicity fails "
                     "and the pivot formulas do not apply there")
    return Derivation(
        name=economy.name, sigma=SIGMA, signals=economy.signals,
        agents=tuple(str(i) for i in range(1, n + 1)), price=core["price"],
        allocation=core["allocation"], dp_ds=core["dp_ds"], dq_ds=core["dq_ds"], pivot=core["pivot"],
        transfer=core["transfer"], kappa=kappas, average_price_gap=core["gap"],
        edge_weight=core["weight"],
        budget_surplus=sympy.Add(*[k * q ** 2 for k, q in zip(kappas, core["allocation"])]) / 2,
        bs_thresholds=thresholds, bs_threshold=overall, naive_ic_condition=core["naive"],
        parameters=dict(economy.parameters), groups=dict(economy.groups),
        no_trade_profile=no_trade, notes=tuple(notes), symbol_names={SIGMA: r"\sigma"},
    )


# ---- exact affine forms over Q(sigma, parameters) -----------------------------------------------

class _Field:
    """SymPy's field of rational functions in sigma (and symbolic parameters) over the constants.

    Elements are polys ``FracElement``s: exact and fast. Constants that are not rational (sqrt(2))
    fall back to SymPy's EX domain, exact but slower.
    """

    def __init__(self, gens, constants):
        self.domain = sympy.QQ.frac_field(*gens)
        try:
            for c in constants:
                self.domain.from_sympy(sympy.sympify(c))
        except (ValueError, sympy.CoercionFailed):
            self.domain = sympy.EX

    def element(self, value):
        return self.domain.from_sympy(sympy.sympify(value))

    def expr(self, element):
        return self.domain.to_sympy(element)

    def linear(self, const, coeffs):
        return _Lin(self, self.element(const), [self.element(c) for c in coeffs])


class _Lin:
    """An affine form const + sum_k coeffs[k] * x_k with coefficients in a :class:`_Field`."""

    def __init__(self, field_, const, coeffs):
        self.field, self.const, self.coeffs = field_, const, list(coeffs)

    def __add__(self, other):
        return _Lin(self.field, self.const + other.const, [a + b for a, b in zip(self.coeffs, other.coeffs)])

    def __sub__(self, other):
        return self + other.scale(self.field.element(-1))

    def scale(self, c):
        return _Lin(self.field, self.const * c, [a * c for a in self.coeffs])

    def shift(self, c):
        return _Lin(self.field, self.const + c, self.coeffs)

    def dot(self, direction):
        """The derivative along ``direction`` (a form whose coefficients give dx_k/dr)."""
        return sum((a * d for a, d in zip(self.coeffs, direction.coeffs)), self.field.element(0))

    def is_zero(self):
        return not self.const and not any(self.coeffs)

    def expr(self, symbols):
        """The form as a short SymPy expression: a common factor times a sum, or term by term."""
        f = self.field.expr
        items = [(c, x) for c, x in zip([self.const, *self.coeffs], [1, *symbols]) if c]
        if not items:
            return sympy.Integer(0)
        plain = sympy.Add(*[sympy.factor(f(c)) * x for c, x in items])
        common = _common_factor([c for c, _ in items])
        if common is None:
            return plain
        inner = sympy.Add(*[sympy.factor(f(c / common)) * x for c, x in items])
        grouped = inner if common == 1 else _times(f(common), inner)
        return min([plain, grouped], key=lambda e: len(sympy.sstr(e)))


def _times(common, inner):
    """common * inner, unevaluated so that SymPy prints (sum)/(factored denominator)."""
    num, den = sympy.fraction(sympy.factor(common))
    parts = []
    c, factors = sympy.factor_list(num)
    parts += ([c] if c != 1 else []) + [f ** e for f, e in factors] + [inner]
    c, factors = sympy.factor_list(den)
    parts += ([sympy.Pow(c, -1, evaluate=False)] if c != 1 else [])
    parts += [sympy.Pow(f, -e, evaluate=False) for f, e in factors]
    return sympy.Mul(*parts, evaluate=False)


def _common_factor(coefficients):
    """gcd(numerators) / lcm(denominators), rational content included, signed like the first term.

    None for SymPy's EX domain (no polynomial gcd there) or a single term.
    """
    first = coefficients[0]
    if not hasattr(first, "numer") or len(coefficients) < 2:
        return None
    g, l = first.numer, first.denom
    for c in coefficients[1:]:
        g, l = g.gcd(c.numer), l.lcm(c.denom)
    common = first.new(g, l)
    content = _fraction_gcd([_content(c / common) for c in coefficients])
    if _content(first / common) < 0:
        content = -content
    return common * first.numer.ring.domain.convert(sympy.Rational(content.numerator, content.denominator))


def _content(element):
    """The rational content of a field element: content(numerator) / content(denominator), signed."""
    rational = lambda x: Fraction(int(x.numerator), int(x.denominator))
    part = lambda poly: _fraction_gcd([rational(x) for x in poly.coeffs()]) * (1 if rational(poly.LC) > 0 else -1)
    return part(element.numer) / part(element.denom)


def _fraction_gcd(values):
    """The largest rational r with every value an integer multiple of r."""
    num, den = 0, 1
    for v in values:
        num = math.gcd(num * v.denominator, v.numerator * den)
        den = den * v.denominator
        g = math.gcd(num, den)
        num, den = num // g, den // g
    return Fraction(num, den)


class _LinearModel:
    """A quadratic economy in affine-form terms, for :func:`_mechanism`.

    For each agent (or class) k: mu_k(q, x) = values[k] - slopes[k] q; ``own[k]`` is its own signal;
    ``directions[k]`` says how the variables move with its own report (dx/dr); market clearing is
    sum_k weights[k] q_k(to_mean[k](x)) = 0 (a class of n_g members enters with its group mean).
    """

    def __init__(self, field_, symbols, values, slopes, own, directions, weights, to_mean):
        self.field, self.symbols = field_, tuple(symbols)
        self.values, self.slopes, self.own = values, slopes, own
        self.directions, self.weights, self.to_mean = directions, weights, to_mean


def _mechanism(model):
    """Every closed form, from eq. 1 solved in affine forms and eq. 4 integrated in :func:`_eq4`."""
    F = model.field
    sigma = F.element(SIGMA)
    show = lambda lin: lin.expr(model.symbols)
    scalar = lambda c: sympy.factor(F.expr(c))
    # eq. 1: the FOC values_k - slopes_k q_k = p + sigma q_k gives q_k = (values_k - p)/(slopes_k + sigma);
    # clearing sum_k weights_k q_k(mean) = 0 is linear in p.
    inv = [1 / (m + sigma) for m in model.slopes]
    total = sum((w * c for w, c in zip(model.weights, inv)), F.element(0))
    price = sum((mean(v).scale(w * c) for v, w, c, mean in zip(model.values, model.weights, inv, model.to_mean)),
                F.linear(0, [0] * len(model.symbols))).scale(1 / total)
    allocation = [(v - price).scale(c) for v, c in zip(model.values, inv)]
    _check_clearing(model, allocation)
    eq4 = _eq4()
    out = {key: [] for key in ("dp_ds", "dq_ds", "pivot", "transfer", "kappa", "gap", "weight", "naive")}
    p_expr = show(price)
    q_exprs = [show(q) for q in allocation]
    for k, q in enumerate(allocation):
        slope_p, slope_q = price.dot(model.directions[k]), q.dot(model.directions[k])
        kappa = eq4["kappa"](slope_p, slope_q, sigma)        # t - p q = kappa q^2/2 (interior pivot)
        weight = eq4["edge"](slope_p, slope_q, sigma)        # end report a adds weight q(a)^2/2
        pivot = model.own[k] - q.scale(1 / slope_q)          # q + D (r - s_i) = 0
        end = lambda a: q + model.own[k].scale(F.element(-1)).shift(F.element(a)).scale(slope_q)
        interior = p_expr * q_exprs[k] + scalar(kappa) * q_exprs[k] ** 2 / 2
        edge = lambda a: interior + scalar(weight) * show(end(a)) ** 2 / 2
        report = show(pivot)
        out["dp_ds"].append(scalar(slope_p))
        out["dq_ds"].append(scalar(slope_q))
        out["kappa"].append(scalar(kappa))
        out["gap"].append(show(q.scale(kappa / 2)))
        out["weight"].append(scalar(weight))
        out["transfer"].append(interior)
        out["pivot"].append(Pivot(report, sympy.Piecewise((edge(0), report < 0), (edge(1), report > 1),
                                                          (interior, True))))
        out["naive"].append(_naive_ic(model, k, price, q, slope_p, slope_q, sigma, q_exprs[k]))
    result = {key: tuple(v) for key, v in out.items() if key != "naive"}
    result["naive"] = NaiveIC(*(tuple(x) for x in zip(*out["naive"])))
    result["price"], result["allocation"] = p_expr, tuple(q_exprs)
    return result


def _check_clearing(model, allocation):
    F = model.field
    total = F.linear(0, [0] * len(model.symbols))
    for q, w, mean in zip(allocation, model.weights, model.to_mean):
        total = total + mean(q).scale(w)
    if not total.is_zero():
        raise ArithmeticError("the derived allocation does not clear the market")


@lru_cache(maxsize=None)
def _eq4_symbolic():
    """Eq. 4 + 7 integrated once by SymPy, for schedules affine in the own report.

    p(rho) = p0 + P (rho - s) and q(rho) = q0 + D (rho - s); the transfer from boundary report a is
    t_b(a) + int_a^s [p(rho) + sigma q(rho)] q'(rho) d rho with t_b(a) = [p(a) + sigma q(a)] q(a).
    Interior pivot (q(a) = 0): t = p0 q0 + kappa q0^2/2; an end report a adds weight q(a)^2/2.
    Both coefficients are read off the integral and checked.
    """
    p0, P, q0, D, s, rho, a = sympy.symbols("p0 P q0 D s rho a", real=True)
    price = lambda x: p0 + P * (x - s)
    qty = lambda x: q0 + D * (x - s)

    def transfer(lower):
        boundary = (price(lower) + SIGMA * qty(lower)) * qty(lower)
        return sympy.cancel(boundary + sympy.integrate((price(rho) + SIGMA * qty(rho)) * D, (rho, lower, s)))

    (pivot,) = sympy.solve(qty(rho), rho)
    kappa = sympy.cancel(2 * (transfer(pivot) - p0 * q0) / q0 ** 2)
    extra = sympy.cancel(transfer(a) - p0 * q0 - kappa * q0 ** 2 / 2)
    weight = sympy.cancel(2 * extra / qty(a) ** 2)
    if (kappa.free_symbols | weight.free_symbols) - {P, D, SIGMA}:
        raise ArithmeticError("eq. 4 did not integrate to p q + kappa q^2/2 (+ weight q(a)^2/2)")
    return (P, D), kappa, weight


def _eq4():
    """kappa(P, D, sigma) and the end-report weight(P, D, sigma) as functions on field elements."""
    (P, D), kappa, weight = _eq4_symbolic()
    as_function = lambda e: (lambda p, d, sigma: _evaluate(e, {P: p, D: d, SIGMA: sigma}))
    return {"kappa": as_function(kappa), "edge": as_function(weight)}


def _evaluate(expr, values):
    """An arithmetic SymPy expression evaluated exactly on field elements (no floats, no lambdify)."""
    if expr in values:
        return values[expr]
    if expr.is_Rational:
        return next(iter(values.values())).parent().from_sympy(expr)
    args = [_evaluate(a, values) for a in expr.args if not (expr.is_Pow and a is expr.args[1])]
    if expr.is_Add:
        return sum(args[1:], args[0])
    if expr.is_Mul:
        out = args[0]
        for x in args[1:]:
            out = out * x
        return out
    if expr.is_Pow and expr.exp.is_Integer:
        base = args[0]
        return base ** int(expr.exp) if expr.exp >= 0 else 1 / base ** int(-expr.exp)
    raise ArithmeticError(f"cannot evaluate {expr} exactly")


def _naive_ic(model, k, price, q, slope_p, slope_q, sigma, q_expr):
    """Example 3: d/dr [u_k(q_k(r), s) - (p(r) + sigma q_k(r)) q_k(r)] at r = s_i, true type s_i.

    By the chain rule it is mu_k(q_k, s) D - (P + sigma D) q_k - (p + sigma q_k) D; the FOC
    mu_k = p + sigma q_k (checked) leaves q_k * factor with factor = -(P + sigma D).
    """
    F = model.field
    marginal = model.values[k] - q.scale(model.slopes[k])
    derivative = (marginal - price - q.scale(sigma)).scale(slope_q) - q.scale(slope_p + sigma * slope_q)
    factor = -(slope_p + sigma * slope_q)
    if not (derivative - q.scale(factor)).is_zero():
        raise ArithmeticError("the naive IC derivative is not q_i times a constant")
    factor_expr = sympy.factor(F.expr(factor))
    never_zero = _positive_for_all_sigma(-factor_expr) or _positive_for_all_sigma(factor_expr)
    fails = sympy.Ne(q_expr, 0) if never_zero else sympy.And(sympy.Ne(q_expr, 0), sympy.Ne(factor_expr, 0))
    return factor_expr * q_expr, factor_expr, fails

# ---- thresholds --------------------------------------------------------------------------------

def _classes(economy, kappas):
    """Labels and member indices (from 0): the groups, or else the agents with equal kappa."""
    if economy.groups:
        return list(economy.groups), [[a - 1 for a in members] for members in economy.groups.values()]
    classes = []
    for k, kappa in enumerate(kappas):
        for members in classes:
            if sympy.cancel(kappas[members[0]] - kappa) == 0:
                members.append(k)
                break
        else:
            classes.append([k])
    if len(classes) == 1:
        return ["all"], classes
    label = lambda ks: (f"agent {ks[0] + 1}" if len(ks) == 1 else "agents " + ", ".join(str(k + 1) for k in ks))
    return [label(ks) for ks in classes], classes


def _threshold(kappas):
    """The smallest sigma0 >= 0 with every kappa >= 0 for all sigma >= sigma0 (oo if none)."""
    return _last_run([_RatFun.of(k) for k in kappas], lambda values: all(v >= 0 for v in values))[0]


def _overall_threshold(kappas):
    """The exact overall threshold: PSD of sum kappa_i y_i^2 on {sum y = 0} for all larger sigma."""
    functions = [_RatFun.of(k) for k in kappas]
    threshold, other = _last_run(functions, _psd_on_sum_zero, extra=_psd_boundaries(functions))
    notes = []
    if other:
        notes.append("BS also holds (interior pivots) for sigma in " + ", ".join(other)
                     + ", below the threshold")
    return threshold, notes


def _psd_on_sum_zero(values):
    """Whether sum v_i y_i^2 >= 0 whenever sum y_i = 0 (exact rationals)."""
    negative = [k for k, v in enumerate(values) if v < 0]
    if not negative:
        return True
    if len(negative) > 1:
        return False
    i = negative[0]
    others = [v for k, v in enumerate(values) if k != i]
    if any(v == 0 for v in others):
        return False
    return values[i] + 1 / sum(1 / v for v in others) >= 0


def _psd_boundaries(functions):
    """kappa_i + 1 / sum_{j != i} 1/kappa_j: where the one-negative PSD condition changes sign."""
    out = []
    for i, k in enumerate(functions):
        total = None
        for j, other in enumerate(functions):
            if j != i:
                total = other.inverse() if total is None else total + other.inverse()
        out.append(k + total.inverse())
    return out


class _RatFun:
    """An exact rational function of sigma, num/den as univariate Polys (fast, no simplifier)."""

    def __init__(self, num, den):
        g = num.gcd(den)
        num, den = num.quo(g), den.quo(g)
        c = den.LC()
        self.num, self.den = num.quo_ground(c), den.quo_ground(c)

    @classmethod
    def of(cls, expr):
        num, den = sympy.fraction(sympy.cancel(sympy.together(expr)))
        return cls(sympy.Poly(num, SIGMA, domain="QQ"), sympy.Poly(den, SIGMA, domain="QQ"))

    def __add__(self, other):
        return _RatFun(self.num * other.den + other.num * self.den, self.den * other.den)

    def inverse(self):
        return _RatFun(self.den, self.num)

    def at(self, x):
        return sympy.Rational(self.num.eval(x)) / sympy.Rational(self.den.eval(x))


def _last_run(kappas, holds, extra=()):
    """Where ``holds`` is true for all large sigma: (its left end, other intervals where it holds).

    Between consecutive real roots (sigma >= 0) of the kappas and ``extra`` the signs are
    constant, so one exact rational sample per interval decides it; the set is closed, so the left
    end of the last run is a root (or 0).
    """
    roots = _nonnegative_roots([*kappas, *extra])
    if roots and roots[0].lower == 0 == roots[0].upper:
        ends, samples = roots, []
    else:
        ends, samples = [None, *roots], [roots[0].lower / 2 if roots else sympy.Integer(1)]
    samples += [_between(a, b) for a, b in zip(roots, [*roots[1:], None])]
    states = [holds([k.at(x) for k in kappas]) for x in samples]
    if not states[-1]:
        return sympy.oo, []
    start = len(states) - 1
    while start > 0 and states[start - 1]:
        start -= 1
    value = lambda end: sympy.Integer(0) if end is None else end.exact()
    other, k = [], 0
    while k < start:
        j = k
        while states[k] and j + 1 < start and states[j + 1]:
            j += 1
        if states[k]:
            other.append(f"[{_decimal(value(ends[k]), 6)}, {_decimal(value(ends[j + 1]), 6)}]")
        k = j + 1
    return value(ends[start]), other


class _Root:
    """A real root of an irreducible polynomial, isolated in [lower, upper] (exact rationals)."""

    def __init__(self, factor, index, lower, upper):
        self.factor, self.index, self.lower, self.upper = factor, index, lower, upper

    def exact(self):
        if self.factor.degree() == 1:
            return -self.factor.nth(0) / self.factor.nth(1)
        root = sympy.CRootOf(self.factor.as_expr(), self.index)
        if not self.lower <= sympy.N(root, 50) <= self.upper:
            raise ArithmeticError("a threshold root left its isolating interval")
        return root


def _nonnegative_roots(functions):
    """The distinct real roots sigma >= 0 of the numerators and denominators, sorted, isolated.

    Each polynomial is split into irreducible factors; distinct irreducible factors share no root,
    so the roots of their product are isolated once, in disjoint rational intervals.
    """
    factors = []
    for f in functions:
        for part in (f.num, f.den):
            if part.degree() < 1:
                continue
            for factor, _ in part.factor_list()[1]:
                factor = factor.monic()
                if factor not in factors:
                    factors.append(factor)
    if not factors:
        return []
    product = factors[0]
    for factor in factors[1:]:
        product = product * factor
    roots = []
    for (lower, upper), _ in product.intervals():
        if upper < 0:
            continue
        factor = next(f for f in factors if f.count_roots(lower, upper) > 0)
        index = factor.count_roots(None, lower) - (1 if factor.eval(lower) == 0 else 0)
        if lower < 0:
            lower, upper = _refine_at_zero(factor, lower, upper)
            if lower is None:
                continue
        roots.append(_Root(factor, index, lower, upper))
    return roots


def _refine_at_zero(factor, lower, upper):
    """Cut an isolating interval [lower < 0, upper] to its part in [0, oo), or (None, None)."""
    if factor.eval(0) == 0:
        return sympy.Integer(0), sympy.Integer(0)
    if factor.count_roots(0, upper) == 0:
        return None, None
    return sympy.Integer(0), upper


def _between(a, b):
    """An exact rational strictly between isolated roots a and b (b None: above a)."""
    if b is None:
        return a.upper + 1
    return (a.upper + b.lower) / 2


def _positive_for_all_sigma(expr):
    """Whether expr (a function of sigma alone, or with positive parameters) is > 0 for sigma >= 0."""
    expr = sympy.cancel(expr)
    if expr.is_positive:
        return True
    if expr.free_symbols - {SIGMA}:
        return bool(expr.is_positive)
    if not expr.has(SIGMA):
        return bool(expr > 0)
    # no root and no pole in [0, oo), and positive at one point
    function = _RatFun.of(expr)
    return not _nonnegative_roots([function]) and function.at(sympy.Integer(1)) > 0


# ---- the no-trade profile, and a deficit just below the threshold ------------------------------

def _no_trade_profile(parts):
    """A profile strictly inside [0,1]^N where every mu_i(0, s) is equal (so q = 0 for all sigma).

    Solves A s + c = k 1 for s on the line in k (A invertible) and picks the middle of the k-range
    that keeps s inside the open cube; None if A is singular or the range is empty.
    """
    n = len(parts)
    A = sympy.Matrix([row for _, row, _ in parts])
    c = sympy.Matrix([c0 for c0, _, _ in parts])
    if A.det() == 0:
        return None
    inverse = A.inv()
    u, v = inverse * sympy.ones(n, 1), -inverse * c
    lo, hi = -sympy.oo, sympy.oo
    for uj, vj in zip(u, v):
        if uj == 0:
            if not 0 < vj < 1:
                return None
            continue
        a, b = sorted([(0 - vj) / uj, (1 - vj) / uj])
        lo, hi = max(lo, a), min(hi, b)
    if not lo < hi:
        return None
    k = (lo + hi) / 2 if lo.is_finite and hi.is_finite else (lo + 1 if lo.is_finite else hi - 1)
    return tuple(sympy.Rational(x) for x in (u * k + v))


def deficit_profile(derivation, sigma, grid=10 ** 6):
    """A profile where the IC/IR mechanism runs a deficit at slope ``sigma``, or None.

    Below the threshold the form sum kappa_i y_i^2 is negative at some y with sum y = 0; this moves
    from the derivation's no-trade profile along a signal change that produces that y, small enough
    that every pivot stays interior, and rounds the profile to multiples of 1/grid. Only for
    :func:`derive` results (signals s_1..s_N).

    >>> d = derive("example1")          # threshold 3/7
    >>> w = deficit_profile(d, "0.4")
    >>> w.signals, w.budget_surplus < 0
    ((3/4, 1/4, 1/2, 1/2, 1/2, 1/2), True)
    >>> deficit_profile(d, "0.6") is None
    True
    """
    s0 = derivation.no_trade_profile
    if s0 is None:
        return None
    sigma = sympy.Rational(exact(sigma))
    kappas = [sympy.Rational(k.subs(SIGMA, sigma)) for k in derivation.kappa]
    y = _negative_direction(kappas)
    if y is None:
        return None
    signals = derivation.signals
    J = sympy.Matrix([[sympy.diff(q, s).subs(SIGMA, sigma) for s in signals] for q in derivation.allocation])
    solution, free = J.gauss_jordan_solve(sympy.Matrix(y))
    delta = solution.subs({t: 0 for t in free})
    room = min([min(x, 1 - x) / abs(d) for x, d in zip(s0, delta) if d != 0] + [sympy.Integer(1)])
    step = room / 2
    for _ in range(60):
        profile = tuple(sympy.Rational(round((x + step * d) * grid), grid) for x, d in zip(s0, delta))
        values = dict(zip(signals, profile))
        values[SIGMA] = sigma
        interior = all(0 <= pv.report.subs(values) <= 1 for pv in derivation.pivot)
        surplus = sympy.Rational(derivation.budget_surplus.subs(values))
        if interior and surplus < 0 and all(0 <= x <= 1 for x in profile):
            return Deficit(sigma, profile, surplus)
        step /= 2
    return None


def _negative_direction(kappas):
    """A y with sum y = 0 and sum kappa_i y_i^2 < 0, or None if the form is PSD there."""
    n = len(kappas)
    negative = [k for k, v in enumerate(kappas) if v < 0]
    zero = [k for k, v in enumerate(kappas) if v == 0]
    unit = lambda i, j: [1 if k == i else (-1 if k == j else 0) for k in range(n)]
    if len(negative) > 1:
        return unit(negative[0], negative[1])
    if not negative:
        return None
    i = negative[0]
    if zero:
        return unit(i, zero[0])
    total = sum(1 / v for k, v in enumerate(kappas) if k != i)
    if kappas[i] + 1 / total >= 0:
        return None
    return [1 if k == i else -(1 / v) / total for k, v in enumerate(kappas)]


# ---- Examples 1 and 2 with N and the group sizes as symbols ------------------------------------

def derive_example(number):
    r"""Example 1 (number=1) or Example 2 (number=2) of the paper, with N and group sizes as symbols.

    Agent i in group g has mu_i = alpha s_i + sum_h b_gh sbar_h - mu q; by symmetry q_i depends on
    s_i and the group means only, so eq. 1 reduces to one FOC per group and the clearing condition
    sum_g n_g q_g(sbar_g, sbar) = 0. An own report r moves s_i and sbar_g by (r - s_i)/n_g.
    Example 1: one group of N agents, b = beta, sbar the mean of all signals. Example 2: groups A
    and E of n_A and n_E agents, N = n_A + n_E, b_AA = b_EE = beta_h, b_AE = b_EA = beta_l.
    Each group is assumed to have at least two members; then the overall threshold is the largest
    group threshold.

    >>> d = derive_example(1)
    >>> d.price, d.allocation[0]
    (sbar*(alpha + beta), alpha*(s_i - sbar)/(mu + sigma))
    """
    alpha, mu = sympy.symbols("alpha mu", positive=True)
    if number == 1:
        beta = sympy.Symbol("beta", positive=True)
        sizes = {"all": sympy.Symbol("N", positive=True, integer=True)}
        means = {"all": sympy.Symbol("sbar", real=True)}
        return _group_model("Example 1 (fundamental value model)", alpha, mu, sizes, means,
                            {("all", "all"): beta}, ("alpha, beta, mu > 0", "N >= 2"))
    if number == 2:
        beta_h, beta_l = sympy.symbols("beta_h beta_l", positive=True)
        sizes = {g: sympy.Symbol(f"n_{g}", positive=True, integer=True) for g in "AE"}
        means = {g: sympy.Symbol(f"sbar_{g}", real=True) for g in "AE"}
        weights = {("A", "A"): beta_h, ("E", "E"): beta_h, ("A", "E"): beta_l, ("E", "A"): beta_l}
        return _group_model("Example 2 (group model)", alpha, mu, sizes, means, weights,
                            ("alpha, mu > 0", "beta_h > beta_l > 0", "n_A, n_E >= 2", "N = n_A + n_E"))
    raise ModelError([f"derive_example knows Examples 1 and 2, not {number!r}"])


OWN_SIGNAL = sympy.Symbol("s_i", real=True)


def _group_model(name, alpha, mu, sizes, means, weights, assumptions):
    groups = list(sizes)
    symbols = (OWN_SIGNAL, *means.values())
    params = sorted({alpha, mu, *sizes.values(), *weights.values()}, key=str)
    F = _Field([SIGMA, *params], [])
    index = {g: 1 + k for k, g in enumerate(groups)}            # position of sbar_g among symbols
    basis = lambda pos, c=1: [c if j == pos else 0 for j in range(len(symbols))]

    def value(g):
        coeffs = [sum(weights[g, h] for h in groups if index[h] == j) if j else alpha
                  for j in range(len(symbols))]
        return F.linear(0, coeffs)

    def to_mean(g):
        def move(lin):        # a member's form with s_i replaced by the group mean
            coeffs = list(lin.coeffs)
            coeffs[index[g]] += coeffs[0]
            coeffs[0] = F.element(0)
            return _Lin(F, lin.const, coeffs)
        return move

    model = _LinearModel(
        F, symbols,
        values=[value(g) for g in groups], slopes=[F.element(mu)] * len(groups),
        own=[F.linear(0, basis(0))] * len(groups),
        directions=[F.linear(0, [1 if j == 0 else (1 / sizes[g] if j == index[g] else 0)
                                 for j in range(len(symbols))]) for g in groups],
        weights=[F.element(sizes[g]) for g in groups], to_mean=[to_mean(g) for g in groups])
    core = _mechanism(model)
    one = len(groups) == 1
    thresholds = {("all" if one else g): _symbolic_threshold(k, d, p_s, mu)
                  for g, k, d, p_s in zip(groups, core["kappa"], core["dq_ds"], core["dp_ds"])}
    overall = list(thresholds.values())[0] if one else sympy.Max(*thresholds.values())
    squares = {g: sympy.Symbol(f"Qsq_{g}", positive=True) for g in groups}
    surplus = sympy.Add(*[k * squares[g] for g, k in zip(groups, core["kappa"])]) / 2
    names = {SIGMA: r"\sigma", OWN_SIGNAL: "s_{i}"}
    for g in groups:
        names[means[g]] = r"\bar{s}" if one else rf"\bar{{s}}^{{{g}}}"
        names[squares[g]] = (r"\sum_{j} q_{j}(\mathbf{s})^{2}" if one
                             else rf"\sum_{{j \in {g}}} q_{{j}}(\mathbf{{s}})^{{2}}")
    notes = ["formulas are for one agent i of each group; the group means include s_i",
             f"budget_surplus: {', '.join(str(squares[g]) for g in groups)} stand for the sum of "
             "q_j(s)**2 over the group's members",
             "every profile with all signals equal is a no-trade profile inside the cube, so the "
             "thresholds are exact"]
    return Derivation(
        name=name, sigma=SIGMA, signals=symbols,
        agents=("i",) if one else tuple(f"i in {g}" for g in groups),
        price=core["price"], allocation=core["allocation"],
        dp_ds=core["dp_ds"], dq_ds=core["dq_ds"], pivot=core["pivot"], transfer=core["transfer"],
        kappa=core["kappa"], average_price_gap=core["gap"], edge_weight=core["weight"],
        budget_surplus=surplus,
        bs_thresholds=thresholds, bs_threshold=overall, naive_ic_condition=core["naive"],
        assumptions=assumptions, groups={}, no_trade_profile=None, notes=tuple(notes),
        symbol_names=names,
    )


def _symbolic_threshold(kappa, slope_q, slope_p, mu):
    """kappa >= 0 <=> (sigma D - P)(mu + sigma) >= 0 (D > 0): linear in sigma, a sigma + b."""
    line = sympy.expand(sympy.cancel((SIGMA * slope_q - slope_p) * (mu + SIGMA)))
    poly = sympy.Poly(line, SIGMA)
    if poly.degree() > 1:
        raise ArithmeticError("kappa's sign is not linear in sigma")
    a, b = poly.coeff_monomial(SIGMA), poly.coeff_monomial(1)
    num, den = sympy.fraction(sympy.factor(a))
    condition = num > 0 if den.is_positive else sympy.factor(a) > 0
    return sympy.Piecewise((sympy.factor(-b / a), condition), (sympy.oo, True))

# ---- small helpers -----------------------------------------------------------------------------

def _short(expr, width=80):
    text = sympy.sstr(expr)
    return text if len(text) <= width else text[:width - 3] + "..."


def _decimal(expr, digits=_DIGITS):
    """A decimal string for an exact real number, "oo" for infinity, or the formula if symbolic."""
    if expr == sympy.oo:
        return "oo"
    if expr.free_symbols:
        return sympy.sstr(expr)
    return sympy.sstr(sympy.N(expr, digits))


def _value_text(value):
    if isinstance(value, tuple):
        return [str(Fraction(v)) for v in value]
    return str(Fraction(value)) if isinstance(value, (Fraction, int)) else str(value)
