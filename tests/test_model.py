"""The model layer: the safe formula language, TOML model files and the catalogue.

Expected values are SymPy expressions built by hand here from the model's definition, never
copies of the parser's output.
"""

import json
import os
import time
from fractions import Fraction
from importlib import resources

import pytest
import sympy
from hypothesis import given, settings, strategies as st

from symmech import Economy, ModelError, Q, catalogue_names, load_model, signal_symbols
from symmech.model import MAX_AGENTS, parse_formula, parse_model

s1, s2, s3, s4, s5, s6 = signal_symbols(6)
R = sympy.Rational
MARKER = "/tmp/symmech_pwned_marker"


def formula(text, agent=2, agents=3, parameters=None, groups=None):
    return parse_formula(text, agent=agent, agents=agents, parameters=parameters, groups=groups)


def model(utility, agents=3, parameters="", groups=""):
    text = f"agents = {agents}\n{groups}\n[parameters]\n{parameters}\n[utility]\nall = {json.dumps(utility)}\n"
    return parse_model(text)


# ---- the language ---------------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("q", Q),
    ("s_i", s2),
    ("s_i*q - q**2/2", s2 * Q - Q**2 / 2),
    ("s[1] + s[3]", s1 + s3),
    ("s[i+1]", s3),
    ("s[N]", s3),
    ("s[N - i + 1]", s2),
    ("s[i % N + 1]", s3),
    ("s[2*i - 1]", s3),
    ("s[(i + 2) // 2]", s2),
    ("N*q + i", 3 * Q + 2),
    ("-q + +s_i", -Q + s2),
    ("q**-1", 1 / Q),
    ("q**(1/2)", sympy.sqrt(Q)),
    ("q**(N - 1)", Q**2),
    ("2**(1/2)*q", sympy.sqrt(2) * Q),
    ("pi*q + E", sympy.pi * Q + sympy.E),
    ("mean(s_j)", (s1 + s2 + s3) / 3),
    ("sum(s_j)", s1 + s2 + s3),
    ("sum(s_j**2)*q", (s1**2 + s2**2 + s3**2) * Q),
    ("mean(s_j*s_i)", (s1 * s2 + s2**2 + s3 * s2) / 3),
    ("sum(q)", 3 * Q),
    ("mean(s_j*mean(s_j))", sum(s * ((s1 + s2 + s3) / 3) for s in (s1, s2, s3)) / 3),
    ("exp(q) + log(1 + q) + sqrt(1 + s_i)",
     sympy.exp(Q) + sympy.log(1 + Q) + sympy.sqrt(1 + s2)),
    ("sin(q) + cos(q) + tan(q)", sympy.sin(Q) + sympy.cos(Q) + sympy.tan(Q)),
    ("sinh(q) + cosh(q) + tanh(q)", sympy.sinh(Q) + sympy.cosh(Q) + sympy.tanh(Q)),
    ("atan(q) + asinh(q) + atanh(q/2)", sympy.atan(Q) + sympy.asinh(Q) + sympy.atanh(Q / 2)),
    ("abs(s_i - s[1])*q + min(s[3], s_i)*q + max(s[1], s_i, 1)",      # kinks in signals only, never in q
     sympy.Abs(s2 - s1) * Q + sympy.Min(s3, s2) * Q + sympy.Max(s1, s2, 1)),
    ("min(3, 1/2, 2) + max(-1, -2) + abs(-5/2)", R(1, 2) - 1 + R(5, 2)),
    ("log(cosh(q))", sympy.log(sympy.cosh(Q))),
])
def test_language_feature_builds_the_hand_built_expression(text, expected):
    assert formula(text) == expected


def test_parameters_scalar_and_list_entry_of_the_agent():
    parameters = {"a": "1/3", "w": [1, 2, "5/2"]}
    assert formula("a*q + w*s_i", agent=3, parameters=parameters) == R(1, 3) * Q + R(5, 2) * s3
    assert formula("q**w", agent=2, parameters=parameters) == Q**2   # a list parameter as exponent


