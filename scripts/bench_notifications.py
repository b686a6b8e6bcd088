"""Time from a court order's commit to its invitation e-mail leaving the service, on the embedded
default (SQLite file, the scheduler's courier in the process), through a real SMTP server on
loopback (aiosmtpd). A burst of orders is committed at once; each mail's arrival at the server
is matched to its order by the `X-Dispatcher-Message` header. Prints and saves the figures.

    .venv/bin/python scripts/bench_notifications.py [--orders 200]
"""

from __future__ import annotations

import argparse
import email
import email.policy
import json
import logging
import random
import socket
import statistics
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

from sqlmodel import select  # noqa: E402

from dispatcher import registry, schemas, tokens, workflow  # noqa: E402
from dispatcher.config import Settings  # noqa: E402
from dispatcher.db import unit_of_work  # noqa: E402
from dispatcher.models import OutboxMessage, Requester  # noqa: E402
from dispatcher.runtime import Runtime  # noqa: E402


class Arrivals:
    """The time each message arrived, by its `X-Dispatcher-Message` header."""

    def __init__(self) -> None:
        self.at: dict[str, float] = {}
        self.done = threading.Event()
        self.expected = 0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        now = time.perf_counter()
        content = envelope.content if isinstance(envelope.content, bytes) else b""
        parsed = email.message_from_bytes(content, policy=email.policy.default)
        self.at.setdefault(str(parsed["X-Dispatcher-Message"]), now)
        if len(self.at) >= self.expected:
            self.done.set()
        return "250 OK"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--orders", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=ROOT / "bench-results" / "notifications.json")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    logging.getLogger("mail.log").disabled = True
    arrivals = Arrivals()
    arrivals.expected = args.orders
    port = free_port()
    smtp = Controller(arrivals, hostname="127.0.0.1", port=port)
    smtp.start()
    apprise.Apprise()  # apprise loads its plugins once per process: not part of a delivery
    data = registry.RegistryFile.model_validate_json(
        (ROOT / "data" / "registry.json").read_text(encoding="utf-8")
    )
    with tempfile.TemporaryDirectory() as tmp:
        rt = Runtime.build(
            Settings(
                database_url=f"sqlite:///{tmp}/bench.db",
                scheduler=True,
                log_level="WARNING",
                notify_email_url=(
                    f"mailto://127.0.0.1:{port}?mode=insecure&from=counsel@bar.example&to={{email}}"
                ),
            )
        )
        with unit_of_work(rt.engine) as session:
            registry.import_registry(session, data, actor="bench")
            for t in data.territories:
                tokens.create_token(session, role="court", name=f"Court {t.code}", territory=t.code)
        rt.start()
        territories = [t.code for t in data.territories]
        weights = [3.0 if code.startswith("BAK") else 1.0 for code in territories]
        ctx = rt.context("bench")
        committed: dict[str, float] = {}
        started_all = time.perf_counter()
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
            committed[request_id] = time.perf_counter()
        arrivals.done.wait(timeout=120)
        burst_s = time.perf_counter() - started_all
        with unit_of_work(rt.engine) as session:
            messages = session.exec(
                select(OutboxMessage.id, OutboxMessage.payload).where(
                    OutboxMessage.kind == "invitation"
                )
            ).all()
        rt.stop()
    smtp.stop()
    latency_ms = [
        (arrivals.at[f"outbox-{mid}"] - committed[payload["request_id"]]) * 1000
        for mid, payload in messages
        if f"outbox-{mid}" in arrivals.at and payload.get("request_id") in committed
    ]
    figures = {
        "orders": args.orders,
        "database": "sqlite",
        "courier": "embedded scheduler (one process)",
        "mails_received": len(arrivals.at),
        "commit_to_mail_ms_p50": round(statistics.median(latency_ms), 1),
        "commit_to_mail_ms_p99": round(percentile(latency_ms, 0.99), 1),
        "commit_to_mail_ms_max": round(max(latency_ms), 1),
        "burst_s": round(burst_s, 2),
    }
    print(json.dumps(figures, indent=2))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
