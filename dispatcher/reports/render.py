"""The bar's report rendered: plots (matplotlib, drawn on the server), HTML and PDF.

The HTML report is self-contained (inline CSS and SVG, no external link) so that it can be
saved, mailed and archived. Its template lives in this package (`templates/report.html`); the
dashboard at /bar extends it from the HTTP face, through an overlay of `environment`.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display on a server; must precede pyplot

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
from jinja2 import Environment, FileSystemLoader, Template, select_autoescape
from markupsafe import Markup
from matplotlib.axes import Axes
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from sqlmodel import Session

from dispatcher.registry import get_territory
from dispatcher.reports import delivery, fairness, flags
from dispatcher.reports.fairness import URGENCIES, FirmSeries, Histogram
from dispatcher.reports.rows import (
    CallbackAlert,
    FairnessReport,
    Flag,
    RefusalAlert,
    ReopenFigures,
    TerritoryFigures,
)
from policies.vocabulary import Urgency

TEMPLATES = Path(__file__).resolve().parent / "templates"
environment = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
# The same drawing gives the same bytes: stable ids in the SVG, no creation date.
plt.rcParams["svg.hashsalt"] = "counsel-dispatcher"
plt.rcParams["figure.dpi"] = 100


@dataclass
class FullReport:
    """The report of one territory and period with what the plots and the flags need."""

    report: FairnessReport
    series: FirmSeries
    counsel: dict[str, Histogram]
    flagged: list[Flag]
    refused: list[RefusalAlert]
    callbacks_failed: list[CallbackAlert]
    reopened: list[ReopenFigures]
    overview: list[TerritoryFigures]
    generated_at: str
    # The drawn plots by the language of their words: a report cached once serves every reader.
    plots: dict[str, dict[str, str]] = field(default_factory=dict)


def gather(
    session: Session, territory: str, start: datetime | None, end: datetime | None, now: datetime
) -> FullReport:
    """Everything the rendered report shows, read in one unit of work."""
    t = get_territory(session, territory)
    return FullReport(
        report=fairness.fairness(session, territory, start, end),
        series=fairness.firm_series(session, territory, start, end),
        counsel=fairness.counsel_histogram(session, t.id, start, end),
        flagged=flags.pocket_lawyers(session, territory=territory, start=start, end=end),
        refused=flags.refusals(session, territory=territory, start=start, end=end),
        callbacks_failed=delivery.failed_callbacks(
            session, territory=territory, start=start, end=end
        ),
        reopened=delivery.reopened_sessions(session, territory=territory, start=start, end=end),
        overview=fairness.territories_overview(session, start, end),
        generated_at=now.isoformat(timespec="seconds"),
    )


# --- words ------------------------------------------------------------------------------------

# A reader's catalogue lookup: a message in, its translation out. The catalogues belong to the
# pages (`api/locale`); without one, the report speaks English, the messages' own language.
Gettext = Callable[[str], str]


def N_(message: str) -> str:
    """Mark a message for extraction; it is translated where a reader's catalogue is known."""
    return message


def _same(message: str) -> str:
    return message


def translator(gettext: Gettext | None, *, markup: bool = False) -> Callable[..., str]:
    """The templates' `_`: a message translated, then its named values filled in; for HTML
    (`markup`) the values are escaped unless they are markup already (a name's <span>)."""
    lookup = gettext or _same

    def _(message: str, **values: object) -> str:
        text = lookup(message)
        return Markup(text) % values if markup else text % values

    return _


URGENCY_WORDS: dict[str, str] = {
    Urgency.DETENTION: N_("Detention"),
    Urgency.STANDARD: N_("Standard"),
}


# --- plots ------------------------------------------------------------------------------------


