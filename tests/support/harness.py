"""A production-shaped cluster under load: shared by the concurrency tests and the benchmark.

`dispatcher serve --workers N` and `dispatcher worker` processes on one database (and Redis
when given); court clients post orders concurrently, each retrying with the same reference on
a dropped connection or a 5xx, as a court system would; lawyer clients accept every
invitation that reaches them and close the appointment at once. A lawyer hears of an
invitation the moment the order's answer names it (standing in for the notification) and
otherwise asks for pending invitations every second. In each firm one lawyer has
room for everything and the others a cap of one, so caps bind all the time, yet no firm is
ever full (which would leave its turns to others and void the rotation's bound).
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlmodel import Session, col, func, select

from dispatcher import audit, registry, tokens, workflow
from dispatcher.config import Settings
from dispatcher.db import unit_of_work
from dispatcher.models import (
    Appointment,
    Decision,
    DecisionShare,
    Firm,
    Invitation,
    Lawyer,
    Request,
    RotationState,
)
from dispatcher.runtime import Runtime
from tests.support.servers import free_port, wait_until_up

TERRITORY = "LOAD"
FIRM_SIZES = (6, 4, 3, 2)
CAP = 1
ROOMY_CAP = 1000
RETRY_PAUSE_S = 0.2
POLL_S = 1.0


def load_registry() -> dict[str, Any]:
    """One territory, four firms of 6, 4, 3 and 2 lawyers, no duty windows, no conflicts;
    the first lawyer of each firm is roomy, the others take one case at a time."""
    firms, lawyers = [], []
    for f, size in enumerate(FIRM_SIZES, start=1):
        code = f"LF{f}"
        firms.append({"code": code, "name": f"Load firm {f}", "territories": [TERRITORY]})
        for n in range(1, size + 1):
            lawyers.append(
                {
                    "licence": f"LL-{f}{n:02d}",
                    "name": f"Lawyer {f}.{n}",
                    "firm": code,
                    "territories": [TERRITORY],
                    "languages": ["az"],
                    "max_open": ROOMY_CAP if n == 1 else CAP,
                }
            )
    return {
        "territories": [{"code": TERRITORY, "name": {"az": "Yük", "ru": "Нагрузка", "en": "Load"}}],
        "firms": firms,
        "lawyers": lawyers,
        "conflicts": [],
    }


@dataclass
class Credentials:
    court: str
    lawyers: dict[str, str]


def prepare(database_url: str) -> Credentials:
    """Registry and tokens, written through the domain, before any server starts."""
    rt = Runtime.build(Settings(database_url=database_url, scheduler=False, log_level="WARNING"))
    try:
        data = registry.RegistryFile.model_validate(load_registry())
        with unit_of_work(rt.engine) as session:
            registry.import_registry(session, data, actor="load")
            court = tokens.create_token(
                session, role="court", name="Load court", territories=[TERRITORY]
            )
            lawyers = {
                lw.licence: tokens.create_token(
                    session, role="lawyer", name=lw.licence, lawyer=lw.licence
                )
                for lw in data.lawyers
            }
    finally:
        rt.stop()
    return Credentials(court, lawyers)


def _dispatcher() -> list[str]:
    return [sys.executable, "-m", "dispatcher.cli"]


@dataclass
class Cluster:
    """The service's processes: API workers under one uvicorn master, and worker processes."""

    database_url: str
    redis_url: str | None
    api_workers: int
    worker_processes: int
    log_dir: Path
    port: int = field(default_factory=free_port)
    api: subprocess.Popen[bytes] | None = None
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        env = {
            **os.environ,
            "DISPATCHER_DATABASE_URL": self.database_url,
            "DISPATCHER_LOG_LEVEL": "WARNING",
            "DISPATCHER_LOG_FORMAT": "json",
            "DISPATCHER_RATE_LIMIT_PER_MINUTE": "1000000",
            # Production shape: the API workers run no scheduler; worker processes do.
            "DISPATCHER_SCHEDULER": "false" if self.worker_processes else "true",
        }
        if self.redis_url:
            env["DISPATCHER_REDIS_URL"] = self.redis_url
        else:
            env.pop("DISPATCHER_REDIS_URL", None)
        return env

    def _spawn(self, args: list[str], name: str) -> subprocess.Popen[bytes]:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with (self.log_dir / f"{name}.log").open("ab") as log:  # the process keeps its own
            return subprocess.Popen(
                _dispatcher() + args, env=self.env(), stdout=log, stderr=subprocess.STDOUT
            )

    @contextmanager
    def running(self) -> Iterator[Cluster]:
        """The cluster, started; stopped when the block ends, however it ends (a start that
        fails half-way stops the processes it had started)."""
        try:
            self.start()
            yield self
        finally:
            self.stop()

    def start(self) -> None:
        for n in range(self.worker_processes):
            self.workers.append(self._spawn(["worker"], f"worker-{n}"))
        self.api = self._spawn(
            ["serve", "--port", str(self.port), "--workers", str(self.api_workers)], "api"
        )
        wait_until_up(self.base, timeout_s=60)

    def api_worker_pids(self) -> list[int]:
        """The live API worker processes (not the master's helper, not the dead)."""
        assert self.api is not None
        found = subprocess.run(
            ["pgrep", "-P", str(self.api.pid)], capture_output=True, text=True, check=False
        )
        pids = []
        for pid in (int(p) for p in found.stdout.split()):
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
                state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            if b"resource_tracker" not in cmdline and state != "Z":
                pids.append(pid)
        return pids

    def kill_api_worker(self) -> int:
        """kill -9 one API worker (uvicorn's master starts a new one)."""
        victim = self.api_worker_pids()[0]
        os.kill(victim, signal.SIGKILL)
        return victim

    def kill_workers(self) -> None:
        """kill -9 every worker process (no clean shutdown, locks held, jobs mid-flight)."""
        for process in self.workers:
            process.send_signal(signal.SIGKILL)
            process.wait()
        self.workers.clear()

    def restart_workers(self) -> None:
        for n in range(self.worker_processes):
            self.workers.append(self._spawn(["worker"], f"worker-restarted-{n}"))

    def stop(self) -> None:
        for process in [*self.workers, *([self.api] if self.api else [])]:
            process.send_signal(signal.SIGTERM)
        for process in [*self.workers, *([self.api] if self.api else [])]:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@dataclass
