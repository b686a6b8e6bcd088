"""The rotation through the real allocator and database: invariant 5, choices and starvation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import Session, col, select

from dispatcher import schemas, workflow
from dispatcher.db import unit_of_work
from dispatcher.models import Choice, Decision, Firm, RotationState
from dispatcher.runtime import Runtime
from policies.optimum import b_star
from policies.quota import quota_slack
from tests.support.clients import make_token
from tests.support.flows import (
    accept_and_close,
    accept_pending,
    context,
    open_request,
    runtime_at,
)
from tests.support.policies import policy_text
from tests.support.registries import load_registry, small_registry


def _registry(sizes: list[int]) -> dict[str, Any]:
    territory = {"code": "CEN", "name": {"az": "M", "ru": "Ц", "en": "C"}, "fallback": []}
    firms, lawyers = [], []
    for f, size in enumerate(sizes, start=1):
        firms.append({"code": f"F{f}", "name": f"Firm {f}", "territories": ["CEN"]})
        for n in range(size):
            lawyers.append(
                {
                    "licence": f"L-{f}-{n}",
                    "name": f"Lawyer {f}.{n}",
                    "firm": f"F{f}",
                    "territories": ["CEN"],
                    "languages": ["az"],
                    "max_open": 2,
                }
            )
    return {"territories": [territory], "firms": firms, "lawyers": lawyers, "conflicts": []}


def _standing(session: Session) -> dict[str, tuple[float, int]]:
    rows = session.exec(
        select(Firm.code, RotationState.entitlement, RotationState.offers).join(
            Firm, col(Firm.id) == RotationState.firm_id
        )
    ).all()
    return {code: (ent, offers) for code, ent, offers in rows}


@pytest.mark.slow
@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    sizes=st.lists(st.integers(min_value=1, max_value=6), min_size=2, max_size=6),
    decisions=st.integers(min_value=5, max_value=60),
)
def test_court_orders_keep_every_firm_within_one_of_its_entitlement(
    tmp_path_factory: Any, sizes: list[int], decisions: int
) -> None:
    rt = runtime_at(tmp_path_factory.mktemp("rot") / "rot.db")
    try:
        load_registry(rt, _registry(list(sizes)))
        make_token(rt, "court", "Court", territory="CEN")
        bound = quota_slack(len(sizes)) + 1e-9
        for i in range(decisions):
            with unit_of_work(rt.engine) as session:
                request = open_request(session, rt, f"O-{i}")
                accept_and_close(session, rt, request.id)
            with unit_of_work(rt.engine) as session:
                standing = _standing(session)
            assert sum(o for _, o in standing.values()) == i + 1
            for code, (entitlement, offers) in standing.items():
                assert abs(offers - entitlement) <= bound, (code, i, standing)
        # Weight is the number of active lawyers: the shares earned per decision say so.
        with unit_of_work(rt.engine) as session:
            expected = {f"F{f}": s / sum(sizes) for f, s in enumerate(sizes, start=1)}
            for code, (entitlement, _) in _standing(session).items():
                assert abs(entitlement - decisions * expected[code]) < 1e-6
    finally:
        rt.stop()


def _choose(session: Session, rt: Runtime, ref: str, prefer: str) -> tuple[str, str]:
    """Open a request and a tablet session; choose a lawyer of `prefer` if shown, else one of
    the firm with the smallest code shown (never the shuffled position: the test must not
    depend on the random order of the list)."""
    ctx = context(rt)
    request = open_request(session, rt, ref, kind="investigation")
    opened = workflow.open_choice_session(session, request, ctx)
    options = sorted(opened.session.options, key=lambda o: o["position"])
    pick = next(
        (o for o in options if o["firm"] == prefer),
        min(options, key=lambda o: (o["firm"], o["lawyer"])),
    )
    workflow.record_choice(session, opened.token, schemas.ChoiceIn(lawyer=pick["lawyer"]), ctx)
    decision = session.get(Decision, opened.session.decision_id)
    assert decision is not None
    return request.id, str(decision.explanation["rule"])


# The default policy with every eligible firm listed on the tablet.
ALL_FIRMS_LISTED = policy_text(firms_in_turn_only=False)


def test_a_firm_passed_over_on_the_tablet_is_shown_alone_and_does_not_starve(
    tmp_path: Path,
) -> None:
    # Every eligible firm listed: suspects who always pick F1 would starve the others.
    rt = runtime_at(tmp_path / "starve.db", policy_text=ALL_FIRMS_LISTED)
    try:
        load_registry(rt, _registry([3, 3, 3, 3, 3, 3]))
        make_token(rt, "investigator", "Police", territory="CEN")
        threshold = rt.policies.default.rotation.starvation_shortfall
        rules = []
        worst = 0.0
        for i in range(80):
            with unit_of_work(rt.engine) as session:
                request_id, rule = _choose(session, rt, f"I-{i}", prefer="F1")
                rules.append(rule)
                accept_and_close(session, rt, request_id)
            with unit_of_work(rt.engine) as session:
                worst = max(worst, *(e - o for e, o in _standing(session).values()))
        assert "starving_firm_alone" in rules
        # Every firm got turns, and no shortfall grew far beyond the threshold.
        with unit_of_work(rt.engine) as session:
            standing = _standing(session)
        assert all(offers > 0 for _, offers in standing.values())
        assert worst < threshold + 1.0 + 1e-9
        # Choices are charged: the total of offers equals the number of choices.
        assert sum(o for _, o in standing.values()) == 80
    finally:
        rt.stop()


def _lead_of_a_favourite(
    rt: Runtime, choices: int, sizes: tuple[int, ...] = (1, 4, 4)
) -> tuple[float, int]:
    """Suspects who always pick the one-lawyer firm F1 when it is listed: the most any firm
    ever got ahead of its entitlement, and how often F1 was chosen."""
    load_registry(rt, _registry(list(sizes)))
    make_token(rt, "investigator", "Police", territory="CEN")
    lead, favourite = 0.0, 0
    for i in range(choices):
        with unit_of_work(rt.engine) as session:
            request_id, _ = _choose(session, rt, f"I-{i}", prefer="F1")
            chosen = session.exec(
                select(Decision).where(Decision.request_id == request_id, Decision.kind == "choice")
            ).one()
            favourite += chosen.explanation["chosen"]["firm"] == "F1"
            accept_and_close(session, rt, request_id)
        with unit_of_work(rt.engine) as session:
            lead = max(lead, *(o - e for e, o in _standing(session).values()))
    return lead, favourite


def test_suspects_choices_keep_every_firm_within_the_rotation_bound(tmp_path: Path) -> None:
    """The list shows only the firms a choice keeps within the rotation's slack: a favourite
    one-lawyer firm gets its share and no more. Listing every firm lets it run ahead."""
    choices = 45
    rt = runtime_at(tmp_path / "in-turn.db")
    try:
        lead, favourite = _lead_of_a_favourite(rt, choices)
    finally:
        rt.stop()
    assert lead <= quota_slack(3) + 1e-9
    assert favourite >= choices // 9 - 1  # its share of 1/9, not starved either
    rt = runtime_at(tmp_path / "all-firms.db", policy_text=ALL_FIRMS_LISTED)
    try:
        lead_all, favourite_all = _lead_of_a_favourite(rt, choices)
    finally:
        rt.stop()
    assert lead_all > 2.0 and favourite_all > favourite


def test_firms_in_turn_by_the_rotations_own_bound_keep_choices_within_b_star(
    tmp_path: Path,
) -> None:
    """With `in_turn_bound = "rotation"` the list holds the firms to the bound the rotation
    keeps, B* of their weights while it is on its track: a favourite one-lawyer firm beside
    firms of 4 and 6 lawyers never runs more than B* = 6/11 ahead, where Tijdeman's bound
    (0.75) lets it run 8/11 ahead."""
    sizes = (1, 4, 6)
    bound = float(b_star(sizes))
    leads = {}
    for name in ("tijdeman", "rotation"):
        rt = runtime_at(tmp_path / f"{name}.db", policy_text=policy_text(in_turn_bound=name))
        try:
            leads[name], favourite = _lead_of_a_favourite(rt, 45, sizes)
        finally:
            rt.stop()
        assert favourite >= 45 // 11 - 1  # its share of 1/11, not starved either
    assert leads["rotation"] <= bound + 1e-9 < leads["tijdeman"] <= quota_slack(3) + 1e-9


def test_choices_are_not_charged_when_the_policy_says_so(tmp_path: Path) -> None:
    rt = runtime_at(
        tmp_path / "free.db",
        policy_text=policy_text(
            version="free",
            detention_s=600,
            standard_s=3600,
            lapses=0,
            charge_choices=False,
        ),
    )
    try:
        load_registry(rt, small_registry())
        make_token(rt, "investigator", "Police", territory="CEN")
        with unit_of_work(rt.engine) as session:
            request_id, _ = _choose(session, rt, "I-1", prefer="F3")
        with unit_of_work(rt.engine) as session:
            assert _standing(session) == {} or all(o == 0 for _, o in _standing(session).values())
            choice = session.exec(select(Choice).where(Choice.request_id == request_id)).one()
            decision = session.exec(
                select(Decision).where(Decision.request_id == request_id, Decision.kind == "choice")
            ).one()
            assert choice.kind == "lawyer" and decision.charged is False
    finally:
        rt.stop()


def test_within_a_firm_the_lightest_workload_by_category_goes_first(tmp_path: Path) -> None:
    rt = runtime_at(tmp_path / "weights.db")
    try:
        load_registry(rt, _registry([2]))
        make_token(rt, "court", "Court", territory="CEN")
        weights = rt.policies.default.workload.category_weights
        assert weights["especially_grave"] > weights["minor"]
        invited = []
        for ref, category in (("W-1", "especially_grave"), ("W-2", "minor"), ("W-3", "minor")):
            with unit_of_work(rt.engine) as session:
                request = open_request(session, rt, ref, category=category)
                invited.append(accept_pending(session, rt, request.id).licence)
        # Both hold one case after W-2, but the grave one weighs more: W-3 goes to the other.
        assert invited == ["L-1-0", "L-1-1", "L-1-1"]
    finally:
        rt.stop()