# At most this many firms are drawn on their own; the rest are summed as "others".
SERIES = 5
# The words of the plots (messages of the catalogues; English unless translated).
WORDS = {
    "others": N_("all other firms"),
    "deviation": N_("cases above (+) or below (−) the fair share"),
    "none": N_("No decisions in this period."),
    "minutes": N_("minutes from request to a lawyer's acceptance"),
    "median": N_("half within"),
    "p90": N_("nine in ten within"),
    "assigned": N_("got a lawyer"),
    "chosen": N_("chosen"),
    "uniform": N_("expected by chance"),
    "position": N_("place on the tablet list"),
}


def words_in(gettext: Gettext | None) -> dict[str, str]:
    """The plots' words as a reader of `gettext`'s language says them."""
    lookup = gettext or _same
    return {key: lookup(text) for key, text in WORDS.items()}


def _series(full: FullReport) -> list[tuple[str, list[datetime], list[float]]]:
    """The firms furthest from their share (at most `SERIES`), then the rest summed."""
    ends = {firm: points[-1][2] - points[-1][1] for firm, points in full.series.items() if points}
    ranked = sorted(ends, key=lambda firm: (-abs(ends[firm]), firm))
    shown, rest = ranked[:SERIES], ranked[SERIES:]
    out: list[tuple[str, list[datetime], list[float]]] = []
    for firm in shown:
        points = full.series[firm]
        out.append(
            (
                firm,
                [datetime.fromisoformat(d) for d, _, _ in points],
                [o - e for _, e, o in points],
            )
        )
    if rest:
        # The others' deviations summed day by day (each carried forward between its days).
        days = sorted({d for firm in rest for d, _, _ in full.series[firm]})
        total: dict[str, float] = dict.fromkeys(days, 0.0)
        for firm in rest:
            last = 0.0
            by_day = {d: o - e for d, e, o in full.series[firm]}
            for d in days:
                last = by_day.get(d, last)
                total[d] += last
        out.append(("", [datetime.fromisoformat(d) for d in days], [total[d] for d in days]))
    return out


def figure_counts(
    full: FullReport, words: dict[str, str] | None = None, names: dict[str, str] | None = None
) -> Figure:
    """How far each firm is from its fair share over time: the five furthest, the rest summed.

    Each line is labelled at its end (no legend to decode); the band of ±1 is the rule's bound.
    """
    said = {**WORDS, **(words or {})}
    fig, ax = plt.subplots(figsize=(9, 4.2))
    colours = ["#0b3d91", "#b03030", "#00703c", "#8a4b00", "#6a1b9a"]
    ax.axhspan(-1, 1, color="#e6f2e6", zorder=0)
    ax.axhline(0, color="grey", linewidth=0.6)
    drawn = _series(full)
    ends: list[tuple[str, str, float, float]] = []
    for i, (firm, days, values) in enumerate(drawn):
        label = (names or {}).get(firm, firm) if firm else said["others"]
        colour = colours[i] if firm else "#767676"
        xs = mdates.date2num(days)  # type: ignore[no-untyped-call]
        ax.step(xs, values, where="post", color=colour, linewidth=1.6 if firm else 1.0)
        ends.append((f"{label} ({values[-1]:+.1f})", colour, float(xs[-1]), values[-1]))
    ax.xaxis_date()
    if not drawn:
        ax.text(0.5, 0.5, said["none"], ha="center", va="center", transform=ax.transAxes)
    ax.set_ylabel(said["deviation"], fontsize="small")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    fig.autofmt_xdate()
    fig.subplots_adjust(right=0.72)
    _label_ends(fig, ax, ends)
    return fig


# Labels at the lines' ends are this many points apart at least (small text is about 8.3).
LABEL_GAP_PT = 11.0


def _label_ends(fig: Figure, ax: Axes, ends: list[tuple[str, str, float, float]]) -> None:
    """Each line's label at its end, moved up or down just enough that no two overlap (firms
    that end at the same deviation would otherwise print over each other)."""
    if not ends:
        return
    to_points = 72.0 / fig.dpi
    at = [float(ax.transData.transform((x, y))[1]) * to_points for _, _, x, y in ends]
    placed = spread(at, LABEL_GAP_PT)
    for (text, colour, x, y), want, got in zip(ends, at, placed, strict=True):
        ax.annotate(
            text,
            (x, y),
            xytext=(6, got - want),
            textcoords="offset points",
            va="center",
            fontsize="small",
            color=colour,
        )


