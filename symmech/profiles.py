"""The ex-post properties over many profiles: random, corners of the cube, and adversarial search.

:func:`verify_profiles` solves the mechanism (:func:`symmech.solve`) at

- ``profiles`` random profiles (seeded, exact multiples of 1/1000),
- the corners of [0, 1]^N (all of them when N <= 8, else a seeded sample of ``_CORNER_SAMPLE``),
- adversarial profiles: for each of IC regret, IR shortfall and budget deficit, a pattern search
  that starts from the worst profile found so far and moves one signal at a time by +-step
  (step 1/8, halved when no move improves), for ``adversarial`` rounds;

and reports, per property (MC, BS, IR, IC, Pareto), whether it held at every profile, its worst
value and the witness profile. Independent solves run through :func:`symmech.parallel.map_profiles`
when ``jobs`` > 1; the results are the same as a serial run (every solve is deterministic and
the search takes its moves in a fixed order).
"""

from dataclasses import dataclass, field
from fractions import Fraction
from functools import partial
import itertools
import random
import sys

from ._numbers import exact, format_number
from .errors import ModelError

__all__ = ["verify_profiles", "ProfileResult", "Worst", "VerifyReport", "corner_profiles",
           "random_profiles", "PROPERTIES"]

#: The properties, in report order: (key, name, what "worst" means).
PROPERTIES = (
    ("market_clearing", "MC", "largest |sum q_i|"),
    ("budget_surplus", "BS", "smallest sum t_i"),
    ("individual_rationality", "IR", "smallest utility over not trading"),
    ("incentive_compatibility", "IC", "largest regret from a misreport"),
    ("pareto", "Pareto", "largest shortfall against the WE (epsilon)"),
)
_CORNER_LIMIT = 8        # all 2^N corners up to this N
_CORNER_SAMPLE = 64      # corners sampled beyond it
_GRID = 1000             # random signals are multiples of 1/_GRID
_FIRST_STEP = Fraction(1, 8)
_DEFAULT_PROFILES = 24
_DEFAULT_ROUNDS = 4


@dataclass(frozen=True)
class ProfileResult:
    """The checks of one solve, as mpf values (sign conventions: larger ``badness`` is worse)."""

    signals: tuple
    source: str
    residual: object          # |sum q_i|
    surplus: object           # sum t_i
    margin: object            # min_i utility over not trading
    regret: object            # max_i regret
    epsilon: object           # Pareto epsilon
    holds: dict               # key -> bool for MC, BS, IR, IC
    regret_agent: int
    misreport: object

    def value(self, key):
        return {"market_clearing": self.residual, "budget_surplus": self.surplus,
                "individual_rationality": self.margin, "incentive_compatibility": self.regret,
                "pareto": self.epsilon}[key]

    def badness(self, key):
        """Larger is worse: residual, -surplus, -margin, regret, epsilon."""
        value = self.value(key)
        return -value if key in ("budget_surplus", "individual_rationality") else value


@dataclass(frozen=True)
class Worst:
    """The worst case of one property over every profile tried."""

    key: str
    name: str
    meaning: str
    holds: bool               # at every profile (None for Pareto, which has no pass/fail)
    failures: int
    value: object
    witness: ProfileResult


