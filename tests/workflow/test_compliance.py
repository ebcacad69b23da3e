"""Compliance as a whole case lives it, on the time-skipping test server with the real
activities and case database: the contact window, caps over all of a borrower's loans, and an
opt-out that moves the reminders to another channel."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from temporalio.testing import WorkflowEnvironment

import policies
from activities.store import Store
from domain.contact_rules import spread_opening
from domain.timing import SEND_MARGIN
from migrations.tables import BorrowerChannelRow, utc_iso
from tests.helpers.cases import case_input, end_case, rows, start_case, written
from tests.helpers.temporal import CaseWorld, advance_to_local_time, make_worker
from workflows.collection_case import CollectionCase

SHANGHAI = ZoneInfo("Asia/Shanghai")
# One borrower for every loan of a test.
BORROWER = {**case_input(date.today())["borrower"], "borrower_id": "B-77"}


async def test_a_reminder_due_at_23_goes_out_when_the_window_opens(
    own_time_env_from_night_or_day: WorkflowEnvironment, case_world: CaseWorld
) -> None:
    env = own_time_env_from_night_or_day
    async with make_worker(env.client, case_world):
        opened = await advance_to_local_time(env, time(23, 0))
        handle = await start_case(env, case_world, days_overdue=3)  # the SMS of DPD 3 is due
        await env.sleep(timedelta(hours=12))
        status = await handle.query(CollectionCase.status)
        await written(
            case_world, "select count(*) from case_events where kind = 'contact_deferred'", 1
        )
        await end_case(handle)

    # The audit log says why it waited: the contact window, until 08:00.
    [(detail,)] = rows(case_world, "select detail from case_events where kind = 'contact_deferred'")
    deferral = json.loads(detail)
    assert (deferral["rule"], deferral["channel"]) == ("contact_window", "sms")
    assert datetime.fromisoformat(deferral["until"]).astimezone(SHANGHAI).hour == 8
    [sms] = [contact for contact in status["contacts"] if contact["channel"] == "sms"]
    sent = datetime.fromisoformat(sms["at"]).astimezone(SHANGHAI)
    # Not dropped, not at 23:00, not late: at the opening of the window, 08:00 the next day.
    assert (sent.date(), sent.hour, sent.minute) == (opened.date() + timedelta(days=1), 8, 0)


SPREAD_POLICY = """
extends = "default"
name = "spread"
description = "default, with the contacts that wait for the window spread over its first hour"

[contact_window]
start = "08:00"
end = "21:00"
spread_minutes = 60
"""


@pytest.fixture
def spread_policy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The shipped policies and one more, `spread`, that spreads the morning over an hour."""
    folder = tmp_path / "policies"
    shutil.copytree(policies.POLICY_DIR, folder)
    (folder / "spread.toml").write_text(SPREAD_POLICY)
    monkeypatch.setattr(policies, "POLICY_DIR", folder)
    return "spread"


async def test_a_spread_policy_sends_at_the_cases_own_moment_of_the_morning(
    own_time_env_from_night_or_day: WorkflowEnvironment,
    case_world: CaseWorld,
    spread_policy: str,
) -> None:
    """The policy travels with the case (its preparation's result) into its decisions: the
    reminder due at 23:00 goes out at the loan's own moment of the next morning's first hour,
    not at 08:00:00 with every other case due that day."""
    env = own_time_env_from_night_or_day
    async with make_worker(env.client, case_world):
        opened = await advance_to_local_time(env, time(23, 0))
        handle = await start_case(env, case_world, days_overdue=3, policy=spread_policy)
        await env.sleep(timedelta(hours=12))
        status = await handle.query(CollectionCase.status)
        loan_id = (await handle.describe()).id.removeprefix("collection-")
        await end_case(handle)

    opening = datetime.combine(opened.date() + timedelta(days=1), time(8), tzinfo=SHANGHAI)
    window = policies.load_policy(spread_policy).contact_window
    assert window is not None and window.spread_minutes == 60
    moment = spread_opening(
        opening, key=loan_id, timezone="Asia/Shanghai", window=window, margin=SEND_MARGIN
    )
    [sms] = [contact for contact in status["contacts"] if contact["channel"] == "sms"]
    sent = datetime.fromisoformat(sms["at"])
    # Its timer fires at the moment; the send is recorded as it runs, a moment later.
    assert moment <= sent < moment + timedelta(seconds=5)
    assert opening <= moment < opening + timedelta(hours=1)


async def test_three_loans_of_one_borrower_share_the_borrowers_caps(
    own_time_env_from_night_or_day: WorkflowEnvironment, case_world: CaseWorld
) -> None:
    env = own_time_env_from_night_or_day
    async with make_worker(env.client, case_world):
        await advance_to_local_time(env, time(10, 0))
        # Three overdue loans of borrower B-77, each with its SMS of DPD 3 due at once.
        handles = [
            await start_case(env, case_world, days_overdue=3, borrower=BORROWER) for _ in range(3)
        ]
        await env.sleep(timedelta(days=4))
        await written(
            case_world,
            "select count(*) from case_events where kind = 'contact_not_sent'",
            2,
        )
        for handle in handles:
            await end_case(handle)

    contacts = rows(
        case_world,
        "select channel, created_at from contact_attempts where channel in ('sms', 'email')",
    )
    per_day = Counter(
        (channel, datetime.fromisoformat(at).astimezone(SHANGHAI).date())
        for channel, at in contacts
    )
    # One SMS and one email a local day for the borrower, however many loans they have.
    assert len({channel for channel, _ in per_day}) == 2
    assert set(per_day.values()) == {1}, per_day
    # Every reminder a cap held back is on record with the rule's name.
    deferrals = [
        json.loads(detail)
        for (detail,) in rows(
            case_world, "select detail from case_events where kind = 'contact_not_sent'"
        )
    ]
    assert {deferral["rule"] for deferral in deferrals} >= {"daily_cap.sms"}


async def test_an_sms_opt_out_moves_the_reminders_to_email(
    own_time_env_from_night_or_day: WorkflowEnvironment, case_world: CaseWorld
) -> None:
    env = own_time_env_from_night_or_day
    store = Store.from_url(case_world.database_url)
    store.migrate()
    # The borrower replied STOP to an earlier loan's text: no SMS on any of their loans.
    store.insert_if_absent(
        BorrowerChannelRow(
            borrower_id="B-77",
            channel="sms",
            state="opted_out",
            source="inbound_reply",
            at=utc_iso(),
        )
    )
    store.dispose()
    async with make_worker(env.client, case_world):
        await advance_to_local_time(env, time(10, 0))
        handle = await start_case(env, case_world, days_overdue=3, borrower=BORROWER)
        await env.sleep(timedelta(days=5))  # past the SMS of DPD 7
        status = await handle.query(CollectionCase.status)
        await end_case(handle)

    sent = [(c["channel"], c["template"], c["result"]) for c in status["contacts"]]
    # The SMS of DPD 3 is blocked by the opt-out (on record), and the SMS of DPD 7 goes by
    # email instead; nothing more is sent by text.
    assert sent[0] == ("sms", "reminder_friendly", "blocked")
    assert ("email", "reminder_firm", "sent") in sent
    assert [c for c in sent[1:] if c[0] == "sms"] == []
    blocked = rows(case_world, "select status, note from contact_attempts where channel = 'sms'")
    assert blocked == [("blocked", "opt_out")]
