"""How `sales-analyzer serve` sets up a process (no services needed)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

_PROBE = """
import os
from service.cli.serve import yield_cpu
before = open("/proc/self/autogroup").read().split()[-1]
yield_cpu(7)
print(os.nice(0), before, open("/proc/self/autogroup").read().split()[-1])
"""

needs_autogroup = pytest.mark.skipif(not Path("/proc/self/autogroup").exists(), reason="no Linux autogroups")


def _probe(*, new_session: bool) -> list[str]:
    done = subprocess.run([sys.executable, "-c", _PROBE], cwd=REPO, capture_output=True, text=True, check=True,
                          start_new_session=new_session)
    return done.stdout.split()


@needs_autogroup
def test_a_background_stage_started_as_a_session_lowers_its_autogroup():
    """ingest/reporter started with setsid (deploy/native/up) yield the CPU as a whole session."""
    nice, _before, after = _probe(new_session=True)
    assert (nice, after) == ("7", "7")


@needs_autogroup
def test_a_background_stage_run_from_a_shell_leaves_the_session_alone():
    """Run from a terminal, only the process's own nice changes, never its whole session's."""
    nice, before, after = _probe(new_session=False)
    assert nice == "7" and after == before
