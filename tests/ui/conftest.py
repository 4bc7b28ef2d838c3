"""A real headless Chromium (Debian's `chromium`, driven by Playwright) against the real pipeline.

Playwright's own browser download is never used: the browser is the system's
/usr/bin/chromium, which deploy/native/lib.sh (ensure_chromium) installs.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import Browser, BrowserContext, Dialog, Page, async_playwright

from ..procs import Pipeline

CHROMIUM = os.environ.get("SALES_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


@pytest_asyncio.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    if not shutil.which(CHROMIUM):
        pytest.fail(
            f"{CHROMIUM} is missing: deploy/test installs Debian's chromium (deploy/native/lib.sh)"
        )
    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            await b.close()


class Watched:
    """A page whose JavaScript dialogs, console errors and page errors are recorded."""

    def __init__(self, page: Page, base: str) -> None:
        self.page = page
        self.base = base
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        page.on("dialog", self._dialog)
        page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))
        page.on(
            "console",
            lambda msg: self.errors.append(f"console: {msg.text}") if msg.type == "error" else None,
        )

    async def _dialog(self, dialog: Dialog) -> None:
        self.dialogs.append(dialog.message)
        await dialog.dismiss()

    def url(self, path: str) -> str:
        return self.base + path

    async def goto(self, path: str) -> Any:
        return await self.page.goto(self.url(path))

    async def sign_in(self, token: str) -> None:
        await self.goto("/ui/signin")
        await self.page.get_by_label("Access token").fill(token)
        await self.page.get_by_role("button", name="Sign in").click()
        await self.page.wait_for_url("**/ui/days")


@pytest_asyncio.fixture
async def context(browser: Browser) -> AsyncIterator[BrowserContext]:
    ctx = await browser.new_context(viewport=DESKTOP)
    ctx.set_default_timeout(20_000)
    try:
        yield ctx
    finally:
        await ctx.close()


@pytest_asyncio.fixture
async def ui(context: BrowserContext, pipeline: Pipeline) -> AsyncIterator[Watched]:
    page = await context.new_page()
    watched = Watched(page, pipeline.gateway_url)
    yield watched
    assert not watched.dialogs, f"a page opened dialogs: {watched.dialogs}"
