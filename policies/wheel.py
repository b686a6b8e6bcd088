"""The "wheel" of Texas counties: a person appointing picks among the next names in rotation.

The names come in round-robin order; the person sees the next `wheel_names` of them and, with
probability `wheel_favourite_bias`, picks their favourite among those shown instead of the
first. Each requester has fixed tastes (a stable ranking of lawyers), which is how favouritism
looks from outside.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from policies.base import Standings, Turn, least_recently_offered, turn_for_lawyer
from policies.vocabulary import RuleName


def taste(requester: str, licence: str) -> str:
    """How much a requester likes a lawyer: a stable order, the smallest is the favourite."""
    return hashlib.sha256(f"{requester}:{licence}".encode()).hexdigest()


@dataclass(frozen=True)
class Wheel:
    name: RuleName = RuleName.WHEEL

    def turn(self, standings: Standings) -> Turn:
        pairs = standings.all_lawyers()
        order = least_recently_offered(pairs)
        firm_of = {lw.licence: firm for firm, lw in pairs}
        shown = order[: standings.settings.wheel_names]
        favourite = min(shown, key=lambda licence: taste(standings.requester, licence))
        picked_favourite = standings.rng().random() < standings.settings.wheel_favourite_bias
        first = favourite if picked_favourite else shown[0]
        return turn_for_lawyer(
            standings,
            firm_of[first],
            first,
            order,
            {
                "lawyer_order": "a person picks among the next names in rotation",
                "shown": shown,
                "picked": "favourite" if picked_favourite and first != shown[0] else "first",
            },
        )


WHEEL = Wheel()
