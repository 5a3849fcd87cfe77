"""Print pip constraints pinning every core dependency to its declared floor.

CI installs the package against these pins to prove that the lower bounds in
pyproject.toml are true (see .ci/run).
"""

import re
import sys
import tomllib
from pathlib import Path

pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
for requirement in tomllib.loads(pyproject.read_text())["project"]["dependencies"]:
    match = re.fullmatch(r"\s*([A-Za-z0-9_.\-]+)\s*>=\s*([0-9][0-9A-Za-z.]*)\s*", requirement)
    if not match:
        sys.exit(f"cannot pin {requirement!r}: declare core dependencies as NAME>=VERSION")
    print(f"{match[1]}=={match[2]}")
