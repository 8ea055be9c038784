"""Cross-checks between two computations of the same thing.

- a run against a rerun at more digits (:func:`precision_check`);
- the exact closed forms of a quadratic economy against the numeric solver
  (:func:`symbolic_vs_numeric`);
- Lemma 2's weighted-average formula for dp/ds_i and dq_j/ds_i against a numeric derivative of
  the solved equilibrium, for any economy (:func:`lemma2_vs_numeric`);
- Lemma 2's bounds c_ps varphi_N <= dp/ds_i <= C_ps varphi_N with constants from the assumption
  report (:func:`lemma2_bounds`).

:func:`precision_check` reruns :func:`symmech.solve` with the same inputs at ``dps + extra``
digits and reports, for the price, every allocation, transfer and utility and the budget
surplus, the number of significant decimal digits on which the two runs agree
(:func:`agreement_digits`). A result that agrees to fewer than ``dps - 5`` digits breaks the
promise of DESIGN.md ("every number ... correct to at least dps - 5 significant digits") and
is flagged.
"""

from dataclasses import dataclass

import mpmath

from ._numbers import format_number
from .errors import ModelError

__all__ = ["agreement_digits", "precision_check", "compare_outcomes", "PrecisionCheck", "Agreement",
           "EXTRA_DIGITS", "MARGIN_DIGITS", "CrossCheck", "symbolic_vs_numeric", "lemma2_vs_numeric",
           "Lemma2Bounds", "lemma2_bounds", "lemma2_constants"]

#: How many more digits the reference run uses (``--verify-precision``).
EXTRA_DIGITS = 20
#: A result must agree with the reference to ``dps - MARGIN_DIGITS`` digits (DESIGN.md).
MARGIN_DIGITS = 5

_FAMILIES = ("price", "allocation", "transfers", "utilities", "budget_surplus")


def _mpf(x):
    """An mpf, or an int as an exact mpf (with enough bits that it is not rounded)."""
    if isinstance(x, mpmath.mpf):
        return x
    if isinstance(x, int) and not isinstance(x, bool):
        with mpmath.workprec(max(53, x.bit_length())):
            return mpmath.mpf(x)
    raise TypeError(f"agreement_digits compares mpmath numbers (mpf or int), not {type(x).__name__}")


def agreement_digits(a, b, cap=None):
    """The number of significant decimal digits on which ``a`` and ``b`` agree.

    That is ``floor(-log10(|a - b| / max(|a|, |b|)))``, clipped to ``[0, cap]``: 1.0000000003 and
    1 agree to 9 digits. Equal numbers (two zeros included) agree to ``cap`` digits; a zero and a
    non-zero number, numbers of opposite signs, nan or infinities agree to 0. The difference is
    taken exactly, so the answer does not depend on the working precision. ``cap`` defaults to
    the current working precision ``mpmath.mp.dps``.

    >>> import mpmath
    >>> agreement_digits(mpmath.mpf("1.0000000003"), mpmath.mpf(1), cap=30)
    9
    >>> agreement_digits(mpmath.mpf(0), mpmath.mpf(0), cap=30), agreement_digits(mpmath.mpf(0), mpmath.mpf(1) / 3, cap=30)
    (30, 0)
    """
    cap = int(mpmath.mp.dps if cap is None else cap)
    a, b = _mpf(a), _mpf(b)
    if not (mpmath.isfinite(a) and mpmath.isfinite(b)):
        return 0
    if a == b:
        return cap
    if not a or not b or (a < 0) != (b < 0) or abs(mpmath.mag(a) - mpmath.mag(b)) > 4:
        return 0                      # different orders of magnitude: no digit in common
    difference = mpmath.fsub(a, b, exact=True)
    return _digits(abs(difference), max(abs(a), abs(b)), cap)


