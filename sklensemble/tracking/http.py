"""MLflow's HTTP requests bounded, and a quick probe of a tracking server.

A dead or hung tracking server must cost a fit seconds, not MLflow's
minutes of retries. Used by autologging, the ensemble's details and the
command line's demo (``sklensemble._jobs``).
"""

import contextlib
import os
import threading
import urllib.error
import urllib.request

# Seconds to wait for an HTTP tracking server before giving up on logging.
_PROBE_TIMEOUT_S = 5
# MLflow's HTTP settings (mlflow.environment_variables) for the requests
# sklensemble makes or switches on: a dead server then costs seconds, not
# MLflow's defaults of 7 retries with back-off and a 120 s timeout (minutes).
# A value the user set in the environment wins.
_HTTP_LIMITS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "10",
}
_HTTP_LOCK = threading.Lock()
# Who holds the limits ("autolog", or a count of open _bounded_requests
# blocks), and the variables they set (those the user had not).
_HTTP_HOLDERS = {}
_HTTP_SET = []


def _unreachable(uri):
    """Why an HTTP tracking server cannot be reached, or None.

    A quick probe, so that a stopped server costs seconds rather than
    MLflow's retries with back-off (minutes with its defaults).
    """
    if not str(uri).startswith(("http://", "https://")):
        return None
    try:
        urllib.request.urlopen(
            f"{str(uri).rstrip('/')}/health", timeout=_PROBE_TIMEOUT_S
        )
    except urllib.error.HTTPError:
        return None  # it answered (e.g. 401/404 on servers without /health)
    except (urllib.error.URLError, OSError) as exc:
        return f"tracking server unreachable ({getattr(exc, 'reason', exc)})"
    return None


def _hold_http_limits(holder, hold):
    """Take (``hold=True``) or release ``holder``'s hold on the HTTP limits.

    The limits are in the environment while anyone holds them; only the
    variables the user had not set are set, and removed again afterwards.
    """
    with _HTTP_LOCK:
        held = bool(_HTTP_HOLDERS)
        count = _HTTP_HOLDERS.get(holder, 0)
        if hold:
            _HTTP_HOLDERS[holder] = 1 if holder == "autolog" else count + 1
        elif count > 1:
            _HTTP_HOLDERS[holder] = count - 1
        else:
            _HTTP_HOLDERS.pop(holder, None)
        if _HTTP_HOLDERS and not held:
            _HTTP_SET[:] = [k for k in _HTTP_LIMITS if k not in os.environ]
            for key in _HTTP_SET:
                os.environ[key] = _HTTP_LIMITS[key]
        elif held and not _HTTP_HOLDERS:
            for key in _HTTP_SET:
                if os.environ.get(key) == _HTTP_LIMITS[key]:
                    del os.environ[key]
            _HTTP_SET.clear()


@contextlib.contextmanager
def _bounded_requests():
    """MLflow's HTTP retries and timeout bounded by ``_HTTP_LIMITS`` within.

    For sklensemble's own calls to MLflow: a dead or hung tracking server
    then costs seconds, not minutes. Variables the user set are left alone.
    """
    _hold_http_limits("requests", True)
    try:
        yield
    finally:
        _hold_http_limits("requests", False)
