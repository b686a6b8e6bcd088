"""Response shapes published in the OpenAPI schema."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints


class InvitationOut(BaseModel):
    id: str
    lawyer: str
    firm: str
    deadline: str


class AppointmentOut(BaseModel):
    id: str
    lawyer: str
    firm: str
    closed: bool = False


class RequestOut(BaseModel):
    id: str
    external_ref: str
    kind: str
    status: str
    territory: str | None
    case_number: str
    urgency: str
    category: str
    invitation: InvitationOut | None
    appointment: AppointmentOut | None
    created_at: str
    updated_at: str


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
    language: str
    territory: str
    expires_at: str
    options: list[TabletOption]


class DeclineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: Annotated[str, StringConstraints(min_length=1, max_length=1000, strip_whitespace=True)]


class VerifyOut(BaseModel):
    ok: bool
    events: int
    first_bad: dict[str, object] | None = None


class FairnessRow(BaseModel):
    firm: str
    weight: int
    entitlement: float
    offers: int
    accepted: int
    declined: int
    expired: int
    deviation: float
