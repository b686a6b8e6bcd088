"""A real SMTP server on loopback (aiosmtpd), keeping every message it receives."""

from __future__ import annotations

import email
import email.policy
import logging
from email.message import EmailMessage

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from tests.support.servers import free_port


class Inbox:
    """The messages received, parsed, with their envelope recipients."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], EmailMessage]] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.content if isinstance(envelope.content, bytes) else b""
        parsed = email.message_from_bytes(content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(([str(to) for to in envelope.rcpt_tos], parsed))
        return "250 OK"


class MailServer:
    """`with MailServer() as mail:` a plain SMTP server (no TLS) on a free port."""

    def __init__(self) -> None:
        self.inbox = Inbox()
        self.port = free_port()
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)

    def url(self, sender: str = "counsel@bar.example") -> str:
        """The apprise URL that sends through this server to a lawyer's `{email}`."""
        return f"mailto://127.0.0.1:{self.port}?mode=insecure&from={sender}&to={{email}}"

    def __enter__(self) -> MailServer:
        # The test's server is not the service: its own log (recipients) stays out of the
        # service's log that tests search.
        logging.getLogger("mail.log").disabled = True
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()


def text_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    content = part.get_content()
    assert isinstance(content, str)
    return content
