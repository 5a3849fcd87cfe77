"""The shared fit, predict and pickling logic of the two sequence classifiers.

Composition, not inheritance: each classifier is a plain scikit-learn
estimator that builds and trains a skorch ``NeuralNetClassifier`` inside
``fit`` (fitted attributes ``net_`` and ``module_``). That keeps
``__init__`` free of logic and lets scikit-learn's input checks, label
encoding and tags apply as they do to any scikit-learn classifier. Missing
values are imputed with medians fitted on the training rows, plus missing
indicators as extra inputs.
"""

import copy
import numbers
import warnings

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted
from skorch.callbacks import GradientNormClipping, LRScheduler

from ._batching import TailSplit, WindowBatches, WindowDataset, to_tensor
from ._hooks import fit_with_hooks
from ._net_inference import (
    _place_module,
    _predict_batch_rows,
    _quantized_module,
)
from ._progress import EpochProgress, epochs_enabled
from ._sklearn_private import Interval, StrOptions, _check_sample_weight
from ._skorch_net import _check_weighted_rows, _EarlyStopping, _InterruptibleNet
from ._torch_state import GeneratorStream, global_generators_locked
from ._utils import _check_class_weight, _to_seed
from ._validation import (
    check_sequences,
    check_time_order,
    loadable_device,
    resolve_device,
    tail_rows,
)


def _current_steps(X):
    """The last step of every sequence, ``(n_samples, n_features)``.

    For windows (:class:`SequenceWindower`) these are the input rows, each
    once; no window is gathered.
    """
    if hasattr(X, "padded"):  # PanelWindows: the rows behind the view
        return X.padded[X.starts + X.sequence_length - 1]
    return X[:, -1, :]


def _fit_missing(rows):
    """Fill value (median; 0 when never observed) and indicator features of ``rows``."""
    rows = np.asarray(rows, dtype=np.float64)
    if not np.isnan(rows).any():
        return np.median(rows, axis=0), np.array([], dtype=np.intp)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN feature
        fill = np.nanmedian(rows, axis=0)
    return np.nan_to_num(fill, nan=0.0), np.flatnonzero(np.isnan(rows).any(axis=0))


def _fill_missing(X, fill, indicate):
    """``X`` with NaN replaced by ``fill`` and ``indicate``'s missing masks appended.

    Returns ``X`` itself when there is nothing to do (no NaN, no indicators).
    """
    mask = np.isnan(X) if X.dtype.kind == "f" else np.zeros(X.shape, dtype=bool)
    if not len(indicate) and not mask.any():
        return X
    filled = np.where(mask, fill.astype(X.dtype, copy=False), X)
    if not len(indicate):
        return filled
    return np.concatenate([filled, mask[..., indicate].astype(X.dtype)], axis=-1)


