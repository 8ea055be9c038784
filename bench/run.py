"""Benchmark: symmech against its baselines, every ratio measured in one run.

Measures
(a) dps 30, 5-agent tanh economy, in-process: one ``baseline_nested.run()`` against the best of 3
    ``symmech.solve``; whole process: ``python bench/baseline_nested.py`` against the best of 3
    ``symmech solve tanh ...`` runs (both routes must agree on price, allocation and transfers to
    1e-20);
(b) float64 at scale, N = 1000 cubic economy (bench/cubic1000.toml): ``symmech solve
    --backend float64`` as a whole process (start-up, model file, pre-check, every transfer and
    check) against the in-process numpy loop of bench/baseline_numpy.py (one transfer per agent);
    both must agree on the transfers to 1e-8;
(c) growth: in-process float64 ``symmech.solve`` at N = 1000 over N = 250;
(d) precision: in-process ``symmech.solve`` of (a) at dps 100 over dps 30.
Prints a table (wall-clock ratios, and CPU-time ratios beside them: the machine may be shared)
and saves bench/results-latest.json.

    python bench/run.py                  # everything (the nested baseline takes minutes, twice)
    python bench/run.py --skip-baseline  # reuse the nested baseline's timings in bench/baselines.json
    python bench/run.py --record         # also write the measured nested baseline into baselines.json

Exit status: 0 when the routes agree and every target is met, 1 on disagreement (or symmech
missing), 2 when a speed target is not met.
"""

from pathlib import Path
import argparse
import datetime
import json
import os
import platform
import resource
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
# issue 6's bounds on cost ratios (symmech over its reference): at most this much
BOUNDS = {"float64 N=1000 whole process / numpy loop": 3, "float64 growth N=1000 / N=250": 20,
          "dps 100 / dps 30": 6}
CLI_ARGS = ["solve", "tanh", "--signals", ",".join(SIGNALS), "--sigma", SIGMA, "--dps", str(DPS)]
SCALE_N, SMALL_N = 1000, 250
SCALE_AGREEMENT = 1e-8
HIGH_DPS = 100

sys.path.insert(0, str(HERE))
import baseline_nested  # noqa: E402  (the baselines live beside this script)
import baseline_numpy  # noqa: E402


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


def _time_symmech(symmech, economy, dps=DPS, repeats=REPEATS):
    """Best of ``repeats`` solves (wall and CPU); also every wall time."""
    times, cpus, outcome = [], [], None
    for _ in range(repeats):
        start, cpu = time.perf_counter(), time.process_time()
        outcome = symmech.solve(economy, SIGNALS, SIGMA, dps=dps)
        times.append(time.perf_counter() - start)
        cpus.append(time.process_time() - cpu)
    return min(times), times, outcome, min(cpus)


def _children_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _time_process(cmd):
    """(wall seconds, the finished process, CPU seconds of the child)."""
    cpu = _children_cpu()
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode not in (0, 1):  # symmech solve exits 1 when a check fails; still timed
        raise RuntimeError(f"{' '.join(map(str, cmd))} exited {done.returncode}:\n{done.stderr[-2000:]}")
    done.cpu = _children_cpu() - cpu
    return elapsed, done


def _best(function, repeats):
    """(best wall, best CPU, every wall time, the last result) of ``repeats`` calls."""
    walls, cpus, result = [], [], None
    for _ in range(repeats):
        start, cpu = time.perf_counter(), time.process_time()
        result = function()
        walls.append(time.perf_counter() - start)
        cpus.append(time.process_time() - cpu)
    return min(walls), min(cpus), walls, result


def _scale_model(n):
    """bench/cubicN.toml (written by baseline_numpy if missing) and its profile."""
    path = baseline_numpy.model_path(n)
    if not path.exists():
        path.write_text(baseline_numpy.model_text(n))
    return path, baseline_numpy.profile(n)


