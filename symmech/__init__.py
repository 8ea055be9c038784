"""symmech: the sigma-Walrasian Equilibrium mechanisms of Andreyanov and Sadzik (2016).

Derive, compute and verify them for an exchange economy written as a TOML model file.
"""

from .errors import AssumptionError, ConvergenceError, ModelError, SymmechError
from .model import Economy, Q, signal_symbol, signal_symbols

__all__ = ["Economy", "Q", "signal_symbol", "signal_symbols",
           "SymmechError", "ModelError", "AssumptionError", "ConvergenceError"]
