"""A responsible collector per case: round-robin in the team of the case's stage and bucket,
and a supervisor's reassignment."""

from __future__ import annotations

import pytest

from domain.assignment import DeskUser, assign, check_reassignment, next_assignee, team
from domain.errors import InvalidInput

USERS = [
    DeskUser("carol", "agent"),
    DeskUser("alice", "agent", buckets=("M1", "M2")),
    DeskUser("bob", "agent", active=False),
    DeskUser("dave", "agent", buckets=("M3",)),
    DeskUser("erin", "field"),
    DeskUser("sam", "supervisor"),
]


def test_the_team_is_the_active_users_of_the_stages_role_and_bucket_by_name() -> None:
    assert team(USERS, stage="phone", bucket="M1") == ["alice", "carol"]
    assert team(USERS, stage="phone", bucket="M3") == ["carol", "dave"]
    assert team(USERS, stage="field_visit", bucket="M3") == ["erin"]
    assert team(USERS, stage="reminder", bucket="M1") == []


def test_round_robin_takes_turns_and_wraps() -> None:
    names = ["alice", "carol", "dave"]
    assert next_assignee(names, None) == "alice"
    assert next_assignee(names, "alice") == "carol"
    assert next_assignee(names, "dave") == "alice"


def test_round_robin_skips_an_inactive_user_and_follows_one_who_left() -> None:
    # bob is inactive: after alice comes carol, not bob.
    assert assign(USERS, stage="phone", bucket="M4+", last="alice") == "carol"
    # The last one assigned (bob) has left the team: the turn passes to whoever follows him.
    assert assign(USERS, stage="phone", bucket="M1", last="bob") == "carol"
    assert assign(USERS, stage="phone", bucket="M1", last="carol") == "alice"


def test_an_empty_team_assigns_nobody() -> None:
    assert next_assignee([], "alice") is None
    assert assign(USERS, stage="legal", bucket="M4+", last=None) is None


def test_a_supervisor_reassigns_to_an_active_user_of_the_stages_role() -> None:
    check_reassignment(DeskUser("dave", "agent", buckets=("M3",)), stage="phone")  # any bucket
    refused = {
        "an inactive user": (DeskUser("bob", "agent", active=False), "phone"),
        "the wrong role": (DeskUser("erin", "field"), "phone"),
        "a supervisor": (DeskUser("sam", "supervisor"), "field_visit"),
        "nobody": (None, "phone"),
        "a stage nobody works": (DeskUser("carol", "agent"), "legal"),
    }
    for target, stage in refused.values():
        with pytest.raises(InvalidInput) as caught:
            check_reassignment(target, stage=stage)
        assert caught.value.field == "assignee"
