"""Many-profile verification (symmech.profiles, `symmech verify`): verdicts checked against the
closed forms, the search against its start, parallel against serial, exit statuses."""

from fractions import Fraction
import json

import sympy

import symmech
from symmech.cli import main
from symmech.profiles import corner_profiles, random_profiles, verify_profiles

SMALL = dict(profiles=4, adversarial=1, corners=False)


def test_corners_all_for_small_n_and_a_sample_beyond():
    corners = corner_profiles(3, seed=0)
    assert len(corners) == 8 and len(set(corners)) == 8
    assert all(x in (0, 1) for c in corners for x in c)
    many = corner_profiles(12, seed=0)
    assert len(many) == 64 and len(set(many)) == 64


def test_random_profiles_are_seeded_exact_and_in_the_cube():
    a, b = random_profiles(5, 10, seed=3), random_profiles(5, 10, seed=3)
    assert a == b and a != random_profiles(5, 10, seed=4)
    assert all(isinstance(x, Fraction) and 0 <= x <= 1 for p in a for x in p)


def test_above_the_threshold_every_property_holds():
    # example1's exact BS threshold (symbolic layer) is 3/7; sigma = 1 is above it
    assert symmech.derive("example1").bs_threshold < 1
    report = verify_profiles("example1", "1", **SMALL)
    assert report.holds and report.failed == []
    assert report.worst_of("BS").value >= 0


def test_at_sigma_zero_the_deficit_is_found_and_its_witness_is_a_real_deficit():
    report = verify_profiles("example1", "0", profiles=6, adversarial=2, corners=False)
    assert not report.holds and "BS" in report.failed
    worst = report.worst_of("BS")
    # independent: the closed-form surplus with its piecewise transfers at the witness profile
    d = symmech.derive("example1")
    values = {s: sympy.Rational(x.numerator, x.denominator) for s, x in zip(d.signals, worst.witness.signals)}
    values[d.sigma] = 0
    exact = sum(pv.transfer.subs(values) for pv in d.pivot)
    assert exact < 0 and abs(float(exact) - float(worst.value)) < 1e-9


def test_the_adversarial_search_never_ends_better_than_it_started():
    start = verify_profiles("example1", "0", profiles=6, adversarial=0, corners=False)
    searched = verify_profiles("example1", "0", profiles=6, adversarial=2, corners=False)
    assert searched.worst_of("BS").value <= start.worst_of("BS").value
    assert searched.counts.get("adversarial", 0) > 0


def test_naive_transfers_fail_ic():
    report = verify_profiles("example1", "1", transfers="naive", **SMALL)
    assert "IC" in report.failed and report.worst_of("IC").value > 1e-6


def test_parallel_results_equal_serial():
    serial = verify_profiles("heterogeneous", "1", profiles=3, adversarial=1, corners=False, jobs=1)
    parallel = verify_profiles("heterogeneous", "1", profiles=3, adversarial=1, corners=False, jobs=2)
    assert serial.to_dict() == parallel.to_dict()


def test_cli_verify_exit_status_and_json(capsys):
    assert main(["verify", "example1", "--sigma", "1", "--profiles", "3", "--adversarial", "1",
                 "--no-corners", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["holds"] is True and set(data["properties"]) >= {"budget_surplus", "incentive_compatibility"}
    assert main(["verify", "example1", "--sigma", "0", "--profiles", "3", "--adversarial", "1",
                 "--no-corners"]) == 1
    captured = capsys.readouterr()
    assert "BS" in captured.err and "FAILS" in captured.out
    assert main(["verify", "example1", "--sigma", "-1"]) == 2
