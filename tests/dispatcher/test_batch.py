"""The batch allocator (issue 15, part 1): the flow against a brute force on small instances,
the repair of co-defendants with different needs, and every rule of a single decision held
through the real database."""

from __future__ import annotations

import itertools
from collections import Counter
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import col, select

from dispatcher import allocation, workflow
from dispatcher.allocation.batch import FirmTarget, Person, plan
from dispatcher.db import unit_of_work, utcnow
from dispatcher.models import Decision, Firm, Invitation, Lawyer, Request, RotationState
from tests.support.clients import make_token
from tests.support.flows import context, request_body, requester, runtime_at
from tests.support.registries import load_registry

# --- the flow over plain data ------------------------------------------------------------


@st.composite
def instances(draw: Any) -> tuple[list[Person], dict[str, FirmTarget]]:
    firms = [f"F{i}" for i in range(draw(st.integers(2, 3)))]
    lawyers = {f: [f"{f}-L{j}" for j in range(draw(st.integers(1, 2)))] for f in firms}
    n = draw(st.integers(1, 4))
    people = []
    for k in range(n):
        eligible = {
            f: [lw for lw in lws if draw(st.booleans()) or draw(st.booleans())]
            for f, lws in lawyers.items()
        }
        people.append(Person(f"p{k}", f"case{draw(st.integers(0, 1))}", eligible))
    targets = {
        f: FirmTarget(draw(st.integers(0, 2)), draw(st.floats(0, 4).map(lambda x: round(x, 2))))
        for f in firms
    }
    return people, targets


def _valid(people: list[Person], chosen: dict[str, tuple[str, str]]) -> bool:
    lawyers = [lw for _, lw in chosen.values()]
    if len(lawyers) != len(set(lawyers)):
        return False
    by_key = {p.key: p for p in people}
    firms_of_case = [(by_key[k].case, f) for k, (f, _) in chosen.items()]
    if len(firms_of_case) != len(set(firms_of_case)):
        return False
    return all(lw in by_key[k].eligible.get(f, ()) for k, (f, lw) in chosen.items())


def _brute_force(people: list[Person], targets: dict[str, FirmTarget]) -> tuple[int, float | None]:
    """The largest assignment's size, and the smallest worst deviation among the largest."""
    options = [[None] + [(f, lw) for f, lws in p.eligible.items() for lw in lws] for p in people]
    best_size, best_dev = 0, None
    for combo in itertools.product(*options):
        chosen = {p.key: c for p, c in zip(people, combo, strict=True) if c is not None}
        if not _valid(people, chosen):
            continue
        counts = Counter(f for f, _ in chosen.values())
        dev = max(abs(t.offers + counts[f] - t.entitlement) for f, t in targets.items())
        if len(chosen) > best_size or (
            len(chosen) == best_size and (best_dev is None or dev < best_dev)
        ):
            best_size, best_dev = len(chosen), dev
    return best_size, best_dev


@settings(max_examples=150, deadline=None)
@given(instances())
def test_the_flow_is_largest_valid_and_within_one_when_some_largest_is(
    instance: tuple[list[Person], dict[str, FirmTarget]],
) -> None:
    people, targets = instance
    result = plan(people, targets)
    assert _valid(people, result.assigned)
    # No one holds a later lawyer of their own firm queue while an earlier one stays unused.
    used = {lw for _, lw in result.assigned.values()}
    for person in people:
        if person.key in result.assigned:
            firm, lawyer = result.assigned[person.key]
            queue = list(person.eligible[firm])
            assert all(lw in used for lw in queue[: queue.index(lawyer)])
    size, best = _brute_force(people, targets)
    # Each (case, firm) arc dropped by the repair costs at most one person (an arc of
    # capacity 1 carries one unit of the flow, whose maximum bounds the true one).
    assert len(result.assigned) >= size - result.arcs_dropped
    alike = all(
        len({tuple(sorted((f, tuple(lws)) for f, lws in p.eligible.items())) for p in group}) == 1
        for _, group in itertools.groupby(
            sorted(people, key=lambda p: p.case), key=lambda p: p.case
        )
    )
    if alike:
        # Co-defendants with the same needs: the flow is exact, nothing to repair.
        assert result.arcs_dropped == 0 and result.repaired == 0
        assert len(result.assigned) == size
        if best is not None and best <= 1 + 1e-9:
            assert max(abs(d) for d in result.deviations.values()) <= 1 + 1e-9


def test_co_defendants_with_different_languages_are_repaired_into_eligible_lawyers() -> None:
    # One case; F1's first lawyer speaks only ru, its second only az. The (case, F1) node
    # leads to both; the az speaker must not end with the ru lawyer.
    people = [
        Person("az", "c", {"F1": ["F1-az"], "F2": []}),
        Person("ru", "c", {"F1": ["F1-ru"], "F2": ["F2-ru"]}),
    ]
    targets = {"F1": FirmTarget(0, 1.0), "F2": FirmTarget(0, 1.0)}
    result = plan(people, targets)
    assert result.assigned == {"az": ("F1", "F1-az"), "ru": ("F2", "F2-ru")}
    # Both eligible only in F1 through a lawyer the other cannot take: one stays unassigned.
    people = [
        Person("a", "c", {"F1": ["F1-a"]}),
        Person("b", "c", {"F1": ["F1-b"]}),
    ]
    result = plan(people, {"F1": FirmTarget(0, 1.0)})
    assert len(result.assigned) == 1 and _valid(people, result.assigned)


