import pickle
import tracemalloc
from unittest import mock

import joblib
import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV, TimeSeriesSplit, cross_val_score
from sklearn.pipeline import make_pipeline
from skorch.callbacks import Callback

from sklensemble import (
    AttentionLSTMClassifier,
    SequenceWindower,
    TransformerClassifier,
    _net_inference,
    load,
    save,
)
from sklensemble._validation import check_sequences
from sklensemble.datasets import make_planted_sequences

SMALL = {
    AttentionLSTMClassifier: dict(hidden_size=16, num_layers=1, num_heads=2),
    TransformerClassifier: dict(d_model=16, num_layers=1, num_heads=2),
}
NETWORKS = list(SMALL)


def small(cls, **params):
    defaults = dict(max_epochs=40, lr=5e-3, random_state=0, device="cpu")
    return cls(**{**SMALL[cls], **defaults, **params})


@pytest.fixture(scope="module")
def sequences():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(300, 5, 3))
    y = (X[:, :, 0].sum(axis=1) > 0).astype(int)
    return X, y


@pytest.fixture(scope="module", params=NETWORKS, ids=lambda c: c.__name__)
def fitted(request, sequences):
    X, y = sequences
    return small(request.param, max_epochs=15).fit(X, y)


class TestLearning:
    @pytest.mark.parametrize("cls", NETWORKS, ids=lambda c: c.__name__)
    def test_planted_sequence_needs_history(self, cls):
        X, y = make_planted_sequences(800, seed=0)
        train, test = slice(0, 600), slice(600, None)
        pipe = make_pipeline(SequenceWindower(4), small(cls)).fit(X[train], y[train])
        # Threshold: the planted rule is exact, a look-back model gets > 0.85.
        assert pipe.score(X[test], y[test]) > 0.85
        tabular = HistGradientBoostingClassifier(random_state=0)
        chance = tabular.fit(X[train], y[train]).score(X[test], y[test])
        assert 0.4 < chance < 0.6

    def test_loss_decreases(self, fitted):
        losses = fitted.net_.history[:, "train_loss"]
        assert losses[-1] < 0.8 * losses[0]

    @pytest.mark.parametrize("cls", NETWORKS, ids=lambda c: c.__name__)
    def test_early_stopping_stops_and_restores_best_epoch(self, cls):
        rng = np.random.RandomState(0)
        X, y = rng.normal(size=(200, 4, 2)), rng.randint(0, 2, 200)  # pure noise
        clf = small(cls, max_epochs=100, patience=3, min_epochs=1, lr=1e-2)
        clf.fit(X, y)
        valid_losses = clf.net_.history[:, "valid_loss"]
        assert clf.n_epochs_ < 100
        best = int(np.argmin(valid_losses))
        assert clf.best_epoch_ == best + 1
        assert clf.n_epochs_ == best + 1 + 3
        # The restored weights score the tail exactly as the best epoch did.
        proba = clf.predict_proba(X[180:])
        tail_loss = -np.mean(np.log(proba[np.arange(20), y[180:]]))
        assert tail_loss == pytest.approx(valid_losses[best], rel=1e-4)

    @pytest.mark.parametrize("cls", NETWORKS, ids=lambda c: c.__name__)
    def test_min_epochs_delays_the_stop_not_the_best_epoch(self, cls):
        rng = np.random.RandomState(0)
        X, y = rng.normal(size=(200, 4, 2)), rng.randint(0, 2, 200)  # pure noise
        clf = small(cls, max_epochs=40, patience=2, min_epochs=12, lr=1e-2)
        clf.fit(X, y)
        valid_losses = clf.net_.history[:, "valid_loss"]
        assert clf.best_epoch_ == int(np.argmin(valid_losses)) + 1
        # Stops at the first epoch from min_epochs on that is patience epochs
        # past the best one.
        assert clf.n_epochs_ == min(40, max(12, clf.best_epoch_ + 2))

    def test_cosine_schedule_spans_max_epochs(self, sequences):
        X, y = sequences
        clf = small(AttentionLSTMClassifier, max_epochs=6, lr=1e-2, min_epochs=6)
        lrs = clf.fit(X, y).net_.history[:, "event_lr"]
        # Epoch e (from 1) trains at lr * (1 + cos(pi * (e - 1) / max_epochs)) / 2.
        expected = 1e-2 * (1 + np.cos(np.pi * np.arange(6) / 6)) / 2
        np.testing.assert_allclose(lrs, expected)
        constant = clone(clf).set_params(lr_schedule="constant").fit(X, y)
        assert "event_lr" not in constant.net_.history[-1]
        assert constant.net_.optimizer_.param_groups[0]["lr"] == 1e-2

    def test_validation_rows_are_the_time_ordered_tail(self, monkeypatch):
        from sklensemble import _batching

        seen = {}
        original = _batching.TailSplit.__call__

        def spy(self, dataset, y=None, **kwargs):
            train, valid = original(self, dataset, y, **kwargs)
            seen["train"], seen["valid"] = train.y.copy(), valid.y.copy()
            return train, valid

        monkeypatch.setattr(_batching.TailSplit, "__call__", spy)
        X = np.random.RandomState(0).normal(size=(100, 2, 2))
        y = np.repeat([0, 1], 50)  # time-ordered: a random split would mix them
        small(AttentionLSTMClassifier, max_epochs=1, validation_fraction=0.2).fit(X, y)
        np.testing.assert_array_equal(seen["valid"], np.ones(20))
        assert len(seen["train"]) == 80

    @pytest.mark.parametrize("cls", NETWORKS, ids=lambda c: c.__name__)
    def test_refit_full_trains_on_every_row_for_the_chosen_epochs(self, cls, sequences):
        X, y = sequences
        params = dict(max_epochs=30, patience=2, min_epochs=1, lr_schedule="constant")
        held_out = small(cls, **params).fit(X, y)
        refit = small(cls, refit_full=True, **params).fit(X, y)
        assert refit.get_params()["refit_full"] is True
        assert refit.best_epoch_ == held_out.best_epoch_ < 30
        assert refit.n_epochs_ == refit.best_epoch_
        history = refit.net_.history
        assert "valid_loss" not in history[-1]
        # Every row, the 30 validation rows of the tail included, trained.
        rows = [sum(b["train_batch_size"] for b in h["batches"]) for h in history]
        assert rows == [300] * refit.n_epochs_
        # It is exactly a fit on all rows for that many epochs, from the seed.
        plain = small(cls, **{**params, "max_epochs": refit.best_epoch_})
        plain.set_params(validation_fraction=None).fit(X, y)
        np.testing.assert_array_equal(refit.predict_proba(X), plain.predict_proba(X))
        assert not np.allclose(refit.predict_proba(X), held_out.predict_proba(X))

    def test_no_validation_trains_all_epochs(self, sequences):
        X, y = sequences
        clf = small(TransformerClassifier, max_epochs=4, validation_fraction=None)
        clf.fit(X, y)
        assert clf.n_epochs_ == 4
        assert "valid_loss" not in clf.net_.history[-1]

    def test_class_weight_changes_the_fit(self):
        rng = np.random.RandomState(0)
        X = rng.normal(size=(300, 3, 2))
        y = (X[:, -1, 0] + rng.normal(scale=1.5, size=300) > 1.2).astype(int)
        assert 0.05 < y.mean() < 0.3
        plain = small(AttentionLSTMClassifier, max_epochs=10).fit(X, y)
        balanced = small(
            AttentionLSTMClassifier, max_epochs=10, class_weight="balanced"
        )
        balanced.fit(X, y)
        np.testing.assert_allclose(
            balanced.class_weight_, len(y) / (2 * np.bincount(y))
        )
        assert balanced.predict(X).mean() > plain.predict(X).mean()
        by_label = small(AttentionLSTMClassifier, max_epochs=1, class_weight={1: 3.0})
        np.testing.assert_array_equal(by_label.fit(X, y).class_weight_, [1.0, 3.0])

    @pytest.mark.parametrize("cls", NETWORKS, ids=lambda c: c.__name__)
    def test_random_state_reproducible(self, cls, sequences):
        X, y = sequences
        a = small(cls, max_epochs=3).fit(X, y).predict_proba(X)
        b = small(cls, max_epochs=3).fit(X, y).predict_proba(X)
        c = small(cls, max_epochs=3, random_state=1).fit(X, y).predict_proba(X)
        np.testing.assert_array_equal(a, b)
        assert not np.array_equal(a, c)

    def test_fit_leaves_global_torch_rng_alone(self, sequences):
        X, y = sequences
        state = torch.get_rng_state()
        small(AttentionLSTMClassifier, max_epochs=1).fit(X, y)
        assert torch.equal(state, torch.get_rng_state())

    def test_verbose(self, sequences, capsys):
        X, y = sequences
        small(TransformerClassifier, max_epochs=2).fit(X, y)
        assert capsys.readouterr().out == ""
        small(TransformerClassifier, max_epochs=2, verbose=1).fit(X, y)
        out = capsys.readouterr().out
        assert "train_loss" in out and "valid_loss" in out
        assert len([line for line in out.splitlines() if line.strip()[:1] == "2"]) == 1


