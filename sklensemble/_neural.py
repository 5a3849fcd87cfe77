"""scikit-learn classifiers around skorch: the attention-LSTM and the Transformer.

Composition, not inheritance: each classifier is a plain scikit-learn
estimator that builds and trains a skorch ``NeuralNetClassifier`` inside
``fit`` (fitted attributes ``net_`` and ``module_``). That keeps
``__init__`` free of logic and lets scikit-learn's input checks, label
encoding and tags apply as they do to any scikit-learn classifier.
"""

import copy
import numbers
import warnings

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import _check_sample_weight, check_is_fitted
from skorch import NeuralNetClassifier
from skorch.callbacks import EarlyStopping, GradientNormClipping, LRScheduler

from ._batching import TailSplit, WindowBatches, WindowDataset, to_tensor
from ._hooks import run_fit_hooks
from ._interrupt import check_stop, discard_fit
from ._modules import AttentionLSTM, TransformerEncoderNet
from ._progress import EpochProgress, epochs_enabled
from ._torch_state import GeneratorStream, global_generators_locked
from ._utils import _check_class_weight, _to_seed
from ._validation import (
    check_sequences,
    check_time_order,
    loadable_device,
    resolve_device,
    tail_rows,
)

# Memory budget of one forward pass at predict time on the CPU (float32
# activations, estimated by _predict_batch_rows), and the most rows per pass.
_PREDICT_BATCH_BYTES = 32 * 2**20
_PREDICT_BATCH_ROWS = 1024
# Rows per pass are a multiple of this. With a fixed batch shape, a row's
# float32 result does not depend on its neighbours or its position in the
# batch for batches of 12 rows or more (measured with 1 to 16 threads); the
# kernels for fewer rows round by position.
_PREDICT_ROW_MULTIPLE = 16
# Activation tensors of the widest layer assumed alive at once in a forward
# pass (input, output and the attention's intermediates); calibrated so that
# the estimate exceeds the measured peak (benchmarks/bench_windowing_memory.py).
_LIVE_TENSORS = 4
# Layers replaced by int8 dynamically quantized ones in quantize().
_QUANTIZED_LAYERS = {torch.nn.LSTM, torch.nn.Linear}


def _place_module(module, device):
    """Move ``module`` to ``device`` in float32, ready for inference."""
    module.to(device)
    module.float()
    return module.eval()


class _WeightedNet(NeuralNetClassifier):
    """skorch net whose loss weighs every sequence: the batch mean of ``w * loss``.

    Batches carry ``(y, w)`` as their target (see
    :class:`~sklensemble._batching.WindowDataset`, which rescales ``w`` to
    mean 1 over the rows of its split); the criterion returns per-sequence
    losses (``reduction="none"``).
    """

    def get_loss(self, y_pred, y_true, X=None, training=False):
        y, w = y_true
        losses = super().get_loss(y_pred, y, X=X, training=training)
        return (losses * w.to(losses.device)).mean()


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


def _check_weighted_rows(w, split):
    """Raise ValueError when the training rows or the validation tail weigh 0."""
    train, valid = (slice(None), None) if split is None else split
    if not w[train].sum() > 0:
        raise ValueError(
            "The sample weights (times class_weight) of all training rows are "
            "zero: there is no loss to learn from. Give some of them a "
            "positive weight."
        )
    if valid is not None and not w[valid].sum() > 0:
        raise ValueError(
            "The sample weights (times class_weight) of all validation rows "
            "(the last validation_fraction of the rows) are zero: early "
            "stopping has no loss to measure. Give some of them a positive "
            "weight or pass validation_fraction=None."
        )


class _StopTraining(KeyboardInterrupt):
    """Early stopping's end of training (skorch's signal is a KeyboardInterrupt)."""