def spread(wanted: Sequence[float], gap: float) -> list[float]:
    """Positions as close as possible to `wanted` (least squares) with neighbours at least
    `gap` apart, each keeping its rank: clusters of labels that would touch are set around
    the mean of what their members want."""
    order = sorted(range(len(wanted)), key=lambda i: (wanted[i], i))
    # Each cluster: its members (in rank order) and the position of its lowest member.
    clusters: list[tuple[list[int], float]] = []
    for i in order:
        members, low = [i], wanted[i]
        while clusters and clusters[-1][1] + len(clusters[-1][0]) * gap > low:
            before, _ = clusters.pop()
            members = before + members
            low = sum(wanted[m] - k * gap for k, m in enumerate(members)) / len(members)
        clusters.append((members, low))
    out = [0.0] * len(wanted)
    for members, low in clusters:
        for k, m in enumerate(members):
            out[m] = low + k * gap
    return out


# The time-to-counsel axes reach this far above their tallest bar, the legend's room.
LEGEND_ROOM = 1.45


def figure_counsel(
    full: FullReport, words: dict[str, str] | None = None, titles: dict[str, str] | None = None
) -> Figure:
    """Time to counsel by urgency in minutes, with the median and the nine-in-ten marked."""
    said = {**WORDS, **(words or {})}
    fig, axes = plt.subplots(1, len(URGENCIES), figsize=(9, 3.2))
    for ax, urgency in zip(axes, URGENCIES, strict=True):
        histogram = full.counsel.get(urgency, [])
        figures = full.report["time_to_counsel"].get(urgency)
        title = (titles or {}).get(urgency, urgency)
        ax.set_title(
            f"{title}: {sum(n for _, n in histogram)} {said['assigned']}", fontsize="small"
        )
        if histogram:
            minutes = [v / 60 for v, _ in histogram]
            ax.hist(minutes, bins=40, weights=[n for _, n in histogram], color="#4a78a8")
            marks = (
                [(said["median"], figures["p50_s"], "-"), (said["p90"], figures["p90_s"], "--")]
                if figures is not None
                else []
            )
            for key, seconds, style in marks:
                if seconds is not None:
                    ax.axvline(
                        seconds / 60,
                        color="#b03030",
                        linestyle=style,
                        label=f"{key} {seconds / 60:.0f} min",
                    )
            # Whole people on the axis, and room above the tallest bar for the legend.
            ax.yaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set_ylim(0, ax.get_ylim()[1] * LEGEND_ROOM)
            ax.legend(fontsize="small", frameon=False, loc="upper right")
        ax.set_xlabel(said["minutes"], fontsize="small")
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    fig.tight_layout()
    return fig


def figure_positions(full: FullReport, words: dict[str, str] | None = None) -> Figure:
    """How often each list position was chosen, against the uniform choice."""
    said = {**WORDS, **(words or {})}
    rows = full.report["position_choice_counts"]["positions"]
    fig, ax = plt.subplots(figsize=(9, 3))
    xs = [r["position"] for r in rows]
    ax.bar([x - 0.2 for x in xs], [r["chosen"] for r in rows], width=0.4, label=said["chosen"])
    ax.bar([x + 0.2 for x in xs], [r["expected"] for r in rows], width=0.4, label=said["uniform"])
    ax.set_xlabel(said["position"])
    ax.set_xticks(xs)
    ax.legend(fontsize="small")
    fig.tight_layout()
    return fig


