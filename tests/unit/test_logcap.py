"""deploy/native/logcap keeps the native stack's logs bounded."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_a_log_over_the_cap_is_rotated_and_truncated_in_place(tmp_path: Path) -> None:
    """A 3 MB log with a 1 MB cap: copied to .log.1 (the older copy to .log.2), emptied in place; a small log untouched."""
    logs = tmp_path / "logs"
    logs.mkdir()
    big, small = logs / "ingest.log", logs / "redis.log"
    (logs / "ingest.log.1").write_text("older\n")
    big.write_bytes(b"x" * 3_000_000)
    small.write_text("ready\n")
    env = {**os.environ, "SALES_STATE_DIR": str(tmp_path), "SALES_LOG_MAX_MB": "1"}
    subprocess.run([str(REPO / "deploy/native/logcap"), "--once"], env=env, check=True, timeout=30)
    assert big.stat().st_size == 0
    assert (logs / "ingest.log.1").stat().st_size == 3_000_000
    assert (logs / "ingest.log.2").read_text() == "older\n"
    assert small.read_text() == "ready\n"
