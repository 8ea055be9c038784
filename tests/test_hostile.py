"""Hostile and broken input: a model file is data, never code, and never a crash.

Every input here must end in one ``symmech.ModelError`` (never another exception), within a
second, without running anything (a payload that would create a marker file must leave none),
and through the command line in exit status 2 with one ``symmech: error:`` message and no
traceback. Two Hypothesis fuzzers (formula text, whole TOML documents) check the same contract
on random input. The last sections check that ``solve`` refuses economies breaking A2/A4 before
computing (``--no-check`` skips that), and pin bugs found in other modules as strict xfails.

This file extends the corpus of tests/test_model.py (which it does not repeat).
"""

import json
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import symmech
import symmech.verify
from symmech import Economy, ModelError
from symmech.cli import main
from symmech.model import MAX_AGENTS, parse_formula, parse_model

ROOT = Path(__file__).resolve().parents[1]
MARKER = Path(tempfile.gettempdir()) / f"symmech_hostile_marker_{os.getpid()}"
M = str(MARKER)
SECOND = 1.0
SIGNALS = "0.2,0.5,0.7"


@pytest.fixture(autouse=True)
def no_marker():
    """No payload may have created the marker, before or after any test."""
    MARKER.unlink(missing_ok=True)
    yield
    assert not MARKER.exists(), "a payload ran code: the marker file exists"


@pytest.fixture(scope="module", autouse=True)
def warm_imports():
    """Import SymPy and friends once, so the 1 s budget measures the input, not the imports."""
    parse_model('agents = 2\n[utility]\nall = "mean(s_j)*exp(q) - q**2/2"\n')
    symmech.solve  # noqa: B018 - loads symmech.verify


def model_text(utility, agents=3, parameters="", groups=""):
    return (f"agents = {agents}\n{groups}\n[parameters]\n{parameters}\n"
            f"[utility]\nall = {json.dumps(utility)}\n")


def refused_quickly(text):
    """parse_model(text) raises ModelError within a second; returns the error."""
    started = time.perf_counter()
    with pytest.raises(ModelError) as info:
        parse_model(text, source="hostile.toml")
    elapsed = time.perf_counter() - started
    assert elapsed < SECOND, f"took {elapsed:.2f} s"
    assert str(info.value).strip(), "an empty message"
    return info.value


def cli(capsys, *argv):
    status = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


def assert_one_error(status, out, err):
    assert status == 2, (status, err)
    assert out == ""
    assert err.startswith("symmech: error: "), err
    assert err.count("symmech: error:") == 1, err
    assert "Traceback" not in err and 'File "' not in err, err


def cli_refuses(capsys, tmp_path, text, *extra):
    """The model text through ``symmech solve``: exit 2, one message, no traceback."""
    path = tmp_path / "hostile.toml"
    path.write_text(text, encoding="utf-8")
    status, out, err = cli(capsys, "solve", path, "--signals", SIGNALS, "--sigma", "0.1", "--dps", "15",
                           *extra)
    assert_one_error(status, out, err)
    return err


# ---- code execution attempts in formulas ----------------------------------------------------------

CODE = [
    f"__import__('os').system('touch {M}')",
    f"eval(\"open('{M}', 'w')\")",
    f"exec(\"open('{M}', 'w')\")",
    f"open('{M}', 'w')",
    f"getattr(__builtins__, 'open')('{M}', 'w')",
    f"globals()['__builtins__']['open']('{M}', 'w')",
    "globals()", "locals()", "vars()", "dir()", "breakpoint()", "input()", "print(q)", "help()",
    "compile('q', '', 'eval')",
    "q.__class__.__mro__[-1].__subclasses__()",
    "().__class__.__base__.__subclasses__()[0]",
    f"[c for c in ().__class__.__base__.__subclasses__() if c.__name__ == 'Popen'][0](['touch', '{M}'])",
    f"q.__init__.__globals__['sys'].modules['os'].system('touch {M}')",
    "q.real", "q.evalf()", "s.__getitem__(1)", "s_i.__class__", "exp.__globals__", "mean.__code__",
    f"f'{{open(\"{M}\", \"w\")}}'", "f'{q}'", "f'{q!r:>{10}}'",
    f"(x := open('{M}', 'w'))", "(q := 1)", "[q := 2]",
    f"(lambda: open('{M}', 'w'))()", "lambda q: q", "(lambda *a: a)(q)",
    f"[open('{M}', 'w') for _ in (1,)]", "{k: q for k in s}", "{q for q in s}", "(q for q in s)",
    "sum(q for q in s)", "mean([q for q in s])",
    f"(yield open('{M}', 'w'))", "(yield)", "(yield from s)", f"await open('{M}')",
    "sympy.Symbol('x')", "Symbol('x')*q", "S('q')", "sympify('q')", "parse_expr('q')", "lambdify(q, q)",
    "Function('f')(q)", "Integer(1)*q", "Rational(1, 2)*q", "N(q)", "nsimplify(q)",
    f"os.system('touch {M}')", f"subprocess.run(['touch', '{M}'])", "sys.exit(1)", "exit()", "quit()",
    "import os", "from os import system", "q; import os", f"q\nopen('{M}', 'w')",
    f"q if open('{M}', 'w') else q", f"q and open('{M}', 'w')", "q or __import__('os')",
    f"s[open('{M}', 'w')]", f"s[__import__('os').system('touch {M}')]", "s[q]", "s[s_i]", "s[len(s)]",
    f"exp(q)**open('{M}', 'w')", f"q**__import__('os').system('touch {M}')", "q**s[1]",
    f"mean(open('{M}', 'w'))", "sum(q, __import__('os'))", "mean(s_j, __builtins__)",
    "max(q, key=open)", f"min(*open('{M}'))", "exp(**{'x': 1})", "exp(q, *s)",
    "__import__", "__name__", "__builtins__", "__file__", "__debug__", "__spec__", "_ _import__",
    "exec", "eval", "open", "os", "sys", "sympy",
    "b'q'", "u'q'", "r'q'", "'''q'''", '"q"', "...", "None*q", "True", "False + q", "q@q",
    "q[::-1]", "s[1:2:3]", "s[...]", "q[0]", "{}", "[]", "()", "(q,)", "q, q", "*q", "**q",
    "assert q", "del q", "q = 1", "pass", "raise SystemExit", "global q", "q += 1",
]