def figure_choices(full: FullReport, words: dict[str, str] | None = None) -> Figure:
    """Suspects' choices per firm against the uniform choice from the lists shown."""
    said = {**WORDS, **(words or {})}
    rows = full.report["choice_stage"]["firms"]
    fig, ax = plt.subplots(figsize=(9, 3))
    xs = list(range(len(rows)))
    ax.bar([x - 0.2 for x in xs], [r["chosen"] for r in rows], width=0.4, label=said["chosen"])
    ax.bar([x + 0.2 for x in xs], [r["expected"] for r in rows], width=0.4, label=said["uniform"])
    ax.set_xticks(xs, [r["firm"] for r in rows], rotation=90, fontsize="small")
    ax.legend(fontsize="small")
    fig.tight_layout()
    return fig


# Each plot: its title (a message of the catalogues) and how it is drawn in given words.
FIGURES: dict[str, tuple[str, Callable[[FullReport, dict[str, str]], Figure]]] = {
    "counts": (N_("Each firm against its fair share"), lambda f, w: figure_counts(f, w)),
    "counsel": (
        N_("Time to counsel"),
        lambda f, w: figure_counsel(f, w, {u: w[u] for u in URGENCY_WORDS}),
    ),
    "positions": (N_("Suspects' choices by place on the list"), figure_positions),
    "choices": (N_("Suspects' choices of firms"), figure_choices),
}


def _figure_words(gettext: Gettext | None) -> dict[str, str]:
    lookup = gettext or _same
    return {**words_in(gettext), **{u: lookup(t) for u, t in URGENCY_WORDS.items()}}


def svg_data(fig: Figure) -> str:
    """The figure as a data: URI of its SVG, for an <img> under a strict style policy."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="svg", metadata={"Date": None})
    plt.close(fig)
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode()


def svg(fig: Figure) -> str:
    """The figure as an inline <svg> element (no XML prologue, no date)."""
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", metadata={"Date": None})
    plt.close(fig)
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def plots_in(full: FullReport, language: str, gettext: Gettext | None) -> dict[str, str]:
    """Every plot of the report as inline SVG in the reader's words (drawn once per language)."""
    if language not in full.plots:
        words = _figure_words(gettext)
        full.plots[language] = {name: svg(draw(full, words)) for name, (_, draw) in FIGURES.items()}
    return full.plots[language]


# --- documents ----------------------------------------------------------------------------------


def deviation_class(value: float) -> str:
    """The colour band of a deviation: within the chairman bound, up to 2, beyond."""
    magnitude = abs(value)
    if magnitude < 1:
        return "ok"
    return "warn" if magnitude < 2 else "bad"


environment.filters["deviation_class"] = deviation_class


def html(
    full: FullReport,
    *,
    language: str = "en",
    gettext: Gettext | None = None,
    template: Template | None = None,
    **extra: object,
) -> str:
    """The report as HTML in the reader's language (`gettext` looks its messages up):
    standalone by default, or through a template extending it."""
    lookup = gettext or _same
    plots = plots_in(full, language, gettext)
    context: dict[str, object] = {
        "full": full,
        "r": full.report,
        "lang": language,
        "territory_name": None,
        "plots": {k: Markup(v) for k, v in plots.items()},  # our own SVG, not user input
        "titles": {k: lookup(title) for k, (title, _) in FIGURES.items()},
        "urgencies": {u: lookup(t) for u, t in URGENCY_WORDS.items()},
        "_": translator(gettext, markup=True),
    }
    return (template or environment.get_template("report.html")).render({**context, **extra})


