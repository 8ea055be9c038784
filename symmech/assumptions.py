"""The paper's assumptions A1-A4 and A3' (section 2), checked by dense sampling.

:func:`check_assumptions` estimates the constants M, c_s, C_s, phi_N, c_q, C_q and c_phi over
signal profiles s in [0, 1]^N and quantities q in [-q_bound, q_bound], and says for each
assumption whether a sampled point broke it, with that point as a witness. "Holds" is evidence
from sampling, not a proof. :func:`require_assumptions` is the quick pre-check ``solve`` runs:
it raises :class:`~symmech.errors.AssumptionError` when A2 or A4 breaks.

Marginal utilities and their derivatives come from ``sympy.diff`` and are evaluated in float64
through ``sympy.lambdify(..., "numpy")``; the compiled functions are cached per economy.
"""

from dataclasses import dataclass
from functools import lru_cache
import itertools
import math

import numpy as np
import sympy

from .errors import AssumptionError
from .model import Q, signal_symbols

__all__ = ["Witness", "AssumptionRecord", "AssumptionReport", "check_assumptions",
           "require_assumptions"]

_MODERATE_Q = 1.0                        # first pass: q range that only estimates M and C_q
_Q_GRID = (-1.0, -0.5, 0.0, 0.5, 1.0)    # multiples of q_bound met by the special profiles
_MAX_CORNER_AGENTS = 10                  # all 2^N corners are sampled up to this N

_STATEMENTS = {
    "A1": "mu_i(0, s) in [-M, M]",
    "A2": "d mu_i/d s_i in [c_s, C_s], c_s > 0",
    "A3": "|d mu_i/d s_j| <= phi_N < c_s (i != j)",
    "A4": "d mu_i/d q in [c_q, C_q], C_q < 0",
    "A3'": "d mu_i/d s_j >= c_phi phi_N, c_phi > 0 (i != j)",
}
_MEANINGS = {
    "A1": "marginal utility at q = 0 must be finite and bounded",
    "A2": "marginal utility must increase in own signal",
    "A3": "another agent's signal must move mu_i less than one's own (informational smallness)",
    "A4": "marginal utility must decrease in q",
    "A3'": "every other agent's signal must raise mu_i (needed for Proposition 3)",
}


def _fmt(x):
    """A float for people: 6 significant digits."""
    return f"{x:.6g}"


def _num(x):
    """A float for JSON: a string at repr precision ('nan', 'inf' stay readable)."""
    return repr(float(x))


@dataclass(frozen=True)
class Witness:
    """A sampled point where an assumption breaks: agent (from 1), profile, quantity, value.

    ``quantity`` names what was evaluated (e.g. ``"d mu_2/d q"``); ``other`` is the agent j
    of a cross derivative d mu_i/d s_j, else None.
    """

    agent: int
    signals: tuple
    q: float
    value: float
    quantity: str
    other: int | None = None

    def point_text(self):
        """'q = 1.2, s = (0.1, 0.5)'."""
        return f"q = {_fmt(self.q)}, s = ({', '.join(_fmt(x) for x in self.signals)})"

    def to_dict(self):
        return {"agent": self.agent, "other": self.other, "quantity": self.quantity,
                "value": _num(self.value), "q": _num(self.q),
                "signals": [_num(x) for x in self.signals]}


@dataclass(frozen=True)
class AssumptionRecord:
    """One assumption: its statement, whether sampling found it holding, its constants.

    ``constants`` is a tuple of (name, float) pairs; ``message`` is the one-line explanation
    of a failure ("" when it holds).
    """

    name: str
    statement: str
    holds: bool
    constants: tuple
    witness: Witness | None = None
    message: str = ""

    def to_dict(self):
        return {"name": self.name, "statement": self.statement, "holds": self.holds,
                "constants": {k: _num(v) for k, v in self.constants},
                "witness": self.witness.to_dict() if self.witness else None,
                "message": self.message}


