"""Cross-checks between two computations of the same thing: here, one run against a rerun.

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
           "EXTRA_DIGITS", "MARGIN_DIGITS"]

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
