"""Who is looking at a dashboard page: the session cookie, its token's scopes, CSRF checks.

A page asked for without a valid session redirects to the sign-in form (GET) or
answers 401 (anything else); a session whose token lacks the scope gets 403.
The API's bearer tokens keep working as before and are not accepted here: the
dashboard's routes take only the cookie, and state-changing ones also the
session's CSRF token.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote, urlsplit

from fastapi import Depends, Request

from ...names import SESSION_COOKIE
from ..auth import Principal
from ..errors import ApiError
from ..state import gateway
from .session import Session, SessionStore, csrf_matches
from .shared import Dashboard, dashboard

__all__ = [
    "Reader",
    "SignInRequired",
    "SignedIn",
    "Uploader",
    "check_csrf",
    "safe_next",
    "signed_in",
]


@dataclass(frozen=True, slots=True)
class SignedIn:
    principal: Principal
    session: Session
    session_id: str

    @property
    def can_upload(self) -> bool:
        return "upload" in self.principal.scopes


class SignInRequired(Exception):
    """No valid session: the handler redirects a browser to the sign-in form."""

    def __init__(self, next_path: str) -> None:
        super().__init__("sign in first")
        self.next_path = next_path


def safe_next(value: str | None) -> str:
    """Where to go after signing in: only a path of the dashboard itself (no open redirect)."""
    if not value:
        return "/ui/days"
    parts = urlsplit(value)
    if (
        parts.scheme
        or parts.netloc
        or not parts.path.startswith("/ui/")
        or value.startswith("//")
        or "\\" in value
    ):
        return "/ui/days"
    return value


async def _signed_in(request: Request, sessions: SessionStore, scope: str) -> SignedIn:
    gw = gateway(request)
    session_id = request.cookies.get(SESSION_COOKIE)
    session = await sessions.load(session_id)
    found = gw.tokens.by_digest(session.token_digest) if session is not None else None
    if session is None or found is None or session_id is None:
        if request.method == "GET":
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            raise SignInRequired(quote(target, safe="/?=&-_.:"))
        raise ApiError(401, "not_signed_in", "sign in to the dashboard first")
    principal = found[1]
    if scope not in principal.scopes:
        raise ApiError(403, "insufficient_scope", f"this token may not '{scope}'")
    wait = await gw.limiter.check(principal.name)
    if wait is not None:
        raise ApiError(
            429,
            "rate_limited",
            "too many requests for this token",
            headers={"Retry-After": str(int(wait + 0.999))},
        )
    request.state.principal = principal.name  # for the request log, as the API does
    return SignedIn(principal=principal, session=session, session_id=session_id)


def signed_in(scope: str) -> Any:
    """A FastAPI dependency: the signed-in user, with this scope."""

    async def dependency(request: Request) -> SignedIn:
        dash: Dashboard = dashboard(request)
        return await _signed_in(request, dash.sessions, scope)

    return Depends(dependency)


# Route parameters: the signed-in user, with the scope to read, or to upload and regenerate.
Reader = Annotated[SignedIn, signed_in("read")]
Uploader = Annotated[SignedIn, signed_in("upload")]


def check_csrf(request: Request, user: SignedIn, given: str | None) -> None:
    """A state-changing request must carry the session's CSRF token and, when the
    browser says where it comes from, come from this origin (SameSite=Strict aside)."""
    origin = request.headers.get("origin")
    if origin is not None and origin != f"{request.url.scheme}://{request.url.netloc}":
        raise ApiError(403, "bad_origin", "this request came from another site")
    if not csrf_matches(user.session.csrf, given):
        raise ApiError(
            403, "bad_csrf_token", "the form is stale or not from this dashboard; reload the page"
        )