@dataclass(frozen=True)
class AssumptionReport:
    """The constants of A1-A4 and A3' estimated by sampling, and each assumption's verdict.

    Constants are min/max over the finite sampled values: ``M`` = max |mu_i(0, s)|;
    ``c_s``, ``C_s`` = min, max of d mu_i/d s_i; ``phi_N`` = max over i != j of |d mu_i/d s_j|;
    ``varphi_N`` = phi_N + 1/N; ``c_q``, ``C_q`` = min, max of d mu_i/d q; ``min_cross`` = min
    over i != j of d mu_i/d s_j and ``c_phi`` = min_cross / phi_N (nan when phi_N = 0).
    ``records`` holds A1, A2, A3, A4, A3' in that order.
    """

    economy_name: str
    agents: int
    M: float
    c_s: float
    C_s: float
    phi_N: float
    varphi_N: float
    c_q: float
    C_q: float
    c_phi: float
    min_cross: float
    records: tuple
    samples: int
    seed: int
    q_range: tuple
    q_bound_source: str

    @property
    def holds(self):
        """Whether A1-A4 all held at every sampled point (A3' is reported separately)."""
        return all(r.holds for r in self.records if r.name in ("A1", "A2", "A3", "A4"))

    def record(self, name):
        """The record of assumption ``name`` ("A1" ... "A4", "A3'")."""
        for r in self.records:
            if r.name == name:
                return r
        raise KeyError(name)

    def to_dict(self):
        constants = {"M": self.M, "c_s": self.c_s, "C_s": self.C_s, "phi_N": self.phi_N,
                     "varphi_N": self.varphi_N, "c_q": self.c_q, "C_q": self.C_q,
                     "c_phi": self.c_phi, "min_cross": self.min_cross}
        return {"economy": self.economy_name, "agents": self.agents, "method": "sampling",
                "samples": self.samples, "seed": self.seed,
                "q_range": [_num(x) for x in self.q_range], "q_bound_source": self.q_bound_source,
                "holds": self.holds,
                "constants": {k: _num(v) for k, v in constants.items()},
                "assumptions": [r.to_dict() for r in self.records]}

    def to_text(self):
        lo, hi = self.q_range
        lines = [f"Assumptions of section 2 for {self.economy_name} (N = {self.agents})",
                 f"checked by sampling {self.samples} points (seed {self.seed}): "
                 f"s in [0, 1]^{self.agents}, q in [{_fmt(lo)}, {_fmt(hi)}] "
                 f"(q bound: {self.q_bound_source})",
                 "'holds' means no sampled point broke it: evidence, not proof.", ""]
        width = max(len(s) for s in _STATEMENTS.values())
        lines.append(f"{'':5}{'statement':{width}}  {'holds':6} constants")
        for r in self.records:
            consts = ", ".join(f"{k} = {_fmt(v)}" for k, v in r.constants)
            verdict = "holds" if r.holds else "FAILS"
            lines.append(f"{r.name:5}{r.statement:{width}}  {verdict:6} {consts}")
            if r.witness is not None:
                lines.append(f"{'':5}{r.message}")
        lines.append("")
        lines.append(f"phi_N = {_fmt(self.phi_N)}, varphi_N = phi_N + 1/N = {_fmt(self.varphi_N)}")
        return "\n".join(lines)


# -- compiled functions, cached per economy: keyed on its marginal utilities (an Economy holds a
#    dict, so it is not hashable itself; the tuple of expressions is) ----------------------------

@lru_cache(maxsize=64)
def _core_function(mus):
    """f(q, s_1..s_N) -> [mu_1..mu_N, d mu_i/d q ..., d mu_i/d s_i ...]."""
    s = signal_symbols(len(mus))
    exprs = [*mus, *(sympy.diff(m, Q) for m in mus), *(sympy.diff(m, s[i]) for i, m in enumerate(mus))]
    return sympy.lambdify((Q, *s), exprs, "numpy")


@lru_cache(maxsize=64)
def _cross_function(mus):
    """f(q, s_1..s_N) -> [d mu_i/d s_j for i != j, in _pairs order]."""
    n = len(mus)
    s = signal_symbols(n)
    exprs = [sympy.diff(mus[i], s[j]) for i, j in _pairs(n)]
    return sympy.lambdify((Q, *s), exprs, "numpy")


def _pairs(n):
    return [(i, j) for i in range(n) for j in range(n) if i != j]


def _evaluate(fn, q, profiles):
    """Rows of float64 values, one per output of ``fn``, at the points (q[k], profiles[k])."""
    with np.errstate(all="ignore"):
        outputs = fn(q, *profiles.T)
    return np.stack([_real_array(v, q.shape) for v in outputs])


def _real_array(value, shape):
    arr = np.asarray(value)
    if np.iscomplexobj(arr):
        # a complex value means the formula left the reals there: not a finite marginal utility
        arr = np.where(arr.imag == 0, arr.real, np.nan)
    return np.broadcast_to(arr.astype(np.float64), shape)


# -- sampling ---------------------------------------------------------------------------------

