"""A planned rota kept as a draft, approved as a registry change, and then ruling who takes
detentions: an order at 03:00 goes only to the lawyer on duty at 03:00."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select
from typer.testing import CliRunner

from dispatcher import audit, registry_version
from dispatcher.allocation import build_pool, kept_registry
from dispatcher.cli import app
from dispatcher.db import unit_of_work
from dispatcher.errors import Conflict
from dispatcher.models import Lawyer
from dispatcher.rota import service
from dispatcher.runtime import Runtime
from tests.support.clients import make_token
from tests.support.flows import open_request, pending
from tests.support.rotas import approved_rota

ZONE = ZoneInfo("Asia/Baku")


def _plan(rt: Runtime, first: datetime, days: int = 3) -> service.RotaOut:
    with unit_of_work(rt.engine) as session:
        return service.plan(
            session,
            territory="CEN",
            first_day=first.date(),
            days=days,
            time_limit_s=3,
            policies=rt.policies,
            actor="test",
        )


def _approve(rt: Runtime, rota_id: str) -> service.RotaOut:
    with unit_of_work(rt.engine) as session:
        return service.approve(session, rota_id=rota_id, policies=rt.policies, actor="test")


def test_an_approved_rota_decides_who_is_on_duty_for_detentions(small: Runtime) -> None:
    first = datetime.now(ZONE) - timedelta(days=1)
    rota = _plan(small, first)
    assert rota.status in ("optimal", "feasible") and rota.approval == "draft"
    assert rota.figures is not None and rota.figures["firm_deviation_max"] <= 1
    with unit_of_work(small.engine) as session:
        before = registry_version.current(session)
    approved = _approve(small, rota.id)
    assert approved.approval == "approved" and approved.approved_by == "test"
    with unit_of_work(small.engine) as session:
        assert registry_version.current(session) != before
        assert [e.action for e in audit.trail(session)][-1] == "rota_approved"
    at_three = datetime.combine(first.date() + timedelta(days=1), datetime.min.time(), ZONE)
    at_three = at_three.replace(hour=3)
    on_duty = {d.lawyer for d in rota.assignments if d.start <= at_three < d.end}
    assert len(on_duty) == 1
    make_token(small, "court", "Court", territory="CEN")
    make_token(small, "investigator", "Investigator", territory="CEN")
    with unit_of_work(small.engine) as session:
        # An investigation waits for the suspect's choice: nobody is invited yet.
        request = open_request(session, small, "ROTA-1", kind="investigation", urgency="detention")
        kept = kept_registry(session)
        facts = kept.facts_of(session, kept.territories[request.territory_id])
        pool = build_pool(session, request, facts, small.policies.default, at_three)
        ids = {lw.licence for lws in pool.eligible.values() for lw in lws}
        assert ids == on_duty
        off = {e["licence"] for e in pool.excluded_lawyers if e["reason"] == "off_duty"}
        assert off == {"L-11", "L-12", "L-13", "L-21", "L-22", "L-31"} - on_duty
        session.rollback()
    # And a detention filed now goes to the lawyer on duty now.
    now = datetime.now(ZONE)
    now_on = {d.lawyer for d in rota.assignments if d.start <= now < d.end}
    with unit_of_work(small.engine) as session:
        request = open_request(session, small, "ROTA-2", urgency="detention")
        found = pending(session, request.id)
        assert found is not None and found[1].licence in now_on


def test_approval_is_refused_twice_and_for_an_overlap(small: Runtime) -> None:
    first = datetime.now(ZONE) + timedelta(days=10)
    one = _plan(small, first)
    two = _plan(small, first + timedelta(days=1))
    _approve(small, one.id)
    with pytest.raises(Conflict):
        _approve(small, one.id)
    with pytest.raises(Conflict):
        _approve(small, two.id)


def test_leave_is_respected(small: Runtime) -> None:
    from dispatcher.models import LawyerAvailability

    first = datetime(2027, 3, 1, tzinfo=ZONE)
    with unit_of_work(small.engine) as session:
        lawyer = session.exec(select(Lawyer).where(Lawyer.licence == "L-21")).one()
        assert lawyer.id is not None
        session.add(
            LawyerAvailability(
                lawyer_id=lawyer.id,
                kind="leave",
                starts_at=first,
                ends_at=first + timedelta(days=2),
            )
        )
    rota = _plan(small, first, days=4)
    assert rota.status in ("optimal", "feasible")
    away = first + timedelta(days=2)
    assert not [d for d in rota.assignments if d.lawyer == "L-21" and d.start < away]


def test_the_cli_plans_and_approves(small: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    from dispatcher.config import get_settings

    monkeypatch.setenv("DISPATCHER_DATABASE_URL", small.settings.database_url)
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        done = runner.invoke(
            app,
            [
                "rota",
                "plan",
                "--territory",
                "CEN",
                "--from",
                "2027-02-01",
                "--days",
                "7",
                "--time-limit",
                "3",
                "--json",
            ],
        )
        assert done.exit_code == 0, done.output
        made = json.loads(done.stdout)
        assert set(made) == {
            "id",
            "territory",
            "status",
            "solve_s",
            "assignments",
            "figures",
            "problems",
        }
        assert made["status"] in ("optimal", "feasible")
        assert len(made["assignments"]) == 14
        assert made["assignments"][0]["start"] == "2027-02-01T08:00:00+04:00"
        approved = runner.invoke(app, ["rota", "approve", made["id"]])
        assert approved.exit_code == 0, approved.output
        again = runner.invoke(app, ["rota", "approve", made["id"]])
        assert again.exit_code == 2 and "already approved" in again.output
        bad = runner.invoke(app, ["rota", "plan", "--territory", "XXX", "--from", "2027-02-01"])
        assert bad.exit_code == 2 and "no territory XXX" in bad.output
    finally:
        get_settings.cache_clear()


def _free_hours(
    duties: list[tuple[datetime, datetime]], first: datetime, rest: timedelta, wanted: int
) -> list[datetime]:
    """`wanted` one-hour starts in the week from `first`, each at least `rest` from `duties`."""
    found: list[datetime] = []
    at = first
    while len(found) < wanted and at < first + timedelta(days=7) - timedelta(hours=1):
        end = at + timedelta(hours=1)
        if all(end + rest <= a or b + rest <= at for a, b in duties):
            found.append(at)
        at += timedelta(hours=1)
    assert len(found) == wanted
    return found


@pytest.mark.parametrize("extra", [0, 1])
def test_approval_counts_the_weekly_cap_over_every_territory(small: Runtime, extra: int) -> None:
    """A rota approved elsewhere after this one was planned may put one of its lawyers above
    the weekly cap counted over every territory: approving this one is then refused, naming
    the lawyer and the week; up to the cap it is approved."""
    first = datetime(2027, 5, 3, 8, tzinfo=ZONE)
    draft = _plan(small, first, days=7)
    assert draft.status in ("optimal", "feasible")
    busiest = max(
        {d.lawyer for d in draft.assignments},
        key=lambda x: (sum(d.lawyer == x for d in draft.assignments), x),
    )
    theirs = [(d.start, d.end) for d in draft.assignments if d.lawyer == busiest]
    cap = small.policies.default.rota.weekly_cap
    assert len(theirs) <= cap
    rest = timedelta(hours=small.policies.default.rota.rest_hours)
    starts = _free_hours(theirs, first, rest, cap - len(theirs) + extra)
    approved_rota(small, [(busiest, at) for at in starts], territory="NOR", start=first, hours=1)
    if extra:
        with pytest.raises(Conflict) as refused:
            _approve(small, draft.id)
        said = str(refused.value)
        assert f"lawyer {busiest} would serve {cap + 1} duties in week 1" in said
        assert f"weekly cap of {cap}" in said
    else:
        assert _approve(small, draft.id).approval == "approved"
