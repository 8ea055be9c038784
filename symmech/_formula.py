"""Safe utility formulas: text becomes an exact SymPy expression and is never run as Python.

A formula is parsed with :func:`ast.parse` and only a whitelist of node types is accepted
(numbers, names, ``+ - * / **``, unary ``+ -``, calls of known functions, ``s[k]``). The tree is
then walked to build SymPy objects directly; nothing is evaluated, compiled, executed or handed
to ``sympify``. Numbers stay exact (``1.1`` is 11/10, read from the literal's source text), and
sizes are checked before anything is built, so no input can make parsing slow or huge.

The language (DESIGN.md, "Model file"): ``q``, ``s_i``, ``s[k]``, ``mean(EXPR)``, ``sum(EXPR)``,
``mean(EXPR, G)``, ``sum(EXPR, G)`` (``s_j`` ranges over the agents inside them), ``N``, ``i``,
the model's parameters, the functions in :data:`FUNCTIONS` and the constants ``pi`` and ``E``.
"""

import ast
import difflib
import operator
import re
import warnings
from decimal import Decimal, InvalidOperation
from fractions import Fraction

import mpmath
import sympy

__all__ = ["Formula", "FormulaProblem", "NotSeparable", "compile_formula", "FUNCTIONS", "AGGREGATES", "CONSTANTS",
           "RESERVED_NAMES", "MAX_LENGTH", "MAX_DEPTH", "MAX_EXPONENT", "MAX_BITS",
           "MAX_AGGREGATE_DEPTH", "MAX_CONSTANT",
           "distinct_nodes"]

#: Longest formula accepted, in characters.
MAX_LENGTH = 2000
#: Deepest syntax tree accepted.
MAX_DEPTH = 60
#: Largest |exponent|, also for the product of nested exponents over a symbolic base.
MAX_EXPONENT = 100
#: Largest numerator or denominator of an exact number, in bits (about 1200 digits).
MAX_BITS = 4000
#: Largest magnitude of a constant subexpression (e.g. exp(10**100) is refused).
MAX_CONSTANT = 10**300
#: Deepest nesting of mean/sum: each level multiplies the built terms by the number of agents.
MAX_AGGREGATE_DEPTH = 2

#: name -> (SymPy function, least and most arguments; None: no upper bound).
FUNCTIONS = {
    "exp": (sympy.exp, 1, 1), "log": (sympy.log, 1, 1), "sqrt": (sympy.sqrt, 1, 1),
    "sin": (sympy.sin, 1, 1), "cos": (sympy.cos, 1, 1), "tan": (sympy.tan, 1, 1),
    "sinh": (sympy.sinh, 1, 1), "cosh": (sympy.cosh, 1, 1), "tanh": (sympy.tanh, 1, 1),
    "atan": (sympy.atan, 1, 1), "asinh": (sympy.asinh, 1, 1), "atanh": (sympy.atanh, 1, 1),
    "abs": (sympy.Abs, 1, 1), "min": (sympy.Min, 2, None), "max": (sympy.Max, 2, None),
}
AGGREGATES = ("mean", "sum")
#: Functions with a kink: allowed on signals and numbers, not on q.
_KINKED = ("abs", "min", "max")
CONSTANTS = {"pi": sympy.pi, "E": sympy.E}
_OWN_NAMES = ("q", "s_i", "N", "i")
#: Names a model's parameters may not take.
RESERVED_NAMES = frozenset({*_OWN_NAMES, "s", "s_j", "j", *AGGREGATES, *FUNCTIONS, *CONSTANTS})

_ARITH = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}
# + - * / of formulas (// and % only in indices, see _INDEX_ONLY)
_FIELD = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}
_INDEX_ONLY = {ast.FloorDiv: "//", ast.Mod: "%"}
_OPERATOR_SIGNS = {ast.BitXor: "^", ast.Mod: "%", ast.FloorDiv: "//", ast.MatMult: "@", ast.LShift: "<<",
                   ast.RShift: ">>", ast.BitOr: "|", ast.BitAnd: "&"}
