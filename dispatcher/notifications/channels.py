"""The ways to reach a lawyer, as apprise URLs, and one try of each.

The deployment's e-mail and SMS URLs (`DISPATCHER_NOTIFY_EMAIL_URL`, `..._SMS_URL`) carry an
`{email}` / `{phone}` placeholder and serve the lawyers who have that contact; a lawyer's own
`notify` list replaces them. Every channel is tried, each through its own `apprise.Apprise`
so that each outcome is known. Nothing here logs a URL, an address, a phone or a link: apprise's
own log (which names recipients) is kept out of the process's log, its warnings only read back,
cleaned, as an attempt's short error.
"""

from __future__ import annotations

import io
import logging
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote, urlsplit

import apprise
import structlog
from sqlalchemy.engine import Engine

from dispatcher.config import Settings
from dispatcher.db import read_only
from dispatcher.models import Lawyer
from dispatcher.notifications import tls
from dispatcher.notifications.message import compose
from dispatcher.outbox import Attempt, LogChannel
from policies.config import PolicyBook

log = structlog.get_logger(__name__)

# apprise logs each recipient: its records stay out of the root logger (a null handler, so
# that Python's last resort does not print them either).
_APPRISE_LOG = logging.getLogger("apprise")
_APPRISE_LOG.propagate = False
_APPRISE_LOG.addHandler(logging.NullHandler())

# Schemes whose host is a server (the rest may hold a token where the host goes: `tgram://`).
_SERVER_HOSTS = frozenset(
    {"mailto", "mailtos", "json", "jsons", "form", "forms", "xml", "xmls", "ntfy", "ntfys"}
    | {"gotify", "gotifys", "apprise", "apprises", "http", "https"}
)
# Schemes that take extra headers as `+Name=value` arguments: each message is marked with
# its outbox id, the same on every retry, so that a repeat can be recognised.
_HEADERS = frozenset({"mailto", "mailtos", "json", "jsons", "form", "forms", "xml", "xmls"})
_EMAIL = frozenset({"mailto", "mailtos"})
NO_CHANNEL = "none"
MESSAGE_HEADER = "X-Dispatcher-Message"


def channel_name(url: str) -> str:
    """A channel as recorded: its scheme and, for a server, its host; never more."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = parts.hostname if scheme in _SERVER_HOSTS else None
    return f"{scheme}://{host}" if host else f"{scheme}://"


def lawyer_urls(lawyer: Lawyer, *, email_url: str | None, sms_url: str | None) -> list[str]:
    """The lawyer's apprise URLs, contacts filled in: the lawyer's own, else the deployment's
    for each contact the lawyer has."""
    if lawyer.notify:
        templates = list(lawyer.notify)
    else:
        templates = [
            url
            for url, contact in ((email_url, lawyer.email), (sms_url, lawyer.phone))
            if url and contact
        ]
    return [
        url.replace("{email}", quote(lawyer.email or "", safe="@")).replace(
            "{phone}", quote(lawyer.phone or "", safe="")
        )
        for url in templates
    ]


def _marked(url: str, outbox_id: object) -> str:
    if outbox_id is None or urlsplit(url).scheme.lower() not in _HEADERS:
        return url
    return f"{url}{'&' if '?' in url else '?'}+{MESSAGE_HEADER}=outbox-{outbox_id}"


def _cleaned(text: str, secrets: Sequence[str | None]) -> str:
    line = text.strip().splitlines()[-1] if text.strip() else "refused"
    line = line.split(" - ", 2)[-1]  # without the time and level
    for secret in secrets:
        if secret and len(secret) > 2:
            line = line.replace(secret, "…")
    return line[:200]


@contextmanager
def _apprise_warnings() -> Iterator[io.StringIO]:
    """What apprise warns of while this thread sends (the courier sends on several threads at
    once: another thread's lines, with another lawyer's address, must not land in this one's
    error)."""
    captured = io.StringIO()
    handler = logging.StreamHandler(captured)
    handler.setLevel(logging.WARNING)
    handler.setFormatter(logging.Formatter("%(asctime)s - %(levelname)s - %(message)s"))
    thread = threading.get_ident()
    handler.addFilter(lambda record: record.thread == thread)
    _APPRISE_LOG.addHandler(handler)
    try:
        yield captured
    finally:
        _APPRISE_LOG.removeHandler(handler)


class AppriseChannel:
    """Sends an invitation's notification on every channel of its lawyer, one attempt each.

    With no URL set for the deployment and none of the lawyer's own, the notification goes to
    the log (ids only) as in development; a lawyer whom the deployment's URLs cannot reach
    (no contact) gets a permanent failed attempt that says so."""

    def __init__(self, engine: Engine, *, settings: Settings, policies: PolicyBook) -> None:
        self.engine = engine
        self.email_url = settings.notify_email_url
        self.sms_url = settings.notify_sms_url
        self.public_url = settings.public_url
        self.policies = policies
        self._log = LogChannel()
        tls.install()

    def send(self, lawyer: str, message: dict[str, Any]) -> Sequence[Attempt] | None:
        with read_only(self.engine) as session:
            notice = compose(session, message, policies=self.policies, public_url=self.public_url)
            if notice is None:
                return [Attempt(NO_CHANNEL, False, "the invitation is not found", permanent=True)]
            session.expunge(notice.lawyer)
        person = notice.lawyer
        urls = lawyer_urls(person, email_url=self.email_url, sms_url=self.sms_url)
        if not urls:
            if not (self.email_url or self.sms_url or person.notify):
                return self._log.send(lawyer, message)
            reason = "no channel: the lawyer has no contact"
            return [Attempt(NO_CHANNEL, False, reason, permanent=True)]
        token = message.get("answer_token")
        attempts = []
        for url in urls:
            name = channel_name(url)
            parts = urlsplit(url)
            secrets = [person.email, person.phone, parts.username, parts.password, url]
            secrets += [token if isinstance(token, str) else None]
            notifier = apprise.Apprise()
            if not notifier.add(_marked(url, message.get("outbox_id"))):
                attempts.append(Attempt(name, False, "not a valid apprise URL", permanent=True))
                continue
            title = notice.title if parts.scheme.lower() in _EMAIL else ""
            with _apprise_warnings() as captured:
                ok = bool(notifier.notify(body=notice.body, title=title))
            error = None if ok else _cleaned(captured.getvalue(), secrets)
            attempts.append(Attempt(name, ok, error))
        log.info(
            "notification.sent",
            invitation_id=message.get("invitation_id"),
            channels=len(attempts),
            delivered=sum(attempt.ok for attempt in attempts),
        )
        return attempts
