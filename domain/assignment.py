"""Who is responsible for a case: the rota of a team, and the roles the stages need.

A case entering phone collection gets an agent, one entering field visits a field collector.
The team that works a case is every active desk user of that role whose buckets include the
case's bucket (a user with no buckets works every bucket). Its members take cases in turn by
user name (`next_in_rota`); a supervisor may hand a case to someone else at any time (the
case's `assign_collector` update). Pure rules only: the team is read by the `assign_collector`
activity, the case keeps who was picked.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from domain import fields
from domain.errors import InvalidInput

# The role whose people work a case in each stage that has a responsible person.
STAGE_ROLES: dict[str, str] = {"phone": "agent", "field_visit": "field"}
ROLES = ("agent", "field")
# Who picked the person when the rota did (an assignment's `assigned_by`).
ROTA = "rota"
# Desk user names (`migrations.desk_tables.USER_NAME_MAX`): at most this many characters.
USER_NAME_MAX = 64


def next_in_rota(team: Sequence[str], last: str | None) -> str | None:
    """The team member whose turn it is: the one after `last` (who took the team's latest
    case) in the order of user names, wrapping round after the last name; the first when
    nobody took a case yet or `last` is no longer in the team (then the first name after
    `last` in that order, so a departure does not send the turn back to the start). None for
    an empty team.

    >>> next_in_rota(["ann", "bob", "cy"], "bob")
    'cy'
    >>> next_in_rota(["ann", "bob", "cy"], "cy")
    'ann'
    """
    members = sorted(set(team))
    if not members:
        return None
    if last is None:
        return members[0]
    return next((name for name in members if name > last), members[0])


def team_key(role: str, bucket: str) -> str:
    """The rota a case joins: its role and bucket (`agent:M2`)."""
    return f"{role}:{bucket}"


def works_bucket(buckets: str, bucket: str) -> bool:
    """Whether a desk user whose buckets are `buckets` ("M1,M2"; empty: all) works `bucket`."""
    listed = {item.strip() for item in buckets.split(",") if item.strip()}
    return not listed or bucket in listed


def role_of_stage(stage: str) -> str:
    """The role a supervisor's assignment is for: the stage's own, and before phone collection
    the agents' (the first people who will work the case); from field visits on, field
    collectors'."""
    if stage in STAGE_ROLES:
        return STAGE_ROLES[stage]
    return "field" if stage in ("legal", "closed") else "agent"


@dataclass(frozen=True)
class AssignmentRequest:
    """A supervisor's `assign_collector` message: who is now responsible, who says so."""

    message_id: str
    user_name: str
    source: str


def parse_assignment(raw: Any) -> AssignmentRequest:
    """The update's argument `{"message_id", "user_name", "source"}`; the desk checks that the
    user exists, the case only the shape."""
    data = fields.as_object(raw, "assignment")
    user_name = fields.bounded_text(data, "user_name", required=True, max_chars=USER_NAME_MAX)
    if user_name != user_name.strip() or any(not char.isprintable() for char in user_name):
        raise InvalidInput("user_name", "must be a user name, without spaces around it")
    return AssignmentRequest(
        message_id=fields.message_id(data, "message_id"),
        user_name=user_name,
        source=fields.bounded_text(data, "source", required=True, max_chars=USER_NAME_MAX),
    )
