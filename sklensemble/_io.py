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

import hashlib
import importlib
import json
import os
import sys
import zipfile
from collections import OrderedDict, defaultdict

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils import Bunch

from ._sequence_base import _SequenceClassifierBase
from ._utils import _PACKAGES, _package_version

_FORMAT = "sklensemble-safe"
_FORMAT_VERSION = 1
# Total inflated size load() accepts by default: about ten times a design-size
# pipeline (networks, 500-tree boosters: about 20 MB), far below what a zip
# bomb would claim.
_MAX_BYTES = 256 * 2**20
# Entries are inflated in chunks of this size, never beyond their declared size.
_CHUNK_BYTES = 2**20
_MANIFEST = "manifest.json"
_GRAPH = "model.skops"
# Attribute set on an estimator in the skops graph whose weights or booster
# live in a separate part file; removed again by load.
_MARKER = "_sklensemble_part"
_PART_KEYS = ("id", "kind", "owner")
_ALLOWED_PACKAGES = ("sklensemble", "sklearn", "xgboost", "lightgbm", "numpy")


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


# -- part handlers ------------------------------------------------------------
class _TorchPart:
    """A sequence classifier's network: safetensors weights + JSON history."""

    kind = "torch"
    detached = ("net_", "module_")

    @staticmethod
    def owns(obj):
        return isinstance(obj, _SequenceClassifierBase) and "net_" in obj.__dict__

    @staticmethod
    def dump(obj):
        from safetensors.torch import save as save_tensors

        weights = {
            key: _compact(value.detach().to("cpu", copy=True).contiguous())
            for key, value in obj.net_.module_.state_dict().items()
        }
        history = json.dumps(obj.net_.history.to_list(), default=_json_scalar)
        return [(".safetensors", save_tensors(weights)), (".history.json", history)]

    @staticmethod
    def restore(obj, read, device):
        from safetensors.torch import load as load_tensors
        from skorch.history import History

        weights = load_tensors(read(".safetensors"))
        history = History(json.loads(read(".history.json")))
        if device is not None:
            obj.device_ = str(device)
        # The pickling path of the classifier rebuilds the net from its
        # parameters and loads CPU weights: one code path for both formats.
        state = dict(obj.__dict__)
        state["_net_state"] = {"weights": weights, "history": history}
        obj.__setstate__(state)


def _compact(tensor):
    """float32 copy of a float64 tensor that holds float32 values, else itself.

    Networks train and predict in float32; a model unpickled from a version
    that predicted in float64 may still hold float64 weights of float32
    values: storing the float32 values loses nothing and halves the file.
    """
    import torch

    if tensor.dtype == torch.float64:
        single = tensor.float()
        if torch.equal(single.double(), tensor):
            return single
    return tensor


class _XGBoostPart:
    """An ``xgboost`` sklearn model's booster, in XGBoost's UBJSON format."""

    kind = "xgboost"
    detached = ("_Booster",)

    @staticmethod
    def owns(obj):
        xgboost = sys.modules.get("xgboost")
        return (
            xgboost is not None
            and isinstance(obj, xgboost.XGBModel)
            and obj.__dict__.get("_Booster") is not None
        )

    @staticmethod
    def dump(obj):
        return [(".ubj", bytes(obj.get_booster().save_raw(raw_format="ubj")))]

    @staticmethod
    def restore(obj, read, device):
        import xgboost

        obj._Booster = xgboost.Booster(model_file=bytearray(read(".ubj")))


class _LightGBMPart:
    """A ``lightgbm`` sklearn model's booster, as a LightGBM model string."""

    kind = "lightgbm"
    detached = ("_Booster",)

    @staticmethod
    def owns(obj):
        lightgbm = sys.modules.get("lightgbm")
        return (
            lightgbm is not None
            and isinstance(obj, lightgbm.LGBMModel)
            and obj.__dict__.get("_Booster") is not None
        )

    @staticmethod
    def dump(obj):
        booster = obj._Booster
        extra = {"best_iteration": int(getattr(booster, "best_iteration", 0))}
        return [
            (".txt", booster.model_to_string(num_iteration=-1).encode()),
            (".json", json.dumps(extra)),
        ]

    @staticmethod
    def restore(obj, read, device):
        import lightgbm

        booster = lightgbm.Booster(model_str=read(".txt").decode())
        booster.best_iteration = json.loads(read(".json"))["best_iteration"]
        obj._Booster = booster


