"""How `sales-analyzer serve` sets up a process (no services needed)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

_PROBE = """
import json, os
from service.cli.serve import yield_cpu
def autogroup():  # "/autogroup-N nice K", or "" while the session is still in the kernel's root group
    return open("/proc/self/autogroup").read().strip()
before = autogroup()
yield_cpu(7)
print(json.dumps([os.nice(0), before, autogroup()]))
"""

needs_autogroup = pytest.mark.skipif(
    not Path("/proc/self/autogroup").exists(), reason="no Linux autogroups"
)


def _probe(*, new_session: bool) -> tuple[int, str, str]:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE],
        cwd=REPO,
        capture_output=True,
        text=True,
        start_new_session=new_session,
    )
    assert done.returncode == 0, done.stderr
    nice, before, after = json.loads(done.stdout)
    return nice, before, after


@needs_autogroup
def test_a_background_stage_started_as_a_session_lowers_its_autogroup() -> None:
    """ingest/reporter started with setsid (deploy/native/up) yield the CPU as a whole session."""
    nice, before, after = _probe(new_session=True)
    if not before:
        pytest.skip("autogroups are switched off: a new session stays in the root group")
    assert nice == 7 and after.endswith(" nice 7")


@needs_autogroup
def test_a_background_stage_run_from_a_shell_leaves_the_session_alone() -> None:
    """Run from a terminal, only the process's own nice changes, never its whole session's."""
    # Also where the caller's session never got an autogroup of its own (a CI runner
    # under PID 1: /proc/self/autogroup is empty there).
    nice, before, after = _probe(new_session=False)
    assert nice == 7 and after == before
