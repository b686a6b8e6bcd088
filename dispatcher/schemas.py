"""The shapes the domain takes in and gives back: request bodies, the request's JSON, the
lawyer's listings and the registry as read.

They live on the domain's side because the domain builds and reads them (the workflow takes a
`RequestIn`, the outbox sends a `RequestOut` as the callback's body); the HTTP face publishes
them as they are. Each output model lists its keys in the order the JSON has always had them:
the callback's body and the API's answers are the same bytes as when they were dicts.
"""

from __future__ import annotations

from typing import Annotated, Literal, TypedDict

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, StringConstraints, computed_field

from policies.vocabulary import (
    Category,
    FirmStatus,
    InvitationStatus,
    Language,
    LawyerStatus,
    PlaceKind,
    RequestKind,
    RequestStatus,
    Urgency,
)

# A registry code (territory, firm): upper-case letters, digits and dashes.
Code = Annotated[str, StringConstraints(pattern=r"^[A-Z0-9][A-Z0-9-]{0,15}$")]
Text = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]
# A telephone number as people write it: an optional "+", digits, spaces, dashes, brackets.
Phone = Annotated[
    str,
    StringConstraints(
        min_length=5, max_length=32, strip_whitespace=True, pattern=r"^\+?\d[\d ()-]{3,29}\d$"
    ),
]

# --- a request, as a court or an investigator sends it ----------------------------------------


class PersonIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Text
    # Any two-letter code: a suspect may speak a language the pages do not.
    language: Annotated[str, StringConstraints(pattern=r"^[a-z]{2}$")]
    juvenile: bool = False


class ContactIn(BaseModel):
    """The officer or clerk the lawyer calls on the way."""

    model_config = ConfigDict(extra="forbid")
    name: Text
    phone: Phone


class RequestIn(BaseModel):
    """A request for counsel. There is deliberately no field to ask for a particular lawyer."""

    model_config = ConfigDict(extra="forbid")
    external_ref: Annotated[
        str, StringConstraints(min_length=1, max_length=128, pattern=r"^[\w.:/()\-]+$")
    ]
    kind: RequestKind
    case_number: Annotated[
        str, StringConstraints(min_length=1, max_length=64, strip_whitespace=True)
    ]
    territory: Code
    urgency: Urgency
    category: Category
    person: PersonIn
    callback_url: AnyHttpUrl | None = Field(default=None)
    # Where the lawyer is to go (a place of the territory) and whom to call there.
    place: Annotated[str, StringConstraints(min_length=1, max_length=32)] | None = None
    contact: ContactIn | None = None


class ChoiceIn(BaseModel):
    """The suspect's answer on the tablet: exactly one of lawyer, delegate or own_counsel."""

    # The schema says what `workflow.record_choice` checks: exactly one of the three is given
    # (a lawyer's licence, `delegate: true`, or the own counsel's name); the others are absent,
    # null, or `delegate: false`.
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "oneOf": [
                {"required": ["lawyer"], "properties": {"lawyer": {"type": "string"}}},
                {"required": ["delegate"], "properties": {"delegate": {"const": True}}},
                {"required": ["own_counsel"], "properties": {"own_counsel": {"type": "string"}}},
            ]
        },
    )
    lawyer: Annotated[str, StringConstraints(min_length=1, max_length=32)] | None = None
    delegate: bool | None = None
    own_counsel: Text | None = None
    # The language the suspect read the list in, when they switched on the tablet
    # (default: the session's).
    language: Language | None = None


# --- the request's JSON (SPEC "Requests") -------------------------------------------------------


class InvitationOut(BaseModel):
    """The request's pending invitation."""

    id: str
    lawyer: str
    firm: str
    deadline: str
    # Whether the notification reached the lawyer: pending, delivered (a channel took it) or
    # failed.
    delivery: str


class AppointmentOut(BaseModel):
    """The request's appointment, once a lawyer accepted."""

    model_config = ConfigDict(json_schema_serialization_defaults_required=True)
    id: str
    lawyer: str
    firm: str
    closed: bool = False
    lawyer_name: str = ""
    firm_name: str = ""
    phone: str | None = None
    # The minutes the lawyer said they need to get there (null when they did not say).
    eta_minutes: int | None = None


class RequestOut(BaseModel):
    """The request as the API answers it and as its callback receives it."""

    id: str
    external_ref: str
    kind: RequestKind
    status: RequestStatus
    territory: str | None
    case_number: str
    urgency: Urgency
    category: Category
    invitation: InvitationOut | None
    appointment: AppointmentOut | None
    created_at: str
    updated_at: str


# --- the lawyer's listings ----------------------------------------------------------------------


class NamesOut(BaseModel):
    az: str
    ru: str
    en: str


class PlaceOut(BaseModel):
    """A place of a territory where a lawyer may be called to."""

    code: str
    territory: str
    kind: PlaceKind
    name: NamesOut
    address: str
    phone: str | None


class ContactOut(BaseModel):
    name: str
    phone: str


class LawyerInvitationOut(BaseModel):
    """One of a lawyer's invitations, with what the lawyer needs to answer it and to go.

    `person_name` is given to the invited lawyer alone, and only while the invitation is
    pending or accepted; `language` and `juvenile` are the person's. `personal_data_erased`:
    the retention period is over, the name and the contact are erased (`person_name` and
    `contact` are then null).
    """

    model_config = ConfigDict(json_schema_serialization_defaults_required=True)

    id: str
    request_id: str
    status: InvitationStatus
    deadline: str
    case_number: str
    urgency: Urgency
    category: Category
    language: str
    juvenile: bool
    decline_reason: str | None
    appointment: str | None
    person_name: str | None = None
    place: PlaceOut | None = None
    contact: ContactOut | None = None
    personal_data_erased: bool = False


class LawyerAppointmentOut(BaseModel):
    """One of a lawyer's appointments."""

    id: str
    request_id: str
    case_number: str
    opened_at: str
    closed_at: str | None


# --- the registry as read -----------------------------------------------------------------------


class TerritoryOut(BaseModel):
    code: str
    name: NamesOut
    fallback: list[str]


class FirmOut(BaseModel):
    code: str
    name: str
    territories: list[str]
    status: FirmStatus


class DutyOut(BaseModel):
    weekday: int
    start: str
    end: str


class LawyerOut(BaseModel):
    model_config = ConfigDict(json_schema_serialization_defaults_required=True)
    licence: str
    name: str
    firm: str
    territories: list[str]
    languages: list[str]
    specialisations: list[str]
    max_open: int
    status: LawyerStatus
    duty: list[DutyOut]
    phone: str | None = None
    email: str | None = None
    photo: str | None = None
    notify: list[str] = Field(default_factory=list)


class ConflictOut(BaseModel):
    lawyer: str
    case_number: str
    role: str


RegistrySection = Literal["territories", "firms", "lawyers", "places", "conflicts"]


class ImportCounts(TypedDict):
    """An import summary as JSON: the audit event's payload and the command line's output."""

    created: dict[RegistrySection, int]
    updated: dict[RegistrySection, int]
    changed: bool


class ImportSummary(BaseModel):
    """What an import created and updated, per section (sections it left alone are absent)."""

    model_config = ConfigDict(json_schema_serialization_defaults_required=True)
    created: dict[RegistrySection, int] = Field(default_factory=dict)
    updated: dict[RegistrySection, int] = Field(default_factory=dict)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated)

    def as_dict(self) -> ImportCounts:
        return {"created": self.created, "updated": self.updated, "changed": self.changed}
