"""Benchmark: symmech.solve against the straightforward nested-findroot baseline, in one run.

Measures (a) in-process: one ``baseline_nested.run()`` against the best of 3 ``symmech.solve``;
(b) whole process: ``python bench/baseline_nested.py`` against the best of 3
``symmech solve tanh ...`` runs, both as subprocesses. Checks that the two routes agree on the
price, allocation and transfers to 1e-20, prints a table and saves bench/results-latest.json.

    python bench/run.py                  # everything (the baseline takes minutes, twice)
    python bench/run.py --skip-baseline  # reuse the baseline timings in bench/baselines.json
    python bench/run.py --record         # also write the measured baseline into baselines.json

Exit status: 0 when the routes agree and every target is met, 1 on disagreement (or symmech
missing), 2 when a speed target is not met.
"""

from pathlib import Path
import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time

import mpmath

__all__ = ["main", "TARGETS", "AGREEMENT"]

HERE = Path(__file__).resolve().parent
BASELINES = HERE / "baselines.json"
LATEST = HERE / "results-latest.json"
SIGNALS = ["0.12", "0.87", "0.45", "0.66", "0.31"]
SIGMA = "0.1"
DPS = 30
REPEATS = 3
AGREEMENT = mpmath.mpf(10) ** -20
# measurement -> {issue: least speed-up}
TARGETS = {"in-process": {"issue 2": 50, "issue 6": 100},
           "whole process": {"issue 2": 20, "issue 6": 25}}
CLI_ARGS = ["solve", "tanh", "--signals", ",".join(SIGNALS), "--sigma", SIGMA, "--dps", str(DPS)]

sys.path.insert(0, str(HERE))
import baseline_nested  # noqa: E402  (the baseline lives beside this script)


def _machine():
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu or platform.processor(), "cores": os.cpu_count(),
            "python": platform.python_version(), "mpmath": mpmath.__version__,
            "mpmath_backend": mpmath.libmp.BACKEND, "platform": platform.platform(),
            "load_average": list(os.getloadavg())}


def _economy(symmech):
    """The benchmark economy: the catalogue's "tanh", or the same economy built here."""
    try:
        return symmech.load_model("tanh"), "catalogue 'tanh'"
    except Exception as exc:  # missing loader or catalogue file: build it from SymPy
        import sympy
        from symmech.model import Q, signal_symbols
        R = sympy.Rational
        s = signal_symbols(baseline_nested.N)
        common = R(baseline_nested.B) * sum(x**2 for x in s) / len(s)
        utilities = []
        for i, si in enumerate(s):
            a, m, c = (R(v[i].numerator, v[i].denominator) for v in
                       (baseline_nested.A, baseline_nested.M, baseline_nested.C))
            utilities.append((a * si + common) * Q - m * Q**2 / 2 - c * sympy.log(sympy.cosh(Q)))
        return symmech.Economy(utilities, name="tanh (built in bench/run.py)"), \
            f"built from SymPy ({type(exc).__name__}: {exc})"


def _time_symmech(symmech, economy):
    """Best of REPEATS solves; also the first (cold) one."""
    times, outcome = [], None
    for _ in range(REPEATS):
        start = time.perf_counter()
        outcome = symmech.solve(economy, SIGNALS, SIGMA, dps=DPS)
        times.append(time.perf_counter() - start)
    return min(times), times, outcome


def _time_process(cmd):
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode not in (0, 1):  # symmech solve exits 1 when a check fails; still timed
        raise RuntimeError(f"{' '.join(map(str, cmd))} exited {done.returncode}:\n{done.stderr[-2000:]}")
    return elapsed, done


def _numbers(price, allocation, transfers):
    """Decimal strings with a few digits past DPS, so a difference below 1e-30 still shows."""
    digits = DPS + 5
    with mpmath.workdps(DPS + 10):
        return {"price": mpmath.nstr(price, digits), "allocation": [mpmath.nstr(x, digits) for x in allocation],
                "transfers": [mpmath.nstr(x, digits) for x in transfers]}


def _largest_difference(ours, theirs):
    """Largest |difference| over price, allocation and transfers, and where."""
    worst, where = mpmath.mpf(0), ""
    with mpmath.workdps(DPS + 10):
        pairs = [("price", ours["price"], theirs["price"])]
        for key in ("allocation", "transfers"):
            pairs += [(f"{key}[{k}]", a, b) for k, (a, b) in enumerate(zip(ours[key], theirs[key]), 1)]
        for name, a, b in pairs:
            d = abs(mpmath.mpf(a) - mpmath.mpf(b))
            if d > worst or not where:
                worst, where = d, name
    return worst, where


