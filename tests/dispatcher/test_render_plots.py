"""The report's plots: the labels at the lines' ends never print over each other."""

from __future__ import annotations

from itertools import pairwise
from typing import Any, cast

import matplotlib.pyplot as plt
import pytest
from hypothesis import given
from hypothesis import strategies as st
from matplotlib.patches import Rectangle

from dispatcher.reports import render
from dispatcher.reports.fairness import FirmSeries
from policies.vocabulary import Urgency

positions = st.lists(st.floats(-500, 500, allow_nan=False), max_size=12)


@given(positions, st.floats(1, 30))
def test_spread_labels_keep_their_order_and_their_distance(wanted: list[float], gap: float) -> None:
    placed = render.spread(wanted, gap)
    ranked = sorted(range(len(wanted)), key=lambda i: (wanted[i], i))
    for a, b in pairwise(ranked):
        assert placed[b] - placed[a] >= gap - 1e-6
    # Least squares around what they want: the moves of a cluster cancel, so the whole does.
    assert sum(placed) == pytest.approx(sum(wanted), abs=1e-6 * (1 + len(wanted)))


@given(positions, st.floats(1, 30))
def test_labels_far_enough_apart_stay_where_they_are(wanted: list[float], gap: float) -> None:
    apart = sorted(w + i * (gap + 1) for i, w in enumerate(sorted(wanted)))
    assert render.spread(apart, gap) == apart


def _report(ends: list[float]) -> render.FullReport:
    """A report whose firm F<i> ends `ends[i]` cases from its share (offers − entitlement)."""
    days = ["2026-11-27", "2026-11-28", "2026-11-29"]
    series: FirmSeries = {
        f"F{i}": [(day, 0.0, 0) for day in days[:-1]] + [(days[-1], 10.0 - end, 10)]
        for i, end in enumerate(ends)
    }
    return render.FullReport(
        report=cast(Any, {}),
        series=series,
        counsel={},
        flagged=[],
        refused=[],
        callbacks_failed=[],
        reopened=[],
        overview=[],
        generated_at="",
    )


def test_firms_ending_at_the_same_deviation_get_labels_that_do_not_overlap() -> None:
    # Five firms and the rest: three end at -0.4, two at +0.3 (the demo's Nasimi had two labels
    # printed over each other).
    ends = [-0.4, -0.4, -0.4, 0.3, 0.3, 0.6, 0.1]
    fig = render.figure_counts(_report(ends), names={f"F{i}": f"Firm {i}" for i in range(7)})
    try:
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
        [ax] = fig.axes
        boxes = sorted((t.get_window_extent(renderer) for t in ax.texts), key=lambda box: box.y0)
        assert len(boxes) == 6  # five firms and "all other firms"
        for low, high in pairwise(boxes):
            assert low.y1 <= high.y0 + 0.5, (low, high)
    finally:
        plt.close(fig)


def test_the_time_to_counsel_legend_leaves_the_bars_uncovered() -> None:
    # Eleven detained people a minute or two apart, the tallest bars under the marks' legend.
    histogram = [(60 * m, 1 + m % 3) for m in range(3, 48, 4)]
    full = _report([0.0])
    full.counsel = {Urgency.DETENTION: histogram}
    full.report = cast(
        Any, {"time_to_counsel": {Urgency.DETENTION: {"p50_s": 26 * 60, "p90_s": 43 * 60}}}
    )
    fig = render.figure_counsel(full)
    try:
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
        ax = fig.axes[0]
        legend = ax.get_legend()
        assert legend is not None
        box = legend.get_window_extent(renderer)
        bars = [
            p.get_window_extent(renderer)
            for p in ax.patches
            if isinstance(p, Rectangle) and p.get_height() > 0
        ]
        assert bars and not any(box.overlaps(bar) for bar in bars)
        assert all(float(t).is_integer() for t in ax.get_yticks())
    finally:
        plt.close(fig)
