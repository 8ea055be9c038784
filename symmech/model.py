"""The Economy record and the model files that describe one.

An Economy holds N agents, each with a utility u_i(q, s) as an exact SymPy expression. It is
validated when it is built and never changes; derived objects (marginal utilities, ...) are
computed on first use and cached. :func:`load_model` and :func:`parse_model` read the TOML model
files of DESIGN.md ("Model file"); formulas in them are parsed safely by :mod:`symmech._formula`.

A model file's formulas also give the economy's :class:`~symmech.structure.Structure` (one
template per group over aggregates), which is what lets files declare up to :data:`MAX_AGENTS`
agents: above :data:`MAX_EXPANDED_AGENTS` the expanded utilities are built only when asked for.
"""

import difflib
import importlib.resources
import keyword
import os
import re
import tomllib
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from functools import cached_property
from pathlib import Path

import sympy

from ._formula import MAX_BITS, RESERVED_NAMES, FormulaProblem, NotSeparable, compile_formula, distinct_nodes
from ._numbers import exact
from .errors import ModelError

__all__ = ["Economy", "Q", "signal_symbol", "signal_symbols",
           "parse_model", "load_model", "catalogue_names", "parse_formula", "MAX_AGENTS",
           "MAX_EXPANDED_AGENTS"]

#: The own quantity q in every utility expression.
Q = sympy.Symbol("q", real=True)


def signal_symbol(k):
    """The symbol of agent k's signal, agents numbered from 1."""
    return sympy.Symbol(f"s_{k}", real=True)


def signal_symbols(n):
    """The signal symbols s_1, ..., s_n."""
    return tuple(signal_symbol(k) for k in range(1, n + 1))


class _Utilities:
    """The ``utilities`` field: given at construction, or expanded from the structure on first use."""

    def __get__(self, economy, owner=None):
        if economy is None:
            return None                      # the field's default
        value = economy.__dict__.get("_utilities")
        if value is None and economy.__dict__.get("structure") is not None:
            value = economy.structure.expand_all()
            economy.__dict__["_utilities"] = value
        return value

    def __set__(self, economy, value):
        economy.__dict__["_utilities"] = value


@dataclass(frozen=True)
class Economy:
    """An exchange economy: ``utilities[i-1]`` is agent i's u_i(q, s).

    Each utility is a SymPy expression in :data:`Q` and the signal symbols
    ``signal_symbol(1) ... signal_symbol(N)``, with exact (Rational) constants.

    ``structure`` (optional, filled by the model loader) holds the same utilities as templates
    over aggregates (:mod:`symmech.structure`); the numeric backends evaluate through it in O(N)
    per profile. An Economy built from a structure alone (``utilities=None``) expands its
    utilities on first access. A structure is kept only with the utilities it was built with.

    >>> from symmech.model import Economy, Q, signal_symbols
    >>> s1, s2 = signal_symbols(2)
    >>> e = Economy([(s1 + (s1 + s2) / 4) * Q - Q**2 / 2, (s2 + (s1 + s2) / 4) * Q - Q**2 / 2])
    >>> e.n, e.marginal_utilities[0]
    (2, -q + 5*s_1/4 + s_2/4)
    """

    utilities: tuple = _Utilities()
    name: str = "economy"
    groups: dict = field(default_factory=dict)       # group name -> tuple of agents (from 1)
    parameters: dict = field(default_factory=dict)   # name -> Fraction or tuple of Fractions
    source: str = ""                                  # file path or catalogue name
    structure: object = field(default=None, compare=False, repr=False)

    def __post_init__(self):
        given = self.__dict__.get("_utilities")
        if given is None:
            self._check_structure()
            return
        object.__setattr__(self, "utilities", tuple(sympy.sympify(u, strict=True) if not isinstance(u, sympy.Basic) else u
                                                    for u in given))
        if self.structure is not None and self.structure.utilities != self.utilities:
            object.__setattr__(self, "structure", None)      # e.g. dataclasses.replace with new utilities
        problems = []
        if len(self.utilities) < 2:
            problems.append(f"an economy needs at least 2 agents, got {len(self.utilities)}")
        allowed = {Q, *self.signals}
        for i, u in enumerate(self.utilities, start=1):
            if not isinstance(u, sympy.Expr):
                problems.append(f"agent {i}: utility {u!r} is not an expression")
                continue
            nodes = list(distinct_nodes(u))      # one pass over shared subtrees, not u.free_symbols
            extra = {n for n in nodes if n.is_Symbol} - allowed
            if extra:
                names = ", ".join(sorted(str(x) for x in extra))
                problems.append(f"agent {i}: utility uses {names}; only q and s_1..s_{self.n} may appear")
            if any(isinstance(n, sympy.Float) for n in nodes):
                problems.append(f"agent {i}: utility has a binary float; use exact numbers (Rational)")
        if problems:
            raise ModelError(problems, source=self.source or None)

    def _check_structure(self):
        if self.structure is None:
            raise ModelError(["an economy needs utilities (one expression per agent) or a structure"],
                             source=self.source or None)
        problems = self.structure.problems()
        if self.structure.n < 2:
            problems.append(f"an economy needs at least 2 agents, got {self.structure.n}")
        if problems:
            raise ModelError(problems, source=self.source or None)

    def __repr__(self):
        # A large economy read from a file has no expanded utilities yet; repr must not build them.
        shown = repr(self.utilities) if self.expanded else f"<{self.n} utilities by template, not expanded>"
        return (f"Economy(utilities={shown}, name={self.name!r}, groups={self.groups!r}, "
                f"parameters={self.parameters!r}, source={self.source!r})")

    @property
    def n(self):
        """The number of agents N."""
        if self.structure is not None:
            return self.structure.n
        return len(self.utilities)

    @property
    def expanded(self):
        """Whether the expanded utilities exist already (building them is O(N^2) for large N)."""
        return self.__dict__.get("_utilities") is not None

    @property
    def signals(self):
        """The signal symbols s_1 ... s_N."""
        return signal_symbols(self.n)

    @cached_property
    def marginal_utilities(self):
        """mu_i(q, s) = du_i/dq for each agent."""
        return tuple(sympy.diff(u, Q) for u in self.utilities)

    def group_of(self, agent):
        """The name of the group agent (from 1) belongs to, or None."""
        for name, members in self.groups.items():
            if agent in members:
                return name
        return None


