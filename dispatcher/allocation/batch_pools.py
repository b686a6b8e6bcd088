"""The pools of a batch's court orders in one territory at one moment, built from one read.

Requests of one batch in one territory at one moment share almost everything `build_pool`
reads and judges: the registry's facts, who is paused, who is at their cap, and how lawyers
alike are judged for the same need. Only a person's own invitations and conflicts differ.
So the moment is read once (`read_moment`), lawyers alike are judged once per need (urgency,
language, juvenile), and a person with no invitation and no conflicted firm (most of a fresh
batch) gets a copy of the pool built once for their need. Every pool equals what
`build_pool` gives for the same person (a property of the tests).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from datetime import datetime

from sqlmodel import Session

from dispatcher.allocation.pool import (
    Judged,
    Pool,
    conflicted_firms,
    pool_of,
    read_moment,
)
from dispatcher.allocation.registry_facts import TerritoryFacts
from dispatcher.allocation.statements import INVITED
from dispatcher.models import Request
from policies.config import Policy

# What a request asks of a lawyer, beside the moment and the policy the batch shares.
NeedKey = tuple[str, str, bool]


class BatchPools:
    """Pools for the requests of one batch in one territory, under one policy, at one moment."""

    def __init__(
        self, session: Session, facts: TerritoryFacts, policy: Policy, now: datetime
    ) -> None:
        self._session = session
        self._facts = facts
        self._policy = policy
        self._moment = read_moment(session, facts, now)
        self._judged: dict[NeedKey, Judged] = defaultdict(dict)
        self._plain: dict[NeedKey, Pool] = {}

    def pool(self, request: Request) -> Pool:
        """The request's pool, equal to `build_pool`'s at the same moment."""
        session = self._session
        need = (request.urgency, request.person_language, request.person_juvenile)
        invited = set(session.execute(INVITED, {"request": request.id}).scalars())
        conflicts = conflicted_firms(session, request)
        judged = self._judged[need]
        if invited or conflicts:
            return pool_of(
                session,
                request,
                self._facts,
                self._policy,
                self._moment,
                invited,
                conflicts,
                judged,
            )
        plain = self._plain.get(need)
        if plain is None:
            # Kept as the pattern, never handed out: every person gets a copy of their own.
            plain = self._plain[need] = pool_of(
                session, request, self._facts, self._policy, self._moment, set(), {}, judged
            )
        return _copy(plain)


def _copy(pool: Pool) -> Pool:
    """The same pool with containers of its own: a pool is filled in as rules weigh it."""
    return replace(
        pool,
        weights=defaultdict(float, pool.weights),
        eligible={firm_id: list(lawyers) for firm_id, lawyers in pool.eligible.items()},
        load=defaultdict(int, pool.load),
        excluded_firms=list(pool.excluded_firms),
        excluded_lawyers=list(pool.excluded_lawyers),
        firm_ids=dict(pool.firm_ids),
        workload=defaultdict(float),
        last_offer={},
        standing={},
        weighed_firms=set(),
        lapsed=set(),
    )
