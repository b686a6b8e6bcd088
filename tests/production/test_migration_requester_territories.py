"""A requester made before territories were a list keeps the one it had, and only that one."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import text

from dispatcher import migrations
from dispatcher.db import make_engine
from tests.support import backends

BEFORE = "e4a1c7b93d58"  # the head this migration follows


def test_each_requester_keeps_its_territory_as_its_only_one(tmp_path: Path) -> None:
    url = (
        backends.empty_postgres_url("requester_territories")
        if backends.on_postgres()
        else f"sqlite:///{tmp_path / 'old.db'}"
    )
    migrations.upgrade(url, BEFORE)
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            for code in ("CEN", "NOR"):
                conn.execute(
                    text(
                        "INSERT INTO territory (code, name_az, name_ru, name_en, fallback) "
                        "VALUES (:code, :code, :code, :code, '[]')"
                    ),
                    {"code": code},
                )
            nor = conn.execute(text("SELECT id FROM territory WHERE code = 'NOR'")).scalar_one()
            conn.execute(
                text(
                    "INSERT INTO requester (role, name, territory_id, callback_prefixes) "
                    "VALUES ('court', 'Old court', :t, '[]'), ('court', 'Homeless', NULL, '[]')"
                ),
                {"t": nor},
            )
        migrations.upgrade(url)
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT name, territory_id, territories, any_territory FROM requester")
            ).all()
        found = {
            name: (home, json.loads(codes) if isinstance(codes, str) else codes, bool(anywhere))
            for name, home, codes, anywhere in rows
        }
        assert found == {"Old court": (nor, ["NOR"], False), "Homeless": (None, [], False)}
    finally:
        engine.dispose()