def test_mean_and_sum_over_groups():
    groups = {"A": [1, 2], "B": [3]}
    assert formula("mean(s_j, A)", groups=groups) == (s1 + s2) / 2
    assert formula("sum(s_j**2, A) + sum(s_j, B)", groups=groups) == s1**2 + s2**2 + s3
    assert formula("mean(s_j*s_i, B)", agent=1, groups=groups) == s1 * s3


def test_numbers_are_exact():
    assert formula("1.1*q") == R(11, 10) * Q
    assert formula("0.1 + 0.2") == R(3, 10)            # binary floats would not give 3/10
    assert formula("1e-3 + 2.5e2") == R(1, 1000) + 250
    assert formula("1_000.5") == R(2001, 2)
    exact_values = [model("a*q", parameters=f"a = {v}").parameters["a"] for v in ("1.1", '"1.1"', '"11/10"')]
    assert exact_values == [Fraction(11, 10)] * 3
    assert Fraction(1.1) != Fraction(11, 10)          # so the test above can fail


def test_aggregates_are_shared_but_agent_parts_are_not():
    economy = model("(w*s_i + mean(s_j))*q", parameters="w = [1, 2, 3]")
    mean = (s1 + s2 + s3) / 3
    assert economy.utilities == ((s1 + mean) * Q, (2 * s2 + mean) * Q, (3 * s3 + mean) * Q)


# ---- model files ----------------------------------------------------------------------------------

def test_model_file_with_groups_and_group_formulas():
    text = """
name = "two groups"
agents = 4
groups = { A = [1, 2], B = [3, 4] }
[parameters]
h = 0.5
[utility]
A = "(s_i + h*mean(s_j, A))*q"
all = "s_i*q - q**2"
"""
    economy = parse_model(text, source="two.toml")
    assert economy.name == "two groups"
    assert economy.source == "two.toml"
    assert economy.groups == {"A": (1, 2), "B": (3, 4)}
    assert economy.parameters == {"h": Fraction(1, 2)}
    a, b, c, d = signal_symbols(4)
    assert economy.utilities == ((a + (a + b) / 4) * Q, (b + (a + b) / 4) * Q, c * Q - Q**2, d * Q - Q**2)


def test_dotted_and_table_forms_of_groups():
    text = 'agents = 2\n[groups]\nA = [1]\nB = [2]\n[utility]\nA = "s_i*q"\nB = "2*s_i*q"\n'
    economy = parse_model(text)
    assert economy.utilities == (s1 * Q, 2 * s2 * Q)


def test_many_mistakes_give_one_error_naming_each_with_its_line():
    text = """name = "broken"
agents = 5
groups = { A = [1, 2, 3], B = [3, 4, 7] }
colour = "red"

[parameters]
alpha = [1, 2, 3]
q = 2
beta = "abc"
gamma = 0.1

[utility]
A = "(alpah*s_i + beta*mean(s_j, A))*q - q**2/2"
C = "s_i*q"
"""
    with pytest.raises(ModelError) as info:
        parse_model(text, source="broken.toml")
    error = info.value
    assert error.source == "broken.toml"
    expected = [  # (line, words that must appear)
        (4, ["unknown key 'colour'"]),
        (3, ["agent 3", "'A'", "'B'"]),
        (3, ["agent 7", "1..5"]),
        (3, ["agent 5", "no group"]),
        (7, ["'alpha'", "3 values", "agents = 5"]),
        (8, ["'q'", "reserved"]),
        (9, ["'beta'", "not a number"]),
        (13, ["'alpah'", "did you mean 'alpha'", "column 2"]),
        (14, ["'C'", "neither 'all' nor a group"]),
        (12, ["group 'B'", "no utility"]),
    ]
    assert len(error.problems) == len(expected)
    for line, words in expected:
        matches = [p for p in error.problems if p.startswith(f"line {line}:") and all(w in p for w in words)]
        assert matches, (line, words, error.problems)
    for problem in error.problems:
        assert problem in str(error)
    assert str(error).startswith("broken.toml: 10 problems")