class _EarlyStopping(EarlyStopping):
    """skorch's EarlyStopping that ends training with :class:`_StopTraining`
    and may not stop before ``min_epochs``.

    Tells its own stop apart from Ctrl-C, which raises KeyboardInterrupt too.
    The best epoch is tracked (and restored) from the first epoch on; only
    the stop waits, so that a plateau in the first epochs, where recurrent
    networks often sit before they find an order-dependent signal, does not
    end training.
    """

    def __init__(self, min_epochs=1, **kwargs):
        super().__init__(**kwargs)
        self.min_epochs = min_epochs

    def on_epoch_end(self, net, **kwargs):
        try:
            super().on_epoch_end(net, **kwargs)
        except KeyboardInterrupt:
            if self.misses_ != self.patience:  # not skorch's own stop: Ctrl-C
                raise
        # skorch stops only when the misses reach patience exactly; past
        # min_epochs a longer run of misses stops too.
        if self.misses_ >= self.patience and len(net.history) >= self.min_epochs:
            raise _StopTraining


class _InterruptibleNet(_WeightedNet):
    """The weighted net, except that Ctrl-C ends ``fit`` with an error.

    skorch's ``partial_fit`` catches a ``KeyboardInterrupt`` raised in its
    training loop and returns as if training had finished; here the
    interrupt is recorded in ``fit_loop`` and raised again once skorch's
    ``on_train_end`` hooks have run. Only early stopping ends training
    quietly. Before each batch the net also stops when the ensemble fit it
    belongs to was interrupted in another thread.
    """

    _interrupt = None

    def fit_loop(self, *args, **kwargs):
        try:
            return super().fit_loop(*args, **kwargs)
        except _StopTraining:
            raise
        except KeyboardInterrupt as exc:
            self._interrupt = exc
            raise

    def partial_fit(self, *args, **kwargs):
        self._interrupt = None
        super().partial_fit(*args, **kwargs)
        interrupt, self._interrupt = self._interrupt, None
        if interrupt is not None:
            raise interrupt
        return self

    def on_batch_begin(self, net, **kwargs):
        super().on_batch_begin(net, **kwargs)
        check_stop()


def _predict_batch_rows(module, sequence_length, device):
    """Rows in every forward pass of ``predict_proba``: a fixed batch shape.

    On the CPU, as many windows as fit ``_PREDICT_BATCH_BYTES``, in
    multiples of ``_PREDICT_ROW_MULTIPLE``: a window's float32 activations
    are estimated from the widest layer (a weight matrix's output width,
    plus one attention score per head and step), with ``_LIVE_TENSORS`` such
    tensors alive at once. On CUDA the GPU's memory is not the process's:
    ``_PREDICT_BATCH_ROWS``.
    """
    if device != "cpu":
        return _PREDICT_BATCH_ROWS
    widest = max((p.shape[0] for p in module.parameters() if p.ndim == 2), default=1)
    heads = max(
        (m.num_heads for m in module.modules() if hasattr(m, "num_heads")), default=0
    )
    steps = sequence_length
    per_window = 4 * _LIVE_TENSORS * steps * (widest + heads * steps)
    rows = _PREDICT_BATCH_BYTES // per_window // _PREDICT_ROW_MULTIPLE
    return int(
        np.clip(
            rows * _PREDICT_ROW_MULTIPLE, _PREDICT_ROW_MULTIPLE, _PREDICT_BATCH_ROWS
        )
    )


def _quantized_module(module):
    """A CPU copy of ``module`` with int8 dynamically quantized LSTM/Linear layers.

    Weights are quantized once; activations are quantized on the fly from
    each forward pass's own range. The attention's projections stay float32
    (PyTorch does not quantize them dynamically). A Transformer encoder
    layer's fused fast path reads its linear weights as tensors, which
    quantized layers hold packed: the copy runs the layer's regular path.
    """
    float_copy = _place_module(copy.deepcopy(module), "cpu")
    with warnings.catch_warnings():
        # torch.ao announces the migration of eager quantization to torchao.
        warnings.simplefilter("ignore")
        quantized = torch.ao.quantization.quantize_dynamic(
            float_copy, _QUANTIZED_LAYERS, dtype=torch.qint8
        )
    for layer in quantized.modules():
        if isinstance(layer, torch.nn.TransformerEncoderLayer):
            layer.activation_relu_or_gelu = 0  # the flag that selects the fast path
    return quantized.eval()


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
        try:
            self._fit(X, y, sample_weight)
        except BaseException:
            discard_fit(self)
            raise
        run_fit_hooks(self, X, y, sample_weight)
        return self

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
        return self

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


