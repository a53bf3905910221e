"""Headless Chromium for browser tests (the web console, rendered HTML reports).

Playwright drives Debian's `chromium` package rather than a browser Playwright would
download (this kind of machine reaches no download site); CI installs the package, so a
test is skipped only where it is absent locally. Async because the API stack under test
runs in the test's own event loop: the sync API would block the loop and the server.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.async_api import Browser, Page
    from playwright.sync_api import Browser as SyncBrowser

SCREENSHOTS_ENV = "TUNELOOP_SCREENSHOTS"  # a directory to copy screenshots into, if set


def chromium_path() -> str | None:
    """`$TUNELOOP_CHROMIUM`, else Debian's /usr/bin/chromium, else `chromium` on PATH."""
    for candidate in (os.environ.get("TUNELOOP_CHROMIUM"), "/usr/bin/chromium"):
        if candidate and Path(candidate).is_file():
            return candidate
    return shutil.which("chromium")


def _playwright_missing() -> bool:
    try:
        import playwright  # noqa: F401
    except ImportError:
        return True
    return False


# Use as a decorator or in `pytestmark`: the only reason to skip a browser test.
requires_chromium = pytest.mark.skipif(
    chromium_path() is None or _playwright_missing(),
    reason="needs Debian's chromium (apt-get install -y chromium) and the playwright "
    "package (the `dev` extra); .ci/run installs both",
)


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    """A headless Chromium for async tests."""
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium_path(), headless=True)
        try:
            yield browser
        finally:
            await browser.close()


@contextmanager
def chromium_sync() -> Iterator[SyncBrowser]:
    """The same for plain (non-async) tests, e.g. rendering a saved HTML report."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path(), headless=True)
        try:
            yield browser
        finally:
            browser.close()


async def screenshot(page: Page, directory: Path, name: str) -> Path:
    """A full-page PNG under `directory` (the test's tmp dir), copied to
    `$TUNELOOP_SCREENSHOTS` too when set (so a run can feed the README)."""
    png = await page.screenshot(full_page=True)
    targets = [directory]
    if os.environ.get(SCREENSHOTS_ENV):
        targets.append(Path(os.environ[SCREENSHOTS_ENV]))
    await asyncio.to_thread(_write, png, targets, f"{name}.png")
    return directory / f"{name}.png"


def _write(data: bytes, directories: list[Path], filename: str) -> None:
    for directory in directories:
        directory.mkdir(parents=True, exist_ok=True)
        (directory / filename).write_bytes(data)