@pytest.mark.parametrize("text", CODE)
def test_code_execution_attempt_is_refused(text, capsys, tmp_path):
    error = refused_quickly(model_text(text))
    assert all(p.startswith("line ") for p in error.problems), error.problems   # says where
    with pytest.raises(ModelError):
        parse_formula(text, agent=1, agents=3, groups={"A": [1, 2, 3]})
    cli_refuses(capsys, tmp_path, model_text(text))


@pytest.mark.parametrize("text", [CODE[0], "9**9**9", "\uff51*\uff53_\uff49"])
def test_check_command_refuses_the_same_way(text, capsys, tmp_path):
    path = tmp_path / "hostile.toml"
    path.write_text(model_text(text), encoding="utf-8")
    status, out, err = cli(capsys, "check", path)
    assert_one_error(status, out, err)


# ---- payloads outside formulas: parameters, names, groups, the command line --------------------------

PAYLOAD = f"__import__('os').system('touch {M}')"
OTHER_PLACES = {
    "parameter value": f'agents = 3\n[parameters]\na = "{PAYLOAD}"\n[utility]\nall = "a*q"\n',
    "parameter list entry": f'agents = 3\n[parameters]\na = [1, "{PAYLOAD}", 2]\n[utility]\nall = "a*q"\n',
    "parameter name": f'agents = 3\n[parameters]\n"{PAYLOAD}" = 1\n[utility]\nall = "q"\n',
    "dunder parameter": 'agents = 3\n[parameters]\n__class__ = 1\n[utility]\nall = "__class__*q"\n',
    "keyword parameter": 'agents = 3\n[parameters]\nlambda = 1\n[utility]\nall = "lambda*q"\n',
    "group name": f'agents = 3\ngroups = {{ "{PAYLOAD}" = [1, 2, 3] }}\n[utility]\nall = "q"\n',
    "dunder group": 'agents = 3\ngroups = { __class__ = [1, 2, 3] }\n[utility]\nall = "mean(s_j, __class__)*q"\n',
    "utility key": f'agents = 3\n[utility]\n"{PAYLOAD}" = "q"\n',
    "top-level key": f'"{PAYLOAD}" = 1\nagents = 3\n[utility]\nall = "q"\n',
    "agents": f'agents = "{PAYLOAD}"\n[utility]\nall = "q"\n',
    "escaped dunder in formula": 'agents = 3\n[utility]\nall = "\\u005f\\u005fimport\\u005f\\u005f(\'os\')"\n',
}


@pytest.mark.parametrize("where", OTHER_PLACES)
def test_payload_outside_formulas_is_refused(where, capsys, tmp_path):
    refused_quickly(OTHER_PLACES[where])
    cli_refuses(capsys, tmp_path, OTHER_PLACES[where])


def test_payload_in_the_name_is_kept_as_text():
    """name is free text: the payload is stored, shown, and never run."""
    economy = parse_model(f'name = "{PAYLOAD}"\nagents = 2\n[utility]\nall = "s_i*q - q**2/2"\n')
    assert economy.name == PAYLOAD


@pytest.mark.parametrize("argv", [
    ["solve", PAYLOAD, "--signals", SIGNALS, "--sigma", "0.1"],
    ["solve", "example1", "--signals", f"{PAYLOAD},0,0,0,0,0", "--sigma", "0.1"],
    ["solve", "example1", "--signals", "0.1,0.2,0.3,0.4,0.5,0.6", "--sigma", PAYLOAD],
    ["solve", "example1", "--signals", "0.1,0.2,0.3,0.4,0.5,0.6", "--sigma", "0.1", "--dps", PAYLOAD],
    ["check", PAYLOAD],
    ["solve", "example1", "--signals", "nan,inf,-inf,0.5,0.5,0.5", "--sigma", "0.1"],
    ["solve", "example1", "--signals", "0x1,1_0,1e,.,+,-", "--sigma", "0.1"],
    ["solve", "example1", "--signals", "1/0,0,0,0,0,0", "--sigma", "0.1"],
    ["solve", "example1", "--signals", "0.5;0.5;0.5;0.5;0.5;0.5", "--sigma", "0.1"],
    ["solve", "example1", "--signals", ",,,,,", "--sigma", "0.1"],
    ["solve", "example1", "--signals", "0.1,0.2,0.3,0.4,0.5,0.6", "--sigma", "nan"],
    ["solve", "example1", "--signals", "0.1,0.2,0.3,0.4,0.5,0.6", "--sigma", "0.1", "--dps", "-30"],
    ["solve", "example1", "--signals", "0.1,0.2,0.3,0.4,0.5,0.6", "--sigma", "0.1", "--dps", "9"],
    ["solve", "example1", "--signals", "0.1,0.2,0.3,0.4,0.5,0.6", "--sigma", "0.1", "--dps", "1e3"],
    ["solve", "example1", "--signals", "0.1," * 10**4 + "0.1", "--sigma", "0.1"],
    ["solve", "/dev/zero", "--signals", SIGNALS, "--sigma", "0.1"],
    ["solve", "/", "--signals", SIGNALS, "--sigma", "0.1"],
    ["solve", "", "--signals", SIGNALS, "--sigma", "0.1"],
    ["solve", "\x00", "--signals", SIGNALS, "--sigma", "0.1"],
    ["solve", "example1\u200d", "--signals", SIGNALS, "--sigma", "0.1"],
])
def test_hostile_command_line_arguments(argv, capsys):
    started = time.perf_counter()
    status, out, err = cli(capsys, *argv)
    assert_one_error(status, out, err)
    assert time.perf_counter() - started < 2 * SECOND