def test_toml_syntax_error_gives_line_and_column():
    with pytest.raises(ModelError) as info:
        parse_model('agents = 3\n[utility]\nall = "s_i*q" x\n', source="m.toml")
    assert len(info.value.problems) == 1
    assert info.value.problems[0].startswith("line 3, column 15: not valid TOML")


@pytest.mark.parametrize("text, words", [
    ('[utility]\nall = "q"', ["agents is missing"]),
    ('agents = 1\n[utility]\nall = "q"', ["line 1", "agents = 1", f"2 to {MAX_AGENTS}"]),
    ('agents = true\n[utility]\nall = "q"', ["line 1", "agents = True"]),
    ("agents = 2", ["[utility] is missing"]),
    ('agents = 2\n[utility]\nall = 3', ["line 3", "in quotes"]),
    ('agents = 2\ngroups = { A = [1] }\n[utility]\nall = "q"', ["line 2", "agent 2 is in no group"]),
    ('agents = 2\ngroups = { A = [1, 2], all = [] }\n[utility]\nall = "q"', ["group name 'all'"]),
    ('agents = 2\ngroups = { A = [1, 1, 2] }\n[utility]\nall = "q"', ["lists agent 1 twice"]),
    ('agents = 2\ngroups = { A = [1, 2] }\n[utility]\nB = "q"', ["'B'", "neither", "group 'A'", "no utility"]),
    ('agents = 2\n[utility]\nA = "q"', ["line 3", "no groups", "all"]),
    ('agents = 2\n[parameters]\nmean = 1\n[utility]\nall = "q"', ["line 3", "'mean'", "reserved"]),
    ('agents = 2\n[parameters]\na = true\n[utility]\nall = "a*q"', ["line 3", "'a'", "not a number"]),
    ('agents = 2\n[parameters]\na = nan\n[utility]\nall = "a*q"', ["'a'", "not a number"]),
    ('agents = 2\n[parameters]\na = [1, "x"]\n[utility]\nall = "a*q"', ["entries 2"]),
    ('agents = 2\n[parameters]\na = "1/0"\n[utility]\nall = "a*q"', ["'a'", "not a number"]),
    ('agents = 2\n[utility]\nall = "s[i+1]*q"', ["line 3", "agent 2", "names agent 3"]),
    ('agents = 2\n[utility]\nall = "q/(q-q)"', ["undefined"]),
])
def test_each_mistake_is_named(text, words):
    with pytest.raises(ModelError) as info:
        parse_model(text)
    message = str(info.value)
    assert all(w in message for w in words), message


def test_load_model_from_path_and_unknown_name(tmp_path):
    path = tmp_path / "tiny.toml"
    path.write_text('agents = 2\n[utility]\nall = "s_i*q - q**2/2"\n', encoding="utf-8")
    economy = load_model(path)
    assert economy.utilities == (s1 * Q - Q**2 / 2, s2 * Q - Q**2 / 2)
    assert economy.name == "tiny" and economy.source == str(path)
    assert load_model(economy) is economy
    with pytest.raises(ModelError) as info:
        load_model("exampel1")
    assert "did you mean 'example1'" in str(info.value)
    assert all(name in str(info.value) for name in catalogue_names())


# ---- the catalogue --------------------------------------------------------------------------------

def test_catalogue_names():
    assert set(catalogue_names()) == {"example1", "example2", "heterogeneous", "tanh", "groups3"}


@pytest.mark.parametrize("name", ["example1", "example2", "heterogeneous", "tanh", "groups3"])
def test_every_catalogue_file_loads_and_has_a_header(name):
    economy = load_model(name)
    assert economy.source == name and economy.n >= 2
    text = resources.files("symmech.catalogue").joinpath(name + ".toml").read_text(encoding="utf-8")
    assert text.startswith("# ") and "Andreyanov and Sadzik" in text.split("\n\n")[0]
    for mu in economy.marginal_utilities:   # A4's sign: d mu_i/dq < 0 at a few points
        for q in (-2, 0, 3):
            assert sympy.diff(mu, Q).subs(Q, q).subs({s: R(1, 2) for s in economy.signals}) < 0


