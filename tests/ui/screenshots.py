"""Screenshots of every dashboard page at desktop and phone width, for a reviewer.

    .venv/bin/python -m tests.ui.screenshots [DIR]      (default: .state/screenshots)

It runs tests/ui/test_screenshots.py against the tests' own stack and processes
(as `deploy/test` would) and leaves the PNGs in DIR.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from ..stack import REPO
from .helpers import SHOTS_ENV


def main() -> int:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else REPO / ".state" / "screenshots").resolve()
    out.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [
            str(REPO / "deploy" / "test"),
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/ui/test_screenshots.py",
        ],
        cwd=REPO,
        env={**os.environ, SHOTS_ENV: str(out)},
    )
    if done.returncode == 0:
        for png in sorted(out.glob("*.png")):
            print(png)
    return done.returncode


if __name__ == "__main__":
    sys.exit(main())
