"""Policy files: every rule in force, plus per-territory overrides, versioned by content.

A policy file sets every field of `Policy` (the model has no defaults: `policies/default.toml`
is the one place the service's own values are written); a territory's table overrides some of
them and is merged over the file's values.
"""

from __future__ import annotations

import hashlib
import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, ValidationError

from policies.vocabulary import Language, RuleName, Urgency

DEFAULT_POLICY_FILE = Path(__file__).with_name("default.toml")


class _Section(BaseModel):
    # No field has a default: the policy file states every value (policies/default.toml is the
    # one place the service's values are written), so the model and the file cannot disagree.
    model_config = ConfigDict(extra="forbid", frozen=True)


class Deadlines(_Section):
    detention_s: int = Field(gt=0)
    standard_s: int = Field(gt=0)


class Rotation(_Section):
    weight: Literal["active_lawyers", "equal"]
    charge_choices: bool
    starvation_shortfall: float = Field(gt=0)
    max_invitations: int = Field(gt=0)
    # Who gets the turn: this service's quota rule, or a rule it is compared with
    # (policies/base.py). The tablet list and the eligibility filter are the same for all.
    rule: RuleName
    # The quota rule's firm bound: "optimum" keeps B* of the eligible firms' weights while the
    # rotation is on its track, else Tijdeman's bound; "tijdeman" always Tijdeman's.
    firm_bound: Literal["optimum", "tijdeman"]
    draw_seed: int
    wheel_names: int = Field(gt=0)
    wheel_favourite_bias: float = Field(ge=0, le=1)


class Pause(_Section):
    """A lawyer who lets invitations lapse is paused for a bounded time, not moved down for
    ever: after `lapses` expired invitations within `within_hours`, `pause_hours` without
    invitations (0 lapses: never paused)."""

    lapses: int = Field(ge=0)
    within_hours: float = Field(gt=0)
    pause_hours: float = Field(gt=0)
    # A detention goes first to the firm's lawyers with no lapse within `within_hours`, if
    # they stand within `answering_reach` offers of the lawyer furthest below their share.
    detentions_to_answering: bool
    answering_reach: float = Field(ge=0)


class Eligibility(_Section):
    require_language: bool
    juvenile_specialisation: str


class Rights(_Section):
    """The notice of a person's rights to free counsel that the tablet shows, in each page
    language: the bar's words, so the bar changes them here, not in the code."""

    az: str = Field(min_length=1, max_length=1000)
    ru: str = Field(min_length=1, max_length=1000)
    en: str = Field(min_length=1, max_length=1000)

    def text(self, language: str) -> str:
        """The notice in `language` (a page language: az, ru or en)."""
        texts: dict[str, str] = {Language.RU: self.ru, Language.EN: self.en}
        return texts.get(language, self.az)


class Choice(_Section):
    list_size: int = Field(gt=0, le=50)
    lawyers_per_firm: int = Field(gt=0)
    firms_in_turn_only: bool
    in_turn_bound: Literal["tijdeman", "rotation"]
    session_ttl_s: int = Field(gt=0)
    reoffer_on_decline: bool
    receipt_s: int = Field(gt=0)
    max_reopens: int = Field(ge=0)
    rights: Rights


class Notifications(_Section):
    detention_give_up_s: int = Field(gt=0)
    standard_give_up_s: int = Field(gt=0)
    give_up_attempts: int = Field(gt=0)
    # A court's callback is tried this many times (with backoff), then fails; the bar's report
    # counts the failed ones.
    callback_attempts: int = Field(gt=0)

    def give_up_s(self, urgency: str) -> int:
        """Seconds an invitation's notification of `urgency` may keep failing."""
        return self.detention_give_up_s if urgency == Urgency.DETENTION else self.standard_give_up_s


class Requests(_Section):
    # Requests one requester may file in one territory within one clock hour (UTC); more are
    # refused (429) and reported to the bar. Each request of a batch counts.
    hourly_limit_per_requester: int = Field(gt=0)


