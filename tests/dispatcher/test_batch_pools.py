"""A batch's pools, built from what its persons share (`BatchPools`), equal `build_pool`'s for
every person: over random registries (languages, juvenile specialists, caps, duty windows,
lawyers on leave, registered conflicts) and random batches, some of whose persons already
hold invitations (loads at the cap, co-defendants defended by a firm) and some of whose
lawyers are paused (up to all of them, where the pause is waived); and both equal the pool of
every lawyer judged on their own (`tests/support/pools.py`)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlmodel import select

from dispatcher import allocation, workflow
from dispatcher.allocation.batch_pools import BatchPools
from dispatcher.allocation.pool import conflicted_firms, read_moment
from dispatcher.allocation.statements import INVITED
from dispatcher.db import unit_of_work, utcnow
from dispatcher.models import Lawyer, LawyerPause, Request
from tests.support.clients import make_token
from tests.support.flows import context, request_body, requester, runtime_at
from tests.support.pools import as_found, reference_pool
from tests.support.registries import load_registry

LANGUAGES = st.sampled_from([("az",), ("az", "ru"), ("ru",), ("az", "en")])
LAWYERS = st.tuples(
    LANGUAGES,
    st.booleans(),  # juvenile specialist
    st.integers(1, 2),  # cap
    st.one_of(st.none(), st.integers(0, 6)),  # a duty window on this weekday, or none
    st.integers(0, 9),  # 0: on leave
)
PERSONS = st.lists(
    st.tuples(
        st.integers(0, 2),  # case
        st.sampled_from(["az", "ru", "en"]),
        st.booleans(),  # juvenile
        st.sampled_from(["detention", "standard"]),
    ),
    min_size=1,
    max_size=7,
)


def _registry(firms: list[list[Any]], conflicts: list[tuple[int, int, int]]) -> dict[str, Any]:
    territory = {"code": "CEN", "name": {"az": "M", "ru": "Ц", "en": "C"}, "fallback": []}
    firm_rows, lawyers = [], []
    for f, members in enumerate(firms, start=1):
        firm_rows.append({"code": f"F{f}", "name": f"Firm {f}", "territories": ["CEN"]})
        for n, (languages, juvenile, cap, weekday, leave) in enumerate(members):
            lawyers.append(
                {
                    "licence": f"L-{f}-{n}",
                    "name": f"Lawyer {f}.{n}",
                    "firm": f"F{f}",
                    "territories": ["CEN"],
                    "languages": list(languages),
                    "specialisations": ["juvenile"] if juvenile else [],
                    "max_open": cap,
                    "status": "on_leave" if leave == 0 else "active",
                    "duty": (
                        []
                        if weekday is None
                        else [{"weekday": weekday, "start": "00:00", "end": "12:00"}]
                    ),
                }
            )
    registered = [
        {
            "lawyer": f"L-{f % len(firms) + 1}-{n % len(firms[f % len(firms)])}",
            "case_number": f"CASE-{case}",
            "role": "victim_counsel",
        }
        for f, n, case in conflicts
    ]
    return {
        "territories": [territory],
        "firms": firm_rows,
        "lawyers": lawyers,
        "conflicts": registered,
    }


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    firms=st.lists(st.lists(LAWYERS, min_size=1, max_size=4), min_size=1, max_size=4),
    conflicts=st.lists(
        st.tuples(st.integers(0, 3), st.integers(0, 3), st.integers(0, 2)), max_size=2
    ),
    first=PERSONS,
    then=PERSONS,
    paused=st.lists(st.integers(0, 15), max_size=16),
)
def test_every_person_gets_the_pool_build_pool_gives(
    tmp_path_factory: Any,
    firms: list[list[Any]],
    conflicts: list[tuple[int, int, int]],
    first: list[Any],
    then: list[Any],
    paused: list[int],
) -> None:
    rt = runtime_at(tmp_path_factory.mktemp("pools") / "pools.db")
    try:
        load_registry(rt, _registry(firms, conflicts))
        make_token(rt, "court", "Court", territory="CEN")
        ctx = context(rt)

        def file(session: Any, persons: list[Any], tag: str) -> list[Request]:
            court = requester(session, "court")
            return [
                workflow.create_request(
                    session,
                    request_body(
                        f"{tag}-{i}",
                        case_number=f"CASE-{case}",
                        urgency=urgency,
                        person={"name": f"{tag} {i}", "language": language, "juvenile": juv},
                    ),
                    requester=court,
                    ctx=ctx,
                    allocate=False,
                )[0]
                for i, (case, language, juv, urgency) in enumerate(persons)
            ]

        # A first batch: its persons hold invitations (their lawyers' loads, their firms
        # defending co-defendants of the next batch).
        with unit_of_work(rt.engine) as session:
            workflow.invite_batch(session, file(session, first, "A"), ctx)
        now = utcnow()
        with unit_of_work(rt.engine) as session:
            lawyer_ids = sorted(i for i in session.exec(select(Lawyer.id)).all() if i is not None)
            for i in sorted(set(paused)):
                if i < len(lawyer_ids):
                    session.add(
                        LawyerPause(
                            lawyer_id=lawyer_ids[i],
                            starts_at=now - timedelta(hours=1),
                            ends_at=now + timedelta(hours=1),
                            lapses=2,
                        )
                    )
        with unit_of_work(rt.engine) as session:
            requests = list(session.exec(select(Request)).all()) + file(session, then, "B")
            kept = allocation.kept_registry(session)
            facts = kept.facts_of(session, next(iter(kept.territories.values())))
            policy = ctx.policy("CEN")
            shared = BatchPools(session, facts, policy, now)
            for request in requests:
                derived = shared.pool(request)
                single = allocation.build_pool(session, request, facts, policy, now)
                # Every field: eligible lawyers per firm in order, excluded lawyers and firms
                # with their reasons, weights, loads at the cap, the pause waived or not.
                assert derived == single
                # And both equal the pool of every lawyer judged on their own.
                moment = read_moment(session, facts, now)
                invited = set(session.execute(INVITED, {"request": request.id}).scalars())
                conflicted = conflicted_firms(session, request)
                expected = reference_pool(request, facts, policy, moment, invited, conflicted)
                assert as_found(single) == expected
                assert derived.excluded_lawyers == single.excluded_lawyers
                assert derived.summary() == single.summary()
                reasons = {e["reason"] for e in single.excluded_lawyers}
                event(f"invited={bool(single.attempt)} waived={single.pause_waived}")
                for reason in reasons:
                    event(f"excluded for {reason}")
            # A derived pool is the person's own: weighing it leaves the others untouched.
            pools = [shared.pool(r) for r in requests]
            for firm_id in pools[0].eligible:
                pools[0].weigh(firm_id)
            assert all(not p.weighed_firms for p in pools[1:])
    finally:
        rt.stop()
