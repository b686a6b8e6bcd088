"""From the e-mail to the appointment: a court order's invitation leaves through apprise to a
real SMTP server; the lawyer opens the e-mail's one link in Chromium and accepts."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Browser, expect

from api.pages.rendering import gettext
from tests.support.browser import Screens, Server, csp_guard, new_context, serving
from tests.support.mail import MailServer, text_of
from tests.support.registries import small_registry

pytestmark = pytest.mark.browser

PLACE = {
    "code": "CEN-PS-1",
    "territory": "CEN",
    "kind": "police_station",
    "name": {"az": "Səbail RPİ", "ru": "Сабаильский РОП", "en": "Sabail police station"},
    "address": "Bakı, Üzeyir Hacıbəyov 1",
    "phone": "+994124000001",
}


def reachable_registry() -> dict[str, Any]:
    """The small registry, every lawyer with an e-mail address, and a police station in CEN."""
    data = small_registry()
    for lawyer in data["lawyers"]:
        lawyer["email"] = f"{lawyer['licence'].lower()}@law.example"
    data["places"] = [PLACE]
    return data


@pytest.fixture(scope="module")
def mail() -> Iterator[MailServer]:
    with MailServer() as server:
        yield server


@pytest.fixture(scope="module")
def mailing(tmp_path_factory: pytest.TempPathFactory, mail: MailServer) -> Iterator[Server]:
    database = tmp_path_factory.mktemp("mail") / "dispatcher.db"
    with serving(database, reachable_registry(), notify_email_url=mail.url()) as running:
        yield running


def test_the_e_mailed_link_accepts_the_invitation(
    browser: Browser, mailing: Server, mail: MailServer, screens: Screens
) -> None:
    body = {
        "external_ref": "MAIL-1",
        "kind": "court_order",
        "case_number": "1(101)-MAIL-1/2026",
        "territory": "CEN",
        "urgency": "detention",
        "category": "grave",
        "place": "CEN-PS-1",
        "contact": {"name": "Duty clerk", "phone": "+994124000002"},
        "person": {"name": "Person MAIL-1", "language": "az"},
    }
    with mailing.api(mailing.court) as client:
        created = client.post("/api/v1/requests", json=body)
    assert created.status_code == 201, created.text
    shown = created.json()
    assert shown["invitation"]["delivery"] == "pending"
    assert mailing.runtime.courier.deliver_due() == 1

    [(recipients, email)] = mail.inbox.messages
    assert recipients == [f"{shown['invitation']['lawyer'].lower()}@law.example"]
    text = text_of(email).strip()
    # The place, the deadline (Baku time) and the one link, read from the e-mail itself.
    assert "Səbail RPİ" in text
    deadline = datetime.fromisoformat(shown["invitation"]["deadline"])
    assert deadline.astimezone(ZoneInfo("Asia/Baku")).strftime("%H:%M") in text
    links = re.findall(r"https?://\S+", text)
    assert len(links) == 1 and links[0].startswith(f"{mailing.url}/answer/")

    with mailing.api(mailing.court) as client:
        assert client.get(f"/api/v1/requests/{shown['id']}").json()["invitation"]["delivery"] == (
            "delivered"
        )

    phone = new_context(browser, mailing, phone=True)
    page = phone.new_page()
    refused = csp_guard(page)
    page.goto(links[0].removeprefix(mailing.url))
    card = page.locator("article.invitation")
    expect(card).to_contain_text("Person MAIL-1")
    expect(card).to_contain_text("Duty clerk")
    page.get_by_role("navigation").locator('a[lang="en"]').click()
    page.get_by_role("button", name=gettext("en", "Accept")).click()
    expect(page.get_by_role("status")).to_contain_text(
        gettext("en", "You accepted the invitation. The case is now among your appointments.")
    )
    screens.check(page, "mailed-link-accepted")
    with mailing.api(mailing.court) as client:
        after = client.get(f"/api/v1/requests/{shown['id']}").json()
    assert after["status"] == "assigned"
    assert after["appointment"]["lawyer"] == shown["invitation"]["lawyer"]
    assert refused == []
    phone.close()
