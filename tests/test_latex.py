"""LaTeX output of a derivation: golden strings for the catalogue Examples 1 and 2 and the symbolic
Example 2, labels and structure, and real compilation with pdflatex (skipped when TeX is absent).

Golden files live in tests/golden/. After a deliberate change of the output, regenerate them with
``SYMMECH_REGENERATE_GOLDEN=1 pytest tests/test_latex.py`` and read the diff (and the rendered
PDF) before committing: the golden is a record of reviewed output, not an independent check.
"""

import os
import re
import shutil
import subprocess
from functools import lru_cache
from pathlib import Path

import pytest

from symmech.latex import derivation_latex
from symmech.symbolic import derive, derive_example

GOLDEN = Path(__file__).parent / "golden"
PDFLATEX = shutil.which("pdflatex")
needs_tex = pytest.mark.skipif(PDFLATEX is None, reason="pdflatex is not installed (Debian: texlive-latex-base "
                               "texlive-latex-recommended texlive-fonts-recommended); CI installs it")


@lru_cache(maxsize=None)
def _derivation(name):
    return derive_example(2) if name == "example2-symbolic" else derive(name)


def _compile(tex, folder, name="doc"):
    (folder / f"{name}.tex").write_text(tex, encoding="utf-8")
    run = subprocess.run([PDFLATEX, "-interaction=nonstopmode", "-halt-on-error", f"{name}.tex"],
                         cwd=folder, capture_output=True, text=True, timeout=120)
    log = (folder / f"{name}.log").read_text(encoding="utf-8", errors="replace")
    return run.returncode, log


@pytest.mark.parametrize("name", ["example1", "example2", "example2-symbolic"])
def test_golden(name):
    body = derivation_latex(_derivation(name))
    path = GOLDEN / f"{name}.tex"
    if os.environ.get("SYMMECH_REGENERATE_GOLDEN"):
        path.write_text(body, encoding="utf-8")
    assert body == path.read_text(encoding="utf-8")


def test_labels_and_structure():
    d = _derivation("example1")
    body = derivation_latex(d)
    labels = re.findall(r"\\label\{([^}]*)\}", body)
    assert len(labels) == len(set(labels))
    for k in range(1, 7):
        for kind in ("allocation", "dp-ds", "dq-ds", "pivot", "kappa", "transfer", "edge", "gap", "naive-ic"):
            assert f"eq:{kind}-{k}" in labels
    assert {"eq:price", "eq:budget-surplus", "eq:bs-threshold", "tab:eq-parameters"} <= set(labels)
    assert "breqn" not in body and "dmath" not in body and "\\documentclass" not in body
    assert r"$\beta$ & $\frac{1}{2}$" in body                     # the parameter table
    assert r"\frac{3}{7}" in body                                  # the threshold 3/7
    standalone = derivation_latex(d, standalone=True)
    assert standalone.startswith("\\documentclass") and standalone.rstrip().endswith("\\end{document}")
    assert "eq2:price" in derivation_latex(d, label_prefix="eq2")


@needs_tex
@pytest.mark.parametrize("name", ["example1", "example2-symbolic", "heterogeneous"])
def test_standalone_compiles_without_overfull_lines(name, tmp_path):
    code, log = _compile(derivation_latex(_derivation(name), standalone=True), tmp_path)
    assert code == 0, log[-3000:]
    assert "Overfull \\hbox" not in log
    assert (tmp_path / "doc.pdf").stat().st_size > 10_000


@needs_tex
def test_body_inputs_into_a_paper_twice(tmp_path):
    """The body is \\input-able; two derivations with their own label prefixes coexist."""
    (tmp_path / "one.tex").write_text(derivation_latex(_derivation("example1"), label_prefix="ex1"))
    (tmp_path / "two.tex").write_text(derivation_latex(_derivation("example2"), label_prefix="ex2"))
    paper = (r"\documentclass{article}\usepackage{amsmath}\begin{document}"
             r"See (\ref{ex1:price}) and (\ref{ex2:bs-threshold})." "\n"
             r"\input{one}" "\n" r"\input{two}" "\n" r"\end{document}" "\n")
    code, log = _compile(paper, tmp_path, "paper")
    assert code == 0, log[-3000:]
    assert "multiply defined" not in log
