"""Who may call what: every operation of the API against every role, as one table.

`MATRIX` names, for each operation of the OpenAPI document, the roles let through; every other
role must get 403, a caller without a token (or with a revoked one) 401. A role let through
may still be told 404 (not found, or another requester's) or 422, never 401 or 403. An
operation missing from the table fails the test, so a new route states its roles here.
Operations without a token (the tablet's link, health, metrics) are listed as PUBLIC.
"""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from dispatcher import tokens
from dispatcher.db import unit_of_work
from tests.support.clients import Api

ROLES = ("admin", "bar", "court", "investigator", "lawyer")
REQUESTERS = frozenset({"court", "investigator"})
READERS = frozenset({"admin", "bar"})
LAWYER = "L-11"

MATRIX: dict[tuple[str, str], frozenset[str]] = {
    ("POST", "/api/v1/requests"): REQUESTERS,
    ("POST", "/api/v1/requests/batch"): REQUESTERS,
    ("GET", "/api/v1/requests"): READERS | REQUESTERS,
    ("GET", "/api/v1/requests/{request_id}"): READERS | REQUESTERS,
    ("GET", "/api/v1/requests/{request_id}/events"): READERS | REQUESTERS,
    ("POST", "/api/v1/requests/{request_id}/cancel"): REQUESTERS | {"admin"},
    ("GET", "/api/v1/requests/{request_id}/explanation"): READERS | REQUESTERS,
    ("POST", "/api/v1/requests/{request_id}/choice-sessions"): frozenset({"investigator"}),
    ("GET", "/api/v1/invitations"): frozenset({"lawyer"}),
    ("GET", "/api/v1/invitations/events"): frozenset({"lawyer"}),
    ("POST", "/api/v1/invitations/{invitation_id}/accept"): frozenset({"lawyer"}),
    ("POST", "/api/v1/invitations/{invitation_id}/decline"): frozenset({"lawyer"}),
    ("GET", "/api/v1/appointments"): frozenset({"lawyer"}),
    ("POST", "/api/v1/appointments/{appointment_id}/close"): frozenset({"lawyer"}),
    ("POST", "/api/v1/registry/import"): frozenset({"admin"}),
    ("GET", "/api/v1/registry/territories"): READERS,
    ("GET", "/api/v1/registry/territories/{code}"): READERS,
    ("PUT", "/api/v1/registry/territories/{code}"): frozenset({"admin"}),
    ("GET", "/api/v1/registry/firms"): READERS,
    ("GET", "/api/v1/registry/firms/{code}"): READERS,
    ("PUT", "/api/v1/registry/firms/{code}"): frozenset({"admin"}),
    ("GET", "/api/v1/registry/lawyers"): READERS,
    ("GET", "/api/v1/registry/lawyers/{licence}"): READERS,
    ("PUT", "/api/v1/registry/lawyers/{licence}"): frozenset({"admin"}),
    ("PUT", "/api/v1/registry/lawyers/{licence}/photo"): frozenset({"admin"}),
    ("GET", "/api/v1/registry/places"): READERS,
    ("GET", "/api/v1/registry/places/{code}"): READERS,
    ("PUT", "/api/v1/registry/places/{code}"): frozenset({"admin"}),
    ("GET", "/api/v1/registry/conflicts"): READERS,
    ("POST", "/api/v1/registry/conflicts"): frozenset({"admin"}),
    ("POST", "/api/v1/registry/conflicts/remove"): frozenset({"admin"}),
    # A requester reads the audit of its own requests only (another's is 404).
    ("GET", "/api/v1/audit"): READERS | REQUESTERS,
    ("GET", "/api/v1/audit/verify"): READERS,
    ("GET", "/api/v1/tokens"): frozenset({"admin"}),
    ("POST", "/api/v1/tokens"): frozenset({"admin"}),
    ("POST", "/api/v1/tokens/{token_id}/revoke"): frozenset({"admin"}),
    ("POST", "/api/v1/rotas"): frozenset({"admin"}),
    ("GET", "/api/v1/rotas/{rota_id}"): READERS,
    ("POST", "/api/v1/rotas/{rota_id}/approve"): frozenset({"admin"}),
    ("GET", "/api/v1/reports/fairness"): READERS,
    ("GET", "/api/v1/reports/fairness.csv"): READERS,
    ("GET", "/api/v1/reports/tables/{table}.csv"): READERS,
    ("GET", "/api/v1/reports/flags"): READERS,
    ("GET", "/api/v1/reports/territories"): READERS,
}