@dataclass(frozen=True)
class VerifyReport:
    """What :func:`verify_profiles` found: per property the worst case, and the counts."""

    economy_name: str
    agents: int
    sigma: Fraction
    dps: int
    transfers_kind: str
    counts: dict              # source -> number of profiles solved
    worst: tuple              # of Worst, in PROPERTIES order
    seed: int
    results: tuple = field(repr=False, default=())

    @property
    def holds(self):
        return all(w.holds for w in self.worst if w.holds is not None)

    @property
    def failed(self):
        return [w.name for w in self.worst if w.holds is False]

    def worst_of(self, key):
        for w in self.worst:
            if w.key == key or w.name == key:
                return w
        raise KeyError(key)

    def to_dict(self):
        f = lambda x: format_number(x, self.dps)
        return {
            "economy": self.economy_name, "agents": self.agents, "sigma": _decimal(self.sigma),
            "dps": self.dps, "transfers": self.transfers_kind, "seed": self.seed,
            "profiles": dict(self.counts), "holds": self.holds,
            "properties": {w.key: {"name": w.name, "holds": w.holds, "failures": w.failures,
                                   "worst": f(w.value), "meaning": w.meaning,
                                   "witness": {"signals": [_decimal(x) for x in w.witness.signals],
                                               "source": w.witness.source}}
                           for w in self.worst},
        }

    def to_text(self):
        total = sum(self.counts.values())
        kinds = ", ".join(f"{n} {k}" for k, n in self.counts.items())
        lines = [f"{self.economy_name}: {self.agents} agents, sigma = {_decimal(self.sigma)}, "
                 f"{'IC/IR transfers (eq. 4 + 7)' if self.transfers_kind == 'ic' else 'naive transfers (eq. 2)'}, "
                 f"{self.dps} digits",
                 f"{total} profiles ({kinds}; seed {self.seed})", "",
                 f"{'property':8} {'verdict':9} {'fails':>5}  {'worst':>24}  worst means / witness profile"]
        for w in self.worst:
            verdict = "-" if w.holds is None else ("holds" if w.holds else "FAILS")
            lines.append(f"{w.name:8} {verdict:9} {w.failures:>5}  {format_number(w.value, 10):>24}  {w.meaning}")
            where = ", ".join(_decimal(x) for x in w.witness.signals)
            lines.append(f"{'':51}at s = ({where}) [{w.witness.source}]")
        lines += ["", "all of MC, BS, IR, IC hold at every profile tried" if self.holds
                  else f"FAILS at some profile: {', '.join(self.failed)}"]
        return "\n".join(lines)


def _decimal(x):
    x = Fraction(x)
    text = format_number(x, 20) if x.denominator not in (1, 2, 4, 5, 8, 10, 16, 20, 25, 40, 50, 100,
                                                          125, 200, 250, 500, 1000) else None
    if text is None:
        from decimal import Decimal
        text = str(Decimal(x.numerator) / Decimal(x.denominator))
    return text


def random_profiles(n, count, seed):
    """``count`` profiles of ``n`` signals, multiples of 1/1000 in [0, 1], from ``random.Random(seed)``."""
    rng = random.Random(seed)
    return [tuple(Fraction(rng.randrange(0, _GRID + 1), _GRID) for _ in range(n)) for _ in range(count)]


def corner_profiles(n, seed):
    """All 2^n corners of [0, 1]^n when n <= 8, else a seeded sample of 64 distinct ones."""
    if n <= _CORNER_LIMIT:
        return [tuple(Fraction(b) for b in bits) for bits in itertools.product((0, 1), repeat=n)]
    rng = random.Random(seed + 1)
    seen = set()
    while len(seen) < _CORNER_SAMPLE:
        seen.add(tuple(rng.randrange(2) for _ in range(n)))
    return [tuple(Fraction(b) for b in bits) for bits in sorted(seen)]


def _solve_one(economy, sigma, dps, transfers, backend, item):
    """One profile's checks (module level, so a process pool can pickle it)."""
    from .verify import solve

    signals, source = item
    kwargs = {} if backend is None else {"backend": backend}
    outcome = solve(economy, signals, sigma, dps=dps, transfers=transfers, check_assumptions=False, **kwargs)
    c = outcome.checks
    holds = {"market_clearing": c.market_clearing.holds, "budget_surplus": c.budget_surplus.holds,
             "individual_rationality": c.individual_rationality.holds,
             "incentive_compatibility": c.incentive_compatibility.holds}
    ic = c.incentive_compatibility
    return ProfileResult(tuple(signals), source, c.market_clearing.residual, c.budget_surplus.value,
                         c.individual_rationality.margin, ic.max_regret, c.pareto.epsilon, holds,
                         ic.agent, ic.misreport)


class _Runner:
    """Solves profiles once each (a cache keyed by the profile), through map_profiles."""

    def __init__(self, economy, sigma, dps, transfers, backend, jobs, progress, scheduler=None):
        self.solve = partial(_solve_one, economy, sigma, dps, transfers, backend)
        self.jobs, self.progress, self.scheduler = jobs, progress, scheduler
        self.cache = {}

    def run(self, profiles, source, progress=True):
        fresh = list(dict.fromkeys(p for p in profiles if p not in self.cache))
        if fresh:
            items = [(p, source) for p in fresh]
            for profile, result in zip(fresh, self._map(items, source, progress and self.progress)):
                self.cache[profile] = result
        return [self.cache[p] for p in profiles]

    def note(self, text):
        """One line of progress on stderr (the adversarial search's rounds)."""
        if self.progress:
            sys.stderr.write(f"\r{text}   ")
            sys.stderr.flush()

    def _map(self, items, label, progress):
        try:
            from .parallel import map_profiles
        except ImportError:           # the parallel layer is optional
            return [self.solve(x) for x in items]
        return map_profiles(self.solve, items, jobs=self.jobs, scheduler=self.scheduler,
                            progress=progress, label=label)


