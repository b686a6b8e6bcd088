"""A first visit in Chromium: the start page, an error page, the investigator's list of
detainees and the hand-over page after a reload; az and ru, laptop and phone, each screen
photographed and checked with axe-core (no violation of any impact)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, expect

from api.pages.rendering import gettext
from tests.support.browser import Screens, Server, csp_guard, new_context

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("phone", [False, True], ids=["laptop", "phone"])
def test_a_first_visit_reads_in_az_and_ru(
    browser: Browser, server: Server, screens: Screens, phone: bool
) -> None:
    size = "phone" if phone else "laptop"
    context = new_context(browser, server, phone=phone)
    page = context.new_page()
    refused = csp_guard(page)
    for lang in ("az", "ru"):
        page.goto(f"/?lang={lang}")
        expect(page.locator("h1")).to_have_text(gettext(lang, "Counsel dispatcher"))
        expect(page.get_by_role("link", name=gettext(lang, "Sign in (staff, lawyers, the bar)")))
        assert screens.check(page, f"landing-{lang}-{size}") == {}
        page.goto("/investigator/no-such-page")
        expect(page.locator("h1")).to_have_text(gettext(lang, "Not found"))
        assert screens.check(page, f"error-404-{lang}-{size}") == {}
        page.get_by_role("link", name=gettext(lang, "Back to the start page")).click()
        expect(page).to_have_url(re.compile(r"/$"))

    # Signed in as the investigator: the list of detainees, a mistake, then the filed list.
    page.goto("/login?next=/investigator/detainees")
    page.locator("input[name=token]").fill(server.investigator)
    page.locator("main form button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/investigator/detainees$"))
    for lang in ("az", "ru"):
        # The form names the territory and the place by name, in the reader's language.
        page.goto(f"/investigator?lang={lang}")
        expect(page.locator("#territory option").first).not_to_have_text(re.compile(r"^[A-Z-]+$"))
        assert screens.check(page, f"investigator-home-{lang}-{size}") == {}
        page.goto(f"/investigator/detainees?lang={lang}")
        reference = f"INV-LIST-{lang}-{size}".upper()
        page.locator("#external_ref").fill(reference)
        page.locator("#case_number").fill(f"1(101)-{lang}/2026")
        page.locator("#detainees").fill("Anar Məmmədov; az; no\nIvan Petrov; russian; no\n")
        page.get_by_role("button", name=gettext(lang, "File a request for each")).click()
        expect(page.locator("#line-problems li")).to_have_count(1)
        expect(page.locator("#line-problems li")).to_contain_text(
            gettext(lang, "Line %(line)s: %(problem)s").split(":")[0] % {"line": 2}
        )
        assert screens.check(page, f"detainees-errors-{lang}-{size}") == {}
        page.locator("#detainees").fill("Anar Məmmədov; az; no\nIvan Petrov; ru; no\n")
        page.get_by_role("button", name=gettext(lang, "File a request for each")).click()
        expect(page).to_have_url(re.compile(r"/investigator/detainees/filed\?ref="))
        expect(page.locator("#filed tbody tr")).to_have_count(2)
        assert screens.check(page, f"detainees-filed-{lang}-{size}") == {}

        # The hand-over page of the first: a reload shows the same link.
        page.locator("#filed tbody tr a").first.click()
        page.get_by_role("button", name=gettext(lang, "Open the tablet list")).click()
        expect(page).to_have_url(re.compile(r"/tablet$"))
        link = page.locator("#tablet-link").get_attribute("href")
        page.reload()
        expect(page.locator("#tablet-link")).to_have_attribute("href", link or "")
        assert screens.check(page, f"hand-over-reloaded-{lang}-{size}") == {}

        # A form's answer reopened (sign-out's address) is a page, not JSON.
        page.goto("/logout")
        expect(page.locator("h1")).to_have_text(gettext(lang, "This address cannot be opened"))
        assert screens.check(page, f"error-405-{lang}-{size}") == {}
    assert refused == []
    context.close()
