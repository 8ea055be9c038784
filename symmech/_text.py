"""Plain-text reports for people: aligned columns, the witness of every check."""

import mpmath

from ._numbers import decimal_text

__all__ = ["outcome_text"]


def _num(x, digits):
    return mpmath.nstr(x, digits, min_fixed=-4, max_fixed=digits + 1)


def outcome_text(outcome):
    """The outcome of ``symmech.solve`` as a readable report."""
    d = min(outcome.dps, 16)
    e = outcome.economy
    c = outcome.checks
    kind = "IC/IR transfers (eq. 4 + 7)" if outcome.transfers_kind == "ic" else "naive transfers (eq. 2)"
    lines = [f"{e.name}: {e.n} agents, sigma = {decimal_text(outcome.sigma)}, {kind}, {outcome.dps} digits",
             f"reference price p^sigma(s) = {_num(outcome.price, d)}"
             f"   (Walrasian price p*(s) = {_num(outcome.walrasian_price, d)})", ""]
    head = ("agent", "signal", "q_i", "t_i", "u_i - t_i", "pivot s_i(0)")
    rows = [[str(i + 1), decimal_text(outcome.signals[i]), _num(outcome.allocation[i], d),
             _num(outcome.transfers[i], d), _num(outcome.utilities[i], d), _num(outcome.pivots[i], 8)]
            for i in range(e.n)]
    widths = [max(len(h), *(len(r[k]) for r in rows)) for k, h in enumerate(head)]
    lines.append("  ".join(h.rjust(w) for h, w in zip(head, widths)))
    lines += ["  ".join(v.rjust(w) for v, w in zip(r, widths)) for r in rows]
    lines += ["", "checks at this profile:"]
    mark = lambda ok: "holds" if ok else "FAILS"
    mc, bs, ir, ic, pe = (c.market_clearing, c.budget_surplus, c.individual_rationality,
                          c.incentive_compatibility, c.pareto)
    lines += [
        f"  market clearing      {mark(mc.holds):5}  |sum q_i| = {_num(mc.residual, 3)}",
        f"  budget surplus       {mark(bs.holds):5}  sum t_i = {_num(bs.value, d)}",
        f"  individual ration.   {mark(ir.holds):5}  worst margin {_num(ir.margin, d)} (agent {ir.agent})",
        f"  incentive compat.    {mark(ic.holds):5}  largest regret {_num(ic.max_regret, 6)}"
        f" (agent {ic.agent} reporting {_num(ic.misreport, 10)})",
        f"  epsilon-Pareto       eps = {_num(pe.epsilon, d)} (agent {pe.agent}, against the WE with WE transfers)",
        "",
        f"solved by {outcome.solver.method}: {outcome.solver.iterations} Newton steps, residual "
        f"{mpmath.nstr(outcome.solver.residual, 3)}, {outcome.solver.nodes} equilibria along own reports",
    ]
    return "\n".join(lines)

