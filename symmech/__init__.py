"""symmech: the sigma-Walrasian Equilibrium mechanisms of Andreyanov and Sadzik (2016).

Derive, compute and verify them for an exchange economy written as a TOML model file.
"""

from .errors import AssumptionError, ConvergenceError, ModelError, SymmechError
from .model import Economy, Q, catalogue_names, load_model, signal_symbol, signal_symbols
from .assumptions import check_assumptions, require_assumptions

__all__ = ["Economy", "Q", "signal_symbol", "signal_symbols", "load_model", "catalogue_names",
           "SymmechError", "ModelError", "AssumptionError", "ConvergenceError"]
__all__ += ["check_assumptions", "require_assumptions"]
from .verify import Outcome, solve

__all__ += ["solve", "Outcome"]
