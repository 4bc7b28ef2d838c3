"""HTML out: the Jinja2 templates (autoescaped), the report's Markdown, the pages' security headers."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from importlib import resources
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markdown_it import MarkdownIt
from markupsafe import Markup, escape
from starlette.responses import HTMLResponse

from ...figures.display import Language, integer, money, percent

__all__ = ["SECURITY_HEADERS", "Renderer", "context", "markdown_claims", "markdown_html"]

# Scripts and styles only from our own origin: the JSON data blocks are never
# executed, and an injected <script> would not run even if escaping failed.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}

# The report is written by an LLM from data that came in uploads: raw HTML is
# escaped (html=False), and images and links are not rendered at all (an image
# would be fetched, a link could point anywhere); their text shows as typed.
_MD = (
    MarkdownIt("commonmark", {"html": False}).enable("table").disable(["image", "link", "autolink"])
)


def markdown_html(text: str) -> Markup:
    return Markup(_MD.render(text))


# Marks for the report's figures: each claim's span is replaced by a placeholder of
# private-use characters (which Markdown leaves alone and the text cannot bring: they
# are replaced in it first), the text is rendered with HTML off, then each placeholder
# becomes an escaped <span> that shows the figure's source on hover or tap.
_PRIVATE = re.compile("[\ue000-\uf8ff]")
_OPEN, _CLOSE = "\ue000", "\ue001"
_PLACE = re.compile(f"{_OPEN}(\\d+){_CLOSE}")


def _claim_spans(text: str, claims: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The claims whose offsets still fit the text, in order, without overlaps."""
    kept: list[dict[str, Any]] = []
    last = 0
    for c in sorted(claims, key=lambda c: (int(c.get("start", -1)), int(c.get("end", -1)))):
        start, end = int(c.get("start", -1)), int(c.get("end", -1))
        if start < last or end <= start or text[start:end] != c.get("text"):
            continue
        kept.append(c)
        last = end
    return kept


def _mark(c: dict[str, Any]) -> str:
    ok = bool(c.get("verified"))
    sources = ", ".join(str(s) for s in c.get("sources") or [])
    if ok:
        rule = str(c.get("rule", ""))
        tip = rule if not sources or sources in rule else f"{rule} [{sources}]"
    else:
        expected = c.get("expected")
        tip = f"NOT verified: {c.get('rule', '')}" + (
            f"; the facts: {expected}" if expected else ""
        )
    return (
        f'<span class="fig {"ok" if ok else "bad"}" tabindex="0" data-form="{escape(c.get("form", ""))}" '
        f'data-source="{escape(tip)}" title="{escape(tip)}">{escape(c.get("text", ""))}</span>'
    )


def markdown_claims(text: str, claims: list[dict[str, Any]] | None) -> Markup:
    """The report's Markdown as HTML, each figure marked with where it came from."""
    text = _PRIVATE.sub("\ufffd", text)  # same length: the claims' offsets still fit
    spans = _claim_spans(text, claims or [])
    if not spans:
        return markdown_html(text)
    pieces, last = [], 0
    for i, c in enumerate(spans):
        pieces += [text[last : c["start"]], f"{_OPEN}{i}{_CLOSE}"]
        last = c["end"]
    html = _MD.render("".join(pieces) + text[last:])
    return Markup(_PLACE.sub(lambda m: _mark(spans[int(m.group(1))]), html))


def context(user: Any, nav: str, **extra: Any) -> dict[str, Any]:
    """What every page's template gets: the signed-in user (or None) and the active menu entry."""
    return {"user": user, "nav": nav, **extra}


def _templates_dir() -> str:
    return str(resources.files(__package__).joinpath("templates"))


def _date(value: dt.date | dt.datetime | None) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return value.isoformat()


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} bytes"
    if n < 1024 * 1024:
        return f"{n / 1024:.1f} KB"
    return f"{n / (1024 * 1024):.1f} MB"


class Renderer:
    def __init__(self, *, language: Language) -> None:
        self.env = Environment(
            loader=FileSystemLoader(_templates_dir()),
            undefined=StrictUndefined,
            autoescape=select_autoescape(["html"], default_for_string=True, default=True),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters.update(
            money=lambda v, signed=False: money(
                None if v is None else Decimal(v), language=language, signed=signed
            ),
            percent=lambda v, signed=False: percent(
                None if v is None else Decimal(v), language=language, signed=signed
            ),
            integer=lambda v, signed=False: integer(int(v), language=language, signed=signed),
            date=_date,
            size=_size,
            markdown=markdown_html,
            markdown_claims=markdown_claims,
        )
        self.env.globals["language"] = language

    def page(
        self,
        template: str,
        context: dict[str, Any],
        *,
        status: int = 200,
        headers: dict[str, str] | None = None,
    ) -> HTMLResponse:
        html = self.env.get_template(template).render(**context)
        return HTMLResponse(
            html, status_code=status, headers={**SECURITY_HEADERS, **(headers or {})}
        )
