"""A file read piece by piece with `sent / total MB (percent)` on stderr: the CLI's
upload and produce both stream big files this way and never hold one whole."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import BinaryIO

__all__ = ["MB", "pieces"]

MB = 1024 * 1024


async def pieces(
    fh: BinaryIO, path: Path, size: int, *, piece: int, sent: int = 0, quiet: bool = False
) -> AsyncIterator[bytes]:
    """The rest of ``fh`` in pieces of ``piece`` bytes; ``sent`` bytes were read before."""
    shown = -1
    try:
        while chunk := fh.read(piece):
            yield chunk
            sent += len(chunk)
            percent = sent * 100 // max(size, 1)
            if not quiet and percent != shown:
                shown = percent
                sys.stderr.write(f"\r{path}: {sent / MB:.1f} / {size / MB:.1f} MB ({percent}%)")
                sys.stderr.flush()
    finally:
        if shown >= 0:
            sys.stderr.write("\n")
            sys.stderr.flush()
