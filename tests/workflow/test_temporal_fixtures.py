"""The clock of the time-skipping test server, moved to an hour of the day: a test that needs
one gets it whatever the hour the suite runs at."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.helpers.temporal import (
    BORROWER_TIMEZONE,
    CLOCK_START_VARIABLE,
    advance_to_local_time,
    start_at_stated_hour,
)

NEW_YORK = ZoneInfo("America/New_York")


async def local_now(env: WorkflowEnvironment, timezone: ZoneInfo = BORROWER_TIMEZONE) -> datetime:
    return (await env.get_current_time()).astimezone(timezone)


async def test_the_clock_moves_forward_to_the_next_stated_local_time(
    own_time_env: WorkflowEnvironment,
) -> None:
    env = own_time_env
    eleven = await advance_to_local_time(env, time(11, 0))
    assert (eleven.hour, eleven.minute, eleven.second) == (11, 0, 0)
    assert timedelta(0) <= await local_now(env) - eleven < timedelta(minutes=1)
    # 10:00 has passed today, and the server's clock never goes back: tomorrow's 10:00.
    ten = await advance_to_local_time(env, time(10, 0))
    assert ten - eleven == timedelta(hours=23)
    assert timedelta(0) <= await local_now(env) - ten < timedelta(minutes=1)
    # Another zone's clock (New York's offset changes with the date: computed, not assumed).
    opening = await advance_to_local_time(env, time(9, 30), NEW_YORK)
    assert (opening.astimezone(NEW_YORK).hour, opening.astimezone(NEW_YORK).minute) == (9, 30)
    assert timedelta(0) < opening - ten <= timedelta(days=1)
    assert timedelta(0) <= await local_now(env, NEW_YORK) - opening < timedelta(minutes=1)


async def test_a_stated_clock_start_moves_the_clock_there_and_none_leaves_it(
    own_time_env: WorkflowEnvironment, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = own_time_env
    monkeypatch.setenv(CLOCK_START_VARIABLE, "21:30")
    await start_at_stated_hour(env)
    started = await local_now(env)
    assert (started.hour, started.minute) == (21, 30)
    monkeypatch.delenv(CLOCK_START_VARIABLE)
    await start_at_stated_hour(env)
    assert await local_now(env) - started < timedelta(minutes=1)


async def test_a_test_from_night_or_day_begins_at_its_hour(
    own_time_env_from_night_or_day: WorkflowEnvironment, request: pytest.FixtureRequest
) -> None:
    start: time = request.node.callspec.params["own_time_env_from_night_or_day"]
    begun = await local_now(own_time_env_from_night_or_day)
    assert (begun.hour, begun.minute) == (start.hour, start.minute)
