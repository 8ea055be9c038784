"""Speed baseline: the sigma-WE mechanism of one economy, written the straightforward way with mpmath.

No symmech imports. Every quantity is a root of a root: q_j(p) by findroot, the price by findroot
over sum_j q_j(p), the pivotal report s_i(x) by findroot over q_i(r) = x, and each transfer by
mpmath.quad over the quantity variable of eq. (4) with that nested findroot inside the integrand.
The checks (MC, BS, IR, IC regret over a grid of misreports, Pareto gap vs the Walrasian
allocation) are done the same naive way: each misreport gets its own transfer quad.

Economy (5 agents): mu_i(q, s) = a_i s_i + b mean_j(s_j**2) - m_i q - c_i tanh(q),
u_i(q, s) = (a_i s_i + b mean_j(s_j**2)) q - m_i q**2/2 - c_i log(cosh(q)).

Run: ``python bench/baseline_nested.py`` prints the numbers (30 digits) and the time taken.
"""

from fractions import Fraction
import argparse
import time

import mpmath

__all__ = ["run", "ic_grid", "IC_GRID", "DPS", "SIGNALS", "SIGMA"]

DPS = 30
A = [Fraction(1), Fraction(6, 5), Fraction(9, 10), Fraction(11, 10), Fraction(1)]
B = Fraction(1, 4)
M = [Fraction(1), Fraction(1), Fraction(3, 2), Fraction(1), Fraction(5, 4)]
C = [Fraction(1, 5), Fraction(1, 10), Fraction(1, 5), Fraction(3, 10), Fraction(1, 10)]
SIGNALS = [Fraction(12, 100), Fraction(87, 100), Fraction(45, 100), Fraction(66, 100), Fraction(31, 100)]
SIGMA = Fraction(1, 10)
N = len(A)

# The IC regret search, the naive way: each misreport needs its own transfer quad (~15-45 s each
# here). The full grid k/20, k = 0..20 (105 quads) would take ~30-80 minutes, so the default is
# reduced to the grid's midpoint, 1 misreport per agent (~1.5-4 minutes); `--ic-grid 20` runs the
# full grid.
FULL_GRID_STEPS = 20


def ic_grid(steps=None):
    """Misreports k/steps, k = 0..steps; steps=None is the reduced default {1/2}."""
    if steps is None:
        return [Fraction(1, 2)]
    return [Fraction(k, steps) for k in range(steps + 1)]


IC_GRID = ic_grid()

COUNTS = {"findroot": 0, "quad": 0, "quad_nodes": 0}


def _mpf(x):
    """An exact Fraction as an mpf at the current precision (no float on the way)."""
    return mpmath.mpf(x.numerator) / x.denominator


def _findroot(f, x0):
    COUNTS["findroot"] += 1
    return mpmath.findroot(f, x0)


def _quad(f, a, b):
    COUNTS["quad"] += 1

    def counted(x):
        COUNTS["quad_nodes"] += 1
        return f(x)
    return mpmath.quad(counted, [a, b])


class _Economy:
    """The parameters as mpf at the working precision."""

    def __init__(self, sigma):
        self.a = [_mpf(x) for x in A]
        self.b = _mpf(B)
        self.m = [_mpf(x) for x in M]
        self.c = [_mpf(x) for x in C]
        self.sigma = _mpf(sigma)

    def common(self, s):
        return self.b * mpmath.fsum(x**2 for x in s) / len(s)

    def mu(self, i, q, s):
        return self.a[i] * s[i] + self.common(s) - self.m[i] * q - self.c[i] * mpmath.tanh(q)

    def u(self, i, q, s):
        return (self.a[i] * s[i] + self.common(s)) * q - self.m[i] * q**2 / 2 - self.c[i] * mpmath.log(mpmath.cosh(q))

    def demand(self, j, p, s):
        """q_j(p): the root of mu_j(q) - p - sigma q."""
        return _findroot(lambda q: self.mu(j, q, s) - p - self.sigma * q, 0)

    def price(self, s):
        """The sigma-WE price: the root of sum_j q_j(p)."""
        return _findroot(lambda p: mpmath.fsum(self.demand(j, p, s) for j in range(N)), 0)

    def equilibrium(self, s):
        p = self.price(s)
        return p, [self.demand(j, p, s) for j in range(N)]

    def quantity(self, i, r, s):
        """q_i(r, s_-i): agent i's sigma-WE quantity when it reports r."""
        t = list(s)
        t[i] = r
        p = self.price(t)
        return self.demand(i, p, t)

    def report_for(self, i, x, s):
        """s_i(x): the report r with q_i(r, s_-i) = x (nested findroot), started at the true s_i."""
        return _findroot(lambda r: self.quantity(i, r, s) - x, s[i])

    def boundary(self, i, s):
        """The boundary type r_b and its quantity q_b = q_i(r_b, s_-i)."""
        q0, q1 = self.quantity(i, mpmath.mpf(0), s), self.quantity(i, mpmath.mpf(1), s)
        if q0 > 0:
            return mpmath.mpf(0), q0
        if q1 < 0:
            return mpmath.mpf(1), q1
        return self.report_for(i, mpmath.mpf(0), s), mpmath.mpf(0)

    def transfer(self, i, s):
        """Eq. (4) in the quantity variable, boundary constant t_b = (p + sigma q_b) q_b."""
        p, q = self.equilibrium(s)
        r_b, q_b = self.boundary(i, s)
        t = list(s)
        t[i] = r_b
        t_b = (self.price(t) + self.sigma * q_b) * q_b

        def per_unit(x):
            t = list(s)
            t[i] = self.report_for(i, x, s)
            return self.price(t) + self.sigma * x
        return t_b + _quad(per_unit, q_b, q[i])


