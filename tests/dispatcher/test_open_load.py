"""A lawyer's `open_load` is kept by the database: whatever writes invitations and appointments
(single rows, many rows at once, moves, deletions), every lawyer's count stays their open
appointments plus pending invitations, counted afresh."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pytest import raises
from sqlalchemy import Connection, text
from sqlmodel import col, select

from dispatcher.db import unit_of_work
from dispatcher.models import Lawyer, OpenLoadWritten, new_id
from tests.support.clients import make_token
from tests.support.flows import accept_and_close, accept_pending, runtime_at, submit_request
from tests.support.registries import load_registry, small_registry

STATUSES = ("pending", "accepted", "declined", "expired", "withdrawn", "undeliverable")
REQUESTS = 4
_COUNTED = text(
    "SELECT l.id, l.open_load, "
    "(SELECT count(*) FROM appointment a WHERE a.lawyer_id = l.id AND a.closed_at IS NULL) + "
    "(SELECT count(*) FROM invitation i WHERE i.lawyer_id = l.id AND i.status = 'pending') "
    "FROM lawyer l ORDER BY l.id"
)


def kept_and_counted(conn: Connection) -> tuple[dict[int, int], dict[int, int]]:
    """Every lawyer's `open_load`, and their open work counted from the rows."""
    rows = conn.execute(_COUNTED).all()
    return {r[0]: r[1] for r in rows}, {r[0]: r[2] for r in rows}


def _step() -> st.SearchStrategy[tuple[Any, ...]]:
    pick = st.integers(min_value=0, max_value=40)
    return st.one_of(
        st.tuples(st.just("invite"), pick, pick, st.sampled_from(STATUSES)),
        st.tuples(st.just("invite_many"), pick, st.sampled_from(STATUSES)),
        st.tuples(st.just("status"), pick, st.sampled_from(STATUSES)),
        st.tuples(st.just("expire_all"), pick),
        st.tuples(st.just("move_invitation"), pick, pick),
        st.tuples(st.just("delete_invitation"), pick),
        st.tuples(st.just("appoint"), pick, st.booleans()),
        st.tuples(st.just("close"), pick, st.booleans()),
        st.tuples(st.just("close_all"), pick),
        st.tuples(st.just("move_appointment"), pick, pick),
        st.tuples(st.just("delete_appointment"), pick),
        st.tuples(
            st.just("delete_all"),
        ),
    )


