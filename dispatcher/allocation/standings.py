"""The firms' and lawyers' standings in a territory's rotation: read, ranked, charged.

A firm's standing (its running entitlement and offers, a rotation_state row) is read and
written as plain values: the territory's lock (`decision.lock_territories`) serialises its
decisions, so what one decision reads no other changes before it charges. A lawyer's standing
(a lawyer_rotation_state row) is kept the same way one level down: at every charged decision
each eligible firm's share is split equally among its eligible lawyers, and the lawyer
invited (or chosen) is charged the offer. The turn firm's lawyers' standings are read with
their workloads (`pool.weigh`); the eligible lawyers' earnings are written a firm at a time
and added to their standings when these are next read (`earnings`).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session
from typing_extensions import TypedDict

from dispatcher.allocation.earnings import Earning, earn, earning
from dispatcher.allocation.pool import Pool, lawyer_standings
from dispatcher.allocation.registry_facts import LawyerRow
from dispatcher.allocation.statements import (
    CHARGE,
    NEW_SHARES,
    ROTATION_STATE,
    STANDINGS,
    executemany,
)
from dispatcher.models import Decision, Request
from policies.base import Standings, Turn, rule_named
from policies.config import Policy
from policies.quota import FirmStanding, RankedFirm, rank_firms


@dataclass
class Standing:
    """A firm's running entitlement and offers in the territory's rotation (a rotation_state
    row, read and written as plain values: the territory's lock serialises its decisions)."""

    entitlement: float
    offers: int


def read_standings(session: Session, territory_id: int) -> dict[int, Standing]:
    """Every firm's standing in the territory's rotation, by firm id: read once per decision."""
    return {
        firm_id: Standing(entitlement, offers)
        for firm_id, entitlement, offers in session.execute(
            STANDINGS, {"territory": territory_id}
        ).all()
    }


def firm_standings(session: Session, pool: Pool, states: dict[int, Standing]) -> list[FirmStanding]:
    """The pool's eligible firms as the rules see them, from the standings read.

    A firm the territory's rotation has not met yet starts at nothing: its row is written
    now (and added to `states`), so that the charge finds it.
    """
    missing = [firm_id for firm_id in pool.eligible if firm_id not in states]
    if missing:
        session.execute(
            ROTATION_STATE.insert(),
            [
                {"territory_id": pool.territory.id, "firm_id": f, "entitlement": 0.0, "offers": 0}
                for f in missing
            ],
        )
        states.update({f: Standing(0.0, 0) for f in missing})
    return [
        FirmStanding(
            firm=pool.firms[f].code,
            weight=pool.weights[f],
            entitlement=states[f].entitlement,
            offers=states[f].offers,
        )
        for f in pool.eligible
    ]


def rank(
    session: Session, pool: Pool, states: dict[int, Standing], *, optimum: bool = False
) -> list[RankedFirm]:
    """The eligible firms of the pool in rotation order (with `optimum`, by B*'s deadlines
    where the rotation is on its track: `policies.quota.rank_firms`)."""
    return rank_firms(firm_standings(session, pool, states), optimum=optimum)


def take_turn(
    session: Session, pool: Pool, request: Request, policy: Policy, states: dict[int, Standing]
) -> tuple[Turn, list[LawyerRow]]:
    """The policy's rule gives the turn among the pool's eligible firms and lawyers.

    Returns the rule's answer and the turn firm's lawyers in the order to try them.
    """
    standings = Standings(
        firms=firm_standings(session, pool, states),
        lawyers_of=lambda code: lawyer_standings(pool, pool.firm_id(code)),
        settings=policy.rotation,
        requester=str(request.requester_id),
        draw_key=f"{request.requester_id}:{request.external_ref}:{pool.attempt}",
        answering_reach=pool.answering_reach,
    )
    turn = rule_named(policy.rotation.rule).turn(standings)
    by_licence = {lw.licence: lw for lw in pool.eligible[pool.firm_id(turn.firm)]}
    return turn, [by_licence[licence] for licence in turn.queue]


class _StandingRow(TypedDict):
    territory: int
    firm: int
    new_entitlement: float
    new_offers: int


class _ShareRow(TypedDict):
    decision_id: int
    firm_id: int
    share: float
    charged: int


def charge(
    session: Session,
    decision: Decision,
    pool: Pool,
    ranking: list[RankedFirm],
    states: dict[int, Standing],
    chosen_firm_id: int,
    chosen_lawyer_id: int,
) -> None:
    """Every ranked firm earns its share of the decision, split equally among its eligible
    lawyers; the chosen firm and lawyer are charged an offer."""
    assert decision.id is not None
    shares: list[_ShareRow] = []
    standing: list[_StandingRow] = []
    earnings: list[Earning] = []
    territory_id = pool.territory.id
    for r in ranking:
        firm_id = pool.firm_ids[r.firm]
        state = states[firm_id]
        state.entitlement += r.share
        charged = 1 if firm_id == chosen_firm_id else 0
        state.offers += charged
        standing.append(
            {
                "territory": territory_id,
                "firm": firm_id,
                "new_entitlement": state.entitlement,
                "new_offers": state.offers,
            }
        )
        shares.append(
            {"decision_id": decision.id, "firm_id": firm_id, "share": r.share, "charged": charged}
        )
        eligible = pool.eligible[firm_id]
        earned = r.share / len(eligible)
        earnings.append(earning(territory_id, firm_id, earned, [lw.id for lw in eligible]))
    # Every eligible firm's standing, share and lawyers' earnings in one statement each.
    executemany(session, CHARGE, standing)
    executemany(session, NEW_SHARES, shares)
    earn(session, territory_id, earnings, chosen_lawyer_id)