_HANDLERS = (_TorchPart, _XGBoostPart, _LightGBMPart)
_HANDLERS_BY_KIND = {handler.kind: handler for handler in _HANDLERS}


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


# -- reading and auditing -----------------------------------------------------
def _read_verified(path, label, max_bytes):
    """Manifest and entries of the zip, after size, format and checksum checks.

    Any failure to read the container (a damaged header, a bad CRC, an
    unknown compression method, an encrypted entry, a truncated file, an
    invalid manifest) becomes a ValueError naming the file.
    """
    with open(path, "rb") as file:  # a missing file stays FileNotFoundError
        try:
            manifest, blobs = _read_entries(file, label, max_bytes)
        except ValueError:
            raise
        except Exception as exc:
            if is_pickle(path):
                raise ValueError(_pickle_message(label)) from exc
            raise ValueError(
                f"{label} is not a readable model file written by "
                f"sklensemble.save: {_one_line(exc)}."
            ) from exc
    for name, expected in manifest["files"].items():
        if _sha256(blobs[name]) != expected:
            raise ValueError(
                f"Refusing to load {label}: checksum mismatch for {name!r}. "
                "The file was modified or corrupted after saving; save the "
                "model again from a trusted copy."
            )
    return manifest, blobs


def _read_entries(file, label, max_bytes):
    with zipfile.ZipFile(file) as zf:
        infos = {info.filename: info for info in zf.infolist()}
        _check_sizes(infos.values(), label, max_bytes)
        if _MANIFEST not in infos:
            raise ValueError(
                f"{label} has no {_MANIFEST}: it was not written by sklensemble.save."
            )
        try:
            manifest = json.loads(_read_entry(zf, infos[_MANIFEST], label))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(
                f"{label}: its {_MANIFEST} is not valid JSON ({_one_line(exc)}); "
                "the file was modified or corrupted."
            ) from exc
        _check_manifest(manifest, label)
        listed = manifest["files"]
        unlisted = sorted(set(infos) - set(listed) - {_MANIFEST})
        if unlisted:
            raise ValueError(
                f"Refusing to load {label}: it holds entries its manifest "
                f"does not list: {unlisted}. The file was modified."
            )
        missing = sorted(set(listed) - set(infos))
        if missing:
            raise ValueError(f"{label} lacks the entries {missing}.")
        return manifest, {name: _read_entry(zf, infos[name], label) for name in listed}


def _check_sizes(infos, label, max_bytes):
    """Refuse, before inflating anything, entries declared larger than allowed.

    A zip bomb declares its real size (or zipfile's reads stop at the
    declared size and the CRC check fails), so the declared sizes bound the
    memory that loading can take.
    """
    sizes = {info.filename: info.file_size for info in infos}
    total = sum(sizes.values())
    if total > max_bytes:
        largest = max(sizes, key=sizes.get)
        raise ValueError(
            f"Refusing to load {label}: its entries inflate to {total:,} bytes "
            f"({largest!r}: {sizes[largest]:,}), more than max_bytes="
            f"{max_bytes:,}. Pass a larger max_bytes to sklensemble.load only "
            "for a file you trust."
        )


def _read_entry(zf, info, label):
    """An entry's bytes, read in bounded chunks, never beyond its declared size."""
    chunks, size = [], 0
    with zf.open(info) as entry:
        while chunk := entry.read(_CHUNK_BYTES):
            size += len(chunk)
            if size > info.file_size:
                raise ValueError(
                    f"Refusing to load {label}: {info.filename!r} inflates beyond "
                    f"its declared {info.file_size:,} bytes; the file was crafted "
                    "or corrupted."
                )
            chunks.append(chunk)
    return b"".join(chunks)


