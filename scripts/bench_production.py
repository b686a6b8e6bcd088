"""Court orders end to end (POST, invite, accept) through real processes, and POST latency.

For the embedded default (SQLite, scheduler inside the API processes) and for production
(PostgreSQL and Redis, API workers plus one worker process), with 1, 2 and 4 API workers:
courts post orders from concurrent clients while lawyer clients accept each invitation and
close the appointment. Prints a table and writes bench-results/production.json.

    .venv/bin/python scripts/bench_production.py [--orders 1000] [--clients 32]

PostgreSQL and Redis come from DISPATCHER_TEST_POSTGRES_SERVER / DISPATCHER_TEST_REDIS_SERVER
when set, else from `scripts/services`, started and stopped here.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from dispatcher import migrations  # noqa: E402
from tests.support import harness  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def service_cpu_s(cluster: harness.Cluster) -> float:
    """User and system CPU seconds used so far by the cluster's processes (API master and
    workers, worker processes), read from /proc (Linux)."""
    assert cluster.api is not None
    pids = [cluster.api.pid, *cluster.api_worker_pids(), *(w.pid for w in cluster.workers)]
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
    return total


def fresh_postgres(server: str, name: str) -> str:
    admin = create_engine(make_url(server).set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    url = make_url(server).set(database=name).render_as_string(hide_password=False)
    migrations.upgrade(url)
    return url


def run_one(
    backend: str,
    workers: int,
    url: str,
    redis_url: str | None,
    args: argparse.Namespace,
    logs: Path,
) -> dict[str, Any]:
    credentials = harness.prepare(url)
    cluster = harness.Cluster(
        database_url=url,
        redis_url=redis_url,
        api_workers=workers,
        worker_processes=1 if backend == "postgresql" else 0,
        log_dir=logs / f"{backend}-{workers}",
    )
    with cluster.running():
        cpu_before = service_cpu_s(cluster)
        result = harness.run_load(cluster, credentials, orders=args.orders, clients=args.clients)
        cpu_s = service_cpu_s(cluster) - cpu_before
    found = harness.findings(url)
    assigned = found["by_status"].get("assigned", 0)
    wall = result.all_assigned - result.started
    latencies = [s * 1000 for s in result.latencies_s]
    return {
        "backend": backend,
        "api_workers": workers,
        "worker_processes": cluster.worker_processes,
        "orders": args.orders,
        "clients": args.clients,
        "assigned": assigned,
        "orders_per_s": round(assigned / wall, 1),
        "post_p50_ms": round(statistics.median(latencies), 1),
        "post_p99_ms": round(percentile(latencies, 0.99), 1),
        "post_max_ms": round(max(latencies), 1),
        "wall_s": round(wall, 1),
        # CPU the service's processes spent per order (order, invitation, outbox, accept,
        # close, the lawyers' polls): the figure that holds when other work shares the cores.
        "service_cpu_ms_per_order": round(1000 * cpu_s / max(assigned, 1), 1),
        "retries": result.retries,
        "audit_ok": found["audit_ok"],
        "over_cap": len(found["over_cap"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgresql"])
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-production-"))
    services: Path | None = None
    pg_server = os.environ.get("DISPATCHER_TEST_POSTGRES_SERVER")
    redis_server = os.environ.get("DISPATCHER_TEST_REDIS_SERVER")
    if "postgresql" in args.backends and not (pg_server and redis_server):
        services = work / "services"
        out = subprocess.run(
            [str(ROOT / "scripts" / "services"), "start", str(services)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        found = dict(
            line.removeprefix("export ").split("=", 1) for line in out.splitlines() if "=" in line
        )
        pg_server = found["DISPATCHER_TEST_POSTGRES_SERVER"]
        redis_server = found["DISPATCHER_TEST_REDIS_SERVER"]
    rows = []
    try:
        for backend in args.backends:
            for workers in args.workers:
                if backend == "sqlite":
                    url, redis_url = f"sqlite:///{work / f'bench-{workers}.db'}", None
                else:
                    assert pg_server is not None
                    url = fresh_postgres(pg_server, f"bench_{workers}")
                    redis_url = redis_server
                print(f"running {backend} with {workers} API worker(s)...", file=sys.stderr)
                rows.append(run_one(backend, workers, url, redis_url, args, work / "logs"))
                print(json.dumps(rows[-1]), file=sys.stderr)
    finally:
        if services is not None:
            subprocess.run([str(ROOT / "scripts" / "services"), "stop", str(services)], check=False)

    header = (
        f"{'backend':<11} {'workers':>7} {'orders/s':>9} {'POST p50 ms':>12} "
        f"{'POST p99 ms':>12} {'wall s':>7} {'retries':>7} {'CPU ms/order':>12}"
    )
    print(header)
    for r in rows:
        print(
            f"{r['backend']:<11} {r['api_workers']:>7} {r['orders_per_s']:>9} "
            f"{r['post_p50_ms']:>12} {r['post_p99_ms']:>12} {r['wall_s']:>7} {r['retries']:>7} "
            f"{r['service_cpu_ms_per_order']:>12}"
        )
    results = ROOT / "bench-results"
    results.mkdir(exist_ok=True)
    record = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "rows": rows,
    }
    (results / "production.json").write_text(json.dumps(record, indent=2), encoding="utf-8")
    print(f"saved {results / 'production.json'}")


if __name__ == "__main__":
    main()
