"""The quota rule one level down: within the firm whose turn it is, the lawyer furthest below
their own entitlement goes first, and every lawyer stays within `LAWYER_BOUND` of it; with
detentions steered to the lawyers who answer, within `lawyer_bound(reach)`."""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import given, settings
from hypothesis import strategies as st

from policies.quota import (
    LAWYER_BOUND,
    FirmStanding,
    LawyerStanding,
    lawyer_bound,
    order_lawyers,
    rank_firms,
)
from tests.support.standings import T0


@dataclass
class Rotation:
    """A territory's rotation kept as the allocator keeps it: firms' and lawyers' standings,
    charged at every decision (each eligible firm earns its share, split equally among its
    eligible lawyers; the firm and the lawyer invited are charged an offer)."""

    firms: dict[str, list[str]]
    firm_entitlement: dict[str, float] = field(default_factory=dict)
    firm_offers: dict[str, int] = field(default_factory=dict)
    entitlement: dict[str, float] = field(default_factory=dict)
    offers: dict[str, int] = field(default_factory=dict)
    lapsed: set[str] = field(default_factory=set)  # let an invitation lapse lately

    def decide(self, excluded: set[str], reach: float | None = None) -> str | None:
        """One decision; `reach`: a detention steered to the lawyers who answer."""
        eligible = {f: [lw for lw in lws if lw not in excluded] for f, lws in self.firms.items()}
        eligible = {f: lws for f, lws in eligible.items() if lws}
        if not eligible:
            return None
        ranking = rank_firms(
            [
                FirmStanding(
                    f,
                    float(len(self.firms[f])),
                    self.firm_entitlement.get(f, 0.0),
                    self.firm_offers.get(f, 0),
                )
                for f in eligible
            ]
        )
        firm = ranking[0].firm
        queue = order_lawyers(
            [
                LawyerStanding(
                    lw,
                    0.0,
                    None,
                    self.entitlement.get(lw, 0.0),
                    self.offers.get(lw, 0),
                    lapsed=lw in self.lapsed,
                )
                for lw in eligible[firm]
            ],
            answering_reach=reach,
        )
        chosen = queue[0].licence
        for r in ranking:
            self.firm_entitlement[r.firm] = self.firm_entitlement.get(r.firm, 0.0) + r.share
            for lw in eligible[r.firm]:
                self.entitlement[lw] = self.entitlement.get(lw, 0.0) + r.share / len(
                    eligible[r.firm]
                )
        self.firm_offers[firm] = self.firm_offers.get(firm, 0) + 1
        self.offers[chosen] = self.offers.get(chosen, 0) + 1
        return chosen

    def deviation(self) -> float:
        return max(
            (abs(self.offers.get(lw, 0) - e) for lw, e in self.entitlement.items()), default=0.0
        )


def registry(sizes: list[int]) -> dict[str, list[str]]:
    return {f"F{i}": [f"A-{i}{j}" for j in range(n)] for i, n in enumerate(sizes)}


# A request's answers: how many invitations it takes before one is accepted (each of the
# earlier lawyers declined or let it lapse); the ladder never invites a lawyer twice.
registries = st.lists(st.integers(1, 5), min_size=1, max_size=6)
ladders = st.lists(st.integers(0, 3), min_size=1, max_size=150)


@settings(max_examples=300, deadline=None)
@given(sizes=registries, answers=ladders)
def test_every_lawyer_stays_within_the_bound_over_any_answers(
    sizes: list[int], answers: list[int]
) -> None:
    rotation = Rotation(registry(sizes))
    worst = 0.0
    for refusals in answers:
        invited: set[str] = set()
        for _ in range(refusals + 1):
            chosen = rotation.decide(invited)
            if chosen is None:
                break
            invited.add(chosen)
            worst = max(worst, rotation.deviation())
    assert worst <= LAWYER_BOUND + 1e-9


@settings(max_examples=200, deadline=None)
@given(sizes=registries, n=st.integers(1, 200))
def test_with_everyone_eligible_every_lawyer_stays_within_1(sizes: list[int], n: int) -> None:
    rotation = Rotation(registry(sizes))
    for _ in range(n):
        rotation.decide(set())
        assert rotation.deviation() < 1.0


# A request: whether it is a detention, and how many invitations before one is accepted; now
# and then the set of lawyers who let an invitation lapse lately changes (a lapse is made, or
# leaves the window).
requests = st.lists(
    st.tuples(st.booleans(), st.integers(0, 3), st.none() | st.sets(st.integers(0, 29))),
    min_size=1,
    max_size=150,
)


