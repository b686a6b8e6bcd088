"""Response shapes published in the OpenAPI schema that only the HTTP face builds.

The shapes the domain itself returns (the request's JSON, the lawyer's listings, the registry
as read) are in `dispatcher/schemas.py`.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from dispatcher.audit import BrokenLink
from dispatcher.tokens import TokenOut
from policies.vocabulary import Language


class ChoiceSessionOut(BaseModel):
    token: str
    url: str
    expires_at: str


class TabletOption(BaseModel):
    position: int
    lawyer: str
    name: str
    firm: str
    languages: list[str]


class TabletOut(BaseModel):
    request_id: str
    language: Language
    territory: str
    expires_at: str
    options: list[TabletOption]


class ClosedAppointmentOut(BaseModel):
    """An appointment the lawyer just closed."""

    id: str
    request_id: str
    closed_at: str | None


class ConflictAddedOut(BaseModel):
    """A conflict as registered; `created` is false when it was registered already."""

    lawyer: str
    case_number: str
    role: str
    created: bool


class ConflictRemovedOut(BaseModel):
    lawyer: str
    case_number: str
    role: str
    removed: bool


class DeclineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: Annotated[str, StringConstraints(min_length=1, max_length=1000, strip_whitespace=True)]


class AcceptIn(BaseModel):
    """An acceptance may say in how many minutes the lawyer can be there (up to a day)."""

    model_config = ConfigDict(extra="forbid")
    eta_minutes: int | None = Field(default=None, ge=1, le=1440)


class VerifyOut(BaseModel):
    ok: bool
    events: int
    first_bad: BrokenLink | None = None


class TokenIn(BaseModel):
    """A token the admin creates over the API: the same fields as `dispatcher token create`."""

    model_config = ConfigDict(extra="forbid")

    role: str
    name: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    territories: list[Annotated[str, StringConstraints(min_length=1, max_length=32)]] = Field(
        default_factory=list,
        max_length=100,
        description="Where a court or investigator may file (as --territory, repeatable)",
    )
    any_territory: bool = Field(False, description="A requester that may file anywhere")
    lawyer: str | None = None
    callback_prefixes: list[Annotated[str, StringConstraints(max_length=2000)]] = Field(
        default_factory=list, max_length=20
    )
    expires_in: Annotated[str | None, StringConstraints(max_length=16)] = Field(
        default=None, description="Days or hours, e.g. 90d or 12h; none: until revoked"
    )


class TokenCreatedOut(TokenOut):
    """A new token: `token` is shown this once and never again (only its hash is kept)."""

    token: str
