"""Training-loop overhead: sklensemble's skorch loop vs a hand-written torch loop.

Both train the same AttentionLSTM module on the same windows (a zero-copy
SequenceWindower view) with AdamW, cross-entropy and gradient clipping, and
gather each batch with one indexing operation. skorch's default path
(per-sample Dataset + collate on a materialised 3D array) is timed too, for
reference. Prints seconds per epoch (median over alternating rounds) and
the ratio (median of the per-round ratios).

    python benchmarks/bench_training_loop.py            # CPU, 20,000 windows
    python benchmarks/bench_training_loop.py --device cuda --amp
"""

import argparse
import statistics
import time

import numpy as np
import torch

from sklensemble import AttentionLSTMClassifier, SequenceWindower
from sklensemble._batching import WindowBatches, WindowDataset
from sklensemble._modules import AttentionLSTM

ARCH = dict(hidden_size=32, num_layers=1, num_heads=4, dropout=0.1)


def make_data(n_samples, n_features, seq_len, seed=0):
    rng = np.random.RandomState(seed)
    X2d = rng.normal(size=(n_samples, n_features)).astype(np.float32)
    y = (X2d[:, 0] > 0).astype(np.int64) + (X2d[:, 1] > 1)
    return SequenceWindower(seq_len).fit_transform(X2d), y


def hand_loop(X, y, epochs, batch_size, device, amp):
    """The reference: a plain torch loop, batches gathered from the view."""
    torch.manual_seed(0)
    module = AttentionLSTM(X.shape[2], 3, **ARCH).to(device)
    optimizer = torch.optim.AdamW(module.parameters(), lr=1e-3, weight_decay=1e-2)
    criterion = torch.nn.CrossEntropyLoss()
    dataset = WindowDataset(X, y, np.ones(len(y)))
    batches = WindowBatches(dataset, batch_size, shuffle=True, seed=0)
    times = []
    for _ in range(epochs):
        start = time.perf_counter()
        module.train()
        for Xb, (yb, _) in batches:
            Xb, yb = Xb.to(device), yb.to(device)
            optimizer.zero_grad()
            with torch.autocast(device.split(":")[0], enabled=amp):
                loss = criterion(module(Xb), yb)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(module.parameters(), 1.0)
            optimizer.step()
            loss.item()  # what any loop that logs its loss pays
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return times


def sklensemble_loop(X, y, epochs, batch_size, device):
    clf = AttentionLSTMClassifier(
        **ARCH,
        max_epochs=epochs,
        batch_size=batch_size,
        validation_fraction=None,
        device=device,
        random_state=0,
    ).fit(X, y)
    return [row["dur"] for row in clf.net_.history]


def skorch_default_loop(X, y, epochs, batch_size, device):
    from skorch import NeuralNetClassifier

    torch.manual_seed(0)
    net = NeuralNetClassifier(
        AttentionLSTM,
        module__n_features=X.shape[2],
        module__n_classes=3,
        **{f"module__{k}": v for k, v in ARCH.items()},
        criterion=torch.nn.CrossEntropyLoss,
        optimizer=torch.optim.AdamW,
        lr=1e-3,
        optimizer__weight_decay=1e-2,
        max_epochs=epochs,
        batch_size=batch_size,
        train_split=None,
        device=device,
        verbose=0,
        iterator_train__shuffle=True,
    )
    net.fit(np.ascontiguousarray(X), y)
    return [row["dur"] for row in net.history]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-samples", type=int, default=20_000)
    parser.add_argument("--n-features", type=int, default=16)
    parser.add_argument("--sequence-length", type=int, default=60)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument(
        "--epochs", type=int, default=5, help="alternating rounds of one epoch"
    )
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--amp", action="store_true", help="mixed precision (hand loop)"
    )
    parser.add_argument("--skip-skorch-default", action="store_true")
    args = parser.parse_args()

    X, y = make_data(args.n_samples, args.n_features, args.sequence_length)
    print(
        f"{args.n_samples} windows of {args.sequence_length}x{args.n_features}, "
        f"batch {args.batch_size}, device {args.device}, "
        f"torch threads {torch.get_num_threads()}"
    )
    run = (1, args.batch_size, args.device)
    hand_loop(X[:2048], y[:2048], 1, args.batch_size, args.device, args.amp)  # warm-up
    # Rounds alternate the two loops (one epoch each) so that a drift in the
    # machine's speed hits both alike; the ratio is taken round by round.
    hand, ours, ratios = [], [], []
    for _ in range(args.epochs):
        hand.append(hand_loop(X, y, *run, args.amp)[0])
        ours.append(sklensemble_loop(X, y, *run)[0])
        ratios.append(ours[-1] / hand[-1])
    rows = [
        ("hand-written torch loop", hand, 1.0),
        ("sklensemble (skorch + batch gathering)", ours, statistics.median(ratios)),
    ]
    if not args.skip_skorch_default:
        default = skorch_default_loop(X, y, *run)
        rows.append(
            (
                "skorch default (per-sample Dataset)",
                default,
                statistics.median(default) / statistics.median(hand),
            )
        )
    for name, times, ratio in rows:
        print(
            f"{name:42s} {statistics.median(times):8.3f} s/epoch   ratio {ratio:5.3f}"
        )
    print(f"per-round ratios sklensemble/hand: {', '.join(f'{r:.3f}' for r in ratios)}")


if __name__ == "__main__":
    main()
