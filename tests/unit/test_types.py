"""The package and its tests type-check under mypy --strict (docs/development.md, "Lint and types")."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(300)
def test_service_and_tests_pass_mypy_strict() -> None:
    """`mypy` (strict, configured in pyproject.toml) reports no error on service/ and tests/."""
    result = subprocess.run(
        [sys.executable, "-m", "mypy"], cwd=REPO, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout[-3000:]
    # every module of both trees was checked (a narrowed `files` setting would pass quietly)
    modules = [p for tree in ("service", "tests") for p in (REPO / tree).rglob("*.py")]
    assert f"no issues found in {len(modules)} source files" in result.stdout, result.stdout
