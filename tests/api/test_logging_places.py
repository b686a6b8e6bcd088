"""The person's name and whom to call reach the invited lawyer and never the log."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from dispatcher.config import Settings
from dispatcher.runtime import Runtime
from tests.api.test_places import with_places
from tests.support.clients import Api
from tests.support.registries import load_registry

SECRET_NAME = "Zaurbek Gizlinov"
CONTACT = {"name": "Mayor Səlim Gizliyev", "phone": "+994 70 909 08 07"}


def test_the_lawyer_sees_the_name_and_the_contact_and_the_log_does_not(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'log.db'}",
        scheduler=False,
        log_format="json",
        log_level="DEBUG",
    )
    rt = Runtime.build(settings)
    load_registry(rt, with_places())
    try:
        with TestClient(create_app(runtime=rt)) as client:
            api = Api(client, rt, "CEN")
            body = api.order("ORD-LOG", place="CEN-POL", contact=CONTACT)
            body["person"]["name"] = SECRET_NAME
            created = api.post("/api/v1/requests", "court", body)
            assert created.status_code == 201
            # A second order for the same person and case: the duplicate warning is logged.
            again = api.order("ORD-LOG-2", case_number=body["case_number"], place="CEN-POL")
            again["person"]["name"] = SECRET_NAME
            assert api.post("/api/v1/requests", "court", again).status_code == 201
            invitation = created.json()["invitation"]
            mine = api.get("/api/v1/invitations", invitation["lawyer"]).json()
            assert mine[0]["person_name"] == SECRET_NAME
            assert mine[0]["contact"] == CONTACT
            accepted = api.post(
                f"/api/v1/invitations/{invitation['id']}/accept",
                invitation["lawyer"],
                {"eta_minutes": 30},
            )
            assert accepted.status_code == 200
            assert SECRET_NAME not in accepted.text and CONTACT["phone"] not in accepted.text
            rt.courier.deliver_due()
    finally:
        rt.stop()
    err = capsys.readouterr().err
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert any(line.get("event") == "http.request" for line in lines)
    assert any(line.get("event") == "request.possible_duplicate" for line in lines)
    for secret in (SECRET_NAME, CONTACT["name"], CONTACT["phone"]):
        assert secret not in err