class LoadResult:
    latencies_s: list[float] = field(default_factory=list)
    request_ids: dict[str, str] = field(default_factory=dict)  # reference -> request id
    retries: int = 0
    first_answers: int = 0  # 201s
    repeat_answers: int = 0  # 200s: a retry or a deliberate duplicate
    started: float = 0.0
    all_posted: float = 0.0
    all_assigned: float = 0.0
    accepted: int = 0
    closed: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def _post_order(
    client: httpx.Client, body: dict[str, Any], result: LoadResult, stop: threading.Event
) -> dict[str, Any]:
    """POST until an answer comes, with the same reference each time; records the latency."""
    while not stop.is_set():
        started = time.perf_counter()
        try:
            response = client.post("/api/v1/requests", json=body)
        except httpx.TransportError:
            response = None
        elapsed = time.perf_counter() - started
        if response is not None and response.status_code in (200, 201):
            with result.lock:
                result.latencies_s.append(elapsed)
                if response.status_code == 201:
                    result.first_answers += 1
                else:
                    result.repeat_answers += 1
            answer: dict[str, Any] = response.json()
            return answer
        if response is not None and response.status_code < 500:
            raise AssertionError(f"order refused: {response.status_code} {response.text}")
        with result.lock:
            result.retries += 1
        time.sleep(RETRY_PAUSE_S)
    raise AssertionError("stopped before the order was answered")


def order_body(ref: str) -> dict[str, Any]:
    return {
        "external_ref": ref,
        "kind": "court_order",
        "case_number": f"1(101)-{ref}/2026",
        "territory": TERRITORY,
        "urgency": "detention",
        "category": "grave",
        "person": {"name": f"Person {ref}", "language": "az", "juvenile": False},
    }


Notices = dict[str, "queue.Queue[str]"]