def test_files_that_are_not_models(capsys, tmp_path):
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"agents = 3\n\xff\xfe\x00[utility]\n")
    big = tmp_path / "big.toml"
    big.write_text('name = "' + "x" * 1_100_000 + '"\n', encoding="utf-8")
    loop = tmp_path / "loop.toml"
    loop.symlink_to(loop)
    folder = tmp_path / "folder.toml"
    folder.mkdir()
    for path, words in ((binary, ["not UTF-8"]), (big, ["larger than"]), (loop, []), (folder, [])):
        status, out, err = cli(capsys, "solve", path, "--signals", SIGNALS, "--sigma", "0.1")
        assert_one_error(status, out, err)
        assert path.name in err and all(w in err for w in words), err


# ---- resource exhaustion ---------------------------------------------------------------------------

RESOURCE = [
    "9**9**9", "q**(10**10**10)", "factorial(10**9)", "gamma(10**9)*q", "2**(10**100)*q",
    "10**-10**10", "1/10**10**10", "0.1**100000", "(q**10)**10**10", "q**(N**N**N)",
    "(((q**10)**10)**10)", "sum(sum(s_j**10)**10)**10", "q**-101", "q**(1/10**200)",
    "s[10**100]", "s[2**4000]", "s[10**10**10]", "s[N**N**N**N]", "s[9**9**9]", "s[-10**100]",
    "s[i**99]", "s[" + "9" * 1300 + "]", "9" * 1300 + "*q", "1e400000*q", "1e-400000*q",
    "0." + "0" * 1500 + "1", "q" + "+q" * 50_000, "(" * 10_000 + "q" + ")" * 10_000,
    "mean(" * 1000 + "s_j" + ")" * 1000, "mean(" * 61 + "s_j" + ")" * 61,
    "exp(" * 61 + "q" + ")" * 61, "-" * 61 + "(" + "-" * 61 + "q)",
    "q" + "**1" * 70, "s[" * 61 + "1" + "]" * 61, "min(" + "q, " * 2000 + "q)",
]


@pytest.mark.parametrize("text", RESOURCE, ids=lambda t: t[:40])
def test_resource_exhaustion_attempt_is_refused_within_a_second(text, capsys, tmp_path):
    error = refused_quickly(model_text(text))
    assert all(p.startswith("line ") for p in error.problems), error.problems
    assert len(str(error)) < 3000, "the message should not echo a huge input"
    cli_refuses(capsys, tmp_path, model_text(text))


BIG_DOCUMENTS = {
    "a parameter list of 10**6 entries": 'agents = 3\n[parameters]\na = [' + "1," * 10**6 + '1]\n'
                                         '[utility]\nall = "a*q"\n',
    "agents = 10**9": 'agents = 1000000000\n[utility]\nall = "s_i*q"\n',
    "agents = 2**70": f'agents = {2**70}\n[utility]\nall = "s_i*q"\n',
    "agents = MAX_AGENTS + 1": f'agents = {MAX_AGENTS + 1}\n[utility]\nall = "s_i*q"\n',
    "arrays nested 10**4 deep": 'agents = 3\n[parameters]\na = ' + "[" * 10**4 + "]" * 10**4 +
                                '\n[utility]\nall = "q"\n',
    "inline tables nested 5000 deep": 'agents = 3\n[parameters]\na = ' + "{b=" * 5000 + "1" + "}" * 5000 +
                                      '\n[utility]\nall = "q"\n',
    "a name of 1.1 million characters": 'name = "' + "x" * 1_100_000 + '"\nagents = 3\n[utility]\nall = "q"\n',
    "a formula of 100k characters": model_text("q" + "+q" * 50_000),
}


@pytest.mark.parametrize("what", BIG_DOCUMENTS)
def test_huge_documents_are_refused_within_a_second(what, capsys, tmp_path):
    error = refused_quickly(BIG_DOCUMENTS[what])
    assert len(str(error)) < 3000, f"{len(str(error))} characters of message"
    cli_refuses(capsys, tmp_path, BIG_DOCUMENTS[what])


# ---- unicode look-alikes ---------------------------------------------------------------------------

UNICODE = [
    "\uff51*\uff53_\uff49",        # fullwidth q*s_i: Python would NFKC-normalise it to q*s_i
    "\u0455_i*q", "s_\u0456*q",     # Cyrillic dze, Cyrillic i
    "q*\u03bf", "\u03b1*q", "\u0391*q",    # Greek omicron, alpha, capital Alpha
    "s_i\u200d*q", "s_i*\u200bq", "s_i*q\u200c", "\u2060q",   # zero-width joiner / space / non-joiner / word joiner
    "s_i*q\u00a0-\u00a0q**2", "s_i*q\u202f-q", "s_i*q\u3000-q",   # no-break, narrow no-break, ideographic space
    "s_i*q\u202e2**q", "\u202dq", "q\u200e", "q\u200f", "\u2066q\u2069",   # bidi overrides, marks, isolates
    "\ufeffq", "q\u0301", "\U0001d45e", "\u212f**q", "q\u2044 2",   # BOM, combining accent, math italic q, script e, fraction slash
    "s_i*q \u2212 q**2", "s_i\u00d7q", "q\u00b2", "\u00bd*q", "s_i\u2217q", "\uff08q\uff09",
    "\uff11*q", "\u0661*q", "q\x0b", "q\x0c", "\x1b[31mq", "q\x7f", "q\x00", "q\ud800",
]


@pytest.mark.parametrize("text", UNICODE, ids=lambda t: t.encode("ascii", "backslashreplace").decode())
def test_unicode_look_alike_is_refused(text, capsys, tmp_path):
    with pytest.raises(ModelError) as info:
        parse_formula(text, agent=1, agents=3)
    assert "is not allowed" in str(info.value) and "U+" in str(info.value), str(info.value)
    if "\ud800" not in text:      # a lone surrogate cannot even be written to a UTF-8 file
        error = refused_quickly(model_text(text))
        assert all(p.startswith("line ") for p in error.problems), error.problems
        cli_refuses(capsys, tmp_path, model_text(text))


