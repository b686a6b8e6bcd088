"""kill -9 of the process delivering the outbox while 200 invitation e-mails are being sent:
after a restart every invitation is delivered, none is lost, and a repeat (one of those in
flight at the kill, sent at least once) is recognisable by its `X-Dispatcher-Message` header."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from dispatcher.db import make_engine, unit_of_work
from dispatcher.models import Invitation, OutboxMessage
from tests.notifications.test_delivery import build, reachable_registry
from tests.support.flows import submit_request
from tests.support.mail import MailServer

ORDERS = 200
# The worker's delivery threads: at most this many messages are in flight when it is killed.
PARALLEL = 8


def spawn(database_url: str, mail: MailServer, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DISPATCHER_")}
    env |= {
        "DISPATCHER_DATABASE_URL": database_url,
        "DISPATCHER_LOG_LEVEL": "WARNING",
        "DISPATCHER_NOTIFY_EMAIL_URL": mail.url(),
        "DISPATCHER_OUTBOX_PARALLEL": str(PARALLEL),
    }
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "dispatcher.cli", "worker"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def pending(engine: Engine) -> int:
    with unit_of_work(engine) as session:
        return len(
            session.exec(
                select(OutboxMessage.id).where(col(OutboxMessage.status) == "pending")
            ).all()
        )


@pytest.mark.slow
def test_a_killed_courier_loses_no_invitation_and_repeats_are_recognisable(
    tmp_path: Path,
) -> None:
    with MailServer() as mail:
        data = reachable_registry()
        for lawyer in data["lawyers"]:
            lawyer["max_open"] = 1000  # room for every order
        rt = build(tmp_path, data=data, notify_email_url=mail.url())
        database_url = rt.settings.database_url
        try:
            for n in range(ORDERS):
                submit_request(rt, f"K-{n}")  # standard urgency: no deadline passes meanwhile
            with unit_of_work(rt.engine) as session:
                ids = set(
                    session.exec(
                        select(OutboxMessage.id).where(col(OutboxMessage.kind) == "invitation")
                    ).all()
                )
        finally:
            rt.stop()
        assert len(ids) == ORDERS
        log = tmp_path / "worker.log"
        worker = spawn(database_url, mail, log)
        try:
            deadline = time.monotonic() + 60
            while len(mail.inbox.messages) < 20 and time.monotonic() < deadline:
                time.sleep(0.01)
            worker.send_signal(signal.SIGKILL)
            worker.wait()
            at_kill = len(mail.inbox.messages)
            assert 0 < at_kill < ORDERS
            worker = spawn(database_url, mail, log)
            # A message claimed when the process died waits out its lease (60 s) first.
            engine = make_engine(database_url)
            try:
                deadline = time.monotonic() + 150
                while time.monotonic() < deadline and pending(engine):
                    time.sleep(0.5)
            finally:
                engine.dispose()
            time.sleep(1.0)
        finally:
            worker.send_signal(signal.SIGTERM)
            worker.wait(timeout=30)
        received = Counter(str(m["X-Dispatcher-Message"]) for _, m in mail.inbox.messages)
    assert set(received) == {f"outbox-{i}" for i in ids}
    # At least once: only what was in flight at the kill (one message a delivery thread) may
    # arrive twice.
    assert all(count <= 2 for count in received.values())
    assert sum(count - 1 for count in received.values()) <= PARALLEL
    engine = make_engine(database_url)
    try:
        with unit_of_work(engine) as session:
            statuses = session.exec(
                select(OutboxMessage.status).where(col(OutboxMessage.kind) == "invitation")
            ).all()
            deliveries = session.exec(select(Invitation.delivery)).all()
    finally:
        engine.dispose()
    assert set(statuses) == {"delivered"} and set(deliveries) == {"delivered"}
    assert len(deliveries) == ORDERS