_OPERATOR_HINTS = {
    ast.BitXor: "'^' is not a power here; write ** (for example q**2)",
    ast.Mod: "'%' is allowed only inside s[...]",
    ast.FloorDiv: "'//' is allowed only inside s[...]",
}
_NODE_NAMES = {
    ast.Attribute: "attribute access (x.name)", ast.Lambda: "lambda",
    ast.ListComp: "comprehensions", ast.SetComp: "comprehensions", ast.DictComp: "comprehensions",
    ast.GeneratorExp: "comprehensions", ast.Compare: "comparisons (<, ==, ...)",
    ast.BoolOp: "boolean operators (and, or)", ast.IfExp: "conditional expressions (x if c else y)",
    ast.List: "lists", ast.Tuple: "tuples", ast.Set: "sets", ast.Dict: "dicts",
    ast.JoinedStr: "f-strings", ast.FormattedValue: "f-strings", ast.NamedExpr: "assignments (:=)",
    ast.Starred: "starred arguments (*x)", ast.Await: "await", ast.Yield: "yield",
    ast.YieldFrom: "yield", ast.Slice: "slices (a:b)",
}
_SIGNAL_NUMBER = re.compile(r"^s_?(\d+)$")


class FormulaProblem(Exception):
    """One mistake in a formula, with where it is (``column``) and what to write instead."""


class NotSeparable(Exception):
    """The formula is not one template over aggregates of s_j (the message says where and why)."""


def compile_formula(text, parameters=(), groups=()):
    """Check ``text`` against the language; return ``(Formula or None, problems)``.

    ``parameters`` and ``groups`` are the names the model defines. Each problem is a string that
    starts with where it is (``column 7``) and says what to write instead.
    """
    if not isinstance(text, str):
        return None, [f"a formula must be text in quotes, not {type(text).__name__}"]
    problems = _check_characters(text)
    if problems:
        return None, problems
    try:
        with warnings.catch_warnings():   # e.g. "invalid decimal literal" for 1if; the text is refused anyway
            warnings.simplefilter("ignore")
            tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        return None, [_syntax_problem(text.strip(), exc)]
    except (ValueError, RecursionError, MemoryError):
        return None, ["the formula is too deeply nested to read; simplify it"]
    formula = Formula(text.strip(), tree.body, frozenset(parameters), frozenset(groups))
    problems = formula.problems()
    return (None, problems) if problems else (formula, [])


def _check_characters(text):
    if len(text) > MAX_LENGTH:
        return [f"the formula has {len(text)} characters; at most {MAX_LENGTH} are allowed"]
    if not text.strip():
        return ["the formula is empty; write an expression in q and the signals, e.g. s_i*q - q**2/2"]
    for column, char in enumerate(text, start=1):
        if not (char.isascii() and (char.isprintable() or char in "\t\n\r")):
            return [f"column {column}: character {char!r} (U+{ord(char):04X}) is not allowed; "
                    "formulas use plain ASCII letters, digits and + - * / ( ) [ ] , ."]
    return []


def _syntax_problem(text, exc):
    where = f"column {exc.offset}" if exc.offset else "somewhere"
    if "\n" in text and exc.lineno:
        where = f"line {exc.lineno} of the formula, {where}"
    return f"{where}: not a valid formula ({exc.msg}); check brackets and operators"


def _suggest(name, known):
    close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def _depth(node):
    """The nesting depth of an expression tree, found without recursion."""
    deepest, stack = 0, [(node, 1)]
    while stack:
        current, depth = stack.pop()
        deepest = max(deepest, depth)
        if deepest > MAX_DEPTH:
            break
        for child in ast.iter_child_nodes(current):
            stack.append((child, depth + isinstance(child, ast.expr)))
    return deepest


def _bits(value):
    return max(value.numerator.bit_length(), value.denominator.bit_length())