UNICODE_DOCUMENTS = {
    "Cyrillic a in 'agents'": '"\u0430gents" = 3\n[utility]\nall = "s_i*q"\n',
    "Cyrillic i in [utility]": 'agents = 3\n[util\u0456ty]\nall = "s_i*q"\n',
    "Cyrillic a in a parameter name": 'agents = 3\n[parameters]\n"\u0430lpha" = 1\n[utility]\nall = "alpha*q"\n',
    "fullwidth group name": 'agents = 3\ngroups = { "\uff21" = [1, 2, 3] }\n[utility]\nall = "q"\n',
    "no-break space before =": 'agents\u00a0= 3\n[utility]\nall = "s_i*q"\n',
    "zero-width space in a key": 'age\u200bnts = 3\n[utility]\nall = "s_i*q"\n',
    "RTL override in a value": 'agents = 3\n[parameters]\na = "\u202e1"\n[utility]\nall = "a*q"\n',
    "escaped Cyrillic in a formula": 'agents = 3\n[utility]\nall = "\\u0455_i*q"\n',
    "escaped lone surrogate": 'agents = 3\n[utility]\nall = "\\ud800"\n',
}


@pytest.mark.parametrize("what", UNICODE_DOCUMENTS)
def test_unicode_in_model_files_is_refused(what, capsys, tmp_path):
    refused_quickly(UNICODE_DOCUMENTS[what])
    cli_refuses(capsys, tmp_path, UNICODE_DOCUMENTS[what])


def test_unicode_in_comments_and_name_is_data():
    """Comments and the name are free text; the formula is exactly the ASCII in quotes."""
    text = 'name = "\u043c\u043e\u0434\u0435\u043b\u044c"\nagents = 2 # \u202e evil comment\n' \
           '[utility]\nall = "s_i*q - q**2/2" # \u202e q**3\n'
    economy = parse_model(text)
    assert economy.name == "\u043c\u043e\u0434\u0435\u043b\u044c"
    s1, _ = economy.signals
    assert economy.utilities[0] == s1 * symmech.Q - symmech.Q**2 / 2


# ---- TOML tricks -----------------------------------------------------------------------------------