class Workload(_Section):
    # How much one open case of each category weighs in a lawyer's workload (the order within
    # a firm); the cap still counts cases.
    category_weights: dict[str, PositiveFloat]

    def weight(self, category: str) -> float:
        """The weight of one open case of `category` (1 for a category the file does not name)."""
        return self.category_weights.get(category, 1.0)


class Retention(_Section):
    # Whole years after a request ends (its appointment closed, or it ended without one) for
    # which the person's name, the own counsel's name and the contact are kept.
    personal_data_years: int = Field(gt=0)


class Rota(_Section):
    """How duty rotas are planned (dispatcher/rota): slots, cover, rest and caps."""

    # Slots follow each other without gaps from `first_slot` (local time) every day.
    slot_hours: Literal[8, 12]
    first_slot: str = Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
    # A slot is a night slot when it starts at or after `night_from` or before `night_until`.
    night_from: str = Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
    night_until: str = Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
    period_days: int = Field(gt=0, le=366)
    lawyers_per_day_slot: int = Field(ge=1)
    lawyers_per_night_slot: int = Field(ge=1)
    night_languages: list[str]
    juvenile_each_slot: bool
    rest_hours: int = Field(ge=0)
    weekly_cap: int = Field(gt=0)
    time_limit_s: float = Field(gt=0)
    num_workers: int = Field(gt=0)
    presolve: bool


class Policy(_Section):
    """The rules in force for one territory; `version` names them in every decision."""

    version: str
    timezone: str
    deadlines: Deadlines
    rotation: Rotation
    pause: Pause
    eligibility: Eligibility
    choice: Choice
    notifications: Notifications
    requests: Requests
    workload: Workload
    retention: Retention
    rota: Rota

    def deadline_s(self, urgency: str) -> int:
        """Seconds an invited lawyer has to answer a request of `urgency`."""
        return (
            self.deadlines.detention_s
            if urgency == Urgency.DETENTION
            else self.deadlines.standard_s
        )


class PolicyError(ValueError):
    """The policy file is missing, unreadable or invalid."""


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


class PolicyBook:
    """A loaded policy file: the defaults and each territory's overrides."""

    def __init__(self, raw: dict[str, Any], digest: str) -> None:
        overrides = raw.pop("territories", {}) or {}
        if not isinstance(overrides, dict):
            raise PolicyError("[territories] must be a table of territory codes")
        if "version" not in raw:
            raise PolicyError("the policy file must set `version`")
        raw = dict(raw)
        raw["version"] = f"{raw['version']}+{digest[:12]}"
        for code, table in overrides.items():
            if not isinstance(table, dict):
                raise PolicyError(f"[territories.{code}] must be a table of overrides")
            if "version" in table:
                raise PolicyError(f"[territories.{code}] may not set its own version")
        try:
            self.default = Policy.model_validate(raw)
            self._by_territory = {
                code: Policy.model_validate(_merge(raw, table)) for code, table in overrides.items()
            }
        except ValidationError as exc:
            raise PolicyError(f"invalid policy: {exc}") from exc

    def for_territory(self, territory: str) -> Policy:
        return self._by_territory.get(territory, self.default)


def load_policy_book(path: Path | str | None = None) -> PolicyBook:
    """Read and validate a policy file (the default one when `path` is None)."""
    file = Path(path) if path else DEFAULT_POLICY_FILE
    try:
        content = file.read_bytes()
    except OSError as exc:
        raise PolicyError(f"cannot read policy file {file}: {exc}") from exc
    try:
        raw = tomllib.loads(content.decode())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise PolicyError(f"policy file {file} is not valid TOML: {exc}") from exc
    return PolicyBook(raw, hashlib.sha256(content).hexdigest())


@lru_cache(maxsize=8)
def cached_policy_book(path: str | None) -> PolicyBook:
    return load_policy_book(path)