def _court_client(
    base: str,
    token: str,
    refs: list[str],
    result: LoadResult,
    notices: Notices,
    stop: threading.Event,
) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
        for i, ref in enumerate(refs):
            answer = _post_order(client, order_body(ref), result, stop)
            with result.lock:
                result.request_ids[ref] = answer["id"]
            if answer["invitation"] is not None:
                notices[answer["invitation"]["lawyer"]].put(answer["invitation"]["id"])
            if i == 0:
                # An identical retry from the same court: the same request comes back.
                again = _post_order(client, order_body(ref), result, stop)
                assert again["id"] == answer["id"], "an identical retry made a second request"


def _lawyer_client(
    base: str, token: str, result: LoadResult, notices: queue.Queue[str], stop: threading.Event
) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    rounds = 0
    with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
        while not stop.is_set():
            try:
                invitations = [notices.get(timeout=POLL_S)]
            except queue.Empty:
                invitations = []
            try:
                if not invitations:
                    rounds += 1
                    pending = client.get("/api/v1/invitations", params={"status": "pending"})
                    invitations = [i["id"] for i in pending.json()] if pending.is_success else []
                to_close = []
                for invitation_id in invitations:
                    answer = client.post(f"/api/v1/invitations/{invitation_id}/accept")
                    if answer.status_code == 200:
                        with result.lock:
                            result.accepted += 1
                        to_close.append(answer.json()["appointment"]["id"])
                if rounds % 5 == 4:
                    # An answer lost to a dying worker: find what is still open.
                    opened = client.get("/api/v1/appointments")
                    to_close += [a["id"] for a in opened.json()] if opened.is_success else []
                for appointment_id in to_close:
                    done = client.post(f"/api/v1/appointments/{appointment_id}/close")
                    if done.status_code == 200:
                        with result.lock:
                            result.closed += 1
            except (httpx.TransportError, ValueError):
                pass  # a worker died under us: ask again


def open_count(database_url: str) -> int:
    """Requests still waiting for a lawyer (a choice or an answer)."""
    rt = Runtime.build(Settings(database_url=database_url, scheduler=False, log_level="WARNING"))
    try:
        with unit_of_work(rt.engine) as session:
            return int(
                session.exec(
                    select(func.count())
                    .select_from(Request)
                    .where(col(Request.status).in_([workflow.AWAITING_CHOICE, workflow.INVITING]))
                ).one()
            )
    finally:
        rt.stop()


def run_load(
    cluster: Cluster,
    credentials: Credentials,
    *,
    orders: int,
    clients: int,
    during: Callable[[LoadResult], None] | None = None,
    timeout_s: float = 600,
) -> LoadResult:
    """Send `orders` court orders from `clients` threads while the lawyers answer; wait until
    no request waits for a lawyer any more (or the timeout passes). `during` runs once, mid-load."""
    result = LoadResult()
    stop = threading.Event()
    refs = [f"LOAD-{n:05d}" for n in range(orders)]
    shares = [refs[i::clients] for i in range(clients)]
    notices: Notices = {licence: queue.Queue() for licence in credentials.lawyers}
    lawyers = [
        threading.Thread(
            target=_lawyer_client,
            args=(cluster.base, token, result, notices[licence], stop),
            daemon=True,
        )
        for licence, token in credentials.lawyers.items()
    ]
    courts = [
        threading.Thread(
            target=_court_client,
            args=(cluster.base, credentials.court, share, result, notices, stop),
            daemon=True,
        )
        for share in shares
    ]
    result.started = time.perf_counter()
    for thread in lawyers + courts:
        thread.start()
    if during is not None:
        while len(result.request_ids) < orders // 3:
            time.sleep(0.05)
        during(result)
    deadline = time.monotonic() + timeout_s
    for thread in courts:
        thread.join(timeout=max(0.0, deadline - time.monotonic()))
    result.all_posted = time.perf_counter()
    while time.monotonic() < deadline and (
        len(result.request_ids) < orders or open_count(cluster.database_url) > 0
    ):
        time.sleep(0.2)
    result.all_assigned = time.perf_counter()
    stop.set()
    for thread in lawyers:
        thread.join(timeout=30)
    return result


def findings(database_url: str) -> dict[str, Any]:
    """What the database says after the load, for the invariants to be checked against."""
    rt = Runtime.build(Settings(database_url=database_url, scheduler=False, log_level="WARNING"))
    try:
        with unit_of_work(rt.engine) as session:
            return _findings(session)
    finally:
        rt.stop()