def _duration(seconds: float | None, _: Callable[..., str]) -> str:
    if seconds is None:
        return "—"
    if seconds < 3600:
        return _(N_("%(m)s min"), m=round(seconds / 60))
    return _(N_("%(h)s h %(m)s min"), h=int(seconds // 3600), m=round((seconds % 3600) / 60))


def pdf_lines(full: FullReport, gettext: Gettext | None = None) -> list[str]:
    """The PDF's first page of text, in the reader's language."""
    _ = translator(gettext)
    r = full.report
    lines = [
        _(N_("Fairness report: %(territory)s"), territory=r["territory"]),
        _(
            N_("Period from %(start)s to %(end)s; computed at %(at)s."),
            start=r["from"] or _(N_("the beginning")),
            end=r["to"] or _(N_("now")),
            at=full.generated_at,
        ),
        "",
        f"{_(N_('Decisions'))}: {r['decisions']}",
        f"{_(N_('Largest difference'))}: {r['max_abs_deviation']:.3f}",
        f"{_(N_('Loosemore–Hanby index'))}: {r['loosemore_hanby']:.4f}    Gini: {r['gini']:.4f}",
        _(
            N_(
                "The busiest %(k)s of %(n)s lawyers took %(share)s%% of appointments; "
                "the rule allows %(limit)s%%."
            ),
            k=r["top10_lawyers"],
            n=r["listed_lawyers"],
            share=f"{100 * r['top10_share']:.1f}",
            limit=f"{100 * r['top10_limit']:.1f}",
        )
        + " "
        + _(N_("Needs action") if r["top10_exceeds"] else N_("Within the rules")),
    ]
    for urgency, t in r["time_to_counsel"].items():
        lines.append(
            f"{_(N_('Time to counsel'))}, {_(URGENCY_WORDS.get(urgency, urgency))}: "
            f"{_(N_('%(k)s of %(n)s'), k=t['assigned'], n=t['requests'])}; "
            f"{_(WORDS['median'])} {_duration(t['p50_s'], _)}, "
            f"{_(WORDS['p90'])} {_duration(t['p90_s'], _)}"
        )
    lines.append(f"{_(N_('Flagged pairs'))}: {len(full.flagged)}")
    for f in full.flagged[:15]:
        lines.append(
            f"   {f['requester']} → {f['lawyer']}: "
            f"{_(N_('%(k)s of %(n)s'), k=f['to_lawyer'], n=f['requests'])} "
            f"({_(N_('Expected by chance'))} {f['expected']:.1f}), q = {f['q_value']:.2g}"
        )
    return lines


PDF_COLUMNS = (
    N_("Firm"),
    N_("Weight"),
    N_("Fair share"),
    N_("Cases"),
    N_("Accepted"),
    N_("Declined"),
    N_("Expired"),
    N_("Difference"),
)


def pdf(full: FullReport, *, gettext: Gettext | None = None) -> bytes:
    """The report as PDF in the reader's language: a page of figures and the firms' table,
    then one page per plot."""
    lookup = gettext or _same
    r = full.report
    title = lookup("Fairness report: %(territory)s") % {"territory": r["territory"]}
    buffer = io.BytesIO()
    with PdfPages(buffer, metadata={"Title": title}) as pages:
        fig = plt.figure(figsize=(8.27, 11.69))
        text = "\n".join(pdf_lines(full, gettext))
        fig.text(0.06, 0.97, text, va="top", family="monospace", fontsize=8, wrap=True)
        cells = [
            [
                *(str(v) for v in (f["firm"], f["weight"], f"{f['entitlement']:.2f}")),
                *(str(v) for v in (f["offers"], f["accepted"], f["declined"], f["expired"])),
                f"{f['deviation']:+.3f}",
            ]
            for f in r["firms"]
        ]
        if cells:
            ax = fig.add_axes((0.06, 0.05, 0.88, 0.5))
            ax.axis("off")
            table = ax.table(
                cellText=cells[:40], colLabels=[lookup(c) for c in PDF_COLUMNS], loc="upper center"
            )
            table.auto_set_font_size(False)
            table.set_fontsize(7)
        pages.savefig(fig)
        plt.close(fig)
        words = _figure_words(gettext)
        for caption, draw in FIGURES.values():
            fig = draw(full, words)
            fig.suptitle(lookup(caption))
            pages.savefig(fig)
            plt.close(fig)
    return buffer.getvalue()
