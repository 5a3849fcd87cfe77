"""Training defaults of the sequence networks against generous training.

Two planted tasks whose label depends on the *order* of the rows in the
window, not on the current row:

* ``lag``: ``y[t] = 1`` when feature 0 at ``t - 3`` exceeds feature 0 at
  ``t - 5`` (the sign of ``x[t-3] - x[t-5]``);
* ``peak``: ``y[t] = 1`` when, within the window, feature 0 peaks before
  feature 1 ("did A rise before B").

Each network (small sizes) is fitted four times per seed: with the
training defaults before the cosine schedule (``previous``: ``lr=1e-3``,
constant, ``max_epochs=50``, ``patience=5``); with its default training
settings; with the defaults and a generous patience (``patience`` equal to
``max_epochs``: early stopping never fires, the best epoch is still
restored), the reference of the target; and with a long constant-rate run
(``lr_schedule="constant"``, ``patience=30``, ``max_epochs=150``) that
trains far past any plateau. Prints held-out accuracy and epochs run; the
target is defaults within 0.01 of generous patience.

    python benchmarks/bench_training_defaults.py
    python benchmarks/bench_training_defaults.py --seeds 0 1 2 --rows 3000
"""

import argparse
import platform
import time

import numpy as np
import torch

from sklensemble import AttentionLSTMClassifier, SequenceWindower, TransformerClassifier

SEQUENCE_LENGTH = 8
NETWORKS = {
    "lstm": (AttentionLSTMClassifier, dict(hidden_size=16, num_layers=1, num_heads=2)),
    "transformer": (TransformerClassifier, dict(d_model=16, num_layers=1, num_heads=2)),
}
GENEROUS = dict(patience=100)  # = the default max_epochs: never stops early
LONG = dict(lr_schedule="constant", patience=30, max_epochs=150)
# The defaults before the cosine schedule and min_epochs (for reference).
PREVIOUS = dict(
    lr=1e-3, max_epochs=50, patience=5, min_epochs=1, lr_schedule="constant"
)


def lag_task(n_rows, seed):
    """Windows and labels: ``y[t] = x[t-3, 0] > x[t-5, 0]``."""
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n_rows + 5, 3)).astype(np.float32)
    y = (X[2:-3, 0] > X[:-5, 0]).astype(int)
    return SequenceWindower(SEQUENCE_LENGTH).fit_transform(X[5:]), y


def peak_task(n_rows, seed):
    """Windows and labels: 1 when feature 0 peaks before feature 1."""
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n_rows, 3)).astype(np.float32)
    windows = SequenceWindower(SEQUENCE_LENGTH).fit_transform(X)
    dense = np.asarray(windows)
    y = (dense[:, :, 0].argmax(axis=1) < dense[:, :, 1].argmax(axis=1)).astype(int)
    return windows, y


TASKS = {"lag": lag_task, "peak": peak_task}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=2000, help="training rows")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=TASKS)
    parser.add_argument("--networks", nargs="+", default=list(NETWORKS))
    parser.add_argument("--threads", type=int, default=1)
    return parser.parse_args(argv)


def run(task, network, seed, n_rows, **training):
    """Held-out accuracy, epochs run and seconds of one fit."""
    X, y = TASKS[task](n_rows, seed)
    X_test, y_test = TASKS[task](2000, seed + 1000)
    cls, arch = NETWORKS[network]
    start = time.perf_counter()
    clf = cls(**arch, device="cpu", random_state=seed, **training).fit(X, y)
    return clf.score(X_test, y_test), clf.n_epochs_, time.perf_counter() - start


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    print(
        f"{platform.processor() or platform.machine()}, {args.threads} torch "
        f"thread(s), torch {torch.__version__}; {args.rows} training windows of "
        f"{SEQUENCE_LENGTH} x 3, test 2000; generous = {GENEROUS}; long = {LONG}"
    )
    header = f"{'task':6} {'network':12} {'seed':>4} {'previous':>9} {'epochs':>6}"
    header += f" {'defaults':>9} {'epochs':>6} {'generous':>9} {'epochs':>6}"
    header += f" {'long':>6} {'epochs':>6}"
    print(header + f" {'diff':>7}")
    gaps = []
    for task in args.tasks:
        for network in args.networks:
            for seed in args.seeds:
                old, old_epochs, _ = run(task, network, seed, args.rows, **PREVIOUS)
                acc, epochs, _ = run(task, network, seed, args.rows)
                ref, ref_epochs, _ = run(task, network, seed, args.rows, **GENEROUS)
                long, long_epochs, _ = run(task, network, seed, args.rows, **LONG)
                gaps.append(ref - acc)
                print(
                    f"{task:6} {network:12} {seed:>4} {old:>9.3f} {old_epochs:>6} "
                    f"{acc:>9.3f} {epochs:>6} "
                    f"{ref:>9.3f} {ref_epochs:>6} {long:>6.3f} {long_epochs:>6} "
                    f"{acc - ref:>+7.3f}",
                    flush=True,
                )
    print(f"largest shortfall of defaults vs generous patience: {max(gaps):+.3f}")


if __name__ == "__main__":
    main()
