"""Personal data retention: names and contacts are erased after the policy's period, the audit
chain still verifies (it holds keyed hashes, never the data) and still detects tampering; a
database from the previous version keeps its chain and its retries."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import inspect as sa_inspect
from sqlalchemy import text
from sqlmodel import Session, col, select

from dispatcher import audit, retention, schemas, workflow
from dispatcher.db import clocked, unit_of_work
from dispatcher.models import Appointment, AuditEvent, AuditKey, Choice, Lawyer, Request
from dispatcher.runtime import Runtime
from tests.support import backends, flows
from tests.support.clients import Api, make_token
from tests.support.policies import policy_text
from tests.support.registries import load_registry, small_registry

CONTACT = {"name": "Lt. Farid Aliyev", "phone": "+994 12 555 01 02"}
OWN_COUNSEL = "Rauf Hasanov"
T0 = datetime(2020, 1, 10, 9, 0, tzinfo=UTC)


@contextmanager
def at(when: datetime) -> Iterator[None]:
    with clocked(lambda: when):
        yield


def ended_with_contact(rt: Runtime, ref: str, when: datetime, **overrides: Any) -> str:
    """A court order with a contact, accepted and closed at `when`."""
    with at(when), unit_of_work(rt.engine) as session:
        request = flows.open_request(session, rt, ref, contact=CONTACT, **overrides)
        flows.accept_and_close(session, rt, request.id)
        return request.id


def own_counsel(rt: Runtime, ref: str, when: datetime) -> str:
    """An investigation whose suspect named their own counsel at `when`."""
    with at(when), unit_of_work(rt.engine) as session:
        request = flows.open_request(session, rt, ref, kind="investigation")
        ctx = flows.context(rt)
        opened = workflow.open_choice_session(session, request, ctx)
        workflow.record_choice(
            session, opened.token, schemas.ChoiceIn(own_counsel=OWN_COUNSEL), ctx
        )
        return request.id


def still_open(rt: Runtime, ref: str, when: datetime) -> str:
    """A court order accepted at `when` whose appointment stays open: it has not ended."""
    with at(when), unit_of_work(rt.engine) as session:
        request = flows.open_request(session, rt, ref, contact=CONTACT)
        flows.accept_pending(session, rt, request.id)
        return request.id


def kept(rt: Runtime, request_id: str) -> bool:
    with Session(rt.engine) as session:
        request = session.get(Request, request_id)
        assert request is not None
        if request.personal_data_erased_at is None:
            assert request.person_name
            return True
        assert request.person_name == "" and request.contact_name is None
        assert request.contact_phone is None
        choices = session.exec(select(Choice).where(Choice.request_id == request_id)).all()
        assert all(c.own_counsel is None for c in choices)
        return False


def chain_ok(rt: Runtime) -> bool:
    with Session(rt.engine) as session:
        return audit.verify(session).ok


def run_cli(rt: Runtime, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DISPATCHER_DATABASE_URL": rt.settings.database_url}
    if rt.settings.policy_file:
        env["DISPATCHER_POLICY_FILE"] = rt.settings.policy_file
    return subprocess.run(
        [sys.executable, "-m", "dispatcher.cli", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def all_payloads(rt: Runtime) -> str:
    with Session(rt.engine) as session:
        return "\n".join(session.exec(select(AuditEvent.payload)).all())


# --- erasure and the chain ------------------------------------------------------------------


def test_erasure_keeps_the_chain_verifying_by_cli_and_api(api: Api, tmp_path: Path) -> None:
    rt = api.rt
    erased_ids = [ended_with_contact(rt, "R1", T0), own_counsel(rt, "R2", T0)]
    open_id = still_open(rt, "R3", T0)
    # The chain never held the personal values, not even as an unkeyed digest of the body.
    payloads = all_payloads(rt)
    for value in (CONTACT["name"], CONTACT["phone"], OWN_COUNSEL, "P R1", "payload_sha256"):
        assert value not in payloads
    events_before = api.get("/api/v1/audit/verify", "bar").json()["events"]

    refused = run_cli(rt, tmp_path, "retention", "run", "--now", "last tuesday")
    assert refused.returncode == 2 and "--now" in refused.stderr
    assert all(kept(rt, i) for i in erased_ids)
    ran = run_cli(rt, tmp_path, "retention", "run", "--now", "2025-06-01T00:00:00+00:00")
    assert ran.returncode == 0, ran.stderr
    answer = json.loads(ran.stdout)
    assert answer["requests"] == 2 and answer["contacts"] == 1 and answer["own_counsel"] == 1
    assert answer["cutoffs"] == {"5": "2020-06-01T00:00:00+00:00"}
    assert [kept(rt, i) for i in erased_ids] == [False, False]
    assert kept(rt, open_id)

    verified = api.get("/api/v1/audit/verify", "bar").json()
    assert verified["ok"] is True and verified["events"] == events_before + 1
    cli = run_cli(rt, tmp_path, "audit", "verify")
    assert cli.returncode == 0 and json.loads(cli.stdout)["ok"] is True, cli.stdout
    [event] = [
        e
        for e in api.get("/api/v1/audit", "bar").json()["events"]
        if e["seq"] == answer["audit_seq"]
    ]
    assert event["action"] == retention.ACTION
    assert event["payload"]["requests"] == 2 and "R1" not in json.dumps(event)

    # Idempotent: a second run erases nothing and writes nothing.
    again = run_cli(rt, tmp_path, "retention", "run", "--now", "2025-06-02T00:00:00+00:00")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["requests"] == 0
    assert json.loads(again.stdout)["audit_seq"] is None
    assert api.get("/api/v1/audit/verify", "bar").json()["events"] == events_before + 1


def test_the_lawyer_reads_erased_where_the_name_was(api: Api) -> None:
    request_id = ended_with_contact(api.rt, "R1", T0)
    with Session(api.rt.engine) as session:
        licence = session.exec(
            select(Lawyer.licence)
            .join(Appointment, col(Appointment.lawyer_id) == Lawyer.id)
            .where(Appointment.request_id == request_id)
        ).one()

    def mine() -> dict[str, Any]:
        listed = api.get("/api/v1/invitations", licence).json()
        [found] = [i for i in listed if i["request_id"] == request_id]
        return dict(found)

    before = mine()
    assert before["person_name"] == "P R1" and before["contact"]["name"] == CONTACT["name"]
    assert before["personal_data_erased"] is False
    retention.run(api.rt.engine, api.rt.policies, now=T0 + timedelta(days=6 * 366))
    after = mine()
    assert after["person_name"] is None and after["contact"] is None
    assert after["personal_data_erased"] is True


def test_tampering_after_erasure_is_still_detected(api: Api, tmp_path: Path) -> None:
    ended_with_contact(api.rt, "R1", T0)
    erased = retention.run(api.rt.engine, api.rt.policies, now=T0 + timedelta(days=6 * 366))
    assert erased.requests == 1 and chain_ok(api.rt)
    with api.rt.engine.begin() as conn:
        conn.execute(
            text("UPDATE audit_event SET payload = :p WHERE seq = :s"),
            {"p": '{"requests":0}', "s": erased.audit_seq},
        )
    verified = api.get("/api/v1/audit/verify", "bar").json()
    assert verified["ok"] is False and verified["first_bad"]["seq"] == erased.audit_seq
    cli = run_cli(api.rt, tmp_path, "audit", "verify")
    assert cli.returncode == 1 and json.loads(cli.stdout)["first_bad"]["seq"] == erased.audit_seq


def test_the_job_erases_only_what_is_past_the_period(tmp_path: Path) -> None:
    # CEN keeps five years (the default), NOR one.
    rt = flows.runtime_at(
        tmp_path / "db.sqlite",
        policy_text=policy_text() + "\n[territories.NOR.retention]\npersonal_data_years = 1\n",
    )
    try:
        load_registry(rt, small_registry())
        make_token(rt, "court", territory="CEN")
        make_token(rt, "investigator", territory="CEN")
        old = ended_with_contact(rt, "OLD", T0)
        recent = ended_with_contact(rt, "RECENT", datetime(2023, 6, 1, tzinfo=UTC))
        counsel = own_counsel(rt, "COUNSEL", T0)
        opened_long_ago = still_open(rt, "OPEN", datetime(2015, 1, 1, tzinfo=UTC))
        north = ended_with_contact(rt, "NORTH", datetime(2024, 3, 1, tzinfo=UTC), territory="NOR")
        everyone = [old, recent, counsel, opened_long_ago, north]

        # A day before the five years are over for the oldest, and before NOR's one year.
        first = retention.run(rt.engine, rt.policies, now=datetime(2025, 1, 9, tzinfo=UTC))
        assert first.requests == 0 and first.audit_seq is None
        assert all(kept(rt, i) for i in everyone)
        # Past CEN's five years for the 2020 requests and past NOR's one year.
        second = retention.run(rt.engine, rt.policies, now=datetime(2025, 3, 2, tzinfo=UTC))
        assert (second.requests, second.contacts, second.own_counsel) == (3, 2, 1)
        assert [kept(rt, i) for i in everyone] == [False, True, False, True, False]
        assert chain_ok(rt)
        # The open appointment keeps its data however old; the recent one goes in its turn.
        third = retention.run(rt.engine, rt.policies, now=datetime(2028, 6, 2, tzinfo=UTC))
        assert third.requests == 1
        assert [kept(rt, i) for i in everyone] == [False, False, False, True, False]
        assert chain_ok(rt)
    finally:
        rt.stop()


# --- a tampered row is listed, marked, and breaks verification --------------------------------


def test_the_audit_lists_a_row_whose_stored_value_no_longer_parses(api: Api) -> None:
    request_id = ended_with_contact(api.rt, "R1", T0)
    events = api.get("/api/v1/audit", "bar", request_id=request_id).json()["events"]
    seq_at, seq_payload = events[1]["seq"], events[2]["seq"]
    # SQLite keeps whatever text is written into a time column; PostgreSQL keeps only a time,
    # so there the altered time is another valid one (listed as it is, caught by verify).
    tampered = "1999-01-01 00:00:00" if backends.on_postgres() else "not a time"
    with api.rt.engine.begin() as conn:
        conn.execute(
            text("UPDATE audit_event SET at = :t WHERE seq = :s"), {"t": tampered, "s": seq_at}
        )
        conn.execute(
            text("UPDATE audit_event SET payload = '{broken' WHERE seq = :s"), {"s": seq_payload}
        )
    unparsable = {seq_payload} if backends.on_postgres() else {seq_at, seq_payload}
    for params in ({}, {"request_id": request_id}):
        listed = api.get("/api/v1/audit", "bar", **params)
        assert listed.status_code == 200, listed.text
        by_seq = {e["seq"]: e for e in listed.json()["events"]}
        if not backends.on_postgres():
            assert by_seq[seq_at]["damaged"] and by_seq[seq_at]["at"] == "not a time"
        assert by_seq[seq_payload]["damaged"] and by_seq[seq_payload]["payload"] == {}
        assert all(e["damaged"] is None for s, e in by_seq.items() if s not in unparsable)
    court = api.get("/api/v1/audit", "court", request_id=request_id)
    assert court.status_code == 200, court.text
    signed_in = api.client.post("/login", data={"token": api.tokens["bar"]})
    assert signed_in.status_code in (200, 303), signed_in.text
    page = api.client.get(f"/bar/requests/{request_id}/audit")
    assert (
        page.status_code == 200
        and ("1999" if backends.on_postgres() else "not a time") in page.text
    )
    verified = api.get("/api/v1/audit/verify", "bar").json()
    assert verified["ok"] is False and verified["first_bad"]["seq"] == seq_at


# --- a database of the previous version -----------------------------------------------------

PREVIOUS_HEAD = "c5d8e1a7f342"


def test_a_database_migrated_from_the_previous_head_keeps_its_chain_and_retries(
    tmp_path: Path,
) -> None:
    from dispatcher import migrations
    from dispatcher.db import make_engine

    path = tmp_path / "old.sqlite"
    rt = flows.runtime_at(path)
    try:
        load_registry(rt, small_registry())
        make_token(rt, "court", territory="CEN")
        make_token(rt, "investigator", territory="CEN")
        old_id = ended_with_contact(rt, "OLD", T0)
        own_counsel(rt, "COUNSEL", T0)
        # As the previous version stored it: the unkeyed digest of the body.
        body = flows.request_body("OLD", contact=CONTACT)
        dumped = body.model_dump(mode="json")
        if dumped["place"] is None:
            del dumped["place"]
        legacy = hashlib.sha256(audit.canonical(dumped).encode()).hexdigest()
        with rt.engine.begin() as conn:
            conn.execute(
                text("UPDATE request SET payload_hash = :h WHERE id = :i"),
                {"h": legacy, "i": old_id},
            )
        url = rt.settings.database_url
    finally:
        rt.stop()
    # Back to the previous head (history kept), then forward again as an upgrade does.
    from alembic import command

    command.downgrade(migrations.config(url), PREVIOUS_HEAD)
    engine = make_engine(url)
    with engine.connect() as conn:
        assert migrations.current(conn) == PREVIOUS_HEAD
        assert "audit_key" not in sa_inspect(conn).get_table_names()
    engine.dispose()
    migrations.upgrade(url)

    rt = flows.runtime_at(path)
    try:
        with Session(rt.engine) as session:
            assert session.get(AuditKey, 1) is not None
            before = audit.verify(session)
        assert before.ok and before.events > 10
        with unit_of_work(rt.engine) as session:
            again, created = workflow.create_request(
                session,
                flows.request_body("OLD", contact=CONTACT),
                requester=flows.requester(session, "court"),
                ctx=flows.context(rt),
            )
        assert again.id == old_id and created is False
        erased = retention.run(rt.engine, rt.policies, now=T0 + timedelta(days=6 * 366))
        assert erased.requests == 2 and not kept(rt, old_id)
        with Session(rt.engine) as session:
            after = audit.verify(session)
        assert after.ok and after.events == before.events + 1
    finally:
        rt.stop()


# --- any history, any erasure ---------------------------------------------------------------

# What happens to one request: how it ends, and how many days after T0.
OUTCOMES = st.sampled_from(["closed", "own_counsel", "cancelled", "open"])
HISTORIES = st.lists(st.tuples(OUTCOMES, st.integers(0, 4000)), min_size=1, max_size=6)
RUNS = st.lists(st.integers(0, 9000), min_size=1, max_size=4)


def _live(rt: Runtime, i: int, outcome: str, day: int) -> str:
    when = T0 + timedelta(days=day)
    ref = f"H{i}"
    if outcome == "closed":
        return ended_with_contact(rt, ref, when)
    if outcome == "own_counsel":
        return own_counsel(rt, ref, when)
    if outcome == "open":
        return still_open(rt, ref, when)
    with at(when), unit_of_work(rt.engine) as session:
        request = flows.open_request(session, rt, ref, contact=CONTACT)
        workflow.cancel(session, request, flows.context(rt))
        return request.id


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(history=HISTORIES, runs=RUNS)
def test_the_chain_verifies_after_any_erasure(
    history: list[tuple[str, int]], runs: list[int]
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        rt = flows.runtime_at(Path(folder) / "db.sqlite")
        try:
            load_registry(rt, small_registry())
            make_token(rt, "court", territory="CEN")
            make_token(rt, "investigator", territory="CEN")
            ids = [_live(rt, i, outcome, day) for i, (outcome, day) in enumerate(history)]
            ended = {
                rid: T0 + timedelta(days=day)
                for rid, (outcome, day) in zip(ids, history, strict=True)
                if outcome != "open"
            }
            for day in runs:
                now = T0 + timedelta(days=day)
                retention.run(rt.engine, rt.policies, now=now)
                assert chain_ok(rt)
                # Erased exactly when ended more than five years before some run so far.
                for rid in ids:
                    past = rid in ended and any(
                        ended[rid] < retention.cutoff(T0 + timedelta(days=d), 5)
                        for d in runs[: runs.index(day) + 1]
                    )
                    assert kept(rt, rid) is not past
        finally:
            rt.stop()
