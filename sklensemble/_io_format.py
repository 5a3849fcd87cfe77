"""The safe model format's names and limits, shared by writing and loading."""

import hashlib

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


def _json_scalar(value):
    """JSON fallback for NumPy scalars (and anything else, as text)."""
    return value.item() if hasattr(value, "item") else str(value)


def _sha256(data):
    if isinstance(data, str):
        data = data.encode()
    return hashlib.sha256(data).hexdigest()
