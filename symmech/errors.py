"""The package's exceptions: few, each built on a built-in so callers can catch either."""

__all__ = ["SymmechError", "ModelError", "AssumptionError", "ConvergenceError"]


class SymmechError(Exception):
    """Base of every error symmech raises on purpose."""


class ModelError(SymmechError, ValueError):
    """A model file or model input is wrong; ``problems`` lists every mistake found.

    The message names each problem on its own line, with where it is and what to write instead.
    """

    def __init__(self, problems, source=None):
        if isinstance(problems, str):
            problems = [problems]
        self.problems = list(problems)
        self.source = source
        head = f"{source}: " if source else ""
        if len(self.problems) == 1:
            message = head + self.problems[0]
        else:
            lines = [f"{head}{len(self.problems)} problems:"]
            lines += [f"  - {p}" for p in self.problems]
            message = "\n".join(lines)
        super().__init__(message)


class AssumptionError(SymmechError, ValueError):
    """The economy breaks one of the paper's assumptions A1-A4; ``witness`` says where."""

    def __init__(self, message, assumption=None, agent=None, witness=None):
        self.assumption = assumption
        self.agent = agent
        self.witness = witness
        super().__init__(message)


class ConvergenceError(SymmechError, ArithmeticError):
    """An iteration did not reach the requested accuracy; ``partial`` holds what it had."""

    def __init__(self, message, partial=None):
        self.partial = partial
        super().__init__(message)
