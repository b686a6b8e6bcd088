"""Court callbacks signed per Standard Webhooks with the requester's own secret, and sent only
under a URL prefix registered for the requester (SPEC v1.1 "Callbacks")."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from sqlmodel import func, select
from standardwebhooks import Webhook, WebhookVerificationError
from typer.testing import CliRunner

from dispatcher import cli
from dispatcher.config import Settings, get_settings
from dispatcher.db import unit_of_work
from dispatcher.models import AuditEvent, OutboxMessage, Request, Requester
from dispatcher.runtime import Runtime
from tests.support.clients import COURT_HOOKS, Api, make_token
from tests.support.flows import accept_pending, submit_request
from tests.support.receivers import Call, Receiver

runner = CliRunner()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def cli_db(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The CLI works on the test's database."""
    monkeypatch.setenv("DISPATCHER_DATABASE_URL", settings.database_url)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def secret_cli(*args: str) -> str:
    """`dispatcher requester secret ARGS`: it succeeds and prints the secret alone."""
    result = runner.invoke(cli.app, ["requester", "secret", *args])
    assert result.exit_code == 0, result.output
    secret = result.stdout.strip()
    assert result.stdout == secret + "\n" and secret.startswith("whsec_")
    return secret


def assigned_callback(rt: Runtime, receiver: Receiver, ref: str) -> Call:
    """A court order with a callback to `receiver`, accepted: the callback as it arrived."""
    request_id = submit_request(rt, ref, callback_url=receiver.url)
    rt.courier.deliver_due()  # the invitation
    with unit_of_work(rt.engine) as session:
        accept_pending(session, rt, request_id)
    assert rt.courier.deliver_due() == 1
    call = receiver.calls[-1]
    assert json.loads(call.body)["id"] == request_id
    return call


def test_a_callback_verifies_with_the_secret_the_cli_prints_and_a_tampered_one_does_not(
    small: Runtime, receiver: Receiver, cli_db: None
) -> None:
    make_token(small, "court", "Court One", territory="CEN", callback_prefixes=[receiver.prefix])
    secret = secret_cli("--name", "Court One")
    call = assigned_callback(small, receiver, "S-1")
    assert call.headers["Content-Type"] == "application/json"
    assert call.headers["webhook-id"] == call.headers["Idempotency-Key"]
    assert call.headers["webhook-signature"].startswith("v1,")

    payload = Webhook(secret).verify(call.body, call.headers)
    assert payload["status"] == "assigned" and payload == json.loads(call.body)

    tampered = call.body.replace(b'"assigned"', b'"unfilled"')
    assert tampered != call.body
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(tampered, call.headers)
    with pytest.raises(WebhookVerificationError):  # another id, same body and signature
        Webhook(secret).verify(call.body, {**call.headers, "webhook-id": "outbox-999999"})
    other_court = secret_cli("--name", "Court One", "--rotate")
    with pytest.raises(WebhookVerificationError):
        Webhook(other_court).verify(call.body, call.headers)


def test_the_secret_is_stable_and_rotation_retires_the_old_one(
    small: Runtime, receiver: Receiver, cli_db: None
) -> None:
    make_token(small, "court", "Court One", territory="CEN", callback_prefixes=[receiver.prefix])
    first = secret_cli("--name", "Court One")
    assert secret_cli("--name", "Court One", "--role", "court") == first

    rotated = runner.invoke(cli.app, ["requester", "secret", "--name", "Court One", "--rotate"])
    assert rotated.exit_code == 0, rotated.output
    new = rotated.stdout.strip()
    assert rotated.stdout == new + "\n" and new.startswith("whsec_") and new != first
    assert secret_cli("--name", "Court One") == new

    call = assigned_callback(small, receiver, "R-2")
    assert Webhook(new).verify(call.body, call.headers)["status"] == "assigned"
    with pytest.raises(WebhookVerificationError):
        Webhook(first).verify(call.body, call.headers)

    # Reading and rotating are audited; the secret itself is written nowhere in the trail.
    with unit_of_work(small.engine) as session:
        events = session.exec(select(AuditEvent).where(AuditEvent.entity_type == "requester")).all()
        actions = [e.action for e in events]
        assert actions.count("requester.secret_read") == 3
        assert actions.count("requester.secret_rotated") == 1
        trail = json.dumps([e.payload for e in session.exec(select(AuditEvent)).all()])
    assert first not in trail and new not in trail


