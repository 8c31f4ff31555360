"""A headless Chromium (Debian's) driven by Playwright, confined to one origin: what a person's browser would do with
our pages, with the internet out of reach. scripts/setup installs Chromium; a machine without it fails these tests
(they are never skipped: the pages are tested in a real browser or not at all)."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"

# Every content security policy violation the page meets, as the browser reports it: "<directive> <blocked URI>".
_RECORD_VIOLATIONS = (
    "window.violations = [];"
    "document.addEventListener('securitypolicyviolation',"
    " e => window.violations.push(e.effectiveDirective + ' ' + e.blockedURI));"
)


@dataclass
class Confined:
    """A page that may reach ``origin`` only; what it asked for elsewhere and what its console complained of."""

    page: Any
    origin: str
    refused: list[str] = field(default_factory=list)
    requested: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)

    async def violations(self) -> list[str]:
        """The policy violations reported on the page so far."""
        return list(await self.page.evaluate("window.violations"))


@asynccontextmanager
async def confined_page(origin: str, *, locale: str | None = None) -> AsyncIterator[Confined]:
    """A fresh headless Chromium page; requests to any other origin are aborted (and listed in ``refused``).
    ``locale`` (e.g. ``zh-CN``) is the browser's own language: its date and time pickers follow it."""
    from playwright import async_api  # the dev extra; only browser tests load it

    assert Path(CHROMIUM).exists(), f"no Chromium at {CHROMIUM}: run scripts/setup (Debian package 'chromium')"
    async with async_api.async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            page = await browser.new_page(locale=locale)
            confined = Confined(page, origin)

            async def only_origin(route: Any) -> None:
                url = route.request.url
                confined.requested.append(url)
                if url.startswith(origin + "/"):
                    await route.continue_()
                else:
                    confined.refused.append(url)
                    await route.abort()

            page.on("console", lambda m: confined.console.append(m.text) if m.type in ("error", "warning") else None)
            page.on("pageerror", lambda e: confined.console.append(str(e)))
            await page.route("**/*", only_origin)
            await page.add_init_script(_RECORD_VIOLATIONS)
            yield confined
        finally:
            await browser.close()
