"""Every Python example in docs/ runs as written.

Each page's ```python blocks run in order in one namespace (a page reads
like one session), in a temporary working directory. Blocks of ``>>>``
examples are doctests, run by pytest's ``--doctest-glob``. A block that
cannot run here (it needs a model server or a GPU) is preceded by
``<!-- not executed: <reason> -->``.
"""

import contextlib
import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"
BLOCK = re.compile(r"(<!-- not executed: (.*?) -->\s*\n)?```python\n(.*?)```", re.S)


def examples(page):
    """``(code, reason_not_executed)`` of each non-doctest Python block."""
    return [
        (code, reason)
        for _, reason, code in BLOCK.findall(page.read_text())
        if not code.lstrip().startswith(">>>")
    ]


PAGES = [page for page in sorted(DOCS.glob("*.md")) if examples(page)]


@pytest.fixture
def one_thread(seeded_one_thread):
    """Run torch and the OpenMP libraries (XGBoost, LightGBM) on one thread.

    The examples' data are tiny; on a busy shared machine, OpenMP threads
    waiting for a core make a LightGBM fit of a few hundred rows take
    seconds instead of milliseconds. The libraries must be loaded before
    their thread pools can be limited.
    """
    import lightgbm  # noqa: F401
    import xgboost  # noqa: F401
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        yield


@pytest.mark.parametrize("page", PAGES, ids=[page.stem for page in PAGES])
def test_page_examples_run(page, tmp_path, monkeypatch, capsys, one_thread):
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": f"docs_{page.stem}"}
    ran = 0
    with contextlib.ExitStack() as stack:
        if "mlflow" in page.read_text():
            # A page may set a tracking URI or turn on autologging: leave
            # MLflow's process-wide state as found for other pages and tests.
            pytest.importorskip("mlflow")
            from _mlflow_helpers import restored_mlflow_state

            stack.enter_context(restored_mlflow_state())
        for code, reason in examples(page):
            if reason:
                continue
            exec(compile(code, str(page), "exec"), namespace)  # noqa: S102
            ran += 1
    assert ran > 0


def test_blocks_not_executed_say_why():
    skipped = [
        (page.name, reason) for page in PAGES for _, reason in examples(page) if reason
    ]
    assert all(len(reason) > 10 for _, reason in skipped), skipped
    # Only what truly cannot run in a test: a model server, a GPU.
    assert len(skipped) <= 3, skipped
