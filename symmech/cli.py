"""The ``symmech`` command line: parse the arguments, call the library, print the result.

No mathematics lives here. Exit status: 0 when every check held, 1 when a check failed,
2 on bad input (one ``symmech: error: ...`` message on stderr, no traceback unless ``--debug``),
3 when ``solve --verify-precision`` finds results that a rerun at dps + 20 does not confirm to
dps - 5 digits (see :data:`EXIT_STATUS`).
Heavy modules (SymPy, mpmath) are imported only inside the subcommand that needs them, so
``symmech --help`` starts fast.
"""

import argparse
import json
import re
import sys
import traceback

from .errors import AssumptionError, SymmechError

__all__ = ["main"]

OK, CHECK_FAILED, BAD_INPUT, PRECISION_FLAGGED = 0, 1, 2, 3

#: The exit statuses, as ``symmech --help`` shows them.
EXIT_STATUS = """\
exit status:
  0  every check held
  1  a check failed (solve: market clearing, budget surplus, IR or IC; verify: one of them at
     some profile; check: an assumption)
  2  bad input: arguments, the model file, or an assumption (A2, A4) that breaks;
     one 'symmech: error:' message says what and where (--debug adds the traceback)
  3  solve --verify-precision: a result agrees with the rerun at dps + 20 to fewer than
     dps - 5 digits (this takes precedence over 1)"""

_CHECK_NAMES = {
    "market_clearing": "Market clearing",
    "budget_surplus": "Budget surplus",
    "individual_rationality": "Individual rationality",
    "incentive_compatibility": "Incentive compatibility",
    "pareto": "Pareto",
}


