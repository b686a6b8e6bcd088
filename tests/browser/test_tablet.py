"""The suspect's tablet in Chromium: every way out, dead links, languages, keyboard, a phone."""

from __future__ import annotations

from datetime import timedelta

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import update
from sqlmodel import col

from api.pages.rendering import LANGUAGES, gettext
from api.pages.tablet import CLOSED, UNKNOWN
from dispatcher.db import unit_of_work, utcnow
from dispatcher.models import ChoiceSession
from tests.support.browser import Screens, Server, csp_guard, new_context

pytestmark = pytest.mark.browser


def stored_order(server: Server, path: str) -> list[str]:
    with server.api(server.investigator) as client:
        shown = client.get(f"/api/v1{path}")
    assert shown.status_code == 200
    return [option["lawyer"] for option in shown.json()["options"]]


def shown_order(page: Page) -> list[str]:
    licences: list[str] = page.locator("li.option").evaluate_all(
        "items => items.map(item => item.dataset.licence)"
    )
    return licences


def test_delegate_path_with_a_language_switch(
    browser: Browser, server: Server, screens: Screens
) -> None:
    request_id = server.investigation("BR-DELEGATE", language="az")
    path = server.tablet_path(request_id)
    context = new_context(browser, server)
    page = context.new_page()
    refused = csp_guard(page)
    page.goto(path)
    expect(page.locator("html")).to_have_attribute("lang", "az")
    expect(page.get_by_role("heading", level=1)).to_have_text(gettext("az", "Choose your lawyer"))
    assert shown_order(page) == stored_order(server, path)
    expect(page.locator("#read-aloud")).to_be_visible()  # Chromium can speak
    screens.check(page, "tablet-list-az")

    for lang in ("en", "ru", "az", "en"):
        page.get_by_role("navigation").locator(f'a[lang="{lang}"]').click()
        expect(page.locator("html")).to_have_attribute("lang", lang)
        expect(page.get_by_role("heading", level=1)).to_have_text(
            gettext(lang, "Choose your lawyer")
        )
        assert shown_order(page) == stored_order(server, path)  # the same list, same order
    screens.check(page, "tablet-list-en")

    page.get_by_role("button", name=gettext("en", "Let the system choose")).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        gettext("en", "Please check your choice")
    )
    page.locator('button[name="lang"][value="ru"]').click()  # switching keeps the choice
    expect(page.locator("html")).to_have_attribute("lang", "ru")
    expect(page.locator("#summary")).to_contain_text(
        gettext("ru", "You let the system choose a lawyer for you.")
    )
    screens.check(page, "tablet-confirm-delegate-ru")
    assert server.request(request_id)["status"] == "awaiting_choice"

    page.get_by_role("button", name=gettext("ru", "Yes, record my choice")).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        gettext("ru", "Your choice is recorded")
    )
    screens.check(page, "tablet-receipt-delegate-ru")
    assert server.request(request_id)["status"] == "inviting"
    assert refused == []
    context.close()


def test_own_counsel_path_on_a_phone(browser: Browser, server: Server, screens: Screens) -> None:
    request_id = server.investigation("BR-OWN", language="en")
    path = server.tablet_path(request_id)
    context = new_context(browser, server, phone=True)
    page = context.new_page()
    page.goto(path)
    expect(page.locator("html")).to_have_attribute("lang", "en")
    fits = page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
    assert fits, "the list scrolls sideways on a phone"
    screens.check(page, "tablet-list-phone-en")

    own = page.get_by_role("button", name=gettext("en", "I have my own lawyer"), exact=True)
    own.tap()  # no name: the browser's own check keeps the form
    assert server.request(request_id)["status"] == "awaiting_choice"
    page.get_by_label(gettext("en", "I have my own lawyer. The lawyer's name:")).fill(
        "Leyla Private"
    )
    own.tap()
    expect(page.locator("#summary")).to_contain_text("Leyla Private")
    screens.check(page, "tablet-confirm-own-counsel-phone")
    page.get_by_role("button", name=gettext("en", "Yes, record my choice")).tap()
    expect(page.locator(".chosen")).to_have_text("Leyla Private")
    screens.check(page, "tablet-receipt-own-counsel-phone")
    assert server.request(request_id)["status"] == "private_counsel"

    page.reload()  # the token is spent: the receipt again, never the list
    expect(page.get_by_role("heading", level=1)).to_have_text(
        gettext("en", "Your choice is recorded")
    )
    assert shown_order(page) == []
    context.close()


def test_spent_and_expired_links_say_so_in_three_languages(
    browser: Browser, server: Server, screens: Screens
) -> None:
    request_id = server.investigation("BR-DEAD")
    superseded = server.tablet_path(request_id)
    current = server.tablet_path(request_id)  # a new list spends the older link
    context = new_context(browser, server)
    page = context.new_page()

    response = page.goto(superseded)
    assert response is not None and response.status == 410
    for lang in LANGUAGES:
        expect(page.locator(f'section[lang="{lang}"]')).to_contain_text(gettext(lang, CLOSED))
    screens.check(page, "tablet-spent")

    with unit_of_work(server.runtime.engine) as session:
        session.execute(
            update(ChoiceSession)
            .where(col(ChoiceSession.request_id) == request_id)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    response = page.goto(current)
    assert response is not None and response.status == 410
    for lang in LANGUAGES:
        expect(page.locator(f'section[lang="{lang}"]')).to_contain_text(gettext(lang, CLOSED))
    assert shown_order(page) == []
    screens.check(page, "tablet-expired")

    response = page.goto("/tablet/not-a-token")
    assert response is not None and response.status == 404
    for lang in LANGUAGES:
        expect(page.locator(f'section[lang="{lang}"]')).to_contain_text(gettext(lang, UNKNOWN))
    screens.check(page, "tablet-unknown")
    context.close()


def focused(page: Page, selector: str) -> bool:
    found: bool = page.evaluate("s => document.activeElement.matches(s)", selector)
    return found


def tab_to(page: Page, selector: str, limit: int = 40) -> None:
    """Press Tab until the focus is on `selector`; fail if it never gets there."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if focused(page, selector):
            return
    raise AssertionError(f"Tab never reached {selector}")


def focus_ring_visible(page: Page) -> bool:
    ring: bool = page.evaluate(
        """() => { const s = getComputedStyle(document.activeElement);
                   return s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 3; }"""
    )
    return ring


def test_keyboard_only_through_the_tablet(
    browser: Browser, server: Server, screens: Screens
) -> None:
    request_id = server.investigation("BR-KEYS", language="ru")
    path = server.tablet_path(request_id)
    second = stored_order(server, path)[1]
    context = new_context(browser, server)
    page = context.new_page()
    page.goto(path)

    tab_to(page, f'button[name="lawyer"][value="{second}"]')
    assert focus_ring_visible(page)
    screens.check(page, "tablet-keyboard-focus")
    font_px = page.evaluate("() => parseFloat(getComputedStyle(document.activeElement).fontSize)")
    assert font_px >= 20  # large type on the kiosk
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text(
        gettext("ru", "Please check your choice")
    )
    tab_to(page, "#confirm")
    assert focus_ring_visible(page)
    page.keyboard.press("Space")
    expect(page.get_by_role("heading", level=1)).to_have_text(
        gettext("ru", "Your choice is recorded")
    )
    shown = server.request(request_id)
    assert shown["status"] == "inviting"
    assert shown["invitation"]["lawyer"] == second
    context.close()
