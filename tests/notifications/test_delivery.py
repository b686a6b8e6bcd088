"""Invitations leave through apprise to real servers started here: an SMTP server (aiosmtpd)
and an HTTP receiver for `json://`; a lawyer nobody can reach is undeliverable and the next
lawyer is invited at once."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import update
from sqlmodel import col, select

from dispatcher import logging as dispatcher_logging
from dispatcher import workflow
from dispatcher.config import Settings
from dispatcher.db import unit_of_work
from dispatcher.models import (
    AuditEvent,
    Decision,
    Invitation,
    OutboxAttempt,
    OutboxMessage,
)
from dispatcher.runtime import Runtime
from policies.config import DEFAULT_POLICY_FILE
from tests.support.clients import make_token
from tests.support.flows import pending_invitation, submit_request
from tests.support.mail import MailServer, text_of
from tests.support.receivers import Receiver
from tests.support.registries import load_registry, small_registry

SECRET_NAME = "Zaurbek Gizlinov"
PLACE = {
    "code": "CEN-PS-1",
    "territory": "CEN",
    "kind": "police_station",
    "name": {"az": "Səbail RPİ", "ru": "Сабаильский РОП", "en": "Sabail police"},
    "address": "Bakı, Üzeyir Hacıbəyov 1",
    "phone": "+994124000001",
}


def reachable_registry() -> dict[str, Any]:
    """The small registry, its lawyers with e-mail and phone, and a place in CEN."""
    data = small_registry()
    for number, lawyer in enumerate(data["lawyers"]):
        lawyer["email"] = f"{lawyer['licence'].lower()}@law.example"
        lawyer["phone"] = f"+99450000{number:04d}"
    data["places"] = [PLACE]
    return data


def build(
    tmp_path: Path,
    policy: dict[str, int] | None = None,
    data: dict[str, Any] | None = None,
    **settings: Any,
) -> Runtime:
    values: dict[str, Any] = {
        "database_url": f"sqlite:///{tmp_path / 'notify.db'}",
        "scheduler": False,
        "log_level": "WARNING",
        "public_url": "https://counsel.example",
    }
    if policy:
        text = DEFAULT_POLICY_FILE.read_text(encoding="utf-8")
        for key, value in policy.items():
            text = text.replace(f"\n{key} = ", f"\n{key} = {value}\n# was ", 1)
        file = tmp_path / "policy.toml"
        file.write_text(text, encoding="utf-8")
        values["policy_file"] = str(file)
    rt = Runtime.build(Settings(**(values | settings)))  # the apprise channel
    load_registry(rt, data or reachable_registry())
    make_token(rt, "court", "Court One", territory="CEN")
    return rt


@pytest.fixture
def mail() -> Iterator[MailServer]:
    with MailServer() as server:
        yield server


def detention(rt: Runtime, ref: str) -> str:
    return submit_request(
        rt,
        ref,
        urgency="detention",
        place="CEN-PS-1",
        person={"name": SECRET_NAME, "language": "az"},
    )


@pytest.fixture
def debug_logs() -> Iterator[None]:
    """Every line of the service's log, as JSON, for the test to search; as it was after."""
    root = logging.getLogger()
    level, handlers = root.level, root.handlers[:]
    dispatcher_logging.configure("json", "DEBUG")
    try:
        yield
    finally:
        root.setLevel(level)
        root.handlers = handlers


def test_the_invitation_e_mail_names_the_place_the_deadline_and_the_link(
    tmp_path: Path, mail: MailServer, capsys: pytest.CaptureFixture[str], debug_logs: None
) -> None:
    sms = Receiver()
    rt = build(
        tmp_path,
        notify_email_url=mail.url(),
        notify_sms_url=f"json://127.0.0.1:{sms.server.server_address[1]}/hooks/{{phone}}",
    )
    try:
        request_id = detention(rt, "M-1")
        token = "tok-" + "x" * 40
        with unit_of_work(rt.engine) as session:
            invitation, lawyer = pending_invitation(session, request_id)
            message = session.exec(select(OutboxMessage)).one()
            # The answer page's token, as the invitation's flow will put it in the payload.
            session.execute(
                update(OutboxMessage)
                .where(col(OutboxMessage.id) == message.id)
                .values(payload=message.payload | {"answer_token": token})
            )
            before = workflow.request_out(session, workflow.get_request(session, request_id))
        assert before.invitation is not None and before.invitation.delivery == "pending"
        assert rt.courier.deliver_due() == 1

        [(recipients, email)] = mail.inbox.messages
        assert recipients == [lawyer.email]
        body = text_of(email).strip()
        # The lawyer's first language is az: the place's az name, the deadline in Baku time.
        deadline = invitation.deadline.astimezone(ZoneInfo("Asia/Baku")).strftime("%H:%M")
        assert "Səbail RPİ" in body and f"{deadline}-dək" in body and "C-M-1" in body
        assert body.endswith(f"https://counsel.example/answer/{token}")
        assert len(body) <= 160 and "TƏCİLİ" in str(email["Subject"])
        assert email["X-Dispatcher-Message"] == f"outbox-{message.id}"
        # The SMS gateway got the same short text, for the lawyer's phone.
        [call] = sms.calls
        assert json.loads(call.body)["message"] == body
        assert unquote(sms.paths[0]) == f"/hooks/{lawyer.phone}"

        with unit_of_work(rt.engine) as session:
            attempts = session.exec(select(OutboxAttempt)).all()
            out = workflow.request_out(session, workflow.get_request(session, request_id))
        assert sorted((a.channel, a.ok) for a in attempts) == [
            ("json://127.0.0.1", True),
            ("mailto://127.0.0.1", True),
        ]
        assert out.invitation is not None and out.invitation.delivery == "delivered"
    finally:
        rt.stop()
        sms.close()
    err = capsys.readouterr().err
    assert '"notification.sent"' in err
    for secret in (SECRET_NAME, lawyer.email or "?", lawyer.phone or "?", token, "answer/"):
        assert secret not in err
    assert "Səbail" not in err and "mailto" not in err


