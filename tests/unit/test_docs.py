"""The docs hold together: links resolve, every setting is documented, the README stays a front door."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import AliasChoices, AliasPath

from service.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
CONFIGURATION = ROOT / "docs" / "configuration.md"
README_MAX_LINES = 200
# The two commands of the README: run the service, run the test suite.
TWO_COMMANDS = ("deploy/native/up", "deploy/test")

_FENCE = re.compile(r"^\s*(```|~~~)")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_INLINE_CODE = re.compile(r"(`+)(.+?)\1")
# [text](target) and ![alt](target), with an optional "title"; text may hold one level of [...].
_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


def _markdown_files() -> list[Path]:
    return sorted(
        [README, *(ROOT / "docs").rglob("*.md"), *(ROOT / "contracts").glob("*.md")],
    )


def _prose_lines(text: str) -> Iterator[str]:
    """The lines outside fenced code blocks."""
    fenced = False
    for line in text.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            yield line


def slug(heading: str) -> str:
    """GitHub's anchor for a heading's text: lower case, punctuation gone, spaces to hyphens."""
    text = _INLINE_CODE.sub(lambda m: m.group(2), heading)
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)  # a link keeps its text
    text = re.sub(r"<[^>]+>", "", text)  # inline HTML tags
    text = text.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every #anchor a page offers: its headings' slugs, repeated ones numbered as GitHub does."""
    seen: dict[str, int] = {}
    found: set[str] = set()
    for line in _prose_lines(path.read_text(encoding="utf-8")):
        match = _HEADING.match(line)
        if not match:
            continue
        base = slug(match.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def links(path: Path) -> Iterator[str]:
    """Every link target of a page's prose (code blocks and inline code are not links)."""
    for line in _prose_lines(path.read_text(encoding="utf-8")):
        for match in _LINK.finditer(_INLINE_CODE.sub("", line)):
            yield match.group(1)


def broken_link(page: Path, target: str) -> str | None:
    """Why a relative link of a page does not resolve, or None when it does (or is not relative)."""
    if _SCHEME.match(target) or target.startswith("//"):
        return None
    file_part, _, anchor = target.partition("#")
    dest = (page.parent / file_part).resolve() if file_part else page
    if not dest.exists():
        return f"{page.name}: {target}: no such file {_shown(dest)}"
    if anchor and dest.suffix == ".md" and anchor not in anchors(dest):
        return f"{page.name}: {target}: no heading with anchor #{anchor} in {_shown(dest)}"
    return None


def _shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def setting_env_names() -> list[str]:
    """Every environment variable Settings reads: each field's aliases, else its name in capitals."""
    names: list[str] = []
    for field_name, field in Settings.model_fields.items():
        alias = field.validation_alias
        if alias is None:
            names.append((field.alias or field_name).upper())
        elif isinstance(alias, str):
            names.append(alias)
        elif isinstance(alias, AliasChoices):
            for choice in alias.choices:
                if isinstance(choice, str):
                    names.append(choice)
                elif isinstance(choice, AliasPath) and isinstance(choice.path[0], str):
                    names.append(choice.path[0])
        elif isinstance(alias, AliasPath) and isinstance(alias.path[0], str):
            names.append(alias.path[0])
    return names


def test_slug_follows_github() -> None:
    """Heading slugs are GitHub's: punctuation and code marks dropped, case folded, Cyrillic kept."""
    assert slug("HTTP API (gateway, `127.0.0.1:8000`)") == "http-api-gateway-1270018000"
    assert slug("What an upload's answer means") == "what-an-uploads-answer-means"
    assert slug("Big days: chunks and a manifest") == "big-days-chunks-and-a-manifest"
    assert slug("Corrections (`x-replace: true`)") == "corrections-x-replace-true"
    assert slug("Сводка за день") == "сводка-за-день"
    assert slug("ADR 0001: our own [layer](x.md)") == "adr-0001-our-own-layer"


def test_repeated_headings_get_numbered_anchors(tmp_path: Path) -> None:
    """A second heading of the same text is #name-1, as on GitHub; headings in code blocks are none."""
    page = tmp_path / "page.md"
    page.write_text("# Notes\n\n## Notes\n\n```\n# not a heading\n```\n", encoding="utf-8")
    assert anchors(page) == {"notes", "notes-1"}


@pytest.mark.parametrize("page", _markdown_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(page: Path) -> None:
    """Every relative link of the README, docs/ and contracts/ names a file that exists, and a heading there."""
    broken = [why for target in links(page) if (why := broken_link(page, target))]
    assert not broken, "\n".join(broken)


def test_link_checker_sees_a_broken_link(tmp_path: Path) -> None:
    """The checker reports a missing file and a missing anchor, and passes good and external links."""
    (tmp_path / "other.md").write_text("# A heading\n", encoding="utf-8")
    page = tmp_path / "page.md"
    page.write_text(
        "[ok](other.md#a-heading) [gone](missing.md) [bad](other.md#nope) "
        "[web](https://example.org/x#y) `[code](nowhere.md)`\n",
        encoding="utf-8",
    )
    verdicts = {target: broken_link(page, target) for target in links(page)}
    assert set(verdicts) == {
        "other.md#a-heading",
        "missing.md",
        "other.md#nope",
        "https://example.org/x#y",
    }
    assert verdicts["other.md#a-heading"] is None and verdicts["https://example.org/x#y"] is None
    assert verdicts["missing.md"] and verdicts["other.md#nope"]


def test_every_setting_is_in_the_configuration_page() -> None:
    """Each environment variable of service/settings.py (aliases too) is named in docs/configuration.md."""
    page = CONFIGURATION.read_text(encoding="utf-8")
    names = setting_env_names()
    assert "ACCESS_TOKEN" in names and "REDIS_CONNECT_URL" in names  # the derivation sees aliases
    missing = [name for name in names if f"`{name}`" not in page]
    assert not missing, f"document in docs/configuration.md: {missing}"


def test_readme_is_a_front_door() -> None:
    """README.md stays short (at most 200 lines) and gives the two commands."""
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= README_MAX_LINES
    for command in TWO_COMMANDS:
        assert f"`{command}`" in text, command
