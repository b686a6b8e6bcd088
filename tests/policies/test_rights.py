"""The notice of a person's rights on the tablet is the policy file's: required, in three
languages, and a territory may word it its own way."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from policies.config import DEFAULT_POLICY_FILE, PolicyError, load_policy_book
from policies.vocabulary import Language


def test_the_default_file_words_the_rights_in_each_language() -> None:
    rights = load_policy_book().default.choice.rights
    texts = {language: rights.text(language) for language in Language}
    assert len(set(texts.values())) == len(Language)
    assert "free of charge" in texts[Language.EN]
    assert rights.text("xx") == texts[Language.AZ]  # the territory's language otherwise


def test_a_file_without_the_rights_is_refused(tmp_path: Path) -> None:
    source = DEFAULT_POLICY_FILE.read_text(encoding="utf-8")
    without = re.sub(r"\[choice\.rights\].*?(?=\n\[)", "", source, count=1, flags=re.S)
    assert without != source
    file = tmp_path / "policy.toml"
    file.write_text(without, encoding="utf-8")
    with pytest.raises(PolicyError, match="rights"):
        load_policy_book(file)


def test_a_territory_may_word_the_rights_its_own_way(tmp_path: Path) -> None:
    file = tmp_path / "policy.toml"
    file.write_text(
        DEFAULT_POLICY_FILE.read_text(encoding="utf-8")
        + '\n[territories.NAX.choice.rights]\nen = "The Nakhchivan bar\'s own words."\n',
        encoding="utf-8",
    )
    book = load_policy_book(file)
    assert book.for_territory("NAX").choice.rights.text("en") == "The Nakhchivan bar's own words."
    assert book.for_territory("NAX").choice.rights.ru == book.default.choice.rights.ru
    assert book.for_territory("CEN").choice.rights.text("en") != "The Nakhchivan bar's own words."
