"""mypy over dicecli/ (configured in pyproject.toml's [tool.mypy]) runs with the tests, so the
README's test command type-checks the package as test_lint.py lints it. mypy keeps its cache in
.mypy_cache/ (which it keeps out of git): about 45 s the first time, a few seconds after."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_mypy_is_clean():
    pytest.importorskip("mypy", reason="mypy is not installed (it is in the test extra)")
    result = subprocess.run([sys.executable, "-m", "mypy", "dicecli"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
