"""What the browser tests share: whether a page fits a phone's screen."""

import os
from pathlib import Path

from playwright.async_api import Page

# What sticks out of a phone-sized screen: the innermost elements wider than it.
WIDER_THAN_SCREEN = """() => [...document.querySelectorAll("body *")]
  .filter((e) => e.getBoundingClientRect().right > innerWidth + 1)
  .filter((e) => ![...e.children].some((c) => c.getBoundingClientRect().right > innerWidth + 1))
  .slice(0, 8).map((e) => `${e.tagName.toLowerCase()}#${e.id}.${e.className}`)"""


async def fits_a_phone(page: Page, shot: str) -> None:
    """At a phone's 390 px the page needs no sideways scrolling; a screenshot for the README
    (into PBX_ENGINE_SCREENSHOTS when set)."""
    size = page.viewport_size
    await page.set_viewport_size({"width": 390, "height": 844})
    try:
        width = await page.evaluate("document.documentElement.scrollWidth")
        wide = await page.evaluate(WIDER_THAN_SCREEN)
        assert width <= 390, f"{page.url} is {width} px wide on a 390 px screen: {wide}"
        if folder := os.environ.get("PBX_ENGINE_SCREENSHOTS"):
            await page.screenshot(path=Path(folder) / shot, full_page=True)
    finally:
        if size is not None:
            await page.set_viewport_size(size)
