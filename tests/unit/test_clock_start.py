"""The hours the tests' clocks may start at, checked without a server."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from domain.contact_rules import is_inside
from policies import available_policies, load_policy
from tests.helpers.temporal import (
    BORROWER_TIMEZONE,
    CLOCK_START_VARIABLE,
    NIGHT_OR_DAY,
    stated_clock_start,
)


@pytest.mark.parametrize("stated", ["24:00", "9:30", "noon"])
def test_a_clock_start_that_is_no_time_of_day_is_refused_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, stated: str
) -> None:
    monkeypatch.setenv(CLOCK_START_VARIABLE, stated)
    with pytest.raises(pytest.fail.Exception, match=f"^{CLOCK_START_VARIABLE}: '{stated}' is not"):
        stated_clock_start()


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
    # The demo's own policies: callable at any hour, so a demo works whenever it is run.
    assert [name for name, window in windows.items() if window is None] == ["demo", "demo-desk"]
