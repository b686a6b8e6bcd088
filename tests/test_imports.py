"""What may import what: the layers' rules, and the CLI's cheap start.

`policies` (the rules a bar would change) is the bottom of the graph and imports neither
`dispatcher` nor `api`; the domain, `dispatcher`, knows nothing of the HTTP face, `api`. Every
import counts, at the top of a module or inside a function, since a deferred import still ties
the layers together.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Each package and the top-level packages it must never import.
FORBIDDEN = {
    "policies": ("dispatcher", "api"),
    "dispatcher": ("api",),
}


def imported(source: str, *, package: str) -> Iterator[tuple[int, str]]:
    """Every module `source` imports, with its line; relative imports resolved against `package`
    (the package the module is in)."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = parts[: len(parts) - node.level + 1]
                yield node.lineno, ".".join([*base, *([node.module] if node.module else [])])
            else:
                yield node.lineno, node.module or ""


def violations(package: str, forbidden: tuple[str, ...]) -> list[str]:
    """`file:line imports name` for each import of a forbidden package under `package`."""
    found = []
    for path in sorted((ROOT / package).rglob("*.py")):
        parts = path.relative_to(ROOT).parts[:-1]  # the package the module is in
        for line, name in imported(path.read_text(encoding="utf-8"), package=".".join(parts)):
            if name.split(".")[0] in forbidden:
                found.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_a_layer_never_imports_the_layers_above_it(package: str) -> None:
    assert violations(package, FORBIDDEN[package]) == []


def test_the_check_sees_every_form_of_import() -> None:
    source = (
        "import api\n"
        "import json, api.main as m\n"
        "from api.routes import reports\n"
        "def later() -> None:\n"
        "    from ...api import main\n"
        "from . import models\n"
    )
    names = sorted(name for _line, name in imported(source, package="dispatcher.reports"))
    assert names == ["api", "api", "api.main", "api.routes", "dispatcher.reports", "json"]


# Run in a fresh interpreter: the modules the CLI loads before it does anything.
_PROBE = """
import json, sys
import dispatcher.cli

def heavy():
    return sorted(
        m for m in sys.modules
        if m.split(".")[0] in ("scipy", "matplotlib") or m.startswith("dispatcher.simulation")
    )

seen = {"import": heavy()}
for args in sys.argv[1:]:
    sys.argv = ["dispatcher", *args.split()]
    try:
        dispatcher.cli.app()
    except SystemExit:
        pass
    seen[args] = heavy()
print(json.dumps(seen))
"""


def test_the_cli_starts_without_the_simulator_scipy_or_matplotlib(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'cli.db'}"
    runs = ["--help", "token create --role admin --name probe", "simulate --help"]
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, *runs],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "DISPATCHER_DATABASE_URL": database},
        timeout=120,
    )
    seen: dict[str, list[str]] = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["import"] == []
    assert seen["--help"] == []
    assert seen["token create --role admin --name probe"] == []
    # The probe can see the simulator: asking for the simulator's own help loads it.
    assert "dispatcher.simulation.run" in seen["simulate --help"]
