"""A token's lifecycle in the domain: expiry, use, listing without secrets, revocation by id or
name, and the page sessions opened with a token (SPEC v1.1 "Tokens"; issue 13 item 2)."""

from __future__ import annotations

import json
from contextlib import AbstractContextManager
from datetime import datetime, timedelta

import pytest
from sqlmodel import select

from dispatcher import audit, tokens
from dispatcher.db import clocked, read_only, unit_of_work, utcnow
from dispatcher.errors import Conflict, Invalid, NotFound
from dispatcher.models import ApiToken, AuditEvent, PageSession
from dispatcher.runtime import Runtime
from tests.support.clients import make_token

HOUR = timedelta(hours=1)


def at(moment: datetime) -> AbstractContextManager[None]:
    """The domain's clock stopped at `moment` for the block."""
    return clocked(lambda: moment)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("90d", timedelta(days=90)), ("12h", timedelta(hours=12)), (" 1D ", timedelta(days=1))],
)
def test_a_duration_is_days_or_hours(text: str, expected: timedelta) -> None:
    assert tokens.parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "90", "d", "0d", "-1d", "1.5h", "12m", "90 d", "1w"])
def test_anything_else_is_refused_naming_the_field(text: str) -> None:
    with pytest.raises(Invalid) as refused:
        tokens.parse_duration(text)
    assert refused.value.field == "expires_in"
    assert "90d" in refused.value.detail[0]["msg"]


def test_a_token_with_an_expiry_is_refused_from_then_on(small: Runtime) -> None:
    token = make_token(small, "bar", expires_in=timedelta(hours=12))
    forever = make_token(small, "admin")
    start = utcnow()
    with unit_of_work(small.engine) as session:
        with at(start + 11 * HOUR):
            assert tokens.resolve(session, token) is not None
        with at(start + 12 * HOUR + timedelta(seconds=1)):
            assert tokens.resolve(session, token) is None
        with at(start + timedelta(days=3650)):
            assert tokens.resolve(session, forever) is not None
    with unit_of_work(small.engine) as session, pytest.raises(Invalid):
        tokens.create_token(session, role="bar", name="x", expires_in=timedelta(0))


def test_last_used_is_written_at_most_once_a_minute(small: Runtime) -> None:
    token = make_token(small, "bar")
    start = utcnow()

    def last_used() -> datetime | None:
        with unit_of_work(small.engine) as session:
            row = session.exec(select(ApiToken).where(ApiToken.name == "bar one")).one()
            return row.last_used_at

    assert last_used() is None
    for seconds in (0, 30, 59):
        with unit_of_work(small.engine) as session, at(start + timedelta(seconds=seconds)):
            assert tokens.resolve(session, token) is not None
    assert last_used() == start
    with unit_of_work(small.engine) as session, at(start + timedelta(seconds=61)):
        tokens.resolve(session, token)
    assert last_used() == start + timedelta(seconds=61)


def test_a_look_up_reads_only_and_says_when_the_use_is_due(small: Runtime) -> None:
    token = make_token(small, "bar")
    revoked = make_token(small, "admin", "Gone")
    with unit_of_work(small.engine) as session:
        tokens.revoke(session, id_or_name="Gone", actor="admin")
    start = utcnow()

    def look(seconds: int) -> tokens.Sighting | None:
        with read_only(small.engine) as session, at(start + timedelta(seconds=seconds)):
            return tokens.look_up(session, token)

    first = look(0)
    assert first is not None and first.use_due and first.principal.role == "bar"
    assert look(1) == first  # nothing was written by the look-up
    with unit_of_work(small.engine) as session, at(start):
        tokens.note_use(session, first.principal.token_id)
    for seconds in (30, 59):
        seen = look(seconds)
        assert seen is not None and not seen.use_due
    later = look(61)
    assert later is not None and later.use_due
    with read_only(small.engine) as session:
        assert tokens.look_up(session, revoked) is None
        assert tokens.look_up(session, "not a token") is None


def test_the_listing_shows_scope_and_times_and_never_a_secret(small: Runtime) -> None:
    made = {
        "admin": make_token(small, "admin", expires_in=timedelta(days=90)),
        "court": make_token(small, "court", "Court One", territory="CEN"),
        "lawyer": make_token(small, "lawyer", "Lawyer", lawyer="L-11"),
    }
    with unit_of_work(small.engine) as session:
        tokens.resolve(session, made["court"])
    with unit_of_work(small.engine) as session:
        listed = tokens.list_tokens(session)
    by_role = {t.role: t for t in listed}
    assert by_role["court"].scope == "CEN" and by_role["court"].last_used_at is not None
    assert by_role["lawyer"].scope == "L-11"
    assert by_role["admin"].scope is None and by_role["admin"].last_used_at is None
    expires = by_role["admin"].expires_at
    assert expires is not None
    assert expires - by_role["admin"].created_at == pytest.approx(timedelta(days=90), abs=HOUR)
    text = json.dumps([t.model_dump(mode="json") for t in listed])
    for token in made.values():
        assert token not in text and tokens.hash_token(token) not in text