def _digits(difference, scale, cap):
    """floor(-log10(difference / scale)) in [0, cap]; difference > 0, scale > 0."""
    if not difference:
        return cap
    with mpmath.workdps(30):
        ratio = mpmath.mpf(difference) / scale
        digits = int(mpmath.floor(-mpmath.log10(ratio)))
    return max(0, min(cap, digits))


@dataclass(frozen=True)
class Agreement:
    """One quantity of the outcome: its name (``price``, ``allocation[2]``, ...), the digits on
    which the run and the rerun agree, and whether they were compared absolutely (a quantity that
    is zero to rounding, compared against the outcome's scale) rather than relatively."""

    name: str
    digits: int
    absolute: bool
    value: object         # this run's value
    reference: object     # the rerun's value


@dataclass(frozen=True)
class PrecisionCheck:
    """How far a :func:`symmech.solve` outcome agrees with a rerun at more digits.

    ``quantities`` holds one :class:`Agreement` per number of the outcome (price, allocation,
    transfers, utilities, budget surplus), agents numbered from 1. ``minimum`` is the fewest
    digits any quantity agrees to and ``worst`` names it; ``flagged`` is ``minimum < threshold``
    with ``threshold = dps - 5``. Digits are capped at ``dps``. A quantity whose size in both runs
    is at most ``10**-(dps - 5) * scale`` (``scale`` = 1 + the largest price, allocation,
    transfer or utility) is zero to rounding: its digits are those of ``|a - b| / scale``.
    """

    dps: int
    reference_dps: int
    threshold: int
    scale: object
    quantities: tuple
    minimum: int
    worst: str
    flagged: bool

    @property
    def absolute(self):
        """The names of the quantities compared absolutely (zero to rounding)."""
        return tuple(a.name for a in self.quantities if a.absolute)

    def digits(self, name):
        """The digits agreed for quantity ``name`` (e.g. ``"transfers[2]"``)."""
        for a in self.quantities:
            if a.name == name:
                return a.digits
        raise KeyError(name)

    def to_dict(self):
        """A JSON object: the digits per quantity in the shape of the outcome's JSON."""
        digits = {family: [] for family in ("allocation", "transfers", "utilities")}
        for a in self.quantities:
            family = a.name.split("[")[0]
            if family in digits:
                digits[family].append(a.digits)
            else:
                digits[family] = a.digits
        return {"dps": self.dps, "reference_dps": self.reference_dps, "threshold": self.threshold,
                "minimum": self.minimum, "worst": self.worst, "flagged": self.flagged,
                "digits": {k: digits[k] for k in _FAMILIES},
                "compared_absolutely": list(self.absolute),
                "scale": mpmath.nstr(self.scale, 6)}

    def to_text(self):
        """A short report: the verdict first, then the digits per quantity."""
        head = (f"precision self-check: a rerun at {self.reference_dps} digits (dps + "
                f"{self.reference_dps - self.dps}) agrees with this run to at least {self.minimum} of "
                f"{self.dps} digits (fewest: {self.worst})")
        lines = [head]
        if self.flagged:
            lines.append(f"  FLAGGED: {self.worst} agrees to only {self.minimum} digits, fewer than "
                         f"dps - {MARGIN_DIGITS} = {self.threshold}; do not trust these results to "
                         f"{self.dps} digits: rerun with a larger --dps, or report the model")
        else:
            lines.append(f"  ok: every quantity agrees to at least dps - {MARGIN_DIGITS} = "
                         f"{self.threshold} digits")
        width = max(len(f) for f in _FAMILIES)
        by_family = {}
        for a in self.quantities:
            by_family.setdefault(a.name.split("[")[0], []).append(a)
        for family in _FAMILIES:
            shown = " ".join(f"{a.digits}{'*' if a.absolute else ''}" for a in by_family.get(family, ()))
            lines.append(f"  {family:<{width}}  {shown}")
        if self.absolute:
            limit = format_number(mpmath.mpf(10) ** -self.threshold * self.scale, 3)
            lines.append(f"  * zero to rounding (|x| <= {limit}): compared absolutely, against the "
                         f"scale {mpmath.nstr(self.scale, 6)}")
        return "\n".join(lines)


