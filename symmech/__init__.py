"""symmech: the sigma-Walrasian Equilibrium mechanisms of Andreyanov and Sadzik (2016).

Derive, compute and verify them for an exchange economy written as a TOML model file.

The public names are loaded on first use (PEP 562), so ``symmech --help`` and other commands
import SymPy and mpmath only when they need them.
"""

from importlib import import_module

from .errors import AssumptionError, ConvergenceError, ModelError, SymmechError

# public name -> the module that defines it (one line per module; helpers add theirs here)
_LAZY = {
    "Economy": "model", "Q": "model", "signal_symbol": "model", "signal_symbols": "model",
    "load_model": "model", "catalogue_names": "model",
    "check_assumptions": "assumptions", "require_assumptions": "assumptions",
    "solve": "verify", "Outcome": "verify",
    "derive": "symbolic", "derive_example": "symbolic", "Derivation": "symbolic", "is_quadratic": "symbolic",
    "deficit_profile": "symbolic",
    "derivation_latex": "latex",
    "compare_printed": "printed",
    "certify_assumptions": "certify", "certify_price": "certify", "certify_budget_sign": "certify",
    "precision_check": "compare", "agreement_digits": "compare",
    "symbolic_vs_numeric": "compare", "lemma2_vs_numeric": "compare", "lemma2_bounds": "compare",
    "verify_profiles": "profiles",
    "paper_claims": "paper",
}

__all__ = ["SymmechError", "ModelError", "AssumptionError", "ConvergenceError", *_LAZY]


def __getattr__(name):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'symmech' has no attribute {name!r}")
    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(__all__)
