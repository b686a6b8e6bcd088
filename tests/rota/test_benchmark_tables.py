"""The rota benchmark's tables in docs/benchmarks.md are the saved run's (docs/rota.json),
printed by `scripts/bench_rota.py --markdown`, not edited by hand."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_documented_rota_tables_are_the_saved_runs() -> None:
    printed = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "bench_rota.py"), "--markdown"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    ).stdout
    rows = [line for line in printed.splitlines() if line.startswith("| ")]
    territories = [r for r in rows if not r.startswith("| territory")]
    assert len(territories) >= 35 + 80  # both registries, every territory
    documented = (ROOT / "docs" / "benchmarks.md").read_text(encoding="utf-8")
    assert [r for r in territories if r not in documented] == []
