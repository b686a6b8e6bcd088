"""The bar's overview, a territory and the public page in Chromium: az and ru, laptop and phone,
each photographed and checked with axe-core (no violation of any impact)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, expect

from api.pages.rendering import gettext
from tests.dispatcher.test_flags import history
from tests.support.browser import Screens, Server, csp_guard, new_context
from tests.support.clients import make_token

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("phone", [False, True], ids=["laptop", "phone"])
def test_the_bar_and_the_public_read_in_az_and_ru(
    browser: Browser, server: Server, screens: Screens, phone: bool
) -> None:
    if not phone:
        history(server.runtime, steer=True)
    size = "phone" if phone else "laptop"
    token = make_token(server.runtime, "bar", "Bar Reviewer")
    context = new_context(browser, server, phone=phone)
    page = context.new_page()
    refused = csp_guard(page)
    page.goto("/bar")
    expect(page).to_have_url(re.compile(r"/login\?next="))
    page.locator("input[name=token]").fill(token)
    page.locator("form button[type=submit]").first.click()
    expect(page).to_have_url(re.compile(r"/bar$"))
    for lang in ("az", "ru"):
        page.goto(f"/bar?lang={lang}")
        expect(page.locator("h1")).to_have_text(gettext(lang, "The bar's overview"))
        expect(page.locator("tr[data-attention]").first).to_have_attribute("data-attention", "act")
        assert screens.check(page, f"bar-overview-{lang}-{size}") == {}
        page.locator("tr[data-attention] a").first.click()
        expect(page).to_have_url(re.compile(r"territory=CEN"))
        expect(page.locator("[data-finding=flags] .advice")).to_be_visible()
        expect(page.locator(".plot img")).to_have_count(2)
        assert screens.check(page, f"bar-territory-{lang}-{size}") == {}
        # The report exported in the reader's language (a download: shown from its bytes).
        href = page.get_by_role("link", name=gettext(lang, "The report as a web page"))
        exported = page.request.get(str(href.get_attribute("href")))
        assert exported.ok and f'<html lang="{lang}">' in exported.text()
        # Opened as a saved file would be: a blank page of its own, the document's inline style.
        saved = context.new_page()
        saved.set_content(exported.text())
        expect(saved.locator("h2").first).to_have_text(gettext(lang, "What the figures say"))
        assert screens.check(saved, f"bar-export-{lang}-{size}") == {}
        saved.close()
        page.goto(f"/public?lang={lang}")
        expect(page.locator("h1")).to_have_text(gettext(lang, "How the service is doing"))
        expect(page.locator("table.public tbody tr").first).to_be_visible()
        assert screens.check(page, f"public-{lang}-{size}") == {}
    assert refused == []
    context.close()
