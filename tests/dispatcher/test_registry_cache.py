"""Registry facts kept between decisions: never older than the registry the transaction sees.

A process keeps each territory's firms and lawyers between decisions while the registry's
version (`dispatcher/registry_version.py`) holds. These tests change the registry every way
the service can and check that the version moves with each change (and only then), that a
change made through another engine (another process) reaches a process's next decision, that
a rolled-back change leaves nothing behind, and, over random sequences of changes and
decisions, that the kept facts give the very pool a fresh read gives.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlmodel import Session, col, select

from dispatcher import allocation, registry, registry_version
from dispatcher.allocation.bounds import one_left_out, weight_sets
from dispatcher.db import make_engine, unit_of_work, utcnow
from dispatcher.models import Lawyer, Request
from dispatcher.runtime import Runtime
from policies import quota
from policies.optimum import b_star, integer_weights
from tests.support.clients import make_token
from tests.support.flows import accept_and_close, open_request, runtime_at
from tests.support.registries import load_registry, small_registry


def _lawyer(session: Session, licence: str) -> registry.LawyerIn:
    return registry.LawyerIn.model_validate(registry.read_lawyer(session, licence).model_dump())


def _version(rt: Runtime) -> str:
    with unit_of_work(rt.engine) as session:
        return registry_version.current(session)


def _pool(session: Session, request: Request) -> allocation.Pool:
    kept = allocation.kept_registry(session)
    facts = kept.facts_of(session, kept.territories[request.territory_id])
    return allocation.build_pool(
        session, request, facts, allocation_policy(session, request), utcnow()
    )


_POLICIES: dict[str, Any] = {}


def allocation_policy(session: Session, request: Request) -> Any:
    return _POLICIES["book"].for_territory(allocation.request_territory_code(session, request))


def _seen(pool: allocation.Pool) -> tuple[Any, ...]:
    """What a pool decides: eligible lawyers by firm, every exclusion, weights."""
    return (
        {f: [lw.licence for lw in lws] for f, lws in pool.eligible.items()},
        pool.excluded_lawyers,
        pool.excluded_firms,
        dict(pool.weights),
    )


def _save_lawyer(licence: str = "L-12", **change: Any) -> Callable[[Session], None]:
    def save(session: Session) -> None:
        data = registry.LawyerIn.model_validate(_lawyer(session, licence).model_dump() | change)
        registry.save_lawyer(session, data, actor="admin:test")

    return save


def _save_firm(session: Session) -> None:
    registry.save_firm(
        session,
        registry.FirmIn(code="F2", name="Second Bureau", territories=["CEN"], status="suspended"),
        actor="admin:test",
    )


def _save_territory(session: Session) -> None:
    registry.save_territory(
        session,
        registry.TerritoryIn.model_validate(
            {"code": "NOR", "name": {"az": "Ş", "ru": "С", "en": "N"}, "fallback": ["CEN"]}
        ),
        actor="admin:test",
    )


def _import_new_lawyer(session: Session) -> None:
    data = small_registry()
    data["lawyers"].append(
        {
            "licence": "L-99",
            "name": "New Lawyer",
            "firm": "F3",
            "territories": ["CEN"],
            "languages": ["az"],
            "max_open": 2,
        }
    )
    registry.import_registry(session, registry.RegistryFile.model_validate(data), actor="test")


CHANGES: dict[str, Callable[[Session], None]] = {
    "lawyer on leave": _save_lawyer(status="on_leave"),
    "lawyer's languages": _save_lawyer(languages=["az", "en"]),
    "lawyer's cap": _save_lawyer(max_open=1),
    "lawyer's duty": _save_lawyer(duty=[{"weekday": 2, "start": "09:00", "end": "10:00"}]),
    "lawyer's territories (a link removed)": _save_lawyer("L-31", territories=["NOR"]),
    "firm suspended": _save_firm,
    "territory's fallback": _save_territory,
    "a new lawyer imported": _import_new_lawyer,
}


@pytest.mark.parametrize("change", list(CHANGES), ids=list(CHANGES))
def test_every_registry_change_gives_a_new_version(small: Runtime, change: str) -> None:
    before = _version(small)
    with unit_of_work(small.engine) as session:
        CHANGES[change](session)
    assert _version(small) != before


def test_decisions_and_conflicts_leave_the_version(small: Runtime) -> None:
    """A decision writes the lawyer's last offer, and conflicts are read at each decision:
    neither is kept, so neither makes every process read the registry again."""
    make_token(small, "court", "Court", territory="CEN")
    before = _version(small)
    with unit_of_work(small.engine) as session:
        request = open_request(session, small, "V-1")
        assert request.status == "inviting"
        registry.save_conflict(
            session,
            registry.ConflictIn(lawyer="L-21", case_number="C-9", role="witness"),
            actor="admin:test",
        )
    with unit_of_work(small.engine) as session:
        offered = session.exec(select(Lawyer).where(col(Lawyer.last_offer_at).is_not(None))).all()
    assert offered, "the decision should have written a last offer"
    assert _version(small) == before
    # The database's triggers move the lawyer's `open_load` (the invitation, then the
    # appointment and its closing) without the session's events: no new version either.
    loads = text("SELECT sum(open_load) FROM lawyer")
    with unit_of_work(small.engine) as session:
        assert session.execute(loads).scalar_one() == 1
        accept_and_close(session, small, request.id)
    with unit_of_work(small.engine) as session:
        assert session.execute(loads).scalar_one() == 0
    assert _version(small) == before


def test_a_started_service_has_read_every_territory_and_frozen_it(tmp_path: Path) -> None:
    rt = runtime_at(tmp_path / "primed.db", prime_registry=True)
    try:
        load_registry(rt, small_registry())
        allocation.forget_registry()
        assert gc.get_freeze_count() == 0
        rt.start()
        with unit_of_work(rt.engine) as session:
            kept = allocation.kept_registry(session)
            assert set(kept.facts) == set(kept.territories) and len(kept.facts) == 2
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        rt.stop()


def _weight_sets(rt: Runtime) -> dict[str, set[tuple[float, ...]]]:
    """Each territory's sets of firms' weights a decision can meet when nobody is busy."""
    with unit_of_work(rt.engine) as session:
        kept = allocation.kept_registry(session)
        return {
            t.code: weight_sets(kept.facts_of(session, t), rt.policies.for_territory(t.code))
            for t in kept.territories.values()
        }


def test_a_started_service_has_computed_each_territorys_optimum_bounds(tmp_path: Path) -> None:
    """B* of every set of firms a territory's decisions meet when nobody is busy is computed
    at start, not in the decisions: asking for it afterwards computes nothing, and gives B*."""
    rt = runtime_at(tmp_path / "bounds.db", prime_registry=True)
    try:
        load_registry(rt, small_registry())
        allocation.forget_registry()
        quota._b_star_of.cache_clear()
        rt.start()
        sets = [weights for found in _weight_sets(rt).values() for weights in found]
        assert sets, "the registry should have a territory of several firms"
        for weights in sets:
            computed = quota._b_star_of.cache_info().misses
            assert quota.prime_bound(weights) == b_star(integer_weights(weights))
            assert quota._b_star_of.cache_info().misses == computed
    finally:
        gc.unfreeze()
        rt.stop()


def test_a_rotation_keeping_tijdemans_bound_computes_no_optimum(tmp_path: Path) -> None:
    rt = runtime_at(tmp_path / "tijdeman.db")
    try:
        load_registry(rt, small_registry())
        default = rt.policies.default
        rotation = default.rotation.model_copy(update={"firm_bound": "tijdeman"})
        tijdeman = default.model_copy(update={"rotation": rotation})
        sets = _weight_sets(rt)
        quota._b_star_of.cache_clear()
        with unit_of_work(rt.engine) as session:
            assert allocation.prime_bounds(session, lambda _code: tijdeman) == 0
            assert quota._b_star_of.cache_info().currsize == 0
            primed = allocation.prime_bounds(session, rt.policies.for_territory)
        base = set().union(*sets.values())
        assert primed == quota._b_star_of.cache_info().currsize > len(base) > 0
        # Each set, and each with a firm or two left out, is computed: asking computes nothing.
        computed = quota._b_star_of.cache_info().misses
        for weights in base:
            for fewer in one_left_out(weights):
                quota.prime_bound(fewer)
                for fewest in one_left_out(fewer):
                    quota.prime_bound(fewest)
            quota.prime_bound(weights)
        assert quota._b_star_of.cache_info().misses == computed
    finally:
        rt.stop()


def _open(rt: Runtime, ref: str) -> tuple[str, list[str]]:
    """A request's id and the licences its pool finds eligible (the request is then closed)."""
    with unit_of_work(rt.engine) as session:
        request = open_request(session, rt, ref, kind="investigation")
        pool = _pool(session, request)
        return request.id, sorted(lw.licence for lws in pool.eligible.values() for lw in lws)


