"""The lawyer's side: one pending invitation and one appointment per request (invariant 3),
declines with reasons, the workload cap, conflicts of interest and languages (invariant 2)."""

from __future__ import annotations

import random
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import update
from sqlmodel import col, func, select

from dispatcher.db import unit_of_work, utcnow
from dispatcher.models import Appointment, Firm, Invitation, Lawyer, Request
from tests.support.clients import Api

REQUESTS = "/api/v1/requests"
CEN_LAWYERS = ("L-11", "L-12", "L-13", "L-21", "L-22", "L-31")
MAX_OPEN = 3


def accept(api: Api, invitation: dict[str, Any]) -> Any:
    return api.post(f"/api/v1/invitations/{invitation['id']}/accept", invitation["lawyer"])


def decline(api: Api, invitation: dict[str, Any], reason: str = "busy in court") -> Any:
    return api.post(
        f"/api/v1/invitations/{invitation['id']}/decline",
        invitation["lawyer"],
        {"reason": reason},
    )


def invitations_of(api: Api, request_id: str) -> list[tuple[str, str, str]]:
    """(licence, firm, status) of every invitation for the request, oldest first."""
    with unit_of_work(api.rt.engine) as session:
        rows = session.exec(
            select(Lawyer.licence, Firm.code, Invitation.status)
            .join(Lawyer, col(Lawyer.id) == Invitation.lawyer_id)
            .join(Firm, col(Firm.id) == Invitation.firm_id)
            .where(Invitation.request_id == request_id)
            .order_by(col(Invitation.created_at))
        ).all()
        return [(lic, firm, status) for lic, firm, status in rows]


def invitations_of_all(api: Api) -> list[tuple[str, str, str]]:
    with unit_of_work(api.rt.engine) as session:
        rows = session.exec(
            select(Lawyer.licence, Firm.code, Invitation.status)
            .join(Lawyer, col(Lawyer.id) == Invitation.lawyer_id)
            .join(Firm, col(Firm.id) == Invitation.firm_id)
        ).all()
        return [(lic, firm, status) for lic, firm, status in rows]


def loads(api: Api) -> Counter[str]:
    """Open appointments plus pending invitations per lawyer."""
    load: Counter[str] = Counter()
    with unit_of_work(api.rt.engine) as session:
        for licence, n in session.exec(
            select(Lawyer.licence, func.count())
            .join(Appointment, col(Appointment.lawyer_id) == Lawyer.id)
            .where(col(Appointment.closed_at).is_(None))
            .group_by(col(Lawyer.licence))
        ).all():
            load[licence] += n
        for licence, n in session.exec(
            select(Lawyer.licence, func.count())
            .join(Invitation, col(Invitation.lawyer_id) == Lawyer.id)
            .where(Invitation.status == "pending")
            .group_by(col(Lawyer.licence))
        ).all():
            load[licence] += n
    return load


def check_one_pending_one_appointment(api: Api) -> None:
    """Invariant 3 over the whole database, and the status agrees with the rows."""
    with unit_of_work(api.rt.engine) as session:
        for request in session.exec(select(Request)).all():
            pending = session.exec(
                select(func.count())
                .select_from(Invitation)
                .where(Invitation.request_id == request.id, Invitation.status == "pending")
            ).one()
            appointments = session.exec(
                select(func.count())
                .select_from(Appointment)
                .where(Appointment.request_id == request.id)
            ).one()
            accepted = session.exec(
                select(func.count())
                .select_from(Invitation)
                .where(Invitation.request_id == request.id, Invitation.status == "accepted")
            ).one()
            assert pending <= 1, request.id
            assert appointments <= 1 and accepted == appointments, request.id
            if request.status == "inviting":
                assert pending == 1 and appointments == 0, request.id
            elif request.status == "assigned":
                assert pending == 0 and appointments == 1, request.id
            else:
                assert pending == 0, (request.id, request.status)


