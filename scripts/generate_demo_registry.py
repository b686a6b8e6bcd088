#!/usr/bin/env python3
"""Generate the demo registry: a realistic, seeded bar of Azerbaijan (~10 million people).

Writes territories (the twelve Baku districts and the main regional cities and court
districts), about 80 bar bureaus, about 500 lawyers with duty rosters and contacts, the places
lawyers are called to (police stations, detention facilities, courts, prosecutors' offices),
and a handful of registered conflicts to ``data/registry.json`` in the "Registry file" format
of the specification. Standard library only; the output is deterministic
(``random.Random(2026)``; contacts and places draw from ``random.Random(2027)`` so that they
leave every earlier draw as it was), so running the script twice gives a byte-identical file.

Usage: ``python scripts/generate_demo_registry.py [--out PATH]``
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SEED = 2026
# Contacts and places came later: their own generator leaves the registry's draws unchanged.
CONTACT_SEED = SEED + 1
REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO_ROOT / "data" / "registry.json"

BAKU_LAWYERS = 376
REGIONAL_LAWYERS = 126
BAKU_FIRMS = 48
SUSPENDED_FIRMS = 2
MAX_FIRM_SIZE = 15

CODE_RE = re.compile(r"^[A-Z]{3}(-[A-Z]{3})?$")
CASE_RE = re.compile(r"^\d\(\d{3}\)-\d{1,4}/20\d\d$")
CONFLICT_ROLES = ("victim_counsel", "co_defendant_counsel", "witness_counsel", "family_tie")
LANGUAGE_ORDER = ("az", "ru", "en", "tr", "ka")
PLACE_KINDS = ("police_station", "detention_facility", "court", "prosecutor")
PHONE_RE = re.compile(r"^\+994 \d\d \d{3} \d\d \d\d$")


# --- territories ---------------------------------------------------------------------------


@dataclass(frozen=True)
class BakuDistrict:
    code: str
    az: str
    ru: str
    en: str
    neighbours: tuple[str, ...]  # the first two are the fallback territories
    court: int  # the district court's code in case numbers, "1(101)-77/2026"
    weight: int  # how much criminal work the district brings (where bureaus sit)


@dataclass(frozen=True)
class Region:
    code: str
    az: str
    ru: str
    en: str
    fallback: tuple[str, ...]  # the nearest larger city (or the neighbouring court district)
    neighbours: tuple[str, ...]  # where a local bureau may also practise
    court: int
    city: bool  # a city of republican subordination ("Şəhər") or a district ("Rayon")
    bureaus: int  # bureaus based here
    size: tuple[int, int]  # lawyers per bureau based here


# fmt: off
BAKU: tuple[BakuDistrict, ...] = (
    # code, az, ru, en; then the neighbouring districts (the first two are the fallback),
    # the court's code and the district's weight
    BakuDistrict("BAK-BNQ", "Binəqədi", "Бинагади", "Binagadi",
                 ("BAK-NSM", "BAK-YSM", "BAK-NRM", "BAK-SBN", "BAK-QRD"), 107, 7),
    BakuDistrict("BAK-QRD", "Qaradağ", "Гарадаг", "Garadagh",
                 ("BAK-SBL", "BAK-YSM", "BAK-BNQ"), 111, 3),
    BakuDistrict("BAK-XTI", "Xətai", "Хатаи", "Khatai",
                 ("BAK-NZM", "BAK-NRM", "BAK-SBL", "BAK-SRX"), 106, 8),
    BakuDistrict("BAK-XZR", "Xəzər", "Хазар", "Khazar",
                 ("BAK-SRX", "BAK-SBN", "BAK-PRL"), 110, 3),
    BakuDistrict("BAK-YSM", "Yasamal", "Ясамал", "Yasamal",
                 ("BAK-NSM", "BAK-SBL", "BAK-BNQ", "BAK-QRD"), 102, 8),
    BakuDistrict("BAK-NRM", "Nərimanov", "Нариманов", "Narimanov",
                 ("BAK-NSM", "BAK-NZM", "BAK-XTI", "BAK-BNQ", "BAK-SBN"), 104, 7),
    BakuDistrict("BAK-NSM", "Nəsimi", "Насими", "Nasimi",
                 ("BAK-YSM", "BAK-SBL", "BAK-NRM", "BAK-BNQ"), 101, 9),
    BakuDistrict("BAK-NZM", "Nizami", "Низами", "Nizami",
                 ("BAK-XTI", "BAK-NRM", "BAK-SRX", "BAK-SBN"), 105, 6),
    BakuDistrict("BAK-SBN", "Sabunçu", "Сабунчи", "Sabunchu",
                 ("BAK-NRM", "BAK-SRX", "BAK-XZR", "BAK-BNQ", "BAK-NZM", "BAK-PRL"), 108, 6),
    BakuDistrict("BAK-SBL", "Səbail", "Сабаил", "Sabail",
                 ("BAK-NSM", "BAK-YSM", "BAK-XTI", "BAK-QRD"), 103, 7),
    BakuDistrict("BAK-SRX", "Suraxanı", "Сураханы", "Surakhani",
                 ("BAK-XTI", "BAK-XZR", "BAK-NZM", "BAK-SBN"), 109, 4),
    BakuDistrict("BAK-PRL", "Pirallahı", "Пираллахи", "Pirallahi",
                 ("BAK-XZR", "BAK-SBN"), 112, 1),
)

REGIONS: tuple[Region, ...] = (
    # code, az, ru, en; then fallback, neighbours, court, city?, bureaus, bureau size range
    Region("SUM", "Sumqayıt", "Сумгайыт", "Sumgait",
           ("BAK-BNQ", "ABS"), ("ABS",), 201, True, 3, (5, 11)),
    Region("ABS", "Abşeron", "Абшерон", "Absheron",
           ("SUM",), ("SUM",), 202, False, 1, (2, 5)),
    Region("GNC", "Gəncə", "Гянджа", "Ganja",
           ("SMK", "MNG"), ("SMK",), 301, True, 3, (4, 10)),
    Region("SMK", "Şəmkir", "Шамкир", "Shamkir",
           ("GNC",), ("GNC", "QZX"), 302, False, 1, (1, 4)),
    Region("QZX", "Qazax", "Газах", "Gazakh",
           ("SMK", "GNC"), ("SMK",), 303, False, 1, (1, 4)),
    Region("MNG", "Mingəçevir", "Мингечевир", "Mingachevir",
           ("YVL", "GNC"), ("YVL", "GYC"), 401, True, 2, (2, 6)),
    Region("YVL", "Yevlax", "Евлах", "Yevlakh",
           ("MNG",), ("MNG", "BRD"), 402, True, 1, (1, 5)),
    Region("BRD", "Bərdə", "Барда", "Barda",
           ("YVL", "MNG"), ("YVL", "AGC"), 403, False, 1, (1, 5)),
    Region("AGC", "Ağcabədi", "Агджабеди", "Aghjabadi",
           ("BRD",), ("BRD",), 404, False, 1, (1, 4)),
    Region("SKI", "Şəki", "Шеки", "Shaki",
           ("YVL", "MNG"), ("ZQT",), 501, True, 2, (2, 5)),
    Region("ZQT", "Zaqatala", "Загатала", "Zagatala",
           ("SKI",), ("SKI",), 502, False, 1, (1, 4)),
    Region("GYC", "Göyçay", "Гёйчай", "Goychay",
           ("MNG", "YVL"), ("SMX", "MNG"), 503, False, 1, (1, 4)),
    Region("SMX", "Şamaxı", "Шамахы", "Shamakhi",
           ("SUM", "GYC"), ("GYC",), 504, False, 1, (1, 4)),
    Region("QUB", "Quba", "Губа", "Guba",
           ("XCM", "SUM"), ("XCM",), 601, False, 2, (1, 4)),
    Region("XCM", "Xaçmaz", "Хачмаз", "Khachmaz",
           ("QUB", "SUM"), ("QUB",), 602, False, 1, (1, 5)),
    Region("SRV", "Şirvan", "Ширван", "Shirvan",
           ("SLY",), ("SLY",), 701, True, 1, (2, 5)),
    Region("SLY", "Salyan", "Сальяны", "Salyan",
           ("SRV",), ("SRV",), 702, False, 1, (1, 4)),
    Region("LNK", "Lənkəran", "Ленкорань", "Lankaran",
           ("MSL", "AST"), ("MSL", "AST"), 801, True, 2, (3, 7)),
    Region("MSL", "Masallı", "Масаллы", "Masally",
           ("LNK", "CLB"), ("LNK", "CLB"), 802, False, 1, (1, 5)),
    Region("AST", "Astara", "Астара", "Astara",
           ("LNK",), ("LNK",), 803, False, 1, (1, 3)),
    Region("CLB", "Cəlilabad", "Джалилабад", "Jalilabad",
           ("MSL", "LNK"), ("MSL",), 804, False, 1, (1, 4)),
    Region("NAX", "Naxçıvan", "Нахчыван", "Nakhchivan",
           ("SRR",), ("SRR",), 901, True, 2, (2, 6)),
    Region("SRR", "Şərur", "Шарур", "Sharur",
           ("NAX",), ("NAX",), 902, False, 1, (1, 3)),
)
# fmt: on

BAKU_CODES = tuple(d.code for d in BAKU)
REGION_BY_CODE = {r.code: r for r in REGIONS}
COURT_BY_CODE = {d.code: d.court for d in BAKU} | {r.code: r.court for r in REGIONS}
GEORGIAN_AREAS = frozenset({"QZX", "ZQT"})
BORDER_AREAS = frozenset({"SKI", "SMK"})
GEORGIAN_SPEAKERS = 7

# --- names ---------------------------------------------------------------------------------

MALE_NAMES = (
    "Elvin", "Rəşad", "Orxan", "Tural", "Kamran", "Elçin", "Vüqar", "Ramil", "Anar", "Fərid",
    "Səbuhi", "Nicat", "Ceyhun", "Emil", "Rauf", "Elnur", "Zaur", "Fuad", "Namiq", "Murad",
    "İlkin", "Cavid", "Rüfət", "Vüsal", "Əli", "Hüseyn", "Mahir", "Azər", "Rövşən", "Samir",
    "Nurlan", "Şahin", "Elşən", "Teymur", "Yaşar", "Fikrət", "Adil", "Əkbər", "Toğrul", "Ülvi",
    "Kənan", "Seymur", "Natiq", "Vaqif", "Arif", "İlham", "Eldar", "Rəhman", "Bəxtiyar", "Habil",
)  # fmt: skip
FEMALE_NAMES = (
    "Aynur", "Günel", "Leyla", "Nigar", "Səbinə", "Aysel", "Nərmin", "Könül", "Ülviyyə", "Sevinc",
    "Lalə", "Gülnar", "Xədicə", "Fidan", "Təranə", "Aytən", "Zərifə", "Səadət", "Elnarə", "Arzu",
    "Kəmalə", "Şəbnəm", "Zümrüd", "Jalə", "Nazlı", "Məleykə", "Rəna", "Aygün", "Gülşən", "Ləman",
    "Nailə", "Samirə", "Vüsalə", "İradə", "Esmira", "Sevda", "Afaq", "Mehriban", "Pərvin", "Türkan",
)  # fmt: skip
# Male forms; the female form adds "-a" (Məmmədov → Məmmədova, Əliyev → Əliyeva).
SURNAMES = (
    "Məmmədov", "Əliyev", "Hüseynov", "Həsənov", "Quliyev", "İsmayılov", "Abbasov", "Kərimov",
    "Rzayev", "Əhmədov", "Cəfərov", "Mustafayev", "Orucov", "Səfərov", "Babayev", "Nəsirov",
    "Qasımov", "Süleymanov", "Bağırov", "Hacıyev", "Vəliyev", "Musayev", "Sadıqov", "Rəhimov",
    "Nağıyev", "Əsgərov", "Kazımov", "Zeynalov", "Qurbanov", "Məlikov", "Novruzov", "Paşayev",
    "Salmanov", "Ağayev", "İbrahimov", "Yusifov", "Xəlilov", "Bayramov", "Şükürov", "Məhərrəmov",
    "Cəlilov", "Allahverdiyev", "Hümbətov", "Tağıyev", "İsgəndərov", "Axundov", "Rüstəmov",
    "Əkbərov", "Nəbiyev", "Qafarov",
)  # fmt: skip
# Russian-origin lawyers (Baku, mostly): (first names, surnames) by gender, Latin script.
RUSSIAN_MALE = (
    ("Aleksandr", "Sergey", "Dmitri", "Andrey", "Vladimir", "Oleq"),
    ("Ivanov", "Petrov", "Volkov", "Sokolov", "Kuznetsov", "Orlov"),
)
RUSSIAN_FEMALE = (
    ("Irina", "Svetlana", "Yelena", "Natalya", "Olqa", "Tatyana"),
    ("Petrova", "Smirnova", "Kuznetsova", "Orlova", "Morozova", "Volkova"),
)

BUREAU_MOTTOS = (
    "Ədalət", "Müdafiə", "Haqq", "Qanun", "Etimad", "Vicdan", "Təminat", "Hüquqi Yardım",
    "Məsləhət", "İnam", "Xəzər", "Qala", "Mizan", "Dəyanət", "Arqument", "Aktiv Müdafiə",
    "Status", "Prioritet", "Şərq", "Hüquq Mərkəzi", "Dövran", "Lex", "Themis", "Bakı Hüquq",
)  # fmt: skip
REGIONAL_MOTTOS = ("Ədalət", "Haqq", "Müdafiə", "Etimad", "Qanun", "Vicdan")


# --- model ---------------------------------------------------------------------------------


@dataclass(frozen=True, order=True)
class Window:
    """A duty window in minutes of the day; ``end <= start`` runs past midnight."""

    weekday: int
    start: int
    end: int

    def as_json(self) -> dict[str, Any]:
        return {"weekday": self.weekday, "start": _hhmm(self.start), "end": _hhmm(self.end)}


@dataclass
class FirmDraft:
    home: str
    baku: bool
    size: int
    territories: list[str]
    kind: str = "numbered"  # numbered | motto | partners (Baku); naming is decided later
    code: str = ""
    name: str = ""
    status: str = "active"


@dataclass
class LawyerDraft:
    name: str
    surname: str
    firm: FirmDraft
    territories: list[str]
    languages: list[str]
    specialisations: list[str]
    max_open: int
    duty: list[Window]
    licence: str = ""
    status: str = "active"
    extra_shifts: int = 0

    @property
    def available(self) -> bool:
        """Can be invited at all: active, in an active firm."""
        return self.status == "active" and self.firm.status == "active"


@dataclass
class Registry:
    firms: list[FirmDraft] = field(default_factory=list)
    lawyers: list[LawyerDraft] = field(default_factory=list)
    conflicts: list[tuple[str, str, str]] = field(default_factory=list)  # lawyer, case, role


def _hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def _h(hour: int) -> int:
    return hour * 60


def on_duty(duty: Sequence[Window], weekday: int, minute: int) -> bool:
    """The specification's rule: no windows means always on duty."""
    if not duty:
        return True
    yesterday = (weekday - 1) % 7
    for w in duty:
        if w.start < w.end:
            if w.weekday == weekday and w.start <= minute < w.end:
                return True
        else:
            if w.weekday == weekday and minute >= w.start:
                return True
            if w.weekday == yesterday and minute < w.end:
                return True
    return False


