"""Token scopes: ACCESS_TOKEN may correct; a named token only when its scopes say so."""

from __future__ import annotations

import pytest

from service.errors import ConfigError
from service.names import replace_requested
from service.settings import Settings


def scopes(**env: str) -> dict[str, set[str]]:
    settings = Settings(_env_file=None, **env)  # type: ignore[arg-type]
    return {t.name: set(t.scopes) for t in settings.tokens()}


def test_access_token_has_every_scope_and_named_tokens_lack_correct_by_default() -> None:
    """ACCESS_TOKEN: upload, read, correct; a named token without a list: upload and read only."""
    got = scopes(access_token="a" * 20, access_tokens="shop:" + "b" * 20)
    assert got == {"default": {"upload", "read", "correct"}, "shop": {"upload", "read"}}


def test_a_named_token_gets_correct_when_listed() -> None:
    """name:secret:upload+correct grants exactly those."""
    assert scopes(access_tokens="erp:" + "c" * 20 + ":upload+correct") == {
        "erp": {"upload", "correct"}
    }


def test_an_unknown_scope_is_refused() -> None:
    """A typo in a scope list stops the start instead of granting nothing silently."""
    with pytest.raises(ConfigError):
        scopes(access_tokens="erp:" + "c" * 20 + ":corect")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (b"true", True),
        (b"TRUE", True),
        (b"1", True),
        (b" yes ", True),
        (b"false", False),
        (b"0", False),
        (b"", False),
        (None, False),
    ],
)
def test_the_replace_header_values(value: bytes | None, expected: bool) -> None:
    """x-replace asks for a correction with true, 1 or yes (any case); anything else is a plain upload."""
    assert replace_requested(value) is expected