def decline_until_over(api: Api, created: dict[str, Any]) -> dict[str, Any]:
    """Decline every invitation of a request until the ladder ends; the last request JSON."""
    current = created
    for _ in range(20):
        if current["status"] != "inviting":
            return current
        r = decline(api, current["invitation"], "no capacity this week")
        assert r.status_code == 200, r.text
        current = r.json()
    raise AssertionError("the ladder did not end")


# --- invariant 3 -----------------------------------------------------------------------------


def test_after_a_decline_the_next_invitation_goes_to_another_lawyer(api: Api) -> None:
    created = api.post(REQUESTS, "court", api.order("ORD-1")).json()
    first = created["invitation"]
    r = decline(api, first)
    assert r.status_code == 200, r.text
    after = r.json()
    assert after["status"] == "inviting"
    assert after["invitation"]["id"] != first["id"]
    assert after["invitation"]["lawyer"] != first["lawyer"]
    assert [s for _, _, s in invitations_of(api, created["id"])] == ["declined", "pending"]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_answers_never_leave_two_pending_invitations_or_two_appointments(
    api: Api, seed: int
) -> None:
    rng = random.Random(seed)
    answered: list[dict[str, Any]] = []  # invitations already accepted or declined
    live: dict[str, dict[str, Any]] = {}
    for i in range(4):
        created = api.post(REQUESTS, "court", api.order(f"ORD-{seed}-{i}")).json()
        live[created["id"]] = created
    for step in range(30):
        inviting = [r for r in live.values() if r["status"] == "inviting"]
        action = rng.choice(["decline", "decline", "accept", "stale", "new"])
        if action == "new" or not inviting:
            created = api.post(REQUESTS, "court", api.order(f"ORD-{seed}-n{step}")).json()
            live[created["id"]] = created
        elif action == "stale" and answered:
            stale = rng.choice(answered)
            r = accept(api, stale)
            assert r.status_code == 409, r.text
        elif action == "accept":
            request = rng.choice(inviting)
            r = accept(api, request["invitation"])
            assert r.status_code == 200, r.text
            assert r.json()["status"] == "assigned"
            answered.append(request["invitation"])
            live[request["id"]] = r.json()
        else:
            request = rng.choice(inviting)
            r = decline(api, request["invitation"], f"reason {step}")
            assert r.status_code == 200, r.text
            answered.append(request["invitation"])
            live[request["id"]] = r.json()
        check_one_pending_one_appointment(api)
        assert all(n <= MAX_OPEN for n in loads(api).values()), loads(api)
    # What the API says agrees with the database.
    for request_id, seen in live.items():
        got = api.get(f"{REQUESTS}/{request_id}", "court").json()
        assert got["status"] == seen["status"]
        pending = [x for x in invitations_of(api, request_id) if x[2] == "pending"]
        assert (got["invitation"] is None) == (not pending)


def test_accepting_twice_is_409_and_leaves_one_appointment(api: Api) -> None:
    invitation = api.post(REQUESTS, "court", api.order("ORD-1")).json()["invitation"]
    first = accept(api, invitation)
    assert first.status_code == 200, first.text
    again = accept(api, invitation)
    assert again.status_code == 409, again.text
    with unit_of_work(api.rt.engine) as session:
        assert len(session.exec(select(Appointment)).all()) == 1


def test_accepting_or_declining_someone_elses_invitation_is_404(api: Api) -> None:
    invitation = api.post(REQUESTS, "court", api.order("ORD-1")).json()["invitation"]
    other = next(lic for lic in CEN_LAWYERS if lic != invitation["lawyer"])
    r = api.post(f"/api/v1/invitations/{invitation['id']}/accept", other)
    assert r.status_code == 404, r.text
    r = api.post(f"/api/v1/invitations/{invitation['id']}/decline", other, {"reason": "mine?"})
    assert r.status_code == 404, r.text
    r = api.post("/api/v1/invitations/no-such-invitation/accept", invitation["lawyer"])
    assert r.status_code == 404, r.text
    assert [s for _, _, s in invitations_of_all(api)] == ["pending"]


