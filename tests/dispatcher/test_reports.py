"""Every figure of the fairness report against a small history computed by hand.

The history is inserted as minimal rows (requests, decisions with their shares, invitations,
appointments, tablet lists and choices) so that times and shares are exact; the registry is
the small one of the fixtures (CEN: F1 with L-11..13, F2 with L-21..22, F3 with L-31).

    d1 rotation F2 → L-21 accepted   r1 detention, counsel after 60 s    (court)
    d2 rotation F2 → L-21 accepted   r2 detention, 120 s                  (court)
    d3 rotation F1 → L-11 accepted   r3 detention, 600 s                  (court)
    d4 rotation F3 → L-31 declined "ill"; r4 standard ends unfilled      (court)
    d5 choice (not charged) → L-21 accepted  r5 standard, 3600 s         (investigator)
       the suspect chose position 1 of [L-21 F2, L-11 F1, L-31 F3, L-12 F1]
    r6: the suspect chose position 1 of [L-11 F1, L-21 F2]; no decision yet  (investigator)
    r7: the suspect let the system choose from [L-12 F1, L-22 F2]              (investigator)

Each rotation decision shares F1 1/2, F2 1/3, F3 1/6.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlmodel import Session, select

from dispatcher.db import unit_of_work
from dispatcher.models import (
    Appointment,
    Choice,
    ChoiceSession,
    Decision,
    DecisionShare,
    Firm,
    Invitation,
    Lawyer,
    Request,
    Requester,
    TabletOption,
    Territory,
)
from dispatcher.reports import fairness, flags
from dispatcher.reports.rows import FairnessReport
from dispatcher.runtime import Runtime

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SHARES = {"F1": 1 / 2, "F2": 1 / 3, "F3": 1 / 6}


class History:
    """Inserts the rows of the hand example."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.lawyers = {lw.licence: lw for lw in session.exec(select(Lawyer)).all()}
        self.firms = {f.code: f for f in session.exec(select(Firm)).all()}
        cen = session.exec(select(Territory).where(Territory.code == "CEN")).one()
        assert cen.id is not None
        self.territory_id = cen.id
        self.requesters: dict[str, int] = {}
        for role, name in (("court", "Court One"), ("investigator", "Police One")):
            requester = Requester(role=role, name=name, territory_id=cen.id)
            session.add(requester)
            session.flush()
            assert requester.id is not None
            self.requesters[role] = requester.id

    def request(self, ref: str, role: str, urgency: str, at: datetime, status: str) -> Request:
        r = Request(
            requester_id=self.requesters[role],
            external_ref=ref,
            payload_hash="0" * 64,
            kind="court_order" if role == "court" else "investigation",
            case_number=f"C-{ref}",
            territory_id=self.territory_id,
            urgency=urgency,
            category="grave",
            person_name=f"P {ref}",
            person_language="az",
            status=status,
            created_at=at,
            updated_at=at,
        )
        self.session.add(r)
        self.session.flush()
        return r

    def decide(
        self, r: Request, kind: str, licence: str, *, charged: bool, at: datetime
    ) -> Decision:
        lawyer = self.lawyers[licence]
        d = Decision(
            request_id=r.id,
            territory_id=self.territory_id,
            kind=kind,
            firm_id=lawyer.firm_id,
            lawyer_id=lawyer.id,
            charged=charged,
            policy_version="test",
            explanation={},
            created_at=at,
        )
        self.session.add(d)
        self.session.flush()
        assert d.id is not None
        if charged:
            for code, share in SHARES.items():
                firm_id = self.firms[code].id
                assert firm_id is not None
                self.session.add(
                    DecisionShare(
                        decision_id=d.id,
                        firm_id=firm_id,
                        share=share,
                        charged=int(firm_id == lawyer.firm_id),
                    )
                )
        return d

    def invite(
        self, r: Request, d: Decision, status: str, answered: datetime, reason: str | None = None
    ) -> None:
        assert d.lawyer_id is not None and d.id is not None
        lawyer = self.lawyers[self._licence(d.lawyer_id)]
        assert lawyer.id is not None
        invitation = Invitation(
            request_id=r.id,
            lawyer_id=lawyer.id,
            firm_id=lawyer.firm_id,
            decision_id=d.id,
            status=status,
            deadline=answered + timedelta(hours=1),
            created_at=d.created_at,
            answered_at=answered,
            decline_reason=reason,
        )
        self.session.add(invitation)
        self.session.flush()
        if status == "accepted":
            self.session.add(
                Appointment(
                    request_id=r.id,
                    invitation_id=invitation.id,
                    lawyer_id=lawyer.id,
                    firm_id=lawyer.firm_id,
                    opened_at=answered,
                )
            )

    def _licence(self, lawyer_id: int) -> str:
        return next(code for code, lw in self.lawyers.items() if lw.id == lawyer_id)

    def choose(self, r: Request, shown: list[str], kind: str, position: int | None) -> None:
        options = [
            TabletOption(
                position=i, lawyer=licence, name=licence, firm=self._firm(licence), languages=["az"]
            )
            for i, licence in enumerate(shown, start=1)
        ]
        tablet = ChoiceSession(
            request_id=r.id,
            token_hash=f"{r.id:0<64}"[:64],
            language="az",
            options=options,
            expires_at=r.created_at + timedelta(minutes=30),
        )
        self.session.add(tablet)
        self.session.flush()
        chosen = self.lawyers[shown[position - 1]].id if position else None
        self.session.add(
            Choice(
                request_id=r.id,
                session_id=tablet.id,
                kind=kind,
                lawyer_id=chosen,
                position=position,
                options=options,
                language="az",
                chosen_at=r.created_at + timedelta(seconds=30),
            )
        )

    def _firm(self, licence: str) -> str:
        return next(c for c, f in self.firms.items() if f.id == self.lawyers[licence].firm_id)


