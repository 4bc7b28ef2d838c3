"""A real headless Chromium (Debian's `chromium`, driven by Playwright) against the real pipeline.

Playwright's own browser download is never used: the browser is the system's
/usr/bin/chromium, which deploy/native/lib.sh (ensure_chromium) installs.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from playwright.async_api import Browser, BrowserContext, async_playwright

from ..procs import Pipeline
from .helpers import DESKTOP, Watched

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
