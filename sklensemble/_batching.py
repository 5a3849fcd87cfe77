"""Batch gathering for skorch: one indexing operation per batch.

skorch's default path builds a batch sample by sample through a Dataset and
a collate function. Here a batch is gathered from the (possibly windowed,
strided) array with a single fancy index, converted to float32 and handed
to skorch as tensors; no per-sample Python work and no full copy of the
windows.
"""

import numpy as np
import torch
from torch.utils.data import Dataset


def to_tensor(X, dtype=np.float32):
    """CPU tensor of ``X``, copying only when ``X`` is strided, read-only or
    of another dtype (a fancy-indexed batch is already a fresh array)."""
    return torch.from_numpy(np.require(X, dtype, ["C", "W"]))


class WindowDataset(Dataset):
    """Sequences, encoded labels and loss weights, kept as the arrays they came in.

    A batch is ``(X, (y, w))``: the weight travels with its target so that
    the net's loss can weigh each sequence (see
    :class:`~sklensemble._skorch_net._WeightedNet`).

    Parameters
    ----------
    X : ndarray of shape (n_samples, sequence_length, n_features)
        Any numeric dtype; may be a read-only strided view.
    y : ndarray of shape (n_samples,) of int
    w : ndarray of shape (n_samples,)
        Non-negative loss weight of each sequence, not all zero. Stored
        rescaled to mean 1 over these rows, so that the mean of
        ``w * loss`` over a batch estimates the weighted mean loss
        ``sum(w * loss) / sum(w)`` of the rows, and skorch's epoch average
        of the batch losses equals it exactly.
    prepare : callable or None, default=None
        Applied to each gathered batch (a NumPy array) before conversion,
        e.g. missing-value imputation.
    """

    def __init__(self, X, y, w, prepare=None):
        self.X = X
        self.y = y
        self.w = np.asarray(w, dtype=np.float64) / np.mean(w)
        self.prepare = prepare

    def __len__(self):
        return len(self.X)

    def __getitem__(self, index):
        return self.batch(np.atleast_1d(index))

    def batch(self, index):
        """Gather rows ``index`` (slice or int array) as ``(X, (y, w))`` tensors."""
        X = self.X[index]
        if self.prepare is not None:
            X = self.prepare(np.asarray(X))
        y = torch.from_numpy(np.require(self.y[index], np.int64, ["C", "W"]))
        w = torch.from_numpy(np.require(self.w[index], np.float32, ["C", "W"]))
        return to_tensor(X), (y, w)

    def subset(self, rows):
        """The rows ``rows`` (slice or int array), without gathering windows;
        their weights are rescaled to mean 1 among themselves."""
        return WindowDataset(self.X[rows], self.y[rows], self.w[rows], self.prepare)


class WindowBatches:
    """Iterator over a :class:`WindowDataset`, used as skorch's ``iterator_*``.

    skorch builds it once per ``fit`` and iterates it once per epoch, so the
    random state below draws a new (reproducible) permutation every epoch.
    """

    def __init__(self, dataset, batch_size, shuffle=False, seed=None):
        self.dataset = dataset
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.random_state = np.random.RandomState(seed)

    def __len__(self):
        return -(-len(self.dataset) // self.batch_size)

    def __iter__(self):
        n_samples = len(self.dataset)
        if self.shuffle:
            order = self.random_state.permutation(n_samples)
            for start in range(0, n_samples, self.batch_size):
                # Sorted indices read memory forwards; order within a batch
                # does not matter to the loss.
                index = np.sort(order[start : start + self.batch_size])
                yield self.dataset.batch(index)
        else:
            for start in range(0, n_samples, self.batch_size):
                yield self.dataset.batch(slice(start, start + self.batch_size))


class TailSplit:
    """skorch ``train_split``: fixed training and validation rows.

    The rows come from :func:`~sklensemble._validation.tail_rows`: the last
    rows, or for a panel the last dates.
    """

    def __init__(self, train, valid):
        self.train = train
        self.valid = valid

    def __call__(self, dataset, y=None, **fit_params):
        return dataset.subset(self.train), dataset.subset(self.valid)
