"""Concurrent fitting of the ensemble's members: lanes and thread caps.

All torch members share one lane and fit one after another (each uses all of
torch's intra-op threads); every other member has a lane of its own. Up to
``n_jobs`` lanes run at once in threads, and while ``k > 1`` run side by
side on ``C`` cores, the other members' thread parameters are capped at
``max(1, C // k)``. See "Concurrency" in
:class:`~sklensemble.SoftVotingEnsemble`.
"""

import numbers
import threading
import time

from joblib import cpu_count, effective_n_jobs
from sklearn.pipeline import Pipeline
from sklearn.utils.parallel import Parallel, delayed

from ._interrupt import check_stop, current_stop, stop_on
from ._sklearn_private import _routing_enabled
from ._utils import _final_step

# Parameter names through which estimators set their thread count.
_THREAD_PARAMS = ("n_jobs", "nthread", "nthreads", "num_threads", "num_thread")


def _is_torch(est):
    return bool(getattr(_final_step(est), "_torch_member", False))


def _sample_weight_kwargs(est, sample_weight):
    if sample_weight is None:
        return {}
    if isinstance(est, Pipeline) and not _routing_enabled():
        return {f"{est.steps[-1][0]}__sample_weight": sample_weight}
    return {"sample_weight": sample_weight}


def _member_error(name, est, exc):
    """The member's exception with its name prepended (same type if possible)."""
    message = f"Member {name!r} ({type(est).__name__}) failed to fit: {exc}"
    try:
        return type(exc)(message)
    except Exception:
        return RuntimeError(message)


def _fit_lane(lane, X, y, sample_weights, verbose, stop=None):
    """Fit a lane's members one after another; return [(name, seconds)].

    ``sample_weights`` maps each member's name to its weights or None.
    ``stop``, set when the ensemble's fit is interrupted, ends the lane
    before its next member and its networks before their next batch.
    """
    times = []
    with stop_on(stop or current_stop()):
        for name, est in lane:
            check_stop()
            start = time.perf_counter()
            try:
                est.fit(X, y, **_sample_weight_kwargs(est, sample_weights[name]))
            except Exception as exc:
                raise _member_error(name, est, exc) from exc
            times.append((name, time.perf_counter() - start))
            if verbose:
                print(f"[SoftVotingEnsemble] fitted {name!r} in {times[-1][1]:.2f}s")
    return times


def _plan_lanes(clones, n_jobs):
    """``(lanes, n_parallel)``: one lane holding every torch member, then one
    lane per other member, and how many lanes run at once.

    When lanes run side by side, the clones' own threads are capped at an
    equal share of the cores (in place; torch's count is never changed).
    """
    torch_lane = [(n, e) for n, e in clones if _is_torch(e)]
    others = [[(n, e)] for n, e in clones if not _is_torch(e)]
    lanes = ([torch_lane] if torch_lane else []) + others
    n_parallel = min(effective_n_jobs(n_jobs), len(lanes))
    if n_parallel > 1:
        threads = max(1, cpu_count() // n_parallel)
        for _, est in clones:
            _cap_threads(est, threads)
    return lanes, n_parallel


def _fit_lanes(lanes, n_parallel, X, y, sample_weights, verbose):
    """Fit the lanes' members in place, ``n_parallel`` lanes at a time;
    return ``{name: seconds}``."""
    args = [(lane, X, y, sample_weights, verbose) for lane in lanes]
    if n_parallel > 1:
        # Lanes fit the clones in place: they must share this process's
        # memory even under a process or Dask joblib backend. An
        # interrupt reaches this (the waiting) thread only: the event
        # stops the lanes, and those of nested ensembles, at their
        # next step.
        stop = current_stop() or threading.Event()
        try:
            results = Parallel(n_jobs=n_parallel, require="sharedmem")(
                delayed(_fit_lane)(*lane_args, stop) for lane_args in args
            )
        except BaseException:
            stop.set()
            raise
    else:
        results = [_fit_lane(*lane_args) for lane_args in args]
    return dict(item for lane_times in results for item in lane_times)


def _cap_threads(est, threads):
    """Lower every thread-count parameter of ``est`` (nested too) to ``threads``."""
    updates = {}
    params = est.get_params(deep=True)
    for key, value in params.items():
        owner_key, _, param = key.rpartition("__")
        if param not in _THREAD_PARAMS:
            continue
        if value is None and param != "n_jobs":
            continue  # an unset alias: setting it could override n_jobs
        owner = params[owner_key] if owner_key else est
        if value is None and type(owner).__module__.startswith("sklearn."):
            continue  # scikit-learn reads n_jobs=None as one thread already
        if value is None or (
            isinstance(value, numbers.Integral) and (value < 0 or value > threads)
        ):
            updates[key] = threads
    if updates:
        est.set_params(**updates)
