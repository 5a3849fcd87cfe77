"""Command line: ``sklensemble demo | fit | predict | tune`` (or ``python -m``).

Every user error (a missing file or column, too few rows, non-numeric data,
an option out of range, an output path that cannot or must not be written)
is one line on stderr and exit code 2, never a traceback; options and output
paths are checked before any work. Ctrl-C is one line and exit code 130, and
writes nothing: outputs are replaced atomically, only once complete.
"""

import argparse
import math
import sys

from . import _jobs
from ._progress import epoch_progress


class CLIError(Exception):
    """A user error: printed as one line, exit code 2."""


# Exit code of a run ended by Ctrl-C (128 + SIGINT), as shells report it.
INTERRUPTED = 130
# What an interrupted command leaves behind, for its one-line message.
_INTERRUPTED = {
    "fit": "no model written",
    "predict": "no predictions written",
}


# -- option types: argparse reports their errors naming the option (exit 2) --
def _integer(minimum, maximum=None):
    """An integer option in ``[minimum, maximum]``."""

    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected a whole number, got {text!r}"
            ) from None
        if value < minimum or (maximum is not None and value > maximum):
            bound = f">= {minimum}" if maximum is None else f"in [{minimum}, {maximum}]"
            raise argparse.ArgumentTypeError(f"must be {bound}, got {value}")
        return value

    return parse


def _number(minimum, inclusive=True):
    """A finite float option, ``>= minimum`` (or ``> minimum``)."""

    def parse(text):
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected a number, got {text!r}"
            ) from None
        low = value >= minimum if inclusive else value > minimum
        if not (math.isfinite(value) and low):
            bound = f"{'>=' if inclusive else '>'} {minimum}"
            raise argparse.ArgumentTypeError(
                f"must be a finite number {bound}, got {text}"
            )
        return value

    return parse


def _device(text):
    from ._validation import resolve_device

    try:
        resolve_device(text)
    except (TypeError, ValueError) as exc:
        raise argparse.ArgumentTypeError(str(exc).rstrip(".")) from None
    return text


def _path(text):
    if not text.strip():
        raise argparse.ArgumentTypeError("expected a path, got an empty string")
    return text


def _objectives(text):
    names = tuple(name.strip() for name in text.split(","))
    if not all(names):
        raise argparse.ArgumentTypeError(
            f"expected comma-separated names such as balanced_accuracy,fit_time, "
            f"got {text!r}"
        )
    return names


def _add_model_options(parser, min_folds=0):
    parser.add_argument(
        "--preset",
        choices=["auto", "fast", "default"],
        default="auto",
        help="network sizes; auto = default on CUDA, fast on CPU",
    )
    parser.add_argument(
        "--device", type=_device, default="auto", help="auto, cpu, cuda or cuda:N"
    )
    parser.add_argument(
        "--sequence-length",
        type=_integer(1),
        default=None,
        help="look-back window of the sequence members (default: 60 with the "
        "default preset, 20 with the fast one)",
    )
    parser.add_argument(
        "--cv",
        type=_integer(min_folds),
        default=4,
        help="walk-forward folds" + (" (0: none)" if min_folds == 0 else ""),
    )
    parser.add_argument(
        "--seed", type=_integer(0, 2**32 - 1), default=0, help="random seed"
    )


def _add_label_options(parser):
    parser.add_argument(
        "--horizon",
        type=_integer(1),
        default=_jobs.LABELS["horizon"],
        help="bars ahead of the forward return that labels a bar",
    )
    parser.add_argument(
        "--threshold",
        type=_number(0),
        default=None,
        help="fixed hold band (return fraction); default: volatility-scaled band",
    )


def _add_panel_option(parser):
    parser.add_argument(
        "--instrument",
        metavar="COLUMN",
        default=None,
        help="panel input: the column naming each row's instrument (rows of "
        "many instruments in any order, with a date column); windows, features, "
        "labels and folds then stay within instruments and dates",
    )


def _add_output_options(parser):
    parser.add_argument("--quiet", action="store_true", help="print only errors")
    parser.add_argument("--verbose", action="store_true", help="print per-fold details")


