"""Who may call a route: the bearer token (with its scope), then the token's rate limit."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request

from .auth import Principal
from .errors import ApiError
from .state import Gateway, gateway

__all__ = ["authorize", "require"]


async def authorize(request: Request, gw: Gateway, scope: str) -> Principal:
    """Bearer token (with the scope), then the token's rate limit."""
    principal = gw.tokens.authenticate(request.headers.get("authorization"), scope=scope)
    wait = await gw.limiter.check(principal.name)
    if wait is not None:
        raise ApiError(
            429,
            "rate_limited",
            "too many requests for this token",
            headers={"Retry-After": str(int(wait + 0.999))},
        )
    request.state.principal = principal.name
    return principal


def require(scope: str) -> Any:
    """The same check as a FastAPI dependency, for the read routes."""

    async def dependency(request: Request, gw: Annotated[Gateway, Depends(gateway)]) -> Principal:
        return await authorize(request, gw, scope)

    return Depends(dependency)
