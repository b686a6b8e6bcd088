"""Where a court's callback may go, checked again at each delivery.

A request's `callback_url` must start with one of its requester's registered prefixes (checked
when the request is filed, `tokens.check_callback_url`). At delivery the URL's host is resolved
and each address checked: an address that is not public (loopback, private, link-local such as
a cloud's metadata service at 169.254.169.254, shared, reserved, multicast, unspecified) is
refused unless a registered prefix names that very address, or `localhost` for loopback. So a
name that is made to resolve inside the service's own network (DNS rebinding) reaches nothing,
while a court whose receiver sits on an internal network registers it by its address:
`--callback-prefix http://10.20.0.5:8443/hooks/`.

A refusal is permanent: trying again cannot help, so the callback fails at once and the bar's
report counts it.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Sequence
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], list[str]]


class Refused(Exception):
    """The destination may not be called; permanent."""


def resolve(host: str, port: int) -> list[str]:
    """Every address the host name resolves to (raises OSError when it does not)."""
    found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in found})


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def public(address: IPAddress) -> bool:
    mapped = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) else None
    if mapped is not None:
        return public(mapped)
    return address.is_global and not address.is_multicast


def _named(address: IPAddress, prefixes: Sequence[str]) -> bool:
    """A registered prefix names this address itself (or `localhost`, for loopback)."""
    for prefix in prefixes:
        host = (urlsplit(prefix).hostname or "").lower()
        if _literal(host) == address:
            return True
        if host == "localhost" and address.is_loopback:
            return True
    return False


def check(url: str, prefixes: Sequence[str], *, resolver: Resolver = resolve) -> None:
    """Raise `Refused` unless every address of the URL's host may be called."""
    parts = urlsplit(url)
    if parts.username or parts.password:
        raise Refused("the callback URL carries credentials")
    if not any(url.startswith(prefix) for prefix in prefixes):
        raise Refused("the callback URL is under no registered prefix")
    host = (parts.hostname or "").lower()
    if not host:
        raise Refused("the callback URL names no host")
    literal = _literal(host)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    addresses = [literal] if literal is not None else [_literal(a) for a in resolver(host, port)]
    for address in addresses:
        if address is None:
            raise Refused("the callback host resolves to something that is not an address")
        if not public(address) and not _named(address, prefixes):
            raise Refused(
                f"the callback host resolves to a non-public address ({address}) that no "
                "registered prefix names"
            )