def hand_history(rt: Runtime) -> None:
    with unit_of_work(rt.engine) as session:
        h = History(session)
        for i, (licence, seconds) in enumerate((("L-21", 60), ("L-21", 120), ("L-11", 600))):
            at = T0 + timedelta(hours=i)
            r = h.request(f"r{i + 1}", "court", "detention", at, "assigned")
            d = h.decide(r, "rotation", licence, charged=True, at=at)
            h.invite(r, d, "accepted", at + timedelta(seconds=seconds))
        at = T0 + timedelta(hours=3)
        r4 = h.request("r4", "court", "standard", at, "unfilled")
        h.invite(r4, h.decide(r4, "rotation", "L-31", charged=True, at=at), "declined", at, "ill")
        at = T0 + timedelta(hours=4)
        r5 = h.request("r5", "investigator", "standard", at, "assigned")
        h.choose(r5, ["L-21", "L-11", "L-31", "L-12"], "lawyer", 1)
        d5 = h.decide(r5, "choice", "L-21", charged=False, at=at)
        h.invite(r5, d5, "accepted", at + timedelta(seconds=3600))
        r6 = h.request("r6", "investigator", "standard", T0 + timedelta(hours=5), "inviting")
        h.choose(r6, ["L-11", "L-21"], "lawyer", 1)
        r7 = h.request("r7", "investigator", "standard", T0 + timedelta(hours=6), "inviting")
        h.choose(r7, ["L-12", "L-22"], "delegate", None)


@pytest.fixture
def report(small: Runtime) -> FairnessReport:
    hand_history(small)
    with unit_of_work(small.engine) as session:
        return fairness.fairness(session, "CEN", None, None)