def build_parser():
    parser = argparse.ArgumentParser(
        prog="sklensemble", description=__doc__.splitlines()[0]
    )
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser(
        "demo", help="walk-forward Buy/Hold/Sell on the bundled S&P 500 data"
    )
    _add_model_options(demo)
    _add_label_options(demo)
    demo.add_argument(
        "--out",
        type=_path,
        default="sklensemble-demo",
        help="output folder (created if missing; its parent must exist)",
    )
    demo.add_argument(
        "--tracking-uri",
        default=None,
        help="MLflow tracking URI (default: sqlite:///<out>/mlflow.db)",
    )
    _add_output_options(demo)

    fit = commands.add_parser("fit", help="fit the ensemble on your own CSV/Parquet")
    fit.add_argument("data", help="CSV or Parquet file, rows in time order")
    target = fit.add_mutually_exclusive_group(required=True)
    target.add_argument(
        "--target-from",
        metavar="PRICE_COLUMN",
        help="price input (a close column, optionally open/high/low/volume): "
        "build features, label by this price's forward return",
    )
    target.add_argument("--label-column", help="feature input: the labels' column")
    _add_model_options(fit)
    _add_label_options(fit)
    _add_panel_option(fit)
    fit.add_argument(
        "--out",
        type=_path,
        required=True,
        help="model file to write (replaced only once the fit has finished)",
    )
    _add_output_options(fit)

    tune = commands.add_parser(
        "tune", help="Optuna search over the ensemble's parameters"
    )
    tune.add_argument("data", help="CSV or Parquet file, rows in time order")
    target = tune.add_mutually_exclusive_group(required=True)
    target.add_argument(
        "--target-from",
        metavar="PRICE_COLUMN",
        help="price input (a close column, optionally open/high/low/volume): "
        "build features, label by this price",
    )
    target.add_argument("--label-column", help="feature input: the labels' column")
    _add_panel_option(tune)
    tune.add_argument(
        "--trials", type=_integer(1), default=20, help="trials to run here"
    )
    tune.add_argument(
        "--objectives",
        type=_objectives,
        default=("balanced_accuracy",),
        help="comma-separated, e.g. balanced_accuracy,fit_time",
    )
    tune.add_argument(
        "--storage",
        default=None,
        help="Optuna storage URL shared by several workers "
        "(e.g. sqlite:///study.db or postgresql://...)",
    )
    tune.add_argument("--study", default=None, help="study name (with --storage)")
    tune.add_argument(
        "--timeout", type=_number(0, inclusive=False), default=None, help="seconds"
    )
    _add_model_options(tune, min_folds=2)
    _add_label_options(tune)
    _add_output_options(tune)

    predict = commands.add_parser("predict", help="probabilities and labels per row")
    predict.add_argument("model", help="a model written by 'sklensemble fit'")
    predict.add_argument("data", help="CSV or Parquet file")
    _add_panel_option(predict)
    predict.add_argument(
        "--out", type=_path, default=None, help="CSV file (default: stdout)"
    )
    predict.add_argument(
        "--allow-pickle",
        action="store_true",
        help="also load a pickle/joblib model file; loading a pickle runs "
        "arbitrary code stored in it: only for files you trust",
    )
    _add_output_options(predict)
    return parser


def main(argv=None):
    """Run the command line; return the exit code."""
    args = build_parser().parse_args(argv)
    say = (lambda *a, **k: None) if args.quiet else print
    jobs = {
        "demo": _jobs.demo,
        "fit": _jobs.fit,
        "predict": _jobs.predict,
        "tune": _jobs.tune,
    }
    try:
        # Epoch bars on a terminal only (fold and trial bars have their own).
        with epoch_progress(not args.quiet):
            jobs[args.command](args, say)
    except (CLIError, _jobs.JobError, ValueError, OSError, KeyError) as exc:
        # OSError: a file that vanished or a disk that filled up mid-way.
        message = str(exc).strip().strip("'\"") or type(exc).__name__
        print(f"sklensemble: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        outcome = _INTERRUPTED.get(args.command)
        print(
            "sklensemble: interrupted" + (f"; {outcome}" if outcome else ""),
            file=sys.stderr,
        )
        return INTERRUPTED
    return 0


def _script():  # console-script entry point
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