# ---- model files ------------------------------------------------------------------------------

#: The most agents a model file may declare (files whose formulas separate into templates).
MAX_AGENTS = 5000
#: Up to this many agents the expanded utilities are built when a file is read; above it only
#: the structure is, and formulas that do not separate into templates are refused.
MAX_EXPANDED_AGENTS = 200
#: Largest model text read, in characters or bytes (tomllib needs about a second per 500 kB).
_MAX_TEXT = 200_000
_TOP_KEYS = ("name", "agents", "groups", "parameters", "utility")
_HEADER = re.compile(r"^\s*\[+\s*([^\]]*?)\s*\]+\s*(#.*)?$")
_CATALOGUE = "symmech.catalogue"


def parse_model(text, source="<string>"):
    """The Economy a TOML model text describes (DESIGN.md, "Model file").

    Every problem in the text is collected first; then one :class:`ModelError` names them all,
    each with its line and what to write instead.

    >>> e = parse_model('agents = 2\\n[parameters]\\nb = 0.5\\n[utility]\\nall = "(s_i + b*mean(s_j))*q - q**2/2"')
    >>> e.n, e.parameters["b"], e.utilities[0]
    (2, Fraction(1, 2), -q**2/2 + q*(5*s_1/4 + s_2/4))
    """
    return _ModelReader(text, source).economy()


def load_model(path_or_name):
    """The Economy in a model file, or in the catalogue model of that name (see :func:`catalogue_names`).

    An Economy passed in is returned as it is.

    >>> load_model("example1").n
    6
    """
    if isinstance(path_or_name, Economy):
        return path_or_name
    if not isinstance(path_or_name, (str, os.PathLike)):
        raise ModelError([f"load_model needs a file path or a catalogue name, not {type(path_or_name).__name__}"])
    path = Path(path_or_name)
    if _is_file(path):
        return parse_model(_read(path), source=str(path))
    name = str(path_or_name)
    names = catalogue_names()
    if name in names:
        text = importlib.resources.files(_CATALOGUE).joinpath(name + ".toml").read_text(encoding="utf-8")
        return parse_model(text, source=name)
    hint = difflib.get_close_matches(Path(name).stem, names, n=1)
    guess = f"; did you mean {hint[0]!r}?" if hint else ""
    raise ModelError([f"no model file {name!r} and no catalogue model of that name{guess} "
                      f"(catalogue: {', '.join(names)})"])


def catalogue_names():
    """The names of the models shipped with symmech, for :func:`load_model`."""
    folder = importlib.resources.files(_CATALOGUE)
    return tuple(sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".toml")))


