"""The clock of the time-skipping test server, moved to an hour of the day: a test that needs
one gets it whatever the hour the suite runs at."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from temporalio.testing import WorkflowEnvironment

from domain.contact_rules import is_inside
from policies import available_policies, load_policy
from tests.helpers.temporal import (
    BORROWER_TIMEZONE,
    CLOCK_START_VARIABLE,
    NIGHT_OR_DAY,
    advance_to_local_time,
    start_at_stated_hour,
    stated_clock_start,
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


@pytest.mark.parametrize("stated", ["24:00", "9:30", "noon"])
def test_a_clock_start_that_is_no_time_of_day_is_refused_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, stated: str
) -> None:
    monkeypatch.setenv(CLOCK_START_VARIABLE, stated)
    with pytest.raises(pytest.fail.Exception, match=f"^{CLOCK_START_VARIABLE}: '{stated}' is not"):
        stated_clock_start()


async def test_a_test_from_night_or_day_begins_at_its_hour(
    own_time_env_from_night_or_day: WorkflowEnvironment, request: pytest.FixtureRequest
) -> None:
    start: time = request.node.callspec.params["own_time_env_from_night_or_day"]
    begun = await local_now(own_time_env_from_night_or_day)
    assert (begun.hour, begun.minute) == (start.hour, start.minute)


def test_night_or_day_is_one_hour_outside_and_one_inside_every_policys_window() -> None:
    """Else the tests run from both would not prove that their verdict ignores the hour."""
    some_day = date(2026, 3, 2)
    windows = {name: load_policy(name).contact_window for name in available_policies()}
    for name, window in windows.items():
        if window is None:
            continue
        inside = [
            is_inside(
                datetime.combine(some_day, start, tzinfo=BORROWER_TIMEZONE),
                timezone=str(BORROWER_TIMEZONE),
                window=window,
            )
            for start in NIGHT_OR_DAY
        ]
        assert inside == [False, True], name
    assert [name for name, window in windows.items() if window is None] == ["demo"]