class _SequenceClassifierBase(ClassifierMixin, BaseEstimator):
    """Shared fit/predict/pickling logic of the two network classifiers."""

    # The ensemble runs members marked like this one after another: each
    # would use every intra-op thread of torch.
    _torch_member = True

    _parameter_constraints = {
        "max_epochs": [Interval(numbers.Integral, 1, None, closed="left")],
        "batch_size": [Interval(numbers.Integral, 1, None, closed="left")],
        "lr": [Interval(numbers.Real, 0, None, closed="neither")],
        "weight_decay": [Interval(numbers.Real, 0, None, closed="left")],
        "clip_grad_norm": [Interval(numbers.Real, 0, None, closed="neither"), None],
        "class_weight": [StrOptions({"balanced"}), dict, None],
        "validation_fraction": [
            Interval(numbers.Real, 0, 1, closed="neither"),
            None,
        ],
        "validation_gap": [Interval(numbers.Integral, 0, None, closed="left")],
        "patience": [Interval(numbers.Integral, 1, None, closed="left")],
        "min_epochs": [Interval(numbers.Integral, 1, None, closed="left")],
        "lr_schedule": [StrOptions({"cosine", "constant"})],
        "refit_full": ["boolean"],
        "device": [str, torch.device],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "callbacks": [list, None],
    }

    # -- subclass hooks -------------------------------------------------
    def _module_spec(self, n_features, n_classes):
        """Return ``(module_class, kwargs)`` for the torch module."""
        raise NotImplementedError

    def _check_architecture(self):
        """Raise ValueError for parameter combinations the module cannot build."""

    # -- fit -----------------------------------------------------------
    def fit(self, X, y, sample_weight=None):
        """Train the network on sequences (3D) or rows (2D, length-1 sequences).

        The last ``validation_fraction`` of the rows, in the order given,
        validate for early stopping, and the ``validation_gap`` rows before
        them neither train nor validate; the weights of the best validation
        epoch are restored at the end, or, with ``refit_full=True``, a new
        network trains on all rows for that many epochs. An interrupt
        (Ctrl-C) during training raises ``KeyboardInterrupt`` and, like any
        failed fit, leaves the classifier unfitted: a partly trained network
        never passes for a model.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or ndarray of shape \
                (n_samples, sequence_length, n_features)
            Training sequences in time order, e.g. the output of
            :class:`SequenceWindower`. May hold NaN (see "Missing values" in
            the Notes), not infinity.
        y : array-like of shape (n_samples,)
            Class labels of any type.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weight of each sequence in the loss (see "Sample
            weights" in the Notes). Row ``i`` of :class:`SequenceWindower`'s
            output is the window ending at input row ``i``, so the weights of
            the rows are the weights of their windows.

        Returns
        -------
        self : object
            The fitted classifier.
        """
        return fit_with_hooks(self, X, y, sample_weight)

    def _fit(self, X, y, sample_weight):
        self._validate_params()
        self._check_architecture()
        check_time_order(X)
        X, y = check_sequences(self, X, y, reset=True, ensure_min_samples=2)
        check_classification_targets(y)
        self.classes_, y_encoded = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(
                f"{type(self).__name__} needs samples of at least 2 classes in "
                f"the data, but the data contains only one class: "
                f"{self.classes_[0]!r}."
            )
        self.sequence_length_in_ = X.shape[1]
        self.class_weight_ = self._class_weight_vector(y_encoded)
        w = self._loss_weights(y_encoded, sample_weight)
        self.device_ = resolve_device(self.device)
        split = tail_rows(
            len(y_encoded),
            self.validation_fraction,
            getattr(X, "dates", None),
            self.validation_gap,
        )
        split = None if split[1] is None else split
        _check_weighted_rows(w, split)
        train = slice(None) if split is None else split[0]
        self.missing_fill_, self.missing_indicator_features_ = _fit_missing(
            _current_steps(X[train])
        )
        seed = _to_seed(self.random_state)

        dataset = WindowDataset(X, y_encoded, w, prepare=self._fill_missing)
        self.net_ = self._train(dataset, seed, split, self.max_epochs)
        self.best_epoch_ = self._chosen_epoch(self.net_)
        if self.refit_full and split is not None:
            # Early stopping chose the epoch count; train again, from the
            # same seed, on every row (the newest included) for that many.
            self.net_ = self._train(dataset, seed, None, self.best_epoch_)
        self.module_ = _place_module(self.net_.module_, self.device_)
        self.n_epochs_ = len(self.net_.history)

    def _train(self, dataset, seed, split, n_epochs):
        """A new skorch net trained on ``dataset`` for at most ``n_epochs``."""
        # A private stream of torch's global generators: the fit draws the
        # same numbers whatever runs beside it, and leaves the caller's
        # global random state where it was.
        stream = GeneratorStream(seed, self._cuda_devices())
        net = self._make_net(self._n_inputs(), seed, split, n_epochs)
        with stream.active():
            net.initialize()
        with stream.during_training_passes(net.module_):
            net.partial_fit(dataset, y=None)  # fit() would initialize again
        return net

    @staticmethod
    def _chosen_epoch(net):
        """The epoch early stopping kept (1-based), else the last one trained."""
        stop = dict(net.callbacks_).get("early_stopping")
        best = getattr(stop, "best_epoch_", 0)
        return int(best) if best else len(net.history)

    def _loss_weights(self, y_encoded, sample_weight):
        """Each sequence's loss weight: its sample weight times its class weight."""
        if sample_weight is None:
            return self.class_weight_[y_encoded]
        sample_weight = _check_sample_weight(
            sample_weight, y_encoded, dtype=np.float64, ensure_non_negative=True
        )
        weighted = np.unique(y_encoded[sample_weight > 0])
        if len(weighted) < 2:
            raise ValueError(
                f"{type(self).__name__} needs samples of at least 2 classes "
                "with a positive sample_weight, but only class "
                f"{self.classes_[weighted[0]]!r} has any; give samples of "
                "another class a positive weight."
            )
        return sample_weight * self.class_weight_[y_encoded]

    def _fill_missing(self, X):
        """Impute a batch with the training statistics, append indicators."""
        return _fill_missing(X, self.missing_fill_, self.missing_indicator_features_)

    def _n_inputs(self):
        """Input width of the module: the features and the missing indicators."""
        return self.n_features_in_ + len(self.missing_indicator_features_)

    def _class_weight_vector(self, y_encoded):
        n_classes = len(self.classes_)
        if self.class_weight is None:
            return np.ones(n_classes)
        if isinstance(self.class_weight, dict):
            _check_class_weight(self.class_weight, self.classes_)
            return np.array([self.class_weight.get(c, 1.0) for c in self.classes_])
        return compute_class_weight(
            "balanced", classes=np.arange(n_classes), y=y_encoded
        )

    def _cuda_devices(self):
        return [torch.device(self.device_).index or 0] if self.device_ != "cpu" else []

    def _make_net(self, n_features, seed, split, n_epochs=None):
        """The skorch net: AdamW, clipping, learning-rate schedule, tail early
        stopping, batch gathering.

        ``split`` is ``(train rows, validation rows)``, or None to train on
        every row without validation. ``n_epochs`` (default ``max_epochs``)
        stops training earlier; the schedule still spans ``max_epochs``, so a
        refit for the chosen epochs retraces the first fit's learning rates.
        """
        module, module_kwargs = self._module_spec(n_features, len(self.classes_))
        callbacks = []
        if self.clip_grad_norm is not None:
            clip = GradientNormClipping(gradient_clip_value=self.clip_grad_norm)
            callbacks.append(("clip", clip))
        if self.lr_schedule == "cosine":
            schedule = LRScheduler(
                policy=torch.optim.lr_scheduler.CosineAnnealingLR,
                T_max=self.max_epochs,
            )
            callbacks.append(("lr_schedule", schedule))
        if split is not None:
            stop = _EarlyStopping(
                min_epochs=self.min_epochs, patience=self.patience, load_best=True
            )
            callbacks.append(("early_stopping", stop))
        # User hooks run after early stopping has seen the epoch (e.g. the
        # per-epoch pruning of sklensemble.tuning).
        callbacks.extend(self.callbacks or [])
        if epochs_enabled():  # a terminal bar, never a parameter
            callbacks.append(("progress", EpochProgress(type(self).__name__)))
        return _InterruptibleNet(
            module,
            **{f"module__{key}": value for key, value in module_kwargs.items()},
            # Per-sequence losses, weighted by the net (sample x class weight).
            criterion=torch.nn.CrossEntropyLoss,
            criterion__reduction="none",
            optimizer=torch.optim.AdamW,
            optimizer__weight_decay=self.weight_decay,
            lr=self.lr,
            max_epochs=self.max_epochs if n_epochs is None else n_epochs,
            batch_size=self.batch_size,
            iterator_train=WindowBatches,
            iterator_train__shuffle=True,
            iterator_train__seed=seed,
            iterator_valid=WindowBatches,
            train_split=None if split is None else TailSplit(*split),
            callbacks=callbacks,
            # Accuracy on the tail is not needed to early-stop; skip its pass.
            callbacks__valid_acc=None,
            classes=np.arange(len(self.classes_)),
            device=self.device_,
            verbose=self.verbose,
        )

    # -- predict -------------------------------------------------------
    def predict_proba(self, X):
        """Class probabilities, columns in the order of ``classes_``.

        Every forward pass has the same shape (the last batch is padded), so
        a row's probabilities do not depend on the other rows it is predicted
        with; memory stays bounded whatever the number of rows (see Notes).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or ndarray of shape \
                (n_samples, sequence_length, n_features)
            Same layout and sequence length as in :meth:`fit`.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
        """
        X = self._check_predict_input(X)
        # A quantized network scales its activations by each pass's range:
        # windows go one at a time so that none depends on its neighbours.
        rows = (
            1
            if getattr(self, "quantized_", False)
            else _predict_batch_rows(self.module_, X.shape[1], self.device_)
        )
        proba = np.empty((X.shape[0], len(self.classes_)))
        shape = (rows, X.shape[1], self._n_inputs())
        batch = torch.zeros(shape, dtype=torch.float32)
        buffer = batch.numpy()  # the same memory, refilled for every pass
        with torch.inference_mode():
            for start in range(0, X.shape[0], rows):
                chunk = self._fill_missing(np.asarray(X[start : start + rows]))
                n_rows = len(chunk)
                np.copyto(buffer[:n_rows], chunk, casting="unsafe")
                buffer[n_rows:] = 0.0  # padding of the last pass
                proba[start : start + n_rows] = self._forward(batch)[:n_rows]
        return proba

    def _predict_proba_last(self, X):
        """Probabilities of the last sequence of ``X`` alone: the serving path.

        One window in a one-window pass, without padding it to
        ``predict_proba``'s batch shape: float32 kernels round a one-row pass
        differently, so the result equals ``predict_proba(X)[-1:]`` to about
        1e-6 (documented tolerance 1e-5).
        """
        X = self._check_predict_input(X[-1:])
        with torch.inference_mode():
            return self._forward(to_tensor(self._fill_missing(np.asarray(X))))

    def _serve_window(self, window):
        """Probabilities of one ``(sequence_length, n_features)`` float window.

        The serving path's call: the ensemble checked the rows, so only the
        window's length is checked here; the window is rounded to float32 as
        :class:`SequenceWindower` does, and imputed, then one forward pass.
        """
        if window.shape[0] != self.sequence_length_in_:
            return self._predict_proba_last(window[np.newaxis])  # its error
        batch = self._fill_missing(window[np.newaxis].astype(np.float32))
        with torch.inference_mode():
            return self._forward(to_tensor(batch))

    def _forward(self, batch):
        """float64 probabilities of a float32 CPU batch (softmax in float64)."""
        logits = self.module_(batch.to(self.device_))
        return torch.softmax(logits.double(), dim=1).cpu().numpy()

    def _check_predict_input(self, X):
        check_is_fitted(self)
        X, _ = check_sequences(self, X, reset=False)
        if X.shape[1] != self.sequence_length_in_:
            raise ValueError(
                f"X has sequences of length {X.shape[1]}, but "
                f"{type(self).__name__} was fitted on length "
                f"{self.sequence_length_in_}. Window the data with "
                f"SequenceWindower(sequence_length={self.sequence_length_in_})."
            )
        return X

    def quantize(self):
        """A copy whose network runs with int8 weights on the CPU, for serving.

        PyTorch's dynamic quantization replaces the LSTM and Linear layers
        by int8 ones (weights quantized once, activations per forward pass);
        the attention's projections, normalisations and the softmax stay
        float32. The copy predicts on the CPU, one window per forward pass
        (its activation scales would otherwise depend on the other windows
        of the batch), and this classifier is left unchanged. The copy
        pickles and saves (:func:`sklensemble.save`) with the float weights
        and quantizes them again when loaded, which gives the same network.

        Returns
        -------
        quantized : classifier of the same class
            Fitted, with ``quantized_ = True`` and ``device_ = "cpu"``.
        """
        check_is_fitted(self)
        quantized = copy.deepcopy(self)  # through __getstate__: the float net
        quantized._quantize_in_place()
        return quantized

    def _quantize_in_place(self):
        """Run the fitted network quantized, on the CPU (see :meth:`quantize`)."""
        self.device_ = "cpu"
        self.quantized_ = True
        self.module_ = _quantized_module(self.net_.module_)

    def predict(self, X):
        """Most probable class for each sequence.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or ndarray of shape \
                (n_samples, sequence_length, n_features)

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            Labels of the same type as the ``y`` given to :meth:`fit`.
        """
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]

    # -- pickling ------------------------------------------------------
    def __getstate__(self):
        state = dict(super().__getstate__())  # a copy: never alter self
        net = state.pop("net_", None)
        state.pop("module_", None)
        if net is not None:
            # Weights travel as CPU tensors so that a GPU-trained model
            # unpickles on a CPU-only machine (skorch issue #1096).
            state["_net_state"] = {
                "weights": {
                    key: value.detach().cpu()
                    for key, value in net.module_.state_dict().items()
                },
                "history": net.history,
            }
        return state

    def __setstate__(self, state):
        net_state = state.pop("_net_state", None)
        super().__setstate__(state)
        if net_state is None:
            return
        self.device_ = loadable_device(self.device_)
        with global_generators_locked():
            self.net_ = self._make_net(self._n_inputs(), 0, None)
            self.net_.initialize()
        self.net_.module_.load_state_dict(net_state["weights"])
        self.net_.history = net_state["history"]
        self.module_ = _place_module(self.net_.module_, self.device_)
        if getattr(self, "quantized_", False):
            self._quantize_in_place()

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = False
        tags.non_deterministic = False
        tags.input_tags.allow_nan = True
        return tags
