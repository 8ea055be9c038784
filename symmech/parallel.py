"""One function over many profiles: serially, in processes on this machine, or on a Dask cluster.

:func:`map_profiles` is what ``symmech verify`` and the N-sweeps use for their independent solves.
Results come back in the order of the items and are the same objects a serial loop would give
(the function must be deterministic: every solve in symmech is). ``jobs`` > 1 runs joblib's
process pool (loky) on this machine; ``scheduler`` (an address such as ``tcp://host:8786``, or a
``dask.distributed.Client``) runs the same calls on a Dask cluster, importing Dask only then.
Progress goes to stderr as one updating line, with no extra dependency.
"""

import sys
import time

from .errors import ModelError, SymmechError

__all__ = ["map_profiles"]

_EVERY = 0.2          # seconds between progress updates


class _Progress:
    """'label: done/total (pct%) elapsed' on stderr, rewritten in place."""

    def __init__(self, total, label, stream=None):
        self.total, self.label = total, label
        self.stream = stream or sys.stderr
        self.done = 0
        self.start = self.shown = time.perf_counter()
        self._show(force=True)

    def step(self, count=1):
        self.done += count
        self._show(force=self.done >= self.total)

    def _show(self, force=False):
        now = time.perf_counter()
        if not force and now - self.shown < _EVERY:
            return
        self.shown = now
        percent = 100 * self.done // self.total if self.total else 100
        self.stream.write(f"\r{self.label}: {self.done}/{self.total} ({percent}%) {now - self.start:.1f} s")
        self.stream.flush()

    def close(self):
        self._show(force=True)
        self.stream.write("\n")
        self.stream.flush()


class _Silent:
    def step(self, count=1):
        pass

    def close(self):
        pass


def map_profiles(function, items, jobs=1, scheduler=None, progress=False, label="profiles"):
    """``[function(x) for x in items]``, possibly in parallel; results in the order of ``items``.

    Parameters
    ----------
    function : a picklable callable (a module-level function or a functools.partial of one)
    items : the inputs, e.g. signal profiles
    jobs : processes on this machine (1: serial in this process; -1: one per core)
    scheduler : None, a Dask scheduler address ("tcp://host:8786") or a dask.distributed.Client;
        when given, ``jobs`` is ignored and the calls run on that cluster
    progress : write a progress line to stderr
    label : the progress line's name

    An exception raised by ``function`` is raised again here, with its type.

    Examples
    --------
    >>> map_profiles(abs, [-3, 1, -2])
    [3, 1, 2]
    """
    items = list(items)
    if not (jobs is None or (isinstance(jobs, int) and not isinstance(jobs, bool) and (jobs >= 1 or jobs == -1))):
        raise ModelError([f"jobs is {jobs!r}; use a whole number >= 1, or -1 for one process per core"])
    report = _Progress(len(items), label) if progress else _Silent()
    try:
        if scheduler is not None:
            return _on_dask(function, items, scheduler, report)
        if jobs in (None, 1) or len(items) <= 1:
            results = []
            for item in items:
                results.append(function(item))
                report.step()
            return results
        return _on_joblib(function, items, jobs, report)
    finally:
        report.close()


def _on_joblib(function, items, jobs, report):
    from joblib import Parallel, delayed
    results = []
    for result in Parallel(n_jobs=jobs, return_as="generator")(delayed(function)(x) for x in items):
        results.append(result)
        report.step()
    return results


def _on_dask(function, items, scheduler, report):
    try:
        from dask.distributed import Client, as_completed
    except ImportError:
        raise SymmechError("a Dask scheduler was given, but Dask is not installed; install it with "
                           "pip install 'dask[distributed]' (or run without --scheduler)") from None
    own = not isinstance(scheduler, Client)
    client = Client(scheduler) if own else scheduler
    try:
        futures = client.map(function, items, pure=False)
        for _ in as_completed(futures):
            report.step()
        return client.gather(futures)
    finally:
        if own:
            client.close()