def parse_formula(text, agent, agents, parameters=None, groups=None):
    """Agent ``agent``'s utility from one formula of the model language, as an exact SymPy expression.

    ``parameters`` maps names to numbers or to lists with one number per agent; ``groups`` maps
    names to lists of agents (from 1). Raises :class:`ModelError` naming every problem.

    >>> parse_formula("(a*s_i + mean(s_j))*q", agent=2, agents=2, parameters={"a": [1, "1.1"]})
    q*(s_1/2 + 8*s_2/5)
    """
    values, problems = {}, []
    for name, raw in (parameters or {}).items():
        value = tuple(map(_exact_number, raw)) if isinstance(raw, (list, tuple)) else _exact_number(raw)
        if value is None or (isinstance(value, tuple) and (None in value or len(value) != agents)):
            problems.append(f"parameter {name!r} = {raw!r} is not a number or a list of {agents} numbers")
        values[name] = value
    members = {name: tuple(group) for name, group in (groups or {}).items()}
    formula, found = compile_formula(text, values, members)
    problems += found
    if not problems:
        try:
            return formula.build(agent, agents, values, members, Q, signal_symbol)
        except FormulaProblem as exc:
            problems.append(str(exc))
    raise ModelError(problems)


def _is_file(path):
    try:
        return path.is_file()
    except (OSError, ValueError):
        return False


def _read(path):
    try:
        if path.stat().st_size > _MAX_TEXT:
            size = path.stat().st_size
            raise ModelError([f"the file is larger than {_MAX_TEXT} bytes ({size} bytes); a model file is short"],
                             source=str(path))
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ModelError([f"the file is not UTF-8 text ({exc.reason} at byte {exc.start})"], source=str(path)) from None
    except OSError as exc:
        raise ModelError([f"cannot read the file: {exc.strerror}"], source=str(path)) from None


def _is_name(name):
    return name.isascii() and name.isidentifier() and not keyword.iskeyword(name) and not name.startswith("__")


def _exact_number(raw):
    """An exact Fraction for a parameter value (int, TOML float as Decimal, "1/2", "1.1"), or None."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, Decimal):
        digits = raw.as_tuple()
        if not raw.is_finite() or abs(digits.exponent) > 1200 or len(digits.digits) > 1200:
            return None
        value = Fraction(raw)
    elif isinstance(raw, str):
        text = raw.strip()
        power = re.search(r"[eE]([+-]?\d+)$", text)
        if len(text) > 1300 or (power and abs(int(power.group(1))) > 1200):
            return None
        try:
            value = exact(text)
        except ValueError:
            return None
    elif isinstance(raw, int) and raw.bit_length() > MAX_BITS:
        return None
    else:
        try:
            value = exact(raw)
        except ValueError:
            return None
    return value if max(value.numerator.bit_length(), value.denominator.bit_length()) <= MAX_BITS else None


def _agents_text(agents):
    agents = list(agents)
    return f"agent {agents[0]}" if len(agents) == 1 else "agents " + ", ".join(map(str, agents))


def _members_text(members, shown=10):
    """``agent 3`` or ``agents 1, 4, 7`` (each once, the first ``shown`` of them, then a count)."""
    unique = [str(m)[:20] for m in dict.fromkeys(members)]
    if len(unique) == 1:
        return f"agent {unique[0]}"
    more = f" and {len(unique) - shown} more" if len(unique) > shown else ""
    return f"agents {', '.join(unique[:shown])}{more}"


_KEY_PART = r"""\s*(?:"([^"]*)"|'([^']*)'|([A-Za-z0-9_-]+))\s*"""
_KEY_LINE = re.compile(rf"^{_KEY_PART}([=.])")
_DOTTED_REST = re.compile(rf"^{_KEY_PART}=")
#: Most problems listed in one message; the rest are counted.
_MAX_PROBLEMS = 50


def _line_index(lines):
    """Map (section, key) and section headers to their first line, in one pass over the text.

    A top-level dotted key ``table.key = ...`` is also filed as (None, "table.key").
    """
    keys, headers, section = {}, {}, None
    for number, text in enumerate(lines, start=1):
        match = _HEADER.match(text)
        if match:
            section = match.group(1).strip().strip("\"'")
            headers.setdefault(section, number)
            continue
        match = _KEY_LINE.match(text)
        if not match:
            continue
        key = next(part for part in match.groups()[:3] if part is not None)
        keys.setdefault((section, key), number)
        if section is None and match.group(4) == ".":
            rest = _DOTTED_REST.match(text, match.end())
            if rest:
                inner = next(part for part in rest.groups() if part is not None)
                keys.setdefault((None, f"{key}.{inner}"), number)
    return keys, headers


