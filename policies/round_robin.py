"""Plain round-robin over lawyers: the eligible lawyer whose last offer is oldest goes next.

The rule most rosters use today. It knows nothing of firms' weights or of who answers; it
still only sees the lawyers the eligibility filter let through (on duty, under the cap, not
conflicted). In the simulator it runs with one fixed deadline for every urgency, as such
rosters do (`FIXED_DEADLINE_S`).
"""

from __future__ import annotations

from dataclasses import dataclass

from policies.base import Standings, Turn, least_recently_offered, turn_for_lawyer
from policies.vocabulary import RuleName

# One answer deadline for every request, detention or not.
FIXED_DEADLINE_S = 3600


@dataclass(frozen=True)
class RoundRobin:
    name: RuleName = RuleName.ROUND_ROBIN

    def turn(self, standings: Standings) -> Turn:
        pairs = standings.all_lawyers()
        order = least_recently_offered(pairs)
        firm_of = {lw.licence: firm for firm, lw in pairs}
        first = order[0]
        return turn_for_lawyer(
            standings,
            firm_of[first],
            first,
            order,
            {"lawyer_order": "round-robin over the eligible lawyers: oldest last offer first"},
        )


ROUND_ROBIN = RoundRobin()
