"""Production shape under load: 4 API workers, 2 worker processes, 500 orders, 32 clients.

Runs on the suite's backend: SQLite file on the embedded pass, PostgreSQL and Redis on the
other. The fault test kills an API worker and every worker process with SIGKILL mid-run.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.support import backends, harness

ORDERS = 500
CLIENTS = 32

pytestmark = pytest.mark.slow


def check(found: dict[str, Any], result: harness.LoadResult, extra: int = 0) -> None:
    """`extra`: requests made outside the load, which must end the same way."""
    # Every order made exactly one request, and every request ended with one appointment.
    assert len(result.request_ids) == ORDERS
    assert len(set(result.request_ids.values())) == ORDERS
    assert found["requests"] == ORDERS + extra
    assert found["by_status"] == {"assigned": ORDERS + extra}
    assert found["appointments_per_request"] == [1]
    assert found["requests_with_appointment"] == ORDERS + extra
    assert found["pending_per_request"] == []
    # No lawyer ever carried more than the cap, counting pending invitations.
    assert found["over_cap"] == {}
    # The cap of one was reached (so it was tested), never passed.
    assert found["capped_lawyers_peak"] == harness.CAP
    # No turn given twice: the rotation's running counts agree with the decisions charged,
    # and every firm stays within 1 of what it was entitled to.
    assert found["offers"] == found["charged"]
    assert sum(found["charged"].values()) >= ORDERS
    assert max(abs(d) for d in found["deviation"].values()) < 1.0, found["deviation"]
    assert found["audit_ok"]
    assert found["audit_events"] > 3 * ORDERS


def cluster_for(tmp_path: Path, name: str) -> tuple[harness.Cluster, harness.Credentials]:
    url = backends.database_url(tmp_path / f"{name}.db")
    credentials = harness.prepare(url)
    cluster = harness.Cluster(
        database_url=url,
        redis_url=backends.REDIS_URL,
        api_workers=4,
        worker_processes=2,
        log_dir=tmp_path / "logs",
    )
    return cluster, credentials


def test_concurrent_orders_each_get_one_lawyer_within_caps_and_turns(tmp_path: Path) -> None:
    cluster, credentials = cluster_for(tmp_path, "load")
    with cluster.running():
        # The same reference from 16 clients at once, spread over the 4 workers: one request
        # (its invitation is accepted with the load's).
        burst = harness.burst_same_reference(cluster, credentials, "BURST-1", 16)
        result = harness.run_load(cluster, credentials, orders=ORDERS, clients=CLIENTS)
    assert sorted(status for status, _ in burst) == [200] * 15 + [201]
    assert len({request_id for _, request_id in burst}) == 1
    found = harness.findings(cluster.database_url)
    check(found, result, extra=1)
    assert result.first_answers == ORDERS
    assert result.repeat_answers == CLIENTS  # each client's deliberate identical retry


def test_killing_an_api_worker_and_the_workers_loses_and_doubles_nothing(
    tmp_path: Path,
) -> None:
    cluster, credentials = cluster_for(tmp_path, "fault")
    killed: dict[str, Any] = {}

    def fault(result: harness.LoadResult) -> None:
        killed["api_worker"] = cluster.kill_api_worker()
        cluster.kill_workers()
        time.sleep(1.0)  # orders keep coming while no worker process runs
        cluster.restart_workers()
        killed["at_orders"] = len(result.request_ids)

    with cluster.running():
        result = harness.run_load(
            cluster, credentials, orders=ORDERS, clients=CLIENTS, during=fault
        )
        # uvicorn's master replaced the killed API worker.
        assert killed["api_worker"] not in cluster.api_worker_pids()
        assert len(cluster.api_worker_pids()) == 4
    found = harness.findings(cluster.database_url)
    check(found, result)
    assert 0 < killed["at_orders"] < ORDERS
    # Every order was answered once (a retry whose first answer died with the worker is
    # answered 200 with the request the first attempt made), and check() found no second
    # request for any reference.
    assert result.first_answers + result.repeat_answers == ORDERS + CLIENTS
    assert result.first_answers <= ORDERS
