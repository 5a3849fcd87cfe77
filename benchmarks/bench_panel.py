"""Panel scale: fit time and peak memory of a preset on many instruments.

A synthetic panel of ``--instruments`` x ``--days`` rows x ``--features``
(interleaved by date, instrument-specific planted structure) is fitted by
``make_ensemble_pipeline``. Peak memory is the largest resident set size
(sampled from /proc every 20 ms, so Linux only) during ``fit``, minus the
resident size just before it, and is compared to the memory of the input
DataFrame (values and index). A warm-up fit on a small panel runs first, so
that the libraries' one-time allocations (thread pools, kernels, lazily
imported XGBoost and LightGBM) are not counted against the data.

    python benchmarks/bench_panel.py                           # 100 x 5,000 x 20
    python benchmarks/bench_panel.py --instruments 10 --days 1000
"""

import argparse
import platform
import threading
import time

import numpy as np
import torch

from sklensemble import make_ensemble_pipeline
from sklensemble.datasets import make_synthetic_panel


def rss_bytes():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096


class PeakRSS:
    """Largest resident size seen while the block runs, sampled by a thread."""

    def __enter__(self):
        self.start = self.peak = rss_bytes()
        self._running = True
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self):
        while self._running:
            self.peak = max(self.peak, rss_bytes())
            time.sleep(0.02)

    def __exit__(self, *exc):
        self._running = False
        self._thread.join()
        self.peak = max(self.peak, rss_bytes())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instruments", type=int, default=100)
    parser.add_argument("--days", type=int, default=5000)
    parser.add_argument("--features", type=int, default=20)
    parser.add_argument("--sequence-length", type=int, default=20)
    parser.add_argument("--preset", default="fast")
    parser.add_argument(
        "--max-epochs", type=int, default=None, help="cap the networks' epochs"
    )
    args = parser.parse_args()

    print(
        f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} "
        f"torch threads, torch {torch.__version__}"
    )
    start = time.perf_counter()
    X, y = make_synthetic_panel(
        args.instruments, args.days, args.features, random_state=0
    )
    input_mib = X.memory_usage(index=True, deep=True).sum() / 2**20
    print(
        f"panel: {args.instruments} instruments x {args.days} days = {len(X):,} rows "
        f"x {args.features} features, {input_mib:.0f} MiB "
        f"(generated in {time.perf_counter() - start:.0f} s)"
    )

    def pipeline():
        return make_ensemble_pipeline(
            preset=args.preset, sequence_length=args.sequence_length, random_state=0
        )

    if args.max_epochs:
        make = pipeline

        def pipeline():
            return make().set_params(
                ensemble__lstm__net__max_epochs=args.max_epochs,
                ensemble__transformer__net__max_epochs=args.max_epochs,
            )

    warm_X, warm_y = make_synthetic_panel(4, 300, args.features, random_state=1)
    pipeline().fit(warm_X, warm_y)
    pipe = pipeline()
    with PeakRSS() as memory:
        start = time.perf_counter()
        pipe.fit(X, y)
        seconds = time.perf_counter() - start
    ensemble = pipe.named_steps["ensemble"]
    members = ", ".join(f"{n} {t:.0f} s" for n, t in ensemble.fit_times_.items())
    nets = {
        name: est.steps[-1][1].n_epochs_
        for name, est in ensemble.named_estimators_.items()
        if hasattr(est, "steps")
    }
    peak_mib = (memory.peak - memory.start) / 2**20
    print(f"fit preset={args.preset} sequence_length={args.sequence_length}:")
    print(f"  time  {seconds / 60:.1f} min ({members}); epochs {nets}")
    print(
        f"  peak memory above the pre-fit level {peak_mib:.0f} MiB = "
        f"{peak_mib / input_mib:.2f}x the input"
    )
    accuracy = np.mean(pipe.predict(X.iloc[-20000:]) == y.iloc[-20000:])
    print(f"  in-sample accuracy on the last 20,000 rows: {accuracy:.3f}")


if __name__ == "__main__":
    main()
