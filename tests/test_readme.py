"""The README's Python examples run as written."""

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.mark.slow
def test_readme_python_examples_run(capsys):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert len(blocks) >= 5
    namespace = {}
    for block in blocks:
        exec(compile(block, str(README), "exec"), namespace)  # noqa: S102
    # The ensemble example printed its importances, indexed by feature name.
    out = capsys.readouterr().out
    assert "ret" in out and "lstm" in out
    # The S&P 500 walk-forward printed its table, baselines included.
    assert "buy_and_hold" in out and "prior" in out
    assert namespace["proba"].shape == (2,)
