"""What the browser tests share: the page sizes, a page that records what goes wrong on it."""

from __future__ import annotations

from typing import Any

from playwright.async_api import Dialog, Page, ViewportSize

__all__ = ["DESKTOP", "PHONE", "SHOTS_ENV", "Watched"]

DESKTOP: ViewportSize = {"width": 1280, "height": 900}
PHONE: ViewportSize = {"width": 390, "height": 844}
# where test_screenshots.py keeps its PNGs (python -m tests.ui.screenshots sets it)
SHOTS_ENV = "SALES_SCREENSHOTS_DIR"


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
