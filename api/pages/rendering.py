"""Templates and translations for the web pages: one Jinja2 environment per language.

The `.po` catalogues under `api/locale/` are the only source of visible text; they are compiled
in memory when this module is imported, so a fresh clone needs no build step.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping
from datetime import datetime
from functools import cache
from pathlib import Path
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date, format_datetime, format_time
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations
from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from policies.vocabulary import Language

PACKAGE = Path(__file__).resolve().parents[1]
TEMPLATES = PACKAGE / "templates"
STATIC = PACKAGE / "static"
LOCALE = PACKAGE / "locale"
DOMAIN = "messages"

# The territory's language first: it is the default wherever nothing else is known.
LANGUAGES = tuple(Language)
DEFAULT_LANGUAGE = LANGUAGES[0]
# Speech synthesis wants a region; these are the territory's usual ones.
SPEECH_TAGS: dict[str, str] = {Language.AZ: "az-AZ", Language.RU: "ru-RU", Language.EN: "en-GB"}

# Pages that must not be framed, cached by a shared tablet's browser, or load anything foreign.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def N_(message: str) -> str:
    """Mark a message for extraction where it is translated later (in another language)."""
    return message


def _translations(language: str) -> Translations:
    with (LOCALE / language / "LC_MESSAGES" / f"{DOMAIN}.po").open("rb") as po:
        catalog = read_po(po, locale=language, domain=DOMAIN)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(compiled, domain=DOMAIN)


TRANSLATIONS: dict[str, Translations] = {lang: _translations(lang) for lang in LANGUAGES}


def gettext(language: str, message: str) -> str:
    """`message` in `language` (the message itself when the catalogue lacks it)."""
    return TRANSLATIONS[language].gettext(message)


def language_names(language: str, codes: Iterable[str]) -> list[str]:
    """The names of languages `codes` as a reader of `language` says them."""
    names = Locale.parse(language).languages
    return [names.get(code, code) for code in codes]


def language_href(request: Request, code: str) -> str:
    """The same page in language `code`: its other query parameters (a territory, a month, a
    period) kept, so that switching language stays on the same view."""
    kept = [(k, v) for k, v in request.query_params.multi_items() if k != "lang"]
    return "?" + urlencode([*kept, ("lang", code)])


def own_name(language: str) -> str:
    """A language's name in that language, as a switch offers it to its readers."""
    name = Locale.parse(language).display_name or language
    return name[:1].upper() + name[1:]


def local_time(value: datetime | str, language: str, timezone: str) -> str:
    """A moment as the reader's locale writes it, in the territory's local time."""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return format_datetime(moment, "medium", tzinfo=ZoneInfo(timezone), locale=language)


def local_minute(value: datetime, language: str, timezone: str) -> str:
    """A moment to the minute (a rota's period: no seconds), in the territory's local time."""
    zone = ZoneInfo(timezone)
    day = format_date(value.astimezone(zone), "medium", locale=language)
    return f"{day}, {format_time(value, 'short', tzinfo=zone, locale=language)}"


@cache
def environment(language: str) -> Environment:
    """The template environment whose `gettext` speaks `language`."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_translations(TRANSLATIONS[language], newstyle=True)  # type: ignore[attr-defined]
    env.globals["languages"] = LANGUAGES
    env.globals["own_name"] = own_name
    env.globals["language_href"] = language_href
    env.globals["speech_tag"] = SPEECH_TAGS[language]
    env.filters["language_names"] = lambda codes: ", ".join(language_names(language, codes))
    return env


def pick_language(*candidates: str | None) -> str:
    """The first candidate that is a page language, else the territory's."""
    return next((c for c in candidates if c in LANGUAGES), DEFAULT_LANGUAGE)


def render(
    request: Request,
    template: str,
    *,
    language: str,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
    **context: object,
) -> HTMLResponse:
    """Render `template` in `language` as a full HTML response with the pages' headers."""
    html = (
        environment(language)
        .get_template(template)
        .render(request=request, lang=language, static=_static_url, **context)
    )
    return HTMLResponse(html, status_code, headers={**SECURITY_HEADERS, **(headers or {})})


def _static_url(path: str) -> str:
    return f"/static/{path}"