def test_firm_figures_match_the_hand_example(report: dict[str, Any]) -> None:
    rows = {r["firm"]: r for r in report["firms"]}
    assert report["decisions"] == 4
    expected = {
        # entitlement, offers, accepted, declined, deviation
        "F1": (2.0, 1, 1, 0, -1.0),
        "F2": (4 / 3, 2, 2, 0, 2 / 3),
        "F3": (2 / 3, 1, 0, 1, 1 / 3),
    }
    for firm, (entitlement, offers, accepted, declined, deviation) in expected.items():
        row = rows[firm]
        assert row["entitlement"] == pytest.approx(entitlement, abs=1e-4)
        assert (row["offers"], row["accepted"], row["declined"]) == (offers, accepted, declined)
        assert row["rotation_offers"] == offers and row["chosen"] == 0
        assert row["deviation"] == pytest.approx(deviation, abs=1e-4)
    assert rows["F2"]["stages"] == {
        "rotation": {
            "entitlement": 1.3333,
            "offers": 2,
            "accepted": 2,
            "declined": 0,
            "expired": 0,
            "deviation": 0.6667,
        },
        # d5 was a choice the policy did not charge: no stage figures for it.
        "choice": dict.fromkeys(
            ("entitlement", "offers", "accepted", "declined", "expired", "deviation"), 0
        ),
    }
    assert rows["F3"]["declined_by_reason"] == {"ill": 1}
    assert rows["F3"]["decline_rate"] == 1.0 and rows["F2"]["acceptance_rate"] == 1.0
    assert {f: r["weight"] for f, r in rows.items()} == {"F1": 3, "F2": 2, "F3": 1}
    assert report["max_abs_deviation"] == pytest.approx(1.0)
    # B* of weights 3, 2, 1: F1 F2 F3 F1 F2 F1 keeps every firm within 1/2 (F3 at its first
    # turn), and no order does better.
    assert (report["optimum"], report["optimum_deviation"]) == ("1/2", 0.5)
    assert report["max_deviation"] == pytest.approx(2 / 3, abs=1e-4)
    # ½(|1/4 − 1/2| + |2/4 − 1/3| + |1/4 − 1/6|) = ½(1/4 + 1/6 + 1/12) = 1/4
    assert report["loosemore_hanby"] == pytest.approx(0.25)
    # offers per unit of entitlement 1/2, 3/2, 3/2 weighted 2, 4/3, 2/3: mean 1,
    # Σ w_i w_j |x_i − x_j| = 2 (2·4/3 + 2·2/3) = 8, G = 8 / (2 · 4² · 1) = 1/4
    assert report["gini"] == pytest.approx(0.25)


def test_concentration_lawyers_and_times_match_the_hand_example(report: dict[str, Any]) -> None:
    # Appointments L-21 3, L-11 1 among 6 listed lawyers: the top ceil(0.6) = 1 lawyer took
    # 3/4. Four appointments spread as evenly as possible over six lawyers give the busiest one
    # 1/4 (not the 1/6 of a long run), so the limit is 3 · 1/4 = 3/4 and 3/4 is not over it.
    assert report["listed_lawyers"] == 6 and report["top10_lawyers"] == 1
    assert report["top10_share"] == pytest.approx(0.75)
    assert report["top10_limit"] == pytest.approx(0.75)
    assert report["top10_exceeds"] is False
    lawyers = {r["lawyer"]: r for r in report["lawyers"]}
    # Every lawyer invited, and (since the per-lawyer figures) every lawyer entitled.
    assert {lw for lw, r in lawyers.items() if r["invitations"]} == {"L-11", "L-21", "L-31"}
    firms = {r["firm"]: r for r in report["firms"]}
    for firm, row in firms.items():
        own = [r for r in lawyers.values() if r["firm"] == firm]
        # The firm's share split among its lawyers: their entitlements and offers add up.
        assert sum(r["entitlement"] for r in own) == pytest.approx(row["entitlement"], abs=1e-3)
        assert sum(r["offers"] for r in own) == row["offers"]
    for r in lawyers.values():
        assert r["deviation"] == pytest.approx(r["offers"] - r["entitlement"], abs=1e-3)
    assert report["lawyer_max_abs_deviation"] == max(abs(r["deviation"]) for r in lawyers.values())
    assert (lawyers["L-21"]["invitations"], lawyers["L-21"]["chosen"]) == (3, 1)
    assert lawyers["L-21"]["appointments"] == 3
    assert lawyers["L-31"]["declined"] == 1 and lawyers["L-31"]["acceptance_rate"] == 0.0
    ttc = report["time_to_counsel"]
    assert ttc["detention"] == {
        "requests": 3,
        "assigned": 3,
        "p50_s": 120,
        "p90_s": 600,
        "p99_s": 600,
        "mean_s": 260.0,
    }
    assert ttc["standard"]["requests"] == 4 and ttc["standard"]["assigned"] == 1
    assert ttc["standard"]["p50_s"] == ttc["standard"]["p99_s"] == 3600


