"""The two plots of a comparison (matplotlib, no display needed)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np


def deviation(path: Path, by_rule: dict[str, list[float]]) -> None:
    """Largest firm deviation from entitlement so far, by day, one line per rule."""
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for rule, series in by_rule.items():
        ax.plot(range(1, len(series) + 1), series, label=rule)
    ax.axhline(1.0, color="grey", linestyle=":", linewidth=1)
    ax.set_xlabel("day")
    ax.set_ylabel("max |offers - entitlement| (firm, any territory)")
    ax.set_title("Firm deviation from eligibility-adjusted entitlement")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def time_to_counsel(path: Path, by_rule: dict[str, list[float]]) -> None:
    """Distribution of detention time to counsel (minutes, log scale), one curve per rule."""
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for rule, seconds in by_rule.items():
        if not seconds:
            continue
        # Detentions that never got counsel stay in the denominator: the curve ends below 1.
        every = np.sort(np.array(seconds))
        minutes = every[np.isfinite(every)] / 60.0
        ax.plot(minutes, np.arange(1, minutes.size + 1) / every.size, label=rule)
    ax.set_xscale("log")
    ax.set_xlabel("time from request to accepted invitation (minutes)")
    ax.set_ylabel("share of detentions")
    ax.set_title("Detention time to counsel")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
