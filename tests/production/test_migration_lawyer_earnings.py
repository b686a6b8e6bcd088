"""Going back before `lawyer_earning` adds the earnings not yet added to the standings first."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from sqlalchemy import text

from dispatcher import migrations
from dispatcher.db import make_engine
from tests.support import backends

BEFORE = "b6d2f8a4c193"  # the revision the lawyer_earning table follows


def test_downgrade_keeps_every_earning_in_the_standings(tmp_path: Path) -> None:
    url = (
        backends.empty_postgres_url("lawyer_earnings")
        if backends.on_postgres()
        else f"sqlite:///{tmp_path / 'old.db'}"
    )
    migrations.upgrade(url, "c7e3a1f5d902")
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO territory (code, name_az, name_ru, name_en, fallback) "
                    "VALUES ('CEN', 'C', 'C', 'C', '[]')"
                )
            )
            territory = conn.execute(text("SELECT id FROM territory")).scalar_one()
            conn.execute(text("INSERT INTO firm (code, name, status) VALUES ('F1', 'F', 'active')"))
            firm = conn.execute(text("SELECT id FROM firm")).scalar_one()
            for licence in ("A-1", "A-2"):
                conn.execute(
                    text(
                        "INSERT INTO lawyer (licence, name, firm_id, languages, specialisations, "
                        "max_open, status, duty, notify) VALUES (:l, :l, :f, '[]', '[]', 8, "
                        "'active', '[]', '[]')"
                    ),
                    {"l": licence, "f": firm},
                )
            a1, a2 = conn.execute(text("SELECT id FROM lawyer ORDER BY licence")).scalars()
            conn.execute(
                text(
                    "INSERT INTO lawyer_rotation_state (territory_id, lawyer_id, entitlement, "
                    "offers) VALUES (:t, :l, 0.1, 1)"
                ),
                {"t": territory, "l": a1},
            )
            for earned, lawyers in ((0.2, f"{a1},{a2}"), (0.3, f"{a1}")):
                conn.execute(
                    text(
                        "INSERT INTO lawyer_earning (territory_id, firm_id, earned, lawyers) "
                        "VALUES (:t, :f, :e, :l)"
                    ),
                    {"t": territory, "f": firm, "e": earned, "l": lawyers},
                )
        command.downgrade(migrations.config(url), BEFORE)
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT lawyer_id, entitlement, offers FROM lawyer_rotation_state")
            ).all()
        # One addition at a time, in the order written, as the charge made them.
        assert {lawyer: (entitlement, offers) for lawyer, entitlement, offers in rows} == {
            a1: (0.1 + 0.2 + 0.3, 1),
            a2: (0.2, 0),
        }
    finally:
        engine.dispose()
