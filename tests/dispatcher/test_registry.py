"""Registry writes say what they did (`Change`), through one lookup path whether an import
read the registry beforehand or one entity's write reads as it goes; listings read a fixed
number of queries, whatever the number of rows."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event
from sqlmodel import Session

from dispatcher import registry
from dispatcher.db import unit_of_work
from dispatcher.errors import Invalid, NotFound
from dispatcher.registry import Change
from dispatcher.runtime import Runtime
from tests.support.registries import load_registry, small_registry

NEW_LAWYER: dict[str, Any] = {
    "licence": "L-41",
    "name": "Nigar Nəsibova",
    "firm": "F3",
    "territories": ["NOR"],
    "languages": ["az", "en"],
    "max_open": 2,
}


@contextmanager
def statements(session: Session) -> Iterator[list[str]]:
    """The SQL statements the session's connection runs inside the block."""
    ran: list[str] = []

    def note(*args: Any) -> None:
        ran.append(str(args[2]))

    connection = session.connection()
    event.listen(connection, "before_cursor_execute", note)
    try:
        yield ran
    finally:
        event.remove(connection, "before_cursor_execute", note)


def _write(rt: Runtime, write: Callable[[Session], Change]) -> Change:
    with unit_of_work(rt.engine) as session:
        return write(session)


@pytest.mark.parametrize("how", ["one entity", "import"])
def test_a_write_says_created_then_unchanged_then_updated(small: Runtime, how: str) -> None:
    data = registry.LawyerIn.model_validate(NEW_LAWYER)

    def save(lawyer: registry.LawyerIn) -> Change:
        if how == "one entity":
            return _write(small, lambda s: registry.save_lawyer(s, lawyer, actor="admin:test"))
        with unit_of_work(small.engine) as session:
            known = registry.Known.load(session)
            change = registry.upsert_lawyer(session, lawyer, known=known)
            known.link_new()
            return change

    assert save(data) is Change.CREATED
    assert save(data) is Change.UNCHANGED
    assert save(data.model_copy(update={"max_open": 5})) is Change.UPDATED
    # A change of territories alone is a change too.
    moved = data.model_copy(update={"max_open": 5, "territories": ["CEN", "NOR"]})
    assert save(moved) is Change.UPDATED
    assert save(moved) is Change.UNCHANGED
    with unit_of_work(small.engine) as session:
        shown = registry.read_lawyer(session, "L-41")
    assert shown.territories == ["CEN", "NOR"] and shown.max_open == 5


def test_territories_firms_and_conflicts_say_what_they_did(small: Runtime) -> None:
    territory = registry.TerritoryIn.model_validate(
        {"code": "SOU", "name": {"az": "C", "ru": "Ю", "en": "S"}, "fallback": ["CEN"]}
    )
    firm = registry.FirmIn(code="F4", name="Fourth Bureau", territories=["SOU"])
    conflict = registry.ConflictIn(lawyer="L-11", case_number="C-1", role="witness")
    writes: list[tuple[Callable[[Session], Change], Change]] = [
        (lambda s: registry.save_territory(s, territory, actor="a"), Change.CREATED),
        (lambda s: registry.save_territory(s, territory, actor="a"), Change.UNCHANGED),
        (lambda s: registry.save_firm(s, firm, actor="a"), Change.CREATED),
        (lambda s: registry.save_firm(s, firm, actor="a"), Change.UNCHANGED),
        (
            lambda s: registry.save_firm(
                s, firm.model_copy(update={"territories": ["SOU", "NOR"]}), actor="a"
            ),
            Change.UPDATED,
        ),
        (lambda s: registry.save_conflict(s, conflict, actor="a"), Change.CREATED),
        (lambda s: registry.save_conflict(s, conflict, actor="a"), Change.UNCHANGED),
    ]
    for i, (write, expected) in enumerate(writes):
        assert _write(small, write) is expected, i


def test_an_import_counts_each_change_once_and_again_nothing(runtime: Runtime) -> None:
    data = registry.RegistryFile.model_validate(small_registry())
    with unit_of_work(runtime.engine) as session:
        first = registry.import_registry(session, data, actor="test")
    assert first.created == {"territories": 2, "firms": 3, "lawyers": 6, "conflicts": 1}
    assert first.updated == {} and first.changed
    with unit_of_work(runtime.engine) as session:
        again = registry.import_registry(session, data, actor="test")
    assert again.as_dict() == {"created": {}, "updated": {}, "changed": False}


def test_one_entitys_write_refuses_what_an_import_refuses(small: Runtime) -> None:
    outside = registry.LawyerIn.model_validate({**NEW_LAWYER, "firm": "F1"})
    with pytest.raises(Invalid) as refused, unit_of_work(small.engine) as session:
        registry.save_lawyer(session, outside, actor="admin:test")
    assert "does not serve NOR" in str(refused.value.detail)
    unknown = registry.LawyerIn.model_validate({**NEW_LAWYER, "firm": "F9"})
    with pytest.raises(Invalid), unit_of_work(small.engine) as session:
        registry.save_lawyer(session, unknown, actor="admin:test")
    with pytest.raises(NotFound), unit_of_work(small.engine) as session:
        registry.read_lawyer(session, "L-41")


def _listing_statements(rt: Runtime) -> dict[str, int]:
    reads: dict[str, Callable[[Session], object]] = {
        "territories": registry.list_territories,
        "firms": registry.list_firms,
        "lawyers": registry.list_lawyers,
        "a firm's lawyers": lambda s: registry.list_lawyers(s, firm="F3"),
        "conflicts": registry.list_conflicts,
        "one firm": lambda s: registry.read_firm(s, "F3"),
        "one lawyer": lambda s: registry.read_lawyer(s, "L-31"),
    }
    counts: dict[str, int] = {}
    with unit_of_work(rt.engine) as session:
        for name, read in reads.items():
            with statements(session) as ran:
                read(session)
            counts[name] = len(ran)
    return counts


def test_listings_read_a_fixed_number_of_queries_whatever_the_rows(small: Runtime) -> None:
    few = _listing_statements(small)
    assert max(few.values()) <= 3, few
    data = small_registry()
    data["firms"] += [
        {"code": f"G{i}", "name": f"Bureau {i}", "territories": ["CEN", "NOR"]} for i in range(20)
    ]
    data["lawyers"] += [
        {
            "licence": f"M-{i}",
            "name": f"Lawyer {i}",
            "firm": f"G{i % 20}",
            "territories": ["CEN", "NOR"] if i % 2 else ["NOR"],
            "languages": ["az"],
        }
        for i in range(100)
    ]
    data["lawyers"].append({**NEW_LAWYER, "firm": "F3"})
    load_registry(small, data)
    many = _listing_statements(small)
    assert many == few
    with unit_of_work(small.engine) as session:
        lawyers = registry.list_lawyers(session)
        assert len(lawyers) == 107
        assert [lw.licence for lw in lawyers] == sorted(lw.licence for lw in lawyers)
        by_licence = {lw.licence: lw for lw in lawyers}
        assert by_licence["M-1"].territories == ["CEN", "NOR"]
        assert by_licence["M-2"].territories == ["NOR"] and by_licence["M-2"].firm == "G2"
        assert registry.read_firm(session, "G3").territories == ["CEN", "NOR"]
        assert {lw.licence for lw in registry.list_lawyers(session, firm="F3")} == {
            "L-31",
            "L-41",
        }