def _search(runner, start, key, rounds):
    """Pattern search from ``start`` that maximises ``badness(key)``: one signal at a time +- step."""
    best = start
    step = _FIRST_STEP
    for round_ in range(1, rounds + 1):
        runner.note(f"adversarial search ({key.replace('_', ' ')}): round {round_}/{rounds}, "
                    f"{len(runner.cache)} profiles solved")
        moves = []
        for k in range(len(best.signals)):
            for sign in (1, -1):
                x = best.signals[k] + sign * step
                if 0 <= x <= 1:
                    moves.append(best.signals[:k] + (x,) + best.signals[k + 1:])
        if not moves:
            break
        tried = runner.run(moves, "adversarial", progress=False)
        candidate = max(tried, key=lambda r: r.badness(key))     # first of equals: deterministic
        if candidate.badness(key) > best.badness(key):
            best = candidate
        else:
            step /= 2
    return best


def verify_profiles(economy, sigma, profiles=_DEFAULT_PROFILES, seed=0, dps=15, jobs=1,
                    transfers="ic", adversarial=_DEFAULT_ROUNDS, corners=True, progress=False,
                    backend=None, scheduler=None, check_assumptions=True):
    """MC, BS, IR, IC and Pareto of the sigma-WE mechanism over many profiles.

    Parameters
    ----------
    economy : Economy, model path or catalogue name
    sigma : exact slope >= 0
    profiles : random profiles (seeded by ``seed``)
    dps : digits of each solve (15 takes the float64 backend under ``backend="auto"``)
    jobs : processes for independent solves (1: serial; the results do not depend on it)
    scheduler : address of a Dask scheduler to run the solves on (``jobs`` is then ignored)
    check_assumptions : pre-check A2 and A4 on the signal cube first (False skips it)
    transfers : "ic" (eq. 4 + 7) or "naive" (eq. 2)
    adversarial : rounds of the pattern search per property (0: none)
    corners : include the cube's corners
    progress : a progress line on stderr

    Returns a :class:`VerifyReport`. The assumptions' pre-check (A2, A4) runs once, first.

    Examples
    --------
    >>> report = verify_profiles("example1", "1", profiles=4, adversarial=1, corners=False)
    >>> report.holds, report.worst_of("BS").value >= 0
    (True, True)
    """
    from .model import load_model
    from .verify import solve

    economy = load_model(economy)
    for name, value in (("profiles", profiles), ("adversarial", adversarial)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ModelError([f"{name} is {value!r}; use a whole number >= 0"])
    sigma = exact(sigma)
    first = random_profiles(economy.n, max(profiles, 1), seed)
    kwargs = {} if backend is None else {"backend": backend}
    solve(economy, first[0], sigma, dps=dps, transfers=transfers,       # pre-check A2, A4, inputs
          check_assumptions=check_assumptions, **kwargs)
    runner = _Runner(economy, sigma, dps, transfers, backend, jobs, progress, scheduler)
    results = runner.run(first[:profiles], "random")
    if corners:
        results += runner.run(corner_profiles(economy.n, seed), "corner")
    if adversarial and results:
        for key in ("incentive_compatibility", "individual_rationality", "budget_surplus"):
            start = max(results, key=lambda r: r.badness(key))
            results.append(_search(runner, start, key, adversarial))
        runner.note(f"adversarial search: done, {len(runner.cache)} profiles solved")
        if progress:
            sys.stderr.write("\n")
    everything = list(runner.cache.values())
    counts = {}
    for r in everything:
        counts[r.source] = counts.get(r.source, 0) + 1
    worst = tuple(_worst(everything, key, name, meaning) for key, name, meaning in PROPERTIES)
    return VerifyReport(economy.name, economy.n, sigma, dps, transfers, counts, worst, seed,
                        tuple(everything))


def _worst(results, key, name, meaning):
    witness = max(results, key=lambda r: r.badness(key))
    if key == "pareto":
        return Worst(key, name, meaning, None, 0, witness.value(key), witness)
    failures = sum(1 for r in results if not r.holds[key])
    return Worst(key, name, meaning, failures == 0, failures, witness.value(key), witness)
