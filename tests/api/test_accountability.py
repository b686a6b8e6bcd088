"""Accountability: decisions explain themselves, the audit chain verifies and detects tampering
(invariant 7), the bar's fairness report, and the operations endpoints."""

from __future__ import annotations

import csv
import io
import itertools
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from policies.config import load_policy_book
from tests.support.clients import Api

ROOT = Path(__file__).resolve().parents[2]
REQUESTS = "/api/v1/requests"


def sql(api: Api, statement: str, **params: Any) -> None:
    with api.rt.engine.begin() as conn:
        conn.execute(text(statement), params)


def verify(api: Api) -> dict[str, Any]:
    r = api.get("/api/v1/audit/verify", "bar")
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def cli_verify(api: Api, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DISPATCHER_DATABASE_URL": api.rt.settings.database_url}
    return subprocess.run(
        [sys.executable, "-m", "dispatcher.cli", "audit", "verify"],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


def busy_day(api: Api) -> str:
    """Some history: an order declined once then accepted, and one cancelled."""
    person = {"name": "Sergey Ivanov", "language": "ru", "juvenile": False}
    created = api.post(REQUESTS, "court", api.order("ORD-1", person=person)).json()
    first = created["invitation"]
    after = api.post(
        f"/api/v1/invitations/{first['id']}/decline", first["lawyer"], {"reason": "ill"}
    ).json()
    second = after["invitation"]
    api.post(f"/api/v1/invitations/{second['id']}/accept", second["lawyer"])
    other = api.post(REQUESTS, "court", api.order("ORD-2")).json()
    api.post(f"{REQUESTS}/{other['id']}/cancel", "court")
    request_id: str = created["id"]
    return request_id


# --- explanations ------------------------------------------------------------------------------


def test_the_explanation_names_policy_ranking_exclusions_and_choice(api: Api) -> None:
    person = {"name": "Sergey Ivanov", "language": "ru", "juvenile": False}
    created = api.post(REQUESTS, "court", api.order("ORD-1", person=person)).json()
    r = api.get(f"{REQUESTS}/{created['id']}/explanation", "court")
    assert r.status_code == 200, r.text
    explanation = r.json()
    assert explanation["request_id"] == created["id"]
    [decision] = explanation["decisions"]
    assert decision["kind"] == "rotation"
    assert decision["policy_version"] == load_policy_book().default.version
    assert decision["chosen"] == {
        "firm": created["invitation"]["firm"],
        "lawyer": created["invitation"]["lawyer"],
    }
    assert decision["lawyer_turn"].startswith(f"{created['invitation']['lawyer']} is ")
    ranking = decision["ranking"]
    assert {e["firm"] for e in ranking} == {"F1", "F2", "F3"}
    assert ranking[0]["firm"] == decision["chosen"]["firm"]
    for entry in ranking:
        assert {"firm", "weight", "share", "entitlement", "offers"} <= set(entry)
    assert {e["firm"]: e["weight"] for e in ranking} == {"F1": 3, "F2": 2, "F3": 1}
    assert sum(e["share"] for e in ranking) == pytest.approx(1.0)
    [home] = decision["tried"]
    assert home["territory"] == "CEN"
    excluded = {e["licence"]: e["reason"] for e in home["excluded_lawyers"]}
    assert excluded == {"L-12": "language", "L-13": "language", "L-22": "language"}
    for entry in home["excluded_lawyers"]:
        assert entry["firm"] and entry["reason"]
    # Bar and admin read it too; the decision's policy version is also in the audit.
    assert api.get(f"{REQUESTS}/{created['id']}/explanation", "bar").json() == explanation
    events = api.get("/api/v1/audit", "bar", request_id=created["id"]).json()["events"]
    decided = [e for e in events if e["action"] == "decision.rotation"]
    assert decided[0]["payload"]["policy_version"] == decision["policy_version"]


# --- the audit trail -------------------------------------------------------------------------


def test_the_audit_lists_a_requests_events_in_order_and_the_chain_links(api: Api) -> None:
    request_id = busy_day(api)
    mine = api.get("/api/v1/audit", "court", request_id=request_id)
    assert mine.status_code == 200, mine.text
    events = mine.json()["events"]
    actions = [e["action"] for e in events]
    assert actions[0] == "request.created"
    assert actions.count("invitation.sent") == 2
    assert "invitation.declined" in actions and "invitation.accepted" in actions
    assert actions.index("invitation.declined") < actions.index("invitation.accepted")
    assert actions[-1] == "request.status" and events[-1]["payload"]["to"] == "assigned"
    assert all(e["request_id"] == request_id for e in events)
    seqs = [e["seq"] for e in events]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)

    everything = api.get("/api/v1/audit", "bar").json()["events"]
    assert [e["seq"] for e in everything] == list(range(1, len(everything) + 1))
    assert everything[0]["prev_hash"] == "0" * 64
    for before, after in itertools.pairwise(everything):
        assert after["prev_hash"] == before["hash"]
    page = api.get("/api/v1/audit", "bar", after=3, limit=2).json()
    assert [e["seq"] for e in page["events"]] == [4, 5] and page["next_after"] == 5

    result = verify(api)
    assert result["ok"] is True and result["events"] == len(everything)
    assert not result.get("first_bad")


def test_a_requester_reads_only_the_audit_of_its_own_requests(api: Api) -> None:
    request_id = busy_day(api)
    assert api.get("/api/v1/audit", "court").status_code == 403
    assert api.get("/api/v1/audit", "investigator", request_id=request_id).status_code == 404
    assert api.get("/api/v1/audit", "L-11").status_code == 403
    assert api.get("/api/v1/audit/verify", "court").status_code == 403
    assert api.get("/api/v1/audit/verify", None).status_code == 401


def test_altering_an_event_is_detected_at_that_event(api: Api, tmp_path: Path) -> None:
    busy_day(api)
    assert verify(api)["ok"] is True
    ok = cli_verify(api, tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert '"ok": true' in ok.stdout
    sql(api, "UPDATE audit_event SET payload = :p WHERE seq = 3", p='{"forged":true}')
    result = verify(api)
    assert result["ok"] is False
    assert result["first_bad"]["seq"] == 3
    assert result["events"] == 2
    broken = cli_verify(api, tmp_path)
    assert broken.returncode == 1, (broken.stdout, broken.stderr)
    assert '"ok": false' in broken.stdout


@pytest.mark.parametrize("column", ["actor", "action", "entity_id", "at", "request_id"])
def test_altering_any_stored_field_is_detected(api: Api, column: str) -> None:
    request_id = busy_day(api)
    seq = api.get("/api/v1/audit", "bar", request_id=request_id).json()["events"][1]["seq"]
    value = {
        "actor": "admin:someone else",
        "action": "invitation.withdrawn",
        "entity_id": "forged",
        "at": "2020-01-01 00:00:00.000000",
        "request_id": "0" * 32,
    }[column]
    sql(api, f"UPDATE audit_event SET {column} = :v WHERE seq = :s", v=value, s=seq)
    result = verify(api)
    assert result["ok"] is False and result["first_bad"]["seq"] == seq


def test_deleting_a_middle_event_is_detected(api: Api, tmp_path: Path) -> None:
    busy_day(api)
    total = verify(api)["events"]
    middle = total // 2
    sql(api, "DELETE FROM audit_event WHERE seq = :s", s=middle)
    result = verify(api)
    assert result["ok"] is False
    assert result["first_bad"]["seq"] == middle + 1
    assert cli_verify(api, tmp_path).returncode == 1


def test_deleting_the_last_event_is_detected(api: Api, tmp_path: Path) -> None:
    busy_day(api)
    total = verify(api)["events"]
    sql(api, "DELETE FROM audit_event WHERE seq = :s", s=total)
    result = verify(api)
    assert result["ok"] is False
    assert result["first_bad"] is not None
    assert cli_verify(api, tmp_path).returncode == 1


def test_rewriting_an_event_and_its_hash_breaks_the_next_link(api: Api) -> None:
    busy_day(api)
    sql(
        api,
        "UPDATE audit_event SET hash = :h WHERE seq = 4",
        h="f" * 64,
    )
    result = verify(api)
    assert result["ok"] is False and result["first_bad"]["seq"] == 4


# --- fairness ----------------------------------------------------------------------------------


def twelve_orders(api: Api) -> None:
    for i in range(12):
        created = api.post(REQUESTS, "court", api.order(f"ORD-{i}")).json()
        invitation = created["invitation"]
        accepted = api.post(f"/api/v1/invitations/{invitation['id']}/accept", invitation["lawyer"])
        assert accepted.status_code == 200, accepted.text
        appointment = accepted.json()["appointment"]["id"]
        closed = api.post(f"/api/v1/appointments/{appointment}/close", invitation["lawyer"])
        assert closed.status_code == 200, closed.text


def test_the_fairness_report_follows_the_weights(api: Api) -> None:
    twelve_orders(api)
    r = api.get("/api/v1/reports/fairness", "bar", territory="CEN")
    assert r.status_code == 200, r.text
    report = r.json()
    rows = {row["firm"]: row for row in report["firms"]}
    assert set(rows) == {"F1", "F2", "F3"}
    assert {f: row["weight"] for f, row in rows.items()} == {"F1": 3, "F2": 2, "F3": 1}
    assert sum(row["offers"] for row in rows.values()) == 12
    assert sum(row["entitlement"] for row in rows.values()) == pytest.approx(12.0)
    assert sum(row["accepted"] for row in rows.values()) == 12
    for firm, expected in {"F1": 6.0, "F2": 4.0, "F3": 2.0}.items():
        assert rows[firm]["entitlement"] == pytest.approx(expected)
        assert abs(rows[firm]["deviation"]) < 1
        assert rows[firm]["deviation"] == pytest.approx(
            rows[firm]["offers"] - rows[firm]["entitlement"]
        )
        assert rows[firm]["declined"] == 0 and rows[firm]["expired"] == 0
    assert report["decisions"] == 12
    assert report["max_abs_deviation"] < 1

    r = api.get("/api/v1/reports/fairness.csv", "bar", territory="CEN")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    lines = r.text.strip().splitlines()
    assert lines[0] == "firm,weight,entitlement,offers,accepted,declined,expired,deviation"
    parsed = list(csv.DictReader(io.StringIO(r.text)))
    assert [row["firm"] for row in parsed] == ["F1", "F2", "F3"]
    assert len(lines) == 4
    for row in parsed:
        assert int(row["offers"]) == rows[row["firm"]]["offers"]
        assert float(row["entitlement"]) == pytest.approx(rows[row["firm"]]["entitlement"])


def test_declines_are_counted_and_still_use_up_the_turn(api: Api) -> None:
    created = api.post(REQUESTS, "court", api.order("ORD-1")).json()
    first = created["invitation"]
    api.post(f"/api/v1/invitations/{first['id']}/decline", first["lawyer"], {"reason": "away"})
    rows = {
        row["firm"]: row
        for row in api.get("/api/v1/reports/fairness", "bar", territory="CEN").json()["firms"]
    }
    assert rows[first["firm"]]["declined"] == 1
    assert sum(row["offers"] for row in rows.values()) == 2


def test_only_the_bar_and_admin_read_fairness_reports(api: Api) -> None:
    for who in ("court", "investigator", "L-11"):
        assert api.get("/api/v1/reports/fairness", who, territory="CEN").status_code == 403
        assert api.get("/api/v1/reports/fairness.csv", who, territory="CEN").status_code == 403
    assert api.get("/api/v1/reports/fairness", "admin", territory="CEN").status_code == 200
    assert api.get("/api/v1/reports/fairness", "bar", territory="ZZZ").status_code == 404
    assert api.get("/api/v1/reports/fairness", "bar").status_code == 422


# --- operations ------------------------------------------------------------------------------


def test_health_readiness_and_metrics(api: Api) -> None:
    assert api.client.get("/healthz").status_code == 200
    ready = api.client.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"]["database"] == "ok"
    api.post(REQUESTS, "court", api.order("ORD-1"))
    metrics = api.client.get("/metrics")
    assert metrics.status_code == 200
    assert "dispatcher_http_requests_total" in metrics.text
    assert 'route="/api/v1/requests"' in metrics.text
    assert api.client.get("/openapi.json").status_code == 200


def test_metrics_never_carry_a_tablet_token(api: Api) -> None:
    created = api.post(REQUESTS, "investigator", api.order("INV-1", kind="investigation")).json()
    token = api.post(f"{REQUESTS}/{created['id']}/choice-sessions", "investigator").json()["token"]
    assert api.client.get(f"/api/v1/tablet/{token}").status_code == 200
    metrics = api.client.get("/metrics").text
    assert token not in metrics
    assert "/api/v1/tablet/{token}" in metrics
