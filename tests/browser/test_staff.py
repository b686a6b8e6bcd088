"""Investigator, suspect and lawyer in Chromium: from the request to the appointment."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, Page, expect

from api.pages.rendering import gettext
from tests.support.browser import Screens, Server, csp_guard, new_context

pytestmark = pytest.mark.browser

EN = "en"


def sign_in(page: Page, screens: Screens | None, token: str, lands_on: str) -> None:
    """Sign in through the form (a wrong token first when `screens` is given)."""
    expect(page).to_have_url(re.compile(r"/login\?next="))
    if screens is not None:
        page.get_by_label(gettext("az", "Your access token")).fill("wrong")
        page.get_by_role("button", name=gettext("az", "Sign in")).click()
        expect(page.get_by_role("alert")).to_be_visible()
        screens.check(page, "login-refused")
    page.get_by_label(gettext("az", "Your access token")).fill(token)
    page.get_by_role("button", name=gettext("az", "Sign in")).click()
    expect(page).to_have_url(re.compile(re.escape(lands_on) + "$"))
    # The page's language is the reader's choice, and it stays chosen.
    page.get_by_role("navigation").locator(f'a[lang="{EN}"]').click()
    expect(page.locator("html")).to_have_attribute("lang", EN)


def test_last_lawyer_listed_chosen_in_russian_accepts_on_the_lawyer_page(
    browser: Browser, server: Server, screens: Screens
) -> None:
    office = new_context(browser, server)
    investigator = office.new_page()
    refused = csp_guard(investigator)
    investigator.goto("/investigator")
    screens.check(investigator, "login")
    sign_in(investigator, screens, server.investigator, "/investigator")
    screens.check(investigator, "investigator-home")

    investigator.get_by_label(gettext(EN, "Suspect's full name")).fill("Rauf Testov")
    investigator.get_by_role("button", name=gettext(EN, "Open the request")).click()
    expect(investigator.locator("#case_number")).to_have_attribute("aria-invalid", "true")
    screens.check(investigator, "investigator-form-errors")

    investigator.get_by_label(gettext(EN, "Case number")).fill("1(101)-500/2026")
    investigator.get_by_label(gettext(EN, "Suspect's language")).select_option("ru")
    investigator.get_by_role("button", name=gettext(EN, "Open the request")).click()
    expect(investigator).to_have_url(re.compile(r"/investigator/requests/[0-9a-f]{32}$"))
    request_id = investigator.url.rsplit("/", 1)[1]
    status = investigator.locator("#status")
    expect(status).to_have_attribute("data-status", "awaiting_choice")

    investigator.get_by_role("button", name=gettext(EN, "Open the tablet list")).click()
    link = investigator.locator("#tablet-link")
    expect(link).to_be_visible()
    expect(investigator.get_by_role("img", name=gettext(EN, "QR code of the tablet link")))
    screens.check(investigator, "investigator-tablet-link")
    tablet_url = link.get_attribute("href")
    assert tablet_url is not None and tablet_url.startswith(f"{server.url}/tablet/")

    kiosk = new_context(browser, server)
    tablet = kiosk.new_page()
    tablet.goto(tablet_url)
    expect(tablet.locator("html")).to_have_attribute("lang", "ru")  # the person's language
    # The last of the lawyers listed (the firms in turn's Russian speakers: two on this
    # registry's first request), so the choice is not simply the first on the list.
    listed = tablet.locator("li.option")
    expect(listed.nth(1)).to_be_visible()
    chosen_option = listed.last
    licence = chosen_option.get_attribute("data-licence")
    name = chosen_option.locator(".name").inner_text()
    assert licence is not None
    screens.check(tablet, "tablet-list-ru")
    chosen_option.get_by_role("button").click()
    expect(tablet.locator("#summary")).to_contain_text(name)
    tablet.get_by_role("button", name=gettext("ru", "Yes, record my choice")).click()
    expect(tablet.locator(".chosen")).to_have_text(name)
    expect(tablet.locator("time")).not_to_be_empty()
    screens.check(tablet, "tablet-receipt-ru")
    kiosk.close()

    # The investigator's page follows without a reload.
    expect(status).to_have_attribute("data-status", "inviting")
    expect(investigator.locator("#invitation")).to_contain_text(licence)
    expect(investigator.locator("#open-tablet")).to_be_hidden()

    chambers = new_context(browser, server)
    lawyer = chambers.new_page()
    lawyer.goto("/lawyer")
    sign_in(lawyer, None, server.lawyer_token(licence), "/lawyer")
    invitation = lawyer.locator("article.invitation")
    expect(invitation).to_have_count(1)
    expect(invitation).to_contain_text("1(101)-500/2026")
    expect(invitation.locator(".countdown")).to_have_text(re.compile(r"\d+:\d\d"))
    screens.check(lawyer, "lawyer-invitation")
    invitation.get_by_role("button", name=gettext(EN, "Accept")).click()
    expect(lawyer.get_by_role("status")).to_contain_text(
        gettext(EN, "You accepted the invitation. The case is now among your appointments.")
    )
    expect(lawyer.locator("tr[data-appointment]")).to_have_count(1)
    screens.check(lawyer, "lawyer-appointment")

    expect(status).to_have_attribute("data-status", "assigned")
    expect(investigator.locator("#appointment")).to_contain_text(licence)
    screens.check(investigator, "investigator-assigned")
    assert server.request(request_id)["appointment"]["lawyer"] == licence

    lawyer.get_by_role("button", name=re.compile(gettext(EN, "Close the case"))).click()
    expect(lawyer.get_by_text(gettext(EN, "You have no open appointments."))).to_be_visible()
    screens.check(lawyer, "lawyer-closed")
    lawyer.get_by_role("button", name=gettext(EN, "Sign out")).click()
    expect(lawyer).to_have_url(re.compile(r"/login$"))
    lawyer.goto("/lawyer")
    expect(lawyer).to_have_url(re.compile(r"/login\?next="))
    assert refused == []
    chambers.close()
    office.close()


def test_lawyer_declines_with_a_reason(browser: Browser, server: Server, screens: Screens) -> None:
    with server.api(server.court) as client:
        order = client.post(
            "/api/v1/requests",
            json={
                "external_ref": "BR-ORD-1",
                "kind": "court_order",
                "case_number": "1(101)-501/2026",
                "territory": "CEN",
                "urgency": "standard",
                "category": "minor",
                "person": {"name": "Person Order", "language": "az"},
            },
        ).json()
    first = order["invitation"]
    context = new_context(browser, server)
    page = context.new_page()
    page.goto("/lawyer")
    sign_in(page, None, server.lawyer_token(first["lawyer"]), "/lawyer")
    card = page.locator(f'article[data-invitation="{first["id"]}"]')
    card.get_by_role("button", name=gettext(EN, "Decline")).click()  # no reason: kept
    expect(card).to_be_visible()
    card.get_by_label(gettext(EN, "Reason for declining")).fill("Already in court all day")
    card.get_by_role("button", name=gettext(EN, "Decline")).click()
    expect(page.get_by_role("status")).to_contain_text(
        gettext(EN, "You declined the invitation. The next lawyer is being invited.")
    )
    screens.check(page, "lawyer-declined")
    with server.api(server.court) as client:
        after = client.get(f"/api/v1/requests/{order['id']}").json()
    assert after["invitation"]["id"] != first["id"]
    context.close()
