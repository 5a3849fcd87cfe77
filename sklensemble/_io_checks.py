"""What :func:`sklensemble.load` refuses before building anything: sizes
beyond the limit, bad checksums and manifests, pickles, and types beyond the
allowed packages."""

import importlib
import json
import zipfile

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils import Bunch

from ._io_format import (
    _ALLOWED_PACKAGES,
    _CHUNK_BYTES,
    _FORMAT,
    _FORMAT_VERSION,
    _GRAPH,
    _MANIFEST,
    _PART_KEYS,
    _sha256,
)


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
