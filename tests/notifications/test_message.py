"""What a notification says: one SMS long, in the lawyer's language, the link whole."""

from __future__ import annotations

from pathlib import Path

from sqlmodel import col, select

from dispatcher import workflow
from dispatcher.db import unit_of_work
from dispatcher.models import OutboxMessage, Place
from dispatcher.notifications import compose
from tests.notifications.test_delivery import build, detention
from tests.support.flows import context, pending_invitation


def test_a_long_place_name_is_cut_the_link_kept_in_the_lawyers_language(tmp_path: Path) -> None:
    rt = build(tmp_path)
    try:
        request_id = detention(rt, "T-1")
        token = "t" * 43
        with unit_of_work(rt.engine) as session:
            _, lawyer = pending_invitation(session, request_id)
            lawyer.languages = ["de", "ru", "az"]  # the first the pages speak: ru
            place = session.exec(select(Place)).one()
            place.name_ru = "Отдел полиции " * 20
            session.add_all([lawyer, place])
            session.flush()
            message = session.exec(select(OutboxMessage)).one()
            notice = compose(
                session,
                message.payload | {"answer_token": token},
                policies=rt.policies,
                public_url="https://counsel.example/",
            )
            plain = compose(session, message.payload, policies=rt.policies, public_url="x")
        assert notice is not None and plain is not None
        assert len(notice.body) == 160 and "…" in notice.body
        assert notice.body.startswith("СРОЧНО") and "Дело C-T-1, Отдел полиции" in notice.body
        assert notice.body.endswith(f" https://counsel.example/answer/{token}")
        # Without a token (no answer page yet) the message carries no link.
        assert "http" not in plain.body and "Ответ до" in plain.body
    finally:
        rt.stop()


def test_a_withdrawn_invitation_is_announced_and_does_not_move_the_ladder(tmp_path: Path) -> None:
    rt = build(tmp_path)  # no URL set: notifications go to the log
    try:
        request_id = detention(rt, "T-2")
        assert rt.courier.deliver_due() == 1
        with unit_of_work(rt.engine) as session:
            workflow.cancel(session, workflow.get_request(session, request_id), context(rt))
        with unit_of_work(rt.engine) as session:
            messages = session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id))).all()
            withdrawn = messages[-1]
            notice = compose(session, withdrawn.payload, policies=rt.policies, public_url="x")
        assert notice is not None
        assert withdrawn.payload["withdrawn"] is True and "C-T-2" in notice.body
        assert rt.courier.deliver_due() == 1
    finally:
        rt.stop()
