"""What MLflow tracking adds to a fit: plain vs MLflow's vs sklensemble's autolog.

The same ``make_ensemble_pipeline(preset="fast")`` fit on synthetic bars is
timed three ways, in rounds that alternate them: without tracking, under
``mlflow.sklearn.autolog()`` and under ``sklensemble.tracking.autolog()``
(its default options), each into a local sqlite store in a temporary
folder. The medians and their ratio to the plain fit of the same rounds are
reported, because shared machines are noisy; so is the time spent in the
ensemble's own logging (``sklensemble.tracking.details._log_ensemble_fit``) as a
share of the plain fit. Target: sklensemble's own part <= 15% of a fit.

Usage::

    python benchmarks/bench_tracking_overhead.py --n-bars 1500 --repeats 3
"""

import argparse
import os
import platform
import statistics
import tempfile
import time
import warnings

import mlflow
import mlflow.sklearn

from sklensemble import MarketFeatures, make_ensemble_pipeline, tracking
from sklensemble.datasets import make_synthetic_market
from sklensemble.labels import drop_unlabeled, return_labels
from sklensemble.tracking import details

MODES = ("plain", "mlflow_autolog", "sklensemble_autolog")


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n-bars", type=int, default=1500)
    parser.add_argument("--sequence-length", type=int, default=20)
    parser.add_argument("--max-epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--log-plots",
        choices=["default", "on", "off"],
        default="default",
        help="tracking.autolog's log_plots: its default, or forced on/off",
    )
    return parser.parse_args()


def data(n_bars):
    bars = make_synthetic_market(n_bars, seed=0)
    X = MarketFeatures().fit_transform(bars)
    y = return_labels(bars["close"], horizon=1, threshold=0.002)
    return drop_unlabeled(X, y, drop_nan_features=True)


def pipeline(args):
    return make_ensemble_pipeline(
        preset="fast", sequence_length=args.sequence_length, random_state=0
    ).set_params(
        ensemble__lstm__net__max_epochs=args.max_epochs,
        ensemble__transformer__net__max_epochs=args.max_epochs,
    )


class OwnTime:
    """Wall-clock seconds spent in the ensemble's own logging."""

    def __init__(self):
        self.seconds = 0.0
        self._original = details._log_ensemble_fit

    def __enter__(self):
        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return self._original(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - start

        details._log_ensemble_fit = timed
        return self

    def __exit__(self, *exc):
        details._log_ensemble_fit = self._original


def timed_fit(mode, args, X, y):
    if mode == "mlflow_autolog":
        mlflow.sklearn.autolog(silent=True)
    elif mode == "sklensemble_autolog":
        plots = {"on": {"log_plots": True}, "off": {"log_plots": False}}
        tracking.autolog(silent=True, **plots.get(args.log_plots, {}))
    pipe = pipeline(args)
    try:
        with OwnTime() as own:
            start = time.perf_counter()
            pipe.fit(X, y)
            seconds = time.perf_counter() - start
    finally:
        tracking.autolog(disable=True)
    return seconds, own.seconds


def main():
    args = parse_args()
    X, y = data(args.n_bars)
    warnings.simplefilter("ignore")
    print(
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
        f"load average {os.getloadavg()[0]:.1f}; mlflow {mlflow.__version__}"
    )
    print(
        f"{X.shape[0]} bars x {X.shape[1]} features, fast preset, "
        f"sequence_length={args.sequence_length}, max_epochs={args.max_epochs}, "
        f"log_plots={args.log_plots}"
    )
    times = {mode: [] for mode in MODES}
    own = []
    with tempfile.TemporaryDirectory() as folder:
        mlflow.set_tracking_uri(f"sqlite:///{folder}/mlflow.db")
        mlflow.set_experiment("overhead")
        timed_fit("plain", args, X, y)  # warm-up: imports, first-call costs
        for _ in range(args.repeats):
            for mode in MODES:
                seconds, logging = timed_fit(mode, args, X, y)
                times[mode].append(seconds)
                if mode == "sklensemble_autolog":
                    own.append(logging)
    plain = statistics.median(times["plain"])
    for mode in MODES:
        median = statistics.median(times[mode])
        print(
            f"{mode:20s} median {median:7.2f} s   ratio {median / plain:.3f}   "
            f"({', '.join(f'{t:.2f}' for t in times[mode])})"
        )
    share = statistics.median(own) / plain
    print(
        f"ensemble's own logging: median {statistics.median(own):.2f} s, "
        f"{100 * share:.1f}% of the plain fit"
    )


if __name__ == "__main__":
    main()
