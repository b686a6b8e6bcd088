"""Hooks belong to the running service that makes the context, not to the module: a flow run
by one service is never heard by another service in the same process."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from dispatcher.db import utcnow
from dispatcher.runtime import Runtime
from dispatcher.scheduler import Jobs
from tests.support.clients import make_token
from tests.support.flows import armed_invitations, runtime_at, submit_request
from tests.support.registries import load_registry, small_registry


def test_a_service_hears_only_its_own_invitations(small: Runtime, tmp_path: Path) -> None:
    other = runtime_at(tmp_path / "other.db")
    try:
        load_registry(other, small_registry())
        make_token(small, "court", "Court One", territory="CEN")
        make_token(other, "court", "Court Two", territory="CEN")
        with armed_invitations(small) as heard_here, armed_invitations(other) as heard_there:
            submit_request(other, "ELSEWHERE")
            assert heard_here == [] and len(heard_there) == 1
            submit_request(small, "HERE")
            assert len(heard_here) == 1 and len(heard_there) == 1
        # Once the listener is gone, nothing is heard any more.
        submit_request(small, "LATER")
        assert len(heard_here) == 1
    finally:
        other.stop()


def test_only_the_leading_scheduler_arms_timers(small: Runtime) -> None:
    jobs = Jobs(small.engine, small.policies, small.courier)
    [arm] = jobs.hooks.deadline_set
    arm("not-leading", utcnow() + timedelta(minutes=5))
    assert jobs.scheduler.get_jobs() == []  # not started: nothing armed, nothing raised
    jobs.start()
    try:
        assert jobs.active
        arm("leading", utcnow() + timedelta(minutes=5))
        assert jobs.scheduler.get_job("deadline-leading") is not None
        assert jobs.scheduler.get_job("deadline-not-leading") is None
    finally:
        jobs.shutdown()