class AttentionLSTMClassifier(_SequenceClassifierBase):
    """Bidirectional LSTM with multi-head self-attention, as a sklearn classifier.

    A stack of bidirectional LSTM layers reads each sequence; multi-head
    self-attention (residual, LayerNorm) mixes its outputs across time; a
    feed-forward head maps the last step to class logits. Trained by a skorch
    ``NeuralNetClassifier`` built in :meth:`fit`.

    Read more in ``docs/estimators.md`` ("The sequence classifiers").

    Parameters
    ----------
    hidden_size : int, default=128
        LSTM units per direction; attention works on ``2 * hidden_size``.
    num_layers : int, default=3
        Stacked LSTM layers.
    num_heads : int, default=8
        Attention heads; must divide ``2 * hidden_size``.
    dropout : float, default=0.2
        Dropout between LSTM layers, in attention and in the head.
    max_epochs : int, default=100
        Maximum number of passes over the training rows; the length of the
        cosine learning-rate schedule.
    batch_size : int, default=128
        Sequences per optimisation step.
    lr : float, default=3e-3
        AdamW learning rate (the peak of the cosine schedule).
    weight_decay : float, default=1e-2
        AdamW decoupled weight decay.
    clip_grad_norm : float or None, default=1.0
        Maximum gradient norm; ``None`` disables clipping.
    class_weight : dict, "balanced" or None, default=None
        Weights of the classes in the cross-entropy loss: ``{label: weight}``,
        ``"balanced"`` (inversely proportional to class frequencies) or
        ``None`` (all ones). They multiply the ``sample_weight`` of
        :meth:`fit`, as in scikit-learn.
    validation_fraction : float or None, default=0.1
        Share of the LAST training rows (time order, never shuffled) held out
        to early-stop on the validation loss; the best epoch's weights are
        restored. ``None`` trains on every row for ``max_epochs``. On a
        panel's windows (:class:`SequenceWindower` on a panel) the last
        dates are held out instead, every instrument of a date on one side.
    validation_gap : int, default=0
        Rows (dates, on a panel) right before the held-out tail that neither
        train nor validate: set it to the label horizon, so that no training
        label looks into the tail (the ``purge`` of
        :class:`~sklensemble.PurgedWalkForwardSplit`).
        :func:`~sklensemble.make_ensemble_pipeline` sets it from its
        ``horizon``. Ignored when ``validation_fraction=None``.
    patience : int, default=20
        Epochs without a validation-loss improvement before stopping. The
        loss on a small tail is noisy (it can double from one epoch to the
        next while the network still improves), so a patience of 20 epochs
        is needed not to stop on a bad epoch.
    min_epochs : int, default=20
        Early stopping may not stop before this many epochs (capped by
        ``max_epochs``); the best epoch is still tracked and restored from
        the first epoch on. Recurrent networks often sit on a plateau for
        their first epochs before they find an order-dependent signal.
    lr_schedule : {"cosine", "constant"}, default="cosine"
        ``"cosine"`` anneals the learning rate from ``lr`` towards 0 over
        ``max_epochs`` (one step per epoch): large steps to leave the early
        plateau, small ones at the end, where the validation loss then
        settles instead of jumping between epochs. ``"constant"`` keeps
        ``lr``.
    refit_full : bool, default=False
        After early stopping chose the best epoch on the tail, train a new
        network from the same seed on **all** rows, the tail included, for
        that many epochs (with the same learning-rate schedule) and keep it.
        The epoch count is not scaled: the refit's epochs are ~1/(1 -
        ``validation_fraction``) times longer. Costs up to twice the
        training. No effect when ``validation_fraction=None``.
    device : str, default="auto"
        ``"auto"`` (CUDA when available, else CPU), ``"cpu"``, ``"cuda"`` or
        ``"cuda:N"``.
    random_state : int, RandomState instance or None, default=None
        Seeds weight initialisation, dropout and batch shuffling. CPU fits
        with the same seed and torch thread count are bit-for-bit identical,
        also when other fits run in other threads; the caller's global torch
        random state is left untouched.
    verbose : int, default=0
        0 is silent; 1 or more prints one line of losses per epoch.
    callbacks : list or None, default=None
        Extra skorch callbacks (instances or ``(name, callback)`` pairs)
        appended to the net's own (gradient clipping, learning-rate schedule,
        early stopping), e.g. the per-epoch pruning hook of
        :func:`sklensemble.tuning.tune`, or a learning-rate scheduler of
        your own (with ``lr_schedule="constant"``). With ``refit_full`` they
        run in both fits. A ``KeyboardInterrupt`` raised by a callback counts
        as Ctrl-C: it ends ``fit`` with that error instead of ending training
        quietly as in skorch (``patience`` stops early). ``clone`` copies
        them (skorch callbacks from their parameters) unless they define
        ``__sklearn_clone__``.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels seen in :term:`fit`.
    class_weight_ : ndarray of shape (n_classes,)
        Loss weight of each class, in the order of ``classes_``.
    missing_fill_ : ndarray of shape (n_features_in_,)
        Value that replaces a missing (NaN) feature: its median over the
        training rows (0 for a feature never observed there).
    missing_indicator_features_ : ndarray of int
        Features that were missing in some training row; each gets an extra
        0/1 "was missing" input, so the network reads
        ``n_features_in_ + len(missing_indicator_features_)`` inputs.
    n_features_in_ : int
        Number of features per time step seen in :term:`fit`.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen in :term:`fit` (2D input with string column
        names only).
    sequence_length_in_ : int
        Sequence length seen in :term:`fit` (1 for 2D input). Prediction
        refuses other lengths: attention and pooling were learned over this
        many steps.
    device_ : str
        Device the network lives on.
    net_ : skorch.NeuralNetClassifier
        The trained skorch net; ``net_.history`` holds per-epoch losses
        (training losses only after a ``refit_full`` refit).
    module_ : torch.nn.Module
        The trained torch module, float32 (int8 dynamically quantized
        layers in a :meth:`quantize` copy).
    quantized_ : bool
        Only in a :meth:`quantize` copy: True.
    n_epochs_ : int
        Epochs the final network trained: where early stopping stopped, or
        ``best_epoch_`` after a ``refit_full`` refit.
    best_epoch_ : int
        The epoch (from 1) with the lowest validation loss, whose weights
        are restored, or whose count the ``refit_full`` refit trains;
        ``n_epochs_`` without validation.

    See Also
    --------
    TransformerClassifier : Transformer-encoder alternative.
    SequenceWindower : Builds the look-back windows from rows.

    Notes
    -----
    Input: 3D ``(n_samples, sequence_length, n_features)`` arrays of any
    sequence classification problem, or 2D rows treated as sequences of
    length one. Windowed views (:class:`SequenceWindower`) are read one batch
    at a time and never copied whole.

    **Sample weights.** Each sequence's cross-entropy is multiplied by
    ``w = sample_weight * class_weight``; a batch's loss is the mean of
    ``w * loss`` divided by the mean of ``w`` over all the rows of its
    split (training rows or validation tail), so every epoch's training and
    validation losses are the weighted means ``sum(w * loss) / sum(w)`` and
    a batch of light rows moves the weights less than a batch of heavy ones.
    A weight of 0 removes a sequence from the loss (it still passes
    through the network, and batch composition is unchanged). The
    validation tail is weighted too, so early stopping judges the loss
    being optimised; all-zero weights on the training rows or on the tail
    are an error. Integer weights are not exactly equivalent to repeated
    rows: shuffled mini-batches see a repeated row in different batches.

    **Missing values.** NaN is accepted in fit and predict and handled the
    same way in both, causally (per time step, never from later rows): a
    missing value is replaced by its feature's median over the training
    rows (the current step of each training sequence, the validation tail
    excluded; ``missing_fill_``), and for every feature that was missing
    in training a 0/1 indicator input tells the network which values were
    filled (``missing_indicator_features_``). A feature missing only at
    predict time is filled without an indicator. Without NaN in training
    the network and its inputs are unchanged. :class:`SequenceWindower`
    pads with copies of the first row or with zeros, never NaN, so padding
    is not mistaken for missing data. Infinity is an error.

    Predictions are computed in float32, in forward passes of one fixed
    number of windows (the last padded): as many as fit a 32 MiB estimate of
    the activations on the CPU (a multiple of 16), 1,024 on CUDA. For one
    shape the kernels round a row the same whatever its neighbours and its
    place in the batch, so a row's probabilities do not depend on the other
    rows it is predicted with (bit for bit; measured on CPUs with 1 to 16
    threads), and memory stays bounded. A pickled model stores its
    weights as CPU tensors and restores onto the fitted device, falling back
    to the CPU with a warning where CUDA is absent.

    Examples
    --------
    >>> import numpy as np
    >>> from sklensemble import AttentionLSTMClassifier
    >>> rng = np.random.RandomState(0)
    >>> X = rng.normal(size=(200, 5, 3))
    >>> y = (X[:, :, 0].sum(axis=1) > 0).astype(int)
    >>> clf = AttentionLSTMClassifier(hidden_size=8, num_layers=1, num_heads=2,
    ...                               max_epochs=30, lr=1e-2, random_state=0).fit(X, y)
    >>> clf.predict_proba(X[:2]).shape
    (2, 2)
    >>> bool(clf.score(X, y) > 0.8)
    True
    """

    _parameter_constraints = {
        **_SequenceClassifierBase._parameter_constraints,
        "hidden_size": [Interval(numbers.Integral, 1, None, closed="left")],
        "num_layers": [Interval(numbers.Integral, 1, None, closed="left")],
        "num_heads": [Interval(numbers.Integral, 1, None, closed="left")],
        "dropout": [Interval(numbers.Real, 0, 1, closed="left")],
    }

    def __init__(
        self,
        *,
        hidden_size=128,
        num_layers=3,
        num_heads=8,
        dropout=0.2,
        max_epochs=100,
        batch_size=128,
        lr=3e-3,
        weight_decay=1e-2,
        clip_grad_norm=1.0,
        class_weight=None,
        validation_fraction=0.1,
        validation_gap=0,
        patience=20,
        min_epochs=20,
        lr_schedule="cosine",
        refit_full=False,
        device="auto",
        random_state=None,
        verbose=0,
        callbacks=None,
    ):
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.dropout = dropout
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.clip_grad_norm = clip_grad_norm
        self.class_weight = class_weight
        self.validation_fraction = validation_fraction
        self.validation_gap = validation_gap
        self.patience = patience
        self.min_epochs = min_epochs
        self.lr_schedule = lr_schedule
        self.refit_full = refit_full
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self.callbacks = callbacks

    def _check_architecture(self):
        if (2 * self.hidden_size) % self.num_heads:
            raise ValueError(
                f"num_heads={self.num_heads} must divide the attention width "
                f"2 * hidden_size = {2 * self.hidden_size}; choose hidden_size "
                "and num_heads accordingly (e.g. hidden_size=128, num_heads=8)."
            )

    def _module_spec(self, n_features, n_classes):
        return AttentionLSTM, dict(
            n_features=n_features,
            n_classes=n_classes,
            hidden_size=self.hidden_size,
            num_layers=self.num_layers,
            num_heads=self.num_heads,
            dropout=self.dropout,
        )


