"""The README's worked example, run as written against a fresh demo: each `# → ...` line must
describe what the command before it really answers. And the demo is safe to start twice.

An expected answer is JSON where `"..."` stands for any value and a trailing `...` for any
other keys; a leading status code (`201`) is the README telling the reader, not curl's output.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.servers import free_port, wait_until_up

ROOT = Path(__file__).resolve().parents[1]
DISPATCHER = str(ROOT / ".venv" / "bin" / "dispatcher")
ANY = "\u0000any"

pytestmark = pytest.mark.slow


def worked_example() -> list[str]:
    """The shell blocks of the README's worked example, in order."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## A worked example with curl", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.*?)```", section, flags=re.S)


def commands(block: str) -> list[tuple[str, str | None]]:
    """Each command of a block (continuation lines joined) with the `# →` line after it."""
    found: list[tuple[str, str | None]] = []
    current: list[str] = []
    for line in block.splitlines():
        stripped = line.strip()
        if stripped.startswith("# →"):
            assert found, "an expected answer before any command"
            found[-1] = (found[-1][0], stripped[len("# →") :].strip())
            continue
        if not stripped or (stripped.startswith("#") and not current):
            continue
        current.append(line)
        if not line.rstrip().endswith("\\") and not _open_quote("\n".join(current)):
            found.append(("\n".join(current), None))
            current = []
    assert not current, "a command left open"
    return found


def _open_quote(text: str) -> bool:
    return text.count("'") % 2 == 1


def expected(text: str) -> Any:
    text = re.sub(r"^\d{3} ", "", text)
    text = text.replace('"..."', json.dumps(ANY))
    text = re.sub(r",\s*\.\.\.\s*}", "}", text)
    return json.loads(text)


def matches(want: Any, got: Any) -> bool:
    if want == ANY:
        return True
    if isinstance(want, dict):
        return isinstance(got, dict) and all(
            key in got and matches(value, got[key]) for key, value in want.items()
        )
    return bool(want == got)


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A fresh demo (`dispatcher serve --demo`) in a directory of its own, as a newcomer runs
    it at the repository's root (`.venv` there)."""
    (tmp_path / ".venv").symlink_to(ROOT / ".venv")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DISPATCHER_")}
    env |= {"DISPATCHER_LOG_LEVEL": "WARNING", "DISPATCHER_PRIME_REGISTRY": "false"}
    server = subprocess.Popen(
        [DISPATCHER, "serve", "--demo", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_until_up(f"http://127.0.0.1:{port}", timeout_s=60)
        yield tmp_path, str(port)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)


def test_the_worked_example_answers_what_the_readme_says(demo: tuple[Path, str]) -> None:
    where, _ = demo
    env = {k: v for k, v in os.environ.items() if not k.startswith("DISPATCHER_")}
    script = [". ./dispatcher-demo.env"]
    checks: list[tuple[int, str, str]] = []
    every = [step for block in worked_example() for step in commands(block)]
    for n, (command, answer) in enumerate(every):
        script += [f"echo '@@{n}'", command, "echo"]
        if answer is not None:
            checks.append((n, command.splitlines()[0], answer))
    run = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", "\n".join(script)],
        cwd=where,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    outputs = dict(re.findall(r"@@(\d+)\n(.*?)(?=\n@@\d+\n|\Z)", run.stdout, flags=re.S))
    assert len(checks) >= 4
    for n, first_line, answer in checks:
        got = json.loads(outputs[str(n)].strip())
        assert matches(expected(answer), got), (first_line, answer, json.dumps(got))


def test_a_second_demo_changes_nothing_and_says_where_the_first_runs(
    demo: tuple[Path, str],
) -> None:
    where, port = demo
    env_file = where / "dispatcher-demo.env"
    tokens_before = env_file.read_text(encoding="utf-8")
    database = where / "dispatcher-demo.db"
    size_before = database.stat().st_size
    second = subprocess.run(
        [DISPATCHER, "serve", "--demo", "--port", port],
        cwd=where,
        env={k: v for k, v in os.environ.items() if not k.startswith("DISPATCHER_")},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert second.returncode != 0
    assert f"127.0.0.1:{port}" in second.stderr and "already" in second.stderr
    assert env_file.read_text(encoding="utf-8") == tokens_before
    assert database.stat().st_size == size_before
    # The first demo still takes its tokens.
    admin = re.search(r"ADMIN_TOKEN=(\S+)", tokens_before)
    assert admin is not None
    listed = subprocess.run(
        ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
         "-H", f"Authorization: Bearer {admin.group(1)}",
         f"http://127.0.0.1:{port}/api/v1/registry/territories"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert listed.stdout == "200"


def test_token_create_names_its_database_and_makes_none_unasked(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DISPATCHER_")}
    env["DISPATCHER_DATABASE_URL"] = f"sqlite:///{tmp_path / 'elsewhere.db'}"
    refused = subprocess.run(
        [DISPATCHER, "token", "create", "--role", "admin", "--name", "Someone"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert refused.returncode != 0 and refused.stdout == ""
    assert "no database at" in refused.stderr and "--create" in refused.stderr
    assert not (tmp_path / "elsewhere.db").exists()
    made = subprocess.run(
        [DISPATCHER, "token", "create", "--role", "admin", "--name", "Someone", "--create"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert len(made.stdout.strip().splitlines()) == 1  # the token alone on stdout
    assert f"database sqlite:///{tmp_path / 'elsewhere.db'}" in made.stderr
