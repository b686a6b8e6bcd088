"""A uniform lottery over the eligible lawyers, seeded per decision so that it can be replayed.

Fair in expectation, but a firm's count drifts from its entitlement with the square root of
the volume.
"""

from __future__ import annotations

from dataclasses import dataclass

from policies.base import Standings, Turn, turn_for_lawyer
from policies.vocabulary import RuleName


@dataclass(frozen=True)
class Lottery:
    name: RuleName = RuleName.LOTTERY

    def turn(self, standings: Standings) -> Turn:
        pairs = standings.all_lawyers()
        rng = standings.rng()
        drawn = rng.randrange(len(pairs))
        firm, first = pairs[drawn][0], pairs[drawn][1].licence
        rest = [lw.licence for f, lw in pairs if f == firm]
        rng.shuffle(rest)
        return turn_for_lawyer(
            standings,
            firm,
            first,
            rest,
            {"lawyer_order": "uniform draw among the eligible lawyers", "drawn": drawn},
        )


LOTTERY = Lottery()
