"""The same seed gives the same model, whatever runs beside it.

Seeded networks fitted in threads (a threaded search, two fits side by side,
an ensemble fitting its lanes concurrently, tune(n_jobs=2)) must give the
very floats of a sequential fit, and leave torch's global random state and
thread count as they were.
"""

import pickle
import threading
from concurrent.futures import ThreadPoolExecutor

import joblib
import numpy as np
import pytest
import torch
from sklearn.model_selection import GridSearchCV, TimeSeriesSplit
from skorch.callbacks import Callback

import sklensemble._lanes as lanes_module
from sklensemble import (
    AttentionLSTMClassifier,
    TransformerClassifier,
    make_ensemble_pipeline,
)
from sklensemble._torch_state import _LOCK, GeneratorStream

pytestmark = pytest.mark.usefixtures("seeded_one_thread")

# Two layers and strong dropout: the LSTM's inter-layer dropout, attention
# dropout and the head's dropout all draw from torch's global generator.
TINY = {
    AttentionLSTMClassifier: dict(hidden_size=4, num_layers=2, num_heads=2),
    TransformerClassifier: dict(d_model=8, num_layers=2, num_heads=2),
}
NETWORKS = list(TINY)


def tiny(cls, **params):
    defaults = dict(
        dropout=0.3, max_epochs=2, batch_size=32, random_state=0, device="cpu"
    )
    return cls(**{**TINY[cls], **defaults, **params})


def tiny_pipeline():
    pipe = make_ensemble_pipeline(
        preset="fast", sequence_length=4, n_jobs=2, random_state=0, device="cpu"
    )
    return pipe.set_params(
        ensemble__xgboost__n_estimators=5,
        ensemble__lightgbm__n_estimators=5,
        ensemble__lstm__net__hidden_size=4,
        ensemble__lstm__net__max_epochs=2,
        ensemble__transformer__net__d_model=8,
        ensemble__transformer__net__max_epochs=2,
    )


@pytest.fixture(scope="module")
def sequences():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(240, 5, 3))
    y = (X[:, :, 0].sum(axis=1) + rng.normal(size=240) > 0).astype(int)
    return X, y


@pytest.fixture(scope="module")
def rows():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(240, 4))
    signal = X[:, 0] + 0.5 * rng.normal(size=240)
    return X, np.where(signal > 0.4, 2, np.where(signal < -0.4, 0, 1))


def _global_torch_state():
    return torch.get_rng_state(), torch.get_num_threads()


def _assert_unchanged(before):
    rng_state, threads = before
    assert torch.equal(torch.get_rng_state(), rng_state)
    assert torch.get_num_threads() == threads


def _searches(estimator, grid, X, y):
    """The same seeded GridSearchCV, run sequentially and in two threads."""

    def search():
        return GridSearchCV(
            estimator, grid, cv=TimeSeriesSplit(2), scoring="neg_log_loss"
        )

    sequential = search().fit(X, y)
    with joblib.parallel_backend("threading", n_jobs=2):
        threaded = search().fit(X, y)
    return sequential, threaded


def _assert_same_search(sequential, threaded, X):
    for key in ("split0_test_score", "split1_test_score", "mean_test_score"):
        np.testing.assert_array_equal(
            threaded.cv_results_[key], sequential.cv_results_[key]
        )
    np.testing.assert_array_equal(
        threaded.predict_proba(X), sequential.predict_proba(X)
    )


class TestThreadedSearch:
    @pytest.mark.parametrize("cls", NETWORKS, ids=lambda c: c.__name__)
    def test_grid_search_threads_equal_sequential(self, cls, sequences):
        X, y = sequences
        before = _global_torch_state()
        sequential, threaded = _searches(
            tiny(cls), {"lr": [1e-3, 1e-2], "dropout": [0.2, 0.5]}, X, y
        )
        _assert_same_search(sequential, threaded, X)
        _assert_unchanged(before)

    def test_grid_search_over_ensemble_pipeline(self, rows):
        # The ensemble also fits its own lanes in threads (n_jobs=2).
        X, y = rows
        before = _global_torch_state()
        sequential, threaded = _searches(
            tiny_pipeline(), {"ensemble__lstm__net__dropout": [0.0, 0.5]}, X, y
        )
        _assert_same_search(sequential, threaded, X)
        _assert_unchanged(before)


class _Lockstep(Callback):
    """Makes fits sharing ``barrier`` start every batch together."""

    def __init__(self, barrier):
        self.barrier = barrier

    def on_batch_begin(self, net, **kwargs):
        self.barrier.wait(timeout=60)