class Work:
    """Applies steps as raw SQL, choosing only rows the schema's constraints accept."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.lawyers = [
            (int(i), int(f)) for i, f in conn.execute(text("SELECT id, firm_id FROM lawyer"))
        ]
        self.requests = [
            (str(r), int(d))
            for r, d in conn.execute(
                text("SELECT request_id, min(id) FROM decision GROUP BY request_id")
            )
        ]

    def rows(self, sql: str, **params: Any) -> list[Any]:
        result = self.conn.execute(text(sql), params)
        return list(result) if result.returns_rows else []

    def invitation(self, n: int) -> str | None:
        found = self.rows("SELECT id FROM invitation ORDER BY id")
        return str(found[n % len(found)][0]) if found else None

    def appointment(self, n: int) -> str | None:
        found = self.rows("SELECT id FROM appointment ORDER BY id")
        return str(found[n % len(found)][0]) if found else None

    def may_be_pending(self, request_id: str, status: str, other: str = "") -> bool:
        if status != "pending":
            return True
        return not self.rows(
            "SELECT 1 FROM invitation WHERE request_id = :r AND status = 'pending' AND id <> :o",
            r=request_id,
            o=other,
        )

    def invite_rows(self, lawyer: int, request: int, status: str) -> dict[str, Any]:
        lawyer_id, firm_id = self.lawyers[lawyer % len(self.lawyers)]
        request_id, decision_id = self.requests[request % len(self.requests)]
        return {
            "id": new_id(),
            "r": request_id,
            "l": lawyer_id,
            "f": firm_id,
            "d": decision_id,
            "s": status,
        }

    def apply(self, step: tuple[Any, ...]) -> None:
        kind, *args = step
        insert = text(
            "INSERT INTO invitation (id, request_id, lawyer_id, firm_id, decision_id, status, "
            "deadline, created_at, delivery) VALUES (:id, :r, :l, :f, :d, :s, "
            "'2026-01-01 00:00:00', '2026-01-01 00:00:00', 'pending')"
        )
        if kind == "invite":
            row = self.invite_rows(args[0], args[1], args[2])
            if self.may_be_pending(row["r"], row["s"]):
                self.conn.execute(insert, row)
        elif kind == "invite_many":
            # One statement, many rows (the driver's executemany), as bulk writers do.
            rows = [self.invite_rows(args[0] + n, n, args[1]) for n in range(len(self.requests))]
            if all(self.may_be_pending(row["r"], row["s"]) for row in rows):
                self.conn.execute(insert, rows)
        elif kind == "status":
            found = self.invitation(args[0])
            if found is not None:
                (request_id,) = self.rows(
                    "SELECT request_id FROM invitation WHERE id = :i", i=found
                )[0]
                if self.may_be_pending(request_id, args[1], found):
                    self.rows("UPDATE invitation SET status = :s WHERE id = :i", s=args[1], i=found)
        elif kind == "expire_all":
            # One statement, many rows: a lawyer's pending invitations expire together.
            lawyer_id = self.lawyers[args[0] % len(self.lawyers)][0]
            self.rows(
                "UPDATE invitation SET status = 'expired' "
                "WHERE lawyer_id = :l AND status = 'pending'",
                l=lawyer_id,
            )
        elif kind == "move_invitation":
            found = self.invitation(args[0])
            if found is not None:
                lawyer_id, firm_id = self.lawyers[args[1] % len(self.lawyers)]
                self.rows(
                    "UPDATE invitation SET lawyer_id = :l, firm_id = :f WHERE id = :i",
                    l=lawyer_id,
                    f=firm_id,
                    i=found,
                )
        elif kind == "delete_invitation":
            found = self.invitation(args[0])
            if found is not None:
                self.rows("DELETE FROM appointment WHERE invitation_id = :i", i=found)
                self.rows("DELETE FROM invitation WHERE id = :i", i=found)
        elif kind == "appoint":
            found = self.invitation(args[0])
            if found is None:
                return
            request_id, lawyer_id, firm_id = self.rows(
                "SELECT request_id, lawyer_id, firm_id FROM invitation WHERE id = :i", i=found
            )[0]
            if self.rows(
                "SELECT 1 FROM appointment WHERE request_id = :r OR invitation_id = :i",
                r=request_id,
                i=found,
            ):
                return
            self.rows(
                "INSERT INTO appointment (id, request_id, invitation_id, lawyer_id, firm_id, "
                "opened_at, closed_at) VALUES (:id, :r, :i, :l, :f, '2026-01-01 00:00:00', "
                + ("'2026-01-02 00:00:00')" if args[1] else "NULL)"),
                id=new_id(),
                r=request_id,
                i=found,
                l=lawyer_id,
                f=firm_id,
            )
        elif kind == "close":
            found = self.appointment(args[0])
            if found is not None:
                closed = "'2026-01-02 00:00:00'" if args[1] else "NULL"
                self.rows(f"UPDATE appointment SET closed_at = {closed} WHERE id = :a", a=found)
        elif kind == "close_all":
            lawyer_id = self.lawyers[args[0] % len(self.lawyers)][0]
            self.rows(
                "UPDATE appointment SET closed_at = '2026-01-03 00:00:00' "
                "WHERE lawyer_id = :l AND closed_at IS NULL",
                l=lawyer_id,
            )
        elif kind == "move_appointment":
            found = self.appointment(args[0])
            if found is not None:
                lawyer_id, firm_id = self.lawyers[args[1] % len(self.lawyers)]
                self.rows(
                    "UPDATE appointment SET lawyer_id = :l, firm_id = :f WHERE id = :a",
                    l=lawyer_id,
                    f=firm_id,
                    a=found,
                )
        elif kind == "delete_appointment":
            found = self.appointment(args[0])
            if found is not None:
                self.rows("DELETE FROM appointment WHERE id = :a", a=found)
        elif kind == "delete_all":
            self.rows("DELETE FROM appointment")
            self.rows("DELETE FROM invitation")


def test_open_load_follows_every_write_of_open_work(tmp_path: Path) -> None:
    rt = runtime_at(tmp_path / "load.db")
    try:
        load_registry(rt, small_registry())
        make_token(rt, "court", "Court", territory="CEN")
        # Requests the workflow filled (a decision and an invitation each), some accepted,
        # one closed: the workflow's own writes are counted too.
        requests = [submit_request(rt, f"LOAD-{n}") for n in range(REQUESTS)]
        with unit_of_work(rt.engine) as session:
            accept_pending(session, rt, requests[0])
            accept_and_close(session, rt, requests[1])
        with rt.engine.connect() as conn:
            kept, counted = kept_and_counted(conn)
            assert kept == counted
            assert sum(kept.values()) == REQUESTS - 1

        @settings(
            max_examples=60,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        )
        @given(steps=st.lists(_step(), min_size=1, max_size=25))
        def run(steps: list[tuple[Any, ...]]) -> None:
            # Each example in a transaction rolled back: the next starts from the same rows.
            with rt.engine.connect() as conn, conn.begin() as outer:
                work = Work(conn)
                for step in steps:
                    work.apply(step)
                    kept, counted = kept_and_counted(conn)
                    assert kept == counted, step
                outer.rollback()

        run()
    finally:
        rt.stop()


def test_the_orm_never_writes_a_stale_open_load_back(tmp_path: Path) -> None:
    rt = runtime_at(tmp_path / "stale.db")
    try:
        load_registry(rt, small_registry())
        make_token(rt, "court", "Court", territory="CEN")
        with unit_of_work(rt.engine) as session:
            idle = session.exec(select(Lawyer).order_by(col(Lawyer.id))).all()
        # A detached copy of every lawyer, read when nobody had work: open_load 0 each.
        assert {lawyer.open_load for lawyer in idle} == {0}
        submit_request(rt, "STALE-1")
        with rt.engine.connect() as conn:
            kept, counted = kept_and_counted(conn)
        busy = next(lawyer for lawyer in idle if kept.get(lawyer.id or 0) == 1)
        # Merging the stale copy back would write 0 over the triggers' 1: refused, and the
        # transaction, with the registry change it carried, rolls back.
        with raises(OpenLoadWritten), unit_of_work(rt.engine) as session:
            busy.phone = "+994 12 000 00 00"
            session.merge(busy)
        with rt.engine.connect() as conn:
            assert kept_and_counted(conn) == (kept, counted)
            phone = conn.execute(
                text("SELECT phone FROM lawyer WHERE id = :i"), {"i": busy.id}
            ).scalar_one()
            assert phone != "+994 12 000 00 00"
        # An ordinary change of a lawyer is written, and the count is left as the triggers keep it.
        with unit_of_work(rt.engine) as session:
            fresh = session.get(Lawyer, busy.id)
            assert fresh is not None
            fresh.phone = "+994 12 000 00 01"
        with rt.engine.connect() as conn:
            assert kept_and_counted(conn) == (kept, counted)
            phone = conn.execute(
                text("SELECT phone FROM lawyer WHERE id = :i"), {"i": busy.id}
            ).scalar_one()
            assert phone == "+994 12 000 00 01"
    finally:
        rt.stop()
