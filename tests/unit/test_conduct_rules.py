"""The rules of conduct on a call: shipped for every locale, and checked when read."""

from __future__ import annotations

from pathlib import Path

import pytest

from domain.case import LOCALES
from domain.errors import InvalidInput
from templates.conduct import conduct_rules, load_conduct, parse_conduct, shipped_conduct


def test_every_locale_a_borrower_may_have_has_the_rules() -> None:
    shipped = shipped_conduct()
    assert set(LOCALES) <= set(shipped)
    for rules in shipped.values():
        assert len(rules.rules) >= 3


def test_the_rules_name_threats_third_parties_and_disputes() -> None:
    english = " ".join(conduct_rules("en").rules)
    assert "threat" in english and "third parties" in english and "dispute" in english
    chinese = " ".join(conduct_rules("zh-CN").rules)
    assert "威胁" in chinese and "第三方" in chinese and "异议" in chinese


def test_an_unknown_locale_gets_the_default_locales_rules() -> None:
    assert conduct_rules("fr") == conduct_rules("zh-CN")


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({}, "x"),
        ({"conduct": {"heading": "", "rules": ["a"]}}, "x: conduct.heading"),
        ({"conduct": {"heading": "H", "rules": []}}, "x: conduct.rules"),
        ({"conduct": {"heading": "H", "rules": ["a", " "]}}, "x: conduct.rules"),
    ],
)
def test_malformed_rules_are_refused_naming_the_field(data: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_conduct(data, "x")
    assert refused.value.field == field


def test_a_locale_folder_without_the_rules_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "en").mkdir()
    with pytest.raises(InvalidInput, match="rules of conduct"):
        load_conduct(tmp_path)