def test_example1_equals_the_economy_built_by_hand():
    loaded = load_model("example1")
    alpha, beta, mu = 1, R(1, 2), 1
    signals = signal_symbols(6)
    mean = sum(signals) / 6
    hand = Economy(utilities=tuple((alpha * s + beta * mean) * Q - mu * Q**2 / 2 for s in signals),
                   name=loaded.name, groups={},
                   parameters={"alpha": Fraction(1), "beta": Fraction(1, 2), "mu": Fraction(1)},
                   source="example1")
    assert hand == loaded


def test_example2_equals_the_economy_built_by_hand():
    loaded = load_model("example2")
    signals = signal_symbols(6)
    mean_a, mean_e = sum(signals[:3]) / 3, sum(signals[3:]) / 3
    hand = [(s + mean_a / 2 + mean_e / 4) * Q - Q**2 / 2 for s in signals[:3]]
    hand += [(s + mean_e / 2 + mean_a / 4) * Q - Q**2 / 2 for s in signals[3:]]
    assert loaded.utilities == tuple(hand)
    assert loaded.groups == {"A": (1, 2, 3), "E": (4, 5, 6)}
    assert loaded.parameters == {"alpha": 1, "beta_h": Fraction(1, 2), "beta_l": Fraction(1, 4), "mu": 1}


def test_tanh_model_has_the_stated_marginal_utility():
    economy = load_model("tanh")
    a = [1, R(6, 5), R(9, 10), R(11, 10), 1]
    m = [1, 1, R(3, 2), 1, R(5, 4)]
    c = [R(1, 5), R(1, 10), R(1, 5), R(3, 10), R(1, 10)]
    signals = signal_symbols(5)
    square_mean = sum(s**2 for s in signals) / 5
    for k, mu in enumerate(economy.marginal_utilities):
        wanted = a[k] * signals[k] + square_mean / 4 - m[k] * Q - c[k] * sympy.tanh(Q)
        assert sympy.simplify(mu - wanted) == 0


# ---- hostile input --------------------------------------------------------------------------------

HOSTILE = [
    f"__import__('os').system('touch {MARKER}')",
    f"exp(__import__('os').system('touch {MARKER}'))",
    "().__class__", "q.__class__", "q.__class__.__bases__[0].__subclasses__()", "__builtins__",
    "lambda: 1", "(lambda: 1)()", "[x for x in ()]", "{x for x in ()}", "(x for x in ())", "'abc'", "b'x'",
    "q**(10**10**10)", "10**10**10", "9**9**9", "(2**100)**100", "q**101", "(q**20)**10", "1e100000*q",
    "\uff51", "\u0430*q", "q + \u0430", "s[10**100]", "s[0]", "s[-1]", "s[1.5]", "s[q]", "s[1:2]",
    "q if q else 1", "q < 1", "q and s_i", "not q", "~q", "q ^ 2", "q @ q", "q // 2", "q % 2", "q := 1",
    "exp(x=1)", "exp(*q)", "f'{q}'", "True*q", "None", "...", "1j*q", "exec('1')", "eval('1')",
    "open('/etc/passwd')", "getattr(q, 'x')", "s_j*q", "x", "sqrt(-1)", "(-8)**(1/3)", "log(0)", "1/0",
    "q" + "+q" * 1000, "(" * 250 + "q" + ")" * 250, "-" * 1990 + "q", "exp(" * 70 + "q" + ")" * 70,
    "q\x00", "", "   ", "q**q", "2**q", "min(q)", "abs(q)", "max(q, 0)", "min(s_i, mean(s_j) + q)", "exp(q, q)", "mean(s_j, Z)", "mean(s_j, 1)",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_formula_is_refused_quickly_without_running_code(text):
    started = time.perf_counter()
    with pytest.raises(ModelError):
        formula(text, groups={"A": [1, 2, 3]})
    with pytest.raises(ModelError):
        parse_model(f"agents = 3\n[utility]\nall = {json.dumps(text)}\n")
    assert time.perf_counter() - started < 1
    assert not os.path.exists(MARKER)


@pytest.mark.parametrize("text", ["exp(690)*q", "1e300*q", "(q + 1e300)**100", "sin(10**100)*q",
                                  "(" * 100 + "q" + ")" * 100])
def test_big_but_harmless_formulas_are_accepted_symbolically(text):
    started = time.perf_counter()
    assert Q in formula(text).free_symbols
    assert time.perf_counter() - started < 1


@pytest.mark.parametrize("text", ["exp(exp(exp(1000)))*q", "exp(10**100)*q", "exp(691)*q", "cosh(-800)*q"])
def test_constants_beyond_10_to_the_300_are_refused_quickly(text):
    """exp(691) > 10**300 (691 > 300*ln 10 = 690.8): refused, as is anything built on it."""
    started = time.perf_counter()
    with pytest.raises(ModelError, match=r"10\*\*300"):
        parse_model(f"agents = 3\n[utility]\nall = {json.dumps(text)}\n")
    assert time.perf_counter() - started < 1


_TOKENS = ["q", "s_i", "s_j", "s[", "]", "i", "N", "a", "w", "mean(", "sum(", "exp(", "log(", "min(",
           "(", ")", ",", "+", "-", "*", "/", "**", "1", "2", "0", "1.5", "1e9", "A", "pi", "E", " ",
           "__class__", ".", "'", "lambda", ":", "[", "=", "%", "//", "99"]


@settings(derandomize=True, max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(_TOKENS), max_size=25).map("".join))
def test_fuzz_formula_tokens_give_an_economy_or_a_model_error(text):
    groups = 'groups = { A = [1, 2], B = [3] }'
    try:
        economy = model(text, parameters='a = 0.5\nw = [1, 2, 3]', groups=groups)
    except ModelError:
        return
    assert isinstance(economy, Economy) and economy.n == 3