class Formula:
    """A checked formula: its syntax tree, ready to be built for any agent with :meth:`build`."""

    def __init__(self, text, tree, parameters, groups):
        self.text = text
        self.tree = tree
        self.parameters = parameters
        self.groups = groups
        self._problems = None
        self._constant = {}

    def is_constant(self, node):
        """Whether ``node`` (a node of this tree) has no q, signal or aggregate in it (remembered)."""
        if id(node) not in self._constant:
            self._constant[id(node)] = _is_constant_node(node)
        return self._constant[id(node)]

    # ---- the static check: every problem, with its column -----------------------------------
    def problems(self):
        """Every mistake found without knowing the agent, each a string starting with where."""
        if self._problems is None:
            self._problems = []
            if _depth(self.tree) > MAX_DEPTH:
                self._problems.append(f"the formula is nested more than {MAX_DEPTH} levels deep; simplify it")
            else:
                self._check(self.tree, inside=0)
        return list(self._problems)

    def _where(self, node):
        column = getattr(node, "col_offset", 0) + 1
        if "\n" in self.text:
            return f"line {getattr(node, 'lineno', 1)} of the formula, column {column}"
        return f"column {column}"

    def _add(self, node, message):
        self._problems.append(f"{self._where(node)}: {message}")

    def _refuse(self, node):
        what = _NODE_NAMES.get(type(node), f"'{type(node).__name__}' expressions")
        self._add(node, f"{what} not allowed in a formula; use numbers, names, + - * / ** and functions")

    def _check(self, node, inside):
        """Check a value expression; ``inside`` counts the mean/sum calls around it."""
        if isinstance(node, ast.Constant):
            self._literal(node)
        elif isinstance(node, ast.Name):
            self._check_name(node, inside)
        elif isinstance(node, ast.BinOp):
            self._check_binop(node, inside)
        elif isinstance(node, ast.UnaryOp):
            if isinstance(node.op, (ast.UAdd, ast.USub)):
                self._check(node.operand, inside)
            else:
                self._add(node, "'not' and '~' are not allowed; use + and -")
        elif isinstance(node, ast.Call):
            self._check_call(node, inside)
        elif isinstance(node, ast.Subscript):
            self._check_subscript(node)
        else:
            self._refuse(node)

    def _check_binop(self, node, inside):
        op = type(node.op)
        if op is ast.Pow:
            self._check(node.left, inside)
            self._check_constant(node.right, "exponent")
            return
        if op not in _ARITH:
            hint = _OPERATOR_HINTS.get(op, "use + - * / and **")
            self._add(node, f"operator {_OPERATOR_SIGNS.get(op, type(node.op).__name__)!r} is not allowed; {hint}")
        self._check(node.left, inside)
        self._check(node.right, inside)

    def _check_name(self, node, inside):
        name = node.id
        if name.startswith("__"):
            self._add(node, f"names with double underscores ({name}) are not allowed")
        elif name in _OWN_NAMES or name in CONSTANTS or name in self.parameters:
            return
        elif name == "s_j":
            if not inside:
                self._add(node, "s_j is defined only inside mean(...) or sum(...); "
                                "write s_i for the own signal or s[k] for agent k's")
        elif name == "s":
            self._add(node, "s is the list of signals; write s[k] for agent k's signal or s_i for the own")
        elif name in FUNCTIONS or name in AGGREGATES:
            self._add(node, f"{name} is a function; call it, e.g. {name}(q)")
        elif name in self.groups:
            self._add(node, f"{name} is a group; it may appear only as mean(EXPR, {name}) or sum(EXPR, {name})")
        elif _SIGNAL_NUMBER.match(name):
            k = _SIGNAL_NUMBER.match(name).group(1)
            self._add(node, f"unknown name {name!r}; write s[{k}] for agent {k}'s signal")
        else:
            known = {*_OWN_NAMES, *CONSTANTS, *self.parameters} | ({"s_j"} if inside else set())
            self._add(node, f"unknown name {name!r}{_suggest(name, known)} "
                            f"(known: {', '.join(sorted(known))})")

    def _check_call(self, node, inside):
        for keyword in node.keywords:
            self._add(keyword.value, "keyword arguments (name=...) are not allowed")
        args = node.args
        for arg in args:
            if isinstance(arg, ast.Starred):
                self._refuse(arg)
        args = [a for a in args if not isinstance(a, ast.Starred)]
        if not isinstance(node.func, ast.Name):
            self._add(node, "only named functions may be called, e.g. exp(q); "
                            f"the functions are {', '.join(sorted({*FUNCTIONS, *AGGREGATES}))}")
            return
        name = node.func.id
        if name in AGGREGATES:
            self._check_aggregate(node, name, args, inside)
        elif name in FUNCTIONS:
            _, least, most = FUNCTIONS[name]
            if len(args) < least or (most is not None and len(args) > most):
                wanted = f"{least}" if least == most else f"at least {least}"
                self._add(node, f"{name} takes {wanted} argument{'s' * (wanted != '1')}, got {len(args)}")
            if name in _KINKED and any(isinstance(sub, ast.Name) and sub.id == "q"
                                       for arg in args for sub in ast.walk(arg)):
                self._add(node, f"{name}(...) of an expression in q is not differentiable in q; the model "
                                "needs a continuously differentiable utility (assumption A4 uses d mu/dq); "
                                f"use {name} only on signals and numbers, or a smooth form such as "
                                "sqrt(q**2 + c) for abs(q)")
            for arg in args:
                self._check(arg, inside)
        elif name.startswith("__"):
            self._add(node, f"names with double underscores ({name}) are not allowed")
        else:
            known = {*FUNCTIONS, *AGGREGATES}
            self._add(node, f"unknown function {name!r}{_suggest(name, known)} "
                            f"(functions: {', '.join(sorted(known))})")
            for arg in args:
                self._check(arg, inside)

    def _check_aggregate(self, node, name, args, inside):
        if len(args) not in (1, 2):
            self._add(node, f"{name} takes (EXPR) or (EXPR, GROUP), got {len(args)} arguments")
            return
        if inside == MAX_AGGREGATE_DEPTH:   # said once, at the first level too deep
            self._add(node, f"{name}(...) here is nested {inside + 1} deep in mean/sum; at most "
                            f"{MAX_AGGREGATE_DEPTH} levels are allowed (each level multiplies the size of "
                            "the utility by the number of agents); compute the inner aggregate once")
        self._check(args[0], inside + 1)
        if len(args) == 2:
            group = args[1]
            if not isinstance(group, ast.Name):
                self._add(group, f"the second argument of {name} must be a group name")
            elif group.id not in self.groups:
                if self.groups:
                    self._add(group, f"unknown group {group.id!r}{_suggest(group.id, self.groups)} "
                                     f"(groups: {', '.join(sorted(self.groups))})")
                else:
                    self._add(group, f"{name}(EXPR, {group.id}) needs a group {group.id!r}, but the model "
                                     "defines no groups; add groups = {...} or write "
                                     f"{name}(EXPR) for all agents")

    def _check_subscript(self, node):
        if not (isinstance(node.value, ast.Name) and node.value.id == "s"):
            self._add(node, "only the signal list may be indexed: write s[k] for agent k's signal")
            return
        self._check_constant(node.slice, "index")

    def _check_constant(self, node, kind):
        """Check an exponent or a signal index: numbers, N, i (and parameters in exponents)."""
        names = {"N", "i"} | (set(self.parameters) if kind == "exponent" else set())
        ops = {**_ARITH, ast.Pow: "**", **(_INDEX_ONLY if kind == "index" else {})}
        bad = None
        stack = [node]
        while stack and bad is None:
            current = stack.pop()
            if isinstance(current, ast.Constant):
                self._literal(current)
            elif isinstance(current, ast.Name) and current.id in names:
                continue
            elif isinstance(current, ast.BinOp) and type(current.op) in ops:
                stack += [current.left, current.right]
            elif isinstance(current, ast.UnaryOp) and isinstance(current.op, (ast.UAdd, ast.USub)):
                stack.append(current.operand)
            else:
                bad = current
        if bad is None:
            return
        if kind == "exponent":
            self._add(bad, "an exponent must be a number (literals, N, i and parameters, "
                           f"|value| <= {MAX_EXPONENT}); for a variable power write exp(y*log(x))")
        else:
            self._add(bad, "the index in s[...] must be a whole number built from literals, i and N "
                           "with + - * // %")

    def _literal(self, node):
        """The exact value of a number literal, or None after recording why it is refused."""
        value = node.value
        if isinstance(value, bool) or value is None or value is Ellipsis:
            self._add(node, f"{value!r} is not allowed; a formula holds numbers, not {value!r}")
            return None
        if isinstance(value, (str, bytes)):
            self._add(node, "strings are not allowed in a formula; write the expression without quotes")
            return None
        if isinstance(value, complex):
            self._add(node, "complex numbers (j) are not allowed; utilities are real")
            return None
        if isinstance(value, int):
            number = Fraction(value)
        else:
            number = self._decimal(node)
            if number is None:
                return None
        if _bits(number) > MAX_BITS:
            self._add(node, f"the number is too large (more than {MAX_BITS} bits)")
            return None
        return number

    def _decimal(self, node):
        """A float literal read exactly from its source text (never through the binary float)."""
        source = ast.get_source_segment(self.text, node) or ""
        try:
            number = Decimal(source)
        except InvalidOperation:
            self._add(node, f"cannot read the number {source!r}; write it as 1.25 or 5/4")
            return None
        if not number.is_finite() or abs(number.as_tuple().exponent) > 1200:
            self._add(node, f"the number {source!r} is too large or too small; write it with at most "
                            "1200 digits")
            return None
        return Fraction(number)

    # ---- building SymPy for one agent ---------------------------------------------------------
    def build(self, agent, agents, parameters, groups, quantity, signal, cache=None):
        """Agent ``agent``'s expression: ``i`` is ``agent``, ``N`` is ``agents``.

        ``parameters`` maps names to a Fraction or a tuple of Fractions (one per agent),
        ``groups`` maps names to tuples of agents (from 1), ``quantity`` is the symbol q and
        ``signal(k)`` agent k's signal symbol. ``cache`` (a dict) may be shared between the agents
        of one economy: sums that do not depend on the agent are built once.
        Raises :class:`FormulaProblem` with where and what.
        """
        if self.problems():
            raise FormulaProblem("; ".join(self.problems()))
        builder = _Builder(self, agent, agents, parameters, groups, quantity, signal,
                           {} if cache is None else cache)
        try:
            value = builder.value(self.tree, None, Fraction(1))
        except FormulaProblem:
            raise
        except Exception as exc:  # noqa: BLE001 - SymPy may fail on odd input; report, never crash
            raise FormulaProblem(f"SymPy could not build the formula ({type(exc).__name__}: {exc})") from None
        return _finished(value)

    def template(self, members, agents, parameters, groups, quantity, signal, registry):
        """The formula as one template for the agents ``members`` (see :mod:`symmech.structure`).

        Like :meth:`build`, but ``s_i``, ``i`` and list parameters stay symbols (named by
        ``registry``), each mean/sum whose body depends on s_j alone becomes an aggregate symbol
        and each ``s[...]`` a pick. Raises :class:`NotSeparable` when the formula has no such form
        (an aggregate of q, s_i, i, a list parameter, s[...] or another aggregate; an exponent
        that depends on the agent), :class:`FormulaProblem` as :meth:`build` does.
        """
        if self.problems():
            raise FormulaProblem("; ".join(self.problems()))
        builder = _TemplateBuilder(self, tuple(members), agents, parameters, groups, quantity, signal,
                                   registry)
        try:
            value = builder.value(self.tree, None, Fraction(1))
        except (FormulaProblem, NotSeparable):
            raise
        except Exception as exc:  # noqa: BLE001 - as in build
            raise FormulaProblem(f"SymPy could not build the formula ({type(exc).__name__}: {exc})") from None
        return _finished(value)


