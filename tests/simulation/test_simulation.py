"""The simulator: a seed replays the same history; no rule ever invites a lawyer the
eligibility rules exclude (conflicted, off duty for a detention, at the cap)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from dispatcher.db import create_schema, make_engine
from dispatcher.models import (
    Appointment,
    Choice,
    Conflict,
    DutyEntry,
    Invitation,
    Lawyer,
    Request,
)
from dispatcher.registry import RegistryFile
from dispatcher.simulation.figures import measure
from dispatcher.simulation.loop import Simulation
from dispatcher.simulation.run import RULES, policy_book
from policies.eligibility import DutyWindow, on_duty
from tests.support import backends
from tests.support.policies import policy_text
from tests.support.registries import small_registry

START = datetime(2026, 3, 1, 20, 0, tzinfo=UTC)  # Monday, midnight in Baku
BAKU = ZoneInfo("Asia/Baku")
# A fresh database for each example (hypothesis seeds `random`, so no random names).
RUNS = itertools.count()


def simulate(path: Path, data: dict[str, Any], *, rule: str, seed: int, days: int = 1) -> Engine:
    engine = make_engine(backends.database_url(path))
    create_schema(engine)
    Simulation(
        engine,
        policy_book(rule, seed=seed),
        RegistryFile.model_validate(data),
        days=days,
        seed=seed,
        start=START,
        requests_per_year=20 * 365,
    ).run()
    return engine


def history(engine: Engine) -> list[tuple[Any, ...]]:
    """What happened, without the random ids: per request, its ladder and outcome."""
    with Session(engine) as session:
        rows = session.exec(
            select(Request.external_ref, Request.status, Lawyer.licence, Invitation.status)
            .join(Invitation, col(Invitation.request_id) == Request.id, isouter=True)
            .join(Lawyer, col(Lawyer.id) == Invitation.lawyer_id, isouter=True)
            .order_by(col(Request.external_ref), col(Invitation.created_at))
        ).all()
    return [tuple(r) for r in rows]


def test_a_seed_replays_the_same_history_and_another_seed_does_not(tmp_path: Path) -> None:
    data = small_registry()
    first = simulate(tmp_path / "a.db", data, rule="quota", seed=5)
    again = simulate(tmp_path / "b.db", data, rule="quota", seed=5)
    other = simulate(tmp_path / "c.db", data, rule="quota", seed=6)
    try:
        assert len(history(first)) > 10
        assert history(first) == history(again)
        assert history(first) != history(other)
        figures = measure(first, policy="quota", start=START, days=1).figures
        assert figures == measure(again, policy="quota", start=START, days=1).figures
    finally:
        for engine in (first, again, other):
            engine.dispose()


def choices(engine: Engine) -> dict[str, tuple[Any, ...]]:
    """Each suspect's choice by request reference: when, which way, and whether the list
    shown had any lawyer on it."""
    with Session(engine) as session:
        rows = session.exec(
            select(Request.external_ref, Choice.chosen_at, Choice.kind, Choice.options).join(
                Choice, col(Choice.request_id) == Request.id
            )
        ).all()
    return {ref: (at, kind, bool(options)) for ref, at, kind, options in rows}


def test_every_rule_meets_the_same_suspects(tmp_path: Path) -> None:
    data = small_registry()
    quota = simulate(tmp_path / "quota.db", data, rule="quota", seed=8)
    rotation = simulate(tmp_path / "rr.db", data, rule="round_robin", seed=8)
    try:
        first, second = choices(quota), choices(rotation)
        assert len(first) > 5
        # Same hand-overs at the same moments, whatever the rule ranked ...
        assert {ref: c[0] for ref, c in first.items()} == {ref: c[0] for ref, c in second.items()}
        # ... and the same ways of choosing (a lawyer from the list, letting the system
        # choose, one's own lawyer), wherever both lists had lawyers on them: an empty list
        # (every lawyer busy or off duty at that moment under that rule) leaves only letting
        # the system choose.
        both = [ref for ref in first if first[ref][2] and second[ref][2]]
        assert len(both) > 5
        assert [first[ref][1] for ref in both] == [second[ref][1] for ref in both]
        assert history(quota) != history(rotation)
    finally:
        quota.dispose()
        rotation.dispose()


def windows(duty: list[DutyEntry]) -> tuple[DutyWindow, ...]:
    return tuple(
        DutyWindow(
            int(w["weekday"]),
            datetime.strptime(w["start"], "%H:%M").time(),
            datetime.strptime(w["end"], "%H:%M").time(),
        )
        for w in duty
    )


def excluded_invitations(engine: Engine) -> list[str]:
    """Every invitation that broke a rule when it was sent, with the rule (none expected)."""
    with Session(engine) as session:
        invitations = session.exec(select(Invitation, Request).join(Request)).all()
        lawyers = {lw.id: lw for lw in session.exec(select(Lawyer)).all()}
        appointments = session.exec(select(Appointment)).all()
        conflicts = session.exec(select(Conflict)).all()
    broken: list[str] = []
    for invitation, request in invitations:
        at = invitation.created_at
        lawyer = lawyers[invitation.lawyer_id]
        colleagues = {lw.id for lw in lawyers.values() if lw.firm_id == invitation.firm_id}
        if any(
            c.lawyer_id in colleagues and c.case_number == request.case_number for c in conflicts
        ):
            broken.append(f"{invitation.id}: registered conflict")
        for other, other_request in invitations:
            if (
                other_request.case_number == request.case_number
                and other_request.person_name.lower() != request.person_name.lower()
                and other.firm_id == invitation.firm_id
                and other.created_at <= at
                and (
                    other.answered_at is None
                    or other.answered_at > at
                    or other.status == "accepted"
                )
            ):
                broken.append(f"{invitation.id}: defends another person in the case")
        if request.urgency == "detention" and not on_duty(
            windows(lawyer.duty), at.astimezone(BAKU)
        ):
            broken.append(f"{invitation.id}: off duty")
        load = sum(
            1
            for a in appointments
            if a.lawyer_id == lawyer.id
            and a.opened_at <= at
            and (a.closed_at is None or a.closed_at > at)
        ) + sum(
            1
            for other, _ in invitations
            if other.lawyer_id == lawyer.id
            and other.id != invitation.id
            and other.created_at <= at
            and (other.answered_at is None or other.answered_at > at)
        )
        if load >= lawyer.max_open:
            broken.append(f"{invitation.id}: at the cap ({load} of {lawyer.max_open})")
    return broken


@st.composite
def registries(draw: st.DrawFn) -> dict[str, Any]:
    """The small registry with drawn caps, duty windows and ties to the simulated cases."""
    data = small_registry()
    for lawyer in data["lawyers"]:
        lawyer["max_open"] = draw(st.integers(1, 3))
        if draw(st.booleans()):
            start = draw(st.integers(0, 23))
            length = draw(st.integers(4, 16))
            lawyer["duty"] = [
                {"weekday": d, "start": f"{start:02d}:00", "end": f"{(start + length) % 24:02d}:00"}
                for d in range(7)
            ]
    licences = [lw["licence"] for lw in data["lawyers"]]
    # The demand numbers CEN's cases 1(100)-N/2026: tie lawyers to some of them.
    ties = draw(st.lists(st.tuples(st.sampled_from(licences), st.integers(1, 40)), max_size=12))
    data["conflicts"] += [
        {"lawyer": lic, "case_number": f"1(100)-{n}/2026", "role": "victim_counsel"}
        for lic, n in sorted(set(ties))
    ]
    return data


@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=registries(), rule=st.sampled_from(RULES), seed=st.integers(0, 10_000))
def test_no_rule_ever_invites_a_conflicted_off_duty_or_capped_lawyer(
    tmp_path: Path, data: dict[str, Any], rule: str, seed: int
) -> None:
    engine = simulate(tmp_path / f"run{next(RUNS)}.db", data, rule=rule, seed=seed)
    try:
        with Session(engine) as session:
            assert session.exec(select(Invitation)).first() is not None
        assert excluded_invitations(engine) == []
    finally:
        engine.dispose()


def test_the_rosters_run_without_pause_or_steering_and_quota_with_the_policy_file(
    tmp_path: Path,
) -> None:
    for rule in RULES:
        pause = policy_book(rule, seed=1).default.pause
        if rule == "quota":
            assert pause.lapses == 2 and pause.detentions_to_answering
        else:
            assert pause.lapses == 0 and not pause.detentions_to_answering
    own = tmp_path / "policy.toml"
    own.write_text(policy_text(answering_reach=2.5, detentions_to_answering=False))
    pause = policy_book("quota", seed=1, policy_file=str(own)).default.pause
    assert pause.answering_reach == 2.5 and not pause.detentions_to_answering
