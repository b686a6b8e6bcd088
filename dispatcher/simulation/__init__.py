"""The policy simulator: realistic demand replayed through the real workflow on a virtual clock.

`fill_history` leaves a period of history in a database (the default rules, the demo registry
unless told otherwise) for the bar's reports and the demo; `compare` (in `run`) replays the same
demand under each allocation rule and measures them side by side.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlmodel import func, select

from dispatcher.db import create_schema, make_engine, unit_of_work
from dispatcher.models import Request
from dispatcher.registry import RegistryFile
from dispatcher.simulation.loop import Simulation, Steer
from policies.config import PolicyBook, load_policy_book

DEMO_REGISTRY = Path(__file__).resolve().parents[2] / "data" / "registry.json"


def read_registry(path: str | Path | None = None) -> RegistryFile:
    """A registry file (the demo registry by default)."""
    return RegistryFile.model_validate_json(Path(path or DEMO_REGISTRY).read_text("utf-8"))


def fill_history(
    database_url: str,
    *,
    days: int,
    seed: int,
    registry_path: str | None = None,
    steer: tuple[str, str] | None = None,
    start: datetime | None = None,
    policy_file: str | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Import the registry into an empty database and replay `days` of demand into it.

    The history is the service's own (requests, choices, invitations, decisions, appointments,
    audit), taken under the default rules. `steer` = (investigator's requester name, lawyer
    licence) makes that investigator's suspects take that lawyer whenever the list shows
    them. The period ends at the start of today (UTC) unless `start` is given.
    """
    engine = make_engine(database_url)
    try:
        create_schema(engine)
        policies: PolicyBook = load_policy_book(policy_file)
        if start is None:
            today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
            start = today - timedelta(days=days)
        simulation = Simulation(
            engine,
            policies,
            read_registry(registry_path),
            days=days,
            seed=seed,
            start=start,
            steer=Steer(*steer) if steer else None,
            progress=progress,
        )
        summary = simulation.run()
        with unit_of_work(engine) as session:
            by_status = dict(
                session.exec(select(Request.status, func.count()).group_by(Request.status)).all()
            )
        return {
            **summary,
            "database_url": engine.url.render_as_string(hide_password=True),
            "start": start.isoformat(),
            "end": (start + timedelta(days=days)).isoformat(),
            "policy_version": policies.default.version,
            "by_status": by_status,
        }
    finally:
        engine.dispose()


__all__ = ["Simulation", "Steer", "fill_history", "read_registry"]
