"""What the bar's pages show, read from the report's data in this one place.

The report (`dispatcher.reports`) gives figures keyed by codes; this module turns them into
what a bar official reads: names with their codes, a status per figure (ok, warn, bad) and the
values the plain-language sentences of the templates need. A figure the report gains later
(e.g. each lawyer's entitlement and deviation) is read here and nowhere else.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from dispatcher.reports.fairness import even_top_share
from dispatcher.reports.overview import (
    BAD_DEVIATION,
    WARN_DEVIATION,
    WARN_WITHIN_HOUR,
    Names,
    TerritoryStanding,
)
from dispatcher.reports.render import FullReport
from policies.vocabulary import Refusal, Urgency

# Below this p-value a choice pattern is too unlikely to be chance.
SIGNIFICANT = 0.01
# How many flagged pairs and lawyers a sentence names before "and N more".
NAMED = 8


@dataclass(frozen=True)
class Named:
    """A firm, lawyer or territory: its name and its code (shown smaller beside it)."""

    name: str
    code: str


@dataclass
class Finding:
    """One figure of a territory: what it is (`key`), its status and the sentence's values."""

    key: str
    status: str
    values: dict[str, object] = field(default_factory=dict)
    named: list[Named] = field(default_factory=list)


@dataclass
class LawyerRow:
    lawyer: Named
    firm: Named
    invitations: int
    accepted: int
    declined: int
    expired: int
    appointments: int
    entitlement: float | None
    deviation: float | None


@dataclass
class FirmRow:
    firm: Named
    weight: int
    entitlement: float
    offers: int
    chosen: int
    accepted: int
    declined: int
    expired: int
    deviation: float
    status: str


@dataclass
class FlagRow:
    requester: str
    lawyer: Named
    requests: int
    to_lawyer: int
    expected: float
    q_value: float


@dataclass
class TerritoryView:
    territory: Named
    decisions: int
    findings: list[Finding]
    firms: list[FirmRow]
    lawyers: list[LawyerRow]
    flags: list[FlagRow]
    counsel: dict[str, dict[str, int | None]]
    # The firm furthest from its share, in cases, and the least any order of turns could keep
    # with these firms' sizes (B*): what lies between is what absences, conflicts and choices cost.
    furthest: float
    least: float


@dataclass
class OverviewRow:
    territory: Named
    standing: TerritoryStanding
    worst_firm: Named | None
    within_hour_share: float | None
    top_lawyers: list[Named]


def territory_name(names: Names, code: str, language: str) -> Named:
    return Named(names["territories"].get(code, {}).get(language, code), code)


def firm(names: Names, code: str) -> Named:
    return Named(names["firms"].get(code, code), code)


def lawyer(names: Names, licence: str) -> Named:
    return Named(names["lawyers"].get(licence, licence), licence)


def deviation_status(value: float) -> str:
    magnitude = abs(value)
    if magnitude < WARN_DEVIATION:
        return "ok"
    return "warn" if magnitude < BAD_DEVIATION else "bad"


def overview(rows: list[TerritoryStanding], names: Names, language: str) -> list[OverviewRow]:
    """The national overview's rows, in the order of attention the domain gave them."""
    return [
        OverviewRow(
            territory=territory_name(names, r["territory"], language),
            standing=r,
            worst_firm=firm(names, r["worst_firm"]) if r["worst_firm"] else None,
            within_hour_share=r["within_hour"] / r["detained_served"]
            if r["detained_served"]
            else None,
            top_lawyers=[lawyer(names, code) for code in r["top_lawyers"]],
        )
        for r in rows
    ]


def _number(row: Mapping[str, object], key: str) -> float | None:
    """A figure a row may carry (one the report gains later), else None."""
    value = row.get(key)
    return float(value) if isinstance(value, int | float) else None


def territory(full: FullReport, names: Names, language: str) -> TerritoryView:
    """One territory's page: its findings in order, the firms, the lawyers, the flags."""
    r = full.report
    firms = [
        FirmRow(
            firm=firm(names, f["firm"]),
            weight=f["weight"],
            entitlement=f["entitlement"],
            offers=f["offers"],
            chosen=f["chosen"],
            accepted=f["accepted"],
            declined=f["declined"],
            expired=f["expired"],
            deviation=f["deviation"],
            status=deviation_status(f["deviation"]),
        )
        for f in sorted(r["firms"], key=lambda f: -abs(f["deviation"]))
    ]
    lawyers = [
        LawyerRow(
            lawyer=lawyer(names, row["lawyer"]),
            firm=firm(names, row["firm"]),
            invitations=row["invitations"],
            accepted=row["accepted"],
            declined=row["declined"],
            expired=row["expired"],
            appointments=row["appointments"],
            entitlement=_number(row, "entitlement"),
            deviation=_number(row, "deviation"),
        )
        for row in sorted(r["lawyers"], key=lambda row: (-row["appointments"], row["lawyer"]))
    ]
    flags = [
        FlagRow(
            requester=f["requester"],
            lawyer=lawyer(names, f["lawyer"]),
            requests=f["requests"],
            to_lawyer=f["to_lawyer"],
            expected=f["expected"],
            q_value=f["q_value"],
        )
        for f in full.flagged
    ]
    counsel: dict[str, dict[str, int | None]] = {
        urgency: {
            "requests": t["requests"],
            "assigned": t["assigned"],
            "p50_s": t["p50_s"],
            "p90_s": t["p90_s"],
        }
        for urgency, t in r["time_to_counsel"].items()
    }
    return TerritoryView(
        territory=territory_name(names, r["territory"], language),
        decisions=r["decisions"],
        findings=findings(full, names, firms, lawyers, flags),
        firms=firms,
        lawyers=lawyers,
        flags=flags,
        counsel=counsel,
        furthest=r["max_abs_deviation"],
        least=r["optimum_deviation"],
    )


