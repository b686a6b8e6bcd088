"""The suspect's tablet: the choice is recorded before anyone is invited (invariant 1), the
list is kept as shown, and a tablet token is good for one choice only."""

from __future__ import annotations

import random
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update
from sqlmodel import col, func, select

from dispatcher.db import unit_of_work, utcnow
from dispatcher.models import Choice, ChoiceSession, Invitation, Request
from tests.support.clients import Api

REQUESTS = "/api/v1/requests"
TABLET = "/api/v1/tablet"
CEN_LAWYERS = ("L-11", "L-12", "L-13", "L-21", "L-22", "L-31")


def investigation(api: Api, ref: str, **person: Any) -> dict[str, Any]:
    who = {"name": f"Suspect {ref}", "language": "az", "juvenile": False, **person}
    r = api.post(REQUESTS, "investigator", api.order(ref, kind="investigation", person=who))
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


def open_session(api: Api, request_id: str) -> dict[str, Any]:
    r = api.post(f"{REQUESTS}/{request_id}/choice-sessions", "investigator")
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


def show(api: Api, token: str) -> Any:
    return api.client.get(f"{TABLET}/{token}")


def choose(api: Api, token: str, body: dict[str, Any]) -> Any:
    return api.client.post(f"{TABLET}/{token}/choice", json=body)


def invitation_count(api: Api, request_id: str | None = None) -> int:
    with unit_of_work(api.rt.engine) as session:
        query = select(func.count()).select_from(Invitation)
        if request_id is not None:
            query = query.where(Invitation.request_id == request_id)
        n: int = session.exec(query).one()
        return n


def choices_of(api: Api, request_id: str) -> list[Choice]:
    with unit_of_work(api.rt.engine) as session:
        return list(session.exec(select(Choice).where(Choice.request_id == request_id)).all())


def check_no_invitation_without_a_choice(api: Api) -> None:
    """Invariant 1 over the whole database."""
    with unit_of_work(api.rt.engine) as session:
        rows = session.exec(
            select(Request.id, Request.status).where(Request.kind == "investigation")
        ).all()
        for request_id, status in rows:
            chosen = session.exec(
                select(func.count()).select_from(Choice).where(Choice.request_id == request_id)
            ).one()
            invited = session.exec(
                select(func.count())
                .select_from(Invitation)
                .where(Invitation.request_id == request_id)
            ).one()
            pending = session.exec(
                select(func.count())
                .select_from(Invitation)
                .where(Invitation.request_id == request_id, Invitation.status == "pending")
            ).one()
            if chosen == 0:
                assert invited == 0, (request_id, status)
            assert pending <= 1, request_id


# --- invariant 1 -----------------------------------------------------------------------------


