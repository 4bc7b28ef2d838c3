"""Sign in and out of the dashboard (a token typed once; a session cookie from then on)."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from ...names import SESSION_COOKIE
from ..state import gateway
from .access import Reader, check_csrf, safe_next
from .render import context
from .shared import Dashboard, dashboard

__all__ = ["router"]

router = APIRouter(prefix="/ui", include_in_schema=False)

_SIGNIN_COOKIE = "sa_signin"  # the sign-in form's own CSRF value (before any session exists)


def _cookie_secure(request: Request) -> bool:
    return request.url.scheme == "https"


@router.get("/signin")
async def signin_form(request: Request, next: str | None = None) -> Response:
    dash = dashboard(request)
    return _signin_page(request, dash, next=safe_next(next), error=None, status=200)


def _signin_page(
    request: Request, dash: Dashboard, *, next: str, error: str | None, status: int
) -> Response:
    nonce = secrets.token_urlsafe(24)
    response = dash.renderer.page(
        "signin.html", context(None, "signin", next=next, error=error, nonce=nonce), status=status
    )
    response.set_cookie(
        _SIGNIN_COOKIE,
        nonce,
        max_age=3600,
        path="/ui/signin",
        httponly=True,
        samesite="strict",
        secure=_cookie_secure(request),
    )
    return response


@router.post("/signin")
async def signin(
    request: Request,
    token: Annotated[str, Form(max_length=4096)],
    nonce: Annotated[str, Form(max_length=200)],
    next: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    dash, gw = dashboard(request), gateway(request)
    target = safe_next(next)
    expected = request.cookies.get(_SIGNIN_COOKIE)
    if not expected or not secrets.compare_digest(expected.encode(), nonce.encode()):
        return _signin_page(
            request,
            dash,
            next=target,
            error="The form had expired; please sign in again.",
            status=403,
        )
    # brute force is pointless against long random tokens, but keep it bounded anyway
    client = request.client.host if request.client else "unknown"
    if await gw.limiter.check(f"ui-signin:{client}") is not None:
        return _signin_page(
            request, dash, next=target, error="Too many attempts; wait a minute.", status=429
        )
    found = gw.tokens.identify(token)
    if found is None:
        return _signin_page(
            request, dash, next=target, error="This token is not valid.", status=401
        )
    await dash.sessions.delete(
        request.cookies.get(SESSION_COOKIE)
    )  # a new sign-in never reuses a session
    session_id, _ = await dash.sessions.create(found[0])
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        session_id,
        max_age=dash.sessions.ttl_seconds,
        path="/",
        httponly=True,
        samesite="strict",
        secure=_cookie_secure(request),
    )
    response.delete_cookie(_SIGNIN_COOKIE, path="/ui/signin")
    return response


@router.post("/signout")
async def signout(
    request: Request, user: Reader, csrf: Annotated[str, Form(max_length=200)] = ""
) -> Response:
    check_csrf(request, user, csrf)
    await dashboard(request).sessions.delete(user.session_id)
    response = RedirectResponse("/ui/signin", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("")
@router.get("/")
async def home() -> Response:
    return RedirectResponse("/ui/days", status_code=303)