def test_a_requester_older_than_secrets_gets_one_on_first_use(
    small: Runtime, receiver: Receiver, cli_db: None
) -> None:
    make_token(small, "court", "Court One", territory="CEN", callback_prefixes=[receiver.prefix])
    with unit_of_work(small.engine) as session:
        requester = session.exec(select(Requester)).one()
        requester.webhook_secret = None  # as the migration leaves an existing requester
        session.add(requester)
    call = assigned_callback(small, receiver, "O-1")
    secret = secret_cli("--name", "Court One")
    assert Webhook(secret).verify(call.body, call.headers)["status"] == "assigned"


def test_ambiguous_and_unknown_names_are_refused(small: Runtime, cli_db: None) -> None:
    make_token(small, "court", "Same Name", territory="CEN")
    make_token(small, "investigator", "Same Name", territory="CEN")
    ambiguous = runner.invoke(cli.app, ["requester", "secret", "--name", "Same Name"])
    assert ambiguous.exit_code != 0 and ambiguous.stdout == ""
    assert "ambiguous" in ambiguous.stderr and "--role" in ambiguous.stderr
    court = secret_cli("--name", "Same Name", "--role", "court")
    assert secret_cli("--name", "Same Name", "--role", "investigator") != court

    for args in (["--name", "Nobody"], ["--name", "Same Name", "--role", "bar"]):
        refused = runner.invoke(cli.app, ["requester", "secret", *args])
        assert refused.exit_code != 0 and refused.stdout == "", args
        assert refused.stderr.startswith("error: "), args


def test_token_create_registers_valid_prefixes_only(small: Runtime, cli_db: None) -> None:
    def create(*args: str) -> tuple[int, str, str]:
        r = runner.invoke(cli.app, ["token", "create", *args])
        return r.exit_code, r.stdout, r.stderr

    code, out, _ = create(
        *("--role", "court", "--name", "C", "--territory", "CEN"),
        *("--callback-prefix", "https://Court.Example", "--callback-prefix", COURT_HOOKS),
    )
    assert code == 0 and len(out.strip()) >= 32
    # A second token adds its prefixes to the requester's, without repeating one.
    code, _, _ = create(
        *("--role", "court", "--name", "C", "--territory", "CEN"),
        *("--callback-prefix", COURT_HOOKS, "--callback-prefix", "http://127.0.0.1:9000/x/"),
    )
    assert code == 0
    with unit_of_work(small.engine) as session:
        requester = session.exec(select(Requester).where(Requester.name == "C")).one()
        # A bare origin is held with its "/": no "https://court.example.attacker.net".
        assert requester.callback_prefixes == [
            "https://court.example/",
            COURT_HOOKS,
            "http://127.0.0.1:9000/x/",
        ]
    for bad in (
        ("--role", "court", "--name", "D", "--territory", "CEN", "--callback-prefix", "ftp://x"),
        ("--role", "bar", "--name", "B", "--callback-prefix", COURT_HOOKS),
    ):
        code, out, err = create(*bad)
        assert code == 2 and out == "" and "callback_prefix" in err, bad


# --- the prefix rule at the API -------------------------------------------------------------------


def _written(api: Api) -> tuple[int, int, int]:
    with unit_of_work(api.rt.engine) as session:
        return tuple(  # type: ignore[return-value]
            session.exec(select(func.count()).select_from(model)).one()
            for model in (Request, AuditEvent, OutboxMessage)
        )


@pytest.mark.parametrize(
    "url",
    [
        "https://elsewhere.example/hooks/counsel",
        "https://court.example/other/counsel",
        "https://court.example.attacker.net/hooks/counsel",
        "http://court.example/hooks/counsel",
    ],
)
def test_a_callback_url_outside_the_registered_prefixes_is_422_and_writes_nothing(
    api: Api, url: str
) -> None:
    api.auth("court")
    before = _written(api)
    r = api.post("/api/v1/requests", "court", api.order("ORD-P", callback_url=url))
    assert r.status_code == 422, r.text
    [error] = r.json()["detail"]
    assert error["loc"] == ["body", "callback_url"]
    assert _written(api) == before
    # Under the prefix the same order is accepted.
    ok = api.post("/api/v1/requests", "court", api.order("ORD-P", callback_url=COURT_HOOKS + "x"))
    assert ok.status_code == 201, ok.text


def test_a_requester_without_prefixes_may_not_ask_for_callbacks(api: Api) -> None:
    # The test investigator registered no prefix: a callback_url is refused, none is fine.
    body = api.order("INV-P", kind="investigation", callback_url=COURT_HOOKS + "x")
    before = _written(api)
    r = api.post("/api/v1/requests", "investigator", body)
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"] == ["body", "callback_url"]
    assert "no registered callback prefix" in r.json()["detail"][0]["msg"]
    assert _written(api) == before
    del body["callback_url"]
    assert api.post("/api/v1/requests", "investigator", body).status_code == 201