def test_co_defendants_ordering_a_firm_apart_each_get_their_own_first() -> None:
    # A detention puts F1's answering lawyer first, their standard co-defendant the one who
    # lapsed; only the detention can go to F1. The (case, F1) node's arcs cost both lawyers 0.
    people = [
        Person("detention", "c", {"F1": ["F1-answers", "F1-lapsed"]}),
        Person("standard", "c", {"F1": ["F1-lapsed", "F1-answers"], "F2": ["F2-a"]}),
    ]
    targets = {"F1": FirmTarget(0, 1.0), "F2": FirmTarget(0, 1.0)}
    result = plan(people, targets)
    assert result.assigned == {"detention": ("F1", "F1-answers"), "standard": ("F2", "F2-a")}


# --- through the database -----------------------------------------------------------------


def _registry(firms: list[list[tuple[str, ...]]]) -> dict[str, Any]:
    territory = {"code": "CEN", "name": {"az": "M", "ru": "Ц", "en": "C"}, "fallback": []}
    firm_rows, lawyers = [], []
    for f, members in enumerate(firms, start=1):
        firm_rows.append({"code": f"F{f}", "name": f"Firm {f}", "territories": ["CEN"]})
        for n, languages in enumerate(members):
            lawyers.append(
                {
                    "licence": f"L-{f}-{n}",
                    "name": f"Lawyer {f}.{n}",
                    "firm": f"F{f}",
                    "territories": ["CEN"],
                    "languages": list(languages),
                    "specialisations": ["juvenile"] if n == 0 else [],
                    "max_open": 2,
                }
            )
    return {"territories": [territory], "firms": firm_rows, "lawyers": lawyers, "conflicts": []}


LANGUAGES = st.sampled_from([("az",), ("az", "ru"), ("ru",), ("az", "en")])


@pytest.mark.slow
@settings(
    max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    firms=st.lists(st.lists(LANGUAGES, min_size=1, max_size=4), min_size=2, max_size=4),
    persons=st.lists(
        st.tuples(st.integers(0, 2), st.sampled_from(["az", "ru", "en"]), st.booleans()),
        min_size=1,
        max_size=8,
    ),
)
def test_every_rule_of_a_single_decision_holds_in_a_batch(
    tmp_path_factory: Any, firms: list[list[tuple[str, ...]]], persons: list[Any]
) -> None:
    rt = runtime_at(tmp_path_factory.mktemp("batch") / "batch.db")
    try:
        load_registry(rt, _registry(firms))
        make_token(rt, "court", "Court", territory="CEN")
        ctx = context(rt)
        with unit_of_work(rt.engine) as session:
            court = requester(session, "court")
            new = []
            for i, (case, language, juvenile) in enumerate(persons):
                body = request_body(
                    f"P-{i}",
                    case_number=f"CASE-{case}",
                    person={"name": f"P {i}", "language": language, "juvenile": juvenile},
                )
                new.append(
                    workflow.create_request(
                        session, body, requester=court, ctx=ctx, allocate=False
                    )[0]
                )
            # What a single decision would find eligible for each, before the batch.
            kept = allocation.kept_registry(session)
            territory = next(iter(kept.territories.values()))
            facts = kept.facts_of(session, territory)
            eligible = {
                r.id: {
                    lw.id
                    for lws in allocation.build_pool(
                        session, r, facts, ctx.policy("CEN"), utcnow()
                    ).eligible.values()
                    for lw in lws
                }
                for r in new
            }
            workflow.invite_batch(session, new, ctx)
        with unit_of_work(rt.engine) as session:
            rows = session.exec(
                select(
                    Request.id, Request.case_number, Invitation.lawyer_id, Invitation.firm_id
                ).join(Invitation, col(Invitation.request_id) == Request.id)
            ).all()
            lawyers = [lw for _, _, lw, _ in rows]
            assert len(lawyers) == len(set(lawyers))
            case_firms = [(case, firm) for _, case, _, firm in rows]
            assert len(case_firms) == len(set(case_firms))
            for request_id, _, lawyer_id, _ in rows:
                assert lawyer_id in eligible[request_id]
                lawyer = session.get(Lawyer, lawyer_id)
                request = session.get(Request, request_id)
                assert lawyer is not None and request is not None
                assert request.person_language in lawyer.languages
                if request.person_juvenile:
                    assert "juvenile" in lawyer.specialisations
            # Every request decided once, in the batch; the unplaced ones unfilled.
            decisions = session.exec(select(Decision)).all()
            assert len(decisions) == len(persons)
            assert all("batch" in d.explanation or d.lawyer_id is None for d in decisions)
            statuses = Counter(session.exec(select(Request.status)).all())
            assert statuses["inviting"] == len(rows)
            assert statuses["unfilled"] == len(persons) - len(rows)
            # The standings charged as single decisions would be: one offer per invitation.
            offers = session.exec(
                select(Firm.code, RotationState.offers).join(
                    Firm, col(Firm.id) == RotationState.firm_id
                )
            ).all()
            assert sum(o for _, o in offers) == len(rows)
    finally:
        rt.stop()
