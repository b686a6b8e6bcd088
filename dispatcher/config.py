"""Settings from the environment (prefix DISPATCHER_)."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DISPATCHER_", env_file=".env", extra="ignore")

    database_url: str = "sqlite:///dispatcher.db"
    policy_file: str | None = None
    redis_url: str | None = None
    environment: Literal["local", "production"] = "local"
    log_format: Literal["console", "json"] = "console"
    log_level: str = "INFO"
    # Run deadlines and outbox delivery inside the API process (the embedded default).
    scheduler: bool = True
    # A process that commits invitations wakes its own courier at once; another process's
    # (the worker's, in production) finds them by polling this often.
    outbox_interval_s: float = 0.25
    # Outbox messages delivered side by side (each is claimed under its own lease): a burst of
    # invitations must not queue behind one SMTP conversation at a time.
    outbox_parallel: int = Field(default=8, ge=1, le=64)
    # Timers act on deadlines in the process that sent the invitation; the sweep catches the
    # rest (another process's invitations, a restart) within this many seconds.
    deadline_sweep_s: float = 5.0
    callback_timeout_s: float = 10.0
    # Requests per token per minute (shared across workers through Redis when it is up).
    rate_limit_per_minute: int = 600
    # How long a page sign-in lasts (its token's revocation or expiry ends it sooner).
    page_session_hours: float = Field(default=12.0, gt=0)
    # The pages count against the same number, per token; the report's HTML and PDF exports
    # (seconds of CPU each) against this smaller one of their own.
    export_rate_limit_per_minute: int = Field(default=4, ge=1)
    # Per client address: sign-in attempts, and link tokens (tablet, answer) that match nothing.
    login_rate_limit_per_minute: int = Field(default=10, ge=1)
    unknown_link_rate_limit_per_minute: int = Field(default=30, ge=1)
    # Event streams one token may hold open at once (per process).
    event_streams_per_token: int = Field(default=3, ge=1)
    # How long a tablet's list may be served from Redis before it is read again.
    tablet_cache_s: int = 10
    # Read every territory's registry facts when the process starts, and keep them out of the
    # cyclic collector's full passes (at 50,000 lawyers each pass took 0.3 to 0.6 s, inside
    # whichever decision it fell in). Off, each territory is read at its first decision.
    prime_registry: bool = True
    max_body_bytes: int = 1_000_000
    max_import_bytes: int = 50_000_000
    # Files the service keeps beside its database: the lawyers' photos (under `photos/`).
    data_dir: str = "uploads"
    # The largest photo an administrator may upload (within `max_body_bytes`).
    max_photo_bytes: int = Field(default=1_000_000, gt=0)
    # Where invitations go: apprise URLs (https://github.com/caronc/apprise/wiki) with an
    # `{email}` / `{phone}` placeholder, each used for the lawyers who have that contact; a
    # lawyer's own `notify` list replaces both. With neither set and no list of the lawyer's,
    # an invitation goes to the log only (for development).
    notify_email_url: str | None = None
    notify_sms_url: str | None = None
    # The service as lawyers reach it: the links in notifications start with it.
    public_url: str = "http://127.0.0.1:8000"
    # When set, `GET /metrics` answers only a request bearing this token (Authorization:
    # Bearer ...); unset, it is open (scraped from inside the network).
    metrics_token: str | None = None
    # The registry `serve --demo` loads (default: data/registry.json beside the sources).
    demo_registry: str | None = None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