def _rational(value):
    if isinstance(value, Fraction):
        return sympy.Rational(value.numerator, value.denominator)
    return value


_UNDEFINED = (sympy.S.ComplexInfinity, sympy.S.NaN, sympy.S.Infinity, sympy.S.NegativeInfinity)


def distinct_nodes(expr):
    """Each distinct subexpression of ``expr`` once: shared subtrees (from mean/sum) are walked once."""
    seen, stack = set(), [expr]
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        yield node
        stack.extend(node.args)


def _finished(value):
    """The built value as a SymPy expression, refused if undefined, complex or huge (one pass)."""
    expr = _rational(value)
    for node in distinct_nodes(expr):
        if node.is_Atom:
            if any(node is u for u in _UNDEFINED):
                raise FormulaProblem("the formula is undefined (a division by zero, log(0) or similar)")
            if node is sympy.S.ImaginaryUnit:
                raise FormulaProblem("the formula has complex values (e.g. sqrt or log of a negative number); "
                                     "utilities must be real")
            if node.is_Rational and max(int(node.p).bit_length(), int(node.q).bit_length()) > MAX_BITS:
                raise FormulaProblem(f"the formula makes a number of more than {MAX_BITS} bits; "
                                     "use smaller numbers")
        elif node.is_Pow and node.base.is_Number and node.base.is_negative and not node.exp.is_Integer:
            raise FormulaProblem(f"{node} is not real; utilities must be real")
    return expr