def precision_check(outcome, extra=EXTRA_DIGITS):
    """Rerun ``outcome``'s :func:`symmech.solve` at ``outcome.dps + extra`` digits and compare.

    The rerun uses the same economy, signals, sigma and transfers, and skips the assumptions'
    pre-check (the first run already did it, or was told not to). Returns a
    :class:`PrecisionCheck`; raises :class:`~symmech.errors.ModelError` if ``extra`` is not a
    whole number >= 1, and whatever the rerun raises (e.g. ConvergenceError).
    """
    from .verify import Outcome, solve

    if not isinstance(outcome, Outcome):
        raise ModelError([f"precision_check needs the Outcome of symmech.solve, not {type(outcome).__name__}"])
    if isinstance(extra, bool) or not isinstance(extra, int) or extra < 1:
        raise ModelError([f"extra is {extra!r}; the rerun needs a whole number of extra digits >= 1, e.g. 20"])
    rerun = solve(outcome.economy, outcome.signals, outcome.sigma, dps=outcome.dps + extra,
                  transfers=outcome.transfers_kind, check_assumptions=False)
    return compare_outcomes(outcome, rerun)


def compare_outcomes(outcome, reference):
    """The :class:`PrecisionCheck` of ``outcome`` against ``reference``, a run at more digits."""
    dps = outcome.dps
    threshold = dps - MARGIN_DIGITS
    pairs = list(_quantities(outcome, reference))
    with mpmath.workdps(reference.dps + 10):
        # the surplus is a sum of transfers: its size is already in the scale through them
        scale = 1 + max(abs(b) for name, _, b in pairs if name != "budget_surplus")
        zero = mpmath.mpf(10) ** -threshold * scale
        quantities = []
        for name, a, b in pairs:
            if max(abs(a), abs(b)) <= zero:
                digits = _digits(abs(mpmath.fsub(a, b, exact=True)), scale, dps)
                quantities.append(Agreement(name, digits, True, a, b))
            else:
                quantities.append(Agreement(name, agreement_digits(a, b, cap=dps), False, a, b))
    worst = min(quantities, key=lambda q: q.digits)
    return PrecisionCheck(dps, reference.dps, threshold, scale, tuple(quantities), worst.digits,
                          worst.name, worst.digits < threshold)


def _quantities(outcome, reference):
    """(name, this run's value, the rerun's value) for every number of the outcome."""
    yield "price", outcome.price, reference.price
    for family in ("allocation", "transfers", "utilities"):
        for k, (a, b) in enumerate(zip(getattr(outcome, family), getattr(reference, family)), start=1):
            yield f"{family}[{k}]", a, b
    yield "budget_surplus", outcome.budget_surplus, reference.budget_surplus


# ---------------------------------------------------------------- symbolic vs numeric, Lemma 2


@dataclass(frozen=True)
class CrossCheck:
    """Two computations of the same quantities: digits agreed per quantity, at ``dps`` digits.

    ``digits`` maps a name (``price``, ``allocation[2]``, ``dp/ds[1]``, ...) to the significant
    digits on which the two agree (capped at ``dps``; a quantity that is zero to rounding against
    ``scale`` is compared absolutely). ``minimum`` is the fewest and ``worst`` names it.
    """

    what: str
    dps: int
    digits: dict
    minimum: int
    worst: str
    scale: object

    def to_dict(self):
        return {"what": self.what, "dps": self.dps, "minimum": self.minimum, "worst": self.worst,
                "digits": dict(self.digits)}

    def to_text(self):
        return (f"{self.what}: agree to at least {self.minimum} of {self.dps} digits "
                f"(fewest: {self.worst}; {len(self.digits)} quantities)")


