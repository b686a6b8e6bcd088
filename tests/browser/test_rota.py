"""Duty rotas in Chromium: the admin plans a draft and approves it on the rota page; a lawyer
offers a duty, a colleague takes it; a lawyer records leave and sees the duty it clashes with.
Every screen in az and ru, at a phone's and a laptop's size, checked with axe-core."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from playwright.sync_api import Browser, Page, expect

from api.pages.rendering import gettext
from tests.support.browser import Screens, Server, csp_guard, new_context
from tests.support.clients import make_token
from tests.support.rotas import ZONE, approved_rota

TODAY = datetime.now(ZONE).date()


def coming(days_ahead: int, hour: int) -> datetime:
    day = TODAY + timedelta(days=days_ahead)
    return datetime(day.year, day.month, day.day, hour, tzinfo=ZONE)


def sign_in(page: Page, token: str, path: str, lang: str) -> None:
    page.goto(path)
    expect(page).to_have_url(re.compile(r"/login\?next="))
    page.get_by_label(gettext("az", "Your access token")).fill(token)
    page.get_by_role("button", name=gettext("az", "Sign in")).click()
    expect(page).to_have_url(re.compile(re.escape(path) + "$"))
    if lang != "az":
        page.locator(f'nav.language a[lang="{lang}"]').click()
    expect(page.locator("html")).to_have_attribute("lang", lang)


def test_the_admin_plans_and_approves_a_rota_on_the_page(
    browser: Browser, server: Server, screens: Screens
) -> None:
    admin_token = make_token(server.runtime, "admin", "Admin One")
    laptop = new_context(browser, server)
    page = laptop.new_page()
    refused = csp_guard(page)
    sign_in(page, admin_token, "/rotas", "az")
    screens.check(page, "rota-list-az-laptop")
    page.get_by_label(gettext("az", "Territory")).select_option("CEN")
    page.get_by_label(gettext("az", "First day"), exact=True).fill(
        (TODAY + timedelta(days=60)).isoformat()
    )
    page.get_by_label(gettext("az", "Days")).fill("7")
    page.get_by_role("button", name=gettext("az", "Plan the draft")).click()
    expect(page).to_have_url(re.compile(r"/rotas/[0-9a-f]{32}$"))
    expect(page.locator("#approval")).to_have_attribute("data-approval", "draft")
    expect(page.locator("td.night").first).to_be_visible()
    screens.check(page, "rota-draft-az-laptop")
    page.get_by_role("button", name=gettext("az", "Approve the rota")).click()
    expect(page.locator("#approval")).to_have_attribute("data-approval", "approved")
    expect(page.get_by_role("status")).to_be_visible()
    screens.check(page, "rota-approved-az-laptop")
    page.locator('nav.language a[lang="ru"]').click()
    screens.check(page, "rota-approved-ru-laptop")
    phone = new_context(browser, server, phone=True)
    small = phone.new_page()
    sign_in(small, admin_token, page.url.replace(server.url, "").split("?")[0], "ru")
    expect(small.locator("table.rota-grid")).to_be_visible()
    screens.check(small, "rota-approved-ru-phone")
    assert refused == []
    laptop.close()
    phone.close()


def test_a_swap_and_a_leave_flow_through_the_lawyer_pages(
    browser: Browser, server: Server, screens: Screens
) -> None:
    day, night = coming(5, 8), coming(6, 20)
    duties = approved_rota(server.runtime, [("L-12", day), ("L-11", night)])

    # L-12, on a phone in Azerbaijani, offers the day duty to L-13.
    phone = new_context(browser, server, phone=True)
    giver = phone.new_page()
    refused = csp_guard(giver)
    sign_in(giver, server.lawyer_token("L-12"), "/lawyer", "az")
    duty = giver.locator(f'[data-duty="{duties["L-12", day]}"]')
    expect(duty).to_be_visible()
    screens.check(giver, "rota-lawyer-duties-az-phone")
    duty.get_by_label(gettext("az", "Offer to a colleague")).select_option("L-13")
    duty.get_by_role("button", name=gettext("az", "Offer the duty")).click()
    expect(giver.get_by_role("status").first).to_contain_text(
        gettext("az", "Your duty is offered. It stays yours until your colleague accepts.")
    )
    screens.check(giver, "rota-lawyer-offered-az-phone")

    # L-13, on a laptop in Russian, takes it.
    laptop = new_context(browser, server)
    taker = laptop.new_page()
    refused += csp_guard(taker)
    sign_in(taker, server.lawyer_token("L-13"), "/lawyer", "ru")
    offer = taker.locator("[data-offer]")
    expect(offer).to_have_count(1)
    screens.check(taker, "rota-lawyer-offer-ru-laptop")
    offer.get_by_role("button", name=gettext("ru", "Take the duty")).click()
    expect(taker.get_by_role("status").first).to_contain_text(
        gettext("ru", "The duty is now yours. It is in your duties and your calendar.")
    )
    expect(taker.locator(f'[data-duty="{duties["L-12", day]}"]')).to_be_visible()
    screens.check(taker, "rota-lawyer-taken-ru-laptop")
    giver.reload()
    expect(giver.locator(f'[data-duty="{duties["L-12", day]}"]')).to_have_count(0)

    # L-11, on a phone in Russian, records leave over an approved night: the duty stays and
    # the page says it clashes.
    phone_ru = new_context(browser, server, phone=True)
    away = phone_ru.new_page()
    refused += csp_guard(away)
    sign_in(away, server.lawyer_token("L-11"), "/lawyer", "ru")
    leave_day = (TODAY + timedelta(days=6)).isoformat()
    away.get_by_label(gettext("ru", "First day of leave")).fill(leave_day)
    away.get_by_label(gettext("ru", "Last day of leave")).fill(leave_day)
    away.get_by_role("button", name=gettext("ru", "Record the leave")).click()
    expect(away.locator(f'[data-duty="{duties["L-11", night]}"] .clash')).to_contain_text(
        gettext("ru", "On your leave")
    )
    expect(away.locator("[data-leave]")).to_have_count(1)
    screens.check(away, "rota-lawyer-leave-ru-phone")
    away.locator('nav.language a[lang="az"]').click()
    screens.check(away, "rota-lawyer-leave-az-phone")
    # And opts out of nights for the next rotas.
    away.get_by_label(gettext("az", "No night duties")).check()
    away.get_by_role("button", name=gettext("az", "Save my choice")).click()
    expect(away.get_by_label(gettext("az", "No night duties"))).to_be_checked()
    assert refused == []
    for context in (phone, laptop, phone_ru):
        context.close()
