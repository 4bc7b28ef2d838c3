"""The package type-checks under mypy --strict (docs/development.md, "Lint and types")."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(300)
def test_service_passes_mypy_strict():
    """`mypy` (strict, configured in pyproject.toml) reports no error on service/."""
    result = subprocess.run(
        [sys.executable, "-m", "mypy"], cwd=REPO, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout[-3000:]
