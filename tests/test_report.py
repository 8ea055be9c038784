"""Tests of the teaching report: the derivation scripts, their figures, and the PDF.

The scripts run once per module into a temporary folder (through ``symmech report`` when pdflatex
exists, else directly), so their examples cannot rot. Numbers are compared with independent
computations: ``symmech.solve`` (numeric, eq. 4 integrated by quadrature) and ``symmech.derive``
(closed forms derived by another route).
"""

import re
import shutil
import subprocess
from fractions import Fraction

import mpmath
import pytest
import sympy

import symmech
from symmech.cli import main
from symmech.report import derivation_scripts, load_script

pytest.importorskip("matplotlib")

_HAVE_PDFLATEX = shutil.which("pdflatex") is not None
@pytest.fixture(scope="module")
def built(report_build):
    """(folder, sections in order, status) of the session's ``symmech report`` run."""
    out, sections, status = report_build
    return out, list(sections.values()), status


def test_every_script_builds_a_section(built):
    out, sections, _ = built
    assert [s.name for s in sections] == [p.stem for p in derivation_scripts()]
    for section in sections:
        text = section.tex.read_text()
        assert section.tex.parent == out and "\\section{" in text
        assert "\\textbf{Source economy:}" in text                # the source economy is named
        assert f"\\texttt{{{section.source}}}" in text or r"example1\_economy(N)" in text


def test_figures_exist_and_have_content(built):
    import matplotlib.image

    _, sections, _ = built
    for section in sections:
        assert len(section.figures) >= 2 and len(section.figures) % 2 == 0   # PDF and PNG each
        for path in section.figures:
            assert path.is_file() and path.stat().st_size > 5000, path
            if path.suffix == ".png":
                pixels = matplotlib.image.imread(path)
                assert pixels.shape[0] > 200 and pixels.shape[1] > 300
                assert pixels[..., :3].var() > 1e-3, f"{path} looks blank"


@pytest.mark.parametrize("name", ["example1", "example4"])
def test_threshold_shown_is_the_derived_one(built, name):
    _, sections, _ = built
    section = next(s for s in sections if s.name == name)
    exact = symmech.derive(symmech.load_model(section.source)).bs_threshold
    assert sympy.simplify(section.threshold - exact) == 0
    agent_1 = section.step("BS threshold").value
    assert agent_1 <= exact                                       # the overall one is the largest
    shown = re.search(r"exact threshold over all agents is \$\\sigma\^\* = ([^$ ]+)", section.tex.read_text())
    assert shown and _parse_latex_number(shown.group(1)) == exact


def _parse_latex_number(text):
    fraction = re.fullmatch(r"\\frac\{(\d+)\}\{(\d+)\}", text)
    return sympy.Rational(*map(int, fraction.groups())) if fraction else sympy.Rational(text)


@pytest.mark.parametrize("name", ["example1", "example4"])
def test_worked_numbers_match_the_numeric_solver(built, name):
    """The substituted-number steps evaluate to what symmech.solve computes at the worked profile."""
    _, sections, _ = built
    section = next(s for s in sections if s.name == name)
    outcome = symmech.solve(section.source, [str(x) for x in section.profile], section.sigma, dps=20)
    close = lambda exact, numeric: abs(mpmath.mpf(Fraction(str(exact)).numerator)
                                       / Fraction(str(exact)).denominator - numeric) < mpmath.mpf(10) ** -12
    with mpmath.workdps(20):
        assert close(section.step("Reference price").value, outcome.price)
        assert close(section.step("Allocation").value, outcome.allocation[0])
        assert close(section.step("Pivotal report").value, outcome.pivots[0])
        assert close(section.step("Transfer integral").value, outcome.transfers[0])
        # the substituted formula itself, put together exactly, gives the same transfer
        step = section.step("Transfer integral")
        assert close(sympy.Rational(step.expr.subs(step.values)), outcome.transfers[0])
        # the average price gap and kappa_1, read off the solver's transfer
        p, q, t = outcome.price, outcome.allocation[0], outcome.transfers[0]
        assert close(section.step("Average per-unit price").value, t / q - p)
        assert close(section.step("Budget-surplus coefficient").value, 2 * (t - p * q) / q ** 2)


def test_report_pdf_builds_without_latex_errors(built):
    if not _HAVE_PDFLATEX:
        pytest.skip("pdflatex is not installed")
    out, sections, status = built
    assert status == 0
    pdf = out / "main.pdf"
    assert pdf.is_file()
    if shutil.which("pdfinfo"):
        info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
        pages = int(next(line.split()[-1] for line in info.splitlines() if line.startswith("Pages:")))
    else:
        pages = pdf.read_bytes().count(b"/Type /Page") - pdf.read_bytes().count(b"/Type /Pages")
    assert pages >= 2 + 3 * len(sections)                        # title, contents, >= 3 pages a section
    log = (out / "main.log").read_text(errors="replace")
    assert not [line for line in log.splitlines() if line.startswith("! ")]
    # nothing runs off the page: \fitmath shrinks wide displays, so no box is overfull
    overfull = [float(x) for x in re.findall(r"Overfull \\hbox \(([\d.]+)pt too wide", log)]
    assert not [x for x in overfull if x > 1.0], overfull
    assert "undefined references" not in log and "Rerun to get" not in log
    assert "Token not allowed in a PDF string" not in log        # titles make clean PDF bookmarks
    main_tex = (out / "main.tex").read_text()
    assert "\\tableofcontents" in main_tex
    assert all(f"\\input{{{s.tex.name}}}" in main_tex for s in sections)


def test_report_only_and_unknown_name(tmp_path, capsys):
    assert main(["report", "--out", str(tmp_path), "--only", "no-such-derivation"]) == 2
    assert "no derivation called 'no-such-derivation'" in capsys.readouterr().err


def test_report_without_pdflatex_exits_2(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert main(["report", "--out", str(tmp_path)]) == 2
    assert "pdflatex is not installed" in capsys.readouterr().err


def test_scripts_load_by_path():
    for path in derivation_scripts():
        module = load_script(path)
        assert callable(module.build) and module.NAME == path.stem


def test_report_to_a_folder_that_cannot_be_written_exits_2(tmp_path, capsys):
    """--out naming a file: one clear error before any deriving, exit status 2, no traceback."""
    target = tmp_path / "a-file"
    target.write_text("not a folder")
    assert main(["report", "--out", str(target), "--only", "example1"]) == 2
    err = capsys.readouterr().err
    assert f"cannot write the report to {target}" in err and "Traceback" not in err
    assert not list(tmp_path.glob("*.tex"))