U = '[utility]\nall = "s_i*q - q**2/2"\n'
TOML_TRICKS = {   # document, words the message must contain
    "duplicate key": ('agents = 3\nagents = 4\n' + U, ["line 2", "TOML"]),
    "duplicate table": ('agents = 3\n' + U + U, ["line", "TOML"]),
    "duplicate inline key": ('agents = 3\ngroups = { A = [1], A = [2, 3] }\n' + U, ["line 2"]),
    "dotted then table": ('agents = 3\nparameters.a = 1\n[parameters]\na = 2\n' + U, ["line 3"]),
    "inline table as agents": ('agents = { n = 3 }\n' + U, ["line 1", "agents", "whole number"]),
    "inline table as parameter": ('agents = 3\n[parameters]\na = { x = 1 }\n' + U, ["line 3", "'a'"]),
    "table as parameter": ('agents = 3\n[parameters.a]\nx = 1\n' + U, ["'a'", "not a number"]),
    "inline table in a list": ('agents = 3\n[parameters]\na = [{ x = 1 }, 1, 1]\n' + U, ["entries 1"]),
    "inline table as member": ('agents = 3\ngroups = { A = [{ x = 1 }, 2, 3] }\n' + U, ["group 'A'"]),
    "inline table as utility": ('agents = 3\n[utility]\nall = { x = 1 }\n', ["line 3", "in quotes"]),
    "date as agents": ('agents = 1979-05-27\n' + U, ["line 1", "agents"]),
    "datetime as parameter": ('agents = 3\n[parameters]\na = 1979-05-27T07:32:00Z\n' + U, ["line 3", "'a'"]),
    "local datetime as parameter": ('agents = 3\n[parameters]\na = 1979-05-27T07:32:00\n' + U, ["'a'"]),
    "time as parameter": ('agents = 3\n[parameters]\na = 07:32:00\n' + U, ["line 3", "'a'"]),
    "date as member": ('agents = 3\ngroups = { A = [1979-05-27, 2, 3] }\n' + U, ["group 'A'"]),
    "boolean as agents": ('agents = true\n' + U, ["line 1", "agents"]),
    "boolean as parameter": ('agents = 3\n[parameters]\na = false\n' + U, ["line 3", "'a'"]),
    "booleans in a list": ('agents = 3\n[parameters]\na = [true, 1, 1]\n' + U, ["entries 1"]),
    "boolean as member": ('agents = 3\ngroups = { A = [true, 2, 3] }\n' + U, ["group 'A'"]),
    "boolean as utility": ('agents = 3\n[utility]\nall = true\n', ["in quotes"]),
    "nan as agents": ('agents = nan\n' + U, ["line 1", "agents"]),
    "inf as agents": ('agents = inf\n' + U, ["line 1", "agents"]),
    "nan as parameter": ('agents = 3\n[parameters]\na = nan\n' + U, ["line 3", "'a'"]),
    "+inf as parameter": ('agents = 3\n[parameters]\na = +inf\n' + U, ["line 3", "'a'"]),
    "-inf as parameter": ('agents = 3\n[parameters]\na = -inf\n' + U, ["line 3", "'a'"]),
    "nan in a list": ('agents = 3\n[parameters]\na = [1, nan, 1]\n' + U, ["entries 2"]),
    "'inf' as text": ('agents = 3\n[parameters]\na = "inf"\n' + U, ["'a'"]),
    "'NaN' as text": ('agents = 3\n[parameters]\na = "NaN"\n' + U, ["'a'"]),
    "nan as member": ('agents = 3\ngroups = { A = [nan, 1, 2, 3] }\n' + U, ["group 'A'"]),
    "float as agents": ('agents = 3.0\n' + U, ["line 1", "agents"]),
    "exponent as agents": ('agents = 3e0\n' + U, ["line 1", "agents"]),
    "negative agents": ('agents = -3\n' + U, ["line 1", "agents"]),
    "zero agents": ('agents = 0\n' + U, ["line 1", "agents"]),
    "float member": ('agents = 3\ngroups = { A = [1.0, 2, 3] }\n' + U, ["group 'A'"]),
    "member 0": ('agents = 3\ngroups = { A = [0, 1, 2, 3] }\n' + U, ["line 2", "agent 0"]),
    "huge member": ('agents = 3\ngroups = { A = [1, 2, 3, 99999999999999999999] }\n' + U, ["line 2"]),
    "empty group": ('agents = 3\ngroups = { A = [], B = [1, 2, 3] }\n' + U, ["line 2", "group 'A'"]),
    "overlapping groups": ('agents = 3\ngroups = { A = [1, 2], B = [2, 3] }\n' + U, ["agent 2"]),
    "group called all": ('agents = 3\ngroups = { all = [1, 2, 3] }\n' + U, ["'all'"]),
    "groups as a list": ('agents = 3\ngroups = [1, 2, 3]\n' + U, ["line 2", "groups"]),
    "array of groups tables": ('agents = 3\n[[groups]]\nA = [1, 2, 3]\n' + U, ["groups"]),
    "parameters as a number": ('agents = 3\nparameters = 3\n' + U, ["parameters"]),
    "utility as text": ('agents = 3\nutility = "q"\n', ["utility"]),
    "utility as a list": ('agents = 3\nutility = ["q"]\n', ["utility"]),
    "array of utility tables": ('agents = 3\n[[utility]]\nall = "q"\n', ["utility"]),
    "empty utility": ('agents = 3\n[utility]\n', ["utility"]),
    "name as a table": ('name = { a = 1 }\nagents = 3\n' + U, ["line 1", "name"]),
    "ratio with zero denominator": ('agents = 3\n[parameters]\na = "1/0"\n' + U, ["'a'"]),
    "empty text as parameter": ('agents = 3\n[parameters]\na = ""\n' + U, ["'a'"]),
    "huge exponent as text": ('agents = 3\n[parameters]\na = "1e999999"\n' + U, ["'a'"]),
    "huge exponent as float": ('agents = 3\n[parameters]\na = 1e999999\n' + U, ["'a'"]),
    "huge ratio as text": ('agents = 3\n[parameters]\na = "1/' + "9" * 1300 + '"\n' + U, ["'a'"]),
    "huge integer": ('agents = 3\n[parameters]\na = ' + "9" * 1300 + '\n' + U, ["'a'"]),
    "list of the wrong length": ('agents = 3\n[parameters]\na = [1, 2]\n' + U, ["line 3", "2 values"]),
    "byte-order mark": ('\ufeffagents = 3\n' + U, ["line 1"]),
    "NUL byte": ('agents = 3\x00\n' + U, ["line 1"]),
    "unterminated string": ('agents = 3\n[utility]\nall = "q\n', ["line 3"]),
    "unterminated array": ('agents = 3\n[parameters]\na = [1, 2\n' + U, ["line"]),
    "bad escape": ('agents = 3\n[utility]\nall = "\\x41"\n', ["line 3"]),
    "binary junk": ('\x00\x01\x02\x03', ["line 1"]),
    "empty file": ('', ["agents is missing"]),
    "only a comment": ('# a model\n', ["agents is missing"]),
    "unknown top-level key": ('agents = 3\nagnets = 4\n' + U, ["line 2", "'agnets'"]),
}


@pytest.mark.parametrize("what", TOML_TRICKS)
def test_toml_trick_is_one_clear_error(what, capsys, tmp_path):
    text, words = TOML_TRICKS[what]
    error = refused_quickly(text)
    message = str(error)
    assert all(w in message for w in words), message
    err = cli_refuses(capsys, tmp_path, text)
    assert all(w in err for w in words), err


# ---- fuzzers ---------------------------------------------------------------------------------------

_LANGUAGE = ["q", "s_i", "s_j", "s[", "]", "i", "N", "a", "w", "mean(", "sum(", "exp(", "log(", "sqrt(",
             "tanh(", "atan(", "cosh(", "abs(", "min(", "max(", "(", ")", ",", "+", "-", "*", "/", "**", "0",
             "1", "2", "9", "10", "0.5", "1e9", "1e-9", "A", "B", "pi", "E", " ", ", A)", ", B)"]
_HOSTILE = ["__import__", "__class__", ".", "'", '"', "lambda", ":", "=", "%", "//", "@", "^", "&", "|", "~",
            "not ", " if ", " else ", " for ", " in ", "yield ", "await ", ":=", "{", "}", "f'", "\\", "#",
            "\n", "\t", "\uff51", "\u0430", "\u200d", "\u00a0", "\u202e", "\x00", "eval(", "exec(", "open(",
            "getattr(", "globals()", "**99", "**10**10", "9**9**9", "s[10**100]", "*q", "j", "1j", "..."]
_TOKEN = st.one_of(st.sampled_from(_LANGUAGE), st.sampled_from(_HOSTILE),
                   st.integers(-10**30, 10**30).map(str))


@settings(derandomize=True, max_examples=300, deadline=1000, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_TOKEN, max_size=40).map("".join))
def test_fuzz_formula_gives_an_economy_or_a_model_error(text):
    groups = 'groups = { A = [1, 2], B = [3] }'
    try:
        economy = parse_model(model_text(text, parameters='a = 0.5\nw = [1, 2, 3]', groups=groups))
    except ModelError as error:
        assert str(error).strip()
        return
    assert isinstance(economy, Economy) and economy.n == 3
    assert not MARKER.exists()