def _checkpoints(window: Window) -> list[tuple[int, int]]:
    """(weekday, minute) at the first and last minute of every hour the window spans."""
    length = (window.end - window.start) % (24 * 60) or 24 * 60
    points: list[tuple[int, int]] = []
    for offset in range(0, length, 60):
        absolute = window.weekday * 24 * 60 + window.start + offset
        day, minute = divmod(absolute % (7 * 24 * 60), 24 * 60)
        points.extend([(day, minute), (day, minute + 59)])
    return points


DAY_SHIFTS = tuple(Window(d, _h(9), _h(18)) for d in range(7))
NIGHT_SHIFTS = tuple(Window(d, _h(18), _h(9)) for d in range(7))  # 18:00 until 09:00 next day
WEEK = tuple(sorted(DAY_SHIFTS + NIGHT_SHIFTS))  # fourteen shifts cover every hour of the week


# --- firms ---------------------------------------------------------------------------------


def _fit_sizes(
    rng: random.Random, firms: list[FirmDraft], bounds: list[tuple[int, int]], target: int
) -> None:
    """Nudge firm sizes (within each firm's bounds) until they add up to ``target``."""
    total = sum(f.size for f in firms)
    while total != target:
        step = 1 if total < target else -1
        movable = [i for i, f in enumerate(firms) if bounds[i][0] <= f.size + step <= bounds[i][1]]
        if not movable:
            raise SystemExit(f"cannot fit firm sizes to {target} lawyers")
        firms[rng.choice(movable)].size += step
        total += step