class _UsageError(Exception):
    """An argparse complaint, turned into one ``symmech: error:`` line by :func:`main`."""


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser that raises instead of printing usage and exiting."""

    def error(self, message):
        raise _UsageError(f"{message} (see '{self.prog} --help')")


def main(argv=None):
    """Run the command line with ``argv`` (default ``sys.argv[1:]``); return the exit status."""
    parser = _build_parser()
    try:
        args = parser.parse_args(argv)
    except _UsageError as exc:
        return _fail(exc)
    except SystemExit as exc:           # --help prints and exits 0
        return exc.code if isinstance(exc.code, int) else OK
    try:
        return args.run(args)
    except BrokenPipeError:             # the reader (e.g. `| head`) stopped reading: not an error
        sys.stderr.close()
        return OK
    except (SymmechError, OSError) as exc:
        if args.debug:
            traceback.print_exc()
        if isinstance(exc, AssumptionError) and hasattr(args, "no_check"):
            exc = _with_next_step(exc, args)
        return _fail(exc)
    except KeyboardInterrupt:
        print("symmech: interrupted", file=sys.stderr)
        return 130


def _fail(exc):
    print(f"symmech: error: {_message(exc)}", file=sys.stderr)
    return BAD_INPUT


def _message(exc):
    if isinstance(exc, OSError) and exc.filename is not None:
        return f"cannot read {exc.filename}: {exc.strerror or exc}"
    return str(exc) or type(exc).__name__


# ---------------------------------------------------------------- parser


def _build_parser():
    parser = _Parser(
        prog="symmech",
        description="Derive, compute and check the sigma-Walrasian Equilibrium mechanisms of "
                    "Andreyanov and Sadzik (2016) for an exchange economy.",
        epilog="example:\n  symmech solve example2 --signals 0.12,0.87,0.45,0.66,0.31,0.58 --sigma 1\n\n"
               + EXIT_STATUS,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    # The same flag after the subcommand; SUPPRESS keeps it from resetting the global one.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show tracebacks on errors")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    solve = commands.add_parser("solve", parents=[common], help="compute the mechanism at one profile",
                                description="Compute the sigma-WE allocation, price and transfers at "
                                            "one signal profile, and check MC, BS, IR, IC and Pareto.",
                                epilog=EXIT_STATUS, formatter_class=argparse.RawDescriptionHelpFormatter)
    solve.add_argument("model", metavar="MODEL", help="a model file (TOML) or a catalogue name")
    solve.add_argument("--signals", required=True, metavar="S1,S2,...",
                       help="one signal per agent in [0, 1], exact decimals or ratios, comma separated")
    solve.add_argument("--sigma", required=True, help="the price slope sigma >= 0 (exact number)")
    solve.add_argument("--dps", type=int, default=30, help="significant digits (default 30, at least 10)")
    solve.add_argument("--transfers", choices=["ic", "naive"], default="ic",
                       help="ic: eq. (4) with boundary constants (7); naive: eq. (2) (default ic)")
    solve.add_argument("--format", choices=["text", "json", "latex"], default="text")
    solve.add_argument("--backend", choices=["auto", "mpmath", "float64"], default=None,
                       help="auto: float64 when dps <= 15, else mpmath (default auto)")
    solve.add_argument("--no-check", action="store_true",
                       help="skip the pre-check of assumptions A2 and A4 on the signal cube (for experts: "
                            "the solver still stops where A4 breaks at a point it meets)")
    solve.add_argument("--verify-precision", action="store_true",
                       help="rerun at dps + 20 digits and report the digits on which the two runs agree; "
                            "exit status 3 if any result agrees to fewer than dps - 5")
    solve.set_defaults(run=_run_solve)

    check = commands.add_parser("check", parents=[common], help="check assumptions A1-A4",
                                description="Check the paper's assumptions A1-A4 and report their constants.")
    check.add_argument("model", metavar="MODEL", help="a model file (TOML) or a catalogue name")
    check.add_argument("--samples", type=int, help="number of sampled profiles")
    check.add_argument("--seed", type=int, help="seed of the sampled profiles")
    check.add_argument("--format", choices=["text", "json"], default="text")
    check.add_argument("--certified", action="store_true",
                       help="rigorous interval enclosures (arb) over the whole signal cube instead of "
                            "sampling: each assumption holds for certain, fails at a point, or is undecided")
    check.set_defaults(run=_run_check)

    derive = commands.add_parser("derive", parents=[common], help="closed forms for quadratic economies",
                                 description="Derive, exactly by SymPy, the price, allocation, transfers, "
                                             "average price gap, budget-surplus threshold and Lemma 2's "
                                             "derivatives of a quadratic economy (eq. 1, 4, 7).")
    derive.add_argument("model", metavar="MODEL", help="a model file (TOML) or a catalogue name")
    derive.add_argument("--format", choices=["text", "json", "latex"], default="text")
    derive.add_argument("--standalone", action="store_true",
                        help="with --format latex: a complete document instead of an \\input-able body")
    derive.add_argument("--no-check", action="store_true",
                        help="skip the pre-check of assumptions A2 and A4 on the signal cube (for experts)")
    derive.add_argument("--general", action="store_true",
                        help="for the catalogue's example1 and example2: keep N, the group sizes and "
                             "the parameters as symbols (the paper's Examples 1 and 2 in general)")
    derive.set_defaults(run=_run_derive)

    verify = commands.add_parser("verify", parents=[common], help="properties over many profiles",
                                 description="Check MC, BS, IR, IC and Pareto at random, corner and "
                                             "adversarial profiles; report the worst case of each.",
                                 epilog=EXIT_STATUS, formatter_class=argparse.RawDescriptionHelpFormatter)
    verify.add_argument("model", metavar="MODEL", help="a model file (TOML) or a catalogue name")
    verify.add_argument("--sigma", default="1", help="the price slope sigma >= 0 (default 1)")
    verify.add_argument("--profiles", type=int, default=None, help="random profiles (default 24)")
    verify.add_argument("--seed", type=int, default=0, help="seed of the random profiles (default 0)")
    verify.add_argument("--dps", type=int, default=15, help="significant digits (default 15)")
    verify.add_argument("--jobs", type=int, default=1, help="processes (default 1; -1: one per core)")
    verify.add_argument("--no-check", action="store_true",
                        help="skip the pre-check of assumptions A2 and A4 on the signal cube (for experts)")
    verify.add_argument("--scheduler", metavar="ADDRESS", default=None,
                        help="run the solves on a Dask cluster at ADDRESS (needs dask[distributed])")
    verify.add_argument("--adversarial", type=int, default=None,
                        help="rounds of the adversarial pattern search per property (default 4; 0: none)")
    verify.add_argument("--no-corners", action="store_true", help="skip the corners of the signal cube")
    verify.add_argument("--transfers", choices=["ic", "naive"], default="ic")
    verify.add_argument("--format", choices=["text", "json"], default="text")
    verify.set_defaults(run=_run_verify)

    paper = commands.add_parser("paper", parents=[common], help="the paper's claims, each reproduced or refuted",
                                description="Reproduce or refute every numbered claim of the paper: "
                                            "Lemma 1, Proposition 1, Lemma 2, Corollary 1, eq. (7), "
                                            "Propositions 2 and 3, Examples 1-4.")
    paper.add_argument("--format", choices=["text", "json", "markdown", "latex"], default="text")
    paper.add_argument("--quick", action="store_true", help="smaller sweeps (seconds, for tests)")
    paper.add_argument("--jobs", type=int, default=1,
                       help="processes for the N-sweeps of Propositions 2 and 3 (default 1; -1: one per core)")
    paper.add_argument("--scheduler", metavar="ADDRESS", default=None,
                       help="run the N-sweeps on a Dask cluster at ADDRESS (needs dask[distributed])")
    paper.set_defaults(run=_run_paper)

    report = commands.add_parser("report", parents=[common], help="the derivations with figures, as one PDF",
                                 description="Run the derivation scripts of the repository's derivations/ "
                                             "folder and build them into one PDF with pdflatex (DIR/main.pdf): "
                                             "Examples 1-4, Lemmas 1-2, Propositions 1-2 and Corollary 1 in "
                                             "the paper's order, each derived step by step by SymPy (formula, "
                                             "worked numbers, value) with its figures and where the printed "
                                             "paper differs. Takes about a minute.")
    report.add_argument("--out", required=True, metavar="DIR", help="folder for the sections, figures and PDF")
    report.add_argument("--only", metavar="NAME", default=None,
                        help="build one section (a script name in derivations/, e.g. example1)")
    report.set_defaults(run=_run_report)

    catalogue = commands.add_parser("catalogue", parents=[common], help="list the built-in economies")
    catalogue.set_defaults(run=_run_catalogue)

    return parser


def _split_signals(text):
    """The comma-separated items of ``--signals``, as stripped strings (solve checks the numbers)."""
    from .errors import ModelError

    items = [item.strip() for item in text.split(",")]
    empty = [k for k, item in enumerate(items, start=1) if not item]
    if empty:
        where = ", ".join(str(k) for k in empty)
        raise ModelError(f"--signals {text!r}: item {where} is empty; write one number per agent "
                         f"separated by commas, e.g. 0.12,0.87,0.45")
    return items


# ---------------------------------------------------------------- subcommands


def _run_solve(args):
    import symmech

    signals = _split_signals(args.signals)
    economy = symmech.load_model(args.model)
    backend = {} if args.backend is None else {"backend": args.backend}
    outcome = symmech.solve(economy, signals=signals, sigma=args.sigma.strip(), dps=args.dps,
                            transfers=args.transfers, check_assumptions=not args.no_check, **backend)
    precision = None
    if args.verify_precision:
        from .compare import precision_check
        precision = precision_check(outcome)
    data = outcome.to_dict()
    if precision is not None:
        data["precision"] = precision.to_dict()
    if args.format == "json":
        print(json.dumps(data, indent=2))
    elif args.format == "latex":
        print(_latex_table(outcome, data))
        if precision is not None:       # as LaTeX comments, so the output still compiles
            print("\n".join(f"% {line}" for line in precision.to_text().splitlines()))
    else:
        print(outcome.to_text())
        if precision is not None:
            print()
            print(precision.to_text())
    status = OK
    failed = [name for name, check in data["checks"].items() if check.get("holds") is False]
    if failed:
        names = ", ".join(_CHECK_NAMES.get(n, n).lower() for n in failed)
        print(f"symmech: check failed: {names}", file=sys.stderr)
        status = CHECK_FAILED
    if precision is not None and precision.flagged:
        print(f"symmech: precision check failed: {precision.worst} agrees with the rerun at "
              f"{precision.reference_dps} digits to only {precision.minimum} digits (needs "
              f"{precision.threshold}); rerun with a larger --dps", file=sys.stderr)
        status = PRECISION_FLAGGED
    return status


def _with_next_step(exc, args):
    """The AssumptionError ``exc`` with what to do next appended to its message."""
    import shlex

    from .errors import AssumptionError

    steps = f"see 'symmech check {shlex.quote(args.model)}' for every assumption and its constants"
    if not args.no_check:
        steps += ", or pass --no-check to skip this pre-check (experts only: results need A1-A4)"
    return AssumptionError(f"{exc}; {steps}", assumption=exc.assumption, agent=exc.agent,
                           witness=exc.witness)


def _run_check(args):
    import symmech

    economy = symmech.load_model(args.model)
    if args.certified:
        report = symmech.certify_assumptions(economy)
    else:
        options = {k: v for k, v in (("samples", args.samples), ("seed", args.seed)) if v is not None}
        report = symmech.check_assumptions(economy, **options)
    if args.format == "json":
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(report.to_text())
    # report.holds covers A1-A4; A3' (Proposition 3 only) is reported but does not fail the run.
    return OK if report.holds else CHECK_FAILED


def _run_derive(args):
    import symmech

    if args.general:
        examples = {"example1": 1, "example2": 2}
        if args.model not in examples:
            raise SymmechError(f"--general is for the catalogue's example1 and example2, not {args.model!r}; "
                               "drop --general to derive this economy with its own parameters")
        derivation = symmech.derive_example(examples[args.model])
    else:
        economy = symmech.load_model(args.model)
        if not args.no_check:
            symmech.require_assumptions(economy)
        derivation = symmech.derive(economy)
    if args.format == "json":
        print(json.dumps(derivation.to_dict(), indent=2))
    elif args.format == "latex":
        print(symmech.derivation_latex(derivation, standalone=args.standalone))
    else:
        print(derivation.to_text())
    return OK


def _run_verify(args):
    import symmech
    from .profiles import verify_profiles

    options = {k: v for k, v in (("profiles", args.profiles), ("adversarial", args.adversarial))
               if v is not None}
    report = verify_profiles(symmech.load_model(args.model), args.sigma.strip(), seed=args.seed,
                             dps=args.dps, jobs=args.jobs, transfers=args.transfers, progress=True,
                             scheduler=args.scheduler, check_assumptions=not args.no_check,
                             corners=not args.no_corners,
                             **options)
    print(json.dumps(report.to_dict(), indent=2) if args.format == "json" else report.to_text())
    if not report.holds:
        print(f"symmech: check failed: {', '.join(report.failed)}", file=sys.stderr)
        return CHECK_FAILED
    return OK


def _run_paper(args):
    from .paper import paper_claims, render_claims

    claims = paper_claims(quick=args.quick, progress=True, jobs=args.jobs, scheduler=args.scheduler)
    print(render_claims(claims, args.format))
    return OK


def _run_report(args):
    from .report import build_report

    progress = lambda line: print(f"symmech: {line}", file=sys.stderr, flush=True)
    pdf = build_report(args.out, only=args.only, progress=progress)
    print(pdf)
    return OK


def _run_catalogue(args):
    import symmech
    from .model import catalogue_names

    names = list(catalogue_names())
    width = max((len(n) for n in names), default=0)
    for name in names:
        print(f"{name:<{width}}  {symmech.load_model(name).name}")
    return OK


# ---------------------------------------------------------------- LaTeX


_TRANSFERS = {"ic": "IC transfers (eq. 4 + 7)", "naive": "naive transfers (eq. 2)"}
_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
                  "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}",
                  "^": r"\textasciicircum{}"}
_EXPONENT = re.compile(r"^([+-]?[0-9.]+)e([+-]?)0*([0-9]+)$")


def _latex_text(text):
    """Plain text made safe for LaTeX: special characters escaped, line breaks as spaces."""
    text = " ".join(str(text).split())
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in text)


def _latex_number(text):
    """A decimal string such as ``-1.5e-12`` as LaTeX math: ``$-1.5 \\times 10^{-12}$``."""
    text = str(text)
    match = _EXPONENT.match(text)
    if match:
        mantissa, sign, power = match.groups()
        return f"${mantissa} \\times 10^{{{'-' if sign == '-' else ''}{power}}}$"
    if re.fullmatch(r"[+-]?[0-9.]+", text):
        return f"${text}$"
    return _latex_text(text)


def _latex_table(outcome, data):
    """One tabular: a row per agent, then price, sigma, budget surplus and the checks."""
    from ._numbers import format_number

    rows = [r"\begin{tabular}{rrrrr}", r"\hline",
            rf"\multicolumn{{5}}{{l}}{{{_latex_text(outcome.economy.name)}}} \\", r"\hline",
            r"Agent & $s_i$ & $q_i$ & $t_i$ & $u_i - t_i$ \\", r"\hline"]
    columns = zip(outcome.signals, data["allocation"], data["transfers"], data["utilities"])
    for agent, (signal, q, t, u) in enumerate(columns, start=1):
        cells = [str(agent), _latex_number(format_number(signal, outcome.dps)),
                 _latex_number(q), _latex_number(t), _latex_number(u)]
        rows.append(" & ".join(cells) + r" \\")
    rows.append(r"\hline")
    summary = [rf"Price $p^\sigma(s)$ = {_latex_number(data['price'])}",
               rf"$\sigma$ = {_latex_number(data['sigma'])}, {data['dps']} digits, "
               rf"{_TRANSFERS.get(outcome.transfers_kind, _latex_text(outcome.transfers_kind))}",
               rf"Budget surplus $\sum_i t_i$ = {_latex_number(data['budget_surplus'])}"]
    summary += [_latex_check(name, check) for name, check in data["checks"].items()]
    rows += [rf"\multicolumn{{5}}{{l}}{{{line}}} \\" for line in summary]
    rows += [r"\hline", r"\end{tabular}"]
    return "\n".join(rows)


def _latex_check(name, check):
    """One check as a line: its name, holds or fails, then its other fields."""
    parts = [_latex_text(_CHECK_NAMES.get(name, name.replace("_", " ").capitalize()))]
    if "holds" in check:
        parts.append("holds" if check["holds"] else r"\textbf{fails}")
    details = []
    for key, value in check.items():
        if key == "holds" or value is None:
            continue
        shown = str(value) if isinstance(value, int) else _latex_number(value)
        details.append(f"{_latex_text(key.replace('_', ' '))} {shown}")
    return ": ".join([" ".join(parts)] + ([", ".join(details)] if details else []))