_SCALAR = st.one_of(
    st.integers(-3, 8).map(str),
    st.sampled_from(["1000000000", "99999999999999999999", "1e9", "3.0", "-0.0", "+3", "0x10", "0b11", "0o7",
                     "1_000", "nan", "inf", "-inf", "true", "false", "1979-05-27", "07:32:00",
                     "1979-05-27T07:32:00Z", '"1/2"', '"1.1"', '"11/10"', '"1/0"', '"abc"', '""', "'q'",
                     '"q*s_i - q**2/2"', '"mean(s_j, A)*q"', '"s[i+1]*q"', f'"{PAYLOAD}"']),
    st.lists(st.sampled_from(_LANGUAGE + _HOSTILE), max_size=12).map(lambda t: json.dumps("".join(t))),
    st.text(max_size=8).map(json.dumps),
)
_KEY = st.sampled_from(["a", "b", "w", "all", "A", "B", "agents", "name", "groups", "utility", "parameters",
                        "q", "mean", "__class__", '"\u0430lpha"', "'x y'", '""', "a.b", "1", "-"])
_VALUE = st.recursive(
    _SCALAR,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4).map(lambda xs: "[" + ", ".join(xs) + "]"),
        st.lists(st.tuples(_KEY, inner), max_size=3).map(
            lambda kv: "{ " + ", ".join(f"{k} = {v}" for k, v in kv) + " }")),
    max_leaves=8)
_LINE = st.one_of(
    st.tuples(_KEY, _VALUE).map(lambda kv: f"{kv[0]} = {kv[1]}"),
    st.sampled_from(["[parameters]", "[utility]", "[groups]", "[[utility]]", "[parameters.a]", "# comment",
                     "agents = 3", "agents = 2", 'all = "s_i*q - q**2/2"', "groups = { A = [1, 2], B = [3] }",
                     'A = "mean(s_j, A)*q - q**2"', "", "[", "]", "=", '"', "\ufeff", "\u202e"]),
    st.text(max_size=10),
)


def _mostly(good, bad):
    """``good`` three times in four, else ``bad``: damaged documents that still reach the parser's depths."""
    return st.integers(0, 3).flatmap(lambda k: bad if k == 0 else good)


_GOOD_FORMULA = st.sampled_from(["s_i*q - q**2/2", "(a*s_i + mean(s_j))*q - q**2", "s[1]*q - q**2",
                                 "(s_i + w*mean(s_j))*q - q**2", "s_i*q - log(cosh(q))", "q"])
_GROUP_FORMULA = st.sampled_from(["(s_i + mean(s_j, A))*q - q**2", "(s_i + sum(s_j, B)/4)*q - q**2/2"])
_RANDOM_FORMULA = st.lists(st.sampled_from(_LANGUAGE + _HOSTILE), max_size=12).map("".join)


@st.composite
def _documents(draw):
    """A model file close to a valid one (agents, groups, parameters, utility), then damaged."""
    agents = draw(_mostly(st.just("3"), _SCALAR))
    lines = [f"agents = {agents}"]
    groups = draw(_mostly(st.sampled_from(["", "groups = { A = [1, 2], B = [3] }", "groups = { A = [1, 2, 3] }"]),
                          st.sampled_from(["groups = { A = [1, 2] }", "groups = { A = [1], B = [2, 3, 4] }",
                                           "groups = { A = [1, 2], B = [2, 3] }"])))
    lines.append(groups)
    lines.append("[parameters]")
    number = _mostly(st.sampled_from(["1", "0.5", '"1/2"', "[1, 2, 3]", '[1, "1.5", 2]']), _VALUE)
    for name in draw(st.lists(st.sampled_from(["a", "w", "b"]), max_size=3, unique=True)):
        lines.append(f"{name} = {draw(number)}")
    lines.append("[utility]")
    keys = ["all", "A", "B"] if "B" in groups else ["all", "A"] if "A" in groups else ["all"]
    for key in draw(st.lists(st.sampled_from(keys), min_size=1, max_size=3, unique=True)):
        good = _GROUP_FORMULA if key != "all" else _GOOD_FORMULA
        lines.append(f"{key} = {json.dumps(draw(_mostly(good, _RANDOM_FORMULA)))}")
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 2]))):    # damage: insert, replace or drop a line
        k = draw(st.integers(0, len(lines)))
        action = draw(st.sampled_from(["insert", "replace", "drop"]))
        if action == "insert":
            lines.insert(k, draw(_LINE))
        elif k < len(lines):
            if action == "replace":
                lines[k] = draw(_LINE)
            else:
                del lines[k]
    return "\n".join(lines)


@settings(derandomize=True, max_examples=300, deadline=1000, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(_documents(), st.lists(_LINE, max_size=14).map("\n".join)))
def test_fuzz_toml_document_gives_an_economy_or_a_model_error(text):
    try:
        economy = parse_model(text)
    except ModelError as error:
        assert str(error).strip()
        return
    assert isinstance(economy, Economy) and 2 <= economy.n
    assert not MARKER.exists()


# ---- assumptions at load time (solve refuses A2/A4 failures; --no-check skips that) ------------------

# Agent 2's marginal utility s_2 + mean(s)/2 - q + (2/5) q**2 rises in q for q > 5/4: A4 breaks there,
# far from any quantity traded at signals near 1/2, so a solve that skips the check can succeed.
A4_BREAKS = textwrap.dedent("""\
    agents = 3
    [parameters]
    c = [0, "2/5", 0]
    [utility]
    all = "(s_i + mean(s_j)/2)*q - q**2/2 + c*q**3/3"
""")
# Agent 3's marginal utility falls in its own signal: A2 breaks everywhere.
A2_BREAKS = textwrap.dedent("""\
    agents = 3
    [parameters]
    a = [1, 1, -1]
    [utility]
    all = "(a*s_i + mean(s_j)/4)*q - q**2/2"
""")


