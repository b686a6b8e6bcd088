"""Time from a court order's commit to its invitation e-mail leaving the service, through a real
SMTP server on loopback (aiosmtpd): on the embedded default (SQLite file, the scheduler's courier
in the process), or on PostgreSQL with a `dispatcher worker` process delivering. A burst of
orders is committed at once; each mail's arrival at the server is matched to its order by the
`X-Dispatcher-Message` header. Prints and saves the figures.

    .venv/bin/python scripts/bench_notifications.py [--orders 200]
    .venv/bin/python scripts/bench_notifications.py --database-url postgresql+psycopg://...
"""

from __future__ import annotations

import argparse
import email
import email.policy
import json
import logging
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import apprise
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import text  # noqa: E402
from sqlmodel import select  # noqa: E402

from dispatcher import migrations, registry, schemas, tokens, workflow  # noqa: E402
from dispatcher.config import Settings  # noqa: E402
from dispatcher.db import unit_of_work  # noqa: E402
from dispatcher.models import OutboxMessage, Requester  # noqa: E402
from dispatcher.runtime import Runtime  # noqa: E402


class Arrivals:
    """The time (epoch seconds) each message arrived, by its `X-Dispatcher-Message` header,
    appended to a file: the SMTP server runs in a process of its own, as a real one would,
    so that its work is not the service's."""

    def __init__(self, log: Path) -> None:
        self.log = log

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        now = time.time()
        content = envelope.content if isinstance(envelope.content, bytes) else b""
        parsed = email.message_from_bytes(content, policy=email.policy.default)
        with self.log.open("a", encoding="utf-8") as out:
            out.write(f"{parsed['X-Dispatcher-Message']} {now}\n")
        return "250 OK"


def serve_smtp(port: int, log: Path) -> None:
    """The benchmark's SMTP server (`--serve-smtp`), until it is terminated."""
    logging.getLogger("mail.log").disabled = True
    controller = Controller(Arrivals(log), hostname="127.0.0.1", port=port)
    controller.start()
    threading.Event().wait()


def read_arrivals(log: Path) -> dict[str, float]:
    found: dict[str, float] = {}
    if log.exists():
        for line in log.read_text(encoding="utf-8").splitlines():
            header, at = line.rsplit(" ", 1)
            found.setdefault(header, float(at))
    return found


def wait_for_port(port: int, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise SystemExit("the SMTP server did not start")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for_worker(rt: Runtime, timeout_s: float = 30.0) -> None:
    """Until the worker leads the scheduler (it holds the advisory lock and swept once)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with unit_of_work(rt.engine) as session:
            held = session.execute(
                text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'")
            ).scalar_one()
        if held:
            return
        time.sleep(0.2)
    raise SystemExit("the worker did not start leading")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--orders", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--database-url",
        default=None,
        help="an empty PostgreSQL database: orders committed here, a worker process delivers",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "bench-results" / "notifications.json")
    parser.add_argument("--serve-smtp", nargs=2, metavar=("PORT", "LOG"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_smtp:
        serve_smtp(int(args.serve_smtp[0]), Path(args.serve_smtp[1]))
        return
    rng = random.Random(args.seed)
    logging.getLogger("mail.log").disabled = True
    port = free_port()
    received = Path(tempfile.mkdtemp()) / "arrivals.txt"
    smtp = subprocess.Popen(
        [sys.executable, __file__, "--serve-smtp", str(port), str(received)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for_port(port)
    apprise.Apprise()  # apprise loads its plugins once per process: not part of a delivery
    data = registry.RegistryFile.model_validate_json(
        (ROOT / "data" / "registry.json").read_text(encoding="utf-8")
    )
    mail_url = f"mailto://127.0.0.1:{port}?mode=insecure&from=counsel@bar.example&to={{email}}"
    worker: subprocess.Popen[bytes] | None = None
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{tmp}/bench.db"
        if args.database_url:
            migrations.upgrade(url)
        rt = Runtime.build(
            Settings(
                database_url=url,
                scheduler=not args.database_url,  # on PostgreSQL the worker delivers
                log_level="WARNING",
                notify_email_url=mail_url,
            )
        )
        with unit_of_work(rt.engine) as session:
            registry.import_registry(session, data, actor="bench")
            for t in data.territories:
                tokens.create_token(
                    session, role="court", name=f"Court {t.code}", territories=[t.code]
                )
        rt.start()
        if args.database_url:
            env = os.environ | {
                "DISPATCHER_DATABASE_URL": url,
                "DISPATCHER_NOTIFY_EMAIL_URL": mail_url,
                "DISPATCHER_LOG_LEVEL": "WARNING",
            }
            worker = subprocess.Popen(
                [str(ROOT / ".venv" / "bin" / "dispatcher"), "worker"], env=env, cwd=tmp
            )
            wait_for_worker(rt)
        territories = [t.code for t in data.territories]
        weights = [3.0 if code.startswith("BAK") else 1.0 for code in territories]
        ctx = rt.context("bench")
        committed: dict[str, float] = {}
        started_all = time.time()
        for i in range(args.orders):
            code = rng.choices(territories, weights)[0]
            body = schemas.RequestIn.model_validate(
                {
                    "external_ref": f"N-{i}",
                    "kind": "court_order",
                    "case_number": f"1(101)-{i}/2026",
                    "territory": code,
                    "urgency": "detention",
                    "category": "grave",
                    "person": {"name": f"Person {i}", "language": "az"},
                }
            )
            with unit_of_work(rt.engine) as session:
                requester = session.exec(
                    select(Requester).where(Requester.name == f"Court {code}")
                ).one()
                request, _ = workflow.create_request(session, body, requester=requester, ctx=ctx)
                request_id = request.id
            committed[request_id] = time.time()
        committed_s = time.time() - started_all
        deadline = time.monotonic() + 120
        while len(read_arrivals(received)) < args.orders and time.monotonic() < deadline:
            time.sleep(0.1)
        burst_s = time.time() - started_all
        with unit_of_work(rt.engine) as session:
            messages = session.exec(
                select(OutboxMessage.id, OutboxMessage.payload).where(
                    OutboxMessage.kind == "invitation"
                )
            ).all()
        if worker is not None:
            worker.terminate()
            worker.wait(30)
        rt.stop()
    smtp.terminate()
    smtp.wait(10)
    arrivals = read_arrivals(received)
    latency_ms = [
        (arrivals[f"outbox-{mid}"] - committed[payload["request_id"]]) * 1000
        for mid, payload in messages
        if f"outbox-{mid}" in arrivals and payload.get("request_id") in committed
    ]
    figures = {
        "orders": args.orders,
        "database": "postgresql" if args.database_url else "sqlite",
        "courier": "worker process" if args.database_url else "embedded scheduler (one process)",
        "outbox_parallel": Settings().outbox_parallel,
        "mails_received": len(arrivals),
        "commit_to_mail_ms_p50": round(statistics.median(latency_ms), 1),
        "commit_to_mail_ms_p99": round(percentile(latency_ms, 0.99), 1),
        "commit_to_mail_ms_max": round(max(latency_ms), 1),
        "orders_committed_s": round(committed_s, 2),
        "all_delivered_s": round(burst_s, 2),
    }
    print(json.dumps(figures, indent=2))
    out = args.out.with_name(f"{args.out.stem}-{figures['database']}{args.out.suffix}")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