# Without a token: the suspect's tablet (its link is the credential), the probes.
NO_TOKEN = {
    ("GET", "/api/v1/tablet/{token}"),
    ("POST", "/api/v1/tablet/{token}/choice"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
    ("GET", "/api/v1/public"),  # the transparency figures: aggregates, no personal data
}

# An event stream stays open: probed only for its refusals.
STREAMS = {
    ("GET", "/api/v1/requests/{request_id}/events"),
    ("GET", "/api/v1/invitations/events"),
}


def operations(client: TestClient) -> set[tuple[str, str]]:
    document = client.get("/openapi.json").json()
    return {(method.upper(), path) for path, ops in document["paths"].items() for method in ops}


def call(api: Api, method: str, path: str, headers: dict[str, str]) -> int:
    url = re.sub(r"\{[^}]+\}", "999999", path)
    params = {"request_id": "999999"} if path == "/api/v1/audit" else None
    body: dict[str, str] | None = {} if method in {"POST", "PUT"} else None
    response = api.client.request(method, url, headers=headers, json=body, params=params)
    return int(response.status_code)


def test_every_operation_is_in_the_table(api: Api) -> None:
    found = operations(api.client)
    assert found - set(MATRIX) - NO_TOKEN == set(), "operations with no roles stated"
    assert set(MATRIX) - found == set(), "roles stated for operations that are gone"


@pytest.mark.parametrize(("method", "path"), sorted(MATRIX))
def test_each_role_is_let_through_or_refused_as_the_table_says(
    api: Api, method: str, path: str
) -> None:
    allowed = MATRIX[(method, path)]
    seen = {}
    for role in ROLES:
        who = LAWYER if role == "lawyer" else role
        headers = api.auth(who)
        if role not in allowed:
            seen[role] = call(api, method, path, headers)
            assert seen[role] == 403, (role, seen[role])
        elif (method, path) not in STREAMS:
            seen[role] = call(api, method, path, headers)
            assert seen[role] not in {401, 403}, (role, seen[role])
    assert call(api, method, path, {}) == 401
    assert call(api, method, path, {"Authorization": "Bearer not-a-token"}) == 401


def test_a_revoked_token_is_refused_everywhere(api: Api) -> None:
    with unit_of_work(api.rt.engine) as session:
        tokens.revoke(session, id_or_name="bar one", actor="test")
    refused = {
        (method, path): call(api, method, path, api.auth("bar"))
        for method, path in sorted(MATRIX)
        if "bar" in MATRIX[(method, path)] and (method, path) not in STREAMS
    }
    assert set(refused.values()) == {401}, refused


def matrix_table() -> str:
    """The table as the closing note prints it (`python -m tests.api.test_authorisation`)."""
    lines = ["| operation | " + " | ".join(ROLES) + " |", "|---|" + "---|" * len(ROLES)]
    for method, path in sorted(MATRIX, key=lambda op: (op[1], op[0])):
        marks = ["yes" if role in MATRIX[(method, path)] else "403" for role in ROLES]
        lines.append(f"| `{method} {path}` | " + " | ".join(marks) + " |")
    for method, path in sorted(NO_TOKEN, key=lambda op: (op[1], op[0])):
        lines.append(f"| `{method} {path}` | " + " | ".join(["no token"] * len(ROLES)) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(matrix_table())
