"""Requests per minute, per token or per client address: counted in Redis across workers, or
per process without it; and how many event streams a token holds open at once (per process).
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import structlog
from limits import RateLimitItem, RateLimitItemPerMinute
from limits.storage import MemoryStorage, RedisStorage
from limits.strategies import FixedWindowRateLimiter

from dispatcher.redis_link import RedisLink

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Verdict:
    """Whether one more request fits its minute, and when the next would if it does not."""

    allowed: bool
    retry_after_s: int


class RateLimiter:
    """A fixed window per key; `hit` is False once the token has used its minute.

    Keys live in scopes ("token", "export", "login", "unknown-link", ...), each with its own
    number per minute, so that a token's pages and its exports are counted apart.
    """

    def __init__(self, per_minute: int, link: RedisLink | None = None, namespace: str = "") -> None:
        self.item = RateLimitItemPerMinute(per_minute)
        self.link = link
        # Counts in Redis are kept per deployment (its database): two services sharing a Redis
        # server, each with its own database, count apart; one service's workers together.
        self.namespace = namespace
        self.local = FixedWindowRateLimiter(MemoryStorage())
        self.shared = (
            FixedWindowRateLimiter(
                RedisStorage(link.url, socket_timeout=0.25, socket_connect_timeout=0.25)
            )
            if link is not None
            else None
        )
        self._items: dict[int, RateLimitItem] = {per_minute: self.item}

    def hit(self, token_id: int) -> bool:
        return self.take("token", str(token_id)).allowed

    def take(self, scope: str, key: str, per_minute: int | None = None) -> Verdict:
        """Count one request of `key` in `scope` (at `per_minute`, default the token's)."""
        return self._count(scope, key, per_minute, count=True)

    def peek(self, scope: str, key: str, per_minute: int) -> Verdict:
        """Whether `key` still has room in `scope`, without counting a request."""
        return self._count(scope, key, per_minute, count=False)

    def _item(self, per_minute: int | None) -> RateLimitItem:
        if per_minute is None:
            return self.item
        if per_minute not in self._items:
            self._items[per_minute] = RateLimitItemPerMinute(per_minute)
        return self._items[per_minute]

    def _count(self, scope: str, key: str, per_minute: int | None, *, count: bool) -> Verdict:
        item = self._item(per_minute)
        key = f"{self.namespace}:{key}" if self.namespace else key
        if self.shared is not None and self.link is not None and self.link.usable():
            try:
                verdict = _ask(self.shared, item, scope, key, count=count)
            except Exception as exc:  # limits wraps the client's errors in its own
                self.link.failed(exc)
            else:
                self.link.succeeded()
                return verdict
        return _ask(self.local, item, scope, key, count=count)


def _ask(
    limiter: FixedWindowRateLimiter, item: RateLimitItem, scope: str, key: str, *, count: bool
) -> Verdict:
    allowed = limiter.hit(item, scope, key) if count else limiter.test(item, scope, key)
    if allowed:
        return Verdict(True, 0)
    reset = limiter.get_window_stats(item, scope, key).reset_time
    return Verdict(False, max(1, math.ceil(reset - time.time())))


class StreamSlots:
    """At most `per_token` open event streams per token in this process; a closed stream
    gives its place back. Counted per process: a stream lives on one worker's connection,
    and a worker that dies takes its streams (and their count) with it."""

    def __init__(self, per_token: int) -> None:
        self.per_token = per_token
        self._open: Counter[int] = Counter()
        self._lock = threading.Lock()

    def open(self, token_id: int) -> int:
        with self._lock:
            return self._open[token_id]

    @contextmanager
    def hold(self, token_id: int) -> Iterator[bool]:
        """Take a place for the stream's lifetime; yields False (and takes none) when full."""
        with self._lock:
            taken = self._open[token_id] < self.per_token
            if taken:
                self._open[token_id] += 1
        try:
            yield taken
        finally:
            if taken:
                with self._lock:
                    self._open[token_id] -= 1
                    if self._open[token_id] <= 0:
                        del self._open[token_id]
