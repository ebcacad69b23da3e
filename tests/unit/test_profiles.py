"""Jurisdiction profiles: they load, each of their rules holds at its figure, a bad policy file
is refused naming the field, and the README's compliance table lists every rule."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import replace
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

import policies
from domain.caps import ALLOWED, Deferred, EarlierContact, Rule, check_contact
from domain.debt import Debt, LoanTerms, Parts, debt_terms
from domain.errors import InvalidInput
from domain.notices import NoticeFacts
from domain.policy import Policy
from policies import available_policies, load_policy, rules
from templates import render_notice
from tests.helpers.paths import PROJECT_DIR

PROFILES = ("cn-online-lending", "us-reg-f")
# A Wednesday: no shipped profile has weekday hours or holidays.
WEDNESDAY = date(2026, 12, 2)


def test_the_profiles_load_beside_default_and_demo() -> None:
    assert {"default", "demo", *PROFILES} <= set(available_policies())
    default = load_policy("default")
    for name in PROFILES:
        profile = load_policy(name)
        # Same ladder and money rules as default: a profile changes how a borrower is contacted.
        assert profile.ladder == default.ladder
        assert profile.commitments == default.commitments


def test_cn_online_lending_figures() -> None:
    cn = load_policy("cn-online-lending")
    assert cn.default_timezone == "Asia/Shanghai"
    assert cn.contact_window is not None
    assert (cn.contact_window.start_minute, cn.contact_window.end_minute) == (8 * 60, 22 * 60)
    assert cn.connected_calls_per_day == 3
    assert cn.unanswered_calls_per_number_per_day == 6
    assert cn.daily_caps["field_visit"] == 1
    assert "call" not in cn.daily_caps
    assert cn.contact_window.holidays == ()


def test_us_reg_f_figures() -> None:
    us = load_policy("us-reg-f")
    assert us.contact_window is not None
    assert (us.contact_window.start_minute, us.contact_window.end_minute) == (8 * 60, 21 * 60)
    assert us.rolling_caps_7d == {"call": 7}
    assert us.call_quiet_days_after_conversation == 7
    assert us.opt_out_notice is True
    assert us.contact_window.holidays == ()


# -- every rule of every profile, at its figure --------------------------------
def local(policy: Policy, day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=ZoneInfo(policy.default_timezone))


def verdict(
    policy: Policy,
    channel: str,
    now: datetime,
    contacts: Sequence[EarlierContact],
    number: str | None = None,
) -> object:
    return check_contact(
        channel,
        now,
        policy=policy,
        timezone=policy.default_timezone,
        contacts=contacts,
        number=number,
    )


def calls(moments: Sequence[datetime], **kind: Any) -> list[EarlierContact]:
    return [EarlierContact("call", at, **kind) for at in moments]


def at_accrual_figure(policy: Policy, rule: Rule) -> None:
    """Penalty stops exactly at the annual cap; without authorisation nothing is added."""
    opening = Parts(principal_minor=1_000_000)
    due = WEDNESDAY - timedelta(days=100)
    terms = debt_terms(policy.accrual, LoanTerms(100, fees_authorized=False), opening)
    accrued = replace(Debt.opened(opening, due), terms=terms).accrued(WEDNESDAY, accruing=True)
    if rule.name == "accrual.annual_cap":
        cap_bps = policy.accrual.annual_cap_bps
        assert cap_bps is not None
        assert accrued.parts.penalty_minor == 1_000_000 * cap_bps * 100 // (10_000 * 365)
    else:
        assert policy.accrual.fees_need_authorization
        assert accrued.parts.penalty_minor == 0
        authorised = debt_terms(policy.accrual, LoanTerms(100, fees_authorized=True), opening)
        assert authorised.rate_bps_per_day == 100


def at_figure(policy: Policy, rule: Rule) -> None:
    """The contact is held back with exactly the figure's count, allowed one below it."""
    family, _, channel = rule.name.partition(".")
    noon = local(policy, WEDNESDAY, 12)
    opening = local(policy, WEDNESDAY + timedelta(days=1), 8)
    if family == "contact_window":
        window = policy.contact_window
        assert window is not None
        opens = local(policy, WEDNESDAY, window.start_minute // 60, window.start_minute % 60)
        closes = local(policy, WEDNESDAY, window.end_minute // 60, window.end_minute % 60)
        assert verdict(policy, "sms", opens - timedelta(minutes=1), []) == Deferred(opens, family)
        assert verdict(policy, "sms", opens, []) is ALLOWED
        assert verdict(policy, "sms", closes - timedelta(minutes=1), []) is ALLOWED
        assert isinstance(verdict(policy, "sms", closes, []), Deferred)
    elif family == "daily_cap":
        figure = policy.daily_caps[channel]
        today = [
            EarlierContact(channel, local(policy, WEDNESDAY, 9, n), connected=False)
            for n in range(figure)
        ]
        assert verdict(policy, channel, noon, today) == Deferred(opening, rule.name)
        assert verdict(policy, channel, noon, today[1:]) is ALLOWED
    elif family == "rolling_7d":
        figure = policy.rolling_caps_7d[channel]
        # Spread over the six days before: no daily cap is met on the way.
        week = [
            EarlierContact(
                channel, local(policy, WEDNESDAY - timedelta(days=1 + n % 6), 10), connected=False
            )
            for n in range(figure)
        ]
        assert verdict(policy, channel, noon, week) == Deferred(opening, rule.name)
        assert verdict(policy, channel, noon, week[1:]) is ALLOWED
    elif family == "post_conversation_quiet":
        days = policy.call_quiet_days_after_conversation
        last_quiet_day = WEDNESDAY - timedelta(days=days - 1)
        talked = calls([local(policy, last_quiet_day, 10)], connected=True, conversation=True)
        assert verdict(policy, "call", noon, talked) == Deferred(opening, rule.name)
        earlier = calls(
            [local(policy, last_quiet_day - timedelta(days=1), 10)],
            connected=True,
            conversation=True,
        )
        assert verdict(policy, "call", noon, earlier) is ALLOWED
    elif family == "accrual":
        at_accrual_figure(policy, rule)
    elif family == "connected_calls_per_day":
        connected = policy.connected_calls_per_day
        assert connected is not None
        today = calls([local(policy, WEDNESDAY, 9, n) for n in range(connected)], connected=True)
        assert verdict(policy, "call", noon, today) == Deferred(opening, rule.name)
        assert verdict(policy, "call", noon, today[1:]) is ALLOWED
    elif family == "unanswered_calls_per_number_per_day":
        unanswered = policy.unanswered_calls_per_number_per_day
        assert unanswered is not None
        number = "+8613800138000"
        today = calls(
            [local(policy, WEDNESDAY, 9, n) for n in range(unanswered)],
            connected=False,
            number=number,
        )
        assert verdict(policy, "call", noon, today, number) == Deferred(opening, rule.name)
        assert verdict(policy, "call", noon, today[1:], number) is ALLOWED
        assert verdict(policy, "call", noon, today, "+8613900139000") is ALLOWED
    elif family == "opt_out_notice":
        assert policy.opt_out_notice
        facts = NoticeFacts("L-1", None, "en", 5, 100, "USD")
        assert "STOP" in render_notice("reminder_friendly", "sms", facts, opt_out_notice=True)
        assert "UNSUBSCRIBE" in render_notice("reminder_friendly", "email", facts)
    else:
        raise AssertionError(f"no figure test for rule {rule.name}")


EVERY_RULE = [(name, rule) for name in available_policies() for rule in rules(name)]


@pytest.mark.parametrize(
    ("profile", "rule"), EVERY_RULE, ids=[f"{name}-{rule.name}" for name, rule in EVERY_RULE]
)
def test_every_rule_of_every_profile_holds_at_its_figure(profile: str, rule: Rule) -> None:
    at_figure(load_policy(profile), rule)


def test_every_cited_profile_rule_has_a_source() -> None:
    """The jurisdiction profiles cite a source for each rule the law sets."""
    cited = {name: {rule.name for rule in rules(name) if rule.source} for name in PROFILES}
    assert cited["cn-online-lending"] >= {
        "contact_window",
        "connected_calls_per_day",
        "unanswered_calls_per_number_per_day",
        "daily_cap.field_visit",
    }
    assert cited["us-reg-f"] >= {
        "contact_window",
        "rolling_7d.call",
        "post_conversation_quiet",
        "opt_out_notice",
    }


# -- bad policy files ------------------------------------------------------------
def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    if isinstance(value, int):
        return str(value)
    return json.dumps(value)


def to_toml(data: dict[str, Any]) -> str:
    """Enough TOML for these tests: scalars, tables (nested once), arrays of tables."""
    lines = [
        f"{key} = {toml_value(v)}"
        for key, v in data.items()
        if not isinstance(v, dict | list)
        or (isinstance(v, list) and not (v and isinstance(v[0], dict)))
    ]
    for key, value in data.items():
        if isinstance(value, dict):
            lines.append(f"[{key}]")
            lines += [
                f'"{k}" = {toml_value(v)}' for k, v in value.items() if not isinstance(v, dict)
            ]
            for sub, table in value.items():
                if isinstance(table, dict):
                    lines.append(f"[{key}.{sub}]")
                    lines += [f'"{k}" = {toml_value(v)}' for k, v in table.items()]
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            for entry in value:
                lines.append(f"[[{key}]]")
                lines += [f"{k} = {toml_value(v)}" for k, v in entry.items()]
    return "\n".join(lines) + "\n"


def good_file() -> dict[str, Any]:
    return {
        "name": "bad",
        "day_seconds": 86400,
        "grace_days": 1,
        "write_off_dpd": 100,
        "default_timezone": "Asia/Shanghai",
        "contact_window": {"start": "08:00", "end": "21:00"},
        "daily_caps": {"sms": 1},
        "ladder": [
            {"dpd": 2, "stage": "reminder", "channel": "sms", "template": "reminder_friendly"},
            {"dpd": 30, "stage": "legal", "channel": "legal", "template": "legal_referral"},
        ],
    }


def changed(path: str, value: Any) -> dict[str, Any]:
    """The good file with `value` at the dotted `path` (`ladder.0.channel`)."""
    data = good_file()
    *parents, last = path.split(".")
    target: Any = data
    for part in parents:
        target = target[int(part)] if isinstance(target, list) else target.setdefault(part, {})
    target[last] = value
    return data


BAD_FILES = [
    ("unknown channel", changed("ladder.0.channel", "fax"), "ladder[0].channel"),
    ("unknown cap channel", changed("daily_caps.fax", 1), "daily_caps.fax"),
    ("legal has no cap", changed("rolling_caps_7d.legal", 1), "rolling_caps_7d.legal"),
    ("unknown template", changed("ladder.0.template", "threat"), "ladder[0].template"),
    ("window ends before start", changed("contact_window.end", "07:00"), "contact_window.end"),
    ("not a time", changed("contact_window.start", "8am"), "contact_window.start"),
    (
        "weekday ends before start",
        changed("contact_window.weekdays.sat", "18:00-09:00"),
        "contact_window.weekdays.sat",
    ),
    (
        "unknown weekday",
        changed("contact_window.weekdays.caturday", "none"),
        "contact_window.weekdays.caturday",
    ),
    (
        "every weekday closed",
        changed(
            "contact_window.weekdays",
            dict.fromkeys(("mon", "tue", "wed", "thu", "fri", "sat", "sun"), "none"),
        ),
        "contact_window.weekdays",
    ),
    (
        "bad holiday",
        changed("contact_window.holidays", ["2026-02-30"]),
        "contact_window.holidays[0]",
    ),
    ("daily cap below zero", changed("daily_caps.sms", -1), "daily_caps.sms"),
    ("rolling cap below zero", changed("rolling_caps_7d.call", -1), "rolling_caps_7d.call"),
    ("connected cap below zero", changed("connected_calls_per_day", -1), "connected_calls_per_day"),
    (
        "unanswered cap below zero",
        changed("unanswered_calls_per_number_per_day", -1),
        "unanswered_calls_per_number_per_day",
    ),
    (
        "quiet days below zero",
        changed("call_quiet_days_after_conversation", -1),
        "call_quiet_days_after_conversation",
    ),
    ("bad timezone", changed("default_timezone", "Mars/Olympus_Mons"), "default_timezone"),
    ("unknown key", changed("contact_windows", {"start": "08:00"}), "contact_windows"),
    ("unknown window key", changed("contact_window.begin", "08:00"), "contact_window.begin"),
    ("unknown step key", changed("ladder.0.chanel", "sms"), "ladder[0].chanel"),
    ("unknown commitment", changed("commitments.promise_days", 3), "commitments.promise_days"),
    ("until without repeat", changed("ladder.0.until_dpd", 9), "ladder[0].until_dpd"),
    ("flag not a boolean", changed("opt_out_notice", "yes"), "opt_out_notice"),
    (
        "source of no rule",
        {**good_file(), "sources": {"rolling_7d.call": "12 CFR 1006"}},
        "sources.rolling_7d.call",
    ),
]


@pytest.fixture
def policy_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty policies folder in place of the shipped one, with `default` to extend."""
    (tmp_path / "default.toml").write_bytes(
        (PROJECT_DIR / "policies" / "default.toml").read_bytes()
    )
    monkeypatch.setattr(policies, "POLICY_DIR", tmp_path)
    return tmp_path


def test_a_good_file_loads(policy_dir: Path) -> None:
    (policy_dir / "bad.toml").write_text(to_toml(good_file()))
    assert load_policy("bad").daily_caps == {"sms": 1}


@pytest.mark.parametrize(
    ("data", "field"), [case[1:] for case in BAD_FILES], ids=[case[0] for case in BAD_FILES]
)
def test_a_bad_file_is_refused_naming_the_field(
    policy_dir: Path, data: dict[str, Any], field: str
) -> None:
    (policy_dir / "bad.toml").write_text(to_toml(data))
    with pytest.raises(InvalidInput) as caught:
        load_policy("bad")
    assert caught.value.field == f"policies/bad.toml: {field}"


def test_a_profile_extending_default_is_checked_like_any_file(policy_dir: Path) -> None:
    (policy_dir / "mine.toml").write_text(
        'extends = "default"\nname = "mine"\n[rolling_caps_7d]\ncall = 0\n'
    )
    with pytest.raises(InvalidInput) as caught:
        load_policy("mine")
    assert caught.value.field == "policies/mine.toml: rolling_caps_7d.call"
    assert "at least 1" in caught.value.problem


def test_a_policy_recorded_before_the_new_fields_decodes_to_no_new_caps() -> None:
    """Cases started earlier carry their policy in their history without the new fields."""
    from temporalio.converter import DataConverter

    default = load_policy("default")
    converter = DataConverter.default.payload_converter
    payload = converter.to_payloads([default])[0]
    recorded = json.loads(payload.data)
    for key in (
        "rolling_caps_7d",
        "call_quiet_days_after_conversation",
        "connected_calls_per_day",
        "unanswered_calls_per_number_per_day",
        "opt_out_notice",
    ):
        del recorded[key]
    del recorded["contact_window"]["weekdays"], recorded["contact_window"]["holidays"]
    payload.data = json.dumps(recorded).encode()
    decoded = converter.from_payloads([payload], [Policy])[0]
    assert decoded == default


# -- the compliance table of docs/compliance.md ---------------------------------------------
# Each proving test is in tests/unit, named here by its file there (as docs/compliance.md
# names it).
# The test proving each kind of rule's mechanism (each row is also proved at its figure by
# `test_every_rule_of_every_profile_holds_at_its_figure[<profile>-<rule>]`).
MECHANISM_TESTS = {
    "contact_window": "test_contact_rules.py::test_next_contact_time_is_the_first_allowed_moment",
    "daily_cap": "test_caps.py::test_the_daily_cap_counts_the_borrowers_local_day_not_utcs",
    "daily_cap.field_visit": "test_caps.py::test_field_visits_at_most_once_a_day",
    "rolling_7d": "test_caps.py::test_the_rolling_cap_counts_seven_consecutive_local_days",
    "post_conversation_quiet": (
        "test_caps.py::test_no_call_for_seven_days_from_a_conversation_its_day_the_first"
    ),
    "connected_calls_per_day": "test_caps.py::test_connected_calls_a_day_count_calls_not_yet_known",
    "unanswered_calls_per_number_per_day": (
        "test_caps.py::test_unanswered_calls_a_day_are_counted_per_number"
    ),
    "opt_out_notice": (
        "test_templates.py::test_sms_and_email_end_with_opt_out_unless_the_policy_says_otherwise"
    ),
    "accrual.annual_cap": (
        "test_debt.py::test_the_cap_holds_penalty_plus_interest_within_the_annual_rate"
    ),
    "accrual.fees_need_authorization": (
        "test_debt.py::test_without_authorisation_no_fee_or_penalty_can_be_added"
    ),
}


def mechanism_test(rule: str) -> str:
    return MECHANISM_TESTS.get(rule) or MECHANISM_TESTS[rule.split(".")[0]]


def compliance_table() -> str:
    lines = [
        "| profile | rule | figure | source | proved by |",
        "|---|---|---|---|---|",
    ]
    for name in available_policies():
        for rule in rules(name):
            source = rule.source or "policy choice"
            lines.append(
                f"| `{name}` | `{rule.name}` | {rule.figure} | {source} | "
                f"`{mechanism_test(rule.name)}` |"
            )
    return "\n".join(lines) + "\n"


def test_every_proving_test_exists() -> None:
    for reference in MECHANISM_TESTS.values():
        file, test = reference.split("::")
        assert re.search(
            rf"^def {test}\(", (PROJECT_DIR / "tests" / "unit" / file).read_text(), re.MULTILINE
        ), reference


def test_the_readme_lists_every_rule_of_every_profile() -> None:
    """docs/compliance.md's "Compliance rules" table is this one (regenerate it from here)."""
    page = (PROJECT_DIR / "docs" / "compliance.md").read_text()
    assert compliance_table() in page, (
        "docs/compliance.md's table is stale; it should be:\n" + compliance_table()
    )
