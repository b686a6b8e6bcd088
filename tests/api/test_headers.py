"""Headers every answer carries: nothing personal is stored by a browser or a proxy, no answer
is sniffed into another type, /metrics can be closed, and /docs loads nothing from elsewhere."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from dispatcher.runtime import Runtime
from tests.api.test_tablet import investigation, open_session
from tests.support.clients import Api


def test_json_answers_with_a_token_or_a_person_are_not_stored(api: Api) -> None:
    request = investigation(api, "H-1")
    opened = open_session(api, request["id"])
    answers = [
        api.post(f"/api/v1/requests/{request['id']}/choice-sessions", "investigator"),
        api.get(f"/api/v1/requests/{request['id']}", "investigator"),
        api.client.get(f"/api/v1/tablet/{opened['token']}"),
        api.client.get("/api/v1/tablet/unknown-token"),
        api.get("/api/v1/requests", None),
        api.client.get("/openapi.json"),
        api.client.get(f"/tablet/{opened['token']}"),
        api.client.get("/login"),
    ]
    for answer in answers:
        assert answer.headers["cache-control"] == "no-store", answer.request.url
        assert answer.headers["x-content-type-options"] == "nosniff", answer.request.url


def test_static_files_may_be_cached_and_are_not_sniffed(api: Api) -> None:
    answer = api.client.get("/static/tablet.js")
    assert answer.status_code == 200
    assert "no-store" not in answer.headers.get("cache-control", "")
    assert answer.headers["x-content-type-options"] == "nosniff"


def test_a_refused_body_carries_the_headers_too(api: Api) -> None:
    answer = api.client.post(
        "/api/v1/requests", content=b"x" * 2_000_000, headers=api.auth("court")
    )
    assert answer.status_code == 413
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["cache-control"] == "no-store"


def test_metrics_are_open_without_a_metrics_token(api: Api) -> None:
    assert api.rt.settings.metrics_token is None
    assert api.client.get("/metrics").status_code == 200


@pytest.fixture
def closed_metrics(small: Runtime) -> Iterator[TestClient]:
    settings = small.settings.model_copy(update={"metrics_token": "scrape-secret"})
    with TestClient(create_app(settings=settings, runtime=small)) as client:
        yield client


def test_metrics_need_the_metrics_token_when_it_is_set(closed_metrics: TestClient) -> None:
    assert closed_metrics.get("/metrics").status_code == 401
    wrong = closed_metrics.get("/metrics", headers={"Authorization": "Bearer scrape-secreT"})
    assert wrong.status_code == 401
    right = closed_metrics.get("/metrics", headers={"Authorization": "Bearer scrape-secret"})
    assert right.status_code == 200
    assert "dispatcher_http_requests_total" in right.text


def test_docs_reference_no_other_host_and_their_files_are_served(api: Api) -> None:
    page = api.client.get("/docs")
    assert page.status_code == 200
    policy = page.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "script-src 'self'" in policy
    assert "http" not in policy
    references = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert len(references) >= 3
    assert not any("//" in reference for reference in references), references
    for reference in references:
        answer = api.client.get(reference)
        assert answer.status_code == 200, reference
        assert len(answer.content) > 0
    # The files Swagger UI itself would fetch stay on this site too: no CDN, no validator.
    script = api.client.get("/static/docs.js").text
    assert "validatorUrl: null" in script
    assert api.client.get("/openapi.json").status_code == 200
    assert api.client.get("/redoc").status_code == 404


def test_the_swagger_ui_licence_is_served_beside_its_files(api: Api) -> None:
    licence = api.client.get("/docs/static/LICENSE")
    assert licence.status_code == 200
    assert "Apache License" in licence.text


def _healthz_count(api: Api) -> float:
    """The metrics' count of healthy /healthz answers so far (the registry is the process's)."""
    found = re.search(
        r'dispatcher_http_requests_total\{method="GET",route="/healthz",status="200"\} (\S+)',
        api.client.get("/metrics").text,
    )
    return float(found.group(1)) if found else 0.0


def test_every_answer_carries_its_request_id_and_is_counted_by_route(api: Api) -> None:
    before = _healthz_count(api)
    given = api.client.get("/healthz", headers={"X-Request-ID": "trace-" + "7" * 80})
    assert given.headers["X-Request-ID"] == ("trace-" + "7" * 80)[:64]
    made = [api.client.get("/healthz").headers["X-Request-ID"] for _ in range(2)]
    assert all(re.fullmatch(r"[0-9a-f]{32}", m) for m in made) and made[0] != made[1]
    assert _healthz_count(api) == before + 3
    # Answers of every kind: a route's, an error of the routing, a refusal of the auth.
    assert "X-Request-ID" in api.client.get("/no/such/page.json").headers
    assert "X-Request-ID" in api.client.get("/api/v1/requests").headers
    metrics = api.client.get("/metrics").text
    assert 'route="unmatched",status="404"' in metrics
    assert 'route="/api/v1/requests",status="401"' in metrics