def baku_firms(rng: random.Random) -> list[FirmDraft]:
    codes = list(BAKU_CODES)
    weights = [d.weight for d in BAKU]
    neighbours = {d.code: d.neighbours for d in BAKU}
    size_weights = [2, 3, 4, 5, 6, 7, 8, 8, 7, 6, 5, 4, 3, 2, 2]
    sizes = rng.choices(range(1, MAX_FIRM_SIZE + 1), weights=size_weights, k=BAKU_FIRMS)
    firms: list[FirmDraft] = []
    for size in sizes:
        home = rng.choices(codes, weights=weights)[0]
        firms.append(FirmDraft(home=home, baku=True, size=size, territories=[home]))
    _fit_sizes(rng, firms, [(1, MAX_FIRM_SIZE)] * len(firms), BAKU_LAWYERS)
    for firm in firms:
        if firm.size <= 3:
            reach = rng.choice((1, 1, 2))
        elif firm.size <= 8:
            reach = rng.choice((1, 2, 2, 3))
        else:
            reach = rng.choice((2, 3, 3, 4))
        while len(firm.territories) < reach:
            near = sorted(
                {n for t in firm.territories for n in neighbours[t]} - set(firm.territories)
            )
            firm.territories.append(rng.choice(near))
    # Every district needs at least two bureaus: a small district is added to the nearest
    # bureau that still has room for it.
    for code in codes:
        while sum(code in f.territories for f in firms) < 2:
            nearby = [
                f
                for f in firms
                if code not in f.territories
                and len(f.territories) < 4
                and any(code in neighbours[t] for t in f.territories)
            ]
            rng.choice(nearby).territories.append(code)
    kinds = ["numbered"] * 18 + ["motto"] * 18 + ["partners"] * (BAKU_FIRMS - 36)
    rng.shuffle(kinds)
    for firm, kind in zip(firms, kinds, strict=True):
        firm.kind = kind
    return firms


