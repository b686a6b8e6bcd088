"""The contract tells the truth: what the OpenAPI document promises, a real server keeps.

Two tests. The first reads the document and the routes behind it: every operation documents
the error statuses its dependencies can produce (a bearer token: 401 and 429; a role: 403; a
body: 413 and 422; parameters: 422), each with the body the service sends; a new route that
leaves one out fails here (`api/responses.py` is the helper to use). The second runs
schemathesis against `dispatcher serve` with the demo registry, as each role in turn: a bounded
number of generated requests per operation, valid and invalid, each checked for a server
error, a status the document does not list, a content type it does not list and a body that
breaks its schema. The figures (cases per role, failures by kind) are printed; all must be zero.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import Case, GenerationMode, openapi
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.main import create_app
from api.responses import DESCRIPTIONS
from dispatcher import tokens
from dispatcher.config import Settings
from dispatcher.db import unit_of_work
from dispatcher.runtime import Runtime
from tests.support.registries import demo_registry, load_registry
from tests.support.servers import free_port, wait_until_up

ROLES = ("admin", "bar", "court", "investigator", "lawyer")
# Generated requests per operation and role: valid ones, then invalid ones. About 36
# operations: a few hundred cases per role.
POSITIVE_EXAMPLES = 6
NEGATIVE_EXAMPLES = 4
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
# Statuses an operation documents besides the errors of `api.responses`.
SUCCESS = {"200", "201"}


# --- the document against the routes --------------------------------------------------------


def required_statuses(operation: dict[str, Any]) -> set[str]:
    """The error statuses an operation can answer whatever its handler does, read from the
    document itself: a bearer token (`security`), a body, parameters."""
    required: set[str] = set()
    if operation.get("security"):
        # No or a bad token, too many requests, a role that may not: every authenticated
        # operation of the API restricts its roles.
        required |= {"401", "403", "429"}
    if "requestBody" in operation:
        required |= {"413", "422"}
    if operation.get("parameters") or "requestBody" in operation:
        required.add("422")
    return required


def test_every_operation_documents_its_error_statuses_and_their_bodies() -> None:
    document: dict[str, Any] = create_app(
        Settings(database_url="sqlite://", scheduler=False)
    ).openapi()
    missing: list[str] = []
    wrong: list[str] = []
    seen = 0
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            seen += 1
            label = f"{method.upper()} {path}"
            documented = set(operation["responses"])
            lacking = required_statuses(operation) - documented
            if lacking:
                missing.append(f"{label}: {sorted(lacking)}")
            for status in sorted(documented - SUCCESS):
                if int(status) not in DESCRIPTIONS:
                    wrong.append(f"{label}: {status} is not a status of api.responses")
                    continue
                body = operation["responses"][status]["content"]["application/json"]["schema"]
                expected = "ValidationErrorOut" if status == "422" else "ErrorOut"
                if body.get("$ref") != f"#/components/schemas/{expected}":
                    wrong.append(f"{label}: {status} documents {body}, not {expected}")
    assert seen > 30
    assert not missing, "operations missing error statuses (use api.responses.errors):\n" + (
        "\n".join(missing)
    )
    assert not wrong, "\n".join(wrong)
    schemas = document["components"]["schemas"]
    for reference in re.findall(r'"#/components/schemas/([^"]+)"', json.dumps(document)):
        assert reference in schemas, f"{reference} is referred to but not in the components"
    detail = schemas["ValidationErrorOut"]["properties"]["detail"]
    assert detail["items"]["$ref"] == "#/components/schemas/FieldError"
    assert schemas["ErrorOut"]["required"] == ["detail"]


def test_the_document_states_the_csv_the_choice_and_the_window() -> None:
    document: dict[str, Any] = create_app(
        Settings(database_url="sqlite://", scheduler=False)
    ).openapi()
    paths = document["paths"]
    for path in ("/api/v1/reports/fairness.csv", "/api/v1/reports/tables/{table}.csv"):
        assert list(paths[path]["get"]["responses"]["200"]["content"]) == ["text/csv"]
    choice = document["components"]["schemas"]["ChoiceIn"]
    assert [option["required"] for option in choice["oneOf"]] == [
        ["lawyer"],
        ["delegate"],
        ["own_counsel"],
    ]
    for path in ("/api/v1/reports/fairness", "/api/v1/reports/flags"):
        (window,) = [p for p in paths[path]["get"]["parameters"] if p["name"] == "window"]
        assert window["schema"]["enum"] == [30, 90, 365]


# --- schemathesis against a real server ---------------------------------------------------------


def prepare(database_url: str) -> dict[str, str]:
    """The demo registry and one token per role, written before the server starts."""
    rt = Runtime.build(Settings(database_url=database_url, scheduler=False, log_level="WARNING"))
    data = demo_registry()
    territory = data["territories"][0]["code"]
    licence = data["lawyers"][0]["licence"]
    try:
        load_registry(rt, data)
        with unit_of_work(rt.engine) as session:
            made = {
                "admin": tokens.create_token(session, role="admin", name="Fuzz admin"),
                "bar": tokens.create_token(session, role="bar", name="Fuzz bar"),
                "court": tokens.create_token(
                    session, role="court", name="Fuzz court", territories=[territory]
                ),
                "investigator": tokens.create_token(
                    session, role="investigator", name="Fuzz police", territories=[territory]
                ),
                "lawyer": tokens.create_token(
                    session, role="lawyer", name="Fuzz lawyer", lawyer=licence
                ),
            }
    finally:
        rt.stop()
    return made


@dataclass
class Served:
    base: str
    tokens: dict[str, str]
    log: Path


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """`dispatcher serve` (one worker) on a SQLite file with the demo registry."""
    root = tmp_path_factory.mktemp("schemathesis")
    database_url = f"sqlite:///{root / 'fuzz.db'}"
    made = prepare(database_url)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DISPATCHER_")}
    env |= {
        "DISPATCHER_DATABASE_URL": database_url,
        "DISPATCHER_LOG_LEVEL": "WARNING",
        "DISPATCHER_LOG_FORMAT": "json",
        # The run is hundreds of requests a minute on one token: not what the limiter is for.
        "DISPATCHER_RATE_LIMIT_PER_MINUTE": "1000000",
    }
    log = root / "server.log"
    command = [sys.executable, "-m", "dispatcher.cli", "serve", "--port", str(port)]
    with log.open("wb") as out:
        server = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(base, timeout_s=60)
        yield Served(base, made, log)
    finally:
        server.terminate()
        server.wait(timeout=30)


@dataclass
class Tally:
    """What a run did: cases per role, and each failure by kind with its first example."""

    cases: Counter[str] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)
    examples: dict[str, str] = field(default_factory=dict)
    unsatisfiable: list[str] = field(default_factory=list)

    def record(self, kind: str, where: str, example: str) -> None:
        self.failures[kind] += 1
        self.examples.setdefault(f"{kind}: {where}", example)


def streams(case_operation: Any) -> bool:
    """An event stream never ends by itself: schemathesis cannot read it whole."""
    responses = case_operation.definition.raw.get("responses", {})
    return any("text/event-stream" in r.get("content", {}) for r in responses.values())


def fuzz(base: str, token: str, role: str, tally: Tally) -> None:
    schema = openapi.from_url(f"{base}/openapi.json")
    headers = {"Authorization": f"Bearer {token}"}
    session = requests.Session()
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result
        operation = result.ok()
        if streams(operation):
            continue
        for mode, examples in (
            (GenerationMode.POSITIVE, POSITIVE_EXAMPLES),
            (GenerationMode.NEGATIVE, NEGATIVE_EXAMPLES),
        ):

            @settings(
                max_examples=examples,
                database=None,
                deadline=None,
                derandomize=True,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            @given(operation.as_strategy(generation_mode=mode))
            def one(case: Case[Any]) -> None:
                response = case.call(base_url=base, session=session, headers=headers, timeout=30)
                tally.cases[role] += 1
                try:
                    case.validate_response(response, checks=CHECKS, headers=headers)
                except FailureGroup as group:
                    for failure in group.exceptions:
                        report(failure, case, response.status_code)
                except Failure as failure:
                    report(failure, case, response.status_code)

            def report(failure: Failure, case: Case[Any], status: int) -> None:
                where = f"{case.method} {case.operation.path} → {status}"
                example = f"as {role}: {failure.title}; {case.as_curl_command(headers)}"
                tally.record(type(failure).__name__, where, example[:600])

            try:
                one()
            except Unsatisfiable:
                # Nothing invalid to send (no parameters, no body) in negative mode.
                tally.unsatisfiable.append(f"{mode.value} {operation.label}")


def test_a_json_body_that_is_not_utf8_is_422_naming_the_body(served: Served) -> None:
    # Found by schemathesis: FastAPI answered 400, a status the contract does not have.
    police = {"Authorization": f"Bearer {served.tokens['investigator']}"}
    for body in (b"\xff", b'{"external_ref": "\xc3"}'):
        r = requests.post(f"{served.base}/api/v1/requests", data=body, headers=police, timeout=30)
        assert r.status_code == 422, r.text
        assert [e["loc"] for e in r.json()["detail"]] == [["body"]]
    r = requests.post(f"{served.base}/api/v1/tablet/unknown/choice", data=b"\xff", timeout=30)
    assert r.status_code == 422, r.text
    # Still a JSON decode error when it is UTF-8 but not JSON.
    as_json = {**police, "Content-Type": "application/json"}
    r = requests.post(f"{served.base}/api/v1/requests", data=b"{", headers=as_json, timeout=30)
    assert r.status_code == 422 and r.json()["detail"][0]["type"] == "json_invalid"


def test_schemathesis_finds_no_server_error_undocumented_status_or_broken_schema(
    served: Served,
) -> None:
    tally = Tally()
    for role in ROLES:
        fuzz(served.base, served.tokens[role], role, tally)
    print(
        "\nschemathesis: cases per role "
        + ", ".join(f"{role} {tally.cases[role]}" for role in ROLES)
        + f"; failures by kind {dict(tally.failures) or 'none'}"
    )
    for role in ROLES:
        assert tally.cases[role] >= 200, (role, tally.cases[role])
    assert not tally.failures, "\n".join(
        f"{where}\n    {example}" for where, example in tally.examples.items()
    )
