"""scikit-learn classifiers around skorch: the attention-LSTM and the Transformer.

Their shared logic is :class:`~sklensemble._sequence_base._SequenceClassifierBase`;
the skorch net they train is in ``_skorch_net``, prediction batches and int8
copies in ``_net_inference``.
"""

import numbers

from ._modules import AttentionLSTM, TransformerEncoderNet
from ._sequence_base import _SequenceClassifierBase
from ._sklearn_private import Interval, StrOptions

# Names of the modules split out of this one, importable here so that models
# pickled before the split (their skorch net and its callbacks) still load.
from ._skorch_net import (  # noqa: F401
    _EarlyStopping,
    _InterruptibleNet,
    _StopTraining,
    _WeightedNet,
)


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
