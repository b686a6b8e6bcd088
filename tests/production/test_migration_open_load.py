"""The migration to `lawyer.open_load` counts the open work already there, and its downgrade
takes away the column, its index and the triggers that keep it."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine

from dispatcher import migrations
from dispatcher.db import make_engine, unit_of_work
from tests.dispatcher.test_open_load import kept_and_counted
from tests.support.clients import make_token
from tests.support.flows import accept_and_close, accept_pending, runtime_at, submit_request
from tests.support.registries import load_registry, small_registry

BEFORE = "c7e3a1f5d902"  # the revision `open_load` follows


def _triggers(engine: Engine) -> int:
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            sql = "SELECT count(*) FROM sqlite_master WHERE type = 'trigger'"
        else:
            sql = (
                "SELECT (SELECT count(*) FROM pg_trigger WHERE NOT tgisinternal) + "
                "(SELECT count(*) FROM pg_proc WHERE proname LIKE '%open_load')"
            )
        return int(conn.execute(text(sql)).scalar_one())


def test_upgrade_counts_the_open_work_and_downgrade_takes_it_all_away(tmp_path: Path) -> None:
    rt = runtime_at(tmp_path / "migrated.db")
    url = rt.settings.database_url
    try:
        load_registry(rt, small_registry())
        make_token(rt, "court", "Court", territory="CEN")
        requests = [submit_request(rt, f"MIG-{n}") for n in range(5)]
        with unit_of_work(rt.engine) as session:
            accept_pending(session, rt, requests[0])
            accept_pending(session, rt, requests[1])
            accept_and_close(session, rt, requests[2])
    finally:
        rt.stop()
    engine = make_engine(url)
    try:
        assert _triggers(engine) == (6 if engine.dialect.name == "sqlite" else 8)
        command.downgrade(migrations.config(url), BEFORE)
        found = inspect(engine)
        assert "open_load" not in {c["name"] for c in found.get_columns("lawyer")}
        assert "ix_lawyer_busy" not in {i["name"] for i in found.get_indexes("lawyer")}
        assert _triggers(engine) == 0
        # Work written while the column is away: the upgrade counts it all afresh.
        with engine.begin() as conn:
            conn.execute(
                text("UPDATE appointment SET closed_at = NULL WHERE request_id = :r"),
                {"r": requests[2]},
            )
            conn.execute(
                text("UPDATE invitation SET status = 'expired' WHERE request_id = :r"),
                {"r": requests[3]},
            )
        engine.dispose()
        command.upgrade(migrations.config(url), "head")
        with engine.connect() as conn:
            kept, counted = kept_and_counted(conn)
        assert kept == counted
        assert sum(counted.values()) == 4  # three open appointments, one pending invitation
        assert max(counted.values()) >= 1
        # And the triggers keep it from there.
        with engine.begin() as conn:
            conn.execute(text("UPDATE appointment SET closed_at = opened_at"))
            kept, counted = kept_and_counted(conn)
        assert kept == counted
        assert sum(counted.values()) == 1
        assert "ix_lawyer_busy" in {i["name"] for i in inspect(engine).get_indexes("lawyer")}
    finally:
        engine.dispose()
