"""Safe persistence: :func:`save` and :func:`load` without pickle.

A pickle runs arbitrary code when it is loaded, so a model file is as
trusted as its author. This format stores a fitted model in one zip file
that is rebuilt without unpickling anything:

``manifest.json``
    Format version, package versions, the model's class, parameters,
    feature names and classes, the type names the file uses, and the SHA-256
    of every other entry.
``model.skops``
    The estimator graph (Pipeline, scaler, ensemble, members' parameters and
    fitted attributes) in skops format, minus the parts below. skops rebuilds
    objects from a JSON schema and ``.npy`` arrays (``allow_pickle=False``)
    and refuses types it is not told to trust.
``parts/<i>.safetensors`` and ``parts/<i>.history.json``
    Each network's weights (CPU tensors, safetensors) and training history.
``parts/<i>.ubj`` / ``parts/<i>.txt`` (+ ``parts/<i>.json``)
    Each XGBoost booster in XGBoost's own UBJSON model format and each
    LightGBM booster as a LightGBM model string (plus its best iteration):
    both libraries keep their model files loadable across versions, not
    their pickles.

:func:`load` verifies the checksums, then, before anything is built,
refuses every type beyond skops' own defaults (Python primitives and
containers, NumPy arrays and ufuncs, SciPy sparse matrices, scikit-learn
estimators and loss internals) that is not an estimator, Bunch or NumPy
scalar/dtype/random class of sklensemble, scikit-learn, XGBoost, LightGBM or
NumPy.
"""

import importlib
import json
import os
import sys
import zipfile
from collections import OrderedDict, defaultdict

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils import Bunch

from ._io_checks import (
    _one_line,
    _read_verified,
    _refuse,
    _refused_types,
)
from ._io_format import (
    _ALLOWED_PACKAGES,
    _FORMAT,
    _FORMAT_VERSION,
    _GRAPH,
    _MANIFEST,
    _MARKER,
    _MAX_BYTES,
    _sha256,
)
from ._io_parts import _HANDLERS, _HANDLERS_BY_KIND
from ._utils import _PACKAGES, _package_version