def findings(
    full: FullReport,
    names: Names,
    firms: list[FirmRow],
    lawyers: list[LawyerRow],
    flags: list[FlagRow],
) -> list[Finding]:
    """The territory's figures, each with its status: the page says what each means."""
    r = full.report
    out = [Finding("decisions", "ok", {"n": r["decisions"]})]
    if firms:
        worst = firms[0]
        out.append(
            Finding(
                "deviation_more" if worst.deviation >= 0 else "deviation_fewer",
                worst.status,
                {"value": f"{abs(worst.deviation):.1f}", "firm": worst.firm.name},
                [worst.firm],
            )
        )
    out.append(
        Finding(
            "evenness",
            "ok" if r["loosemore_hanby"] < 0.05 else "warn",
            {"percent": f"{100 * r['loosemore_hanby']:.1f}"},
        )
    )
    top = [row for row in lawyers if row.appointments][: r["top10_lawyers"]]
    k, n = r["top10_lawyers"], r["listed_lawyers"]
    appointments = sum(row.appointments for row in lawyers)
    even = f"{100 * even_top_share(appointments, n, k):.0f}"
    out.append(
        Finding(
            "concentration",
            "bad" if r["top10_exceeds"] else "ok",
            {
                "k": k,
                "n": n,
                "share": f"{100 * r['top10_share']:.0f}",
                "limit": f"{100 * r['top10_limit']:.0f}",
                # While appointments are fewer than lawyers even the evenest spread gives the
                # busiest more than k/n, and the limit is three times that: said in words.
                "appointments": appointments,
                "even": even if n and even != f"{100 * k / n:.0f}" else None,
            },
            [row.lawyer for row in top] if r["top10_exceeds"] else [],
        )
    )
    detention = r["time_to_counsel"].get(Urgency.DETENTION)
    if detention and detention["assigned"]:
        hist = full.counsel.get(Urgency.DETENTION, [])
        within = sum(n for v, n in hist if v <= 3600) / max(1, detention["assigned"])
        out.append(
            Finding(
                "counsel",
                "ok" if within >= WARN_WITHIN_HOUR else "warn",
                {
                    "p50": detention["p50_s"],
                    "p90": detention["p90_s"],
                    "percent": f"{100 * within:.0f}",
                    "assigned": detention["assigned"],
                    "requests": detention["requests"],
                },
            )
        )
    choices = r["choice_stage"]["chi_square"]["p_value"]
    if choices is not None:
        out.append(Finding("choices", "warn" if choices < SIGNIFICANT else "ok", {"p": choices}))
    positions = r["position_choice_counts"]["chi_square"]["p_value"]
    if positions is not None:
        out.append(
            Finding("positions", "warn" if positions < SIGNIFICANT else "ok", {"p": positions})
        )
    out.append(
        Finding(
            "flags",
            "bad" if flags else "ok",
            {"n": len(flags)},
            [f.lawyer for f in flags[:NAMED]],
        )
    )
    out += passing_on(full)
    return out


def _who(rows: Sequence[Mapping[str, object]]) -> str:
    """The requesters of the rows, named once each, the first few."""
    names = list(dict.fromkeys(str(row["requester"]) for row in rows))
    return ", ".join(names[:NAMED]) + (f" (+{len(names) - NAMED})" if len(names) > NAMED else "")


def passing_on(full: FullReport) -> list[Finding]:
    """What requesters asked that the service refused or could not pass on: requests refused
    (outside a requester's territories, or a flood), callbacks that never reached their court,
    choice sessions re-opened."""
    refused = sum(a["refused"] for a in full.refused)
    flooded = sum(a["refused"] for a in full.refused if a["reason"] == Refusal.HOURLY_LIMIT)
    failed = sum(a["failed"] for a in full.callbacks_failed)
    reopens = sum(r["reopens"] for r in full.reopened)
    return [
        Finding(
            "refused",
            "bad" if refused else "ok",
            {"n": refused, "flood": flooded, "who": _who(full.refused)},
        ),
        Finding(
            "callbacks",
            "bad" if failed else "ok",
            {"n": failed, "who": _who(full.callbacks_failed)},
        ),
        Finding(
            "reopens",
            "warn" if reopens else "ok",
            {
                "n": reopens,
                "requests": sum(r["requests"] for r in full.reopened),
                "who": _who(full.reopened),
            },
        ),
    ]