def _cross_check(what, dps, pairs):
    """A :class:`CrossCheck` from (name, a, b) pairs of mpf, compared as precision_check does."""
    with mpmath.workdps(dps + 20):
        scale = 1 + max(max(abs(a), abs(b)) for _, a, b in pairs)
        zero = mpmath.mpf(10) ** -(dps - MARGIN_DIGITS) * scale
        digits = {}
        for name, a, b in pairs:
            if max(abs(a), abs(b)) <= zero:
                digits[name] = _digits(abs(mpmath.fsub(a, b, exact=True)), scale, dps)
            else:
                digits[name] = agreement_digits(a, b, cap=dps)
    worst = min(digits, key=digits.get)
    return CrossCheck(what, dps, digits, digits[worst], worst, scale)


def symbolic_vs_numeric(economy, signals, sigma, dps=30, derivation=None):
    """The closed forms of :func:`symmech.derive`, evaluated exactly, against :func:`symmech.solve`.

    Compares the price, every allocation and every IC/IR transfer (eq. 4 + 7, the piecewise
    transfer of each pivot) at ``signals`` and ``sigma``; the numeric run uses the mpmath backend
    at ``dps`` digits. ``derivation`` (default ``derive(economy)``) lets a caller pass another
    derivation, e.g. to see a mismatch caught. Returns a :class:`CrossCheck`; for a quadratic
    economy every quantity should agree to about ``dps - 5`` digits or more.

    >>> check = symbolic_vs_numeric("example1", ["0.1", "0.9", "0.3", "0.7", "0.5", "0.2"], "1", dps=20)
    >>> check.minimum >= 15
    True
    """
    import sympy

    from ._numbers import working_precision
    from .model import load_model
    from .symbolic import derive
    from .verify import solve

    economy = load_model(economy)
    derivation = derive(economy) if derivation is None else derivation
    outcome = solve(economy, signals, sigma, dps=dps, check_assumptions=False, backend="mpmath")
    values = {s: sympy.Rational(x.numerator, x.denominator)
              for s, x in zip(derivation.signals, outcome.signals)}
    values[derivation.sigma] = sympy.Rational(outcome.sigma.numerator, outcome.sigma.denominator)
    exact_value = lambda expr: sympy.Rational(expr.subs(values))
    with working_precision(dps + 20):
        to = lambda r: mpmath.mpf(r.p) / r.q
        pairs = [("price", to(exact_value(derivation.price)), outcome.price)]
        pairs += [(f"allocation[{k}]", to(exact_value(q)), x)
                  for k, (q, x) in enumerate(zip(derivation.allocation, outcome.allocation), start=1)]
        pairs += [(f"transfers[{k}]", to(exact_value(pv.transfer)), x)
                  for k, (pv, x) in enumerate(zip(derivation.pivot, outcome.transfers), start=1)]
    return _cross_check(f"closed forms vs numeric solve ({economy.name})", dps, pairs)


def lemma2_vs_numeric(economy, signals, sigma, dps=30, agents=None):
    """Lemma 2's formula for dp/ds_i and dq_j/ds_i against a numeric derivative of the equilibrium.

    .. math:: \\frac{\\partial p^\\sigma}{\\partial s_i} = \\frac{\\sum_j w_j\\,\\partial\\mu_j/\\partial s_i}{\\sum_j w_j},
              \\quad w_j = (\\sigma - \\partial\\mu_j/\\partial q_j)^{-1}

    The formula side is :meth:`symmech.numeric.Market.own_report_response`; the other side
    differentiates the solved equilibrium price and allocation in s_i with ``mpmath.diff`` (each
    evaluation a fresh sigma-WE solve, warm-started). Works for any economy, quadratic or not.
    ``agents`` (numbered from 1; default all) limits the agents i. Returns a :class:`CrossCheck`
    with names ``dp/ds[i]`` and ``dq[j]/ds[i]``.
    """
    from ._numbers import exact, working_precision
    from .model import load_model
    from .numeric import Market

    economy = load_model(economy)
    market = Market(economy)
    agents = range(1, economy.n + 1) if agents is None else agents
    pairs = []
    with working_precision(dps):
        s = [_exact_mpf(exact(x)) for x in signals]
        sig = _exact_mpf(exact(sigma))
        eq = market.equilibrium(s, sig)
        for i in agents:
            dp, dq = market.own_report_response(eq, i - 1, s, sig)
            numeric = _numeric_response(market, eq, i - 1, s, sig)
            pairs.append((f"dp/ds[{i}]", dp, numeric[0]))
            pairs += [(f"dq[{j}]/ds[{i}]", a, b) for j, (a, b) in enumerate(zip(dq, numeric[1:]), start=1)]
    return _cross_check(f"Lemma 2 formula vs numeric derivative ({economy.name})", dps, pairs)


