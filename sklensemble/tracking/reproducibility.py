"""Reproducibility tags of an ensemble's run: versions, seeds, data, git."""

import hashlib
import json
import os
import subprocess
import sys

import numpy as np
from scipy.sparse import issparse

from ._common import _VERSIONED, _short_json, _version

# The git state per working directory, read once per process: two git
# processes per fit cost more than the rest of the tags together.
_GIT_STATES = {}


def _reproducibility_tags(payload, ensemble, X, y):
    """Package versions, seeds, data shape and hashes, git commit."""
    tags = payload.tags
    for dist in _VERSIONED:
        tags[f"sklensemble.version.{dist}"] = str(_version(dist))
    tags["sklensemble.version.python"] = sys.version.split()[0]
    seeds = {
        key: value
        for key, value in ensemble.get_params(deep=True).items()
        if key == "random_state" or key.endswith("__random_state")
    }
    for key, value in seeds.items():
        shown = (
            value if value is None or isinstance(value, int) else type(value).__name__
        )
        tags[f"sklensemble.seed.{key}"] = str(shown)
    reproducible = all(
        isinstance(v, int | np.integer) and not isinstance(v, bool)
        for v in seeds.values()
    )
    tags["sklensemble.reproducible"] = str(reproducible).lower()
    tags["sklensemble.data.n_rows"] = str(X.shape[0])
    tags["sklensemble.data.n_features"] = str(X.shape[1])
    tags["sklensemble.data.X_sha256"] = data_digest(X)
    tags["sklensemble.data.y_sha256"] = data_digest(y, ensemble.classes_)
    tags["sklensemble.data.classes"] = _short_json(ensemble.classes_.tolist())
    if hasattr(ensemble, "feature_names_in_"):
        tags["sklensemble.data.feature_names"] = _short_json(
            ensemble.feature_names_in_.tolist()
        )
    commit, dirty = _git_state()
    if commit is not None:
        tags["sklensemble.git.commit"] = commit
        tags["sklensemble.git.dirty"] = str(dirty).lower()


def data_digest(array, classes=None):
    """SHA-256 of an array's dtype, shape and values (and of class names).

    This is the ``sklensemble.data.X_sha256`` / ``y_sha256`` tag: the hash of
    the rows the ensemble was fitted on (after the Pipeline's earlier steps)
    and of its encoded labels with the class names.

    Parameters
    ----------
    array : ndarray or sparse matrix
    classes : array-like or None, default=None
        Class names the integer labels index, hashed with them.

    Returns
    -------
    digest : str
        64 hexadecimal characters.

    Examples
    --------
    >>> import numpy as np
    >>> from sklensemble.tracking import data_digest
    >>> data_digest(np.zeros((2, 3))) == data_digest(np.zeros((2, 3)))
    True
    >>> data_digest(np.zeros((2, 3))) == data_digest(np.zeros((3, 2)))
    False
    """
    h = hashlib.sha256()
    if issparse(array):
        array = array.tocsr()
        h.update(f"csr{array.shape}".encode())
        for part in (array.data, array.indices, array.indptr):
            _hash_array(h, part)
    else:
        _hash_array(h, np.asarray(array))
    if classes is not None:
        h.update(json.dumps(np.asarray(classes).tolist(), default=str).encode())
    return h.hexdigest()


def _hash_array(h, array):
    array = np.ascontiguousarray(array)
    h.update(f"{array.dtype.str}{array.shape}".encode())
    h.update(
        memoryview(array).cast("B")
        if array.dtype != object
        else repr(array.tolist()).encode()
    )


def _git_state():
    """(commit, dirty) of the git work tree around the current directory.

    Read once per process and directory (see ``_GIT_STATES``): a later
    commit or edit in the same process is not seen.
    """
    cwd = os.getcwd()
    if cwd not in _GIT_STATES:
        _GIT_STATES[cwd] = _read_git_state()
    return _GIT_STATES[cwd]


def _read_git_state():
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None, None
    return (commit or None), bool(status.strip())
