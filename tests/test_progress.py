"""Progress bars: drawn on a terminal only, erased when done, never in a model."""

import io
import pickle
import sys

import numpy as np

from sklensemble import AttentionLSTMClassifier, _progress


class Terminal(io.StringIO):
    def isatty(self):
        return True


def use_terminal(monkeypatch):
    # In the test body: pytest re-installs its own sys.stderr after fixtures.
    stream = Terminal()
    monkeypatch.setattr(sys, "stderr", stream)
    return stream


def test_fold_bar_draws_only_on_a_terminal(monkeypatch):
    terminal = use_terminal(monkeypatch)
    _progress.draw_folds(1, 4)
    assert "fold 2/4" in terminal.getvalue() and "[#######" in terminal.getvalue()
    _progress.draw_folds(4, 4)
    assert terminal.getvalue().endswith("\r\x1b[2K")  # erased when done
    monkeypatch.setattr(sys, "stderr", io.StringIO())  # a pipe or a log
    _progress.draw_folds(1, 4)
    assert sys.stderr.getvalue() == ""


def small_net():
    return AttentionLSTMClassifier(
        hidden_size=4, num_heads=1, max_epochs=3, device="cpu", random_state=0
    )


def rows():
    rng = np.random.RandomState(0)
    return rng.normal(size=(60, 2)), np.arange(60) % 2


def test_epoch_bar_inside_the_block_only(monkeypatch):
    terminal = use_terminal(monkeypatch)
    X, y = rows()
    with _progress.epoch_progress():
        net = small_net().fit(X, y)
    drawn = terminal.getvalue()
    for epoch in range(1, net.n_epochs_ + 1):
        assert f"AttentionLSTMClassifier epoch {epoch}/3" in drawn
    assert drawn.endswith("\r\x1b[2K")  # erased at the end of training
    assert net.get_params()["callbacks"] is None  # not a parameter
    terminal.truncate(0)
    terminal.seek(0)
    small_net().fit(X, y)  # outside the block: nothing drawn
    assert terminal.getvalue() == ""
    restored = pickle.loads(pickle.dumps(net))
    np.testing.assert_array_equal(restored.predict_proba(X), net.predict_proba(X))


def test_epoch_bar_follows_the_fold_bar(monkeypatch):
    terminal = use_terminal(monkeypatch)
    X, y = rows()
    _progress.draw_folds(0, 2)
    with _progress.epoch_progress():
        small_net().fit(X, y)
    assert "fold 1/2 | AttentionLSTMClassifier epoch 1/3" in terminal.getvalue()
    _progress.draw_folds(2, 2)


def test_no_bar_off_a_terminal_or_when_disabled(monkeypatch):
    X, y = rows()
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    with _progress.epoch_progress():
        assert not _progress.epochs_enabled()
        small_net().fit(X, y)
    assert sys.stderr.getvalue() == ""
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    with _progress.epoch_progress(enabled=False):
        assert not _progress.epochs_enabled()
    assert terminal.getvalue() == ""
