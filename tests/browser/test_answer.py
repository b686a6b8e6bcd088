"""The lawyer's answer link in Chromium on a phone: the invitation's facts and one tap."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, expect
from sqlmodel import col, select

from api.pages.rendering import gettext
from dispatcher.db import unit_of_work
from dispatcher.models import OutboxMessage
from policies.vocabulary import OutboxKind
from tests.support.browser import Screens, Server, csp_guard, new_context
from tests.support.clients import page_session

pytestmark = pytest.mark.browser


def court_order(server: Server, ref: str) -> str:
    body = {
        "external_ref": ref,
        "kind": "court_order",
        "case_number": f"1(101)-{ref}/2026",
        "territory": "CEN",
        "urgency": "detention",
        "category": "grave",
        "person": {"name": f"Person {ref}", "language": "ru"},
    }
    with server.api(server.court) as client:
        created = client.post("/api/v1/requests", json=body)
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def answer_token(server: Server, request_id: str) -> str:
    """The token of the request's newest invitation, where the notification reads it."""
    with unit_of_work(server.runtime.engine) as session:
        messages = session.exec(
            select(OutboxMessage)
            .where(OutboxMessage.kind == OutboxKind.INVITATION)
            .order_by(col(OutboxMessage.id).desc())
        ).all()
    return next(
        str(m.payload["answer_token"]) for m in messages if m.payload["request_id"] == request_id
    )


def test_the_answer_link_accepts_with_forty_minutes_on_a_phone(
    browser: Browser, server: Server, screens: Screens
) -> None:
    request_id = court_order(server, "LINK-1")
    token = answer_token(server, request_id)
    phone = new_context(browser, server, phone=True)
    page = phone.new_page()
    refused = csp_guard(page)
    page.goto(f"/answer/{token}")
    lang = page.locator("html").get_attribute("lang")
    assert lang is not None
    card = page.locator("article.invitation")
    expect(page.locator("h1")).to_contain_text("1(101)-LINK-1/2026")
    expect(card).to_contain_text("Person LINK-1")
    expect(card.locator(".countdown")).to_have_text(re.compile(r"\d+:\d\d"))
    screens.check(page, "answer-link")
    page.get_by_role("navigation").locator('a[lang="en"]').click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.get_by_label(gettext("en", "I can be there in (minutes, optional)")).fill("40")
    page.get_by_role("button", name=gettext("en", "Accept")).click()
    expect(page.get_by_role("status")).to_contain_text(
        gettext("en", "You accepted the invitation. The case is now among your appointments.")
    )
    expect(page.get_by_role("button", name=gettext("en", "Accept"))).to_have_count(0)
    screens.check(page, "answer-link-accepted")
    with server.api(server.court) as client:
        shown = client.get(f"/api/v1/requests/{request_id}").json()
    assert shown["status"] == "assigned"
    assert shown["appointment"]["eta_minutes"] == 40
    # The used link shows the outcome and cannot answer again.
    page.goto(f"/answer/{token}?lang=en")
    expect(page.get_by_role("status")).to_be_visible()
    expect(page.get_by_role("button", name=gettext("en", "Decline"))).to_have_count(0)
    assert refused == []
    phone.close()


def test_the_lawyer_page_shows_a_new_invitation_without_a_reload(
    browser: Browser, server: Server, screens: Screens
) -> None:
    # Whom the next court order invites is the rotation's business: find out with one order,
    # answer it, and keep that lawyer's page open for the next ones until one comes to them.
    chambers = new_context(browser, server, phone=True)
    chambers.grant_permissions(["notifications"], origin=server.url)
    page = chambers.new_page()
    refused = csp_guard(page)
    first = court_order(server, "LIVE-0")
    with unit_of_work(server.runtime.engine) as session:
        messages = session.exec(
            select(OutboxMessage).where(OutboxMessage.kind == OutboxKind.INVITATION)
        ).all()
    licence = next(m.target for m in messages if m.payload["request_id"] == first)
    chambers.add_cookies(
        [
            {
                "name": "dispatcher_session",
                "value": page_session(server.runtime, server.lawyer_token(licence)),
                "url": server.url,
            }
        ]
    )
    page.goto("/lawyer?lang=en")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    cards = page.locator("article.invitation")
    expect(cards).to_have_count(1)
    page.evaluate("window.__sameDocument = true")
    page.get_by_role("button", name=gettext("en", "Turn on alerts")).click()
    # More orders until one invites the same lawyer (the rotation moves among the firms).
    for n in range(1, 12):
        request_id = court_order(server, f"LIVE-{n}")
        with unit_of_work(server.runtime.engine) as session:
            messages = session.exec(
                select(OutboxMessage).where(OutboxMessage.kind == OutboxKind.INVITATION)
            ).all()
        if any(m.target == licence and m.payload["request_id"] == request_id for m in messages):
            break
    else:
        pytest.fail(f"no second invitation came to {licence}")
    expect(cards).to_have_count(2, timeout=10_000)
    expect(page.locator(f'article[data-invitation] h3:has-text("LIVE-{n}/2026")')).to_be_visible()
    expect(page.locator("#live-announce")).to_contain_text(gettext("en", "New invitation"))
    expect(page.locator(".countdown").first).to_have_text(re.compile(r"\d+:\d\d"))
    assert page.evaluate("window.__sameDocument") is True  # no reload happened
    # The notification came through the page's service worker (the only way on Android).
    shown = page.evaluate(
        """navigator.serviceWorker.ready
            .then((registration) => registration.getNotifications({ tag: "invitation" }))
            .then((notes) => notes.map((note) => [note.title, note.body]))"""
    )
    assert shown and shown[-1][0] == gettext("en", "New invitation")
    assert f"LIVE-{n}/2026" in shown[-1][1]
    screens.check(page, "lawyer-live-invitation")
    assert refused == []
    chambers.close()