def _findings(session: Session) -> dict[str, Any]:
    by_status = dict(
        session.exec(select(Request.status, func.count()).group_by(col(Request.status))).all()
    )
    per_request = session.exec(
        select(Appointment.request_id, func.count()).group_by(col(Appointment.request_id))
    ).all()
    pending = session.exec(
        select(Invitation.request_id, func.count())
        .where(Invitation.status == "pending")
        .group_by(col(Invitation.request_id))
    ).all()
    # The highest load each lawyer ever carried: +1 when invited, -1 when the invitation is
    # answered without an appointment, -1 when the appointment closes.
    steps: dict[int, list[tuple[Any, int]]] = defaultdict(list)
    for lawyer_id, created, answered, status in session.exec(
        select(
            Invitation.lawyer_id,
            Invitation.created_at,
            Invitation.answered_at,
            Invitation.status,
        )
    ).all():
        steps[lawyer_id].append((created, 1))
        if status in ("declined", "expired", "withdrawn") and answered is not None:
            steps[lawyer_id].append((answered, -1))
    for lawyer_id, closed in session.exec(
        select(Appointment.lawyer_id, Appointment.closed_at).where(
            col(Appointment.closed_at).is_not(None)
        )
    ).all():
        steps[lawyer_id].append((closed, -1))
    caps: dict[int | None, int] = dict(session.exec(select(Lawyer.id, Lawyer.max_open)).all())
    peak: dict[int, int] = {}
    for lawyer_id, moves in steps.items():
        load = top = 0
        # At equal times the release comes first: it was committed before the next invitation.
        for _, delta in sorted(moves, key=lambda m: (m[0], m[1])):
            load += delta
            top = max(top, load)
        peak[lawyer_id] = top
    # Rotation: every charged decision's share of each firm, summed, against the firm's count.
    entitled = dict(
        session.exec(
            select(DecisionShare.firm_id, func.sum(DecisionShare.share)).group_by(
                col(DecisionShare.firm_id)
            )
        ).all()
    )
    charged = dict(
        session.exec(
            select(Decision.firm_id, func.count())
            .where(col(Decision.charged).is_(True))
            .group_by(col(Decision.firm_id))
        ).all()
    )
    offers = dict(
        session.exec(
            select(RotationState.firm_id, func.sum(RotationState.offers)).group_by(
                col(RotationState.firm_id)
            )
        ).all()
    )
    codes: dict[Any, str] = dict(session.exec(select(Firm.id, Firm.code)).all())
    deviation = {codes[f]: float(charged.get(f, 0)) - float(entitled.get(f, 0.0)) for f in codes}
    verification = audit.verify(session)
    return {
        "requests": sum(by_status.values()),
        "by_status": by_status,
        "appointments_per_request": sorted({n for _, n in per_request}),
        "requests_with_appointment": len(per_request),
        "pending_per_request": sorted({n for _, n in pending}),
        "over_cap": {lid: top for lid, top in peak.items() if top > caps[lid]},
        "peak_load": max(peak.values(), default=0),
        "deviation": deviation,
        "charged": {codes[f]: int(n) for f, n in charged.items() if f is not None},
        "capped_lawyers_peak": max(
            (top for lid, top in peak.items() if caps[lid] == CAP), default=0
        ),
        "offers": {codes[f]: int(n) for f, n in offers.items()},
        "audit_ok": verification.ok,
        "audit_events": verification.events,
    }


def burst_same_reference(cluster: Cluster, credentials: Credentials, ref: str, n: int) -> list[Any]:
    """`n` clients post the same order at the same moment; their (status, request id) pairs."""
    barrier = threading.Barrier(n)
    answers: list[Any] = []
    lock = threading.Lock()

    def post() -> None:
        headers = {"Authorization": f"Bearer {credentials.court}"}
        with httpx.Client(base_url=cluster.base, headers=headers, timeout=60) as client:
            barrier.wait()
            response = client.post("/api/v1/requests", json=order_body(ref))
        with lock:
            answers.append((response.status_code, response.json().get("id")))

    threads = [threading.Thread(target=post) for _ in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return answers