def test_a_stale_invitation_cannot_be_accepted_after_a_decline(api: Api) -> None:
    created = api.post(REQUESTS, "court", api.order("ORD-1"))
    invitation = created.json()["invitation"]
    after = decline(api, invitation).json()
    r = accept(api, invitation)
    assert r.status_code == 409, r.text
    r = decline(api, invitation)
    assert r.status_code == 409, r.text
    # The new invitation is still the one pending, and it can be accepted once.
    assert accept(api, after["invitation"]).status_code == 200
    check_one_pending_one_appointment(api)


def test_a_lawyer_token_is_needed_to_answer(api: Api) -> None:
    invitation = api.post(REQUESTS, "court", api.order("ORD-1")).json()["invitation"]
    for who in ("court", "bar", "admin"):
        r = api.post(f"/api/v1/invitations/{invitation['id']}/accept", who)
        assert r.status_code == 403, r.text
    assert api.post(f"/api/v1/invitations/{invitation['id']}/accept", None).status_code == 401
    assert api.get("/api/v1/invitations", "court").status_code == 403


# --- declines ------------------------------------------------------------------------------


@pytest.mark.parametrize("body", [{"reason": ""}, {"reason": "   "}, {}, {"reason": None}])
def test_a_decline_needs_a_reason(api: Api, body: dict[str, Any]) -> None:
    invitation = api.post(REQUESTS, "court", api.order("ORD-1")).json()["invitation"]
    r = api.post(f"/api/v1/invitations/{invitation['id']}/decline", invitation["lawyer"], body)
    assert r.status_code == 422, r.text
    assert any("reason" in [str(p) for p in e["loc"]] for e in r.json()["detail"])
    assert [s for _, _, s in invitations_of_all(api)] == ["pending"]


def test_the_decline_reason_is_stored(api: Api) -> None:
    invitation = api.post(REQUESTS, "court", api.order("ORD-1")).json()["invitation"]
    assert decline(api, invitation, "  representing the victim's family  ").status_code == 200
    mine = api.get("/api/v1/invitations", invitation["lawyer"], status="declined").json()
    assert len(mine) == 1
    assert mine[0]["id"] == invitation["id"]
    assert mine[0]["decline_reason"] == "representing the victim's family"
    with unit_of_work(api.rt.engine) as session:
        row = session.get(Invitation, invitation["id"])
        assert row is not None and row.decline_reason == "representing the victim's family"


def test_a_declined_lawyer_is_never_invited_again_for_the_same_request(api: Api) -> None:
    created = api.post(REQUESTS, "court", api.order("ORD-1")).json()
    first = created["invitation"]["lawyer"]
    after = decline(api, created["invitation"]).json()
    explanation = api.get(f"{REQUESTS}/{created['id']}/explanation", "court").json()
    latest = explanation["decisions"][-1]
    excluded = latest["tried"][0]["excluded_lawyers"]
    assert {
        "licence": first,
        "firm": created["invitation"]["firm"],
        "reason": "already_invited",
    } in (excluded)
    assert latest["chosen"]["lawyer"] == after["invitation"]["lawyer"] != first
    final = decline_until_over(api, after)
    assert final["status"] == "unfilled"
    invited = [lic for lic, _, _ in invitations_of(api, created["id"])]
    assert len(invited) == len(set(invited)), invited
    # Every CEN lawyer speaking az was tried once (L-31 serves NOR too, but only once).
    assert sorted(invited) == sorted(CEN_LAWYERS)


# --- workload cap --------------------------------------------------------------------------


def test_pending_invitations_count_against_the_cap(api: Api) -> None:
    statuses = []
    for i in range(len(CEN_LAWYERS) * MAX_OPEN + 2):
        r = api.post(REQUESTS, "court", api.order(f"ORD-{i}"))
        assert r.status_code == 201, r.text
        statuses.append(r.json()["status"])
        assert all(n <= MAX_OPEN for n in loads(api).values()), loads(api)
    assert statuses.count("inviting") == len(CEN_LAWYERS) * MAX_OPEN
    assert statuses[-2:] == ["unfilled", "unfilled"]
    assert loads(api) == Counter(dict.fromkeys(CEN_LAWYERS, MAX_OPEN))