def _exact_mpf(x):
    """A Fraction as an mpf at the current precision (never through a float)."""
    return mpmath.mpf(x.numerator) / x.denominator


def _numeric_response(market, eq, i, s, sigma):
    """[dp/ds_i, dq_1/ds_i, ...] by differentiating the solved equilibrium in s_i."""
    def component(k):
        def f(r):
            moved = list(s)
            moved[i] = r
            found = market.equilibrium(moved, sigma, start=eq)
            return found.price if k == 0 else found.allocation[k - 1]
        return mpmath.diff(f, s[i])
    return [component(k) for k in range(market.n + 1)]


@dataclass(frozen=True)
class Lemma2Bounds:
    """Lemma 2's bounds on dp/ds_i at slope sigma, with the constants they come from.

    ``lower <= dp/ds_i <= upper`` follows from A2-A4 (see :func:`lemma2_constants`);
    ``c_ps = lower / varphi_N`` and ``C_ps = upper / varphi_N``. ``observed`` is the range of
    dp/ds_i over the profiles and agents tried, ``holds`` whether it lies inside the bounds and
    ``witness`` the (profile, agent, value) farthest outside (or closest to a bound). ``positive``
    says whether the lower bound is > 0, as the paper's c_ps > 0 needs (it needs cross effects
    d mu_j/d s_i >= 0, i.e. A3', or phi_N small against c_s / N).
    """

    sigma: object
    varphi_N: object
    lower: object
    upper: object
    c_ps: object
    C_ps: object
    positive: bool
    observed: tuple
    holds: bool
    witness: tuple
    constants: dict
    min_dq_ds: object = None      # the smallest own response dq_i/ds_i seen (Lemma 2: > 0)

    def to_dict(self):
        n = lambda x: mpmath.nstr(x, 8)
        return {"sigma": str(self.sigma), "varphi_N": n(self.varphi_N), "lower": n(self.lower),
                "upper": n(self.upper), "c_ps": n(self.c_ps), "C_ps": n(self.C_ps),
                "positive": self.positive, "observed": [n(x) for x in self.observed],
                "holds": self.holds, "min_dq_ds": n(self.min_dq_ds),
                "witness": {"signals": [str(x) for x in self.witness[0]], "agent": self.witness[1],
                            "dp_ds": n(self.witness[2])},
                "constants": {k: n(v) for k, v in self.constants.items()}}


