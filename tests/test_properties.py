"""Ex-post properties of ``symmech.solve`` over random quadratic economies (Hypothesis).

Economies u_i = (a_i s_i + sum_{j != i} b_ij s_j) q - m_i q^2 / 2 with exact random parameters,
a_i, m_i in [1/2, 2] and |b_ij| <= 1/10 < 1/2 <= c_s (so A1-A4 hold), and random profiles.
At each profile: market clearing, IR and IC as reported by the package, and the allocation,
transfers, pivots and budget surplus against the exact closed form derived with SymPy from the
model (tests/reference.py), with the reference solver's transfers too for small economies.
"""

from fractions import Fraction as F

import mpmath
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import symmech
from symmech import Economy, Q, signal_symbols
from reference import COMPARE_DPS, quadratic_closed_form, reference_solve, relative_error

DPS = 20
BAR = mpmath.mpf(10) ** (5 - DPS)


def _grid(lo, hi, den):
    """Exact rationals k/den in [lo, hi]."""
    return st.integers(int(lo * den), int(hi * den)).map(lambda k: F(k, den))


@st.composite
def cases(draw):
    n = draw(st.integers(2, 6))
    a = tuple(draw(_grid(F(1, 2), 2, 20)) for _ in range(n))
    m = tuple(draw(_grid(F(1, 2), 2, 20)) for _ in range(n))
    b = tuple(tuple(F(0) if i == j else draw(_grid(F(-1, 10), F(1, 10), 50)) for j in range(n))
              for i in range(n))
    signals = tuple(draw(_grid(0, 1, 20)) for _ in range(n))
    sigma = draw(_grid(0, F(1, 2), 20))
    return a, b, m, signals, sigma


def _economy(a, b, m):
    n = len(a)
    s = signal_symbols(n)
    return Economy([(a[i] * s[i] + sum(b[i][j] * s[j] for j in range(n))) * Q - m[i] * Q**2 / 2
                    for i in range(n)])


def _symmetric(n, cross, m):
    """a_i = 1, b_ij = cross: q_i = 0 exactly when s_i equals the others' mean."""
    return (tuple(F(1) for _ in range(n)),
            tuple(tuple(F(0) if i == j else cross for j in range(n)) for i in range(n)),
            tuple(m))


_SYM3 = _symmetric(3, F(1, 20), (F(1), F(3, 2), F(3, 4)))
_SYM4 = _symmetric(4, F(1, 10), (F(1, 2), F(1), F(2), F(1)))


@settings(max_examples=25, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(cases())
@example((*_SYM3, (F(1, 2), F(0), F(0)), F(1, 10)))          # agent 1 pivots exactly at 0
@example((*_SYM3, (F(1, 2), F(1), F(1)), F(1, 5)))           # agent 1 pivots exactly at 1
@example((*_SYM4, (F(2, 5),) * 4, F(1, 10)))                 # all signals equal: no trade
@example(((F(1), F(3, 2), F(1, 2)), ((0, F(1, 10), F(-1, 10)), (F(1, 20), 0, 0), (0, F(-1, 20), 0)),
          (F(1), F(1, 2), F(2)), (F(0), F(1), F(1, 2)), F(1, 4)))   # signals at 0 and at 1
def test_ex_post_properties(case):
    a, b, m, signals, sigma = case
    economy = _economy(a, b, m)
    out = symmech.solve(economy, list(signals), sigma, dps=DPS)
    exact = quadratic_closed_form(economy, signals, sigma)
    scale = 1 + max(abs(x) for x in out.transfers + out.utilities)
    tol = BAR * scale

    # the same numbers as the exact closed form
    for field in ("price", "allocation", "transfers", "utilities", "pivots"):
        assert relative_error(getattr(out, field), getattr(exact, field)) <= BAR, field

    # MC: the package's check, and the sum of its allocation
    mc = out.checks.market_clearing
    assert mc.holds and mc.residual <= tol
    with mpmath.workdps(COMPARE_DPS):
        assert abs(mpmath.fsum(out.allocation)) <= tol

    # IR: holds exactly in the closed form; the package's margin is the smallest utility
    assert min(exact.utilities) >= 0
    ir = out.checks.individual_rationality
    assert ir.holds and ir.margin >= -tol
    assert relative_error(ir.margin, min(exact.utilities)) <= BAR

    # IC: no regret beyond rounding
    ic = out.checks.incentive_compatibility
    assert ic.holds and ic.max_regret <= tol

    # BS: value and sign against the exact sum of transfers
    surplus = exact.budget_surplus
    assert relative_error(out.budget_surplus, surplus) <= BAR
    bs = out.checks.budget_surplus
    if surplus > tol:
        assert bs.holds and out.budget_surplus > 0
    elif surplus < -tol:
        assert not bs.holds and out.budget_surplus < 0
    else:
        assert abs(out.budget_surplus) <= tol and bs.holds
    if len(signals) <= 3:      # and against the reference's envelope transfers, summed directly
        ref = reference_solve(economy, signals, sigma, DPS)
        with mpmath.workdps(COMPARE_DPS):
            assert relative_error(mpmath.fsum(ref.transfers), surplus) <= BAR

    # the pinned edge cases are what they claim to be
    if case[:3] == _SYM3 and signals[1:] in ((0, 0), (1, 1)):
        assert exact.pivots[0] == signals[1] and relative_error(out.pivots[0], signals[1]) <= BAR
    if len(set(signals)) == 1 and case[:3] == _SYM4:
        assert all(x == 0 for x in exact.allocation) and surplus == 0