def test_the_cap_holds_open_appointments_and_closing_one_frees_the_lawyer(api: Api) -> None:
    appointments: list[tuple[str, str]] = []  # (appointment id, licence)
    for i in range(len(CEN_LAWYERS) * MAX_OPEN):
        created = api.post(REQUESTS, "court", api.order(f"ORD-{i}")).json()
        assert created["status"] == "inviting", (i, created)
        r = accept(api, created["invitation"])
        assert r.status_code == 200, r.text
        appointments.append((r.json()["appointment"]["id"], created["invitation"]["lawyer"]))
        assert all(n <= MAX_OPEN for n in loads(api).values()), loads(api)
    assert loads(api) == Counter(dict.fromkeys(CEN_LAWYERS, MAX_OPEN))
    full = api.post(REQUESTS, "court", api.order("ORD-FULL")).json()
    assert full["status"] == "unfilled"
    caps = [
        e
        for t in api.get(f"{REQUESTS}/{full['id']}/explanation", "court").json()["decisions"][-1][
            "tried"
        ]
        for e in t["excluded_lawyers"]
        if e["reason"] == "cap"
    ]
    assert {e["licence"] for e in caps} == set(CEN_LAWYERS)

    appointment_id, licence = appointments[0]
    mine = api.get("/api/v1/appointments", licence).json()
    assert appointment_id in [a["id"] for a in mine] and len(mine) == MAX_OPEN
    closed = api.post(f"/api/v1/appointments/{appointment_id}/close", licence)
    assert closed.status_code == 200, closed.text
    assert closed.json()["closed_at"] is not None
    again = api.post(f"/api/v1/appointments/{appointment_id}/close", licence)
    assert again.status_code == 409, again.text
    # Only the appointed lawyer closes an appointment.
    someone_elses, holder = next((a, lic) for a, lic in appointments if lic != licence)
    r = api.post(f"/api/v1/appointments/{someone_elses}/close", licence)
    assert r.status_code == 404, r.text
    assert len(api.get("/api/v1/appointments", holder).json()) == MAX_OPEN

    freed = api.post(REQUESTS, "court", api.order("ORD-FREED")).json()
    assert freed["status"] == "inviting"
    assert freed["invitation"]["lawyer"] == licence
    assert all(n <= MAX_OPEN for n in loads(api).values())


# --- conflicts (invariant 2) ---------------------------------------------------------------


def test_a_registered_conflict_excludes_the_whole_firm_even_after_every_decline(
    api: Api,
) -> None:
    created = api.post(REQUESTS, "court", api.order("ORD-77", case_number="1(101)-77/2026"))
    assert created.status_code == 201, created.text
    final = decline_until_over(api, created.json())
    assert final["status"] == "unfilled"
    invited = invitations_of(api, created.json()["id"])
    assert "F2" not in {firm for _, firm, _ in invited}
    assert sorted(lic for lic, _, _ in invited) == ["L-11", "L-12", "L-13", "L-31"]
    decisions = api.get(f"{REQUESTS}/{final['id']}/explanation", "bar").json()["decisions"]
    assert len(decisions) == 5
    for decision in decisions:
        home = decision["tried"][0]
        assert home["territory"] == "CEN"
        f2 = [e for e in home["excluded_firms"] if e["firm"] == "F2"]
        assert len(f2) == 1 and f2[0]["reason"] == "conflict", home["excluded_firms"]
        assert "L-22" in f2[0]["detail"]
        reasons = {e["licence"]: e["reason"] for e in home["excluded_lawyers"]}
        assert reasons["L-21"] == "conflict" and reasons["L-22"] == "conflict"


def test_a_firm_defending_one_person_in_a_case_is_not_invited_for_another(api: Api) -> None:
    case = "1(101)-500/2026"
    first = api.post(
        REQUESTS,
        "court",
        api.order("ORD-A", case_number=case, person={"name": "Anar Abbasov", "language": "az"}),
    ).json()
    defending = first["invitation"]["firm"]
    assert accept(api, first["invitation"]).status_code == 200
    second = api.post(
        REQUESTS,
        "court",
        api.order("ORD-B", case_number=case, person={"name": "Babək Bayramov", "language": "az"}),
    ).json()
    assert second["status"] == "inviting"
    decline_until_over(api, second)
    invited_firms = {firm for _, firm, _ in invitations_of(api, second["id"])}
    assert invited_firms and defending not in invited_firms
    home = api.get(f"{REQUESTS}/{second['id']}/explanation", "bar").json()["decisions"][0]["tried"][
        0
    ]
    entry = next(e for e in home["excluded_firms"] if e["firm"] == defending)
    assert entry["reason"] == "conflict"