def save(model, path):
    """Save an estimator to one zip file that :func:`load` rebuilds without pickle.

    Networks' weights are stored as safetensors, boosters in their library's
    own model format, everything else in skops format, plus a manifest
    (package versions, class names, parameters, feature names, classes and
    checksums).

    Read more in ``docs/tracking.md`` ("A safe model format").

    Parameters
    ----------
    model : estimator
        A scikit-learn compatible estimator, fitted or not, e.g. the
        Pipeline of :func:`make_ensemble_pipeline`. Every object in it must be
        a scikit-learn/sklensemble/XGBoost/LightGBM estimator, a NumPy
        array, scalar or random generator, or a plain Python container.
    path : str or os.PathLike
        File to write (replaced atomically if it exists). The extension is
        free; the docs use ``.sklensemble``.

    Returns
    -------
    path : str
        The path written.

    Raises
    ------
    TypeError
        If ``model`` is not an estimator.
    ValueError
        If the model holds types that :func:`load` would refuse (for example
        a custom transformer class, a function, or skorch callbacks in a
        network's ``callbacks``); the message lists them.
    ImportError
        If skops or safetensors is not installed.

    See Also
    --------
    load : Rebuild the model from the file.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from sklearn.datasets import make_classification
    >>> import sklensemble
    >>> from sklensemble import XGBoostClassifier
    >>> X, y = make_classification(n_samples=100, random_state=0)
    >>> clf = XGBoostClassifier(n_estimators=5, n_jobs=1, random_state=0).fit(X, y)
    >>> path = os.path.join(tempfile.mkdtemp(), "model.sklensemble")
    >>> _ = sklensemble.save(clf, path)
    >>> loaded = sklensemble.load(path)
    >>> np.array_equal(loaded.predict_proba(X), clf.predict_proba(X))
    True
    """
    if not isinstance(model, BaseEstimator):
        raise TypeError(
            f"save expects a scikit-learn compatible estimator, got "
            f"{type(model).__name__}."
        )
    skops_io = _import_optional("skops.io", "skops")
    _import_optional("safetensors.torch", "safetensors")
    parts = []
    graph = _strip(model, parts, {})
    try:
        graph_bytes = skops_io.dumps(graph, compression=zipfile.ZIP_DEFLATED)
    except Exception as exc:
        raise ValueError(
            f"{type(model).__name__} could not be stored in the safe format: "
            f"{exc}. Every object in the model must be an estimator, a NumPy "
            "array or scalar, or a plain Python container."
        ) from exc
    types = skops_io.get_untrusted_types(data=graph_bytes)
    refused = _refused_types(types)
    if refused:
        raise ValueError(
            f"{type(model).__name__} cannot be saved in the safe format: it "
            f"holds types that load() refuses: {refused}. Only estimators from "
            f"{', '.join(_ALLOWED_PACKAGES)} are allowed; replace the others "
            "(or unset e.g. a network's skorch callbacks), or use pickle/joblib "
            "for this model, knowing that loading a pickle runs code."
        )
    files = {_GRAPH: graph_bytes}
    part_entries = []
    for part_id, handler, obj in parts:
        names = []
        for suffix, data in handler.dump(obj):
            name = f"parts/{part_id}{suffix}"
            files[name] = data
            names.append(name)
        part_entries.append(
            {"id": part_id, "kind": handler.kind, "owner": _type_name(obj)}
        )
    manifest = {
        "format": _FORMAT,
        "format_version": _FORMAT_VERSION,
        "versions": _versions(),
        "model": _describe(model),
        "types": types,
        "parts": part_entries,
        "files": {name: _sha256(data) for name, data in files.items()},
    }
    path = os.fspath(path)
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            zf.writestr(_MANIFEST, json.dumps(manifest, indent=1, default=repr))
            for name, data in files.items():
                # Weights barely compress and the skops file is compressed
                # already: storing them as they are keeps saving fast.
                stored = name.endswith((".safetensors", ".skops"))
                method = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
                zf.writestr(name, data, compress_type=method)
        os.replace(tmp, path)  # readers never see a half-written file
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def load(path, *, device=None, max_bytes=_MAX_BYTES):
    """Load a model written by :func:`save`, without unpickling anything.

    Checks, in this order and before building any object: the file is a zip
    whose entries declare at most ``max_bytes`` in all (checked before any
    entry is inflated; no entry is ever inflated beyond its declared size);
    it holds a manifest of this format; every entry is listed in the
    manifest with a matching SHA-256; every type the manifest or the skops
    graph names is an estimator (or Bunch, NumPy scalar/dtype/random) class
    of sklensemble, scikit-learn, XGBoost, LightGBM or NumPy.

    Read more in ``docs/tracking.md`` ("A safe model format").

    Parameters
    ----------
    path : str or os.PathLike
        File written by :func:`save`.
    device : str or None, default=None
        Device of the networks: ``None`` restores the device they were
        fitted on, or the CPU (with a warning) where CUDA is absent;
        ``"cpu"`` forces the CPU.
    max_bytes : int, default=268435456
        Largest total size (256 MiB) of the file's entries once inflated, so
        also of each entry: about ten times a design-size pipeline (about
        20 MB). Raise it only for a larger model from a source you trust.

    Returns
    -------
    model : estimator
        The rebuilt model; it predicts exactly as the saved one.

    Raises
    ------
    ValueError
        Whatever is wrong with the file, in one line naming it: not a zip
        (e.g. a pickle, which is refused), truncated or corrupted, larger than
        ``max_bytes``, without a manifest of this format or of a format
        version this sklensemble reads, modified (checksum mismatch, unlisted
        entries), or naming refused types (listed in the message).
    FileNotFoundError
        If there is no file at ``path``.

    See Also
    --------
    save : Write a model in this format.
    """
    skops_io = _import_optional("skops.io", "skops")
    _import_optional("safetensors.torch", "safetensors")
    label = os.fspath(path) if isinstance(path, str | os.PathLike) else "<file>"
    manifest, blobs = _read_verified(path, label, max_bytes)
    _refuse(manifest["types"], label, "its manifest")
    try:
        types = skops_io.get_untrusted_types(data=blobs[_GRAPH])
    except Exception as exc:
        raise ValueError(
            f"{label}: {_GRAPH} is not a valid skops file: {_one_line(exc)}"
        ) from exc
    undeclared = sorted(set(types) - set(manifest["types"]))
    if undeclared:
        raise ValueError(
            f"Refusing to load {label}: {_GRAPH} uses types its manifest does "
            f"not declare: {undeclared}. The file was modified after saving."
        )
    _refuse(types, label, _GRAPH)
    try:
        model = skops_io.loads(blobs[_GRAPH], trusted=types)
    except Exception as exc:
        raise ValueError(
            f"{label}: {_GRAPH} could not be loaded: {_one_line(exc)}"
        ) from exc
    _restore_parts(model, manifest, blobs, device, label)
    return model