@pytest.fixture
def broken_models(tmp_path):
    paths = {}
    for name, text in (("a4", A4_BREAKS), ("a2", A2_BREAKS)):
        paths[name] = tmp_path / f"{name}.toml"
        paths[name].write_text(text, encoding="utf-8")
    return paths


@pytest.mark.parametrize("which, assumption, agent", [("a4", "A4", 2), ("a2", "A2", 3)])
def test_solve_refuses_an_economy_breaking_an_assumption(capsys, broken_models, which, assumption, agent):
    status, out, err = cli(capsys, "solve", broken_models[which], "--signals", "0.4,0.5,0.6",
                           "--sigma", "0.1", "--dps", "15")
    assert_one_error(status, out, err)
    assert f"{assumption} fails for agent {agent}" in err, err
    assert "q = " in err and "s = (" in err, "the witness point"
    assert "symmech check" in err and "--no-check" in err, "what to do next"


def test_the_api_refuses_it_with_the_agent_and_a_witness(broken_models):
    economy = symmech.load_model(broken_models["a4"])
    with pytest.raises(symmech.AssumptionError) as info:
        symmech.solve(economy, ["0.4", "0.5", "0.6"], "0.1", dps=15)
    error = info.value
    assert (error.assumption, error.agent) == ("A4", 2)
    # the witness really breaks A4: d mu_2/dq = -1 + (4/5) q >= 0 at its q (derived by hand)
    assert -1 + 0.8 * error.witness.q >= 0


def test_no_check_reaches_solve_and_skips_the_pre_check(capsys, broken_models, monkeypatch):
    calls = []
    real = symmech.verify.solve

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(symmech, "solve", spy)
    monkeypatch.setattr(symmech.verify, "solve", spy)
    status, out, err = cli(capsys, "solve", broken_models["a4"], "--signals", "0.4,0.5,0.6",
                           "--sigma", "0.1", "--dps", "15", "--no-check")
    assert calls and calls[0]["check_assumptions"] is False
    # at these signals every quantity met stays where A4 holds, so the solve goes through
    assert status in (0, 1), err
    assert "price" in out.lower() and "Traceback" not in err
    calls.clear()
    cli(capsys, "solve", broken_models["a4"], "--signals", "0.4,0.5,0.6", "--sigma", "0.1", "--dps", "15")
    assert calls and calls[0]["check_assumptions"] is True


def test_no_check_still_stops_where_the_solver_meets_a_broken_assumption(capsys, broken_models):
    """A2 broken: the solver may compute (A2 is not needed for an equilibrium) or stop; never a traceback."""
    status, out, err = cli(capsys, "solve", broken_models["a2"], "--signals", "0.4,0.5,0.6",
                           "--sigma", "0.1", "--dps", "15", "--no-check")
    assert status in (0, 1, 2) and "Traceback" not in err
    if status == 2:
        assert_one_error(status, out, err)
        assert "--no-check to skip" not in err     # the hint would not help: it is already skipped


# ---- bugs found in other modules: strict xfails, each a minimal failing example --------------------------

def _run_limited(code, cpu_seconds=SECOND):
    """Run ``code`` in a fresh interpreter; after the imports it gets ``cpu_seconds`` of CPU time.

    Returns (finished, printed): the process is killed by SIGXCPU/SIGPROF when it runs longer,
    even inside one long C-level computation.
    """
    program = textwrap.dedent(f"""\
        import signal, sys
        import symmech, symmech.model, symmech.verify, symmech.cli
        signal.setitimer(signal.ITIMER_PROF, {cpu_seconds})
        signal.signal(signal.SIGPROF, signal.SIG_DFL)
        """) + textwrap.dedent(code)
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=60,
                          cwd=ROOT)
    return done.returncode != -signal.SIGPROF, done.stdout + done.stderr


def test_exact_refuses_a_huge_exponent_quickly():
    finished, printed = _run_limited("""
        try:
            symmech.solve("example1", ["1e999999999", 0, 0, 0, 0, 0], "0.1", dps=15)
        except symmech.ModelError as error:
            print("refused:", error)
        """)
    assert finished and "refused" in printed, printed


def test_solve_refuses_an_absurd_dps_quickly():
    finished, printed = _run_limited("""
        try:
            symmech.solve("example1", ["0.1"] * 6, "0.1", dps=10**6)
        except symmech.ModelError as error:
            print("refused:", error)
        """)
    assert finished and "refused" in printed, printed


def test_nested_aggregates_are_bounded():
    finished, printed = _run_limited("""
        from symmech.model import parse_model
        formula = "mean(mean(mean(mean(mean(s_j)*s_j)*s_j)*s_j)*s_j)*q - q**2/2"
        try:
            parse_model(f'agents = 10\\n[utility]\\nall = "{formula}"\\n')
            print("built")
        except symmech.ModelError as error:
            print("refused:", error)
        """)
    assert finished, printed


def test_many_problems_are_reported_quickly():
    finished, printed = _run_limited("""
        from symmech.model import parse_model
        text = "agents = 3\\n[parameters]\\n" + "".join(f'p{k} = "x"\\n' for k in range(4000))
        try:
            parse_model(text + '[utility]\\nall = "q"\\n')
        except symmech.ModelError as error:
            print(len(str(error)))
        """)
    assert finished, printed


def test_the_largest_allowed_file_is_read_within_a_second():
    finished, printed = _run_limited("""
        from symmech.model import parse_model
        text = 'agents = 3\\n[parameters]\\na = [' + '1,' * 490000 + '1]\\n[utility]\\nall = "a*q"\\n'
        try:
            parse_model(text)
        except symmech.ModelError as error:
            print("refused")
        """)
    assert finished, printed


def test_repeated_members_give_a_short_message():
    error = refused_quickly('agents = 3\ngroups = { A = [' + "1," * 10**5 + '2, 3] }\n' + U)
    assert len(error.problems) < 20, len(error.problems)


