"""Speed baseline for float64 at scale: a tuned numpy loop doing one IC transfer per agent.

No symmech imports. Economy (N agents, read from a model file written by this script):

    mu_i(q, s) = a_i s_i + b mean_j(s_j) - m_i q - c_i q**3,
    u_i(q, s)  = (a_i s_i + b mean_j(s_j)) q - m_i q**2/2 - c_i q**4/4,

a_i in [1/2, 3/2], m_i in [1/2, 3/2], c_i in [0, 1/2] drawn with a fixed seed (3 decimals, so the
file's numbers are exact), b = 1/2. The profile (3 decimals) and sigma come from the same seed.

For each agent i (a Python loop over agents; everything inside is vectorised over the N agents
and the nodes): the sigma-WE by nested Newton (outer on the price, inner on every q_j(p) at once),
the boundary type r_b (q_i(0) >= 0: 0; q_i(1) <= 0: 1; else Newton on r with Lemma 2's dq_i/dr),
eq. 7's constant t_b = (p + sigma q_b) q_b and eq. 4 by 12-node Gauss-Legendre on [r_b, s_i]:

    t_i = t_b + integral_{r_b}^{s_i} (p(r) + sigma q_i(r)) dq_i/dr dr.

No checks. Run: ``python bench/baseline_numpy.py [--agents N]`` prints the time and a checksum;
``--write-model`` writes bench/cubic{N}.toml.
"""

from pathlib import Path
import argparse
import time
import tomllib

import numpy as np

__all__ = ["model_text", "profile", "load", "run", "SIGMA", "SEED", "NODES", "model_path"]

HERE = Path(__file__).resolve().parent
SEED = 6
SIGMA = "0.05"
NODES = 12
_TOL = 1e-14


def _draw(n, seed=SEED):
    rng = np.random.default_rng(seed)
    a, m, c = rng.uniform(0.5, 1.5, n), rng.uniform(0.5, 1.5, n), rng.uniform(0, 0.5, n)
    s = rng.uniform(0, 1, n)
    return [[f"{x:.3f}" for x in v] for v in (a, m, c, s)]


def model_text(n, seed=SEED):
    """The TOML model file of the N-agent cubic economy."""
    a, m, c, _ = _draw(n, seed)
    row = lambda v: "[" + ", ".join(v) + "]"  # noqa: E731
    return (f"# bench/baseline_numpy.py --agents {n} --write-model (seed {seed}): random cubic economy\n"
            f'name = "cubic {n}"\nagents = {n}\n\n[parameters]\na = {row(a)}\nb = 0.5\nm = {row(m)}\n'
            f'c = {row(c)}\n\n[utility]\nall = "(a*s_i + b*mean(s_j))*q - m/2*q**2 - c/4*q**4"\n')


def profile(n, seed=SEED):
    """The signals (decimal strings) the benchmark uses for N agents."""
    return _draw(n, seed)[3]


def model_path(n):
    return HERE / f"cubic{n}.toml"


def load(path):
    """a, b, m, c (float arrays; b a float) from a model file written by model_text."""
    data = tomllib.loads(Path(path).read_text())
    p = data["parameters"]
    return (np.array([float(x) for x in p["a"]]), float(p["b"]),
            np.array([float(x) for x in p["m"]]), np.array([float(x) for x in p["c"]]))


