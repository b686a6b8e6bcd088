"""Lawyers' earnings written a firm at a time give the standings of the lawyer-by-lawyer charge.

A charged decision writes one `lawyer_earning` row a firm; the lawyers' standings take their
firm's rows when they are read (`allocation.earnings.read_settled`). Over random decisions (random
firms, eligible subsets, shares and chosen lawyers) and reads at random moments, every
standing read must equal, to the last bit, the plain accumulation the charge did before: each
eligible lawyer's entitlement increased by their firm's share split equally, one decision at
a time, and the chosen lawyer's offers by one. A lawyer moving to another firm keeps what the
old firm's rows owe them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, event
from sqlmodel import Session, select

from dispatcher import registry
from dispatcher.allocation import earnings
from dispatcher.allocation.statements import LAWYER_STANDINGS
from dispatcher.db import unit_of_work
from dispatcher.models import Lawyer, LawyerEarning, LawyerRotationState, Territory
from dispatcher.runtime import Runtime
from tests.support.registries import load_registry

FIRMS = 4
PER_FIRM = 4


def _registry(moved: bool = False) -> dict[str, Any]:
    """Two territories, four firms of four lawyers (with `moved`, L-0-0 has gone to F1)."""
    names = {"az": "T", "ru": "T", "en": "T"}
    return {
        "territories": [
            {"code": "CEN", "name": names, "fallback": []},
            {"code": "NOR", "name": names, "fallback": []},
        ],
        "firms": [
            {"code": f"F{f}", "name": f"Firm {f}", "territories": ["CEN", "NOR"]}
            for f in range(FIRMS)
        ],
        "lawyers": [
            {
                "licence": f"L-{f}-{n}",
                "name": f"L-{f}-{n}",
                "firm": "F1" if moved and (f, n) == (0, 0) else f"F{f}",
                "territories": ["CEN", "NOR"],
                "languages": ["az"],
            }
            for f in range(FIRMS)
            for n in range(PER_FIRM)
        ],
        "conflicts": [],
    }


def _ids(session: Session) -> tuple[list[int], dict[int, list[int]], dict[str, int]]:
    """Territory ids, each firm's lawyer ids (by firm id), lawyer ids by licence."""
    territories = [t.id for t in session.exec(select(Territory).order_by(Territory.code)).all()]
    firms: dict[int, list[int]] = {}
    by_licence: dict[str, int] = {}
    for lawyer in session.exec(select(Lawyer).order_by(Lawyer.licence)).all():
        assert lawyer.id is not None
        firms.setdefault(lawyer.firm_id, []).append(lawyer.id)
        by_licence[lawyer.licence] = lawyer.id
    return [t for t in territories if t is not None], firms, by_licence


def _read(
    session: Session, territory_id: int, lawyer_ids: list[int]
) -> dict[int, tuple[float, int]]:
    """The standings as `pool.workloads` reads them (settled as read), then as the database
    holds them afterwards: the two must be the same."""
    standing, _last_offer = earnings.read_settled(session, territory_id, lawyer_ids)
    written = {
        lawyer_id: (float(entitlement), int(offers))
        for lawyer_id, entitlement, offers in session.execute(
            LAWYER_STANDINGS, {"territory": territory_id, "lawyers": lawyer_ids}
        ).all()
    }
    assert standing == written
    return standing


