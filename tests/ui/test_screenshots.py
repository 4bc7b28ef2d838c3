"""Every page at desktop and phone width: fits the screen, and a screenshot for a reviewer.

`python -m tests.ui.screenshots [DIR]` runs this file and keeps the PNGs in DIR;
in the suite they go to a temporary directory.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..conftest import TOKEN, sales_xml
from .conftest import DESKTOP, PHONE, Watched

SHOTS_ENV = "SALES_SCREENSHOTS_DIR"
CATEGORIES = ["Electronics", "Books", "Garden", "Toys", "Food", "Kitchen", "Sports", "Office"]
README_SIZE = {"width": 1100, "height": 820}
LONG = "A very long product name that goes on and on, as some shops' names do"


def _products(seed: int) -> list[tuple[int, str, int, str, str]]:
    rows = [
        (
            i,
            LONG
            if i == 3
            else ("&lt;script&gt;alert(1)&lt;/script&gt;" if i == 5 else f"Product {i}"),
            (i * 7 + seed * 3) % 40 + 1,
            f"{(i * 37 + seed * 11) % 500 + 5}.{(i * seed) % 100:02d}",
            CATEGORIES[(i + seed) % len(CATEGORIES)],
        )
        for i in range(1, 41)
    ]
    rows.append((41, "Broken", 0, "1.00", "Books"))  # one rejected product
    return rows


async def test_every_page_fits_desktop_and_phone(ui: Watched, api, events, days, tmp_path):
    """Days, a day, uploads, an upload, the upload form and sign-in render without sideways scrolling;
    the day's print view leaves out the navigation and the buttons."""
    out = Path(os.environ.get(SHOTS_ENV) or tmp_path)
    out.mkdir(parents=True, exist_ok=True)
    shown = [d for i, d in enumerate(days[:9]) if i not in (3, 4)]  # a gap of two days
    ids = []
    for i, day in enumerate(shown):
        r = await api.post("/v1/uploads", content=sales_xml(day, _products(i)))
        ids.append(r.json()["upload_id"])
    bad = await api.post("/v1/uploads", content=sales_xml(days[3], [(1, "A", 0, "1.001", "X")]))
    await events.wait("sales.rejected", upload_id=bad.json()["upload_id"])
    for upload_id in ids:
        await events.wait("sales.reports", upload_id=upload_id, timeout=60)

    last = shown[-1].isoformat()
    pages = {
        "days": f"/ui/days?from={days[0].isoformat()}&to={days[9].isoformat()}",
        "day": f"/ui/days/{last}",
        "uploads": "/ui/uploads",
        "upload-rejected": f"/ui/uploads/{bad.json()['upload_id']}",
        "upload": "/ui/upload",
    }
    await ui.goto("/ui/signin")
    await _shoot(ui, out, "signin")
    await ui.sign_in(TOKEN)
    for name, path in pages.items():
        await ui.goto(path)
        if name == "day":
            await ui.page.wait_for_function(
                "() => document.querySelectorAll('canvas[data-chart]').length === 4"
            )
        await _shoot(ui, out, name)
    # the Upload page after a file with a rejected product went through
    sent = tmp_path / "upload.xml"
    sent.write_bytes(sales_xml(days[12], _products(3)))
    await ui.goto("/ui/upload")
    await ui.page.set_input_files("#file", str(sent))
    await ui.page.get_by_role("button", name="Upload").click()
    await ui.page.locator("#outcome-status[data-status=stored]").wait_for()
    await _shoot(ui, out, "upload-outcome", fresh=False)

    await ui.goto(pages["day"])
    await ui.page.set_viewport_size(README_SIZE)
    await ui.page.wait_for_timeout(150)
    await ui.page.screenshot(
        path=str(out / "readme-day.png")
    )  # the one in docs/dashboard.md (tests/ui/screenshot-day.png)
    await ui.page.emulate_media(media="print")
    assert not await ui.page.locator("header.top").is_visible(), (
        "the print view still shows the navigation"
    )
    assert not await ui.page.get_by_role("button", name="Regenerate report").is_visible()
    await ui.page.screenshot(path=str(out / "day-print.png"), full_page=True)
    assert ui.errors == []


# Accessible basics every page keeps: a language, one h1, a main landmark, a label for
# every control, and "Skip to content" as the first stop of the keyboard.
BASICS = """() => ({
    lang: document.documentElement.lang,
    h1: document.querySelectorAll('h1').length,
    main: document.querySelectorAll('main').length,
    unlabelled: [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
        .filter(e => !e.labels.length && !e.getAttribute('aria-label')).map(e => e.name || e.id),
})"""


async def _shoot(ui: Watched, out: Path, name: str, *, fresh: bool = True) -> None:
    assert await ui.page.evaluate(BASICS) == {"lang": "en", "h1": 1, "main": 1, "unlabelled": []}, (
        name
    )
    for label, size in (("desktop", DESKTOP), ("phone", PHONE)):
        await ui.page.set_viewport_size(size)
        await ui.page.wait_for_timeout(150)  # charts resize on the next frame
        overflow = await ui.page.evaluate(
            "() => document.documentElement.scrollWidth - window.innerWidth"
        )
        assert overflow <= 0, f"{name} is {overflow}px wider than the {label} screen"
        await ui.page.screenshot(path=str(out / f"{name}-{label}.png"), full_page=True)
    await ui.page.set_viewport_size(DESKTOP)
    if name == "signin":  # the token field has the focus already
        assert await ui.page.evaluate("() => document.activeElement.id") == "token"
    elif fresh:  # a page just loaded, not one the test has already clicked in
        await ui.page.keyboard.press("Tab")
        assert (
            await ui.page.evaluate("() => document.activeElement.textContent") == "Skip to content"
        ), name