def _shortened(problems):
    """The problems without repeats, at most :data:`_MAX_PROBLEMS` of them, then a count of the rest."""
    unique = list(dict.fromkeys(problems))
    if len(unique) <= _MAX_PROBLEMS:
        return unique
    rest = len(unique) - _MAX_PROBLEMS
    return unique[:_MAX_PROBLEMS] + [f"... and {rest} more problem{'s' if rest > 1 else ''}"]


class _ModelReader:
    """Reads one model text, collecting every problem with its line before raising once."""

    def __init__(self, text, source):
        self.text = text
        self.source = source
        self.lines = text.splitlines() if isinstance(text, str) else []
        self.problems = []
        self._index = None

    # ---- where things are -----------------------------------------------------------------------
    def line(self, key, table=None):
        """The line defining ``key`` (in ``[table]``, a dotted key or an inline table), or None."""
        if self._index is None:
            self._index = _line_index(self.lines)
        keys, headers = self._index
        key = str(key)
        if table is None:
            return keys.get((None, key)) or headers.get(key)
        found = [n for n in (keys.get((str(table), key)), keys.get((None, f"{table}.{key}"))) if n]
        if found:
            return min(found)
        return self.line(table) or headers.get(str(table))

    def add(self, message, key=None, table=None):
        number = self.line(key, table) if key is not None else None
        self.problems.append(f"line {number}: {message}" if number else message)

    def fail(self):
        raise ModelError(_shortened(self.problems), source=self.source)

    # ---- the sections -----------------------------------------------------------------------------
    def economy(self):
        data = self.toml()
        self.top_keys(data)
        name = self.name(data)
        agents = self.agents(data)
        groups = self.groups(data, agents)
        parameters = self.parameters(data, agents)
        formulas = self.formulas(data, groups)
        assignment = self.assignment(data, agents, groups)
        if self.problems:
            self.fail()
        utilities = None
        if agents <= MAX_EXPANDED_AGENTS:
            utilities = tuple(self.build(formulas, assignment, agents, parameters, groups))
            if self.problems:
                self.fail()
        structure, why = self.structure(formulas, assignment, agents, parameters, groups, utilities)
        if utilities is None:
            if structure is None:
                self.add(f"agents = {agents}: above {MAX_EXPANDED_AGENTS} agents every formula must "
                         f"separate into aggregates of s_j, and {why}", "agents")
            else:
                self.check_members(structure)
            if self.problems:
                self.fail()
        return Economy(utilities=utilities, name=name, groups=groups, parameters=parameters,
                       source=self.source, structure=structure)

    def toml(self):
        if not isinstance(self.text, str):
            raise ModelError([f"a model is TOML text, not {type(self.text).__name__}"], source=self.source)
        if len(self.text) > _MAX_TEXT:
            raise ModelError([f"the model has {len(self.text)} characters; at most {_MAX_TEXT} are read"],
                             source=self.source)
        try:
            data = tomllib.loads(self.text, parse_float=Decimal)
        except tomllib.TOMLDecodeError as exc:
            message = str(exc)
            at = re.search(r"\(at line (\d+), column (\d+)\)", message)
            where = f"line {at.group(1)}, column {at.group(2)}: " if at else ""
            detail = re.sub(r"\s*\(at [^)]*\)$", "", message)
            raise ModelError([f"{where}not valid TOML ({detail}); check the quotes, brackets and '=' there"],
                             source=self.source) from None
        except (ValueError, RecursionError) as exc:
            raise ModelError([f"not valid TOML ({type(exc).__name__}: {str(exc)[:200]})"], source=self.source) from None
        return data

    def top_keys(self, data):
        for key in data:
            if key not in _TOP_KEYS:
                close = difflib.get_close_matches(key, _TOP_KEYS, n=1)
                guess = f"; did you mean {close[0]!r}?" if close else ""
                self.add(f"unknown key {key!r}{guess} (a model has {', '.join(_TOP_KEYS)})", key)

    def name(self, data):
        if "name" not in data:
            stem = Path(self.source).stem if not str(self.source).startswith("<") else ""
            return stem or "economy"
        if not isinstance(data["name"], str):
            self.add('name must be text in quotes, e.g. name = "group model"', "name")
            return "economy"
        return data["name"]

    def agents(self, data):
        if "agents" not in data:
            self.add(f"agents is missing; add a line such as agents = 6 (a whole number from 2 to {MAX_AGENTS})")
            return None
        value = data["agents"]
        if isinstance(value, bool) or not isinstance(value, int) or not 2 <= value <= MAX_AGENTS:
            self.add(f"agents = {str(value)[:40]} is not allowed; write a whole number from 2 to {MAX_AGENTS}, "
                     "e.g. agents = 6", "agents")
            return None
        return value

    def groups(self, data, agents):
        table = data.get("groups", {})
        if not isinstance(table, dict):
            self.add("groups must be a table, e.g. groups = { A = [1, 2, 3], E = [4, 5, 6] }", "groups")
            return {}
        groups, owner = {}, {}
        for name, members in table.items():
            if not _is_name(name) or name == "all":
                why = "'all' means every agent in [utility]" if name == "all" else "use letters, digits and _"
                self.add(f"group name {name!r} is not allowed ({why}); rename the group", name, "groups")
            if (not isinstance(members, list) or not members
                    or not all(isinstance(m, int) and not isinstance(m, bool) for m in members)):
                self.add(f"group {name!r} must be a non-empty list of agent numbers, e.g. {name} = [1, 2, 3]",
                         name, "groups")
                continue
            outside, twice, shared = [], [], {}
            for member in members:
                if agents is not None and not 1 <= member <= agents:
                    outside.append(member)
                elif member in owner:
                    other = owner[member]
                    (twice if other == name else shared.setdefault(other, [])).append(member)
                else:
                    owner[member] = name
            self.group_members(name, agents, outside, twice, shared)
            groups[name] = tuple(members)
        missing = [k for k in range(1, (agents or 0) + 1) if k not in owner] if groups else []
        if missing:
            one = len(missing) == 1
            self.add(f"{_agents_text(missing)} {'is' if one else 'are'} in no group; with groups, every agent "
                     f"must be in exactly one group: add {'it' if one else 'them'} to one", "groups")
        return groups

    def group_members(self, name, agents, outside, twice, shared):
        """One problem per kind of bad member in group ``name``, naming all such members."""
        if outside:
            self.add(f"group {name!r} names {_members_text(outside)}, but agents are numbered 1..{agents}; "
                     "remove them or raise agents", name, "groups")
        if twice:
            self.add(f"group {name!r} lists {_members_text(twice)} twice; list each agent once",
                     name, "groups")
        for other, members in shared.items():
            verb = "is" if len(set(members)) == 1 else "are"
            self.add(f"{_members_text(members)} {verb} in group {other!r} and in group {name!r}; put each agent in "
                     "exactly one group", name, "groups")

    def parameters(self, data, agents):
        table = data.get("parameters", {})
        if not isinstance(table, dict):
            self.add("parameters must be a table: a line [parameters], then name = value lines", "parameters")
            return {}
        values = {}
        for name, raw in table.items():
            if not _is_name(name):
                self.add(f"parameter name {name!r} is not allowed; use letters, digits and _, e.g. beta_h",
                         name, "parameters")
            elif name in RESERVED_NAMES:
                self.add(f"parameter name {name!r} is reserved in formulas (q, s_i, s_j, s, N, i, j, mean, sum, "
                         f"the functions, pi and E); rename it, e.g. {name}_0", name, "parameters")
            value = self.parameter_value(name, raw, agents)
            if value is not None:
                values[name] = value
        return values

    def parameter_value(self, name, raw, agents):
        if isinstance(raw, list):
            entries = [_exact_number(x) for x in raw]
            bad = [k for k, x in enumerate(entries, start=1) if x is None]
            if bad:
                self.add(f"parameter {name!r}: entries {', '.join(map(str, bad))} are not numbers; write numbers "
                         'such as 1, 0.5 or "1/2"', name, "parameters")
            elif agents is not None and len(entries) != agents:
                self.add(f"parameter {name!r} has {len(entries)} values but agents = {agents}; give one value per "
                         "agent, or a single value for all", name, "parameters")
            else:
                return tuple(entries)
            return None
        value = _exact_number(raw)
        if value is None:
            self.add(f"parameter {name!r} = {str(raw)[:40]!r} is not a number; write e.g. 0.5 or \"1/2\", or a "
                     "list with one number per agent", name, "parameters")
        return value

    def formulas(self, data, groups):
        if "utility" not in data:
            self.add('[utility] is missing; add it with all = "..." (or one formula per group)')
            return {}
        table = data["utility"]
        if not isinstance(table, dict) or not table:
            self.add('utility must be a table with formulas: a line [utility], then all = "..."', "utility")
            return {}
        names = [k for k in data.get("parameters", {}) if isinstance(k, str) and _is_name(k)
                 and k not in RESERVED_NAMES] if isinstance(data.get("parameters"), dict) else []
        formulas = {}
        for key, text in table.items():
            self.utility_key(key, groups)
            if not isinstance(text, str):
                self.add(f'utility {key!r} must be a formula in quotes, e.g. {key} = "s_i*q - q**2/2"',
                         key, "utility")
                continue
            formula, problems = compile_formula(text, names, groups)
            for problem in problems:
                self.add(f"utility {key!r}, {problem}", key, "utility")
            if formula is not None:
                formulas[key] = formula
        return formulas

    def utility_key(self, key, groups):
        if key == "all" or key in groups:
            return
        if groups:
            close = difflib.get_close_matches(key, [*groups, "all"], n=1)
            guess = f"; did you mean {close[0]!r}?" if close else ""
            self.add(f"utility {key!r} is neither 'all' nor a group ({', '.join(groups)}){guess}", key, "utility")
        else:
            self.add(f"utility {key!r}: the model has no groups, so the only utility key is 'all'; rename it "
                     f"to all, or define groups = {{ {key} = [...] }}", key, "utility")

    def assignment(self, data, agents, groups):
        """agent -> the utility key whose formula it uses."""
        table = data.get("utility")
        if agents is None or not isinstance(table, dict):
            return {}
        chosen = {k: "all" for k in range(1, agents + 1)} if "all" in table else {}
        for name, members in groups.items():
            if name in table:
                chosen.update((k, name) for k in members)
            elif "all" not in table:
                self.add(f"group {name!r} ({_agents_text(members)}) has no utility; add {name} = \"...\" or "
                         'all = "..." under [utility]', "utility")
        return chosen

    def structure(self, formulas, assignment, agents, parameters, groups, utilities):
        """(Structure, None), or (None, why not) when a formula does not separate into a template."""
        from .structure import Registry, Structure
        registry = Registry()
        members = {}
        for agent in range(1, agents + 1):
            members.setdefault(assignment[agent], []).append(agent)
        built = []
        for key, agents_of_key in members.items():
            try:
                utility = formulas[key].template(agents_of_key, agents, parameters, groups, Q, signal_symbol,
                                                 registry)
            except (NotSeparable, FormulaProblem) as exc:
                return None, f"utility {key!r} does not ({exc})"
            built.append(registry.template(key, agents_of_key, utility, parameters))
        return Structure(agents, tuple(built), registry.aggregates(), utilities), None

    def check_members(self, structure):
        """The checks build() makes per agent, on the parts of a template that vary by agent.

        Only subexpressions of per-agent numbers (parameters, i) can fold into an undefined,
        complex or huge constant for one agent; each is evaluated for every member.
        """
        from ._formula import _finished
        for template in structure.templates:
            symbols = {s for s, _ in template.parameters}
            risky = [node for node in sympy.preorder_traversal(template.utility)
                     if node.free_symbols and node.free_symbols <= symbols
                     and (node.is_Pow or isinstance(node, sympy.Function))]
            failures = {}
            for position, agent in enumerate(template.members):
                values = {s: sympy.Rational(v[position].numerator, v[position].denominator)
                          for s, v in template.parameters}
                for node in risky:
                    try:
                        _finished(node.xreplace(values))
                    except FormulaProblem as exc:
                        failures.setdefault(str(exc), []).append(agent)
            for message, agents in failures.items():
                self.add(f"utility {template.key!r} for {_agents_text(agents)}: {message}", template.key, "utility")

    def build(self, formulas, assignment, agents, parameters, groups):
        caches = {key: {} for key in formulas}
        failures, utilities = {}, []
        for agent in range(1, agents + 1):
            key = assignment[agent]
            try:
                utilities.append(formulas[key].build(agent, agents, parameters, groups, Q, signal_symbol,
                                                     caches[key]))
            except FormulaProblem as exc:
                failures.setdefault((key, str(exc)), []).append(agent)
        for (key, message), members in failures.items():
            self.add(f"utility {key!r} for {_agents_text(members)}: {message}", key, "utility")
        return utilities
