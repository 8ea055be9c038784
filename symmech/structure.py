"""An economy's utilities as templates over aggregates: the form that scales to thousands of agents.

A model file gives one utility formula per group (or ``all``). Each ``mean(EXPR)`` / ``sum(EXPR)``
in it whose EXPR depends on ``s_j`` only (numbers, N and scalar parameters aside) is an
*aggregate*

.. math:: A_k(s) = w_k \\sum_{j \\in G_k} f_k(s_j), \\qquad w_k = 1/|G_k| \\text{ (mean) or } 1 \\text{ (sum)},

over all agents or a group G_k. A :class:`Template` is the formula with every aggregate replaced
by its symbol, ``s_i`` by :data:`OWN`, ``i`` by :data:`INDEX`, a list parameter by its own symbol
(one value per member) and each ``s[k]`` by a *pick*: the signal of an agent named per member.
Agent j's utility is its template at its own values, so

.. math:: \\frac{\\partial \\mu_j}{\\partial s_i} = [i = j]\\, \\frac{\\partial T_j}{\\partial s_i}
          + \\sum_k \\frac{\\partial T_j}{\\partial A_k} \\frac{\\partial A_k}{\\partial s_i}
          + \\sum_m \\frac{\\partial T_j}{\\partial R_m} [\\mathrm{pick}_m(j) = i]

(T_j standing for d u_j/d q here), and every derivative costs O(1) per agent once the aggregates
are known: O(N) per profile instead of the O(N^2) of expanded utilities.

The model loader fills :attr:`symmech.model.Economy.structure` whenever a file's formulas separate
this way; :meth:`Structure.expand` gives the expanded utilities of DESIGN.md back.
"""

from dataclasses import dataclass
from fractions import Fraction
from functools import cached_property, lru_cache

import sympy


__all__ = ["Structure", "Template", "Aggregate", "Derivatives", "derivatives", "OWN", "INDEX", "BODY",
           "Registry"]

#: The own signal s_i in a template.
OWN = sympy.Symbol("s_i", real=True)
#: The agent's number i in a template.
INDEX = sympy.Symbol("i", real=True)
#: The summation variable s_j in an aggregate's body.
BODY = sympy.Symbol("s_j", real=True)


@dataclass(frozen=True)
class Aggregate:
    """A_k = weight * sum over ``members`` of ``body`` (a function of :data:`BODY`)."""

    symbol: sympy.Symbol
    kind: str               # "mean" or "sum"
    members: tuple          # agents, numbered from 1
    body: sympy.Expr

    @property
    def weight(self):
        """1/|G_k| for a mean, 1 for a sum."""
        return Fraction(1, len(self.members)) if self.kind == "mean" else Fraction(1)


@dataclass(frozen=True)
class Template:
    """One formula for the agents ``members``: u_j(q, s) is ``utility`` at agent j's values.

    ``parameters`` pairs each per-agent symbol (list parameters, :data:`INDEX`) with its values,
    one Fraction per member; ``picks`` pairs each pick symbol (an ``s[k]``) with the agent it
    names, one per member. ``aggregates`` are the aggregate symbols the utility uses.
    """

    key: str
    members: tuple
    utility: sympy.Expr
    parameters: tuple = ()
    picks: tuple = ()
    aggregates: tuple = ()


@dataclass(frozen=True)
class Structure:
    """Templates, aggregates and the agent count: everything :mod:`symmech.numeric` needs at scale.

    ``utilities`` is the tuple of expanded utilities the loader built alongside (None when it
    did not): an Economy keeps this structure only while its utilities are those.
    """

    n: int
    templates: tuple
    aggregates: tuple
    utilities: tuple = None

    @cached_property
    def owner(self):
        """agent (from 1) -> (template index, position among its members)."""
        found = {}
        for t, template in enumerate(self.templates):
            for position, agent in enumerate(template.members):
                found[agent] = (t, position)
        return found

    def problems(self):
        """What makes this structure inconsistent (empty when it is sound)."""
        from .model import Q
        found = []
        agents = sorted(a for t in self.templates for a in t.members)
        if agents != list(range(1, self.n + 1)):
            found.append(f"the templates must cover agents 1..{self.n} once each")
        known = {Q, OWN} | {a.symbol for a in self.aggregates}
        for template in self.templates:
            own = {s for s, _ in template.parameters} | {s for s, _ in template.picks}
            extra = template.utility.free_symbols - known - own
            if extra:
                found.append(f"template {template.key!r} uses {', '.join(sorted(map(str, extra)))}")
            for symbol, values in (*template.parameters, *template.picks):
                if len(values) != len(template.members):
                    found.append(f"template {template.key!r}: {symbol} has {len(values)} values "
                                 f"for {len(template.members)} members")
        for aggregate in self.aggregates:
            if not aggregate.body.free_symbols <= {BODY} or not aggregate.members:
                found.append(f"aggregate {aggregate.symbol} must be a function of s_j over some agents")
        return found

    def values(self, agent):
        """Agent ``agent``'s (from 1) substitution: template symbols -> its own values."""
        from .model import signal_symbol
        t, position = self.owner[agent]
        template = self.templates[t]
        mapping = {OWN: signal_symbol(agent)}
        for symbol, values in template.parameters:
            mapping[symbol] = sympy.Rational(values[position].numerator, values[position].denominator)
        for symbol, picks in template.picks:
            mapping[symbol] = signal_symbol(picks[position])
        return template, mapping

    @cached_property
    def _expanded_aggregates(self):
        from .model import signal_symbol
        found = {}
        for aggregate in self.aggregates:
            total = sympy.Add(*[aggregate.body.xreplace({BODY: signal_symbol(m)}) for m in aggregate.members])
            w = aggregate.weight
            found[aggregate.symbol] = total * sympy.Rational(w.numerator, w.denominator)
        return found

    def expand(self, agent):
        """Agent ``agent``'s (from 1) utility as an expression in q and s_1..s_N."""
        template, mapping = self.values(agent)
        mapping.update({a: self._expanded_aggregates[a] for a in template.aggregates})
        return template.utility.xreplace(mapping)

    def expand_all(self):
        """Every agent's expanded utility, agent 1 first.

        Each has O(N) terms, so this builds O(N^2) SymPy terms: about 90 s for N = 1000 on the
        development machine. The numeric backends never need it.
        """
        return tuple(self.expand(agent) for agent in range(1, self.n + 1))