def test_a_change_through_another_engine_reaches_kept_facts(small: Runtime) -> None:
    """Two engines on one database stand for two processes: what one changes, the other's
    next pool sees, although it kept the territory's facts from its last one."""
    make_token(small, "investigator", "Inv", territory="CEN")
    _POLICIES["book"] = small.policies
    _, before = _open(small, "X-1")
    assert "L-12" in before
    other = make_engine(small.engine.url.render_as_string(hide_password=False))
    try:
        with unit_of_work(other) as session:
            _save_lawyer(status="on_leave")(session)
    finally:
        other.dispose()
    with unit_of_work(small.engine) as session:
        request = open_request(session, small, "X-2", kind="investigation")
        pool = _pool(session, request)
        assert pool.exclusion(registry.get_lawyer(session, "L-12").id or 0, "L-12") == "on_leave"


def test_a_rolled_back_change_leaves_nothing_kept(small: Runtime) -> None:
    make_token(small, "investigator", "Inv", territory="CEN")
    _POLICIES["book"] = small.policies
    with pytest.raises(RuntimeError), unit_of_work(small.engine) as session:
        _save_lawyer(status="suspended")(session)
        request = open_request(session, small, "R-1", kind="investigation")
        pool = _pool(session, request)
        # Inside the change's transaction its pool sees the change ...
        assert pool.exclusion(registry.get_lawyer(session, "L-12").id or 0, "L-12") == "suspended"
        raise RuntimeError("roll back")
    # ... and once it rolled back, no pool does.
    _, eligible = _open(small, "R-2")
    assert "L-12" in eligible