def test_the_suspect_chooses_from_the_list_before_anyone_is_invited(api: Api) -> None:
    created = investigation(api, "INV-1")
    assert created["status"] == "awaiting_choice"
    assert created["invitation"] is None and created["appointment"] is None
    assert invitation_count(api, created["id"]) == 0

    opened = open_session(api, created["id"])
    assert opened["token"] and opened["expires_at"]
    assert opened["url"] == f"/tablet/{opened['token']}"
    assert invitation_count(api, created["id"]) == 0
    assert api.get(f"{REQUESTS}/{created['id']}", "investigator").json()["status"] == (
        "awaiting_choice"
    )

    shown = show(api, opened["token"])  # no Authorization header: the token is the credential
    assert shown.status_code == 200, shown.text
    listing = shown.json()
    assert listing["request_id"] == created["id"]
    assert listing["language"] == "az"
    options = listing["options"]
    assert 3 <= len(options) <= 10
    assert [o["position"] for o in options] == list(range(1, len(options) + 1))
    assert len({o["lawyer"] for o in options}) == len(options)
    assert all("az" in o["languages"] and o["name"] and o["firm"] for o in options)
    assert invitation_count(api, created["id"]) == 0

    third = options[2]
    r = choose(api, opened["token"], {"lawyer": third["lawyer"]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "inviting"
    assert body["invitation"]["lawyer"] == third["lawyer"]
    assert body["invitation"]["firm"] == third["firm"]
    assert invitation_count(api, created["id"]) == 1

    # The token is spent.
    assert show(api, opened["token"]).status_code == 410
    assert choose(api, opened["token"], {"delegate": True}).status_code == 410
    assert invitation_count(api, created["id"]) == 1

    # The choice keeps the list exactly as shown.
    [choice] = choices_of(api, created["id"])
    assert choice.kind == "lawyer"
    assert choice.position == 3
    assert choice.language == "az"
    assert choice.options == options
    explanation = api.get(f"{REQUESTS}/{created['id']}/explanation", "investigator").json()
    assert explanation["choices"][0]["options"] == options
    assert explanation["choices"][0]["position"] == 3
    kinds = [d["kind"] for d in explanation["decisions"]]
    assert kinds == ["list", "choice"]
    assert explanation["decisions"][1]["chosen"]["lawyer"] == third["lawyer"]


def test_the_list_is_in_the_suspects_language(api: Api) -> None:
    created = investigation(api, "INV-RU", language="ru")
    listing = show(api, open_session(api, created["id"])["token"]).json()
    assert listing["language"] == "ru"
    assert listing["options"], listing
    assert all("ru" in o["languages"] for o in listing["options"])
    assert {o["lawyer"] for o in listing["options"]} <= {"L-11", "L-21", "L-31"}


def test_letting_the_system_choose_invites_by_rotation(api: Api) -> None:
    created = investigation(api, "INV-1")
    token = open_session(api, created["id"])["token"]
    r = choose(api, token, {"delegate": True})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "inviting"
    assert r.json()["invitation"]["lawyer"] in CEN_LAWYERS
    [choice] = choices_of(api, created["id"])
    assert choice.kind == "delegate" and choice.lawyer_id is None and choice.position is None
    decision = api.get(f"{REQUESTS}/{created['id']}/explanation", "bar").json()["decisions"][-1]
    assert decision["kind"] == "rotation"
    assert decision["chosen"]["lawyer"] == r.json()["invitation"]["lawyer"]
    assert invitation_count(api, created["id"]) == 1


def test_own_counsel_ends_the_request_without_any_invitation(api: Api) -> None:
    created = investigation(api, "INV-1")
    token = open_session(api, created["id"])["token"]
    r = choose(api, token, {"own_counsel": "Vüqar Vəliyev"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "private_counsel"
    assert r.json()["invitation"] is None
    assert invitation_count(api, created["id"]) == 0
    [choice] = choices_of(api, created["id"])
    assert choice.kind == "own_counsel" and choice.own_counsel == "Vüqar Vəliyev"
    # Nothing more can be opened for it.
    r = api.post(f"{REQUESTS}/{created['id']}/choice-sessions", "investigator")
    assert r.status_code == 409, r.text


# --- bad choices ---------------------------------------------------------------------------


def test_a_lawyer_not_on_the_list_is_422_and_the_token_stays_usable(api: Api) -> None:
    created = investigation(api, "INV-1")
    token = open_session(api, created["id"])["token"]
    options = show(api, token).json()["options"]
    shown = {o["lawyer"] for o in options}
    outsiders = [lic for lic in CEN_LAWYERS if lic not in shown] + ["L-99"]
    for outsider in outsiders:
        r = choose(api, token, {"lawyer": outsider})
        assert r.status_code == 422, r.text
        assert "lawyer" in [str(p) for p in r.json()["detail"][0]["loc"]]
    assert choices_of(api, created["id"]) == []
    assert invitation_count(api, created["id"]) == 0
    assert show(api, token).status_code == 200
    r = choose(api, token, {"lawyer": options[0]["lawyer"]})
    assert r.status_code == 200, r.text
    assert r.json()["invitation"]["lawyer"] == options[0]["lawyer"]


@pytest.mark.parametrize(
    "body",
    [
        {"lawyer": "L-11", "delegate": True},
        {"lawyer": "L-11", "own_counsel": "Someone"},
        {"delegate": True, "own_counsel": "Someone"},
        {"lawyer": "L-11", "delegate": True, "own_counsel": "Someone"},
        {},
        {"delegate": False},
        {"own_counsel": "   "},
        {"lawyer": "L-11", "note": "extra"},
    ],
)
def test_a_choice_must_be_exactly_one_thing(api: Api, body: dict[str, Any]) -> None:
    created = investigation(api, "INV-1")
    token = open_session(api, created["id"])["token"]
    r = choose(api, token, body)
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"][0] == "body"
    assert choices_of(api, created["id"]) == []
    assert invitation_count(api) == 0
    assert show(api, token).status_code == 200


def test_an_unknown_token_is_404(api: Api) -> None:
    assert show(api, "no-such-token").status_code == 404
    assert choose(api, "no-such-token", {"delegate": True}).status_code == 404


def test_an_expired_token_is_410_and_records_nothing(api: Api) -> None:
    created = investigation(api, "INV-1")
    token = open_session(api, created["id"])["token"]
    with unit_of_work(api.rt.engine) as session:
        session.execute(
            update(ChoiceSession)
            .where(col(ChoiceSession.request_id) == created["id"])
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    assert show(api, token).status_code == 410
    assert choose(api, token, {"delegate": True}).status_code == 410
    assert choices_of(api, created["id"]) == []
    assert invitation_count(api) == 0
    # The investigator can hand over a fresh tablet.
    fresh = open_session(api, created["id"])["token"]
    assert show(api, fresh).status_code == 200


def test_a_new_session_supersedes_an_older_unspent_one(api: Api) -> None:
    created = investigation(api, "INV-1")
    old = open_session(api, created["id"])["token"]
    new = open_session(api, created["id"])["token"]
    assert old != new
    assert show(api, old).status_code == 410
    assert choose(api, old, {"delegate": True}).status_code == 410
    assert choices_of(api, created["id"]) == []
    assert choose(api, new, {"delegate": True}).status_code == 200


# --- who may open a session ------------------------------------------------------------------


def test_only_the_requesting_investigator_opens_a_session_on_an_open_investigation(
    api: Api,
) -> None:
    created = investigation(api, "INV-1")
    path = f"{REQUESTS}/{created['id']}/choice-sessions"
    for who in ("court", "bar", "admin", "L-11"):
        assert api.post(path, who).status_code == 403, who
    assert api.post(path, None).status_code == 401
    order = api.post(REQUESTS, "court", api.order("ORD-1")).json()
    r = api.post(f"{REQUESTS}/{order['id']}/choice-sessions", "investigator")
    assert r.status_code == 404, r.text  # not the investigator's request
    assert api.post(f"{REQUESTS}/no-such-request/choice-sessions", "investigator").status_code == (
        404
    )
    token = open_session(api, created["id"])["token"]
    assert choose(api, token, {"delegate": True}).json()["status"] == "inviting"
    r = api.post(path, "investigator")
    assert r.status_code == 409, r.text
    with unit_of_work(api.rt.engine) as session:
        sessions = session.exec(
            select(ChoiceSession).where(ChoiceSession.request_id == created["id"])
        ).all()
        assert len(sessions) == 1


def test_a_cancelled_investigation_offers_no_choice_and_invites_no_one(api: Api) -> None:
    """Once the investigator cancels, the tablet must not go on showing a list to choose from."""
    created = investigation(api, "INV-1")
    token = open_session(api, created["id"])["token"]
    r = api.post(f"{REQUESTS}/{created['id']}/cancel", "investigator")
    assert r.status_code == 200, r.text
    r = choose(api, token, {"delegate": True})
    assert r.status_code in (409, 410), r.text
    assert invitation_count(api) == 0
    assert choices_of(api, created["id"]) == []
    shown = show(api, token)
    assert shown.status_code in (409, 410), shown.text


def test_two_taps_at_once_record_one_choice(api: Api) -> None:
    created = investigation(api, "INV-1")
    token = open_session(api, created["id"])["token"]
    options = show(api, token).json()["options"]
    barrier = threading.Barrier(2)

    def tap(body: dict[str, Any]) -> int:
        barrier.wait(timeout=10)
        status: int = choose(api, token, body).status_code
        return status

    with ThreadPoolExecutor(max_workers=2) as pool:
        codes = sorted(pool.map(tap, [{"lawyer": options[0]["lawyer"]}, {"delegate": True}]))
    assert codes == [200, 410], codes
    assert len(choices_of(api, created["id"])) == 1
    assert invitation_count(api, created["id"]) == 1


# --- invariant 1 over random sequences ---------------------------------------------------------


@pytest.mark.parametrize("seed", [7, 8, 9])
def test_no_invitation_ever_exists_for_an_investigation_without_a_choice(
    api: Api, seed: int
) -> None:
    rng = random.Random(seed)
    tokens: dict[str, str] = {}  # request id -> newest token
    spent: list[str] = []
    for i in range(3):
        investigation(api, f"INV-{seed}-{i}")
    for step in range(30):
        with unit_of_work(api.rt.engine) as session:
            rows = session.exec(select(Request.id, Request.status)).all()
        awaiting = [rid for rid, status in rows if status == "awaiting_choice"]
        inviting = [rid for rid, status in rows if status == "inviting"]
        action = rng.choice(["new", "open", "open", "choose", "choose", "decline", "cancel"])
        if action == "new" or not rows:
            investigation(api, f"INV-{seed}-n{step}", language=rng.choice(["az", "ru", "en"]))
        elif action == "open" and awaiting:
            request_id = rng.choice(awaiting)
            tokens[request_id] = open_session(api, request_id)["token"]
        elif action == "choose" and tokens:
            request_id, token = rng.choice(sorted(tokens.items()))
            shown = show(api, token)
            if shown.status_code == 200 and shown.json()["options"]:
                kind = rng.choice(["lawyer", "delegate", "own_counsel"])
                body: dict[str, Any] = {
                    "lawyer": {"lawyer": rng.choice(shown.json()["options"])["lawyer"]},
                    "delegate": {"delegate": True},
                    "own_counsel": {"own_counsel": "Own Lawyer"},
                }[kind]
                r = choose(api, token, body)
                assert r.status_code == 200, r.text
                spent.append(token)
            else:
                assert shown.status_code in (200, 410), shown.text
            del tokens[request_id]
        elif action == "decline" and inviting:
            pending = api.get(f"{REQUESTS}/{rng.choice(inviting)}", "investigator").json()
            invitation = pending["invitation"]
            r = api.post(
                f"/api/v1/invitations/{invitation['id']}/decline",
                invitation["lawyer"],
                {"reason": "not available"},
            )
            assert r.status_code == 200, r.text
        elif action == "cancel":
            request_id = rng.choice([rid for rid, _ in rows])
            r = api.post(f"{REQUESTS}/{request_id}/cancel", "investigator")
            assert r.status_code in (200, 409), r.text
        if spent and rng.random() < 0.2:
            assert choose(api, rng.choice(spent), {"delegate": True}).status_code == 410
        check_no_invitation_without_a_choice(api)
    with unit_of_work(api.rt.engine) as session:
        assert session.exec(select(func.count()).select_from(Choice)).one() == len(spent)
        # The sequence did exercise choices and invitations.
        assert spent and session.exec(select(func.count()).select_from(Invitation)).one() > 0


# --- the tablet link's address, its receipt's lifetime, and a spent link's answer --------------


def test_the_hand_over_link_uses_the_public_url_never_the_host_header(api: Api) -> None:
    from tests.api.test_pages import Page

    request_id = investigation(api, "TAB-HOST")["id"]
    page = Page(api, api.tokens["investigator"])
    path = f"/investigator/requests/{request_id}"
    page.get(path)
    forged = "attacker.example"
    posted = page.client.post(
        f"{path}/choice-session", data={"csrf": page.csrf}, headers={"Host": forged}
    )
    assert posted.status_code == 303, posted.text
    handed = page.client.get(f"{path}/tablet", headers={"Host": forged})
    assert forged not in handed.text
    link = re.search(r'id="tablet-link" href="([^"]+)"', handed.text)
    assert link is not None
    assert link.group(1).startswith(f"{api.rt.settings.public_url}/tablet/")
    # The API's `url` stays relative, as the contract says.
    opened = open_session(api, request_id)
    assert opened["url"] == f"/tablet/{opened['token']}"


def spend(api: Api, ref: str) -> tuple[str, str, str, str]:
    """A tablet token spent on a choice through the pages: request id, token, licence, name."""
    request_id = investigation(api, ref)["id"]
    token = open_session(api, request_id)["token"]
    first = show(api, token).json()["options"][0]
    lawyer, name = first["lawyer"], first["name"]
    recorded = api.client.post(
        f"/tablet/{token}/choice", data={"lawyer": lawyer, "lang": "en"}, follow_redirects=False
    )
    assert recorded.status_code == 303
    return request_id, token, lawyer, name


def test_a_spent_link_shows_its_receipt_only_for_the_policy_s_minutes(api: Api) -> None:
    request_id, token, _, name = spend(api, "TAB-RECEIPT")
    receipt = api.client.get(f"/tablet/{token}", params={"lang": "en"})
    assert receipt.status_code == 200
    assert "Your choice is recorded" in receipt.text
    assert name in receipt.text
    shown_for = api.rt.policies.for_territory("CEN").choice.receipt_s
    with unit_of_work(api.rt.engine) as session:
        session.execute(
            update(Choice)
            .where(col(Choice.request_id) == request_id)
            .values(chosen_at=utcnow() - timedelta(seconds=shown_for + 1))
        )
    later = api.client.get(f"/tablet/{token}", params={"lang": "en"})
    assert later.status_code == 410
    assert name not in later.text
    assert "Your choice is recorded" not in later.text
    assert "already been used" in later.text


def test_a_post_to_a_spent_link_answers_410_like_the_api(api: Api) -> None:
    _, token, lawyer, _ = spend(api, "TAB-410")
    for step in ("confirm", "choice"):
        again = api.client.post(f"/tablet/{token}/{step}", data={"lawyer": lawyer, "lang": "en"})
        assert again.status_code == 410, step
    assert choose(api, token, {"lawyer": lawyer}).status_code == 410


def test_a_choice_session_is_re_opened_only_as_often_as_the_policy_allows(api: Api) -> None:
    request_id = investigation(api, "TAB-REOPEN")["id"]
    allowed = api.rt.policies.for_territory("CEN").choice.max_reopens
    tokens = [open_session(api, request_id)["token"] for _ in range(1 + allowed)]
    refused = api.post(f"{REQUESTS}/{request_id}/choice-sessions", "investigator")
    assert refused.status_code == 409
    assert "re-opened" in refused.json()["detail"]
    # The refusal superseded nothing: the newest link still works.
    assert show(api, tokens[-1]).status_code == 200
    with unit_of_work(api.rt.engine) as session:
        opened = session.exec(
            select(func.count())
            .select_from(ChoiceSession)
            .where(ChoiceSession.request_id == request_id)
        ).one()
    assert opened == 1 + allowed
    trail = api.get("/api/v1/audit", "bar", request_id=request_id).json()["events"]
    reopens = [
        event["payload"].get("reopen")
        for event in trail
        if event["action"] == "choice_session.opened"
    ]
    assert reopens == [None, *range(1, allowed + 1)]