def _checks(e, s, p, q, t, grid):
    utilities = [e.u(i, q[i], s) - t[i] for i in range(N)]
    ir_agent = min(range(N), key=lambda i: utilities[i])
    # IC, the naive way: every misreport r needs its own equilibrium and its own transfer quad.
    regret, ic_agent, ic_report = mpmath.mpf(0), 1, mpmath.mpf(0)
    for i in range(N):
        for r in grid:
            lie = list(s)
            lie[i] = _mpf(r)
            p_r, q_r = e.equilibrium(lie)
            gain = e.u(i, q_r[i], s) - e.transfer(i, lie) - utilities[i]
            if gain > regret:
                regret, ic_agent, ic_report = gain, i + 1, lie[i]
    # Pareto gap vs the Walrasian (sigma = 0) allocation with Walrasian transfers p* q*_i.
    w = _Economy(0)
    p_w, q_w = w.equilibrium(s)
    gaps = [(e.u(i, q_w[i], s) - p_w * q_w[i]) - utilities[i] for i in range(N)]
    pe_agent = max(range(N), key=lambda i: gaps[i])
    surplus_gap = mpmath.fsum(e.u(i, q_w[i], s) - e.u(i, q[i], s) for i in range(N))
    return {
        "utilities": utilities,
        "market_clearing_residual": abs(mpmath.fsum(q)),
        "budget_surplus": mpmath.fsum(t),
        "ir_margin": utilities[ir_agent], "ir_agent": ir_agent + 1,
        "ic_max_regret": regret, "ic_agent": ic_agent, "ic_misreport": ic_report,
        "walrasian_price": p_w, "walrasian_allocation": q_w,
        "pareto_gap": gaps[pe_agent], "pareto_agent": pe_agent + 1, "surplus_gap": surplus_gap,
    }


def run(grid=None):
    """Solve and check the benchmark economy at DPS digits; return the numbers (mpf) and counts.

    ``grid`` is the list of misreports (Fractions) for the IC search; default :data:`IC_GRID`.
    """
    grid = IC_GRID if grid is None else grid
    for key in COUNTS:
        COUNTS[key] = 0
    with mpmath.workdps(DPS):
        e = _Economy(SIGMA)
        s = [_mpf(x) for x in SIGNALS]
        p, q = e.equilibrium(s)
        t = [e.transfer(i, s) for i in range(N)]
        pivots = [e.boundary(i, s)[0] for i in range(N)]
        counts_solve = dict(COUNTS)
        checks = _checks(e, s, p, q, t, grid)
    return {"price": p, "allocation": q, "transfers": t, "pivots": pivots, "checks": checks,
            "counts_solve": counts_solve, "counts": dict(COUNTS), "ic_grid": [str(r) for r in grid]}


def _show(name, x):
    print(f"{name:28s} {mpmath.nstr(x, DPS, min_fixed=-4, max_fixed=4)}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ic-grid", type=int, default=None, metavar="K",
                        help=f"IC misreports k/K, k=0..K (full grid: {FULL_GRID_STEPS}); default: 1/2 only")
    args = parser.parse_args(argv)
    grid = ic_grid(args.ic_grid)
    start, cpu = time.perf_counter(), time.process_time()
    out = run(grid)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    with mpmath.workdps(DPS):
        _show("price", out["price"])
        for k, x in enumerate(out["allocation"], 1):
            _show(f"q_{k}", x)
        for k, x in enumerate(out["transfers"], 1):
            _show(f"t_{k}", x)
        for k, x in enumerate(out["pivots"], 1):
            _show(f"pivot_{k}", x)
        c = out["checks"]
        _show("MC residual", c["market_clearing_residual"])
        _show("budget surplus", c["budget_surplus"])
        _show(f"IR margin (agent {c['ir_agent']})", c["ir_margin"])
        _show(f"IC max regret (agent {c['ic_agent']})", c["ic_max_regret"])
        if c["ic_max_regret"] > 0:
            _show("IC worst misreport", c["ic_misreport"])
        else:
            print(f"{'IC worst misreport':28s} none gains")
        _show("Walrasian price", c["walrasian_price"])
        _show(f"Pareto gap (agent {c['pareto_agent']})", c["pareto_gap"])
        _show("surplus gap W* - W", c["surplus_gap"])
    full = len(grid) == FULL_GRID_STEPS + 1
    print(f"IC grid: {len(grid)} misreport(s) per agent {out['ic_grid'] if len(grid) < 4 else ''}"
          f"({'full grid' if full else f'REDUCED from the full {FULL_GRID_STEPS + 1}-point grid, see README'})")
    print(f"counts (solve only): {out['counts_solve']}")
    print(f"counts (solve + checks): {out['counts']}")
    print(f"time: {elapsed:.2f} s wall, {cpu:.2f} s CPU")


if __name__ == "__main__":
    main()
