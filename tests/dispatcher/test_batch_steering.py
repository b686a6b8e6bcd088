"""A batch orders each firm's lawyers as a single decision does (`order_lawyers`): for a
detention, under [pause] detentions_to_answering, the lawyers who let no invitation lapse
lately and stand within `answering_reach` of the one furthest below their share go first; the
explanation records who lapsed, as a single decision's does."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, update
from sqlmodel import Session, col, select

from dispatcher import allocation, deadlines, workflow
from dispatcher.allocation.batch import FirmQueues
from dispatcher.allocation.batch_pools import BatchPools
from dispatcher.allocation.pool import lawyers_in_turn
from dispatcher.db import unit_of_work, utcnow
from dispatcher.models import (
    Decision,
    Invitation,
    Lawyer,
    LawyerEarning,
    LawyerRotationState,
    Request,
)
from dispatcher.runtime import Runtime
from tests.support.clients import make_token
from tests.support.flows import (
    context,
    pending_invitation,
    request_body,
    requester,
    runtime_at,
    submit_request,
)
from tests.support.policies import policy_text
from tests.support.registries import load_registry


def _registry(sizes: list[int]) -> dict[str, Any]:
    territory = {"code": "CEN", "name": {"az": "M", "ru": "Ц", "en": "C"}, "fallback": []}
    firms = [{"code": f"F{f}", "name": f"Firm {f}", "territories": ["CEN"]} for f in (1, 2)]
    lawyers = [
        {
            "licence": f"L-{f}-{n}",
            "name": f"Lawyer {f}.{n}",
            "firm": f"F{f}",
            "territories": ["CEN"],
            "languages": ["az"],
            "max_open": 5,
        }
        for f, size in enumerate(sizes, start=1)
        for n in range(size)
    ]
    return {"territories": [territory], "firms": firms[: len(sizes)], "lawyers": lawyers}


def _runtime(path: Path, sizes: list[int]) -> Runtime:
    # No pause (lapses = 0): a lawyer who lets invitations lapse stays eligible.
    rt = runtime_at(
        path,
        policy_text=policy_text(version="s", lapses=0, within_hours=24.0, answering_reach=1.0),
    )
    load_registry(rt, _registry(sizes))
    make_token(rt, "court", "Court", territory="CEN")
    return rt


def _lapse(rt: Runtime, ref: str) -> str:
    """A standard request whose invited lawyer lets it lapse (it goes on to another); the
    licence of the one who lapsed."""
    request_id = submit_request(rt, ref)
    with unit_of_work(rt.engine) as session:
        invitation, lawyer = pending_invitation(session, request_id)
        session.execute(
            update(Invitation)
            .where(col(Invitation.id) == invitation.id)
            .values(deadline=utcnow() - timedelta(seconds=1))
        )
        licence, invitation_id = lawyer.licence, invitation.id
    assert deadlines.expire_one(rt.engine, rt.policies, invitation_id)
    return licence


def _set_standings(session: Session, shortfalls: dict[str, float]) -> None:
    """Each lawyer's own standing in CEN: `shortfall` below their share (offers 0)."""
    kept = allocation.kept_registry(session)
    territory = next(t for t in kept.territories.values() if t.code == "CEN")
    session.execute(delete(LawyerRotationState))
    session.execute(delete(LawyerEarning))  # the firms' earnings not yet added to standings
    for lawyer in session.exec(select(Lawyer)).all():
        assert lawyer.id is not None
        session.add(
            LawyerRotationState(
                territory_id=territory.id,
                lawyer_id=lawyer.id,
                entitlement=shortfalls.get(lawyer.licence, 0.0),
                offers=0,
            )
        )
    session.flush()


def _file(session: Session, rt: Runtime, urgencies: list[str], tag: str) -> list[Request]:
    court = requester(session, "court")
    return [
        workflow.create_request(
            session,
            request_body(f"{tag}-{i}", urgency=urgency),
            requester=court,
            ctx=context(rt),
            allocate=False,
        )[0]
        for i, urgency in enumerate(urgencies)
    ]


# (shortfall of the first other lawyer, of the second; the batch's urgencies; whom each gets:
# "lapsed" for the lawyer furthest below, 3.0, who let an invitation lapse, "A" or "B").
CASES = [
    # Within reach (3.0 - 2.5 <= 1): the detention goes to the lawyer who answers.
    (2.5, 0.0, ["detention"], ["A"]),
    # Out of reach: the lawyer furthest below, though they lapsed.
    (1.5, 0.0, ["detention"], ["lapsed"]),
    # A standard request keeps the plain order: the lawyer furthest below.
    (2.5, 0.0, ["standard"], ["lapsed"]),
    # Both in one batch: each person in the order their own decision would use.
    (2.5, 2.2, ["detention", "standard"], ["A", "lapsed"]),
    (2.5, 2.7, ["detention", "detention"], ["B", "A"]),
]


