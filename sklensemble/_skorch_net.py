"""The skorch net the sequence classifiers train.

A weighted loss (each sequence's loss times its sample weight), early
stopping that may not stop before ``min_epochs`` and tells its own stop
apart from Ctrl-C, and a net whose ``fit`` ends with ``KeyboardInterrupt``
on a real interrupt instead of returning as if training had finished.
"""

from skorch import NeuralNetClassifier
from skorch.callbacks import EarlyStopping

from ._interrupt import check_stop


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
