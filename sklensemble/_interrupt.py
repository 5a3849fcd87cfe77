"""Interrupts: Ctrl-C ends a fit everywhere that fit runs, and leaves no model.

``KeyboardInterrupt`` reaches only the main thread. An ensemble fitting its
members in worker threads therefore hands every lane a stop event: it sets
the event when its own wait is interrupted, and the networks of those lanes
check it before each batch, so no orphaned thread trains on in the
background after ``fit`` has raised.
"""

import threading
from contextlib import contextmanager

_LOCAL = threading.local()


def current_stop():
    """The stop event of the fit running in this thread, or None."""
    return getattr(_LOCAL, "stop", None)


@contextmanager
def stop_on(event):
    """Within the block, work in this thread ends once ``event`` is set."""
    before = current_stop()
    _LOCAL.stop = event
    try:
        yield
    finally:
        _LOCAL.stop = before


def check_stop():
    """Raise KeyboardInterrupt if the fit this thread works for was interrupted."""
    stop = current_stop()
    if stop is not None and stop.is_set():
        raise KeyboardInterrupt("the fit this work belongs to was interrupted")


def discard_fit(estimator):
    """Remove the fitted attributes of ``estimator`` (an aborted fit's leftovers).

    scikit-learn reads any attribute ending in ``_`` as "fitted": a fit that
    stops half-way must not leave, say, ``classes_`` behind to pass for a model.
    """
    for name in [n for n in vars(estimator) if n.endswith("_") and n[:2] != "__"]:
        delattr(estimator, name)