class TestPrediction:
    def test_shapes_and_classes(self, fitted, sequences):
        X, y = sequences
        proba = fitted.predict_proba(X)
        assert proba.shape == (300, 2)
        np.testing.assert_allclose(proba.sum(axis=1), 1.0)
        np.testing.assert_array_equal(fitted.predict(X), proba.argmax(axis=1))
        assert fitted.sequence_length_in_ == 5 and fitted.n_features_in_ == 3

    def test_string_labels(self, sequences):
        X, y = sequences
        labels = np.array(["sell", "buy"])[y]
        clf = small(TransformerClassifier, max_epochs=2).fit(X, labels)
        np.testing.assert_array_equal(clf.classes_, ["buy", "sell"])
        assert set(clf.predict(X)) <= {"buy", "sell"}

    def test_batch_invariant_predictions(self, fitted, sequences, monkeypatch):
        X, _ = sequences
        # A small budget: several passes, so rows meet other neighbours and
        # other positions in their batch from one call to the next.
        monkeypatch.setattr(_net_inference, "_PREDICT_BATCH_BYTES", 2**16)
        full = fitted.predict_proba(X)
        alone = np.vstack([fitted.predict_proba(X[i : i + 1]) for i in range(12)])
        shifted = fitted.predict_proba(X[5:40])
        np.testing.assert_array_equal(alone, full[:12])
        np.testing.assert_array_equal(shifted, full[5:40])

    def test_every_forward_pass_has_the_same_shape(self, fitted, sequences):
        X, _ = sequences
        shapes = []
        hook = fitted.module_.register_forward_pre_hook(
            lambda module, args: shapes.append(tuple(args[0].shape))
        )
        try:
            fitted.predict_proba(X[:3])
            fitted.predict_proba(np.repeat(X, 4, axis=0))  # 1,200 rows
        finally:
            hook.remove()
        rows = _net_inference._predict_batch_rows(fitted.module_, 5, "cpu")
        assert set(shapes) == {(rows, 5, 3)} and len(shapes) == 1 + -(-1200 // rows)

    def test_batch_rows_follow_the_memory_budget(self):
        design = AttentionLSTMClassifier(device="cpu", max_epochs=1, random_state=0)
        module = design._module_spec(32, 3)[0](**design._module_spec(32, 3)[1])
        rows = _net_inference._predict_batch_rows(module, 60, "cpu")
        # 3 x 128 units, 8 heads: widest layer 768 (attention's in-projection)
        per_window = 4 * _net_inference._LIVE_TENSORS * 60 * (768 + 8 * 60)
        assert (
            rows == _net_inference._PREDICT_BATCH_BYTES // per_window // 16 * 16 == 16
        )
        assert _net_inference._predict_batch_rows(module, 60, "cuda") == 1024

    def test_one_window_path_matches_predict_proba(self, fitted, sequences):
        X, _ = sequences
        threads = torch.get_num_threads()
        last = fitted._predict_proba_last(X[:50])
        assert last.shape == (1, 2) and torch.get_num_threads() == threads
        # float32 rounds a one-window pass differently: documented to 1e-5.
        np.testing.assert_allclose(last, fitted.predict_proba(X[:50])[-1:], atol=1e-5)

    def test_2d_rows_are_length_one_sequences(self, sequences):
        X, y = sequences
        clf = small(AttentionLSTMClassifier, max_epochs=2).fit(X[:, -1], y)
        assert clf.sequence_length_in_ == 1
        np.testing.assert_array_equal(
            clf.predict_proba(X[:, -1]), clf.predict_proba(X[:, -1:])
        )

    def test_window_view_is_never_materialised(self):
        n, length, f = 20_000, 60, 16
        X2d = np.random.RandomState(0).normal(size=(n, f)).astype(np.float32)
        windows = SequenceWindower(length).fit_transform(X2d)
        materialised = n * length * f * 4  # 77 MB as float32
        clf = small(AttentionLSTMClassifier)
        tracemalloc.start()
        checked, _ = check_sequences(clf, windows, np.zeros(n), reset=True)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert checked is windows
        assert peak < materialised / 10


@pytest.fixture(scope="module", params=NETWORKS, ids=lambda c: c.__name__)
def planted(request):
    """A network fitted on the planted task, its quantized copy, test data."""
    X, y = make_planted_sequences(800, seed=0)
    windows = SequenceWindower(4).fit_transform(X)
    clf = small(request.param).fit(windows[:600], y[:600])
    return clf, clf.quantize(), windows[600:], y[600:]


class TestQuantization:
    def test_quantized_copy_predicts_close_to_float(self, planted):
        clf, quantized, X, y = planted
        proba, q_proba = clf.predict_proba(X), quantized.predict_proba(X)
        assert q_proba.shape == proba.shape == (200, 2)
        np.testing.assert_allclose(q_proba.sum(axis=1), 1.0)
        assert quantized.quantized_ and quantized.device_ == "cpu"
        # Bounds from benchmarks/bench_quantization.py: agreement >= 0.97,
        # accuracy within 0.02 of float on this task.
        agreement = (proba.argmax(axis=1) == q_proba.argmax(axis=1)).mean()
        assert agreement >= 0.9
        assert quantized.score(X, y) >= clf.score(X, y) - 0.05
        assert not hasattr(clf, "quantized_")  # the original is left unchanged
        assert _n_quantized(quantized.module_) >= 2 and _n_quantized(clf.module_) == 0

    def test_quantized_rows_do_not_depend_on_their_batch(self, planted):
        _, quantized, X, _ = planted
        full = quantized.predict_proba(X[:30])
        np.testing.assert_array_equal(quantized.predict_proba(X[7:8]), full[7:8])
        # The serving path: the same one-window passes, to float32 rounding.
        last = quantized._predict_proba_last(X[:30])
        np.testing.assert_allclose(last, full[-1:], rtol=0, atol=1e-6)

    def test_quantized_copy_pickles(self, planted):
        _, quantized, X, _ = planted
        again = pickle.loads(pickle.dumps(quantized))
        assert again.quantized_
        np.testing.assert_array_equal(
            again.predict_proba(X), quantized.predict_proba(X)
        )

    def test_quantized_copy_saves_in_the_safe_format(self, planted, tmp_path):
        pytest.importorskip("skops")
        pytest.importorskip("safetensors")
        _, quantized, X, _ = planted
        # The file holds the float weights; load quantizes them again.
        loaded = load(save(quantized, tmp_path / "q.sklensemble"))
        assert loaded.quantized_
        np.testing.assert_array_equal(
            loaded.predict_proba(X), quantized.predict_proba(X)
        )

    def test_quantize_needs_a_fitted_classifier(self):
        with pytest.raises(NotFittedError):
            small(AttentionLSTMClassifier).quantize()


def _n_quantized(module):
    dynamic = "torch.ao.nn.quantized.dynamic"
    return sum(type(m).__module__.startswith(dynamic) for m in module.modules())


class TestErrors:
    @pytest.mark.parametrize("cls", NETWORKS, ids=lambda c: c.__name__)
    @pytest.mark.parametrize(
        "make_X, y, error, match",
        [
            (lambda: np.full((10, 2), -np.inf), None, ValueError, "infinity"),
            (lambda: np.full((10, 3, 2), np.inf), None, ValueError, "infinity"),
            (lambda: np.zeros((1, 2)), [0], ValueError, "1 sample"),
            (lambda: np.zeros((10, 0)), None, ValueError, "0 feature"),
            (lambda: np.zeros((10, 3, 0)), None, ValueError, "one feature"),
            (lambda: np.zeros((10, 2)), [1] * 10, ValueError, "only one class"),
            (
                lambda: np.zeros((10, 2)),
                np.linspace(0, 1, 10),
                ValueError,
                "continuous",
            ),
            (lambda: np.array([["a", "b"]] * 10), None, ValueError, "(?i)convert"),
            (lambda: np.array([[["a"]]] * 10), None, ValueError, "real numbers"),
            (lambda: np.zeros((10, 2, 2, 2)), None, ValueError, "got 4D"),
            (lambda: np.zeros(10), None, ValueError, "Expected 2D array"),
        ],
    )
    def test_bad_fit_input(self, cls, make_X, y, error, match):
        y = np.arange(10) % 2 if y is None else y
        with pytest.raises(error, match=match):
            small(cls, max_epochs=1).fit(make_X(), y)

    def test_feature_count_mismatch_at_predict(self, fitted):
        with pytest.raises(ValueError, match="X has 2 features.*expecting 3"):
            fitted.predict(np.zeros((4, 5, 2)))
        with pytest.raises(ValueError, match="X has 2 features.*expecting 3"):
            fitted.predict(np.zeros((4, 2)))

    def test_sequence_length_mismatch_is_refused(self, fitted):
        with pytest.raises(
            ValueError, match="length 7.*fitted on length 5.*SequenceWindower"
        ):
            fitted.predict(np.zeros((4, 7, 3)))

    def test_heads_must_divide_width(self):
        with pytest.raises(ValueError, match="num_heads=3 must divide"):
            AttentionLSTMClassifier(hidden_size=8, num_heads=3).fit(
                np.zeros((4, 2)), [0, 1] * 2
            )
        with pytest.raises(ValueError, match="num_heads=3 must divide d_model=16"):
            TransformerClassifier(d_model=16, num_heads=3).fit(
                np.zeros((4, 2)), [0, 1] * 2
            )

    def test_unknown_class_weight_label(self):
        with pytest.raises(ValueError, match=r"class_weight names classes \['7'\]"):
            small(TransformerClassifier, class_weight={7: 2.0}).fit(
                np.zeros((4, 2)), [0, 1] * 2
            )

    def test_bad_parameter_values(self):
        with pytest.raises(ValueError, match="validation_fraction"):
            small(TransformerClassifier, validation_fraction=1.5).fit(
                np.zeros((4, 2)), [0, 1] * 2
            )
        with pytest.raises(ValueError, match="lr"):
            small(TransformerClassifier, lr=0).fit(np.zeros((4, 2)), [0, 1] * 2)

    @pytest.mark.skipif(
        torch.cuda.is_available(), reason="needs a machine without CUDA"
    )
    def test_cuda_requested_without_cuda(self):
        with pytest.raises(ValueError, match="CUDA is not available.*device='auto'"):
            small(TransformerClassifier, device="cuda").fit(
                np.zeros((4, 2)), [0, 1] * 2
            )


class _InterruptAt(Callback):
    """Raises KeyboardInterrupt (as Ctrl-C would) at the end of an epoch."""

    def __init__(self, epoch):
        self.epoch = epoch

    def on_epoch_end(self, net, **kwargs):
        if len(net.history) == self.epoch:
            raise KeyboardInterrupt


class TestInterrupts:
    @pytest.mark.parametrize("cls", NETWORKS, ids=lambda c: c.__name__)
    def test_interrupt_in_an_epoch_propagates_out_of_fit(self, cls, sequences):
        X, y = sequences
        clf = small(cls, max_epochs=5, callbacks=[_InterruptAt(2)])
        with pytest.raises(KeyboardInterrupt):
            clf.fit(X, y)
        # No 2-epoch network passes for a model.
        assert not hasattr(clf, "net_") and not hasattr(clf, "classes_")
        with pytest.raises(NotFittedError):
            clf.predict(X)

    def test_interrupted_refit_leaves_no_old_model(self, fitted, sequences):
        clf = clone(fitted).fit(*sequences)
        clf.set_params(callbacks=[_InterruptAt(1)])
        with pytest.raises(KeyboardInterrupt):
            clf.fit(*sequences)
        with pytest.raises(NotFittedError):
            clf.predict_proba(sequences[0])


class TestPersistence:
    def test_pickle_and_joblib_round_trip(self, fitted, sequences, tmp_path):
        X, _ = sequences
        expected = fitted.predict_proba(X)
        restored = pickle.loads(pickle.dumps(fitted))
        np.testing.assert_array_equal(restored.predict_proba(X), expected)
        joblib.dump(fitted, tmp_path / "model.joblib")
        np.testing.assert_array_equal(
            joblib.load(tmp_path / "model.joblib").predict_proba(X), expected
        )
        assert restored.net_.history[-1, "epoch"] == fitted.net_.history[-1, "epoch"]

    def test_pickle_stores_cpu_tensors_and_leaves_model_intact(self, fitted):
        state = fitted.__getstate__()
        assert "net_" not in state and "module_" not in state
        assert all(
            t.device.type == "cpu" for t in state["_net_state"]["weights"].values()
        )
        assert hasattr(fitted, "net_")  # pickling never alters the live model

    def test_gpu_trained_model_loads_on_cpu_with_warning(self, fitted, sequences):
        X, _ = sequences
        gpu_model = pickle.loads(pickle.dumps(fitted))
        gpu_model.device_ = "cuda:0"  # as if fitted on a GPU
        with mock.patch("torch.cuda.is_available", return_value=False):
            with pytest.warns(
                UserWarning, match="fitted on 'cuda:0'.*loaded onto the CPU"
            ):
                restored = pickle.loads(pickle.dumps(gpu_model))
        assert restored.device_ == "cpu"
        np.testing.assert_array_equal(
            restored.predict_proba(X), fitted.predict_proba(X)
        )


class TestScikitLearnWorkflows:
    def test_clone_and_nested_params(self):
        pipe = make_pipeline(SequenceWindower(20), small(AttentionLSTMClassifier))
        pipe.set_params(
            attentionlstmclassifier__hidden_size=8, sequencewindower__sequence_length=5
        )
        cloned = clone(pipe)
        assert cloned.get_params()["attentionlstmclassifier__hidden_size"] == 8
        assert cloned.get_params()["sequencewindower__sequence_length"] == 5
        assert cloned[-1] is not pipe[-1]

    def test_cross_val_score_with_time_series_split(self):
        X, y = make_planted_sequences(600, seed=0)
        pipe = make_pipeline(
            SequenceWindower(20), small(AttentionLSTMClassifier, max_epochs=8)
        )
        scores = cross_val_score(pipe, X, y, cv=TimeSeriesSplit(5))
        assert scores.shape == (5,)
        assert scores.mean() > 0.6

    def test_grid_search_over_nested_parameter(self):
        X, y = make_planted_sequences(400, seed=0)
        pipe = make_pipeline(
            SequenceWindower(4), small(TransformerClassifier, max_epochs=5)
        )
        grid = GridSearchCV(
            pipe,
            {"sequencewindower__sequence_length": [1, 4]},
            cv=TimeSeriesSplit(3),
        ).fit(X, y)
        # Only the look-back windows can see the planted signal.
        assert grid.best_params_ == {"sequencewindower__sequence_length": 4}


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
class TestCUDA:
    @pytest.mark.parametrize("cls", NETWORKS, ids=lambda c: c.__name__)
    def test_fits_and_predicts_on_cuda(self, cls, sequences):
        X, y = sequences
        clf = small(cls, device="auto", max_epochs=10).fit(X, y)
        assert clf.device_ == "cuda"
        assert next(clf.module_.parameters()).is_cuda
        assert clf.score(X, y) > 0.8

    def test_cuda_model_pickles_to_cpu_tensors_and_back(self, sequences):
        X, y = sequences
        clf = small(TransformerClassifier, device="cuda", max_epochs=3).fit(X, y)
        state = clf.__getstate__()
        assert all(
            t.device.type == "cpu" for t in state["_net_state"]["weights"].values()
        )
        restored = pickle.loads(pickle.dumps(clf))
        np.testing.assert_allclose(
            restored.predict_proba(X), clf.predict_proba(X), atol=1e-6
        )