def _measure_baseline():
    print("baseline in-process run() (1 run) ...", flush=True)
    start = time.perf_counter()
    out = baseline_nested.run()
    in_process = time.perf_counter() - start
    print(f"  {in_process:.1f} s", flush=True)
    print("baseline whole process (1 run) ...", flush=True)
    whole, _ = _time_process([sys.executable, str(HERE / "baseline_nested.py")])
    print(f"  {whole:.1f} s", flush=True)
    return {"in-process": in_process, "whole process": whole,
            "numbers": _numbers(out["price"], out["allocation"], out["transfers"]),
            "counts": out["counts"], "counts_solve": out["counts_solve"], "ic_grid": out["ic_grid"],
            "machine": _machine(), "recorded": datetime.datetime.now().isoformat(timespec="seconds")}


def _table(rows):
    head = ("measurement", "baseline s", "symmech s", "ratio", "target", "met")
    lines = [head] + rows
    widths = [max(len(str(r[k])) for r in lines) for k in range(len(head))]
    for r in lines:
        print("  ".join(str(x).ljust(w) for x, w in zip(r, widths)))


def main(argv=None):
    parser = argparse.ArgumentParser(description="symmech vs the nested-findroot baseline")
    parser.add_argument("--skip-baseline", action="store_true",
                        help="reuse the baseline timings and numbers in bench/baselines.json")
    parser.add_argument("--record", action="store_true",
                        help="write the measured baseline timings into bench/baselines.json")
    args = parser.parse_args(argv)
    if args.skip_baseline and args.record:
        parser.error("--record needs a measured baseline; drop --skip-baseline")

    if args.skip_baseline:
        baseline = json.loads(BASELINES.read_text())
        print(f"baseline: reusing {BASELINES.name} (recorded {baseline['recorded']})")
    else:
        baseline = _measure_baseline()
        if args.record:
            BASELINES.write_text(json.dumps(baseline, indent=2) + "\n")
            print(f"recorded the baseline in {BASELINES.name}")

    try:
        import symmech
        symmech.solve
    except (ImportError, AttributeError) as exc:
        print(f"symmech.solve is not available ({exc}); nothing to compare", file=sys.stderr)
        return 1
    cli = Path(sys.executable).parent / "symmech"

    economy, origin = _economy(symmech)
    print(f"economy: {origin}")
    best, times, outcome = _time_symmech(symmech, economy)
    print(f"symmech.solve: best {best:.3f} s of {', '.join(f'{t:.3f}' for t in times)}")
    cli_times = []
    for _ in range(REPEATS):
        elapsed, done = _time_process([str(cli), *CLI_ARGS])
        cli_times.append(elapsed)
    print(f"symmech CLI: best {min(cli_times):.3f} s of {', '.join(f'{t:.3f}' for t in cli_times)}")

    ours = _numbers(outcome.price, outcome.allocation, outcome.transfers)
    diff, where = _largest_difference(ours, baseline["numbers"])
    agree = diff <= AGREEMENT
    ours_s = {"in-process": best, "whole process": min(cli_times)}
    rows, results, all_met = [], [], True
    for measure, targets in TARGETS.items():
        ratio = baseline[measure] / ours_s[measure]
        for issue, target in targets.items():
            met = ratio >= target
            all_met &= met
            rows.append((f"{measure} ({issue})", f"{baseline[measure]:.2f}", f"{ours_s[measure]:.3f}",
                         f"{ratio:.1f}x", f">= {target}x", "yes" if met else "NO"))
            results.append({"measurement": measure, "issue": issue, "baseline_s": baseline[measure],
                            "symmech_s": ours_s[measure], "ratio": ratio, "target": target, "met": met})
    print()
    _table(rows)
    print(f"\nagreement (price, allocation, transfers): largest |difference| "
          f"{mpmath.nstr(diff, 3)} at {where} -> {'OK' if agree else 'FAIL'} (limit 1e-20)")
    print(f"baseline IC grid: {len(baseline['ic_grid'])} misreport(s) per agent "
          f"(reduced from 21; see bench/README.md)")

    LATEST.write_text(json.dumps({
        "measured": datetime.datetime.now().isoformat(timespec="seconds"),
        "machine": _machine(), "economy": origin,
        "baseline_source": "bench/baselines.json" if args.skip_baseline else "measured in this run",
        "baseline": {k: baseline[k] for k in ("in-process", "whole process", "recorded")},
        "symmech": {"solve_times_s": times, "cli_times_s": cli_times,
                    "solver": {k: str(getattr(getattr(outcome, "solver", None), k, None))
                               for k in ("method", "iterations", "nodes", "residual", "converged")}},
        "results": results,
        "agreement": {"largest_difference": mpmath.nstr(diff, 5), "at": where, "limit": "1e-20", "holds": agree},
        "symmech_numbers": ours, "baseline_numbers": baseline["numbers"],
    }, indent=2) + "\n")
    print(f"saved {LATEST.relative_to(HERE.parent)}")
    if not agree:
        return 1
    return 0 if all_met else 2


if __name__ == "__main__":
    sys.exit(main())