def regional_firms(rng: random.Random) -> list[FirmDraft]:
    firms: list[FirmDraft] = []
    bounds: list[tuple[int, int]] = []
    for region in REGIONS:
        for _ in range(region.bureaus):
            size = rng.randint(*region.size)
            firms.append(
                FirmDraft(home=region.code, baku=False, size=size, territories=[region.code])
            )
            bounds.append(region.size)
    _fit_sizes(rng, firms, bounds, REGIONAL_LAWYERS)
    # A district with a single bureau of its own is also served by a bureau of a neighbouring
    # district (each regional bureau serves at most two territories). Greedy, with retries.
    for _attempt in range(200):
        for firm in firms:
            del firm.territories[1:]
        order = [r.code for r in REGIONS]
        rng.shuffle(order)
        if _cover_regions(rng, firms, order):
            break
    else:
        raise SystemExit("cannot give every regional territory two bureaus")
    # Sometimes a bureau also practises in a neighbouring district without being needed there.
    for firm in firms:
        region = REGION_BY_CODE[firm.home]
        if len(firm.territories) == 1 and rng.random() < 0.2:
            firm.territories.append(rng.choice(region.neighbours))
    return firms


def _cover_regions(rng: random.Random, firms: list[FirmDraft], order: list[str]) -> bool:
    for code in order:
        while sum(code in f.territories for f in firms) < 2:
            near = [
                f
                for f in firms
                if len(f.territories) == 1
                and f.home != code
                and code in REGION_BY_CODE[f.home].neighbours
            ]
            if not near:
                return False
            rng.choice(near).territories.append(code)
    return True


def name_firms(rng: random.Random, firms: list[FirmDraft], lawyers: list[LawyerDraft]) -> None:
    used: set[str] = set()
    numbers = rng.sample(range(1, 31), sum(f.kind == "numbered" for f in firms if f.baku))
    mottos = list(BUREAU_MOTTOS)
    rng.shuffle(mottos)
    by_firm: dict[str, list[LawyerDraft]] = {}
    for lawyer in lawyers:
        by_firm.setdefault(lawyer.firm.code, []).append(lawyer)
    regional_seen: Counter[str] = Counter()
    partner_families: set[str] = set()
    for firm in firms:
        if firm.baku and firm.kind == "numbered":
            name = f"Bakı Şəhər {numbers.pop()} saylı Vəkil Bürosu"
        elif firm.baku and firm.kind == "motto":
            name = f"“{mottos.pop()}” Vəkil Bürosu"
        elif firm.baku:
            # named after one of its lawyers, and never after a family already on a door plate
            partners = sorted({law.surname for law in by_firm[firm.code]})
            fresh = [p for p in partners if p.removesuffix("a") not in partner_families]
            partner = rng.choice(fresh or partners)
            partner_families.add(partner.removesuffix("a"))
            name = f"{partner} və Tərəfdaşları Hüquq Firması"
            if name in used:
                name = name.replace("Tərəfdaşları Hüquq Firması", "Partnyorları Vəkil Bürosu")
        else:
            region = REGION_BY_CODE[firm.home]
            regional_seen[firm.home] += 1
            number = regional_seen[firm.home]
            level = "Şəhər" if region.city else "Rayon"
            if region.bureaus == 1:
                name = f"{region.az} {level} Vəkil Bürosu"
            elif number == region.bureaus and rng.random() < 0.5:
                name = f"“{region.az} {rng.choice(REGIONAL_MOTTOS)}” Vəkil Bürosu"
            else:
                name = f"{region.az} {level} {number} saylı Vəkil Bürosu"
        if name in used:
            raise SystemExit(f"duplicate firm name {name}")
        used.add(name)
        firm.name = name


# --- lawyers -------------------------------------------------------------------------------


def _person(rng: random.Random, used: set[str]) -> tuple[str, str]:
    while True:
        female = rng.random() < 0.4
        if rng.random() < 0.025:
            firsts, lasts = RUSSIAN_FEMALE if female else RUSSIAN_MALE
            first, surname = rng.choice(firsts), rng.choice(lasts)
        else:
            first = rng.choice(FEMALE_NAMES if female else MALE_NAMES)
            surname = rng.choice(SURNAMES) + ("a" if female else "")
        full = f"{first} {surname}"
        if full not in used:
            used.add(full)
            return full, surname


def _languages(rng: random.Random, name: str, baku: bool) -> list[str]:
    langs = {"az"}
    russian_origin = name.split()[0] in RUSSIAN_MALE[0] + RUSSIAN_FEMALE[0]
    if russian_origin or rng.random() < (0.76 if baku else 0.55):
        langs.add("ru")
    if rng.random() < (0.17 if baku else 0.06):
        langs.add("en")
    if rng.random() < 0.025:
        langs.add("tr")
    return [lang for lang in LANGUAGE_ORDER if lang in langs]