@settings(derandomize=True, max_examples=200, deadline=None)
@given(st.one_of(st.text(max_size=200),
                 st.lists(st.sampled_from(['agents = ', '2', '3', '\n', '[utility]', '[parameters]', 'all = ',
                                           '"q*s_i"', '"', 'a = ', '[1, 2]', '0.5', 'groups = ', '{ A = [1] }',
                                           'A', ' = ', '"mean(s_j, A)"', '[groups]', 'name = ']),
                          max_size=30).map("".join)))
def test_fuzz_model_text_gives_an_economy_or_a_model_error(text):
    try:
        economy = parse_model(text)
    except ModelError:
        return
    assert isinstance(economy, Economy)


def _large_grouped_model(utility_a, utility_b, agents=1000):
    half = agents // 2
    members = lambda lo, hi: ", ".join(str(k) for k in range(lo, hi + 1))  # noqa: E731
    return (f"agents = {agents}\ngroups = {{ A = [{members(1, half)}], B = [{members(half + 1, agents)}] }}\n"
            f"[utility]\nA = {json.dumps(utility_a)}\nB = {json.dumps(utility_b)}\n")


def test_the_pre_check_of_a_large_structured_economy_samples_templates_without_expanding():
    """1000 agents: require_assumptions runs through the templates in seconds and never expands."""
    from symmech.assumptions import require_assumptions
    economy = parse_model(_large_grouped_model("(s_i + mean(s_j)/2)*q - q**2/2", "(2*s_i + 1)*q - q**2"))
    assert not economy.expanded
    started = time.perf_counter()
    assert require_assumptions(economy) is None
    assert time.perf_counter() - started < 10
    assert not economy.expanded


@pytest.mark.parametrize("utility_b, assumption", [("(1 - s_i)*q - q**2/2", "A2"),     # d mu/d s_i = -1
                                                   ("s_i*q + q**3", "A4")])            # d mu/dq = 3 q**2
def test_the_pre_check_of_a_large_structured_economy_finds_the_broken_group(utility_b, assumption):
    from symmech.assumptions import require_assumptions
    from symmech.errors import AssumptionError
    economy = parse_model(_large_grouped_model("(s_i + mean(s_j)/2)*q - q**2/2", utility_b))
    with pytest.raises(AssumptionError) as info:
        require_assumptions(economy)
    assert info.value.assumption == assumption and info.value.agent > 500, info.value
    assert not economy.expanded