_MP_FUNCTIONS = {
    sympy.exp: mpmath.exp, sympy.log: mpmath.log, sympy.sin: mpmath.sin, sympy.cos: mpmath.cos,
    sympy.tan: mpmath.tan, sympy.sinh: mpmath.sinh, sympy.cosh: mpmath.cosh, sympy.tanh: mpmath.tanh,
    sympy.atan: mpmath.atan, sympy.asinh: mpmath.asinh, sympy.atanh: mpmath.atanh, sympy.Abs: abs,
    sympy.Min: min, sympy.Max: max,
}


class _TooLarge(Exception):
    """A constant subexpression is not finite or larger than :data:`MAX_CONSTANT`."""


def _constant_value(expr, memo):
    """``expr`` (a SymPy constant) at 15 digits, or None when it has a form not evaluated here.

    Every argument is checked against :data:`MAX_CONSTANT` before a function is applied to it, so
    no evaluation meets a huge argument (exp(exp(1000)) stops at exp(1000)); ``memo`` is shared.
    """
    if expr in memo:
        return memo[expr]
    if expr.is_Rational:
        value = mpmath.mpf(int(expr.p)) / int(expr.q)
    elif expr is sympy.pi:
        value = +mpmath.pi
    elif expr is sympy.E:
        value = +mpmath.e
    else:
        args = [_constant_value(arg, memo) for arg in expr.args]
        if not expr.args or any(a is None for a in args):
            return None
        if expr.is_Add:
            value = mpmath.fsum(args)
        elif expr.is_Mul:
            value = mpmath.fprod(args)
        elif expr.is_Pow:
            value = args[0] ** args[1] if args[0] != 0 or mpmath.re(args[1]) > 0 else mpmath.inf
        elif expr.func in _MP_FUNCTIONS:
            if expr.func in (sympy.Min, sympy.Max) and any(isinstance(a, mpmath.mpc) for a in args):
                return None
            value = _MP_FUNCTIONS[expr.func](*args)
        else:
            return None
    if not mpmath.isfinite(value) or abs(value) > MAX_CONSTANT:
        raise _TooLarge
    memo[expr] = value
    return value


