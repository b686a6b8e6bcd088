"""SQLite writers of one process queue on a lock of their own (`db._sqlite_pragmas`): every
transaction gets its turn, and a transaction that ends in any way (commit, rollback, a
connection closed with its transaction open) hands the lock on. A unit of work that only reads
(`db.read_only`) reads beside the writers and cannot write. How much sooner than SQLite's
sleeping busy handler is a benchmark's figure (`scripts/bench_notifications.py`), not a test's."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from dispatcher.db import make_engine, read_only, unit_of_work


def test_threads_writing_at_once_all_get_their_turn(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'writers.db'}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE counter (n INTEGER NOT NULL)")
        conn.exec_driver_sql("INSERT INTO counter VALUES (0)")

    def bump() -> None:
        for _ in range(25):
            with unit_of_work(engine) as session:
                n = session.execute(text("SELECT n FROM counter")).scalar_one()
                session.execute(text("UPDATE counter SET n = :n"), {"n": n + 1})

    threads = [threading.Thread(target=bump) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not any(thread.is_alive() for thread in threads)
    with engine.connect() as conn:
        # Read, then write: serialised writers lose no update.
        assert conn.execute(text("SELECT n FROM counter")).scalar_one() == 200
    engine.dispose()


def test_a_rolled_back_or_abandoned_transaction_hands_the_lock_on(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'abandoned.db'}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (n INTEGER)")
    try:
        with unit_of_work(engine) as session:
            session.execute(text("INSERT INTO t VALUES (1)"))
            raise RuntimeError("the caller fails")
    except RuntimeError:
        pass
    # A connection given back to the pool with its transaction still open.
    conn = engine.connect()
    conn.begin()
    conn.exec_driver_sql("INSERT INTO t VALUES (2)")
    conn.close()
    done = threading.Event()

    def write() -> None:
        with unit_of_work(engine) as session:
            session.execute(text("INSERT INTO t VALUES (3)"))
        done.set()

    writer = threading.Thread(target=write)
    writer.start()
    assert done.wait(5), "the write lock was not handed on"
    writer.join()
    with engine.connect() as check:
        assert check.execute(text("SELECT n FROM t")).scalars().all() == [3]
    engine.dispose()


def test_a_reader_does_not_wait_for_a_writer_and_cannot_write(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'readers.db'}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (n INTEGER)")
        conn.exec_driver_sql("INSERT INTO t VALUES (1)")
    writing, finish = threading.Event(), threading.Event()

    def write() -> None:
        with unit_of_work(engine) as session:
            session.execute(text("INSERT INTO t VALUES (2)"))
            writing.set()
            finish.wait(10)

    writer = threading.Thread(target=write)
    writer.start()
    assert writing.wait(5)
    read: list[int] = []

    def read_while_writing() -> None:
        with read_only(engine) as session:
            read.extend(session.execute(text("SELECT n FROM t")).scalars())

    reader = threading.Thread(target=read_while_writing)
    reader.start()
    reader.join(5)
    # The reader got the committed snapshot while the writer still held the write lock.
    assert not reader.is_alive() and read == [1]
    finish.set()
    writer.join(10)
    with pytest.raises(OperationalError, match="readonly"), read_only(engine) as session:
        session.execute(text("INSERT INTO t VALUES (3)"))
    # The same pooled connections write again in an ordinary unit of work.
    for _ in range(3):
        with unit_of_work(engine) as session:
            assert session.execute(text("PRAGMA query_only")).scalar_one() == 0
            session.execute(text("INSERT INTO t VALUES (4)"))
    with engine.connect() as check:
        assert check.execute(text("SELECT n FROM t ORDER BY rowid")).scalars().all() == [
            1,
            2,
            4,
            4,
            4,
        ]
    engine.dispose()
