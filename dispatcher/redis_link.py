"""The connection to Redis, when one is configured, and what the service does without it.

Redis carries only what can be lost: live request events, rate-limit counters and a short
cache of tablet lists. When it is down the service keeps allocating on the database alone
(degraded: events reach only the process that caused them, limits count per process), says so
in `/readyz` and logs the change once each way. A broken link is not retried on every call:
after a failure it is left alone for a few seconds.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import redis
import structlog

log = structlog.get_logger(__name__)

RETRY_AFTER_S = 5.0


class RedisLink:
    """A synchronous Redis client with short timeouts and a remembered health."""

    def __init__(self, url: str, *, timeout_s: float = 0.25) -> None:
        self.url = url
        self.client: redis.Redis = redis.Redis.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s
        )
        self._lock = threading.Lock()
        self._down_since: float | None = None
        self._next_try = 0.0

    @property
    def degraded(self) -> bool:
        return self._down_since is not None

    def usable(self) -> bool:
        """False while a recent failure says not to try yet."""
        return self._down_since is None or time.monotonic() >= self._next_try

    def failed(self, exc: Exception) -> None:
        with self._lock:
            self._next_try = time.monotonic() + RETRY_AFTER_S
            if self._down_since is None:
                self._down_since = time.monotonic()
                log.warning("redis.unavailable", error=type(exc).__name__, degraded=True)

    def succeeded(self) -> None:
        if self._down_since is None:
            return
        with self._lock:
            if self._down_since is not None:
                log.info("redis.recovered", down_s=round(time.monotonic() - self._down_since, 1))
                self._down_since = None

    def check(self) -> bool:
        """Ping now (for readiness); updates the remembered health."""
        try:
            self.client.ping()
        except redis.RedisError as exc:
            self.failed(exc)
            return False
        self.succeeded()
        return True

    def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """Run one client command; None when Redis is down (the failure is remembered)."""
        if not self.usable():
            return None
        try:
            result = getattr(self.client, method)(*args, **kwargs)
        except redis.RedisError as exc:
            self.failed(exc)
            return None
        self.succeeded()
        return result

    def get_json(self, key: str) -> Any:
        raw = self.call("get", key)
        return json.loads(raw) if raw else None

    def set_json(self, key: str, value: Any, ttl_s: int) -> None:
        self.call("set", key, json.dumps(value, separators=(",", ":")), ex=ttl_s)

    def delete(self, key: str) -> None:
        self.call("delete", key)

    def close(self) -> None:
        self.client.close()
