"""The rotas over the API: the admin plans and approves, the bar reads, others may not."""

from __future__ import annotations

from tests.support.clients import Api


def test_the_admin_plans_and_approves_and_the_bar_reads(api: Api) -> None:
    body = {"territory": "CEN", "from": "2027-02-01", "days": 7, "time_limit_s": 3}
    r = api.client.post("/api/v1/rotas", json=body, headers=api.auth("admin"))
    assert r.status_code == 201, r.text
    made = r.json()
    assert made["status"] in ("optimal", "feasible") and made["approval"] == "draft"
    assert made["assignments"][0]["start"] == "2027-02-01T08:00:00+04:00"
    assert api.client.post("/api/v1/rotas", json=body, headers=api.auth("bar")).status_code == 403
    read = api.get(f"/api/v1/rotas/{made['id']}", "bar")
    assert read.status_code == 200 and read.json()["assignments"] == made["assignments"]
    path = f"/api/v1/rotas/{made['id']}/approve"
    assert api.client.post(path, headers=api.auth("bar")).status_code == 403
    approved = api.client.post(path, headers=api.auth("admin"))
    assert approved.status_code == 200 and approved.json()["approval"] == "approved"
    assert api.client.post(path, headers=api.auth("admin")).status_code == 409
    assert api.get("/api/v1/rotas/nope", "bar").status_code == 404


def test_an_unknown_territory_is_named_and_nothing_is_written(api: Api) -> None:
    body = {"territory": "XXX", "from": "2027-02-01"}
    r = api.client.post("/api/v1/rotas", json=body, headers=api.auth("admin"))
    assert r.status_code == 422 and r.json()["detail"][0]["loc"][-1] == "territory"
