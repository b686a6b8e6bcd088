"""Who is on duty when, by the approved rotas of a territory: the fact eligibility reads.

Read with the territory's other registry facts (approving a rota is a registry change, so a
process reads the cover afresh after it) and kept between decisions.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlmodel import Session, col

from dispatcher.models import Rota, RotaAssignment
from policies.vocabulary import RotaStatus


@dataclass(frozen=True)
class RotaCover:
    """The approved rotas' periods and duties of one territory (times in UTC)."""

    periods: tuple[tuple[datetime, datetime], ...]
    # Duties sorted by start: (start, end, lawyer id).
    duties: tuple[tuple[datetime, datetime, int], ...]

    def on_duty(self, at: datetime) -> frozenset[int] | None:
        """The lawyers on duty at `at`, or None when no approved rota covers that moment
        (then the weekly duty windows apply)."""
        if not any(start <= at < end for start, end in self.periods):
            return None
        upto = bisect_right(self.duties, (at, datetime.max.replace(tzinfo=at.tzinfo), 1 << 62))
        return frozenset(lid for start, end, lid in self.duties[:upto] if start <= at < end)


NO_COVER = RotaCover((), ())


def read_cover(session: Session, territory_id: int) -> RotaCover:
    """The territory's approved rotas as eligibility reads them."""
    rotas = session.execute(
        select(col(Rota.id), col(Rota.starts_at), col(Rota.ends_at)).where(
            col(Rota.territory_id) == territory_id, col(Rota.status) == RotaStatus.APPROVED
        )
    ).all()
    if not rotas:
        return NO_COVER
    duties = session.execute(
        select(
            col(RotaAssignment.starts_at),
            col(RotaAssignment.ends_at),
            col(RotaAssignment.lawyer_id),
        ).where(col(RotaAssignment.rota_id).in_([r[0] for r in rotas]))
    ).all()
    return RotaCover(
        periods=tuple(sorted((r[1], r[2]) for r in rotas)),
        duties=tuple(sorted((d[0], d[1], d[2]) for d in duties)),
    )
