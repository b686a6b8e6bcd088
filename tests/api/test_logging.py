"""Logs are structured JSON with request ids and carry no personal data or tablet tokens."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from dispatcher.config import Settings
from dispatcher.runtime import Runtime
from tests.support.clients import Api
from tests.support.registries import load_registry, small_registry

SECRET_NAME = "Zaurbek Gizlinov"


def test_logs_are_json_with_request_ids_and_no_names_or_tokens(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'log.db'}",
        scheduler=False,
        log_format="json",
        log_level="INFO",
    )
    rt = Runtime.build(settings)  # the default channel: notifications go to the log
    load_registry(rt, small_registry())
    try:
        with TestClient(create_app(runtime=rt)) as client:
            api = Api(client, rt, "CEN")
            body = api.order("INV-1", kind="investigation")
            body["person"]["name"] = SECRET_NAME
            created = api.post("/api/v1/requests", "investigator", body).json()
            token = api.post(
                f"/api/v1/requests/{created['id']}/choice-sessions", "investigator"
            ).json()["token"]
            assert api.client.get(f"/api/v1/tablet/{token}").status_code == 200
            chosen = api.client.post(f"/api/v1/tablet/{token}/choice", json={"delegate": True})
            assert chosen.status_code == 200
            rt.courier.deliver_due()
    finally:
        rt.stop()
    err = capsys.readouterr().err
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    requests = [line for line in lines if line.get("event") == "http.request"]
    assert len(requests) >= 4
    assert all(len(line["request_id"]) >= 16 for line in requests)
    assert {"/api/v1/tablet/{token}", "/api/v1/tablet/{token}/choice"} <= {
        line["route"] for line in requests
    }
    assert any(line.get("event") == "notification.sent" for line in lines)
    assert SECRET_NAME not in err
    assert token not in err
