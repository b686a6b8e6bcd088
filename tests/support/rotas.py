"""Approved rotas written as the test says (who is on duty when), for swaps, feeds and pages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import select

from dispatcher.db import unit_of_work
from dispatcher.models import Lawyer, Rota, RotaAssignment, Territory
from dispatcher.runtime import Runtime
from policies.vocabulary import RotaOutcome, RotaStatus

ZONE = ZoneInfo("Asia/Baku")


def local(day: str, hour: int) -> datetime:
    """`day` (YYYY-MM-DD) at `hour` o'clock in the territory's time."""
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=ZONE)


def approved_rota(
    rt: Runtime,
    duties: list[tuple[str, datetime]],
    *,
    territory: str = "CEN",
    start: datetime | None = None,
    days: int = 7,
    hours: int = 12,
) -> dict[tuple[str, datetime], int]:
    """An approved rota of `territory` with these duties (licence, local start) of `hours`
    hours; the assignments' ids by (licence, start)."""
    first = start or min(at for _, at in duties).replace(hour=8)
    with unit_of_work(rt.engine) as session:
        place = session.exec(select(Territory).where(Territory.code == territory)).one()
        assert place.id is not None
        rota = Rota(
            territory_id=place.id,
            starts_at=first.astimezone(UTC),
            ends_at=(first + timedelta(days=days)).astimezone(UTC),
            status=RotaStatus.APPROVED,
            outcome=RotaOutcome.FEASIBLE,
            solve_s=0.0,
            policy_version="test",
            created_by="test",
            approved_by="test",
        )
        session.add(rota)
        session.flush()
        made = {}
        for licence, at in duties:
            lawyer = session.exec(select(Lawyer).where(Lawyer.licence == licence)).one()
            assert lawyer.id is not None
            row = RotaAssignment(
                rota_id=rota.id,
                lawyer_id=lawyer.id,
                starts_at=at.astimezone(UTC),
                ends_at=(at + timedelta(hours=hours)).astimezone(UTC),
            )
            session.add(row)
            session.flush()
            assert row.id is not None
            made[licence, at] = row.id
    return made