class TestSideBySide:
    def test_concurrent_fits_equal_lone_fits(self, sequences):
        X, y = sequences

        def build(barrier):
            return [tiny(cls, callbacks=[_Lockstep(barrier)]) for cls in NETWORKS]

        alone = [net.fit(X, y).predict_proba(X) for net in build(threading.Barrier(1))]
        before = _global_torch_state()
        # Both networks run every batch at the same moment, so their dropout
        # draws interleave unless each has a stream of its own.
        nets = build(threading.Barrier(2))
        with ThreadPoolExecutor(2) as pool:
            for future in [pool.submit(net.fit, X, y) for net in nets]:
                future.result()
        for net, expected in zip(nets, alone, strict=True):
            np.testing.assert_array_equal(net.predict_proba(X), expected)
        _assert_unchanged(before)

    def test_ensemble_lanes_equal_sequential_fit(self, rows, monkeypatch):
        # Two cores and 4 lanes 2 at a time: the other members' threads are
        # capped at 1, torch's 2 threads must stay as they are.
        monkeypatch.setattr(lanes_module, "cpu_count", lambda: 2)
        torch.set_num_threads(2)
        X, y = rows
        concurrent = tiny_pipeline().fit(X, y)
        sequential = tiny_pipeline().set_params(ensemble__n_jobs=None).fit(X, y)
        scaled = np.asarray(sequential["scaler"].transform(X))
        for name in ("lstm", "transformer"):
            np.testing.assert_array_equal(
                concurrent["ensemble"].named_estimators_[name].predict_proba(scaled),
                sequential["ensemble"].named_estimators_[name].predict_proba(scaled),
            )

    @pytest.mark.parametrize("cls", NETWORKS, ids=lambda c: c.__name__)
    def test_fit_and_unpickling_leave_torch_state(self, cls, sequences):
        X, y = sequences
        before = _global_torch_state()
        net = tiny(cls).fit(X, y)
        _assert_unchanged(before)
        pickle.loads(pickle.dumps(net))
        _assert_unchanged(before)


class TestGeneratorStream:
    def test_draws_continue_a_private_seeded_stream(self):
        before = _global_torch_state()
        stream = GeneratorStream(7)
        with stream.active():
            first = torch.rand(3)
        torch.rand(5)  # the caller's own draws do not move the stream
        with stream.active():
            second = torch.rand(3)
        expected = torch.rand(6, generator=torch.Generator().manual_seed(7))
        torch.testing.assert_close(torch.cat([first, second]), expected)
        torch.set_rng_state(before[0])  # undo the caller's draws above
        _assert_unchanged(before)

    def test_only_training_passes_draw_from_the_stream(self):
        stream = GeneratorStream(3)
        dropout = torch.nn.Dropout(0.5)
        before = torch.get_rng_state()
        with stream.during_training_passes(dropout):
            dropout.eval()
            assert torch.equal(dropout(torch.ones(64)), torch.ones(64))
            dropout.train()
            masked = dropout(torch.ones(64))
            assert torch.equal(torch.get_rng_state(), before)
        with GeneratorStream(3).active():
            expected = torch.nn.Dropout(0.5)(torch.ones(64))
        torch.testing.assert_close(masked, expected)
        assert torch.equal(torch.get_rng_state(), before)

    def test_interrupted_pass_frees_lock_and_generators(self):
        class Interrupted(torch.nn.Module):
            def forward(self, X):
                torch.rand(1)  # a draw, then Ctrl-C in the middle of the pass
                raise KeyboardInterrupt

        module = Interrupted()
        stream = GeneratorStream(0)
        before = torch.get_rng_state()
        with pytest.raises(KeyboardInterrupt):
            with stream.during_training_passes(module):
                module(torch.ones(1))
        # KeyboardInterrupt skips torch's closing forward hooks: leaving the
        # block restores the generators and frees the lock all the same.
        assert torch.equal(torch.get_rng_state(), before)
        with ThreadPoolExecutor(1) as pool:
            assert pool.submit(_LOCK.acquire, timeout=5).result()
            pool.submit(_LOCK.release).result()


class TestTune:
    def test_parallel_trials_score_as_sequential_ones(self, sequences):
        """Every configuration scores the same with n_jobs=2 as with n_jobs=1.

        Parallel trials may sample in another order (GridSampler may even
        repeat a point), so values are compared per configuration.
        """
        optuna = pytest.importorskip("optuna")
        from sklensemble.tuning import tune

        optuna.logging.set_verbosity(optuna.logging.ERROR)
        X, y = sequences
        grid = {"lr": [1e-3, 1e-2], "dropout": [0.2, 0.5]}
        space = {
            name: optuna.distributions.CategoricalDistribution(choices)
            for name, choices in grid.items()
        }

        def values(n_jobs):
            result = tune(
                tiny(AttentionLSTMClassifier),
                X,
                y,
                cv=TimeSeriesSplit(2),
                search_space=space,
                n_trials=4,
                objectives=("log_loss",),
                sampler=optuna.samplers.GridSampler(grid, seed=0),
                pruner=optuna.pruners.NopPruner(),
                n_jobs=n_jobs,
                refit=False,
                show_progress_bar=False,
            )
            return [
                ((t.params["lr"], t.params["dropout"]), t.values[0])
                for t in result.study_.trials
            ]

        before = _global_torch_state()
        sequential = dict(values(1))
        assert len(sequential) == 4  # the whole grid
        parallel = values(2)
        assert len(parallel) == 4
        for params, value in parallel:
            assert value == sequential[params], params
        _assert_unchanged(before)