class _Cubic:
    def __init__(self, a, b, m, c, s, sigma):
        self.a, self.b, self.m, self.c, self.s, self.sigma = a, b, m, c, s, sigma
        self.n = len(a)
        self.own = a * s                       # a_j s_j
        self.mean = s.mean()

    def values(self, i, r):
        """v_j = a_j s_j + b mean(s) with agent i reporting r (rows: one per r)."""
        v = np.broadcast_to(self.own + self.b * self.mean, (len(r), self.n)).copy()
        v += (self.b / self.n) * (r - self.s[i])[:, None]
        v[:, i] += self.a[i] * (r - self.s[i])
        return v

    def demands(self, v, p, q, tol=_TOL):
        """q_j(p): Newton on v_j - p - (m_j + sigma) q - c_j q**3 = 0, all rows and agents at once."""
        k = self.m + self.sigma
        for _ in range(60):
            q2 = q * q
            slope = k + 3 * self.c * q2                    # minus the derivative
            step = ((k + self.c * q2) * q + p[:, None] - v) / slope
            q = q - step
            if np.abs(step).max() <= tol:
                break
        return q, -(k + 3 * self.c * q * q)

    def equilibrium(self, v, p, q):
        """Nested Newton: the price (one per row) with every q_j(p) solved inside.

        Tuned: the inner solves stop at a tolerance tied to the last price step (inexact Newton),
        and run to rounding level only for the final allocation.
        """
        tol = 1e-3
        for _ in range(60):
            q, slope = self.demands(v, p, q, tol)
            step = q.sum(axis=1) / (1 / slope).sum(axis=1)     # d excess/dp = sum 1/slope
            p = p - step
            size = np.abs(step).max()
            if size <= _TOL * (1 + np.abs(p).max()):
                break
            tol = max(_TOL, 1e-3 * size * size)
        q, slope = self.demands(v, p, q)
        return p, q, slope

    def own_slope(self, i, slope):
        """Lemma 2: dq_i/dr with d mu_j/dr = b/N (+ a_i for j = i); ``slope`` is d mu_j/dq - sigma."""
        w = -1 / slope
        col = self.b / self.n
        dp = (col * w.sum(axis=1) + self.a[i] * w[:, i]) / w.sum(axis=1)
        return w[:, i] * (col + self.a[i] - dp)

    def transfer(self, i, p0, q0, nodes, weights):
        rows = lambda r: (np.full(len(r), p0), np.broadcast_to(q0, (len(r), self.n)).copy())  # noqa: E731
        ends = np.array([0.0, 1.0])
        p, q, _ = self.equilibrium(self.values(i, ends), *rows(ends))
        if q[0, i] >= 0 or q[1, i] <= 0:
            r_b = 0.0 if q[0, i] >= 0 else 1.0
            at = 0 if q[0, i] >= 0 else 1
            p_b, q_b = p[at], q[at, i]
        else:
            r = np.array([q[0, i] / (q[0, i] - q[1, i])])
            pp, qq = rows(r)
            for _ in range(60):
                pp, qq, slope = self.equilibrium(self.values(i, r), pp, qq)
                step = qq[0, i] / self.own_slope(i, slope)[0]
                r = r - step
                if abs(step) <= _TOL:
                    break
            pp, qq, _ = self.equilibrium(self.values(i, r), pp, qq)
            r_b, p_b, q_b = r[0], pp[0], qq[0, i]
        t_b = (p_b + self.sigma * q_b) * q_b
        half, mid = (self.s[i] - r_b) / 2, (self.s[i] + r_b) / 2
        r = mid + half * nodes
        p, q, slope = self.equilibrium(self.values(i, r), *rows(r))
        return t_b + half * np.sum(weights * (p + self.sigma * q[:, i]) * self.own_slope(i, slope))


def run(path, signals, sigma=SIGMA):
    """Every agent's IC transfer (float64 array) for the model file at ``path``."""
    a, b, m, c = load(path)
    s = np.array([float(x) for x in signals])
    e = _Cubic(a, b, m, c, s, float(sigma))
    nodes, weights = np.polynomial.legendre.leggauss(NODES)
    p0, q0, _ = e.equilibrium((e.own + b * e.mean)[None, :], np.zeros(1), np.zeros((1, e.n)))
    return np.array([e.transfer(i, p0[0], q0[0], nodes, weights) for i in range(e.n)])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--write-model", action="store_true", help="write bench/cubicN.toml and stop")
    args = parser.parse_args(argv)
    path = model_path(args.agents)
    if args.write_model or not path.exists():
        path.write_text(model_text(args.agents))
        print(f"wrote {path}")
        if args.write_model:
            return
    start, cpu = time.perf_counter(), time.process_time()
    transfers = run(path, profile(args.agents))
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    print(f"N = {args.agents}: {len(transfers)} transfers, sum {transfers.sum():.15g}, "
          f"first {transfers[0]:.15g}")
    print(f"time: {elapsed:.3f} s wall, {cpu:.3f} s CPU")


if __name__ == "__main__":
    main()
