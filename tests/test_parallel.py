"""symmech.parallel.map_profiles: the same results, in the same order, serially and in processes."""

import sys
import time

import pytest

import symmech
from symmech.errors import ModelError, SymmechError
from symmech.parallel import map_profiles

PROFILES = [("0.1", "0.2", "0.3", "0.4", "0.5", "0.6"), ("0.9", "0.15", "0.4", "0.55", "0.2", "0.7"),
            ("0", "1", "0.5", "0.25", "0.75", "0.5"), ("0.33", "0.33", "0.33", "0.33", "0.33", "0.34")]


def solve_profile(signals):
    """One float64 solve of Example 2, as the JSON object (module level: picklable)."""
    return symmech.solve("example2", signals, "0.1", backend="float64").to_dict()


def slow_when_small(k):
    """Finishes later the smaller k is, so completion order differs from input order."""
    time.sleep(0.05 * (4 - k))
    return k * k


def refuse(signals):
    return symmech.solve("example2", signals, "0.1", backend="float64")


def test_processes_give_the_serial_results_in_input_order():
    serial = [solve_profile(p) for p in PROFILES]
    assert map_profiles(solve_profile, PROFILES) == serial
    assert map_profiles(solve_profile, PROFILES, jobs=2) == serial
    assert map_profiles(slow_when_small, range(5), jobs=2) == [0, 1, 4, 9, 16]


def test_progress_goes_to_stderr(capsys):
    assert map_profiles(abs, [-1, -2, 3], progress=True, label="verify") == [1, 2, 3]
    out, err = capsys.readouterr()
    assert out == ""
    assert "verify: 3/3 (100%)" in err and err.endswith("\n")


def test_an_error_in_a_worker_is_raised_with_its_type():
    with pytest.raises(ModelError):
        map_profiles(refuse, [PROFILES[0], ("0.1", "2")], jobs=2)


@pytest.mark.parametrize("jobs", [0, -2, 1.5, True])
def test_jobs_must_be_a_count(jobs):
    with pytest.raises(ModelError):
        map_profiles(abs, [1], jobs=jobs)


def test_a_scheduler_without_dask_names_the_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "dask", None)            # as if Dask were not installed
    monkeypatch.setitem(sys.modules, "dask.distributed", None)
    with pytest.raises(SymmechError) as info:
        map_profiles(abs, [1, 2], scheduler="tcp://127.0.0.1:8786")
    assert "pip install 'dask[distributed]'" in str(info.value)


def test_a_dask_cluster_gives_the_serial_results():
    """The same verification on a local Dask cluster (loopback only) and serially."""
    distributed = pytest.importorskip("distributed")
    from symmech.profiles import verify_profiles
    options = dict(profiles=4, adversarial=0, corners=False)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        on_cluster = verify_profiles("example1", "1", scheduler=cluster.scheduler_address, **options)
    assert on_cluster.to_dict() == verify_profiles("example1", "1", **options).to_dict()
