"""The words of the domain, each defined once.

Statuses, roles, urgencies, categories and the other words that the rules, the domain and the
HTTP face share. They live here, at the bottom of the import graph (`policies` imports neither
`dispatcher` nor `api`), so that every layer speaks the same words. Each member's value is the
string stored in the database and carried in the API's JSON: a `StrEnum` member *is* that string,
so comparing, hashing into the audit chain and serialising give the same bytes as before.
"""

from __future__ import annotations

from enum import StrEnum


class RequestStatus(StrEnum):
    AWAITING_CHOICE = "awaiting_choice"
    INVITING = "inviting"
    ASSIGNED = "assigned"
    UNFILLED = "unfilled"
    CANCELLED = "cancelled"
    PRIVATE_COUNSEL = "private_counsel"


class InvitationStatus(StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    EXPIRED = "expired"
    WITHDRAWN = "withdrawn"
    # No channel reached the lawyer: the invitation ends at once and the ladder moves on.
    UNDELIVERABLE = "undeliverable"


class DeliveryStatus(StrEnum):
    """Whether an invitation's notification reached the lawyer."""

    PENDING = "pending"
    # At least one channel took it.
    DELIVERED = "delivered"
    # Every channel failed until the policy gave up (or the lawyer has none).
    FAILED = "failed"


class RequestKind(StrEnum):
    COURT_ORDER = "court_order"
    INVESTIGATION = "investigation"


class Urgency(StrEnum):
    DETENTION = "detention"
    STANDARD = "standard"


class Category(StrEnum):
    """A case's category: it weighs the workload (`[workload.category_weights]`)."""

    MINOR = "minor"
    LESS_GRAVE = "less_grave"
    GRAVE = "grave"
    ESPECIALLY_GRAVE = "especially_grave"


class Role(StrEnum):
    ADMIN = "admin"
    BAR = "bar"
    COURT = "court"
    INVESTIGATOR = "investigator"
    LAWYER = "lawyer"


REQUESTER_ROLES = frozenset({Role.COURT, Role.INVESTIGATOR})


class DecisionKind(StrEnum):
    """What a recorded decision decided: a rotation turn, a suspect's choice, a tablet list."""

    ROTATION = "rotation"
    CHOICE = "choice"
    LIST = "list"


class ChoiceKind(StrEnum):
    """What the suspect chose on the tablet."""

    LAWYER = "lawyer"
    DELEGATE = "delegate"
    OWN_COUNSEL = "own_counsel"


class Language(StrEnum):
    """The languages the pages speak (and a suspect may be listed in)."""

    AZ = "az"
    RU = "ru"
    EN = "en"


class FirmStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"


class LawyerStatus(StrEnum):
    ACTIVE = "active"
    ON_LEAVE = "on_leave"
    SUSPENDED = "suspended"


class PlaceKind(StrEnum):
    """Where a lawyer is called to: the place a request names."""

    POLICE_STATION = "police_station"
    DETENTION_FACILITY = "detention_facility"
    COURT = "court"
    PROSECUTOR = "prosecutor"


class OutboxKind(StrEnum):
    INVITATION = "invitation"
    CALLBACK = "callback"


class OutboxStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    # Given up: no more attempts.
    FAILED = "failed"


class RuleName(StrEnum):
    """The allocation rules (`policies/base.py` maps each to its implementation)."""

    QUOTA = "quota"
    ROUND_ROBIN = "round_robin"
    LOTTERY = "lottery"
    WHEEL = "wheel"
    SWRR = "swrr"


class RotaStatus(StrEnum):
    """A duty rota's standing: a draft the bar reviews, or approved (then it rules eligibility)."""

    DRAFT = "draft"
    APPROVED = "approved"


class RotaOutcome(StrEnum):
    """What the planner made of a rota's rules."""

    OPTIMAL = "optimal"
    FEASIBLE = "feasible"
    INFEASIBLE = "infeasible"


class AvailabilityKind(StrEnum):
    """A lawyer's own limits on duty: leave (dates), or no nights, or no weekends."""

    LEAVE = "leave"
    NO_NIGHTS = "no_nights"
    NO_WEEKENDS = "no_weekends"


class Refusal(StrEnum):
    """Why a request was refused before anything of it was written (the bar's report counts)."""

    # A territory the requester was not created for (`token create --territory`).
    OUTSIDE_TERRITORIES = "outside_territories"
    # The requester's hourly limit in the territory (`[requests]` in the policy).
    HOURLY_LIMIT = "hourly_limit"


class Disclosure(StrEnum):
    """What a court or investigator reads in place of what it may not see."""

    # An exclusion reason that would tell a lawyer's status or a conflict.
    WITHHELD = "withheld"


class SwapStatus(StrEnum):
    """A duty offered to a colleague: waiting for the answer, taken over, declined, withdrawn by
    the one who offered it, or refused because the rota's rules would no longer hold."""

    OFFERED = "offered"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    WITHDRAWN = "withdrawn"
    REFUSED = "refused"


class SwapProblem(StrEnum):
    """Why a duty cannot pass to a colleague (the pages say each in the reader's language)."""

    NOT_APPROVED = "not_approved"
    PAST = "past"
    TERRITORY = "territory"
    AVAILABILITY = "availability"
    OVERLAP = "overlap"
    REST = "rest"
    WEEKLY_CAP = "weekly_cap"
    LANGUAGE = "language"
    JUVENILE = "juvenile"


class Attention(StrEnum):
    """How much a territory needs the bar: the overview's colours, most urgent first."""

    ACT = "act"  # a rule is broken or a pair is flagged: someone must look now
    WATCH = "watch"  # drifting or slow: look again soon
    GOOD = "good"  # decisions were taken and every figure is within the rules
    QUIET = "quiet"  # no decision in the period


class PhotoType(StrEnum):
    """The kinds of image a lawyer's photo may be uploaded as (their media types)."""

    PNG = "image/png"
    JPEG = "image/jpeg"


class RotaProblem(StrEnum):
    """What the planner says of a rota it could not make as the rules ask (the CLI and the API
    say it in English, the pages in the reader's language, from the problem's key and values)."""

    # A sufficient set of rules that cannot all hold (its parts name the subjects and limits).
    RULES_CONFLICT = "rules_conflict"
    # The same, about every firm's share: the plan is made with the shares as close as possible.
    FIRM_SHARES_RELAXED = "firm_shares_relaxed"
    # The time limit ran out before a rota was found or proven impossible: not proven infeasible.
    NOT_FOUND_IN_TIME = "not_found_in_time"
    # Proven impossible, but the time ran out before the planner could name the rules at fault.
    NOT_EXPLAINED_IN_TIME = "not_explained_in_time"


class RotaPart(StrEnum):
    """One phrase of a rota problem: what cannot be covered, or a limit it cannot be within."""

    NO_LAWYERS = "no_lawyers"
    NO_SPEAKER = "no_speaker"
    SPEAKERS = "speakers"
    JUVENILE = "juvenile"
    LAWYERS = "lawyers"
    FIRM_SHARES = "firm_shares"
    UNPLANNABLE = "unplannable"
    WEEKLY_CAP = "weekly_cap"
    REST = "rest"
    AVAILABILITY = "availability"
    FIRM_SHARE = "firm_share"


class RotaRefusal(StrEnum):
    """Why a draft rota cannot be approved (the pages say each in the reader's language)."""

    ALREADY_APPROVED = "already_approved"
    INFEASIBLE = "infeasible"
    OVERLAPS = "overlaps"
    ON_DUTY_ELSEWHERE = "on_duty_elsewhere"
    OVER_WEEKLY_CAP = "over_weekly_cap"