def test_a_complex_constant_is_refused(capsys, tmp_path):
    cli_refuses(capsys, tmp_path, model_text("(s_i + atanh(2))*q - q**2/2"))


def test_a_huge_constant_is_one_error(capsys, tmp_path):
    cli_refuses(capsys, tmp_path, model_text("(s_i + exp(10**100))*q - q**2/2"))


@pytest.mark.parametrize("formula, column", [("(s_i + exp(10**100))*q - q**2/2", 8),
                                             ("s_i*q + exp(exp(exp(10)))*q", 13),
                                             ("s_i*q + exp(690)*exp(690)*q", 9)])
def test_a_huge_constant_is_refused_quickly_with_its_column(formula, column):
    error = refused_quickly(model_text(formula))
    assert f"column {column}" in str(error) and "10**300" in str(error), error


def test_a_large_but_finite_constant_is_kept_exactly():
    """exp(600) is about 10**260: allowed, and kept exact (not rounded to a float)."""
    import sympy
    economy = parse_model(model_text("(s_i + exp(600))*q - q**2/2"))
    assert economy.utilities[0].has(sympy.exp(600))


def test_a_kink_is_one_error_or_a_result(capsys, tmp_path):
    path = tmp_path / "kink.toml"
    path.write_text(model_text("s_i*q - abs(q)/10 - q**2/2"), encoding="utf-8")
    status, out, err = cli(capsys, "solve", path, "--signals", SIGNALS, "--sigma", "0.1", "--dps", "15")
    assert status in (0, 1, 2) and "Traceback" not in err, err


@pytest.mark.parametrize("value", ["\uff10.\uff15", "\u0660.\u0665", "\u0967/\u0968"])
def test_look_alike_digits_are_refused(value):
    refused_quickly(f'agents = 3\n[parameters]\na = "{value}"\n[utility]\nall = "a*q"\n')


def test_a_huge_signal_gets_a_message_for_people():
    with pytest.raises(ModelError) as info:
        symmech.solve("example1", ["1/" + "7" * 5000, 0, 0, 0, 0, 0], "0.1", dps=15)
    assert "set_int_max_str_digits" not in str(info.value)


@pytest.mark.parametrize("signals", [None, 0.5, "0.1,0.2"])
def test_signals_that_are_not_a_list_are_a_model_error(signals):
    with pytest.raises(ModelError):
        symmech.solve("example1", signals, "0.1", dps=15)


@pytest.mark.parametrize("number", ["1", "0.123456789"])
def test_a_file_at_the_size_limit_is_read_within_a_second(number):
    """The largest text the reader accepts (numbers, ints or decimals) parses in under a second of CPU."""
    finished, printed = _run_limited(f"""
        from symmech.model import parse_model, _MAX_TEXT
        head, tail = 'agents = 3\\n[parameters]\\na = [', '{number}]\\n[utility]\\nall = "a*q"\\n'
        text = head + '{number},' * ((_MAX_TEXT - len(head) - len(tail)) // {len(number) + 1}) + tail
        assert len(text) <= _MAX_TEXT
        try:
            parse_model(text)
        except symmech.ModelError as error:
            print("refused:", str(error)[:200])
        """)
    assert finished and "values but agents = 3" in printed, printed


def test_a_file_over_the_size_limit_is_refused_naming_the_size(tmp_path):
    from symmech.model import _MAX_TEXT
    path = tmp_path / "big.toml"
    path.write_text(model_text("s_i*q - q**2/2") + "#" * _MAX_TEXT, encoding="utf-8")
    with pytest.raises(ModelError) as info:
        symmech.load_model(path)
    assert str(path.stat().st_size) in str(info.value) and str(_MAX_TEXT) in str(info.value)


def test_aggregates_nested_two_deep_are_built_exactly():
    """mean((s_j - mean(s_j))**2) is the population variance: compare with statistics.pvariance."""
    import statistics
    from fractions import Fraction

    import sympy
    economy = parse_model(model_text("mean((s_j - mean(s_j))**2)*q - q**2/2", agents=4))
    values = [Fraction(1, 5), Fraction(1, 2), Fraction(7, 10), Fraction(3, 100)]
    point = {symmech.model.signal_symbol(k): sympy.Rational(v.numerator, v.denominator)
             for k, v in enumerate(values, start=1)}
    slope = sympy.diff(economy.utilities[2], symmech.model.Q).subs(point).subs(symmech.model.Q, 0)
    assert slope == sympy.Rational(statistics.pvariance(values))


def test_aggregates_nested_three_deep_are_refused_with_the_column():
    error = refused_quickly(model_text("mean(mean(mean(s_j)*s_j)*s_j)*q"))
    assert "column 11" in str(error) and "at most 2" in str(error), error


@pytest.mark.parametrize("formula, column", [("s_i*q - abs(q)/10 - q**2/2", 9),
                                             ("s_i*q - max(q, 0)**2", 9),
                                             ("min(s_i, 1 + q)*q - q**2/2", 1)])
def test_a_kink_in_q_is_refused_with_its_column(formula, column, capsys, tmp_path):
    error = refused_quickly(model_text(formula))
    assert f"column {column}" in str(error) and "not differentiable in q" in str(error), error
    cli_refuses(capsys, tmp_path, model_text(formula))


def test_a_kink_in_the_signals_only_is_allowed():
    """max of signals alone keeps mu smooth in q: built, and equal to the max at a point."""
    import sympy
    economy = parse_model(model_text("max(s_i, 1/2)*q - q**2/2"))
    mu = sympy.diff(economy.utilities[0], symmech.model.Q)
    s1 = symmech.model.signal_symbol(1)
    assert mu.subs({s1: sympy.Rational(1, 5), symmech.model.Q: 0}) == sympy.Rational(1, 2)
    assert mu.subs({s1: sympy.Rational(4, 5), symmech.model.Q: 0}) == sympy.Rational(4, 5)
