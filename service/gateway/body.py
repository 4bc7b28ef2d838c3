"""An upload's body, read while it streams in and refused as soon as it is too large."""

from __future__ import annotations

from collections.abc import AsyncIterator

from fastapi import Request

from .errors import ApiError
from .submission import count_upload

__all__ = ["read_body"]


async def read_body(
    request: Request, limit: int, *, whole: int | None = None
) -> tuple[bytes, AsyncIterator[bytes] | None]:
    """The body, refused with 413 as soon as it is known to exceed the limit (header or bytes).

    With ``whole``, reading stops once more than that many bytes came: the body is then
    a big day, returned as what came so far and the rest of the stream (service/chunking/).
    """
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks, size = [], 0
    stream = request.stream().__aiter__()
    async for chunk in stream:
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
        if whole is not None and size > whole:
            return b"".join(chunks), stream
    return b"".join(chunks), None


def _too_large(limit: int) -> ApiError:
    count_upload("too_large")
    return ApiError(413, "too_large", f"the body is larger than {limit} bytes (MAX_UPLOAD_BYTES)")