@pytest.mark.parametrize(("a", "b", "urgencies", "expected"), CASES)
def test_a_batch_steers_a_detention_to_the_answering_lawyer_within_reach(
    tmp_path: Path, a: float, b: float, urgencies: list[str], expected: list[str]
) -> None:
    rt = _runtime(tmp_path / "steer.db", [3])
    try:
        lapsed = _lapse(rt, "LAPSE")
        others = sorted({"L-1-0", "L-1-1", "L-1-2"} - {lapsed})
        names = {"lapsed": lapsed, "A": others[0], "B": others[1]}
        with unit_of_work(rt.engine) as session:
            _set_standings(session, {lapsed: 3.0, others[0]: a, others[1]: b})
            new = _file(session, rt, urgencies, "P")
            workflow.invite_batch(session, new, context(rt))
            ids = [r.id for r in new]
        by_licence = {licence: name for name, licence in names.items()}
        got: list[tuple[str, str]] = []
        with unit_of_work(rt.engine) as session:
            for request_id, urgency in zip(ids, urgencies, strict=True):
                invitation, lawyer = pending_invitation(session, request_id)
                name = by_licence[lawyer.licence]
                got.append((urgency, name))
                decision = session.get(Decision, invitation.decision_id)
                assert decision is not None
                explanation = decision.explanation
                assert "batch" in explanation
                queue = explanation["lawyer_queue"]
                if urgency == "detention":
                    # Who lapsed is recorded for every lawyer of the firm's queue.
                    assert {q["licence"]: q["lapsed"] for q in queue}[lapsed] is True
                    assert sum(q["lapsed"] for q in queue) == 1
                    assert "let no invitation lapse lately" in explanation["rule"]["lawyer_order"]
                    if name != "lapsed":
                        assert (
                            f"a detention goes first to a lawyer who answers: {lapsed}"
                            in explanation["lawyer_turn"]
                        )
                else:
                    assert all("lapsed" not in q for q in queue)
                    assert queue[0]["licence"] == lapsed
        # Persons of the same urgency are alike to the batch: which of them gets which lawyer
        # is the flow's; what each urgency gets is the rule's.
        assert sorted(got) == sorted(zip(urgencies, expected, strict=True))
    finally:
        rt.stop()


# --- the batch's order is the single decision's, for the same standings ------------------


@pytest.fixture(scope="module")
def lapsed_runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    """Two firms (4 and 3 lawyers); three standard requests let lapse once each."""
    rt = _runtime(tmp_path_factory.mktemp("order") / "order.db", [4, 3])
    try:
        for i in range(3):
            _lapse(rt, f"LAPSE-{i}")
        yield rt
    finally:
        rt.stop()


LICENCES = [f"L-1-{n}" for n in range(4)] + [f"L-2-{n}" for n in range(3)]


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    shortfalls=st.lists(
        st.sampled_from([0.0, 0.5, 1.0, 1.5, 2.0, 2.25, 3.0]), min_size=7, max_size=7
    ),
    urgencies=st.lists(st.sampled_from(["detention", "standard"]), min_size=1, max_size=4),
)
def test_the_batch_orders_each_firms_lawyers_as_a_single_decision_does(
    lapsed_runtime: Runtime, shortfalls: list[float], urgencies: list[str]
) -> None:
    rt = lapsed_runtime
    # Nothing is committed: each example sees the same lapses and loads.
    with Session(rt.engine, expire_on_commit=False) as session:
        try:
            _set_standings(session, dict(zip(LICENCES, shortfalls, strict=True)))
            new = _file(session, rt, urgencies, "Q")
            kept = allocation.kept_registry(session)
            facts = kept.facts_of(session, next(iter(kept.territories.values())))
            policy = context(rt).policy("CEN")
            now = utcnow()
            shared = BatchPools(session, facts, policy, now)
            pools = {r.id: shared.pool(r) for r in new}
            queues = FirmQueues(pools)
            for request in new:
                single = allocation.build_pool(session, request, facts, policy, now)
                assert set(single.eligible) == set(pools[request.id].eligible)
                for firm_id in single.eligible:
                    batch_order = [lw.licence for lw in queues.queue(pools[request.id], firm_id)]
                    single_order = [lw.licence for lw in lawyers_in_turn(single, firm_id)]
                    assert batch_order == single_order
                # The record's lapses are the single decision's.
                assert pools[request.id].lapsed == single.lapsed
        finally:
            session.rollback()