def lemma2_constants(constants, n, sigma):
    """(lower, upper) bounds on dp/ds_i from A2-A4, at slope ``sigma`` with ``n`` agents.

    Derivation. dp/ds_i = sum_j w_j m_j / sum_j w_j with m_j = d mu_j/d s_i and
    w_j = (sigma - d mu_j/d q)^-1. A4 (d mu_j/d q in [c_q, C_q], C_q < 0) puts every weight in
    [w_lo, w_hi] = [1/(sigma - c_q), 1/(sigma - C_q)]; A2 puts m_i in [c_s, C_s]; A3 puts
    m_j (j != i) in [min_cross, phi_N], with min_cross >= -phi_N (= c_phi phi_N >= 0 under A3').
    So the numerator lies in [L, U] with L = w_lo c_s + (N - 1) min_cross w_(lo if min_cross >= 0
    else hi) and U = w_hi (C_s + (N - 1) phi_N) (C_s, phi_N >= 0), and the denominator in
    [N w_lo, N w_hi]. Hence

        upper = U / (N w_lo) = (sigma - c_q)/(sigma - C_q) * (C_s + (N - 1) phi_N) / N
              <= (c_q / C_q) * max(C_s, 1) * varphi_N          (sigma >= 0, varphi_N = phi_N + 1/N)
        lower = L / (N w_hi) if L >= 0 else L / (N w_lo).

    Under A3' (min_cross >= 0): lower >= (C_q / c_q) * min(c_s, c_phi (N - 1)/N) * varphi_N > 0,
    Lemma 2's c_ps > 0. Without it the lower bound can be negative: A2-A4 alone do not give
    c_ps > 0. ``constants`` maps c_s, C_s, phi_N, c_q, C_q, min_cross to mpf.
    """
    c = constants
    w_lo, w_hi = 1 / (sigma - c["c_q"]), 1 / (sigma - c["C_q"])
    cross = c["min_cross"]
    low_numerator = w_lo * c["c_s"] + (n - 1) * cross * (w_lo if cross >= 0 else w_hi)
    high_numerator = w_hi * (c["C_s"] + (n - 1) * c["phi_N"])
    upper = high_numerator / (n * w_lo)
    lower = low_numerator / (n * w_hi) if low_numerator >= 0 else low_numerator / (n * w_lo)
    return lower, upper


def lemma2_bounds(economy, sigma, profiles, dps=20, report=None, constants=None):
    """Lemma 2's bounds on dp/ds_i, checked at ``profiles`` (lists of exact signals).

    The constants come from ``report`` (default :func:`symmech.check_assumptions`, by sampling:
    evidence, not proof) or from ``constants`` (a dict of c_s, C_s, phi_N, c_q, C_q, min_cross,
    for a caller that has certified ones, or a test that perturbs them). dp/ds_i is Lemma 2's
    formula at the solved equilibrium (cross-checked by :func:`lemma2_vs_numeric`). Returns
    :class:`Lemma2Bounds`.
    """
    from ._numbers import exact, working_precision
    from .model import load_model
    from .numeric import Market

    economy = load_model(economy)
    n = economy.n
    with working_precision(dps):
        if constants is None:
            if report is None:
                from .assumptions import check_assumptions
                report = check_assumptions(economy)
            constants = {k: getattr(report, k) for k in ("c_s", "C_s", "phi_N", "c_q", "C_q", "min_cross")}
        # the report's constants are floats (sampled): take the decimal each prints as
        consts = {k: mpmath.mpf(exact(v).numerator) / exact(v).denominator if not isinstance(v, mpmath.mpf) else v
                  for k, v in constants.items()}
        sig = _exact_mpf(exact(sigma))
        lower, upper = lemma2_constants(consts, n, sig)
        varphi = consts["phi_N"] + mpmath.mpf(1) / n
        market = Market(economy)
        seen, own = [], []
        for profile in profiles:
            exact_profile = [exact(x) for x in profile]
            s = [_exact_mpf(x) for x in exact_profile]
            eq = market.equilibrium(s, sig)
            for i in range(n):
                dp, dq = market.own_report_response(eq, i, s, sig)
                seen.append((tuple(exact_profile), i + 1, dp))
                own.append(dq[i])
        low = min(seen, key=lambda w: w[2])
        high = max(seen, key=lambda w: w[2])
        # the sampled constants are doubles: allow their rounding, 1e-12 relative
        slack = mpmath.mpf(10) ** -12 * (1 + abs(lower) + abs(upper))
        holds = lower - slack <= low[2] and high[2] <= upper + slack
        witness = low if (low[2] - lower) <= (upper - high[2]) else high
        return Lemma2Bounds(exact(sigma), varphi, lower, upper, lower / varphi, upper / varphi,
                            lower > 0, (low[2], high[2]), bool(holds), witness, consts, min(own))