def test_revoke_by_id_or_name_refuses_the_token_and_is_audited(small: Runtime) -> None:
    by_id = make_token(small, "bar", "Reviewer")
    by_name = make_token(small, "admin", "Registrar")
    with unit_of_work(small.engine) as session:
        bar_id = session.exec(select(ApiToken.id).where(ApiToken.name == "Reviewer")).one()
        first = tokens.revoke(session, id_or_name=str(bar_id), actor="admin:test")
        second = tokens.revoke(session, id_or_name="Registrar", actor="admin:test")
    assert first.revoked_at is not None and second.revoked_at is not None
    with unit_of_work(small.engine) as session:
        assert tokens.resolve(session, by_id) is None
        assert tokens.resolve(session, by_name) is None
        again = tokens.revoke(session, id_or_name=str(bar_id), actor="admin:test")
        assert again.revoked_at == first.revoked_at  # nothing changes, nothing is recorded
        events = session.exec(select(AuditEvent).where(AuditEvent.action == "token.revoked")).all()
        assert [(e.actor, e.entity_id) for e in events] == [
            ("admin:test", str(bar_id)),
            ("admin:test", str(second.id)),
        ]
        assert audit.verify(session).ok


def test_an_ambiguous_name_is_refused_with_the_ids(small: Runtime) -> None:
    make_token(small, "bar", "Shared")
    make_token(small, "admin", "Shared")
    with unit_of_work(small.engine) as session:
        ids = session.exec(select(ApiToken.id).where(ApiToken.name == "Shared")).all()
        with pytest.raises(Conflict) as refused:
            tokens.revoke(session, id_or_name="Shared", actor="cli")
        assert all(str(i) in refused.value.detail for i in ids)
    with unit_of_work(small.engine) as session:
        assert all(t.revoked_at is None for t in tokens.list_tokens(session))
        # Once one of them is revoked, the name names the other alone.
        tokens.revoke(session, id_or_name=str(ids[0]), actor="cli")
        assert tokens.revoke(session, id_or_name="Shared", actor="cli").id == ids[1]
        with pytest.raises(NotFound):
            tokens.revoke(session, id_or_name="Shared", actor="cli")
        with pytest.raises(NotFound):
            tokens.revoke(session, id_or_name="999999", actor="cli")


def test_a_page_session_is_not_the_token_and_ends_at_logout(small: Runtime) -> None:
    token = make_token(small, "bar")
    with unit_of_work(small.engine) as session:
        opened = tokens.open_page_session(session, token=token, lifetime=12 * HOUR)
        assert tokens.open_page_session(session, token="nope", lifetime=HOUR) is None
    assert opened is not None
    session_id, principal = opened
    assert session_id != token and principal.role == "bar"
    with unit_of_work(small.engine) as session:
        stored = session.exec(select(PageSession)).one()
        assert stored.session_hash == tokens.hash_token(session_id)
        assert tokens.resolve_page_session(session, session_id) == principal
        assert tokens.resolve_page_session(session, token) is None
        with at(utcnow() + 12 * HOUR + timedelta(seconds=1)):
            assert tokens.resolve_page_session(session, session_id) is None
        assert tokens.end_page_session(session, session_id)
    with unit_of_work(small.engine) as session:
        assert tokens.resolve_page_session(session, session_id) is None
        assert not tokens.end_page_session(session, session_id)


def test_a_revoked_or_expired_token_ends_its_page_sessions(small: Runtime) -> None:
    revoked = make_token(small, "bar", "To revoke")
    expiring = make_token(small, "admin", "Short", expires_in=HOUR)
    with unit_of_work(small.engine) as session:
        one = tokens.open_page_session(session, token=revoked, lifetime=12 * HOUR)
        two = tokens.open_page_session(session, token=expiring, lifetime=12 * HOUR)
    assert one is not None and two is not None
    with unit_of_work(small.engine) as session:
        tokens.revoke(session, id_or_name="To revoke", actor="cli")
    with unit_of_work(small.engine) as session:
        assert tokens.resolve_page_session(session, one[0]) is None
        assert (
            session.exec(select(PageSession).where(PageSession.token_id == one[1].token_id))
            .one()
            .ended_at
        )
        assert tokens.resolve_page_session(session, two[0]) is not None
        with at(utcnow() + HOUR + timedelta(seconds=1)):
            assert tokens.resolve_page_session(session, two[0]) is None
