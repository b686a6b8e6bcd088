"""Standings for the rule tests: firms and lawyers as a decision would see them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

from policies.base import Standings
from policies.config import Rotation, load_policy_book
from policies.quota import FirmStanding, LawyerStanding

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
# The rotation settings of the default policy file; a test's `settings` replace some of them.
DEFAULT_ROTATION = load_policy_book().default.rotation.model_dump()


def standings(
    lawyers: Mapping[str, Sequence[LawyerStanding]],
    *,
    weights: dict[str, float] | None = None,
    entitlement: dict[str, float] | None = None,
    offers: dict[str, int] | None = None,
    key: str = "k",
    requester: str = "r",
    **settings: object,
) -> Standings:
    return Standings(
        firms=[
            FirmStanding(
                firm=f,
                weight=(weights or {}).get(f, float(len(lws))),
                entitlement=(entitlement or {}).get(f, 0.0),
                offers=(offers or {}).get(f, 0),
            )
            for f, lws in lawyers.items()
        ],
        lawyers_of=lambda f: lawyers[f],
        settings=Rotation.model_validate(DEFAULT_ROTATION | settings),
        requester=requester,
        draw_key=key,
    )


def lawyer(licence: str, minutes_ago: int | None = None, **kw: float) -> LawyerStanding:
    offered = None if minutes_ago is None else T0 - timedelta(minutes=minutes_ago)
    return LawyerStanding(
        licence,
        float(kw.get("workload", 0.0)),
        offered,
        float(kw.get("entitlement", 0.0)),
        int(kw.get("offers", 0)),
    )