def _has_backend_flag(cli):
    done = subprocess.run([str(cli), "solve", "--help"], capture_output=True, text=True)
    return "--backend" in done.stdout


_API_SOLVE = """import json, sys
import symmech
path, signals, sigma = sys.argv[1], sys.argv[2].split(","), sys.argv[3]
print(json.dumps(symmech.solve(symmech.load_model(path), signals, sigma, backend="float64").to_dict()))
"""


def _measure_scale(symmech, cli):
    """float64 at N = 1000 against the numpy loop, and the growth from N = 250."""
    path, signals = _scale_model(SCALE_N)
    loop_wall, loop_cpu, loop_times, theirs = _best(lambda: baseline_numpy.run(path, signals), 2)
    print(f"numpy loop N = {SCALE_N}: best {loop_wall:.3f} s of {', '.join(f'{t:.3f}' for t in loop_times)}")
    if _has_backend_flag(cli):
        cmd = [str(cli), "solve", str(path), "--signals", ",".join(signals), "--sigma", baseline_numpy.SIGMA,
               "--backend", "float64", "--format", "json"]
        how = "symmech solve --backend float64 (CLI)"
    else:
        cmd = [sys.executable, "-c", _API_SOLVE, str(path), ",".join(signals), baseline_numpy.SIGMA]
        how = "python -c 'symmech.solve(..., backend=\"float64\")' (the CLI has no --backend yet)"
    runs = [_time_process(cmd) for _ in range(2)]
    cli_wall = min(r[0] for r in runs)
    cli_cpu = min(r[1].cpu for r in runs)
    print(f"{how} N = {SCALE_N}: best {cli_wall:.3f} s of {', '.join(f'{r[0]:.3f}' for r in runs)}")
    ours = json.loads(runs[-1][1].stdout)["transfers"]
    difference = float(max(abs(float(a) - b) for a, b in zip(ours, theirs)))
    scale = float(max(1.0, max(abs(b) for b in theirs)))

    small_path, small_signals = _scale_model(SMALL_N)
    small = symmech.load_model(small_path)
    large = symmech.load_model(path)
    run = lambda e, sig: symmech.solve(e, sig, baseline_numpy.SIGMA, backend="float64")  # noqa: E731
    small_wall, small_cpu, small_times, _ = _best(lambda: run(small, small_signals), 3)
    large_wall, large_cpu, large_times, _ = _best(lambda: run(large, signals), 2)
    print(f"symmech.solve float64 N = {SMALL_N}: best {small_wall:.3f} s; N = {SCALE_N}: best {large_wall:.3f} s")
    return {"loop": (loop_wall, loop_cpu), "cli": (cli_wall, cli_cpu), "how": how, "command": cmd[:3],
            "small": (small_wall, small_cpu), "large": (large_wall, large_cpu),
            "difference": difference, "agree": bool(difference <= SCALE_AGREEMENT * scale)}


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
    head = ("measurement", "baseline s", "symmech s", "ratio (wall)", "ratio (CPU)", "target", "met")
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
    best, times, outcome, best_cpu = _time_symmech(symmech, economy)
    print(f"symmech.solve: best {best:.3f} s of {', '.join(f'{t:.3f}' for t in times)}")
    cli_times = []
    for _ in range(REPEATS):
        elapsed, done = _time_process([str(cli), *CLI_ARGS])
        cli_times.append(elapsed)
    print(f"symmech CLI: best {min(cli_times):.3f} s of {', '.join(f'{t:.3f}' for t in cli_times)}")
    high, high_times, _, high_cpu = _time_symmech(symmech, economy, dps=HIGH_DPS)
    print(f"symmech.solve dps {HIGH_DPS}: best {high:.3f} s of {', '.join(f'{t:.3f}' for t in high_times)}")
    scale = _measure_scale(symmech, cli)

    ours = _numbers(outcome.price, outcome.allocation, outcome.transfers)
    diff, where = _largest_difference(ours, baseline["numbers"])
    agree = diff <= AGREEMENT and scale["agree"]
    ours_s = {"in-process": best, "whole process": min(cli_times)}
    rows, results, all_met = [], [], True
    for measure, targets in TARGETS.items():
        ratio = baseline[measure] / ours_s[measure]
        for issue, target in targets.items():
            met = ratio >= target
            all_met &= met
            rows.append((f"{measure} ({issue})", f"{baseline[measure]:.2f}", f"{ours_s[measure]:.3f}",
                         f"{ratio:.1f}x faster", "", f">= {target}x", "yes" if met else "NO"))
            results.append({"measurement": measure, "issue": issue, "baseline_s": baseline[measure],
                            "symmech_s": ours_s[measure], "ratio": ratio, "target": target, "met": met})
    costs = {"float64 N=1000 whole process / numpy loop": (scale["loop"], scale["cli"]),
             "float64 growth N=1000 / N=250": (scale["small"], scale["large"]),
             "dps 100 / dps 30": ((best, best_cpu), (high, high_cpu))}
    for measure, ((ref_wall, ref_cpu), (our_wall, our_cpu)) in costs.items():
        bound = BOUNDS[measure]
        ratio, cpu_ratio = our_wall / ref_wall, our_cpu / ref_cpu
        met = ratio <= bound
        all_met &= met
        rows.append((f"{measure} (issue 6)", f"{ref_wall:.3f}", f"{our_wall:.3f}", f"{ratio:.2f}x",
                     f"{cpu_ratio:.2f}x", f"<= {bound}x", "yes" if met else "NO"))
        results.append({"measurement": measure, "issue": "issue 6", "reference_s": ref_wall,
                        "symmech_s": our_wall, "ratio": ratio, "cpu_ratio": cpu_ratio, "reference_cpu_s": ref_cpu,
                        "symmech_cpu_s": our_cpu, "bound": bound, "met": met})
    print()
    _table(rows)
    print(f"\nagreement (price, allocation, transfers): largest |difference| "
          f"{mpmath.nstr(diff, 3)} at {where} -> {'OK' if diff <= AGREEMENT else 'FAIL'} (limit 1e-20)")
    print(f"agreement float64 N = {SCALE_N} vs the numpy loop (transfers): largest |difference| "
          f"{scale['difference']:.2e} -> {'OK' if scale['agree'] else 'FAIL'} (limit {SCALE_AGREEMENT:g})")
    print(f"baseline IC grid: {len(baseline['ic_grid'])} misreport(s) per agent "
          f"(reduced from 21; see bench/README.md)")
    print(f"float64 whole process measured with: {scale['how']}")

    LATEST.write_text(json.dumps({
        "measured": datetime.datetime.now().isoformat(timespec="seconds"),
        "machine": _machine(), "economy": origin,
        "baseline_source": "bench/baselines.json" if args.skip_baseline else "measured in this run",
        "baseline": {k: baseline[k] for k in ("in-process", "whole process", "recorded")},
        "symmech": {"solve_times_s": times, "cli_times_s": cli_times, f"solve_dps{HIGH_DPS}_times_s": high_times,
                    "solver": {k: str(getattr(getattr(outcome, "solver", None), k, None))
                               for k in ("method", "iterations", "nodes", "residual", "converged")}},
        "scale": {k: v for k, v in scale.items() if k != "command"},
        "results": results,
        "agreement": {"largest_difference": mpmath.nstr(diff, 5), "at": where, "limit": "1e-20",
                      "holds": diff <= AGREEMENT,
                      "float64_vs_numpy_loop": scale["difference"], "float64_limit": SCALE_AGREEMENT},
        "symmech_numbers": ours, "baseline_numbers": baseline["numbers"],
    }, indent=2) + "\n")
    print(f"saved {LATEST.relative_to(HERE.parent)}")
    if not agree:
        return 1
    return 0 if all_met else 2


if __name__ == "__main__":
    sys.exit(main())
