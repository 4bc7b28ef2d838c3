"""Bearer tokens: several, each with a name (for logs and metrics) and scopes.

Tokens are compared as SHA-256 digests with hmac.compare_digest, so neither the
content nor the length of a configured token leaks through timing.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from ..settings import TokenSpec

__all__ = ["AuthError", "Principal", "TokenTable"]


@dataclass(frozen=True, slots=True)
class Principal:
    name: str
    scopes: frozenset[str]


class AuthError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


class TokenTable:
    def __init__(self, specs: list[TokenSpec]) -> None:
        self._entries = [
            (hashlib.sha256(s.secret.encode()).digest(), Principal(s.name, s.scopes)) for s in specs
        ]

    def authenticate(self, authorization: str | None, *, scope: str) -> Principal:
        if not authorization:
            raise AuthError(401, "missing_token", "send 'Authorization: Bearer <token>'")
        kind, _, token = authorization.partition(" ")
        if kind.lower() != "bearer" or not token.strip():
            raise AuthError(
                401, "bad_auth_scheme", "only 'Authorization: Bearer <token>' is accepted"
            )
        digest = hashlib.sha256(token.strip().encode()).digest()
        found: Principal | None = None
        for known, principal in self._entries:  # no early exit: same work for every token
            if hmac.compare_digest(known, digest):
                found = principal
        if found is None:
            raise AuthError(401, "invalid_token", "the bearer token is not valid")
        if scope not in found.scopes:
            raise AuthError(403, "insufficient_scope", f"this token may not '{scope}'")
        return found

    def identify(self, token: str) -> tuple[str, Principal] | None:
        """A token typed into the dashboard's sign-in form: its digest (hex) and whose it is."""
        digest = hashlib.sha256(token.strip().encode()).digest()
        return self.by_digest(digest.hex()) if token.strip() else None

    def by_digest(self, digest_hex: str) -> tuple[str, Principal] | None:
        """Whose token has this digest, if it is still configured (a dashboard session re-checks it)."""
        try:
            digest = bytes.fromhex(digest_hex)
        except ValueError:
            return None
        found: Principal | None = None
        for known, principal in self._entries:  # no early exit, as in authenticate
            if hmac.compare_digest(known, digest):
                found = principal
        return None if found is None else (digest_hex, found)