def _strip(obj, parts, memo):
    """Copy of the estimator graph with weights/boosters detached into ``parts``.

    Estimators are copied through ``__dict__`` (never ``__reduce__``, which
    would serialise the networks); shared estimators stay shared. The given
    model is not modified.
    """
    if id(obj) in memo:
        return memo[id(obj)]
    if isinstance(obj, BaseEstimator):
        copy = object.__new__(type(obj))
        memo[id(obj)] = copy
        state = dict(obj.__dict__)
        for handler in _HANDLERS:
            if handler.owns(obj):
                part_id = str(len(parts))
                parts.append((part_id, handler, obj))
                for name in handler.detached:
                    state.pop(name, None)
                state[_MARKER] = part_id
                break
        copy.__dict__.update({k: _strip(v, parts, memo) for k, v in state.items()})
        return copy
    if isinstance(obj, Bunch):
        return Bunch(**{k: _strip(v, parts, memo) for k, v in obj.items()})
    if type(obj) in (list, tuple):
        return type(obj)(_strip(v, parts, memo) for v in obj)
    if type(obj) in (dict, OrderedDict, defaultdict):
        # Plain dicts: the collections subclasses (LightGBM's best scores)
        # would be types outside the allowed packages.
        return {k: _strip(v, parts, memo) for k, v in obj.items()}
    return obj


def _restore_parts(model, manifest, blobs, device, label):
    """Re-attach every part to the estimator carrying its marker."""
    entries = {entry["id"]: entry for entry in manifest["parts"]}
    found = set()
    for obj in _estimators(model):
        part_id = obj.__dict__.pop(_MARKER, None)
        if part_id is None:
            continue
        entry = entries.get(part_id)
        handler = _HANDLERS_BY_KIND.get(entry["kind"]) if entry else None
        if handler is None or not isinstance(obj, BaseEstimator) or part_id in found:
            raise ValueError(
                f"{label}: the model refers to part {part_id!r}, which its "
                "manifest does not describe; the file was modified."
            )
        if entry["owner"] != _type_name(obj):
            raise ValueError(
                f"{label}: part {part_id!r} belongs to {entry['owner']}, but the "
                f"model attaches it to {_type_name(obj)}; the file was modified."
            )
        found.add(part_id)

        def read(suffix, part_id=part_id):
            name = f"parts/{part_id}{suffix}"
            if name not in blobs:
                raise ValueError(f"{label}: {name} is missing.")
            return blobs[name]

        try:
            handler.restore(obj, read, device)
        except Exception as exc:
            if isinstance(exc, ValueError) and str(exc).startswith(label):
                raise  # read() already said which entry is missing
            raise ValueError(
                f"{label}: the {handler.kind} part {part_id!r} of "
                f"{_type_name(obj)} could not be loaded: {_one_line(exc)}"
            ) from exc
    missing = sorted(set(entries) - found)
    if missing:
        raise ValueError(
            f"{label}: parts {missing} are not attached to any estimator; the "
            "file was modified."
        )


def _estimators(root):
    """Every estimator reachable from ``root`` (each once), depth first."""
    seen, stack, out = set(), [root], []
    while stack:
        obj = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        if isinstance(obj, BaseEstimator):
            out.append(obj)
            stack.extend(obj.__dict__.values())
        elif isinstance(obj, dict):
            stack.extend(obj.values())
        elif isinstance(obj, list | tuple):
            stack.extend(obj)
    return out


# -- manifest contents ---------------------------------------------------------
def _describe(model):
    """Class, parameters, feature names and classes, for people and audits."""
    description = {
        "class": _type_name(model),
        "params": _json_value(model.get_params(deep=True)),
    }
    for attr in ("n_features_in_", "feature_names_in_", "classes_"):
        try:
            value = getattr(model, attr)
        except Exception:  # unfitted, or an attribute a step does not have
            continue
        description[attr.rstrip("_")] = _json_value(value)
    return description


def _json_value(value):
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return [_json_value(v) for v in value.tolist()]
    if isinstance(value, BaseEstimator):
        return {"class": _type_name(value)}
    if isinstance(value, list | tuple):
        return [_json_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    return repr(value)


def _versions():
    versions = {"python": sys.version.split()[0]}
    for dist in _PACKAGES:
        versions[dist] = _package_version(dist)
    return versions


def _type_name(obj):
    cls = type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"


def _import_optional(module, dist):
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(
            f"The safe model format needs {dist}: pip install {dist} "
            "(or pip install 'sklensemble[tracking]')."
        ) from exc