def test_choice_stage_and_positions_match_the_hand_example(report: dict[str, Any]) -> None:
    stage = report["choice_stage"]
    assert stage["choices"] == 3
    assert stage["by_kind"] == {"lawyer": 2, "delegate": 1, "own_counsel": 0}
    # r5's list gives F1 2/4, F2 1/4, F3 1/4; r6's F1 1/2, F2 1/2 (r7 delegated: no choice).
    assert stage["firms"] == [
        {"firm": "F1", "chosen": 1, "expected": 1.0},
        {"firm": "F2", "chosen": 1, "expected": 0.75},
        {"firm": "F3", "chosen": 0, "expected": 0.25},
    ]
    # (1 − 1)²/1 + (1 − 0.75)²/0.75 + (0 − 0.25)²/0.25 = 1/12 + 1/4 = 1/3
    assert stage["chi_square"]["statistic"] == pytest.approx(1 / 3, abs=1e-6)
    assert stage["chi_square"]["dof"] == 2
    positions = report["position_choice_counts"]["positions"]
    # Lists of 4 and 2 entries: positions 1, 2 expect 1/4 + 1/2; positions 3, 4 expect 1/4.
    assert positions == [
        {"position": 1, "chosen": 2, "expected": 0.75},
        {"position": 2, "chosen": 0, "expected": 0.75},
        {"position": 3, "chosen": 0, "expected": 0.25},
        {"position": 4, "chosen": 0, "expected": 0.25},
    ]
    # 1.25²/0.75 + 0.75 + 0.25 + 0.25
    chi = report["position_choice_counts"]["chi_square"]
    assert chi["statistic"] == pytest.approx(1.5625 / 0.75 + 1.25, abs=1e-6)
    assert chi["dof"] == 3


def test_the_period_keeps_only_its_decisions(small: Runtime) -> None:
    hand_history(small)
    with unit_of_work(small.engine) as session:
        late = fairness.fairness(session, "CEN", T0 + timedelta(minutes=90), None)
        early = fairness.fairness(session, "CEN", None, T0 + timedelta(minutes=90))
    # d3 and d4 after 10:30; d1 and d2 before.
    assert late["decisions"] == 2 and early["decisions"] == 2
    late_rows = {r["firm"]: r["offers"] for r in late["firms"]}
    assert late_rows == {"F1": 1, "F2": 0, "F3": 1}
    assert early["time_to_counsel"]["detention"]["p99_s"] == 120
    assert late["time_to_counsel"]["detention"]["p50_s"] == 600


def test_series_and_overview_add_up(small: Runtime) -> None:
    hand_history(small)
    with unit_of_work(small.engine) as session:
        series = fairness.firm_series(session, "CEN", None, None)
        overview = {r["territory"]: r for r in fairness.territories_overview(session, None, None)}
    [(day, entitlement, offers)] = series["F2"]
    assert (day, offers) == ("2026-03-02", 2)
    assert entitlement == pytest.approx(4 / 3)
    assert overview["CEN"]["decisions"] == 4
    assert overview["CEN"]["max_abs_deviation"] == pytest.approx(1.0)
    assert overview["CEN"]["optimum_deviation"] == 0.5
    assert overview["CEN"]["loosemore_hanby"] == pytest.approx(0.25)
    assert overview["NOR"]["decisions"] == 0


def test_pair_tests_match_the_hand_example(small: Runtime) -> None:
    hand_history(small)
    with unit_of_work(small.engine) as session:
        rows = {(r["requester"], r["lawyer"]): r for r in flags.pair_tests(session)}
    # Police One: two choices; L-21 was on both lists (1/4 + 1/2) and chosen once.
    police = rows[("Police One", "L-21")]
    assert (police["requests"], police["to_lawyer"], police["expected"]) == (2, 1, 0.75)
    assert police["p_value"] == pytest.approx(1 - (1 - 0.375) ** 2)
    assert rows[("Police One", "L-31")]["expected"] == 0.25
    assert rows[("Police One", "L-31")]["p_value"] == 1.0
    # Court One: three rotation appointments, L-21 has 2/3 of them in CEN.
    court = rows[("Court One", "L-21")]
    assert (court["requests"], court["to_lawyer"], court["expected"]) == (3, 2, 2.0)
    assert court["p_value"] == pytest.approx(20 / 27)
    assert rows[("Court One", "L-11")]["p_value"] == pytest.approx(19 / 27)
    assert len(rows) == 6
    assert all(r["q_value"] == pytest.approx(1.0) and not r["flagged"] for r in rows.values())