# One decision: its territory, and per firm (eligible or not) the share, the eligible lawyers
# (a mask over the firm's four) and whether the chosen lawyer is of it; then a read of a firm.
_decision = st.tuples(
    st.integers(min_value=0, max_value=1),
    st.lists(
        st.tuples(
            st.floats(min_value=1e-6, max_value=1.0, allow_nan=False),
            st.lists(st.booleans(), min_size=PER_FIRM, max_size=PER_FIRM),
        ),
        min_size=FIRMS,
        max_size=FIRMS,
    ),
    st.integers(min_value=0, max_value=FIRMS * PER_FIRM - 1),
    st.one_of(st.none(), st.integers(min_value=0, max_value=FIRMS - 1)),
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(decisions=st.lists(_decision, min_size=1, max_size=25))
def test_standings_read_equal_the_lawyer_by_lawyer_charge(
    runtime: Runtime, decisions: list[Any]
) -> None:
    load_registry(runtime, _registry())
    with unit_of_work(runtime.engine) as session:
        session.execute(delete(LawyerEarning))
        session.execute(delete(LawyerRotationState))
    plain: dict[tuple[int, int], tuple[float, int]] = {}
    with unit_of_work(runtime.engine) as session:
        territories, firms, _ = _ids(session)
        firm_ids = sorted(firms)
        for t, parts, chosen, read in decisions:
            territory_id = territories[t]
            rows: list[earnings.Earning] = []
            eligible_all: list[int] = []
            for firm_id, (share, mask) in zip(firm_ids, parts, strict=True):
                eligible = [lw for lw, on in zip(firms[firm_id], mask, strict=True) if on]
                if not eligible:
                    continue  # a firm with no eligible lawyer is not ranked
                earned = share / len(eligible)
                rows.append(earnings.earning(territory_id, firm_id, earned, eligible))
                eligible_all += eligible
                for lw in eligible:
                    # What the charge did: INSERT earned, or entitlement + earned.
                    entitlement, offers = plain.get((territory_id, lw), (None, 0))
                    plain[(territory_id, lw)] = (
                        earned if entitlement is None else entitlement + earned,
                        offers,
                    )
            if not rows:
                continue
            chosen_id = eligible_all[chosen % len(eligible_all)]
            entitlement, offers = plain[(territory_id, chosen_id)]
            plain[(territory_id, chosen_id)] = (entitlement, offers + 1)
            earnings.earn(session, territory_id, rows, chosen_id)
            if read is not None:
                lawyers = firms[firm_ids[read]]
                found = _read(session, territory_id, lawyers)
                for lw in lawyers:
                    expected = plain.get((territory_id, lw))
                    assert found.get(lw) == expected, (lw, found.get(lw), expected)
        # At the end every standing, in both territories, is the plain one to the last bit.
        everyone = [lw for lws in firms.values() for lw in lws]
        for territory_id in territories:
            assert _read(session, territory_id, everyone) == {
                lw: v for (t, lw), v in plain.items() if t == territory_id
            }
        assert session.exec(select(LawyerEarning)).all() == []


def test_a_lawyer_moving_firm_keeps_what_the_old_firm_earned(runtime: Runtime) -> None:
    load_registry(runtime, _registry())
    with unit_of_work(runtime.engine) as session:
        territories, firms, by_licence = _ids(session)
        mover = by_licence["L-0-0"]
        old_firm = next(f for f, lws in firms.items() if mover in lws)
        for territory_id in territories:
            earnings.earn(
                session,
                territory_id,
                [earnings.earning(territory_id, old_firm, 0.25, firms[old_firm])],
                mover,
            )
    load_registry(runtime, _registry(moved=True))
    with unit_of_work(runtime.engine) as session:
        lawyer = session.get(Lawyer, mover)
        assert lawyer is not None and lawyer.firm_id != old_firm
        for territory_id in territories:
            # Read through the new firm: the old firm's row was added when the lawyer left.
            assert _read(session, territory_id, [mover]) == {mover: (0.25, 1)}


def _statements(runtime: Runtime, write: Any) -> list[str]:
    """The statements `write(session)` sends, in order, in a transaction of its own."""
    sent: list[str] = []

    def listen(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        sent.append(" ".join(statement.split()))

    with unit_of_work(runtime.engine) as session:
        session.connection()  # the transaction begins before the listening does
        event.listen(runtime.engine, "before_cursor_execute", listen)
        try:
            write(session)
        finally:
            event.remove(runtime.engine, "before_cursor_execute", listen)
    return sent


def _first(sent: list[str], found: Callable[[str], bool]) -> int:
    return next(i for i, s in enumerate(sent) if found(s))


def _writes(statement: str) -> bool:
    return statement.split()[0].upper() in {"INSERT", "UPDATE", "DELETE"}


def test_a_registry_write_takes_the_chain_head_before_any_row(runtime: Runtime) -> None:
    """A lawyer's move to another firm (saved alone, or with a whole registry file) takes the
    audit chain's head, as a decision does first, before it reads the old firm's earnings or
    writes any row: a decision in progress finishes first, and no lock is taken in the other
    order (which PostgreSQL would break by failing one of the two)."""
    load_registry(runtime, _registry())
    with unit_of_work(runtime.engine) as session:
        territories, firms, by_licence = _ids(session)
        mover = by_licence["L-0-0"]
        old_firm = next(f for f, lws in firms.items() if mover in lws)
        earnings.earn(
            session,
            territories[0],
            [earnings.earning(territories[0], old_firm, 0.25, firms[old_firm])],
            mover,
        )
    moved = registry.RegistryFile.model_validate(_registry(moved=True))
    lawyer = next(lw for lw in moved.lawyers if lw.licence == "L-0-0")
    for write in (
        lambda s: registry.save_lawyer(s, lawyer, actor="test"),
        lambda s: registry.import_registry(s, moved, actor="test"),
    ):
        sent = _statements(runtime, write)
        head = _first(sent, lambda s: "FROM audit_head" in s)
        assert head < _first(sent, lambda s: "lawyer_earning" in s), sent
        assert head < _first(sent, _writes), sent
        load_registry(runtime, _registry())  # back to the old firm for the next write