def test_a_firm_invited_for_one_person_is_not_invited_for_another_in_the_case(api: Api) -> None:
    case = "1(101)-501/2026"
    first = api.post(
        REQUESTS,
        "court",
        api.order("ORD-A", case_number=case, person={"name": "Anar Abbasov", "language": "az"}),
    ).json()
    second = api.post(
        REQUESTS,
        "court",
        api.order("ORD-B", case_number=case, person={"name": "Babək Bayramov", "language": "az"}),
    ).json()
    assert second["invitation"]["firm"] != first["invitation"]["firm"]


# --- languages and specialisations -------------------------------------------------------------


def test_an_english_speaker_is_only_ever_offered_the_english_speaking_lawyer(api: Api) -> None:
    english = {"name": "John Smith", "language": "en", "juvenile": False}
    outcomes = []
    for i in range(MAX_OPEN + 1):
        created = api.post(REQUESTS, "court", api.order(f"ORD-EN-{i}", person=english)).json()
        outcomes.append(created["status"])
    assert outcomes == ["inviting"] * MAX_OPEN + ["unfilled"]
    with unit_of_work(api.rt.engine) as session:
        first = session.exec(select(Request).where(Request.external_ref == "ORD-EN-0")).one()
    pending = api.get(f"{REQUESTS}/{first.id}", "court").json()
    final = decline_until_over(api, pending)
    assert final["status"] == "unfilled"
    assert {lic for lic, _, _ in invitations_of_all(api)} == {"L-13"}


def test_a_juvenile_is_only_ever_offered_a_juvenile_specialist(api: Api) -> None:
    juvenile = {"name": "Kənan Kərimov", "language": "az", "juvenile": True}
    created = api.post(REQUESTS, "court", api.order("ORD-J", person=juvenile)).json()
    assert created["invitation"]["lawyer"] == "L-11"
    final = decline_until_over(api, created)
    assert final["status"] == "unfilled"
    assert [lic for lic, _, _ in invitations_of(api, created["id"])] == ["L-11"]
    reasons = {
        e["licence"]: e["reason"]
        for e in api.get(f"{REQUESTS}/{created['id']}/explanation", "court").json()["decisions"][0][
            "tried"
        ][0]["excluded_lawyers"]
    }
    assert reasons == {lic: "specialisation" for lic in CEN_LAWYERS if lic != "L-11"}


def answer_at_once(api: Api, invitation: dict[str, Any], kinds: list[str]) -> list[int]:
    """Send the lawyer's answers for one invitation at the same instant; their status codes."""
    headers = api.auth(invitation["lawyer"])
    barrier = threading.Barrier(len(kinds))

    def answer(kind: str) -> int:
        barrier.wait(timeout=10)
        body = {"reason": "cannot"} if kind == "decline" else None
        path = f"/api/v1/invitations/{invitation['id']}/{kind}"
        status: int = api.client.post(path, json=body, headers=headers).status_code
        return status

    with ThreadPoolExecutor(max_workers=len(kinds)) as pool:
        return sorted(pool.map(answer, kinds))


def test_an_accept_and_a_decline_at_the_same_instant_settle_the_invitation_once(
    api: Api,
) -> None:
    for round_ in range(3):
        created = api.post(REQUESTS, "court", api.order(f"ORD-RACE-{round_}")).json()
        codes = answer_at_once(api, created["invitation"], ["accept", "decline"])
        assert codes == [200, 409], codes
        check_one_pending_one_appointment(api)
        statuses = [s for _, _, s in invitations_of(api, created["id"])]
        assert statuses in (["accepted"], ["declined", "pending"]), statuses
    created = api.post(REQUESTS, "court", api.order("ORD-RACE-ACCEPTS")).json()
    assert answer_at_once(api, created["invitation"], ["accept"] * 4) == [200, 409, 409, 409]
    check_one_pending_one_appointment(api)


