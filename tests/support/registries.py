"""Registries for tests: a small one written out here, the demo's from data/, and loading one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dispatcher import registry
from dispatcher.db import unit_of_work
from dispatcher.runtime import Runtime

ROOT = Path(__file__).resolve().parents[2]
DEMO_REGISTRY = ROOT / "data" / "registry.json"


def small_registry() -> dict[str, Any]:
    """Two territories, three firms (weights 3, 2, 1 in CEN), a conflict, a juvenile lawyer."""
    return {
        "territories": [
            {
                "code": "CEN",
                "name": {"az": "Mərkəz", "ru": "Центр", "en": "Centre"},
                "fallback": ["NOR"],
            },
            {"code": "NOR", "name": {"az": "Şimal", "ru": "Север", "en": "North"}, "fallback": []},
        ],
        "firms": [
            {"code": "F1", "name": "First Bureau", "territories": ["CEN"], "status": "active"},
            {"code": "F2", "name": "Second Bureau", "territories": ["CEN"], "status": "active"},
            {
                "code": "F3",
                "name": "Third Bureau",
                "territories": ["CEN", "NOR"],
                "status": "active",
            },
        ],
        "lawyers": [
            {
                "licence": "L-11",
                "name": "Aysel Məmmədova",
                "firm": "F1",
                "territories": ["CEN"],
                "languages": ["az", "ru"],
                "specialisations": ["juvenile"],
                "max_open": 3,
            },
            {
                "licence": "L-12",
                "name": "Elvin Quliyev",
                "firm": "F1",
                "territories": ["CEN"],
                "languages": ["az"],
                "max_open": 3,
            },
            {
                "licence": "L-13",
                "name": "Rəşad Əliyev",
                "firm": "F1",
                "territories": ["CEN"],
                "languages": ["az", "en"],
                "max_open": 3,
            },
            {
                "licence": "L-21",
                "name": "Günel Hüseynova",
                "firm": "F2",
                "territories": ["CEN"],
                "languages": ["az", "ru"],
                "max_open": 3,
            },
            {
                "licence": "L-22",
                "name": "Tural Həsənov",
                "firm": "F2",
                "territories": ["CEN"],
                "languages": ["az"],
                "max_open": 3,
            },
            {
                "licence": "L-31",
                "name": "Irina Petrova",
                "firm": "F3",
                "territories": ["CEN", "NOR"],
                "languages": ["az", "ru"],
                "max_open": 3,
            },
        ],
        "conflicts": [
            {"lawyer": "L-22", "case_number": "1(101)-77/2026", "role": "victim_counsel"}
        ],
    }


def load_registry(rt: Runtime, data: dict[str, Any]) -> None:
    """Import `data` as the registry of the service's database, committed."""
    with unit_of_work(rt.engine) as session:
        registry.import_registry(session, registry.RegistryFile.model_validate(data), actor="test")


def demo_registry() -> dict[str, Any]:
    """The demo registry (data/registry.json) as read from its file."""
    data: dict[str, Any] = json.loads(DEMO_REGISTRY.read_text(encoding="utf-8"))
    return data