@dataclass(frozen=True)
class Derivatives:
    """A template's marginal utility and the derivatives the numeric backends need.

    ``marginal`` is mu = dT/dq, split as ``fixed + moving`` with ``fixed`` free of q (computed once
    per profile); ``slope`` = d mu/dq; ``own`` = d mu/d s_i; ``by_aggregate`` and ``by_pick`` are
    d mu/d A_k and d mu/d R_m in the order of ``template.aggregates`` and ``template.picks``.
    """

    utility: sympy.Expr
    marginal: sympy.Expr
    fixed: sympy.Expr
    moving: sympy.Expr
    slope: sympy.Expr
    own: sympy.Expr
    by_aggregate: tuple
    by_pick: tuple


@lru_cache(maxsize=256)
def derivatives(template):
    """The :class:`Derivatives` of ``template`` (cached)."""
    from .model import Q
    u = template.utility
    mu = sympy.diff(u, Q)
    fixed, moving = mu.as_independent(Q, as_Add=True)
    return Derivatives(u, mu, fixed, moving, sympy.diff(mu, Q), sympy.diff(mu, OWN),
                       tuple(sympy.diff(mu, a) for a in template.aggregates),
                       tuple(sympy.diff(mu, p) for p, _ in template.picks))


class Registry:
    """Names the symbols of the templates built for one economy; shares equal aggregates."""

    own = OWN
    index = INDEX
    body = BODY

    def __init__(self):
        self._aggregates = {}
        self._parameters = {}
        self.picks = {}

    def parameter(self, name):
        """The symbol of list parameter ``name`` in templates."""
        if name not in self._parameters:
            self._parameters[name] = sympy.Symbol(name, real=True)
        return self._parameters[name]

    def aggregate(self, kind, members, body, group=None):
        """The symbol of the aggregate ``kind`` of ``body`` over ``members`` (made once)."""
        key = (kind, tuple(members), body)
        if key not in self._aggregates:
            over = f", {group}" if group else ""
            symbol = sympy.Symbol(f"{kind}({body}{over})#{len(self._aggregates) + 1}", real=True)
            self._aggregates[key] = Aggregate(symbol, kind, tuple(members), body)
        return self._aggregates[key].symbol

    def pick(self, indices, text):
        """The symbol of a pick ``s[...]`` naming agent ``indices[k]`` for the k-th member."""
        key = (tuple(indices), text)
        if key not in self.picks:
            self.picks[key] = sympy.Symbol(f"s[{text}]#{len(self.picks) + 1}", real=True)
        return self.picks[key]

    def template(self, key, members, utility, parameters):
        """The Template of ``utility`` for ``members``; ``parameters`` maps names to value tuples."""
        symbols = utility.free_symbols
        params = []
        if INDEX in symbols:
            params.append((INDEX, tuple(Fraction(m) for m in members)))
        for name, symbol in self._parameters.items():
            if symbol in symbols:
                values = parameters[name]
                params.append((symbol, tuple(Fraction(values[m - 1]) for m in members)))
        picks = tuple((symbol, indices) for (indices, _), symbol in self.picks.items() if symbol in symbols)
        aggregates = tuple(a.symbol for a in self._aggregates.values() if a.symbol in symbols)
        return Template(key, tuple(members), utility, tuple(params), picks, aggregates)

    def aggregates(self):
        """Every aggregate made so far, in order."""
        return tuple(self._aggregates.values())
