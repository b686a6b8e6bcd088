"""The planner's problems and the approval refusals: English in the CLI's and the API's
`problems`, each with a key and values from which the pages say it in az, ru and en."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime

from sqlmodel import select

from dispatcher.db import unit_of_work
from dispatcher.models import Rota, Territory
from dispatcher.rota import service
from dispatcher.rota.model import Problem, RotaInput, RotaLawyer, make_slots, solve
from policies.vocabulary import RotaOutcome, RotaPart, RotaProblem, RotaStatus
from tests.api.test_pages import Page, text_of
from tests.rota.test_model import ONE_THREAD, POLICY
from tests.support.clients import Api


def _infeasible() -> tuple[Problem, ...]:
    lawyers = tuple(
        RotaLawyer(f"L{i}", f"F{i % 2}", frozenset(["az", "en"] if i < 2 else ["az"]), False)
        for i in range(8)
    )
    data = RotaInput(
        territory="CEN",
        slots=make_slots(date(2027, 1, 4), 28, POLICY.timezone, POLICY.rota),
        lawyers=lawyers,
        firm_weights=dict(Counter(lw.firm for lw in lawyers)),
        night_languages=("en",),
        juvenile_each_slot=False,
        rest_hours=12,
        weekly_cap=3,
    )
    plan = solve(data, ONE_THREAD)
    assert plan.status == RotaOutcome.INFEASIBLE
    return plan.problems


def test_a_problem_has_a_key_and_values_and_its_english() -> None:
    problem = _infeasible()[-1]
    assert problem.key == RotaProblem.RULES_CONFLICT
    assert [(p.key, dict(p.values)) for p in problem.subjects] == [
        (RotaPart.SPEAKERS, {"count": 2, "language": "en", "nights": 28})
    ]
    assert [(p.key, dict(p.values)) for p in problem.limits] == [(RotaPart.WEEKLY_CAP, {"cap": 3})]
    assert problem.text() == (
        "2 English speakers cannot cover 28 nights within the weekly cap of 3 duties"
    )
    stored = problem.as_json()
    assert stored["text"] == problem.text() and stored["key"] == "rules_conflict"


def test_no_rota_in_time_is_told_apart_from_a_proven_infeasibility() -> None:
    late = Problem(RotaProblem.NOT_FOUND_IN_TIME, {"territory": "CEN", "seconds": 30.0})
    assert late.text().startswith("No rota of CEN was found within 30 s: not proven infeasible")
    assert "not proven" not in _infeasible()[-1].text()


def _draft(api: Api, problems: list[str | dict[str, object]]) -> str:
    with unit_of_work(api.rt.engine) as session:
        place = session.exec(select(Territory).where(Territory.code == "CEN")).one()
        assert place.id is not None
        rota = Rota(
            territory_id=place.id,
            starts_at=datetime(2027, 1, 4, 4, tzinfo=UTC),
            ends_at=datetime(2027, 2, 1, 4, tzinfo=UTC),
            status=RotaStatus.DRAFT,
            outcome=RotaOutcome.INFEASIBLE,
            solve_s=1.0,
            problems=problems,
            policy_version="test",
            created_by="test",
        )
        session.add(rota)
        session.flush()
        return rota.id


def test_the_page_says_the_problems_and_the_refusal_in_the_readers_language(api: Api) -> None:
    stored = [p.as_json() for p in _infeasible()]
    late = Problem(RotaProblem.NOT_FOUND_IN_TIME, {"territory": "CEN", "seconds": 30.0})
    rota_id = _draft(api, [*stored, late.as_json(), "An old problem kept in English"])
    with unit_of_work(api.rt.engine) as session:
        out = service.read(session, rota_id=rota_id, policies=api.rt.policies)
    # The API's and the CLI's problems stay English strings.
    assert out.problems == [
        "2 English speakers cannot cover 28 nights within the weekly cap of 3 duties",
        late.text(),
        "An old problem kept in English",
    ]
    bar = Page(api, api.tokens["bar"])
    ru = text_of(bar.get(f"/rotas/{rota_id}", lang="ru").text)
    assert (
        "Юристы, владеющие языком «английский» (2), не могут покрыть ночи (28) при соблюдении "
        "ограничений: недельный предел дежурств (3)." in ru
    )
    assert "Невыполнимость не доказана" in ru
    assert "English speakers" not in ru
    assert "An old problem kept in English" in ru
    az = text_of(bar.get(f"/rotas/{rota_id}", lang="az").text)
    assert "ingilis dilində danışan vəkillər (2) 28 gecəni təmin edə bilmir" in az.lower()
    assert "English speakers" not in az
    en = text_of(bar.get(f"/rotas/{rota_id}", lang="en").text)
    assert "Speakers of English (2) cannot cover 28 nights within the weekly cap of 3 duties." in en
    admin = Page(api, api.tokens["admin"])
    admin.get(f"/rotas/{rota_id}", lang="ru")
    refused = admin.post(f"/rotas/{rota_id}/approve", {})
    assert refused.status_code == 409
    said = text_of(refused.text)
    assert "График нельзя утвердить: Планировщик не нашёл графика" in said
    assert "is infeasible" not in said
