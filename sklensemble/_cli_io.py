"""Files and tables of the command line: output paths checked before any
work, atomic writes, input tables read into features, models saved and
loaded.

User errors raise :class:`JobError` with a one-line message naming the fix.
"""

import os
import uuid
from pathlib import Path

import pandas as pd

# Column names read as the dates of a table.
_DATE_COLUMNS = {"date", "datetime", "time", "timestamp"}


class JobError(Exception):
    """A user error, reported as one line."""


# -- output paths -------------------------------------------------------------
def check_output(path, option, inputs=(), folder=False):
    """Refuse an output path before any work: the job must be able to write it.

    Refused: one of the job's ``inputs`` (real paths compared, so symlinks and
    hard links count), an existing directory (or, with ``folder``, an existing
    file), a missing parent directory, and a place where no file can be
    created (probed by creating and removing one).

    Parameters
    ----------
    path : str or os.PathLike
        The output path given on the command line.
    option : str
        The option that named it, e.g. ``"--out"``, for the message.
    inputs : sequence of (option, path), default=()
        The job's input files, each with the name of its argument.
    folder : bool, default=False
        The output is a folder (the demo's), created here if missing.
    """
    path = Path(path)
    for name, source in inputs:
        if _same_file(path, source):
            raise JobError(
                f"{option} {path} is the {name} file {source}: writing there "
                f"would destroy it; choose another {option} path"
            )
    if folder and path.exists() and not path.is_dir():
        raise JobError(f"{option} {path} is a file, not a folder; choose a folder")
    if not folder and path.is_dir():
        raise JobError(
            f"{option} {path} is a directory; give a file name inside it, "
            f"e.g. {path / 'model.skens'}"
        )
    parent = path.absolute().parent
    if not parent.is_dir():
        raise JobError(
            f"{option} {path}: the folder {parent} does not exist; create it "
            "first or choose another path"
        )
    if folder:
        path.mkdir(exist_ok=True)
    _probe_writable(path if folder else parent, option, path)


def _same_file(path, other):
    other = Path(other)
    if path.resolve() == other.resolve():
        return True
    try:
        return path.exists() and other.exists() and os.path.samefile(path, other)
    except OSError:
        return False


def _probe_writable(folder, option, path):
    probe = folder / f".{uuid.uuid4().hex}.probe"
    try:
        probe.touch(exist_ok=False)
        probe.unlink()
    except OSError as exc:
        raise JobError(
            f"{option} {path}: cannot write in {folder} ({exc.strerror}); "
            "choose a writable place"
        ) from None


def write_atomically(path, write):
    """Write ``path`` through ``write(temporary_path)``, then move it into place.

    The temporary file sits beside ``path`` (so ``os.replace`` is atomic) and
    keeps its suffix (writers choose the format from it). An error or an
    interrupt removes it, and leaves any previous file at ``path`` as it was.
    """
    path = Path(path)
    temporary = path.with_name(f".{path.stem}.{uuid.uuid4().hex[:8]}.tmp{path.suffix}")
    try:
        write(temporary)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return path


def read_table(path, instrument=None):
    """Read a CSV or Parquet file; a leading date column becomes the index.

    With ``instrument`` (``--instrument``), the table is a panel of many
    instruments: it comes back indexed by ``(instrument, date)``, rows in
    the file's order.
    """
    table = _read(path)
    return table if instrument is None else _as_panel(table, instrument, path)


def _read(path):
    path = Path(path)
    if not path.exists():
        raise JobError(f"no such file: {path}")
    if path.suffix.lower() in {".parquet", ".pq"}:
        table = pd.read_parquet(path)
    else:
        table = pd.read_csv(path)
    if table.empty:
        raise JobError(f"{path} holds no rows")
    first = table.columns[0]
    if str(first).lower() in _DATE_COLUMNS:
        table = table.set_index(pd.to_datetime(table[first])).drop(columns=first)
    return table


def _as_panel(table, instrument, path):
    from . import to_panel

    if instrument not in table.columns:
        raise JobError(
            f"{path}: instrument column {instrument!r} not found; the columns "
            f"are {list(table.columns)}"
        )
    dates = [c for c in table.columns if str(c).lower() in _DATE_COLUMNS]
    if dates:
        table = table.assign(**{dates[0]: pd.to_datetime(table[dates[0]])})
        return to_panel(table, instrument, date=dates[0])
    if not isinstance(table.index, pd.DatetimeIndex):
        raise JobError(
            f"{path}: a panel needs a date column (named one of "
            f"{sorted(_DATE_COLUMNS)}) to order each instrument's rows"
        )
    return to_panel(table, instrument)


def _n_periods(X):
    """Rows of one instrument, or dates of a panel (folds count dates)."""
    from ._panel import panel_keys

    keys = panel_keys(X)
    return len(X) if keys is None else keys.n_dates


def _numeric(table, path):
    bad = [c for c in table.columns if not pd.api.types.is_numeric_dtype(table[c])]
    if bad:
        raise JobError(f"{path}: columns {bad} are not numeric; convert or drop them")
    return table


def _check_missing(X, path):
    """JobError naming the rows with a missing value after the warm-up rows."""
    from ._panel import panel_keys
    from ._validation import check_missing_values

    try:
        check_missing_values(X, panel_keys(X), allow_leading=True, name="the input")
    except ValueError as exc:
        raise JobError(f"{path}: {exc}") from None


def save_model(pipe, path):
    """Safe format (no pickle) when available, else joblib; both atomically."""
    try:
        from . import save
    except ImportError:
        import joblib

        write_atomically(path, lambda temporary: joblib.dump(pipe, temporary))
        return "joblib"
    save(pipe, path)  # replaces the file atomically itself
    return "safe"


def load_model(path, allow_pickle=False):
    """The model in ``path``: the safe format, or a pickle only if allowed.

    A pickle runs code when it is loaded, so one is refused unless the user
    passed ``--allow-pickle``; every other failure of the safe loader is its
    one-line ``ValueError``.
    """
    path = Path(path)
    if not path.is_file():
        raise JobError(f"no such model file: {path}")
    from ._io import load
    from ._io_checks import _one_line, is_pickle

    with open(path, "rb") as file:
        is_zip = file.read(2) == b"PK"  # the safe format, even when damaged
    if is_zip or not (allow_pickle or is_pickle(path)):
        try:
            return load(path)  # a ValueError says what is wrong with the file
        except ImportError as exc:  # skops or safetensors missing
            raise JobError(str(exc)) from exc
    if not allow_pickle:
        raise JobError(
            f"{path} is a pickle: loading it can run arbitrary code; pass "
            "--allow-pickle only for files you trust"
        )
    import joblib

    try:
        return joblib.load(path)
    except Exception as exc:
        raise JobError(
            f"{path}: the pickle could not be loaded ({_one_line(exc)})"
        ) from exc