def test_a_decline_after_the_deadline_is_refused_and_not_recorded_as_a_decline(
    api: Api,
) -> None:
    """The lawyer answers within the deadline; a late answer must not turn an expiry into a
    decline (expiries are what the bar is told about)."""
    invitation = api.post(REQUESTS, "court", api.order("ORD-1")).json()["invitation"]
    with unit_of_work(api.rt.engine) as session:
        session.execute(
            update(Invitation)
            .where(col(Invitation.id) == invitation["id"])
            .values(deadline=utcnow() - timedelta(seconds=5))
        )
    r = decline(api, invitation, "too late")
    assert r.status_code == 409, r.text
    with unit_of_work(api.rt.engine) as session:
        row = session.get(Invitation, invitation["id"])
        assert row is not None and row.status != "declined"
    assert accept(api, invitation).status_code == 409


# --- other exclusions (invariant 2) ----------------------------------------------------------


def test_a_suspended_firm_is_never_invited(api: Api) -> None:
    firm = api.get("/api/v1/registry/firms/F1", "admin").json()
    r = api.client.put(
        "/api/v1/registry/firms/F1", json={**firm, "status": "suspended"}, headers=api.auth("admin")
    )
    assert r.status_code == 200, r.text
    created = api.post(REQUESTS, "court", api.order("ORD-1")).json()
    decline_until_over(api, created)
    invited = invitations_of(api, created["id"])
    assert invited and "F1" not in {firm for _, firm, _ in invited}
    home = api.get(f"{REQUESTS}/{created['id']}/explanation", "bar").json()["decisions"][0][
        "tried"
    ][0]
    assert {"firm": "F1", "reason": "firm_suspended"} in home["excluded_firms"]


def test_a_lawyer_on_leave_is_never_invited(api: Api) -> None:
    lawyer = api.get("/api/v1/registry/lawyers/L-11", "admin").json()
    r = api.client.put(
        "/api/v1/registry/lawyers/L-11",
        json={**lawyer, "status": "on_leave"},
        headers=api.auth("admin"),
    )
    assert r.status_code == 200, r.text
    juvenile = {"name": "Kənan Kərimov", "language": "az", "juvenile": True}
    created = api.post(REQUESTS, "court", api.order("ORD-J", person=juvenile)).json()
    assert created["status"] == "unfilled"
    home = api.get(f"{REQUESTS}/{created['id']}/explanation", "bar").json()["decisions"][0][
        "tried"
    ][0]
    assert {"licence": "L-11", "firm": "F1", "reason": "on_leave"} in home["excluded_lawyers"]


def test_a_lawyer_off_duty_is_not_invited_for_detention_but_is_for_standard(api: Api) -> None:
    today = datetime.now(ZoneInfo(api.rt.policies.default.timezone)).weekday()
    lawyer = api.get("/api/v1/registry/lawyers/L-11", "admin").json()
    duty = [{"weekday": (today + 3) % 7, "start": "09:00", "end": "10:00"}]
    r = api.client.put(
        "/api/v1/registry/lawyers/L-11", json={**lawyer, "duty": duty}, headers=api.auth("admin")
    )
    assert r.status_code == 200, r.text
    juvenile = {"name": "Kənan Kərimov", "language": "az", "juvenile": True}
    detained = api.post(
        REQUESTS, "court", api.order("ORD-D", urgency="detention", person=juvenile)
    ).json()
    assert detained["status"] == "unfilled"
    home = api.get(f"{REQUESTS}/{detained['id']}/explanation", "bar").json()["decisions"][0][
        "tried"
    ][0]
    assert {"licence": "L-11", "firm": "F1", "reason": "off_duty"} in home["excluded_lawyers"]
    standard = api.post(REQUESTS, "court", api.order("ORD-S", person=juvenile)).json()
    assert standard["invitation"]["lawyer"] == "L-11"