# --- the arithmetic on aggregated rows ----------------------------------------------------------


@given(st.lists(st.floats(min_value=0.01, max_value=100), min_size=1, max_size=12))
def test_proportional_work_has_no_inequality(entitlement: list[float]) -> None:
    offers = [3.0 * e for e in entitlement]
    assert fairness.loosemore_hanby(offers, entitlement) == pytest.approx(0.0, abs=1e-9)
    per_unit = [o / e for o, e in zip(offers, entitlement, strict=True)]
    assert fairness.weighted_gini(per_unit, entitlement) == pytest.approx(0.0, abs=1e-9)


@given(
    st.lists(
        st.tuples(st.integers(0, 50), st.floats(min_value=0.01, max_value=50)),
        min_size=1,
        max_size=12,
    )
)
def test_indices_stay_between_zero_and_one(firms: list[tuple[int, float]]) -> None:
    offers = [float(o) for o, _ in firms]
    entitlement = [e for _, e in firms]
    assert -1e-9 <= fairness.loosemore_hanby(offers, entitlement) <= 1 + 1e-9
    per_unit = [o / e for o, e in firms]
    assert -1e-9 <= fairness.weighted_gini(per_unit, entitlement) < 1


@given(st.lists(st.integers(0, 10_000), min_size=1, max_size=200), st.floats(0.01, 1.0))
def test_nearest_rank_on_a_histogram_is_the_sorted_value(values: list[int], q: float) -> None:
    histogram: dict[int, int] = {}
    for v in values:
        histogram[v] = histogram.get(v, 0) + 1
    ordered = sorted(values)
    rank = max(1, -(-q * len(values) // 1))
    assert fairness.nearest_rank(list(histogram.items()), q) == ordered[int(rank) - 1]


@given(st.lists(st.integers(0, 30), max_size=60), st.integers(0, 80))
def test_the_top_tenth_never_takes_less_than_its_share(counts: list[int], extra: int) -> None:
    result = fairness.concentration(counts, len(counts) + extra)
    if sum(counts):
        k, n = result["top10_lawyers"], result["listed"]
        assert result["top10_share"] >= k / n - 1e-9
        # Never stricter than the Texas rule's three times k/n, and the same once every
        # listed lawyer can have as many appointments as any other.
        assert result["top10_limit"] >= min(1.0, 3 * k / n) - 1e-12
        if sum(counts) % n == 0:
            assert result["top10_limit"] == pytest.approx(min(1.0, 3 * k / n))


@given(st.integers(0, 2_000), st.integers(1, 150))
def test_no_spread_is_flagged_that_no_rotation_could_make_more_even(
    total: int, listed: int
) -> None:
    # The evenest spread of `total` appointments over `listed` lawyers: some one more than the
    # rest. Its busiest tenth takes exactly the even share and is never flagged, however few
    # the appointments (three times k/n flagged a week's spread in nearly every territory).
    each, left = divmod(total, listed)
    counts = [each + 1] * left + [each] * (listed - left)
    result = fairness.concentration(counts, listed)
    k = result["top10_lawyers"]
    if total:
        assert result["top10_share"] == pytest.approx(fairness.even_top_share(total, listed, k))
    assert result["top10_share"] <= result["top10_limit"]


@given(st.integers(16, 150), st.integers(0, 3_000))
def test_one_lawyer_taking_everything_is_flagged_once_every_lawyer_could_have_one(
    listed: int, beyond: int
) -> None:
    # With at least as many appointments as lawyers the limit is at most 3 · 2k/n, under 1 from
    # 16 lawyers on: the allowance for few appointments never excuses a monopoly.
    total = listed + beyond
    result = fairness.concentration([total], listed)
    assert result["top10_share"] == 1.0 and result["top10_limit"] < 1.0
