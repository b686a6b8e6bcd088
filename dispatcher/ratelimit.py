"""Requests per token per minute: counted in Redis across workers, or per process without it."""

from __future__ import annotations

import structlog
from limits import RateLimitItemPerMinute
from limits.storage import MemoryStorage, RedisStorage
from limits.strategies import FixedWindowRateLimiter

from dispatcher.redis_link import RedisLink

log = structlog.get_logger(__name__)


class RateLimiter:
    """A fixed window per token; `hit` is False once the token has used its minute."""

    def __init__(self, per_minute: int, link: RedisLink | None = None) -> None:
        self.item = RateLimitItemPerMinute(per_minute)
        self.link = link
        self.local = FixedWindowRateLimiter(MemoryStorage())
        self.shared = (
            FixedWindowRateLimiter(
                RedisStorage(link.url, socket_timeout=0.25, socket_connect_timeout=0.25)
            )
            if link is not None
            else None
        )

    def hit(self, token_id: int) -> bool:
        key = str(token_id)
        if self.shared is not None and self.link is not None and self.link.usable():
            try:
                allowed = self.shared.hit(self.item, "token", key)
            except Exception as exc:  # limits wraps the client's errors in its own
                self.link.failed(exc)
            else:
                self.link.succeeded()
                return bool(allowed)
        return bool(self.local.hit(self.item, "token", key))
