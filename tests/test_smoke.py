from tests.support.clients import Api


def test_court_order_is_invited_and_accepted(api: Api) -> None:
    r = api.post("/api/v1/requests", "court", api.order("ORD-1"))
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["status"] == "inviting"
    inv = body["invitation"]
    assert inv["firm"] == "F1"
    r = api.post(f"/api/v1/invitations/{inv['id']}/accept", inv["lawyer"])
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "assigned"
    assert r.json()["appointment"]["lawyer"] == inv["lawyer"]
    v = api.get("/api/v1/audit/verify", "bar")
    assert v.json()["ok"] is True
