"""What a notification says, in each language the pages speak: one table, kept short enough
for one SMS (the body is at most 160 characters; `message.compose` shortens the place name to
fit). Placeholders: {case}, {place}, {deadline} (local time), {link}."""

from __future__ import annotations

from typing import TypedDict

from policies.vocabulary import Language, Urgency


class Texts(TypedDict):
    urgency: dict[str, str]
    # The invitation: the link, when there is one, goes at the end.
    body: str
    title: str
    withdrawn: str


TEXTS: dict[Language, Texts] = {
    Language.AZ: {
        "urgency": {Urgency.DETENTION: "TƏCİLİ: saxlanma", Urgency.STANDARD: "Vəkil sorğusu"},
        "body": "{urgency}. İş {case}, {place}. Cavab {deadline}-dək",
        "title": "{urgency} — iş {case}",
        "withdrawn": "İş {case} üzrə dəvət geri götürüldü",
    },
    Language.RU: {
        "urgency": {Urgency.DETENTION: "СРОЧНО: задержание", Urgency.STANDARD: "Запрос защитника"},
        "body": "{urgency}. Дело {case}, {place}. Ответ до {deadline}",
        "title": "{urgency} — дело {case}",
        "withdrawn": "Приглашение по делу {case} отозвано",
    },
    Language.EN: {
        "urgency": {Urgency.DETENTION: "URGENT: detention", Urgency.STANDARD: "Counsel request"},
        "body": "{urgency}. Case {case}, {place}. Answer by {deadline}",
        "title": "{urgency} — case {case}",
        "withdrawn": "The invitation for case {case} was withdrawn",
    },
}

SMS_LIMIT = 160
