"""TLS for apprise's e-mail connections without reloading the system's certificates each time.

apprise opens one SMTP connection per message and, for each, builds a new TLS context with
`ssl.create_default_context()`, even for a plain connection that never uses it. Loading the
system's CA certificates into a context costs 20–30 ms of CPU under OpenSSL 3: most of the CPU
of an e-mail notification, and in a burst of detentions, most of the time an invitation waits.

`install()` gives apprise's SMTP module a `create_default_context` with the same defaults whose
contexts load nothing until a connection is secured:

- a plain connection (`mode=insecure`) never loads certificates;
- a connection secured with the defaults (verify the certificate and the host name) is wrapped
  by one verifying context shared by the process, loaded once (an `SSLContext` may wrap sockets
  on several threads at once; nobody changes the shared one);
- a connection whose context was changed (apprise's `verify=no` turns the checks off) is
  wrapped by that context itself, loaded as before when it verifies.

Verification is never weakened: a context that verifies wraps with the system's certificates,
with host name checking as configured. `tests/notifications/test_tls.py` checks each case
against a real STARTTLS server.
"""

from __future__ import annotations

import ssl
import threading
import types
from typing import Any

from apprise.plugins.email import smtp as apprise_smtp

_shared: ssl.SSLContext | None = None
_shared_lock = threading.Lock()
# How often certificates were loaded into a context, and contexts made (read by the tests).
counts = {"contexts": 0, "loads": 0}


def _verifying() -> ssl.SSLContext:
    """The process's verifying context with `create_default_context`'s settings, made once."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = ssl.create_default_context()
            counts["loads"] += 1
        return _shared


class LazyContext(ssl.SSLContext):
    """`ssl.create_default_context()`'s client settings; certificates loaded only to wrap."""

    _loaded = False

    def _defaults(self) -> bool:
        return self.verify_mode == ssl.CERT_REQUIRED and self.check_hostname

    def wrap_socket(self, *args: Any, **kwargs: Any) -> ssl.SSLSocket:
        if self._defaults():
            return _verifying().wrap_socket(*args, **kwargs)
        if self.verify_mode != ssl.CERT_NONE and not self._loaded:
            self.load_default_certs(ssl.Purpose.SERVER_AUTH)
            self._loaded = True
            counts["loads"] += 1
        return super().wrap_socket(*args, **kwargs)


def create_default_context(
    purpose: ssl.Purpose = ssl.Purpose.SERVER_AUTH, **kwargs: Any
) -> ssl.SSLContext:
    """What apprise's SMTP module calls: a client context that verifies by default."""
    if purpose != ssl.Purpose.SERVER_AUTH or kwargs:
        return ssl.create_default_context(purpose, **kwargs)
    context = LazyContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies certificates and host names
    counts["contexts"] += 1
    return context


def install() -> None:
    """Point apprise's SMTP module at `create_default_context` above (idempotent)."""
    if isinstance(getattr(apprise_smtp, "ssl", None), types.SimpleNamespace):
        return
    shim = types.SimpleNamespace(**{name: getattr(ssl, name) for name in dir(ssl)})
    shim.create_default_context = create_default_context
    setattr(apprise_smtp, "ssl", shim)  # noqa: B010 (the module's name for `ssl`)
