"""E-mail through apprise with contexts that load certificates only to secure a connection:
plain SMTP loads none, STARTTLS still verifies the server's certificate and host name, and
`verify=no` still turns verification off. A real STARTTLS server (aiosmtpd) with a
certificate from a test authority (trustme)."""

from __future__ import annotations

import logging
import ssl
from collections.abc import Iterator
from pathlib import Path

import apprise
import pytest
import trustme
from aiosmtpd.controller import Controller

from dispatcher.notifications import tls
from tests.support.mail import Inbox, MailServer
from tests.support.servers import free_port


class TlsMailServer:
    """A server that requires STARTTLS, with a certificate for `name`."""

    def __init__(self, authority: trustme.CA, name: str) -> None:
        self.inbox = Inbox()
        self.port = free_port()
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        authority.issue_cert(name).configure_cert(context)
        self.controller = Controller(
            self.inbox,
            hostname="127.0.0.1",
            port=self.port,
            tls_context=context,
            require_starttls=True,
        )

    def url(self, *, verify: bool = True) -> str:
        extra = "" if verify else "&verify=no"
        return (
            f"mailto://127.0.0.1:{self.port}?mode=starttls&from=counsel@bar.example"
            f"&to=lawyer@bar.example{extra}"
        )


@pytest.fixture
def authority() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def server(authority: trustme.CA) -> Iterator[TlsMailServer]:
    logging.getLogger("mail.log").disabled = True
    mail = TlsMailServer(authority, "127.0.0.1")
    mail.controller.start()
    yield mail
    mail.controller.stop()


def send(url: str) -> bool:
    tls.install()
    notifier = apprise.Apprise()
    assert notifier.add(url)
    return bool(notifier.notify(body="Case 1/2026", title="Invitation"))


def test_plain_smtp_loads_no_certificates() -> None:
    with MailServer() as mail:
        made, loads = tls.counts["contexts"], tls.counts["loads"]
        assert send(mail.url().replace("{email}", "lawyer@bar.example"))
        assert len(mail.inbox.messages) == 1
    # apprise asked for a context (so the shim is in its path) and nothing was loaded.
    assert tls.counts["contexts"] == made + 1
    assert tls.counts["loads"] == loads


def test_starttls_refuses_a_certificate_the_system_does_not_trust(
    server: TlsMailServer,
) -> None:
    assert not send(server.url())
    assert server.inbox.messages == []


def test_starttls_verifies_with_the_systems_authorities_loaded_once(
    server: TlsMailServer, authority: trustme.CA, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundle = tmp_path / "ca.pem"
    authority.cert_pem.write_to_path(str(bundle))
    # The shared context is made afresh, reading the system's authorities from this bundle.
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    monkeypatch.setattr(tls, "_shared", None)
    loads = tls.counts["loads"]
    assert send(server.url())
    assert send(server.url())
    assert len(server.inbox.messages) == 2
    assert tls.counts["loads"] == loads + 1


def test_starttls_checks_the_host_name(
    authority: trustme.CA, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundle = tmp_path / "ca.pem"
    authority.cert_pem.write_to_path(str(bundle))
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    monkeypatch.setattr(tls, "_shared", None)
    logging.getLogger("mail.log").disabled = True
    other = TlsMailServer(authority, "mail.elsewhere.example")
    other.controller.start()
    try:
        assert not send(other.url())
        assert other.inbox.messages == []
    finally:
        other.controller.stop()


def test_verify_no_still_turns_verification_off(server: TlsMailServer) -> None:
    assert send(server.url(verify=False))
    assert len(server.inbox.messages) == 1
