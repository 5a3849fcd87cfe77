"""One-line progress bars on an interactive stderr, erased when done.

Long work (walk-forward folds, network epochs) draws a bar only when stderr
is a terminal, so logs, pipes and CI output never see one. Fold and epoch
bars share the line: the epoch bar is drawn behind the current fold's label.
"""

import sys
from contextlib import contextmanager

from skorch.callbacks import Callback

_STATE = {"epochs": False, "prefix": ""}


def _interactive():
    return sys.stderr.isatty()


def _write(text):
    sys.stderr.write(f"\r\x1b[2K{text}")
    sys.stderr.flush()


def _bar(done, total, width=30):
    return "[" + f"{'#' * int(width * min(done, total) / max(total, 1)):<{width}}" + "]"


def draw_folds(done, total):
    """Fold bar of a walk-forward evaluation; erased once ``done == total``."""
    if not _interactive():
        return
    if done >= total:
        _STATE["prefix"] = ""
        _write("")
        return
    _STATE["prefix"] = f"walk-forward {_bar(done, total)} fold {done + 1}/{total}"
    _write(_STATE["prefix"])


@contextmanager
def epoch_progress(enabled=True):
    """Within the block, networks fitted here draw a per-epoch bar.

    Only on an interactive stderr; the bar is not a parameter of the
    networks, so fitted models (pickled or in the safe format) hold no trace
    of it.
    """
    before = _STATE["epochs"]
    _STATE["epochs"] = bool(enabled) and _interactive()
    try:
        yield
    finally:
        _STATE["epochs"] = before


def epochs_enabled():
    return _STATE["epochs"]


class EpochProgress(Callback):
    """skorch callback: ``<prefix> | <name> epoch k/n [####   ]``."""

    def __init__(self, name):
        self.name = name

    def on_epoch_end(self, net, **kwargs):
        prefix = f"{_STATE['prefix']} | " if _STATE["prefix"] else ""
        done, total = len(net.history), net.max_epochs
        _write(f"{prefix}{self.name} epoch {done}/{total} {_bar(done, total)}")

    def on_train_end(self, net, **kwargs):
        _write(_STATE["prefix"])
