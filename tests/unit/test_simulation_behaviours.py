"""The behaviour file of the simulator's borrowers: the shipped one, and every mistake refused
naming its key."""

from __future__ import annotations

import tomllib
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from cli.demo import BEHAVIOURS as DEMO_BEHAVIOURS
from cli.simulate import BEHAVIOURS_FILE, load_behaviours
from domain.errors import InvalidInput
from domain.simulation.behaviours import ANSWERS, ChannelAnswers, parse_behaviours

SMS = {"delay_hours": 3, "pay_full": 0.25, "promise_keep": 0.5}


def test_the_shipped_file_has_the_demos_behaviours_and_a_default() -> None:
    behaviours = load_behaviours(BEHAVIOURS_FILE)
    assert set(behaviours.segments) == {"default", *DEMO_BEHAVIOURS}
    default = behaviours.of("default")
    assert set(default.channels) == {"sms", "email", "letter", "call", "field_visit"}
    assert behaviours.of("pays_after_reminder").channels["sms"].pick(0.99) == "pay_full"
    assert behaviours.of("left_to_desk").channels == {}


def test_a_segment_the_file_does_not_name_behaves_as_default() -> None:
    behaviours = parse_behaviours({"default": {"sms": SMS}, "salaried": {}})
    assert behaviours.of("gig-workers") is behaviours.segments["default"]
    assert behaviours.of(None) is behaviours.segments["default"]
    assert behaviours.of("salaried").segment == "salaried"


def test_a_draw_falls_on_the_answers_in_their_order_and_the_rest_is_no_answer() -> None:
    answers = parse_behaviours({"default": {"sms": SMS}}).of(None).channels["sms"]
    assert [answers.pick(draw) for draw in (0.0, 0.2499, 0.25, 0.7499, 0.75, 0.9999)] == [
        "pay_full",
        "pay_full",
        "promise_keep",
        "promise_keep",
        None,
        None,
    ]
    assert answers.delay(86400) == timedelta(hours=3)
    # On a fast clock (a day of 2 s) the hours are the case's hours.
    assert answers.delay(2) == timedelta(seconds=0.25)


def test_every_answer_is_known_in_the_order_draws_take_them() -> None:
    every = {answer: 0.1 for answer in ANSWERS}
    answers = parse_behaviours({"default": {"call": {"delay_hours": 1, **every}}}).of(None)
    picked = [answers.channels["call"].pick(n / 10 + 0.05) for n in range(10)]
    assert picked == [*ANSWERS, None]
    assert isinstance(answers.channels["call"], ChannelAnswers)


@pytest.mark.parametrize(
    ("data", "field", "problem"),
    [
        ({"salaried": {}}, "default", "is required"),
        ({"default": []}, "default", "must be a table"),
        ({"default": {"fax": {}}}, "default.fax", "is not a known key"),
        ({"default": {"sms": {"delay_hours": 1, "pay": 0.1}}}, "default.sms.pay", "is not one"),
        ({"default": {"sms": {"pay_full": 0.1}}}, "default.sms.delay_hours", "is required"),
        ({"default": {"sms": {"delay_hours": 0}}}, "default.sms.delay_hours", "more than 0"),
        ({"default": {"sms": {"delay_hours": 1e9}}}, "default.sms.delay_hours", "at most"),
        ({"default": {"sms": {"delay_hours": "3h"}}}, "default.sms.delay_hours", "a number"),
        ({"default": {"sms": {**SMS, "pay_part": 1.5}}}, "default.sms.pay_part", "from 0 to 1"),
        ({"default": {"sms": {**SMS, "pay_part": -0.1}}}, "default.sms.pay_part", "from 0 to 1"),
        ({"default": {"sms": {**SMS, "dispute": True}}}, "default.sms.dispute", "a number"),
        (
            {"default": {"sms": {**SMS, "dispute": float("nan")}}},
            "default.sms.dispute",
            "from 0 to 1",
        ),
        ({"default": {"sms": {**SMS, "pay_part": 0.3}}}, "default.sms", "add up to 1.05"),
        ({"default": {"sms": "often"}}, "default.sms", "must be a table"),
        ({"default": {"part_percent": 100}}, "default.part_percent", "from 1 to 99"),
        ({"default": {"promise_days": 2.5}}, "default.promise_days", "a whole number"),
        (
            {"default": {"plan_installments": 2, "plan_installments_paid": 2}},
            "default.plan_installments_paid",
            "below plan_installments",
        ),
        ({"default": {}, "gig": {"call": {"delay_hours": 1, "settle": 2}}}, "gig.call.settle", ""),
    ],
)
def test_a_mistake_is_refused_naming_its_key(
    data: dict[str, Any], field: str, problem: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_behaviours(data)
    assert refused.value.field == field
    assert problem in refused.value.problem


def test_a_file_is_refused_naming_the_file_and_the_key(tmp_path: Path) -> None:
    path = tmp_path / "behaviours.toml"
    path.write_text('[default.sms]\ndelay_hours = 2\npay_full = "all"\n')
    with pytest.raises(InvalidInput) as refused:
        load_behaviours(path)
    assert refused.value.field == f"{path}: default.sms.pay_full"
    path.write_text("[default\n")
    with pytest.raises(InvalidInput, match="not TOML"):
        load_behaviours(path)
    with pytest.raises(InvalidInput, match="cannot read"):
        load_behaviours(tmp_path / "missing.toml")


def test_the_shipped_file_is_valid_toml_with_each_channels_chances_at_most_one() -> None:
    data = tomllib.loads(BEHAVIOURS_FILE.read_text(encoding="utf-8"))
    for segment in data.values():
        for value in segment.values():
            if isinstance(value, dict):
                assert sum(v for k, v in value.items() if k in ANSWERS) <= 1
