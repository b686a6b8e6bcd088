"""Moving an embedded database to another (PostgreSQL on the production pass) keeps it whole."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from sqlmodel import func, select

from dispatcher import audit
from dispatcher.config import Settings
from dispatcher.db import create_schema, make_engine, unit_of_work
from dispatcher.models import Decision, Request
from dispatcher.runtime import Runtime
from tests.dispatcher.test_open_load import kept_and_counted
from tests.support import backends
from tests.support.clients import make_token
from tests.support.flows import accept_and_close, accept_pending, submit_request
from tests.support.registries import ROOT, load_registry, small_registry


def test_a_copied_database_has_every_row_and_a_chain_that_verifies(tmp_path: Path) -> None:
    # Always from an embedded SQLite file; into PostgreSQL on the production pass.
    small = Runtime.build(
        Settings(database_url=f"sqlite:///{tmp_path / 'embedded.db'}", scheduler=False)
    )
    load_registry(small, small_registry())
    make_token(small, "court", territory="CEN")
    for n in range(4):
        request_id = submit_request(small, f"COPY-{n}")
        with unit_of_work(small.engine) as session:
            accept_and_close(session, small, request_id)
    # Open work too: an open appointment and a pending invitation.
    request_id = submit_request(small, "COPY-OPEN")
    with unit_of_work(small.engine) as session:
        accept_pending(session, small, request_id)
    submit_request(small, "COPY-PENDING")
    source = small.settings.database_url
    target = backends.database_url(tmp_path / "target.db")
    create_schema(make_engine(target))
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "copy_database.py"), source, target],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    copied = make_engine(target)
    with unit_of_work(small.engine) as before, unit_of_work(copied) as after:
        for table in (Request, Decision):
            count = select(func.count()).select_from(table)
            assert after.exec(count).one() == before.exec(count).one() > 0
        assert audit.verify(after).as_dict() == audit.verify(before).as_dict()
    # Every lawyer's open work is counted once: the copy's triggers count the copied rows.
    with small.engine.connect() as before_conn, copied.connect() as after_conn:
        kept_before, counted_before = kept_and_counted(before_conn)
        kept_after, counted_after = kept_and_counted(after_conn)
    assert kept_after == counted_after == counted_before == kept_before
    assert sum(counted_after.values()) > 0
    # The copy takes new rows where the source left off (id sequences moved on).
    again = Runtime.build(small.settings.model_copy(update={"database_url": target}))
    make_token(again, "court", "Court Two", territory="CEN")
    again.stop()
    copied.dispose()
    small.stop()
    refused = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "copy_database.py"), source, target],
        capture_output=True,
        text=True,
        check=False,
    )
    assert refused.returncode != 0
    assert "is not empty" in refused.stderr