def test_the_invitation_list_names_the_appointment_once_accepted(api: Api) -> None:
    first = api.post(REQUESTS, "court", api.order("ORD-A")).json()["invitation"]
    declined = decline(api, first).json()["invitation"]
    listed = {i["id"]: i for i in api.get("/api/v1/invitations", declined["lawyer"]).json()}
    assert listed[declined["id"]]["appointment"] is None
    assert listed[declined["id"]]["status"] == "pending"
    accepted = accept(api, declined).json()
    listed = {i["id"]: i for i in api.get("/api/v1/invitations", declined["lawyer"]).json()}
    assert listed[declined["id"]]["appointment"] == accepted["appointment"]["id"]
    mine = api.get("/api/v1/invitations", first["lawyer"]).json()
    assert [(i["status"], i["appointment"]) for i in mine if i["id"] == first["id"]] == [
        ("declined", None)
    ]


def test_the_request_answer_names_its_invitation_then_its_appointment_as_stored(api: Api) -> None:
    created = api.post(REQUESTS, "court", api.order("ORD-SHAPE")).json()
    invitation = created["invitation"]
    assert created["appointment"] is None
    with unit_of_work(api.rt.engine) as session:
        stored = session.get(Invitation, invitation["id"])
        assert stored is not None
        lawyer, firm = session.get(Lawyer, stored.lawyer_id), session.get(Firm, stored.firm_id)
        assert lawyer is not None and firm is not None
        assert invitation == {
            "id": stored.id,
            "lawyer": lawyer.licence,
            "firm": firm.code,
            "deadline": stored.deadline.isoformat(),
            "delivery": stored.delivery,
        }
        expected = {
            "lawyer": lawyer.licence,
            "firm": firm.code,
            "lawyer_name": lawyer.name,
            "firm_name": firm.name,
            "phone": lawyer.phone,
        }
    accepted = api.post(
        f"/api/v1/invitations/{invitation['id']}/accept", invitation["lawyer"], {"eta_minutes": 25}
    ).json()
    appointment = accepted["appointment"]
    assert accepted["invitation"] is None
    assert appointment == {"id": appointment["id"], **expected, "closed": False, "eta_minutes": 25}
    closed = api.post(f"/api/v1/appointments/{appointment['id']}/close", invitation["lawyer"])
    assert closed.status_code == 200, closed.text
    after = api.get(f"{REQUESTS}/{created['id']}", "court").json()
    assert after["appointment"] == {**appointment, "closed": True}


def test_the_order_accept_and_close_answers_are_the_contracts(api: Api) -> None:
    """The answers the hot routes build themselves equal what the contract's reads give."""
    posted = api.post(REQUESTS, "court", api.order("SHAPE-1"))
    assert posted.status_code == 201, posted.text
    created = posted.json()
    read = api.get(f"{REQUESTS}/{created['id']}", "court")
    assert created == read.json()
    assert set(created) == {
        "id", "external_ref", "kind", "status", "territory", "case_number", "urgency",
        "category", "invitation", "appointment", "created_at", "updated_at",
    }  # fmt: skip
    accepted = accept(api, created["invitation"])
    assert accepted.status_code == 200, accepted.text
    assert accepted.headers["content-type"] == "application/json"
    answer = accepted.json()
    assert answer == api.get(f"{REQUESTS}/{created['id']}", "court").json()
    assert answer["status"] == "assigned" and answer["appointment"]["closed"] is False
    lawyer = created["invitation"]["lawyer"]
    closed = api.post(f"/api/v1/appointments/{answer['appointment']['id']}/close", lawyer)
    assert closed.status_code == 200, closed.text
    body = closed.json()
    assert set(body) == {"id", "request_id", "closed_at"}
    assert body["id"] == answer["appointment"]["id"] and body["request_id"] == created["id"]
    assert datetime.fromisoformat(body["closed_at"]).tzinfo is not None
    after = api.get(f"{REQUESTS}/{created['id']}", "court").json()
    assert after["appointment"]["closed"] is True