class TransformerClassifier(_SequenceClassifierBase):
    """Transformer encoder over sequences, as a scikit-learn classifier.

    A linear projection to ``d_model``, sinusoidal positional encoding, a
    stack of pre-norm Transformer encoder layers, pooling over time and a
    linear head to class logits. Trained by a skorch ``NeuralNetClassifier``
    built in :meth:`fit`.

    Read more in ``docs/estimators.md`` ("The sequence classifiers").

    Parameters
    ----------
    d_model : int, default=256
        Width of the encoder.
    num_layers : int, default=4
        Encoder layers.
    num_heads : int, default=8
        Attention heads; must divide ``d_model``.
    dim_feedforward : int or None, default=None
        Width of the feed-forward block; ``None`` means ``4 * d_model``.
    dropout : float, default=0.1
        Dropout in the encoder layers.
    pooling : {"last", "mean"}, default="last"
        Summarise the sequence by its last step (the current bar) or the mean
        over steps.
    max_epochs : int, default=100
        Maximum number of passes over the training rows; the length of the
        cosine learning-rate schedule.
    batch_size : int, default=128
        Sequences per optimisation step.
    lr : float, default=3e-3
        AdamW learning rate (the peak of the cosine schedule).
    weight_decay : float, default=1e-2
        AdamW decoupled weight decay.
    clip_grad_norm : float or None, default=1.0
        Maximum gradient norm; ``None`` disables clipping.
    class_weight : dict, "balanced" or None, default=None
        Weights of the classes in the cross-entropy loss: ``{label: weight}``,
        ``"balanced"`` (inversely proportional to class frequencies) or
        ``None`` (all ones). They multiply the ``sample_weight`` of
        :meth:`fit`, as in scikit-learn.
    validation_fraction : float or None, default=0.1
        Share of the LAST training rows (time order, never shuffled) held out
        to early-stop on the validation loss; the best epoch's weights are
        restored. ``None`` trains on every row for ``max_epochs``. On a
        panel's windows (:class:`SequenceWindower` on a panel) the last
        dates are held out instead, every instrument of a date on one side.
    validation_gap : int, default=0
        Rows (dates, on a panel) right before the held-out tail that neither
        train nor validate: set it to the label horizon, so that no training
        label looks into the tail (the ``purge`` of
        :class:`~sklensemble.PurgedWalkForwardSplit`).
        :func:`~sklensemble.make_ensemble_pipeline` sets it from its
        ``horizon``. Ignored when ``validation_fraction=None``.
    patience : int, default=20
        Epochs without a validation-loss improvement before stopping. The
        loss on a small tail is noisy (it can double from one epoch to the
        next while the network still improves), so a patience of 20 epochs
        is needed not to stop on a bad epoch.
    min_epochs : int, default=20
        Early stopping may not stop before this many epochs (capped by
        ``max_epochs``); the best epoch is still tracked and restored from
        the first epoch on. Recurrent networks often sit on a plateau for
        their first epochs before they find an order-dependent signal.
    lr_schedule : {"cosine", "constant"}, default="cosine"
        ``"cosine"`` anneals the learning rate from ``lr`` towards 0 over
        ``max_epochs`` (one step per epoch): large steps to leave the early
        plateau, small ones at the end, where the validation loss then
        settles instead of jumping between epochs. ``"constant"`` keeps
        ``lr``.
    refit_full : bool, default=False
        After early stopping chose the best epoch on the tail, train a new
        network from the same seed on **all** rows, the tail included, for
        that many epochs (with the same learning-rate schedule) and keep it.
        The epoch count is not scaled: the refit's epochs are ~1/(1 -
        ``validation_fraction``) times longer. Costs up to twice the
        training. No effect when ``validation_fraction=None``.
    device : str, default="auto"
        ``"auto"`` (CUDA when available, else CPU), ``"cpu"``, ``"cuda"`` or
        ``"cuda:N"``.
    random_state : int, RandomState instance or None, default=None
        Seeds weight initialisation, dropout and batch shuffling. CPU fits
        with the same seed and torch thread count are bit-for-bit identical,
        also when other fits run in other threads; the caller's global torch
        random state is left untouched.
    verbose : int, default=0
        0 is silent; 1 or more prints one line of losses per epoch.
    callbacks : list or None, default=None
        Extra skorch callbacks (instances or ``(name, callback)`` pairs)
        appended to the net's own (gradient clipping, learning-rate schedule,
        early stopping), e.g. the per-epoch pruning hook of
        :func:`sklensemble.tuning.tune`, or a learning-rate scheduler of
        your own (with ``lr_schedule="constant"``). With ``refit_full`` they
        run in both fits. A ``KeyboardInterrupt`` raised by a callback counts
        as Ctrl-C: it ends ``fit`` with that error instead of ending training
        quietly as in skorch (``patience`` stops early). ``clone`` copies
        them (skorch callbacks from their parameters) unless they define
        ``__sklearn_clone__``.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels seen in :term:`fit`.
    class_weight_ : ndarray of shape (n_classes,)
        Loss weight of each class, in the order of ``classes_``.
    missing_fill_ : ndarray of shape (n_features_in_,)
        Value that replaces a missing (NaN) feature: its median over the
        training rows (0 for a feature never observed there).
    missing_indicator_features_ : ndarray of int
        Features that were missing in some training row; each gets an extra
        0/1 "was missing" input, so the network reads
        ``n_features_in_ + len(missing_indicator_features_)`` inputs.
    n_features_in_ : int
        Number of features per time step seen in :term:`fit`.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen in :term:`fit` (2D input with string column
        names only).
    sequence_length_in_ : int
        Sequence length seen in :term:`fit` (1 for 2D input). Prediction
        refuses other lengths: attention and pooling were learned over this
        many steps.
    device_ : str
        Device the network lives on.
    net_ : skorch.NeuralNetClassifier
        The trained skorch net; ``net_.history`` holds per-epoch losses
        (training losses only after a ``refit_full`` refit).
    module_ : torch.nn.Module
        The trained torch module, float32 (int8 dynamically quantized
        layers in a :meth:`quantize` copy).
    quantized_ : bool
        Only in a :meth:`quantize` copy: True.
    n_epochs_ : int
        Epochs the final network trained: where early stopping stopped, or
        ``best_epoch_`` after a ``refit_full`` refit.
    best_epoch_ : int
        The epoch (from 1) with the lowest validation loss, whose weights
        are restored, or whose count the ``refit_full`` refit trains;
        ``n_epochs_`` without validation.

    See Also
    --------
    AttentionLSTMClassifier : Recurrent alternative.
    SequenceWindower : Builds the look-back windows from rows.

    Notes
    -----
    Input: 3D ``(n_samples, sequence_length, n_features)`` arrays of any
    sequence classification problem, or 2D rows treated as sequences of
    length one. Windowed views (:class:`SequenceWindower`) are read one batch
    at a time and never copied whole.

    **Sample weights.** Each sequence's cross-entropy is multiplied by
    ``w = sample_weight * class_weight``; a batch's loss is the mean of
    ``w * loss`` divided by the mean of ``w`` over all the rows of its
    split (training rows or validation tail), so every epoch's training and
    validation losses are the weighted means ``sum(w * loss) / sum(w)`` and
    a batch of light rows moves the weights less than a batch of heavy ones.
    A weight of 0 removes a sequence from the loss (it still passes
    through the network, and batch composition is unchanged). The
    validation tail is weighted too, so early stopping judges the loss
    being optimised; all-zero weights on the training rows or on the tail
    are an error. Integer weights are not exactly equivalent to repeated
    rows: shuffled mini-batches see a repeated row in different batches.

    **Missing values.** NaN is accepted in fit and predict and handled the
    same way in both, causally (per time step, never from later rows): a
    missing value is replaced by its feature's median over the training
    rows (the current step of each training sequence, the validation tail
    excluded; ``missing_fill_``), and for every feature that was missing
    in training a 0/1 indicator input tells the network which values were
    filled (``missing_indicator_features_``). A feature missing only at
    predict time is filled without an indicator. Without NaN in training
    the network and its inputs are unchanged. :class:`SequenceWindower`
    pads with copies of the first row or with zeros, never NaN, so padding
    is not mistaken for missing data. Infinity is an error.

    Predictions are computed in float32, in forward passes of one fixed
    number of windows (the last padded): as many as fit a 32 MiB estimate of
    the activations on the CPU (a multiple of 16), 1,024 on CUDA. For one
    shape the kernels round a row the same whatever its neighbours and its
    place in the batch, so a row's probabilities do not depend on the other
    rows it is predicted with (bit for bit; measured on CPUs with 1 to 16
    threads), and memory stays bounded. A pickled model stores its
    weights as CPU tensors and restores onto the fitted device, falling back
    to the CPU with a warning where CUDA is absent.

    Examples
    --------
    >>> import numpy as np
    >>> from sklensemble import TransformerClassifier
    >>> rng = np.random.RandomState(0)
    >>> X = rng.normal(size=(200, 5, 3))
    >>> y = (X[:, :, 0].sum(axis=1) > 0).astype(int)
    >>> clf = TransformerClassifier(d_model=16, num_layers=1, num_heads=2,
    ...                             max_epochs=30, lr=1e-2, random_state=0).fit(X, y)
    >>> clf.predict(X[:3]).shape
    (3,)
    >>> bool(clf.score(X, y) > 0.8)
    True
    """

    _parameter_constraints = {
        **_SequenceClassifierBase._parameter_constraints,
        "d_model": [Interval(numbers.Integral, 1, None, closed="left")],
        "num_layers": [Interval(numbers.Integral, 1, None, closed="left")],
        "num_heads": [Interval(numbers.Integral, 1, None, closed="left")],
        "dim_feedforward": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "dropout": [Interval(numbers.Real, 0, 1, closed="left")],
        "pooling": [StrOptions({"last", "mean"})],
    }

    def __init__(
        self,
        *,
        d_model=256,
        num_layers=4,
        num_heads=8,
        dim_feedforward=None,
        dropout=0.1,
        pooling="last",
        max_epochs=100,
        batch_size=128,
        lr=3e-3,
        weight_decay=1e-2,
        clip_grad_norm=1.0,
        class_weight=None,
        validation_fraction=0.1,
        validation_gap=0,
        patience=20,
        min_epochs=20,
        lr_schedule="cosine",
        refit_full=False,
        device="auto",
        random_state=None,
        verbose=0,
        callbacks=None,
    ):
        self.d_model = d_model
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.dim_feedforward = dim_feedforward
        self.dropout = dropout
        self.pooling = pooling
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.clip_grad_norm = clip_grad_norm
        self.class_weight = class_weight
        self.validation_fraction = validation_fraction
        self.validation_gap = validation_gap
        self.patience = patience
        self.min_epochs = min_epochs
        self.lr_schedule = lr_schedule
        self.refit_full = refit_full
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self.callbacks = callbacks

    def _check_architecture(self):
        if self.d_model % self.num_heads:
            raise ValueError(
                f"num_heads={self.num_heads} must divide d_model={self.d_model}; "
                "choose them accordingly (e.g. d_model=256, num_heads=8)."
            )

    def _module_spec(self, n_features, n_classes):
        return TransformerEncoderNet, dict(
            n_features=n_features,
            n_classes=n_classes,
            d_model=self.d_model,
            num_layers=self.num_layers,
            num_heads=self.num_heads,
            dim_feedforward=self.dim_feedforward or 4 * self.d_model,
            dropout=self.dropout,
            pooling=self.pooling,
        )
