"""Dashboard sessions: a random id in an HttpOnly, SameSite=Strict cookie, the session in Redis.

The browser never holds the token itself: the token is typed once into the
sign-in form, checked, and the session keeps only its SHA-256 digest, which is
looked up in the gateway's token table on every request, so removing a token
(and restarting the gateway) ends its sessions too. Redis stores a session under
the SHA-256 of its id, so a copy of Redis holds no cookie that would work. Each
session has its own CSRF token, which every state-changing request must echo
(a hidden form field or the X-CSRF-Token header).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass

from ...cache import Redis, translate_errors
from ...names import SESSION_TTL_SECONDS, redis_session_key

__all__ = ["Session", "SessionStore", "csrf_matches"]


@dataclass(frozen=True, slots=True)
class Session:
    token_digest: str  # hex SHA-256 of the token signed in with
    csrf: str


def _key(session_id: str) -> str:
    return redis_session_key(hashlib.sha256(session_id.encode()).hexdigest())


def csrf_matches(expected: str, given: str | None) -> bool:
    return given is not None and hmac.compare_digest(expected.encode(), given.encode())


class SessionStore:
    def __init__(self, client: Redis, *, ttl_seconds: int = SESSION_TTL_SECONDS) -> None:
        self._r = client
        self.ttl_seconds = ttl_seconds

    async def create(self, token_digest: str) -> tuple[str, Session]:
        """A new session; returns the id for the cookie."""
        session_id = secrets.token_urlsafe(32)
        session = Session(token_digest=token_digest, csrf=secrets.token_urlsafe(32))
        async with translate_errors("session create"):
            await self._r.set(
                _key(session_id),
                json.dumps({"token": token_digest, "csrf": session.csrf}),
                ex=self.ttl_seconds,
            )
        return session_id, session

    async def load(self, session_id: str | None) -> Session | None:
        if not session_id or len(session_id) > 100:
            return None
        async with translate_errors("session load"):
            raw = await self._r.get(_key(session_id))
        if raw is None:
            return None
        data = json.loads(raw)
        return Session(token_digest=str(data["token"]), csrf=str(data["csrf"]))

    async def delete(self, session_id: str | None) -> None:
        if session_id:
            async with translate_errors("session delete"):
                await self._r.delete(_key(session_id))