def _profiles(n, samples, rng):
    """Random profiles, profiles with some coordinates at 0/1, and the special ones
    (centre, and all corners when N <= 10)."""
    free = rng.random((samples, n))
    edge = rng.random((max(1, samples // 4), n))
    mask = rng.random(edge.shape) < 0.5
    ends = rng.integers(0, 2, edge.shape).astype(np.float64)
    edge[mask] = ends[mask]
    special = [np.full(n, 0.5)]
    if n <= _MAX_CORNER_AGENTS:
        special += [np.array(c, dtype=np.float64) for c in itertools.product((0.0, 1.0), repeat=n)]
    return np.vstack([free, edge]), np.array(special)


def _points(n, samples, rng, q_bound):
    """Sample points (q, s): random q on the free profiles, a q grid on the special ones."""
    free, special = _profiles(n, samples, rng)
    q_free = rng.uniform(-q_bound, q_bound, len(free))
    grid = np.array(_Q_GRID) * q_bound
    q_special = np.tile(grid, len(special))
    profiles = np.vstack([free, np.repeat(special, len(grid), axis=0)])
    return np.concatenate([q_free, q_special]), profiles


@dataclass
class _Sample:
    q: np.ndarray
    profiles: np.ndarray
    mu0: np.ndarray        # (N, K): mu_i(0, s_k)
    dq: np.ndarray         # (N, K)
    own: np.ndarray        # (N, K)
    cross: np.ndarray | None   # (N(N-1), K) in _pairs order, or (2N, K) extremes (see below)
    # Through templates, cross holds per agent j the largest (rows 0..N-1) and the smallest
    # (rows N..2N-1) d mu_j/d s_i over i != j, and cross_other the i (from 0) of each.
    cross_other: np.ndarray | None = None


def _sample(mus, samples, rng, q_bound, with_cross):
    n = len(mus)
    q, profiles = _points(n, samples, rng, q_bound)
    core = _evaluate(_core_function(mus), q, profiles)
    mu0 = _evaluate(_core_function(mus), np.zeros_like(q), profiles)[:n]
    cross = _evaluate(_cross_function(mus), q, profiles) if with_cross else None
    return _Sample(q, profiles, mu0, core[n:2 * n], core[2 * n:], cross)


def _structured(economy):
    """A large economy read as templates whose utilities are not expanded (expanding is O(N^2))."""
    return getattr(economy, "structure", None) is not None and not economy.expanded


def _fast_market(economy):
    from .fast import FastMarket     # late: the template kernels are needed for large economies only
    return FastMarket(economy)


def _fast_sample(market, n, samples, rng, q_bound, with_cross):
    """As :func:`_sample`, through the templates: O(N) per point, O(N^2) with the cross
    derivatives, of which only each agent's extremes are kept."""
    from .fast import sample_derivatives
    q, profiles = _points(n, samples, rng, q_bound)
    dq, own = sample_derivatives(None, q, profiles, market=market)
    mu0, _, _ = market.ev.own_slopes(np.zeros(profiles.shape), profiles)
    cross = other = None
    if with_cross:
        hi, lo, hi_at, lo_at = market.ev.cross_extremes(np.broadcast_to(q[:, None], profiles.shape), profiles)
        cross, other = np.vstack([hi.T, lo.T]), np.vstack([hi_at.T, lo_at.T])
    return _Sample(q, profiles, mu0.T, dq.T, own.T, cross, other)


def _merge(a, b):
    cat = lambda x, y: None if x is None else np.concatenate([x, y], axis=-1)  # noqa: E731
    return _Sample(np.concatenate([a.q, b.q]), np.vstack([a.profiles, b.profiles]),
                   cat(a.mu0, b.mu0), cat(a.dq, b.dq), cat(a.own, b.own), cat(a.cross, b.cross),
                   cat(a.cross_other, b.cross_other))


def _run(economy, samples, seed, q_bound, with_cross):
    """Sample twice: on a moderate q range for M and C_q, then on [-2M/|C_q|, 2M/|C_q|].

    Why 2M/|C_q|: at a sigma-WE, mu_i(q_i, s) = p + sigma q_i with p in [-M, M]; for a buyer
    |C_q| q_i <= mu_i(0, s) - mu_i(q_i, s) <= 2M, and likewise for a seller.
    """
    rng = np.random.default_rng(seed)
    if _structured(economy):
        market = _fast_market(economy)
        sample = lambda bound: _fast_sample(market, economy.n, samples, rng, bound, with_cross)  # noqa: E731
    else:
        mus = tuple(economy.marginal_utilities)
        sample = lambda bound: _sample(mus, samples, rng, bound, with_cross)  # noqa: E731
    if q_bound is not None:
        bound = float(q_bound)
        if not (math.isfinite(bound) and bound > 0):
            raise ValueError(f"q_bound must be a positive finite number, got {q_bound!r}")
        return sample(bound), bound, "given"
    first = sample(_MODERATE_Q)
    big_m = _finite_extreme(np.abs(first.mu0), np.max)
    c_q_max = _finite_extreme(first.dq, np.max)
    if math.isfinite(big_m) and math.isfinite(c_q_max) and c_q_max < 0:
        bound = max(1.0, 2 * big_m / abs(c_q_max))
        source = f"2M/|C_q| = 2*{_fmt(big_m)}/{_fmt(abs(c_q_max))} on q in [-1, 1], at least 1"
    else:
        bound = _MODERATE_Q
        source = "1 (C_q >= 0 or M not finite on q in [-1, 1], so 2M/|C_q| is undefined)"
    second = sample(bound)
    return _merge(first, second), bound, source


# -- extremes and witnesses -------------------------------------------------------------------

def _finite_extreme(values, reduce):
    finite = values[np.isfinite(values)]
    return float(reduce(finite)) if finite.size else math.nan


def _witness(sample, values, row, k, quantity, agent, other=None, q=None):
    """The witness at sample point k; ``q`` overrides the sampled q (A1 is evaluated at q = 0)."""
    return Witness(agent=int(agent), signals=tuple(float(x) for x in sample.profiles[k]),
                   q=float(sample.q[k]) if q is None else q,
                   value=float(values[row, k]), quantity=quantity,
                   other=None if other is None else int(other))


def _nonfinite_at(values):
    """(row, column) of the first non-finite entry, or None."""
    bad = np.argwhere(~np.isfinite(values))
    return tuple(bad[0]) if bad.size else None


def _extreme_at(values, kind):
    """(row, column) of the min or max over the finite entries."""
    masked = np.where(np.isfinite(values), values, np.inf if kind == "min" else -np.inf)
    flat = np.argmin(masked) if kind == "min" else np.argmax(masked)
    return np.unravel_index(flat, values.shape)


def _record(name, holds, constants, witness=None, relation=""):
    message = ""
    if witness is not None:
        message = (f"{name} fails for agent {witness.agent}: {witness.quantity} = "
                   f"{_fmt(witness.value)} {relation} at {witness.point_text()}; {_MEANINGS[name]}")
    return AssumptionRecord(name, _STATEMENTS[name], holds, tuple(constants), witness, message)


def _signed_check(name, sample, values, kind, bad, quantity, relation, agent_of, constants):
    """A record for 'every value is > 0' (kind 'min') or '< 0' (kind 'max') style checks."""
    spot = _nonfinite_at(values)
    if spot is not None:
        row, k = spot
        agent, other = agent_of(row, k)
        return _record(name, False, constants,
                       _witness(sample, values, row, k, quantity(agent, other), agent, other),
                       "is not finite")
    row, k = _extreme_at(values, kind)
    if not bad(values[row, k]):
        return _record(name, True, constants)
    agent, other = agent_of(row, k)
    return _record(name, False, constants,
                   _witness(sample, values, row, k, quantity(agent, other), agent, other), relation)


def _own_agent(row, k):
    return row + 1, None


def _dq_name(agent, other):
    return f"d mu_{agent}/d q"


def _own_name(agent, other):
    return f"d mu_{agent}/d s_{agent}"


def _cross_name(agent, other):
    return f"d mu_{agent}/d s_{other}"


def _check_a4(sample, c_q, C_q):
    return _signed_check("A4", sample, sample.dq, "max", lambda v: v >= 0, _dq_name, ">= 0",
                         _own_agent, [("c_q", c_q), ("C_q", C_q)])


def _check_a2(sample, c_s, C_s):
    return _signed_check("A2", sample, sample.own, "min", lambda v: v <= 0, _own_name, "<= 0",
                         _own_agent, [("c_s", c_s), ("C_s", C_s)])


# -- public -----------------------------------------------------------------------------------

def check_assumptions(economy, samples=2000, seed=0, q_bound=None):
    """Estimate the constants of A1-A4 and A3' and check each assumption by sampling.

    Profiles s: ``samples`` uniform draws, ``samples // 4`` draws with some coordinates at 0 or 1,
    the centre and (N <= 10) all 2^N corners; quantities q uniform in [-q_bound, q_bound] (a grid
    of q on the centre and corners). Without ``q_bound`` a first pass on q in [-1, 1] estimates
    M and C_q and the range becomes q_bound = max(1, 2M/|C_q|), which covers every quantity a
    sigma-WE can allocate; both passes count.

    A non-finite value (nan, inf) at a sampled point makes the assumption it belongs to fail,
    with that point as the witness; constants are taken over the finite values.

    Examples
    --------
    Example 1 with alpha = 1, beta = 1/2, mu = 1 and N = 2: d mu_i/d s_i = alpha + beta/N,
    d mu_i/d s_j = beta/N, d mu_i/d q = -mu.

    >>> from symmech.model import Economy, Q, signal_symbols
    >>> s1, s2 = signal_symbols(2)
    >>> e = Economy([(s1 + (s1 + s2) / 4) * Q - Q**2 / 2, (s2 + (s1 + s2) / 4) * Q - Q**2 / 2])
    >>> r = check_assumptions(e, samples=200)
    >>> r.c_s, r.phi_N, r.C_q, r.M, r.q_range, r.holds
    (1.25, 0.25, -1.0, 1.5, (-3.0, 3.0), True)
    """
    sample, bound, source = _run(economy, samples, seed, q_bound, with_cross=True)
    n = economy.n
    pairs = _pairs(n) if sample.cross_other is None else None    # O(N^2) tuples: only when used
    big_m = _finite_extreme(np.abs(sample.mu0), np.max)
    c_s, C_s = _finite_extreme(sample.own, np.min), _finite_extreme(sample.own, np.max)
    c_q, C_q = _finite_extreme(sample.dq, np.min), _finite_extreme(sample.dq, np.max)
    phi_n = _finite_extreme(np.abs(sample.cross), np.max)
    min_cross = _finite_extreme(sample.cross, np.min)
    c_phi = min_cross / phi_n if phi_n > 0 else math.nan
    varphi_n = phi_n + 1 / n

    def cross_agents(row, k):
        """(i, j), from 1, of the cross derivative d mu_i/d s_j in row ``row`` at point ``k``."""
        if sample.cross_other is not None:
            return row % n + 1, int(sample.cross_other[row, k]) + 1
        i, j = pairs[row]
        return i + 1, j + 1

    spot = _nonfinite_at(sample.mu0)
    a1 = _record("A1", spot is None, [("M", big_m)],
                 None if spot is None else _witness(sample, sample.mu0, spot[0], spot[1],
                                                    f"mu_{spot[0] + 1}(0, s)", spot[0] + 1, q=0.0),
                 "is not finite")
    a2 = _check_a2(sample, c_s, C_s)
    a3 = _check_a3(sample, phi_n, c_s, varphi_n, cross_agents)
    a4 = _check_a4(sample, c_q, C_q)
    a3p = _signed_check("A3'", sample, sample.cross, "min", lambda v: v <= 0, _cross_name, "<= 0",
                        cross_agents, [("c_phi", c_phi), ("min d mu_i/d s_j", min_cross)])
    return AssumptionReport(
        economy_name=economy.name, agents=n, M=big_m, c_s=c_s, C_s=C_s, phi_N=phi_n,
        varphi_N=varphi_n, c_q=c_q, C_q=C_q, c_phi=c_phi, min_cross=min_cross,
        records=(a1, a2, a3, a4, a3p), samples=int(sample.q.size), seed=seed,
        q_range=(-bound, bound), q_bound_source=source)


def _check_a3(sample, phi_n, c_s, varphi_n, cross_agents):
    constants = [("phi_N", phi_n), ("c_s", c_s), ("varphi_N", varphi_n)]
    spot = _nonfinite_at(sample.cross)
    if spot is not None:
        row, k = spot
        agent, other = cross_agents(row, k)
        return _record("A3", False, constants,
                       _witness(sample, sample.cross, row, k, _cross_name(agent, other), agent, other),
                       "is not finite")
    if phi_n < c_s:
        return _record("A3", True, constants)
    row, k = _extreme_at(np.abs(sample.cross), "max")
    agent, other = cross_agents(row, k)
    return _record("A3", False, constants,
                   _witness(sample, sample.cross, row, k, _cross_name(agent, other), agent, other),
                   f"(|.| = phi_N >= c_s = {_fmt(c_s)})")


def require_assumptions(economy, samples=400, seed=0):
    """Raise :class:`AssumptionError` if A4 or A2 breaks at a sampled point; else return None.

    The quick pre-check ``solve`` runs: the same sampling as :func:`check_assumptions` with
    fewer points and without the cross derivatives. The error's message is one line naming the
    assumption, the agent (from 1), the witness point and what the assumption means; its
    ``assumption``, ``agent`` and ``witness`` attributes carry the same.
    """
    sample, _, _ = _run(economy, samples, seed, None, with_cross=False)
    nan = math.nan
    for record in (_check_a4(sample, nan, nan), _check_a2(sample, nan, nan)):
        if not record.holds:
            w = record.witness
            raise AssumptionError(record.message, assumption=record.name, agent=w.agent, witness=w)
