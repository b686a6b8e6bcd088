"""The answer link: one invitation answered without signing in, through the real application.

The token is made by the workflow and read where the notification reads it, from the outbox
invitation message's payload.
"""

from __future__ import annotations

import io
from datetime import timedelta

import httpx
from PIL import Image
from sqlalchemy import update
from sqlmodel import col, select

from api.pages.rendering import SECURITY_HEADERS, gettext
from dispatcher.db import unit_of_work, utcnow
from dispatcher.models import AuditEvent, Invitation, OutboxMessage
from dispatcher.tokens import hash_token
from policies.vocabulary import OutboxKind
from tests.support.clients import Api

BASE = "http://testserver"
NO_LONGER_OPEN = "This invitation is no longer open: it was withdrawn, or its deadline passed."
ACCEPTED = "You accepted the invitation. The case is now among your appointments."
DECLINED = "You declined the invitation. The next lawyer is being invited."


def browser(api: Api) -> httpx.Client:
    """A client with no token and no cookie: the lawyer's phone opening the link."""
    return httpx.Client(transport=api.client._transport, base_url=BASE)


def order(api: Api, ref: str) -> str:
    created = api.post("/api/v1/requests", "court", api.order(ref))
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def invitation_messages(api: Api, request_id: str) -> list[OutboxMessage]:
    with unit_of_work(api.rt.engine) as session:
        messages = session.exec(
            select(OutboxMessage)
            .where(OutboxMessage.kind == OutboxKind.INVITATION)
            .order_by(col(OutboxMessage.id))
        ).all()
        return [m for m in messages if m.payload.get("request_id") == request_id]


def link_token(api: Api, request_id: str) -> tuple[str, str]:
    """The newest invitation of the request and its answer token, from the outbox payload."""
    newest = invitation_messages(api, request_id)[-1]
    return str(newest.payload["invitation_id"]), str(newest.payload["answer_token"])


def request_json(api: Api, request_id: str) -> dict[str, object]:
    found = api.get(f"/api/v1/requests/{request_id}", "court")
    assert found.status_code == 200
    body: dict[str, object] = found.json()
    return body


def invitation(api: Api, invitation_id: str) -> Invitation:
    with unit_of_work(api.rt.engine) as session:
        found = session.get(Invitation, invitation_id)
        assert found is not None
        return found


def test_the_link_shows_the_invitation_and_accepts_with_the_time_given(api: Api) -> None:
    request_id = order(api, "ANS-1")
    invitation_id, token = link_token(api, request_id)
    # Only the hash is kept; the audit of the invitation carries no token.
    assert invitation(api, invitation_id).answer_token_hash == hash_token(token)
    with unit_of_work(api.rt.engine) as session:
        events = session.exec(select(AuditEvent)).all()
        assert all(token not in str(event.payload) for event in events)
    with browser(api) as phone:
        shown = phone.get(f"/answer/{token}")
        assert shown.status_code == 200
        for header, value in SECURITY_HEADERS.items():
            assert shown.headers[header] == value
        assert "1(101)-ANS-1/2026" in shown.text
        assert "Person ANS-1" in shown.text
        assert 'class="countdown"' in shown.text
        assert f'action="/answer/{token}/accept?lang=' in shown.text
        # The switcher: the same page in Russian.
        russian = phone.get(f"/answer/{token}", params={"lang": "ru"})
        assert gettext("ru", "Accept") in russian.text and "Accept<" not in russian.text
        accepted = phone.post(f"/answer/{token}/accept", data={"eta_minutes": "40"})
        assert accepted.status_code == 303
        after = phone.get(accepted.headers["location"])
        assert after.status_code == 200
        assert gettext("az", ACCEPTED) in after.text
        assert 'action="/answer/' not in after.text
    body = request_json(api, request_id)
    assert body["status"] == "assigned"
    appointment = body["appointment"]
    assert isinstance(appointment, dict) and appointment["eta_minutes"] == 40


def test_a_used_link_cannot_answer_again(api: Api) -> None:
    request_id = order(api, "ANS-2")
    _, token = link_token(api, request_id)
    with browser(api) as phone:
        assert phone.post(f"/answer/{token}/accept", data={}).status_code == 303
        again = phone.post(f"/answer/{token}/accept", data={"eta_minutes": "5"})
        assert again.status_code == 410
        assert gettext("az", ACCEPTED) in again.text
        declined = phone.post(f"/answer/{token}/decline", data={"reason": "busy"})
        assert declined.status_code == 410
    body = request_json(api, request_id)
    assert body["status"] == "assigned"
    appointment = body["appointment"]
    assert isinstance(appointment, dict) and appointment["eta_minutes"] is None