def add_georgian(rng: random.Random, lawyers: list[LawyerDraft], count: int) -> None:
    """A few lawyers speak Georgian: mostly in Qazax and Zaqatala, near the border."""
    local = [law for law in lawyers if set(law.territories) & GEORGIAN_AREAS]
    chosen = rng.sample(local, min(len(local), (count + 1) // 2, len(local) * 2 // 3))
    others = [law for law in lawyers if law not in chosen]
    while len(chosen) < count:
        weights = [4 if set(law.territories) & BORDER_AREAS else 1 for law in others]
        chosen.append(others.pop(rng.choices(range(len(others)), weights=weights)[0]))
    for law in chosen:
        law.languages = [lang for lang in LANGUAGE_ORDER if lang in {*law.languages, "ka"}]


def _specialisations(rng: random.Random, baku: bool) -> list[str]:
    specs: list[str] = []
    if rng.random() < 0.15:
        specs.append("juvenile")
    if rng.random() < (0.14 if baku else 0.05):
        specs.append("economic")
    if rng.random() < 0.04:
        specs.append("military")
    return sorted(specs)


def _initial_duty(rng: random.Random, roll: float) -> list[Window]:
    """Declared availability before the rosters are filled in; ``roll`` picks the kind."""
    office = [Window(d, _h(9), _h(18)) for d in range(5)]
    if roll < 0.30:
        return []  # on duty at all times
    if roll < 0.74:
        variant = rng.random()
        if variant < 0.12:
            return [Window(d, _h(10), _h(19)) for d in range(5)]
        if variant < 0.22:
            return [*office, Window(5, _h(10), _h(14))]
        return office
    if roll < 0.86:  # office hours plus one or two duty nights
        nights = rng.sample(range(7), rng.choice((1, 2)))
        return office + [NIGHT_SHIFTS[d] for d in nights]
    if roll < 0.94:  # weekend roster: Saturday or Sunday round the clock
        day = rng.choice((5, 6))
        return [*office[: rng.choice((3, 4, 5))], DAY_SHIFTS[day], NIGHT_SHIFTS[day]]
    nights = rng.sample(range(7), rng.choice((3, 4)))  # night duty only
    return [NIGHT_SHIFTS[d] for d in nights]


def _max_open(rng: random.Random) -> int:
    return rng.choices(range(5, 13), weights=[3, 6, 10, 14, 10, 7, 4, 3])[0]


def make_lawyers(rng: random.Random, firms: list[FirmDraft]) -> list[LawyerDraft]:
    used: set[str] = set()
    lawyers: list[LawyerDraft] = []
    total = sum(f.size for f in firms)
    # stratified rolls, so that the kinds of duty come out in their intended proportions
    rolls = [(i + rng.random()) / total for i in range(total)]
    rng.shuffle(rolls)
    for firm in firms:
        members: list[LawyerDraft] = []
        for _ in range(firm.size):
            reach = len(firm.territories)
            if reach == 1 or rng.random() < 0.45:
                territories = list(firm.territories)
            elif not firm.baku:
                territories = [firm.home]  # regional lawyers mostly stay in their home town
            else:
                territories = rng.sample(firm.territories, rng.randint(1, reach - 1))
            name, surname = _person(rng, used)
            members.append(
                LawyerDraft(
                    name=name,
                    surname=surname,
                    firm=firm,
                    territories=sorted(territories),
                    languages=_languages(rng, name, firm.baku),
                    specialisations=_specialisations(rng, firm.baku),
                    max_open=_max_open(rng),
                    duty=_initial_duty(rng, rolls.pop()),
                )
            )
        # every territory the firm serves is served by at least one of its lawyers
        for code in firm.territories:
            if not any(code in m.territories for m in members):
                member = rng.choice(members)
                member.territories = sorted([*member.territories, code])
        lawyers.extend(members)
    return lawyers


def _available_in(lawyers: Iterable[LawyerDraft], code: str) -> list[LawyerDraft]:
    return [law for law in lawyers if law.available and code in law.territories]


def assign_statuses(rng: random.Random, lawyers: list[LawyerDraft]) -> None:
    """About 4% on leave and 2% suspended, never thinning a territory below two lawyers."""
    on_leave = round(len(lawyers) * 0.04)
    suspended = round(len(lawyers) * 0.02)
    pending = ["on_leave"] * on_leave + ["suspended"] * suspended
    candidates = list(lawyers)
    rng.shuffle(candidates)
    for lawyer in candidates:
        if not pending:
            break
        if all(len(_available_in(lawyers, t)) > 2 for t in lawyer.territories):
            lawyer.status = pending.pop()
    if pending:
        raise SystemExit("not enough lawyers to put some on leave")


def suspend_firms(rng: random.Random, firms: list[FirmDraft], lawyers: list[LawyerDraft]) -> None:
    """Two Baku bureaus are suspended; every district keeps at least two active bureaus."""
    candidates = [f for f in firms if f.baku and 2 <= f.size <= 9]
    rng.shuffle(candidates)
    left = SUSPENDED_FIRMS
    for firm in candidates:
        if left == 0:
            break
        others = [f for f in firms if f is not firm and f.status == "active"]
        if all(sum(t in f.territories for f in others) >= 2 for t in firm.territories):
            firm.status = "suspended"
            left -= 1
    if left:
        raise SystemExit("cannot suspend bureaus without emptying a district")


def fill_rosters(rng: random.Random, lawyers: list[LawyerDraft], codes: list[str]) -> None:
    """Add night and weekend shifts until every territory has someone on duty at every hour."""
    for code in codes:
        pool = _available_in(lawyers, code)
        if not pool:
            raise SystemExit(f"no available lawyer in {code}")
        if any(not law.duty for law in pool):
            continue  # someone is on duty at all times
        for shift in WEEK:
            pool = _available_in(lawyers, code)
            if all(any(on_duty(law.duty, d, m) for law in pool) for d, m in _checkpoints(shift)):
                continue
            rng.shuffle(pool)
            chosen = min(pool, key=lambda law: law.extra_shifts)
            chosen.duty = sorted({*chosen.duty, shift})
            chosen.extra_shifts += 1


def ensure_juvenile(
    rng: random.Random, lawyers: list[LawyerDraft], fallback: dict[str, list[str]]
) -> None:
    for code in sorted(fallback):
        reach = [code, *fallback[code]]
        if any(
            "juvenile" in law.specialisations for t in reach for law in _available_in(lawyers, t)
        ):
            continue
        chosen = rng.choice(_available_in(lawyers, code))
        chosen.specialisations = sorted([*chosen.specialisations, "juvenile"])


def make_conflicts(rng: random.Random, lawyers: list[LawyerDraft]) -> list[tuple[str, str, str]]:
    """Ten registered ties to cases: victims' counsel, co-defendants, witnesses, family."""
    available = [law for law in lawyers if law.available]
    nasimi = sorted(_available_in(lawyers, "BAK-NSM"), key=lambda law: law.licence)
    conflicts: list[tuple[str, str, str]] = []
    # the specification's example: a Nəsimi lawyer is victim's counsel in 1(101)-77/2026
    first = rng.choice(nasimi)
    conflicts.append((first.licence, "1(101)-77/2026", "victim_counsel"))
    # a second tie in the same case, from another bureau: co-defendant with opposing interests
    other = rng.choice([law for law in nasimi if law.firm is not first.firm])
    conflicts.append((other.licence, "1(101)-77/2026", "co_defendant_counsel"))
    roles = ["victim_counsel"] * 3 + ["co_defendant_counsel"] * 2 + ["witness_counsel"] * 1
    roles += ["family_tie"] * 2
    rng.shuffle(roles)
    used_cases = {"1(101)-77/2026"}
    for role in roles:
        lawyer = rng.choice(available)
        while True:
            court = COURT_BY_CODE[rng.choice(lawyer.territories)]
            year = rng.choice((2025, 2026, 2026))
            case = f"1({court})-{rng.randint(12, 940)}/{year}"
            if case not in used_cases:
                used_cases.add(case)
                break
        conflicts.append((lawyer.licence, case, role))
    return sorted(conflicts, key=lambda c: (c[1], c[0], c[2]))


# --- contacts and places ---------------------------------------------------------------------

EMAIL_DOMAIN = "advokat.example"
MOBILE_PREFIXES = ("50", "51", "55", "70", "77", "99")
# Landline area codes by the first digit of the court's code (Baku: 12).
AREA_CODES = {"1": "12", "2": "18", "3": "22", "4": "20", "5": "24", "6": "23", "7": "21"}
AREA_CODES |= {"8": "25", "9": "36"}
LATIN = str.maketrans(
    {"ə": "e", "ı": "i", "ş": "sh", "ç": "ch", "ğ": "gh", "ö": "o", "ü": "u", "İ": "i"}
)
BAKU_STREETS = (
    "Heydər Əliyev pr.", "Azadlıq pr.", "Nizami küç.", "Füzuli küç.", "Səməd Vurğun küç.",
    "Cəfər Cabbarlı küç.", "28 May küç.", "Xətai pr.", "Neftçilər pr.", "Atatürk pr.",
    "Bülbül pr.", "Üzeyir Hacıbəyov küç.", "Zərifə Əliyeva küç.", "Tbilisi pr.", "Babək pr.",
)  # fmt: skip
TOWN_STREETS = (
    "Heydər Əliyev pr.", "Nizami küç.", "Azadlıq küç.", "Füzuli küç.", "M.F. Axundzadə küç.",
    "Xətai küç.", "S. Vurğun küç.", "Natəvan küç.", "20 Yanvar küç.", "Şah İsmayıl Xətai küç.",
)  # fmt: skip
# The city's pre-trial detention centre sits in Sabunçu (Kürdəxanı); the others are the
# police's temporary holding facilities.
BAKU_DETENTION_CENTRE = "BAK-SBN"


def _landline(rng: random.Random, code: str) -> str:
    area = AREA_CODES[str(COURT_BY_CODE[code])[0]]
    if area == "12":
        return f"+994 12 {rng.randint(400, 599)} {rng.randint(10, 99)} {rng.randint(10, 99)}"
    return f"+994 {area} {rng.randint(200, 299)} {rng.randint(10, 99)} {rng.randint(10, 99)}"


def _mobile(rng: random.Random) -> str:
    prefix = rng.choice(MOBILE_PREFIXES)
    return f"+994 {prefix} {rng.randint(200, 999)} {rng.randint(10, 99)} {rng.randint(10, 99)}"


def _email(name: str, used: set[str], licence: str) -> str:
    local = ".".join(part.lower().translate(LATIN) for part in name.split())
    local = re.sub(r"[^a-z.]", "", local)
    if local in used:
        local = f"{local}.{licence.lower().replace('-', '')}"
    used.add(local)
    return f"{local}@{EMAIL_DOMAIN}"


def add_contacts(rng: random.Random, lawyers: list[dict[str, Any]]) -> None:
    """A mobile phone and an e-mail address for every lawyer (added after their other keys)."""
    used: set[str] = set()
    for law in lawyers:
        law["phone"] = _mobile(rng)
        law["email"] = _email(str(law["name"]), used, str(law["licence"]))


def _address(rng: random.Random, code: str) -> str:
    if code.startswith("BAK-"):
        district = next(d for d in BAKU if d.code == code)
        street = rng.choice(BAKU_STREETS)
        return f"Bakı ş., {district.az} r-nu, {street} {rng.randint(1, 180)}"
    region = REGION_BY_CODE[code]
    town = f"{region.az} ş." if region.city else f"{region.az} r-nu"
    return f"{town}, {rng.choice(TOWN_STREETS)} {rng.randint(1, 90)}"


def _place(
    rng: random.Random, code: str, suffix: str, kind: str, names: tuple[str, str, str]
) -> dict[str, Any]:
    return {
        "code": f"{code}-{suffix}",
        "territory": code,
        "kind": kind,
        "name": {"az": names[0], "ru": names[1], "en": names[2]},
        "address": _address(rng, code),
        "phone": _landline(rng, code),
    }


def places_json(rng: random.Random) -> list[dict[str, Any]]:
    """For every territory: its police, the court, the prosecutor's office, and a detention
    facility in Baku's districts and the cities (the districts' detainees are held there)."""
    rows: list[dict[str, Any]] = []
    for d in BAKU:
        rows += [
            _place(rng, d.code, "POL", "police_station", (
                f"{d.az} Rayon Polis İdarəsi",
                f"Управление полиции района {d.ru}",
                f"{d.en} District Police Department",
            )),
            _place(rng, d.code, "MSY", "detention_facility", (
                f"{d.az} RPİ-nin Müvəqqəti Saxlama Yeri",
                f"Изолятор временного содержания УП района {d.ru}",
                f"{d.en} District Police Temporary Detention Facility",
            )),
            _place(rng, d.code, "CRT", "court", (
                f"Bakı şəhəri {d.az} Rayon Məhkəməsi",
                f"Районный суд {d.ru} города Баку",
                f"{d.en} District Court of Baku",
            )),
            _place(rng, d.code, "PRK", "prosecutor", (
                f"{d.az} Rayon Prokurorluğu",
                f"Прокуратура района {d.ru}",
                f"{d.en} District Prosecutor's Office",
            )),
        ]  # fmt: skip
        if d.code == BAKU_DETENTION_CENTRE:
            rows.append(_place(rng, d.code, "IST", "detention_facility", (
                "Ədliyyə Nazirliyinin Bakı İstintaq Təcridxanası",
                "Бакинский следственный изолятор Министерства юстиции",
                "Baku Pre-trial Detention Centre of the Ministry of Justice",
            )))  # fmt: skip
    for r in REGIONS:
        unit, ru_unit, en_unit = (
            ("Şəhər", "города", "City") if r.city else ("Rayon", "района", "District")
        )
        rows += [
            _place(rng, r.code, "POL", "police_station", (
                f"{r.az} {unit} Polis Şöbəsi",
                f"Отдел полиции {ru_unit} {r.ru}",
                f"{r.en} {en_unit} Police Department",
            )),
            _place(rng, r.code, "CRT", "court", (
                f"{r.az} {unit} Məhkəməsi",
                f"Суд {ru_unit} {r.ru}",
                f"{r.en} {en_unit} Court",
            )),
            _place(rng, r.code, "PRK", "prosecutor", (
                f"{r.az} {unit} Prokurorluğu",
                f"Прокуратура {ru_unit} {r.ru}",
                f"{r.en} {en_unit} Prosecutor's Office",
            )),
        ]  # fmt: skip
        if r.city:
            rows.append(_place(rng, r.code, "MSY", "detention_facility", (
                f"{r.az} {unit} Polis Şöbəsinin Müvəqqəti Saxlama Yeri",
                f"Изолятор временного содержания ОП {ru_unit} {r.ru}",
                f"{r.en} {en_unit} Police Temporary Detention Facility",
            )))  # fmt: skip
    return sorted(rows, key=lambda row: str(row["code"]))


# --- assembly ------------------------------------------------------------------------------


def territories_json() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = [
        {
            "code": d.code,
            "name": {"az": d.az, "ru": d.ru, "en": d.en},
            "fallback": [*d.neighbours[:2]],
        }
        for d in BAKU
    ]
    rows += [
        {"code": r.code, "name": {"az": r.az, "ru": r.ru, "en": r.en}, "fallback": list(r.fallback)}
        for r in REGIONS
    ]
    return sorted(rows, key=lambda row: str(row["code"]))


def build(rng: random.Random) -> Registry:
    firms = baku_firms(rng) + regional_firms(rng)
    rng.shuffle(firms)
    for number, firm in enumerate(firms, start=1):
        firm.code = f"F{number:03d}"
        firm.territories = sorted(firm.territories)
    lawyers = make_lawyers(rng, firms)
    add_georgian(rng, lawyers, GEORGIAN_SPEAKERS)
    name_firms(rng, firms, lawyers)
    rng.shuffle(lawyers)
    for number, lawyer in enumerate(lawyers, start=1):
        lawyer.licence = f"A-{number:04d}"
    suspend_firms(rng, firms, lawyers)
    assign_statuses(rng, lawyers)
    territories = territories_json()
    codes = [str(t["code"]) for t in territories]
    fill_rosters(rng, lawyers, codes)
    ensure_juvenile(rng, lawyers, {str(t["code"]): list(t["fallback"]) for t in territories})
    return Registry(firms=firms, lawyers=lawyers, conflicts=make_conflicts(rng, lawyers))


def to_json(registry: Registry, contacts: random.Random) -> dict[str, Any]:
    """The registry file; `contacts` draws the lawyers' contacts and the places."""
    data: dict[str, Any] = {
        "territories": territories_json(),
        "firms": [
            {"code": f.code, "name": f.name, "territories": f.territories, "status": f.status}
            for f in sorted(registry.firms, key=lambda f: f.code)
        ],
        "lawyers": [
            {
                "licence": law.licence,
                "name": law.name,
                "firm": law.firm.code,
                "territories": law.territories,
                "languages": law.languages,
                "specialisations": law.specialisations,
                "max_open": law.max_open,
                "status": law.status,
                "duty": [w.as_json() for w in sorted(law.duty)],
            }
            for law in sorted(registry.lawyers, key=lambda law: law.licence)
        ],
        "places": [],
        "conflicts": [
            {"lawyer": lawyer, "case_number": case, "role": role}
            for lawyer, case, role in registry.conflicts
        ],
    }
    add_contacts(contacts, data["lawyers"])
    data["places"] = places_json(contacts)
    return data


# --- checks --------------------------------------------------------------------------------


def _parse_window(entry: dict[str, Any]) -> Window:
    start_h, start_m = (int(x) for x in str(entry["start"]).split(":"))
    end_h, end_m = (int(x) for x in str(entry["end"]).split(":"))
    assert 0 <= int(entry["weekday"]) <= 6, entry
    return Window(int(entry["weekday"]), start_h * 60 + start_m, end_h * 60 + end_m)


def validate(data: dict[str, Any]) -> None:
    """Referential integrity and the demo's promises, checked on the JSON about to be written."""
    assert list(data) == ["territories", "firms", "lawyers", "places", "conflicts"]
    territories: dict[str, dict[str, Any]] = {t["code"]: t for t in data["territories"]}
    firms: dict[str, dict[str, Any]] = {f["code"]: f for f in data["firms"]}
    lawyers: dict[str, dict[str, Any]] = {law["licence"]: law for law in data["lawyers"]}
    assert len(territories) == len(data["territories"]) >= 25, "territory codes unique, >= 25"
    assert len(firms) == len(data["firms"]), "firm codes unique"
    assert len(lawyers) == len(data["lawyers"]), "licences unique"
    assert 78 <= len(firms) <= 84 and 490 <= len(lawyers) <= 510
    assert 8 <= len(data["conflicts"]) <= 12
    assert len({f["name"] for f in firms.values()}) == len(firms), "firm names unique"
    assert len({law["name"] for law in lawyers.values()}) == len(lawyers), "lawyer names unique"

    for code, t in territories.items():
        assert CODE_RE.match(code), code
        assert all(t["name"][k] for k in ("az", "ru", "en")), code
        assert t["fallback"] and code not in t["fallback"], code
        assert all(fb in territories for fb in t["fallback"]), code
    for code, f in firms.items():
        assert re.fullmatch(r"F\d{3}", code), code
        assert f["status"] in ("active", "suspended"), code
        assert f["territories"] and all(t in territories for t in f["territories"]), code
        baku = [t.startswith("BAK-") for t in f["territories"]]
        assert all(baku) or not any(baku), code
        assert len(f["territories"]) <= (4 if all(baku) else 2), code
    assert sum(f["status"] == "suspended" for f in firms.values()) == SUSPENDED_FIRMS

    members: Counter[str] = Counter()
    for licence, law in lawyers.items():
        assert re.fullmatch(r"A-\d{4}", licence), licence
        firm = firms.get(law["firm"])
        assert firm is not None, f"{licence}: firm {law['firm']} missing"
        members[law["firm"]] += 1
        assert law["territories"], licence
        assert set(law["territories"]) <= set(firm["territories"]), licence
        assert law["languages"][0] == "az", licence
        assert set(law["languages"]) <= set(LANGUAGE_ORDER), licence
        assert set(law["specialisations"]) <= {"juvenile", "economic", "military"}, licence
        assert 5 <= law["max_open"] <= 12, licence
        assert law["status"] in ("active", "on_leave", "suspended"), licence
        for entry in law["duty"]:
            assert re.fullmatch(r"\d\d:\d\d", entry["start"]), licence
            assert re.fullmatch(r"\d\d:\d\d", entry["end"]), licence
            _parse_window(entry)
    assert set(members) == set(firms), "every firm has lawyers"
    assert all(1 <= n <= MAX_FIRM_SIZE for n in members.values())
    for firm_code, f in firms.items():
        for t in f["territories"]:
            assert any(
                law["firm"] == firm_code and t in law["territories"] for law in lawyers.values()
            ), f"{firm_code} serves {t} with no lawyer there"

    emails = [law["email"] for law in lawyers.values()]
    assert len(set(emails)) == len(emails), "e-mail addresses unique"
    for licence, law in lawyers.items():
        assert PHONE_RE.match(law["phone"]), licence
        assert re.fullmatch(r"[a-z.]+@advokat\.example", law["email"]), licence
    place_codes = [p["code"] for p in data["places"]]
    assert len(set(place_codes)) == len(place_codes), "place codes unique"
    for p in data["places"]:
        assert p["territory"] in territories, p["code"]
        assert p["kind"] in PLACE_KINDS, p["code"]
        assert all(p["name"][k] for k in ("az", "ru", "en")), p["code"]
        assert p["address"] and PHONE_RE.match(p["phone"]), p["code"]
    for code in territories:
        kinds = {p["kind"] for p in data["places"] if p["territory"] == code}
        assert {"police_station", "court", "prosecutor"} <= kinds, f"{code}: places missing"

    for c in data["conflicts"]:
        assert c["lawyer"] in lawyers, c
        assert c["role"] in CONFLICT_ROLES, c
        assert CASE_RE.match(c["case_number"]), c
    keys = {(c["lawyer"], c["case_number"], c["role"]) for c in data["conflicts"]}
    assert len(keys) == len(data["conflicts"]), "conflicts unique"

    def available(law: dict[str, Any]) -> bool:
        return bool(law["status"] == "active" and firms[law["firm"]]["status"] == "active")

    for code, t in territories.items():
        serving_firms = [f for f in firms.values() if code in f["territories"]]
        assert len(serving_firms) >= 2, f"{code}: fewer than two bureaus"
        assert sum(f["status"] == "active" for f in serving_firms) >= 2, code
        pool = [law for law in lawyers.values() if available(law) and code in law["territories"]]
        assert pool, f"{code}: no active lawyer"
        rosters = [[_parse_window(e) for e in law["duty"]] for law in pool]
        for weekday in range(7):
            for hour in range(24):
                for minute in (hour * 60, hour * 60 + 59):
                    assert any(on_duty(r, weekday, minute) for r in rosters), (
                        f"{code}: nobody on duty on weekday {weekday} at {_hhmm(minute)}"
                    )
        reach = [code, *t["fallback"]]
        assert any(
            "juvenile" in law["specialisations"]
            for law in lawyers.values()
            if available(law) and set(reach) & set(law["territories"])
        ), f"{code}: no juvenile specialist within reach"


def summary(data: dict[str, Any]) -> str:
    lawyers = data["lawyers"]
    baku = sum(all(t.startswith("BAK-") for t in law["territories"]) for law in lawyers)
    return (
        f"territories={len(data['territories'])} firms={len(data['firms'])} "
        f"lawyers={len(lawyers)} places={len(data['places'])} "
        f"conflicts={len(data['conflicts'])} "
        f"baku_share={baku / len(lawyers):.1%}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where to write the JSON")
    args = parser.parse_args(argv)
    data = to_json(build(random.Random(SEED)), random.Random(CONTACT_SEED))
    validate(data)
    out: Path = args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(data, indent=1, ensure_ascii=False, sort_keys=False) + "\n"
    out.write_text(text, encoding="utf-8")
    print(f"{summary(data)} -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