step_st = st.one_of(
    st.tuples(st.just("change"), st.sampled_from(sorted(CHANGES))),
    st.tuples(st.just("restore"), st.sampled_from(["L-12", "L-31"])),
    st.tuples(st.just("decide"), st.sampled_from(["az", "ru", "en"])),
)


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=st.lists(step_st, min_size=1, max_size=10))
def test_kept_facts_give_the_pool_a_fresh_read_gives(
    tmp_path_factory: Any, steps: list[tuple[str, str]]
) -> None:
    path: Path = tmp_path_factory.mktemp("kept") / "kept.db"
    rt = runtime_at(path)
    _POLICIES["book"] = rt.policies
    original = small_registry()
    try:
        load_registry(rt, original)
        make_token(rt, "court", "Court", territory="CEN")
        make_token(rt, "investigator", "Inv", territory="CEN")
        for i, (kind, what) in enumerate(steps):
            with unit_of_work(rt.engine) as session:
                if kind == "change":
                    CHANGES[what](session)
                elif kind == "restore":  # the lawyer as first imported (links added back)
                    entry = next(lw for lw in original["lawyers"] if lw["licence"] == what)
                    registry.save_lawyer(
                        session, registry.LawyerIn.model_validate(entry), actor="admin:test"
                    )
                else:
                    request = open_request(
                        session, rt, f"D-{i}", person={"name": f"P {i}", "language": what}
                    )
                    if request.status == "inviting":
                        accept_and_close(session, rt, request.id)
            with unit_of_work(rt.engine) as session:
                request = open_request(session, rt, f"Q-{i}", kind="investigation")
                kept = _seen(_pool(session, request))
                allocation.forget_registry()
                fresh = _seen(_pool(session, request))
            assert kept == fresh
    finally:
        rt.stop()