def test_a_declined_link_shows_the_decline_and_the_next_lawyer_gets_a_link_of_their_own(
    api: Api,
) -> None:
    request_id = order(api, "ANS-3")
    first_id, token = link_token(api, request_id)
    with browser(api) as phone:
        declined = phone.post(f"/answer/{token}/decline", data={"reason": "too far"})
        assert declined.status_code == 303
        assert invitation(api, first_id).decline_reason == "too far"
        again = phone.post(f"/answer/{token}/accept", data={})
        assert again.status_code == 410
        assert gettext("az", DECLINED) in again.text
        second_id, second = link_token(api, request_id)
        assert second_id != first_id and second != token
        assert phone.get(f"/answer/{second}").status_code == 200
    assert request_json(api, request_id)["status"] == "inviting"


def test_a_withdrawn_link_cannot_answer_and_the_withdrawal_carries_no_token(api: Api) -> None:
    request_id = order(api, "ANS-4")
    _, token = link_token(api, request_id)
    assert api.post(f"/api/v1/requests/{request_id}/cancel", "court").status_code == 200
    withdrawn = invitation_messages(api, request_id)[-1]
    assert withdrawn.payload.get("withdrawn") is True
    assert "answer_token" not in withdrawn.payload
    with browser(api) as phone:
        shown = phone.get(f"/answer/{token}")
        assert shown.status_code == 200
        assert gettext("az", NO_LONGER_OPEN) in shown.text
        assert 'action="/answer/' not in shown.text
        refused = phone.post(f"/answer/{token}/accept", data={})
        assert refused.status_code == 410
        assert gettext("az", NO_LONGER_OPEN) in refused.text
    assert request_json(api, request_id)["status"] == "cancelled"


def test_an_expired_link_cannot_answer(api: Api) -> None:
    request_id = order(api, "ANS-5")
    invitation_id, token = link_token(api, request_id)
    with unit_of_work(api.rt.engine) as session:
        session.execute(
            update(Invitation)
            .where(col(Invitation.id) == invitation_id)
            .values(deadline=utcnow() - timedelta(seconds=1))
        )
    with browser(api) as phone:
        for action, data in (("accept", {}), ("decline", {"reason": "busy"})):
            refused = phone.post(f"/answer/{token}/{action}", data=data)
            assert refused.status_code == 410
            assert gettext("az", NO_LONGER_OPEN) in refused.text
        assert gettext("az", NO_LONGER_OPEN) in phone.get(f"/answer/{token}").text
    assert invitation(api, invitation_id).status == "pending"  # the deadline's job, not ours


def test_bad_answers_write_nothing(api: Api) -> None:
    request_id = order(api, "ANS-6")
    invitation_id, token = link_token(api, request_id)
    with browser(api) as phone:
        assert phone.get("/answer/not-a-token").status_code == 404
        assert phone.post("/answer/not-a-token/accept", data={}).status_code == 404
        bad_eta = phone.post(f"/answer/{token}/accept", data={"eta_minutes": "0"})
        assert bad_eta.status_code == 422
        assert 'action="/answer/' in bad_eta.text
        bad_reason = phone.post(f"/answer/{token}/decline", data={"reason": "bored"})
        assert bad_reason.status_code == 422
        elsewhere = phone.post(
            f"/answer/{token}/accept", data={}, headers={"Origin": "https://evil.example"}
        )
        assert elsewhere.status_code == 403
    assert invitation(api, invitation_id).status == "pending"
    assert request_json(api, request_id)["status"] == "inviting"


def test_the_staff_pages_are_an_installable_web_app(api: Api) -> None:
    manifest = api.client.get("/manifest.webmanifest")
    assert manifest.status_code == 200
    assert manifest.headers["content-type"].startswith("application/manifest+json")
    body = manifest.json()
    assert body["start_url"] == "/lawyer" and body["display"] == "standalone"
    assert body["theme_color"].startswith("#")
    sizes = set()
    for icon in body["icons"]:
        served = api.client.get(icon["src"])
        assert served.status_code == 200
        with Image.open(io.BytesIO(served.content)) as image:
            assert image.format == "PNG"
            assert f"{image.width}x{image.height}" == icon["sizes"]
            sizes.add(image.width)
    assert {192, 512} <= sizes
    login = api.client.get("/login?lang=ru")
    assert '<link rel="manifest" href="/manifest.webmanifest?lang=ru">' in login.text
    # Named in the page's language on the phone's home screen.
    names = {
        lang: api.client.get(f"/manifest.webmanifest?lang={lang}").json()
        for lang in ("az", "ru", "en")
    }
    assert names["ru"]["name"] == gettext("ru", "Counsel dispatcher") != names["en"]["name"]
    assert names["az"]["name"] == gettext("az", "Counsel dispatcher") != names["en"]["name"]
    assert {names[lang]["lang"] for lang in names} == {"az", "ru", "en"}
    assert len({names[lang]["short_name"] for lang in names}) == 3
    assert all(len(names[lang]["short_name"]) <= 12 for lang in names)
    # The service worker that shows notifications on Android, served from the root.
    worker = api.client.get("/sw.js")
    assert worker.status_code == 200
    assert worker.headers["content-type"].startswith("text/javascript")
    assert "notificationclick" in worker.text
