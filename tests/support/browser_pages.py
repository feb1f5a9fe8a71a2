"""Pages of the admin in a real browser, as an accountant's laptop opens them (tests/browser/)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pipeline.config import BASE_DIR

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page
    from pytest_django.live_server_helper import LiveServer

ARTIFACTS = BASE_DIR / "test-artifacts"
PASSWORD = "browser-Secret-pass-42"
#: An accountant's laptop.
WIDTH, HEIGHT = 1366, 768


def laptop_page(browser: Browser, *, locale: str) -> Page:
    """A page in a fresh context (its own cookies) at the laptop's size, speaking `locale`."""
    context = browser.new_context(locale=locale, viewport={"width": WIDTH, "height": HEIGHT})
    page = context.new_page()
    page.set_default_timeout(20_000)
    return page


def log_in(page: Page, base_url: str, username: str, *, password: str = PASSWORD) -> None:
    """Log in through the admin's login form and wait for its index."""
    page.goto(f"{base_url}/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("input[type=submit]")
    page.wait_for_url(f"{base_url}/admin/")


def logged_in_page(
    browser: Browser, server: LiveServer, username: str, *, locale: str = "es-CL", password: str = PASSWORD
) -> Page:
    """A laptop page logged in as `username`, on the admin's index; close it with `page.context.close()`."""
    page = laptop_page(browser, locale=locale)
    log_in(page, server.url, username, password=password)
    return page


def no_sideways_scroll(page: Page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.evaluate("window.innerWidth"), f"the page is {width} px wide at {WIDTH} px"
    # the admin scrolls a wide table inside its box: that is sideways scrolling too
    boxes = page.evaluate(
        "() => [...document.querySelectorAll('.results, .tabular, fieldset')]"
        ".filter(e => e.scrollWidth > e.clientWidth + 1).map(e => e.className)"
    )
    assert boxes == [], f"these scroll sideways: {boxes}"
