"""One active scheduler among many processes: a lock that dies with its holder.

On PostgreSQL a session-level advisory lock held on a connection of its own; on SQLite an
exclusive `flock` on a file beside the database. Either is released by the operating system
or the server the moment the holding process dies (kill -9 included), so a standby takes over
at its next try, and no lease has to be renewed or guessed.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO, Any

import structlog
from sqlalchemy import text
from sqlalchemy.engine import Engine

log = structlog.get_logger(__name__)

# An arbitrary, fixed key: "counsel" in ASCII, as an advisory lock id.
ADVISORY_KEY = 0x636F756E73656C


class Leadership:
    """Try to become the active scheduler; hold it until `release` or death."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._connection: Any = None
        self._file: IO[bytes] | None = None

    @property
    def held(self) -> bool:
        return self._connection is not None or self._file is not None

    def try_acquire(self) -> bool:
        if self.held:
            return True
        if self.engine.dialect.name == "postgresql":
            return self._acquire_advisory()
        return self._acquire_file()

    def _acquire_advisory(self) -> bool:
        connection = self.engine.connect()
        try:
            got = connection.execute(
                text("SELECT pg_try_advisory_lock(:key)"), {"key": ADVISORY_KEY}
            ).scalar()
            connection.commit()
        except Exception:
            connection.close()
            raise
        if not got:
            connection.close()
            return False
        self._connection = connection
        log.info("scheduler.leader", pid=os.getpid(), lock="advisory")
        return True

    def _acquire_file(self) -> bool:
        database = self.engine.url.database or ""
        path = Path(f"{database}.scheduler.lock") if database else None
        if path is None or database == ":memory:":
            # A private database has no other process to compete with.
            self._file = open(os.devnull, "rb")  # noqa: SIM115
            return True
        handle = open(path, "ab")  # noqa: SIM115  (held open for as long as we lead)
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        self._file = handle
        log.info("scheduler.leader", pid=os.getpid(), lock="file")
        return True

    def release(self) -> None:
        if self._connection is not None:
            try:
                self._connection.execute(
                    text("SELECT pg_advisory_unlock(:key)"), {"key": ADVISORY_KEY}
                )
                self._connection.commit()
            finally:
                self._connection.close()
                self._connection = None
        if self._file is not None:
            self._file.close()  # closing the descriptor releases the flock
            self._file = None
