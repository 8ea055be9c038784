"""The Economy record: N agents, each with a utility u_i(q, s) as an exact SymPy expression.

An Economy is validated when it is built and never changes; derived objects (marginal
utilities, ...) are computed on first use and cached.
"""

from dataclasses import dataclass, field
from functools import cached_property

import sympy

from .errors import ModelError

__all__ = ["Economy", "Q", "signal_symbol", "signal_symbols"]

#: The own quantity q in every utility expression.
Q = sympy.Symbol("q", real=True)


def signal_symbol(k):
    """The symbol of agent k's signal, agents numbered from 1."""
    return sympy.Symbol(f"s_{k}", real=True)


def signal_symbols(n):
    """The signal symbols s_1, ..., s_n."""
    return tuple(signal_symbol(k) for k in range(1, n + 1))


@dataclass(frozen=True)
class Economy:
    """An exchange economy: ``utilities[i-1]`` is agent i's u_i(q, s).

    Each utility is a SymPy expression in :data:`Q` and the signal symbols
    ``signal_symbol(1) ... signal_symbol(N)``, with exact (Rational) constants.

    >>> from symmech.model import Economy, Q, signal_symbols
    >>> s1, s2 = signal_symbols(2)
    >>> e = Economy([(s1 + (s1 + s2) / 4) * Q - Q**2 / 2, (s2 + (s1 + s2) / 4) * Q - Q**2 / 2])
    >>> e.n, e.marginal_utilities[0]
    (2, -q + 5*s_1/4 + s_2/4)
    """

    utilities: tuple
    name: str = "economy"
    groups: dict = field(default_factory=dict)       # group name -> tuple of agents (from 1)
    parameters: dict = field(default_factory=dict)   # name -> Fraction or tuple of Fractions
    source: str = ""                                  # file path or catalogue name

    def __post_init__(self):
        object.__setattr__(self, "utilities", tuple(sympy.sympify(u, strict=True) if not isinstance(u, sympy.Basic) else u
                                                    for u in self.utilities))
        problems = []
        if len(self.utilities) < 2:
            problems.append(f"an economy needs at least 2 agents, got {len(self.utilities)}")
        allowed = {Q, *self.signals}
        for i, u in enumerate(self.utilities, start=1):
            if not isinstance(u, sympy.Expr):
                problems.append(f"agent {i}: utility {u!r} is not an expression")
                continue
            extra = u.free_symbols - allowed
            if extra:
                names = ", ".join(sorted(str(x) for x in extra))
                problems.append(f"agent {i}: utility uses {names}; only q and s_1..s_{self.n} may appear")
            if u.has(sympy.Float):
                problems.append(f"agent {i}: utility has a binary float; use exact numbers (Rational)")
        if problems:
            raise ModelError(problems, source=self.source or None)

    @property
    def n(self):
        """The number of agents N."""
        return len(self.utilities)

    @property
    def signals(self):
        """The signal symbols s_1 ... s_N."""
        return signal_symbols(len(self.utilities))

    @cached_property
    def marginal_utilities(self):
        """mu_i(q, s) = du_i/dq for each agent."""
        return tuple(sympy.diff(u, Q) for u in self.utilities)

    def group_of(self, agent):
        """The name of the group agent (from 1) belongs to, or None."""
        for name, members in self.groups.items():
            if agent in members:
                return name
        return None
