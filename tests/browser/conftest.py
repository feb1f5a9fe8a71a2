"""The browser and the live server the tests in tests/browser/ drive; their pages: tests/support/browser_pages.py."""

from __future__ import annotations

import pytest

from tests.support import needs

#: Chromium flags for a headless run as root in a container, with nothing fetched from the network.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser():
    executable = needs.chromium()
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop in this thread; the test's ORM calls are plain sync code.
    with pytest.MonkeyPatch.context() as patch, sync_playwright() as playwright:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def server(request, settings):
    """pytest-django's live server; it needs a MEDIA_URL (ours has none: documents are not media files)."""
    settings.MEDIA_URL = "/media/"
    return request.getfixturevalue("live_server")
