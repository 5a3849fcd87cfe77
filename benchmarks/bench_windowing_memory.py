"""SequenceWindower peak memory vs naive stacking of windows.

Peak memory allocated (numpy reports its buffers to Python's tracemalloc)
while turning the input rows into windows and reading one batch of 256
windows from them: SequenceWindower (a strided view) against naive stacking
of a copy of every window. The input rows themselves are not counted.

    python benchmarks/bench_windowing_memory.py   # 200,000 rows x 32 x 60 steps
"""

import argparse
import tracemalloc

import numpy as np

from sklensemble import SequenceWindower


def windower(X, length):
    return SequenceWindower(length).fit_transform(X)


def naive(X, length):
    padded = np.vstack([np.repeat(X[:1], length - 1, axis=0), X])
    return np.stack([padded[i : i + length] for i in range(len(X))])


def peak_mib(build, X, length):
    tracemalloc.start()
    windows = build(X, length)
    batch = np.asarray(windows[np.linspace(0, len(X) - 1, 256).astype(int)])
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert batch.shape == (256, length, X.shape[1])
    return peak / 2**20


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--features", type=int, default=32)
    parser.add_argument("--sequence-length", type=int, default=60)
    args = parser.parse_args()
    X = (
        np.random.RandomState(0)
        .normal(size=(args.rows, args.features))
        .astype(np.float32)
    )
    length = args.sequence_length
    full = args.rows * length * args.features * 4 / 2**20
    print(
        f"{args.rows} rows x {args.features} features x {length} steps, float32 "
        f"(input {X.nbytes / 2**20:.0f} MiB; all windows as an array {full:.0f} MiB)"
    )
    view = peak_mib(windower, X, length)
    stacked = peak_mib(naive, X, length)
    print(f"SequenceWindower peak  {view:8.1f} MiB")
    print(f"naive stacking peak    {stacked:8.1f} MiB")
    print(f"ratio naive / windower {stacked / view:8.1f}x")


if __name__ == "__main__":
    main()