def is_pickle(path):
    """Whether the file starts like a pickle (protocol 2 or later).

    Also a joblib file written without compression. Only the first two bytes
    are read; nothing is unpickled.
    """
    try:
        with open(path, "rb") as file:
            head = file.read(2)
    except OSError:
        return False
    return len(head) == 2 and head[0] == 0x80 and 2 <= head[1] <= 5


def _pickle_message(label):
    return (
        f"{label} is a pickle, not a model file written by sklensemble.save; "
        "loading a pickle can run arbitrary code, so sklensemble.load refuses it "
        "(load it with joblib only if you trust its source)."
    )


def _one_line(exc):
    """The exception's message on one line (or its type when it has none)."""
    return " ".join(str(exc).split()) or type(exc).__name__


def _check_manifest(manifest, label):
    if not isinstance(manifest, dict) or manifest.get("format") != _FORMAT:
        raise ValueError(
            f"{label} is not a model file written by sklensemble.save "
            f"(manifest format is not {_FORMAT!r})."
        )
    version = manifest.get("format_version")
    if type(version) is int and version > _FORMAT_VERSION:
        raise ValueError(
            f"{label} uses format version {version!r}, newer than this "
            f"sklensemble reads ({_FORMAT_VERSION}); upgrade sklensemble."
        )
    if type(version) is not int or version < 1:
        raise ValueError(
            f"{label}: its manifest has an invalid format version {version!r}; "
            "the file was modified or corrupted."
        )
    files = manifest.get("files")
    if (
        not isinstance(files, dict)
        or _GRAPH not in files
        or not all(isinstance(v, str) for v in files.values())
    ):
        raise ValueError(f"{label}: its manifest has no valid 'files' table.")
    types, parts = manifest.get("types"), manifest.get("parts")
    if not isinstance(types, list) or not all(isinstance(t, str) for t in types):
        raise ValueError(f"{label}: its manifest has no valid 'types' list.")
    if not isinstance(parts, list) or not all(
        isinstance(p, dict) and all(isinstance(p.get(k), str) for k in _PART_KEYS)
        for p in parts
    ):
        raise ValueError(f"{label}: its manifest has no valid 'parts' list.")


def _refuse(types, label, where):
    refused = _refused_types(types)
    if refused:
        raise ValueError(
            f"Refusing to load {label}: {where} names types outside the "
            f"estimator classes of {', '.join(_ALLOWED_PACKAGES)}: {refused}. "
            "Loading them could run arbitrary code; the file was crafted or "
            "modified. Load models only from sources you trust."
        )


def _refused_types(names):
    """Type names that are not allowed classes of the allowed packages."""
    return sorted(name for name in names if not _is_allowed_type(name))


def _is_allowed_type(name):
    if not isinstance(name, str):
        return False
    module, _, attr = name.rpartition(".")
    components = module.split(".")
    # Checked before importing anything: only modules of the allowed
    # packages are ever imported, and never a __main__ module.
    if components[0] not in _ALLOWED_PACKAGES or "__main__" in components:
        return False
    try:
        obj = getattr(importlib.import_module(module), attr)
    except Exception:
        return False
    return isinstance(obj, type) and issubclass(obj, _safe_bases())


def _safe_bases():
    # Classes whose construction from stored state runs no user code:
    # estimators only store their parameters (scikit-learn's convention).
    return (
        BaseEstimator,
        Bunch,
        np.generic,
        np.dtype,
        np.random.RandomState,
        np.random.Generator,
        np.random.BitGenerator,
    )


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


def _json_scalar(value):
    """JSON fallback for NumPy scalars (and anything else, as text)."""
    return value.item() if hasattr(value, "item") else str(value)


def _versions():
    versions = {"python": sys.version.split()[0]}
    for dist in _PACKAGES:
        versions[dist] = _package_version(dist)
    return versions


def _type_name(obj):
    cls = type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"


def _sha256(data):
    if isinstance(data, str):
        data = data.encode()
    return hashlib.sha256(data).hexdigest()


def _import_optional(module, dist):
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(
            f"The safe model format needs {dist}: pip install {dist} "
            "(or pip install 'sklensemble[tracking]')."
        ) from exc
