"""The lawyers' earnings in a territory's rotation, written a firm at a time.

At every charged decision each eligible firm's share is split equally among its eligible
lawyers. Writing each lawyer's standing then cost one row a lawyer (about 800 in a capital
district); instead a decision writes one row a firm (`lawyer_earning`: the part each lawyer
earns and who they are), and a lawyer's standing (`lawyer_rotation_state`) takes its firm's
rows when it is next read (`read_settled`, for `pool.workloads`): the rows in the order
written, each added to the standing as the decision would have added it, so every standing
read is the same number, to the last bit, as one charged lawyer by lawyer. A lawyer leaving
a firm takes the firm's rows first (`settle_firms`, from the registry).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from functools import lru_cache

from sqlmodel import Session
from typing_extensions import TypedDict

from dispatcher.allocation.statements import (
    EARNINGS_ADDED,
    FIRMS_EARNINGS,
    LAWYER_ENTITLEMENT,
    LAWYER_OFFER,
    LAWYER_STANDINGS,
    LAWYERS_READ,
    NEW_EARNINGS,
    PENDING_EARNINGS,
    executemany,
)


class Earning(TypedDict):
    """One firm's part of a charged decision: each of `lawyers` earns `earned`."""

    territory_id: int
    firm_id: int
    earned: float
    lawyers: str  # the lawyers' ids joined by commas


def earning(territory_id: int, firm_id: int, earned: float, lawyer_ids: Iterable[int]) -> Earning:
    return {
        "territory_id": territory_id,
        "firm_id": firm_id,
        "earned": earned,
        "lawyers": _joined(tuple(lawyer_ids)),
    }


@lru_cache(maxsize=16384)
def _joined(lawyer_ids: tuple[int, ...]) -> str:
    """The ids joined by commas: a firm's eligible lawyers are mostly the same from one
    decision to the next, and joining them anew cost a tenth of a millisecond a decision in a
    capital district of seventy firms."""
    return ",".join(map(str, lawyer_ids))


def earn(
    session: Session, territory_id: int, earnings: Sequence[Earning], chosen_lawyer_id: int
) -> None:
    """Record a charged decision's earnings, and the chosen lawyer's offer."""
    executemany(session, NEW_EARNINGS, earnings)
    session.execute(LAWYER_OFFER, {"territory": territory_id, "lawyer": chosen_lawyer_id})


def read_settled(
    session: Session, territory_id: int, lawyer_ids: Sequence[int]
) -> tuple[dict[int, tuple[float, int]], dict[int, datetime | None]]:
    """These lawyers' standings (entitlement, offers) in the territory's rotation, with their
    firms' earnings not yet added now added (and written), and their last offers.

    A lawyer with no standing yet and nothing earned is left out of the standings. The
    standings and last offers are read in one statement, with the lawyers the earnings name
    besides (a firm's earlier eligible lawyers), so that nothing is read twice."""
    if not lawyer_ids:
        return {}, {}
    pending = session.execute(
        PENDING_EARNINGS, {"territory": territory_id, "lawyers": list(lawyer_ids)}
    ).all()
    earned = _earned([(e, lws) for _id, e, lws in pending])
    asked = set(lawyer_ids)
    standing: dict[int, tuple[float, int]] = {}
    last_offer: dict[int, datetime | None] = {}
    for lawyer_id, at, entitlement, offers in session.execute(
        LAWYERS_READ, {"territory": territory_id, "lawyers": [*asked, *(earned.keys() - asked)]}
    ).all():
        if lawyer_id in asked:
            last_offer[lawyer_id] = at
        if entitlement is not None:
            standing[lawyer_id] = (float(entitlement), int(offers))
    if pending:
        updated: list[dict[str, object]] = []
        for lawyer_id, amounts in earned.items():
            # One addition at a time, as the charge of each decision added it.
            total, offers = standing.get(lawyer_id, (0.0, 0))
            for amount in amounts:
                total += amount
            standing[lawyer_id] = (total, offers)
            updated.append({"territory": territory_id, "lawyer": lawyer_id, "entitlement": total})
        executemany(session, LAWYER_ENTITLEMENT, updated)
        _added(session, [row[0] for row in pending])
    return {k: v for k, v in standing.items() if k in asked}, last_offer


def settle_firms(session: Session, firm_ids: Sequence[int]) -> None:
    """Add to the standings, in every territory, the earnings not yet added of these firms."""
    if not firm_ids:
        return
    rows = session.execute(FIRMS_EARNINGS, {"firms": list(firm_ids)}).all()
    if not rows:
        return
    by_territory: dict[int, list[tuple[float, str]]] = {}
    for _id, territory_id, e, lws in rows:
        by_territory.setdefault(territory_id, []).append((e, lws))
    _add(session, by_territory)
    _added(session, [row[0] for row in rows])


def _added(session: Session, ids: list[int]) -> None:
    session.execute(EARNINGS_ADDED, {"ids": ids})


def _earned(rows: Iterable[tuple[float, str]]) -> dict[int, list[float]]:
    """Each lawyer's parts of these earnings, in the order written."""
    earned: dict[int, list[float]] = {}
    for amount, lawyers in rows:
        for lawyer in lawyers.split(","):
            earned.setdefault(int(lawyer), []).append(amount)
    return earned


def _add(session: Session, earnings: dict[int, list[tuple[float, str]]]) -> None:
    """Add each territory's earnings (in the order written) to the lawyers' standings."""
    for territory_id, rows in earnings.items():
        earned = _earned(rows)
        found = {
            lawyer_id: float(entitlement)
            for lawyer_id, entitlement, _offers in session.execute(
                LAWYER_STANDINGS, {"territory": territory_id, "lawyers": list(earned)}
            ).all()
        }
        updated: list[dict[str, object]] = []
        for lawyer_id, amounts in earned.items():
            # One addition at a time, as the charge of each decision added it.
            total = found.get(lawyer_id, 0.0)
            for amount in amounts:
                total += amount
            updated.append({"territory": territory_id, "lawyer": lawyer_id, "entitlement": total})
        executemany(session, LAWYER_ENTITLEMENT, updated)