def _is_constant_node(node):
    """Whether ``node`` has no q, signal or aggregate in it (names such as N, i, pi or parameters only)."""
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name) and sub.id in ("q", "s_i", "s_j"):
            return False
        if isinstance(sub, ast.Subscript) or (isinstance(sub, ast.Call) and isinstance(sub.func, ast.Name)
                                              and sub.func.id in AGGREGATES):
            return False
    return True


class _Builder:
    """Walks a checked tree and builds SymPy objects; exact constants stay Fractions until mixed."""

    def __init__(self, formula, agent, agents, parameters, groups, quantity, signal, cache):
        self.formula = formula
        self.agent = agent
        self.agents = agents
        self.parameters = parameters
        self.groups = groups
        self.quantity = quantity
        self.signal = signal
        self.cache = cache
        self.agent_names = {"i", "s_i"} | {k for k, v in parameters.items() if isinstance(v, tuple)}
        self.constants = {}

    def fail(self, node, message):
        raise FormulaProblem(f"{self.formula._where(node)}: {message}")

    def value(self, node, own_j, scale):
        """The value of ``node``: a Fraction if it is an exact constant, else a SymPy object.

        ``own_j`` is the symbol s_j stands for (inside mean/sum); ``scale`` is the product of the
        exponents around ``node``, to refuse towers such as (q**50)**50. A constant built from
        functions (exp(10**100)) is evaluated at 15 digits and refused when huge.
        """
        result = self.plain_value(node, own_j, scale)
        if isinstance(result, sympy.Basic) and self.formula.is_constant(node):
            try:
                with mpmath.workdps(15):
                    _constant_value(result, self.constants)
            except _TooLarge:
                self.fail(node, f"this constant is not finite or larger than 10**{len(str(MAX_CONSTANT)) - 1} "
                                "in magnitude; use smaller numbers")
        return result

    def plain_value(self, node, own_j, scale):
        """:meth:`value` without the check of constants."""
        if isinstance(node, ast.Constant):
            return self.formula._literal(node)
        if isinstance(node, ast.Name):
            return self.name(node, own_j)
        if isinstance(node, ast.UnaryOp):
            operand = self.value(node.operand, own_j, scale)
            return -operand if isinstance(node.op, ast.USub) else operand
        if isinstance(node, ast.BinOp):
            if isinstance(node.op, ast.Pow):
                return self.power(node, own_j, scale)
            return self.arithmetic(node, self.value(node.left, own_j, scale),
                                   self.value(node.right, own_j, scale))
        if isinstance(node, ast.Subscript):
            return self.signal(self.index(node.slice))
        if node.func.id in AGGREGATES:
            return self.aggregate(node, scale)
        return self.function(node, own_j, scale)

    def name(self, node, own_j):
        name = node.id
        if name == "q":
            return self.quantity
        if name == "s_i":
            return self.signal(self.agent)
        if name == "s_j":
            return own_j
        if name in CONSTANTS:
            return CONSTANTS[name]
        return self.number(node)

    def number(self, node):
        """N, i or a parameter (a list parameter's entry for this agent), as a Fraction."""
        name = node.id
        if name == "N":
            return Fraction(self.agents)
        if name == "i":
            return Fraction(self.agent)
        if name not in self.parameters:
            self.fail(node, f"parameter {name!r} has no value")
        value = self.parameters[name]
        if isinstance(value, tuple):
            if not 1 <= self.agent <= len(value):
                self.fail(node, f"parameter {name!r} has no entry for agent {self.agent}")
            value = value[self.agent - 1]
        return Fraction(value)

    def arithmetic(self, node, left, right):
        op = type(node.op)
        if isinstance(left, Fraction) and isinstance(right, Fraction):
            return self.sized(node, self.exact_arithmetic(node, op, left, right))
        if op is ast.Div and isinstance(right, Fraction) and right == 0:
            self.fail(node, "division by zero")
        return _FIELD[op](_rational(left), _rational(right))

    def exact_arithmetic(self, node, op, left, right):
        if op in (ast.Div, ast.FloorDiv, ast.Mod) and right == 0:
            self.fail(node, "division by zero")
        if op is ast.FloorDiv:
            return Fraction(left // right)
        if op is ast.Mod:
            return left % right
        return _FIELD[op](left, right)

    def sized(self, node, number):
        if _bits(number) > MAX_BITS:
            self.fail(node, f"this makes a number of more than {MAX_BITS} bits; use smaller numbers")
        return number

    def constant(self, node, kind):
        """An exponent or index as an exact Fraction (the static check allowed only these nodes)."""
        if isinstance(node, ast.Constant):
            return self.formula._literal(node)
        if isinstance(node, ast.Name):
            return self.number(node)
        if isinstance(node, ast.UnaryOp):
            value = self.constant(node.operand, kind)
            return -value if isinstance(node.op, ast.USub) else value
        left = self.constant(node.left, kind)
        right = self.constant(node.right, kind)
        if isinstance(node.op, ast.Pow):
            self.check_exponent(node, right)
            if right.denominator != 1:
                self.fail(node, f"the {kind} must be rational; {left}**({right}) is not")
            return self.exact_power(node, left, right)
        return self.sized(node, self.exact_arithmetic(node, type(node.op), left, right))

    def check_exponent(self, node, exponent):
        if abs(exponent) > MAX_EXPONENT:
            self.fail(node, f"the exponent {exponent} is too large; exponents must have |value| <= {MAX_EXPONENT}")

    def exact_power(self, node, base, exponent):
        """base**exponent for an integer exponent, refused before computing if it would be huge."""
        if base == 0 and exponent < 0:
            self.fail(node, "division by zero (0 to a negative power)")
        if abs(int(exponent)) * _bits(base) > MAX_BITS:
            self.fail(node, f"this power makes a number of more than {MAX_BITS} bits; use smaller numbers")
        return base ** int(exponent)

    def power(self, node, own_j, scale):
        exponent = self.constant(node.right, "exponent")
        self.check_exponent(node, exponent)
        scale = scale * abs(exponent)
        base = self.value(node.left, own_j, scale)
        if isinstance(base, Fraction):
            if exponent.denominator == 1:
                return self.exact_power(node, base, exponent)
            if base < 0:
                self.fail(node, f"({base})**({exponent}) is not real; utilities must be real")
            # An irrational power of a number: size-check the integer part, then let SymPy keep it exact.
            self.exact_power(node, base, Fraction(exponent.numerator))
            return sympy.Pow(_rational(base), _rational(exponent))
        if scale > MAX_EXPONENT:
            self.fail(node, f"nested powers multiply to an exponent of {scale}; at most {MAX_EXPONENT} is allowed")
        return sympy.Pow(base, _rational(exponent))

    def index(self, node):
        value = self.constant(node, "index")
        if value.denominator != 1 or not 1 <= value <= self.agents:
            shown = value if _bits(value) < 64 else "a huge number"
            self.fail(node, f"s[...] names agent {shown}, but agents are numbered 1..{self.agents}")
        return int(value)

    def function(self, node, own_j, scale):
        function, _, _ = FUNCTIONS[node.func.id]
        args = [self.value(arg, own_j, scale) for arg in node.args]
        if all(isinstance(a, Fraction) for a in args):
            if node.func.id == "abs":
                return abs(args[0])
            if node.func.id in ("min", "max"):
                return min(args) if node.func.id == "min" else max(args)
        return function(*[_rational(a) for a in args])

    def aggregate(self, node, scale):
        """mean/sum over all agents or a group: the body is built once with a stand-in for s_j."""
        members = (tuple(range(1, self.agents + 1)) if len(node.args) == 1
                   else tuple(self.groups[node.args[1].id]))
        if not members:
            self.fail(node, "the group is empty")
        key = (id(node), scale)
        if key in self.cache:
            return self.cache[key]
        stand_in = sympy.Dummy("s_j", real=True)
        body = _rational(self.value(node.args[0], stand_in, scale))
        if stand_in in body.free_symbols:
            total = sympy.Add(*[body.xreplace({stand_in: self.signal(m)}) for m in members])
        else:
            total = body * len(members)
        result = total / len(members) if node.func.id == "mean" else total
        if not (self.agent_names & {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}):
            self.cache[key] = result
        return result


class _TemplateBuilder(_Builder):
    """Builds one template for a group of agents: agent-specific names stay symbols."""

    def __init__(self, formula, members, agents, parameters, groups, quantity, signal, registry):
        super().__init__(formula, members[0], agents, parameters, groups, quantity, signal, {})
        self.members = members
        self.registry = registry
        self.per_agent = {"i"} | {k for k, v in parameters.items() if isinstance(v, tuple)}

    def value(self, node, own_j, scale):
        if isinstance(node, ast.Subscript):
            return self.pick(node)
        return super().value(node, own_j, scale)

    def name(self, node, own_j):
        if node.id == "s_i":
            return self.registry.own
        return super().name(node, own_j)

    def number(self, node):
        if node.id == "i":
            return self.registry.index
        if isinstance(self.parameters.get(node.id), tuple):
            return self.registry.parameter(node.id)
        return super().number(node)

    def constant(self, node, kind):
        names = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
        if names & self.per_agent:
            raise NotSeparable(f"{self.formula._where(node)}: the {kind} depends on the agent")
        return super().constant(node, kind)

    def pick(self, node):
        """s[...]: the agent it names, for each member (once when the index does not use i)."""
        uses_i = any(isinstance(n, ast.Name) and n.id == "i" for n in ast.walk(node.slice))
        indices = []
        for member in (self.members if uses_i else self.members[:1]):
            plain = _Builder(self.formula, member, self.agents, self.parameters, self.groups,
                             self.quantity, self.signal, {})
            indices.append(plain.index(node.slice))
        if not uses_i:
            indices *= len(self.members)
        return self.registry.pick(tuple(indices), ast.unparse(node.slice))

    def aggregate(self, node, scale):
        """mean/sum of a function of s_j alone: an aggregate symbol; anything else does not separate."""
        body = node.args[0]
        for sub in ast.walk(body):
            bad = None
            if isinstance(sub, ast.Name) and (sub.id in self.per_agent or sub.id in ("q", "s_i")):
                bad = sub.id
            elif isinstance(sub, ast.Subscript):
                bad = "s[...]"
            elif isinstance(sub, ast.Call) and isinstance(sub.func, ast.Name) and sub.func.id in AGGREGATES:
                bad = "a nested mean/sum"
            if bad is not None:
                raise NotSeparable(f"{self.formula._where(node)}: {node.func.id}(...) uses {bad}; only "
                                   "s_j, numbers, N and scalar parameters make an aggregate")
        group = node.args[1].id if len(node.args) == 2 else None
        members = tuple(range(1, self.agents + 1)) if group is None else tuple(self.groups[group])
        if not members:
            self.fail(node, "the group is empty")
        value = _rational(super().value(body, self.registry.body, scale))
        if self.registry.body not in getattr(value, "free_symbols", ()):
            total = value * len(members)
            return total / len(members) if node.func.id == "mean" else total
        return self.registry.aggregate(node.func.id, members, value, group)