def test_a_lawyer_without_a_channel_is_undeliverable_and_the_next_is_invited_at_once(
    tmp_path: Path, mail: MailServer
) -> None:
    rt = build(tmp_path, notify_email_url=mail.url())
    try:
        request_id = detention(rt, "M-2")
        with unit_of_work(rt.engine) as session:
            first, lawyer = pending_invitation(session, request_id)
            lawyer.email = None  # this lawyer only has a phone: no SMS gateway is set
            session.add(lawyer)
        rt.courier.deliver_due()
        with unit_of_work(rt.engine) as session:
            ended = session.get(Invitation, first.id)
            second, other = pending_invitation(session, request_id)
            [attempt] = session.exec(select(OutboxAttempt)).all()
            failed = session.exec(
                select(OutboxMessage).where(col(OutboxMessage.status) == "failed")
            ).one()
            [event] = session.exec(
                select(AuditEvent).where(AuditEvent.action == "invitation.undeliverable")
            ).all()
            decision = session.get(Decision, second.decision_id)
        assert ended is not None and ended.status == "undeliverable" and ended.delivery == "failed"
        assert other.id != lawyer.id
        assert (attempt.channel, attempt.ok) == ("none", False) and "no contact" in str(
            attempt.error
        )
        assert failed.payload["invitation_id"] == first.id
        assert "no contact" in json.loads(event.payload)["why"]
        assert decision is not None
        assert f"undeliverable invitation {first.id}: no channel" in decision.explanation["note"]
    finally:
        rt.stop()


def test_a_gateway_failing_for_ever_makes_it_undeliverable_within_the_policys_bound(
    tmp_path: Path,
) -> None:
    give_up_s = 3
    gateway = Receiver(failures=10**9, status=500)
    port = gateway.server.server_address[1]
    rt = build(
        tmp_path,
        {"detention_give_up_s": give_up_s, "give_up_attempts": 100},
        notify_sms_url=f"json://127.0.0.1:{port}/hooks/{{phone}}",
        scheduler=True,
        outbox_interval_s=0.2,
        deadline_sweep_s=60.0,
        prime_registry=False,
    )
    rt.start()
    try:
        request_id = detention(rt, "M-3")
        started = time.monotonic()
        with unit_of_work(rt.engine) as session:
            first, _ = pending_invitation(session, request_id)
        while time.monotonic() - started < give_up_s + 10:
            with unit_of_work(rt.engine) as session:
                ended = session.get(Invitation, first.id)
                if ended is not None and ended.status != "pending":
                    break
            time.sleep(0.05)
        took = time.monotonic() - started
        with unit_of_work(rt.engine) as session:
            ended = session.get(Invitation, first.id)
            second, _ = pending_invitation(session, request_id)
            tries = session.exec(
                select(OutboxAttempt).join(
                    OutboxMessage, col(OutboxMessage.id) == OutboxAttempt.message_id
                )
            ).all()
        assert ended is not None and ended.status == "undeliverable"
        assert second.id != first.id
        # Failing from the first try on, it gives up at the bound: not before, little after.
        assert give_up_s - 0.5 <= took <= give_up_s + 2.0, took
        first_tries = [t for t in tries if t.message_id == min(x.message_id for x in tries)]
        assert len(first_tries) >= 2 and not any(t.ok for t in first_tries)
        assert {t.channel for t in first_tries} == {"json://127.0.0.1"}
        assert len(gateway.calls) >= 2 and all(c.status == 500 for c in gateway.calls)
    finally:
        rt.stop()
        gateway.close()