@settings(max_examples=400, deadline=None)
@given(
    sizes=registries,
    flow=requests,
    reach=st.sampled_from([0.0, 0.5, 1.0, 2.0]),
    lapsed=st.sets(st.integers(0, 29)),
)
def test_detentions_steered_to_those_who_answer_keep_every_lawyer_within_the_bound(
    sizes: list[int],
    flow: list[tuple[bool, int, set[int] | None]],
    reach: float,
    lapsed: set[int],
) -> None:
    firms = registry(sizes)
    everyone = [lw for lws in firms.values() for lw in lws]

    def who(picked: set[int]) -> set[str]:
        return {everyone[i % len(everyone)] for i in picked}

    rotation = Rotation(firms, lapsed=who(lapsed))
    worst = 0.0
    for detention, refusals, relapsed in flow:
        if relapsed is not None:
            rotation.lapsed = who(relapsed)
        invited: set[str] = set()
        for _ in range(refusals + 1):
            chosen = rotation.decide(invited, reach if detention else None)
            if chosen is None:
                break
            invited.add(chosen)
            worst = max(worst, rotation.deviation())
    assert worst <= lawyer_bound(reach) + 1e-9


@settings(max_examples=200, deadline=None)
@given(sizes=registries, n=st.integers(1, 200), reach=st.sampled_from([0.0, 1.0, 2.0]))
def test_with_everyone_eligible_and_steered_every_lawyer_stays_within_1_plus_reach(
    sizes: list[int], n: int, reach: float
) -> None:
    firms = registry(sizes)
    rotation = Rotation(firms, lapsed={lws[-1] for lws in firms.values() if len(lws) > 1})
    for _ in range(n):
        rotation.decide(set(), reach)
        assert rotation.deviation() < 1.0 + reach


def test_steering_detentions_needs_the_wider_bound() -> None:
    # Two firms (1 and 3 lawyers), the first lawyer of each lets invitations lapse, every
    # request a detention; the fourth and eighth take three invitations each.
    rotation = Rotation(registry([1, 3]), lapsed={"A-00", "A-10"})
    worst = 0.0
    for refusals in [0, 0, 0, 2, 0, 0, 0, 2]:
        invited: set[str] = set()
        for _ in range(refusals + 1):
            chosen = rotation.decide(invited, 1.0)
            assert chosen is not None
            invited.add(chosen)
            worst = max(worst, rotation.deviation())
    assert LAWYER_BOUND < worst <= lawyer_bound(1.0)


def test_a_detention_goes_first_to_a_lawyer_who_answers_within_reach() -> None:
    lawyers = [
        LawyerStanding("A-1", 0.0, None, entitlement=3.0, offers=1, lapsed=True),
        LawyerStanding("A-2", 0.0, None, entitlement=3.0, offers=2),
        LawyerStanding("A-3", 0.0, None, entitlement=3.0, offers=3),
    ]
    detention = [s.licence for s in order_lawyers(lawyers, answering_reach=1.0)]
    assert detention == ["A-2", "A-1", "A-3"]
    # Beyond the reach the plain order holds: A-3 stands 2 behind A-1.
    assert order_lawyers(lawyers[::2], answering_reach=1.0)[0].licence == "A-1"
    # Standard requests, and ties with no reach, keep the plain order.
    assert [s.licence for s in order_lawyers(lawyers)] == ["A-1", "A-2", "A-3"]
    assert [s.licence for s in order_lawyers(lawyers, answering_reach=0.0)] == [
        "A-1",
        "A-2",
        "A-3",
    ]
    tied = [LawyerStanding("A-1", 0.0, None, lapsed=True), LawyerStanding("A-2", 0.0, T0)]
    assert [s.licence for s in order_lawyers(tied, answering_reach=0.0)] == ["A-2", "A-1"]
    assert [s.licence for s in order_lawyers(tied)] == ["A-1", "A-2"]


def test_the_lawyer_furthest_below_their_entitlement_goes_first() -> None:
    lawyers = [
        LawyerStanding("A-1", 0.0, None, entitlement=3.0, offers=3),
        LawyerStanding("A-2", 5.0, T0, entitlement=3.0, offers=1),
        LawyerStanding("A-3", 0.0, None, entitlement=3.0, offers=2),
    ]
    assert [s.licence for s in order_lawyers(lawyers)] == ["A-2", "A-3", "A-1"]
    assert order_lawyers(lawyers)[0].shortfall == 2.0
