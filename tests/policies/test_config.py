"""Policy files: the defaults, per-territory overrides, versions by content, clear errors."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from pydantic import BaseModel

from policies.base import rule_registry
from policies.config import DEFAULT_POLICY_FILE, Policy, PolicyError, load_policy_book
from policies.vocabulary import RuleName

DEFAULT_TEXT = DEFAULT_POLICY_FILE.read_text(encoding="utf-8")
NAX_DETENTION = "\n[territories.NAX.deadlines]\ndetention_s = 1800\n"


def write(tmp_path: Path, text: str, name: str = "policy.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_default_file_loads() -> None:
    book = load_policy_book()
    policy = book.default
    assert 0 < policy.deadlines.detention_s < policy.deadlines.standard_s
    # Detention deadlines are minutes, not hours.
    assert policy.deadline_s("detention") == policy.deadlines.detention_s <= 3600
    assert policy.deadline_s("standard") == policy.deadlines.standard_s
    declared = tomllib.loads(DEFAULT_TEXT)["version"]
    assert policy.version.startswith(f"{declared}+")
    assert book.for_territory("ANY") == policy


def _settings(model: type[BaseModel], prefix: str = "") -> list[str]:
    """The dotted names of every setting of `model`, through its sections."""
    names: list[str] = []
    for name, field in model.model_fields.items():
        section = field.annotation
        if isinstance(section, type) and issubclass(section, BaseModel):
            names += _settings(section, f"{prefix}{name}.")
        else:
            names.append(f"{prefix}{name}")
    return names


def _is_set(table: dict[str, object], dotted: str) -> bool:
    head, _, rest = dotted.partition(".")
    if head not in table:
        return False
    inner = table[head]
    return not rest or (isinstance(inner, dict) and _is_set(inner, rest))


def test_the_default_file_sets_every_setting_and_the_model_defaults_none() -> None:
    raw = tomllib.loads(DEFAULT_TEXT)
    names = _settings(Policy)
    assert "pause.lapses" in names
    assert [n for n in names if not _is_set(raw, n)] == []
    # No value is written in the model, where it could disagree with the file.
    sections = [Policy, *(f.annotation for f in Policy.model_fields.values())]
    models = [m for m in sections if isinstance(m, type) and issubclass(m, BaseModel)]
    defaulted = [
        f"{m.__name__}.{n}"
        for m in models
        for n, f in m.model_fields.items()
        if not f.is_required()
    ]
    assert defaulted == []


@pytest.mark.parametrize("setting", ["pause_hours", "session_ttl_s", "timezone", "draw_seed"])
def test_a_file_missing_a_setting_is_refused(tmp_path: Path, setting: str) -> None:
    lines = [ln for ln in DEFAULT_TEXT.splitlines() if not ln.startswith(f"{setting} = ")]
    assert len(lines) == len(DEFAULT_TEXT.splitlines()) - 1
    with pytest.raises(PolicyError, match=setting):
        load_policy_book(write(tmp_path, "\n".join(lines)))


def test_the_default_values_the_service_runs_with() -> None:
    policy = load_policy_book().default
    assert policy.rotation.rule == RuleName.QUOTA
    assert policy.pause.lapses == 2
    assert policy.choice.session_ttl_s == 1800
    assert policy.deadline_s("detention") == 420


def test_every_rule_name_has_a_rule() -> None:
    registry = rule_registry()
    assert list(registry) == list(RuleName)
    assert all(rule.name == name for name, rule in registry.items())


def test_territory_override_changes_only_its_value(tmp_path: Path) -> None:
    default = load_policy_book().default
    book = load_policy_book(write(tmp_path, DEFAULT_TEXT + NAX_DETENTION))
    nax = book.for_territory("NAX")
    assert nax.deadlines.detention_s == 1800
    assert nax.deadlines.standard_s == default.deadlines.standard_s
    expected = default.model_dump()
    expected["deadlines"]["detention_s"] = 1800
    expected["version"] = book.default.version
    assert nax.model_dump() == expected
    # Other territories and the defaults keep the file's values.
    assert book.default.deadlines.detention_s == default.deadlines.detention_s
    assert book.for_territory("BAK-NSM") == book.default
    # A territory's rules carry the version of the file they came from.
    assert nax.version == book.default.version


def test_override_of_several_sections(tmp_path: Path) -> None:
    text = DEFAULT_TEXT + (
        "\n[territories.GNC.choice]\nlist_size = 4\n"
        "\n[territories.GNC.eligibility]\nrequire_language = false\n"
    )
    book = load_policy_book(write(tmp_path, text))
    gnc = book.for_territory("GNC")
    assert gnc.choice.list_size == 4
    assert gnc.choice.lawyers_per_firm == book.default.choice.lawyers_per_firm
    assert gnc.eligibility.require_language is False
    assert (
        gnc.eligibility.juvenile_specialisation == book.default.eligibility.juvenile_specialisation
    )
    assert gnc.deadlines == book.default.deadlines


def test_version_follows_content(tmp_path: Path) -> None:
    first = load_policy_book(write(tmp_path, DEFAULT_TEXT, "a.toml")).default.version
    same = load_policy_book(write(tmp_path, DEFAULT_TEXT, "b.toml")).default.version
    changed = load_policy_book(write(tmp_path, DEFAULT_TEXT + NAX_DETENTION, "c.toml"))
    commented = load_policy_book(write(tmp_path, DEFAULT_TEXT + "# reviewed\n", "d.toml"))
    assert first == same == load_policy_book().default.version
    assert changed.default.version != first
    assert commented.default.version != first
    assert changed.default.version.split("+")[0] == first.split("+")[0]


@pytest.mark.parametrize(
    "text",
    [
        pytest.param('version = "x"\n[rotation]\nweight = "equal"\n', id="no-deadlines-table"),
        pytest.param('version = "x"\n[deadlines]\ndetention_s = 900\n', id="no-standard_s"),
        pytest.param(
            'version = "x"\n[deadlines]\ndetention_s = -1\nstandard_s = 14400\n',
            id="negative-detention",
        ),
        pytest.param(
            'version = "x"\n[deadlines]\ndetention_s = 900\nstandard_s = -60\n',
            id="negative-standard",
        ),
        pytest.param(
            'version = "x"\n[deadlines]\ndetention_s = 0\nstandard_s = 14400\n',
            id="zero-deadline",
        ),
        pytest.param(
            DEFAULT_TEXT + "\n[territories.NAX.deadlines]\ndetention_s = -1800\n",
            id="negative-override",
        ),
        pytest.param("[deadlines]\ndetention_s = 900\nstandard_s = 14400\n", id="no-version"),
        pytest.param(DEFAULT_TEXT + "\n[rotation_typo]\nweight = 1\n", id="unknown-section"),
        pytest.param(
            DEFAULT_TEXT.replace('weight = "active_lawyers"', 'weight = "x"'),
            id="unknown-rotation-weight",
        ),
        pytest.param("territories = 3\n" + DEFAULT_TEXT, id="territories-not-a-table"),
    ],
)
def test_invalid_policy_is_refused(tmp_path: Path, text: str) -> None:
    with pytest.raises(PolicyError):
        load_policy_book(write(tmp_path, text))


@pytest.mark.parametrize(
    "text",
    [
        'version = "x"\n[deadlines\ndetention_s = 900\n',
        'version = "x"\n[deadlines]\ndetention_s = 900\ndetention_s = 901\nstandard_s = 1\n',
        "version = x\n",
    ],
)
def test_invalid_toml_is_refused(tmp_path: Path, text: str) -> None:
    with pytest.raises(PolicyError, match="not valid TOML"):
        load_policy_book(write(tmp_path, text))


def test_undecodable_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "policy.toml"
    path.write_bytes(b'version = "\xff"\n')
    with pytest.raises(PolicyError):
        load_policy_book(path)


def test_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="cannot read"):
        load_policy_book(tmp_path / "absent.toml")


def test_territory_entry_that_is_not_a_table_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PolicyError):
        load_policy_book(write(tmp_path, DEFAULT_TEXT + "\n[territories]\nNAX = 3\n"))


def test_territory_override_may_not_set_its_own_version(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="version"):
        load_policy_book(write(tmp_path, DEFAULT_TEXT + '\n[territories.NAX]\nversion = "mine"\n'))
