"""Each case worked by people has one responsible collector, chosen by round-robin.

The team that works a case: the desk users who are active, whose role works the case's stage
(`agent` the phone stage, `field` the field_visit stage), and whose list of buckets includes
the case's bucket (an empty list: every bucket). Other stages have no team, so a case gets a
responsible collector when it reaches the phone stage.

Round-robin: the team in order of user name; the next case goes to the first member whose
name comes after the last one assigned in that team, wrapping round to the first. If the last
one assigned has since left the team (deactivated, moved to other buckets), the turn passes
to whoever follows their name, so nobody is skipped or served twice. An empty team assigns
nobody.

A supervisor may reassign a case to any active user whose role works the case's stage, also
outside their bucket list (the supervisor decides); nobody else.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from domain import fields
from domain.errors import InvalidInput

AGENT = "agent"
FIELD = "field"
SUPERVISOR = "supervisor"
DESK_ROLES = (AGENT, FIELD, SUPERVISOR)
# The role whose users work each stage; a stage not listed is worked by nobody on the desk.
STAGE_ROLES = {"phone": AGENT, "field_visit": FIELD}
# The roles that may be responsible for a case (the rota's and `assign_collector`'s).
ROLES = (AGENT, FIELD)
# Who picked the person when the rota did (an assignment's `assigned_by`).
ROTA = "rota"
# Desk user names (`migrations.desk_tables.USER_NAME_MAX`): at most this many characters.
USER_NAME_MAX = 64


@dataclass(frozen=True)
class DeskUser:
    name: str
    role: str  # one of DESK_ROLES
    active: bool = True
    buckets: tuple[str, ...] = ()  # the buckets this user works; empty: every bucket

    def works(self, stage: str, bucket: str) -> bool:
        """Whether this user is in the team of a case in `stage` and `bucket`."""
        return self.works_stage(stage) and (not self.buckets or bucket in self.buckets)

    def works_stage(self, stage: str) -> bool:
        return self.active and STAGE_ROLES.get(stage) == self.role


def team(users: Iterable[DeskUser], *, stage: str, bucket: str) -> list[str]:
    """The names of the team working a case in `stage` and `bucket`, in order of name."""
    return sorted(user.name for user in users if user.works(stage, bucket))


def next_assignee(team_names: Sequence[str], last: str | None) -> str | None:
    """The round-robin's next member after `last` (None: nobody assigned yet) in the team
    (ordered by name); None if the team is empty."""
    ordered = sorted(team_names)
    if not ordered:
        return None
    if last is not None:
        for name in ordered:
            if name > last:
                return name
    return ordered[0]


def assign(users: Iterable[DeskUser], *, stage: str, bucket: str, last: str | None) -> str | None:
    """The responsible collector for a new case in `stage` and `bucket`, given the last user
    assigned in that team."""
    return next_assignee(team(users, stage=stage, bucket=bucket), last)


def check_reassignment(target: DeskUser | None, *, stage: str) -> None:
    """A supervisor reassigns a case in `stage` to `target` (None: no such user); raises
    `InvalidInput("assignee")` naming why not."""
    role = STAGE_ROLES.get(stage)
    if role is None:
        raise InvalidInput("assignee", f"a case in stage {stage!r} has no responsible collector")
    if target is None:
        raise InvalidInput("assignee", "is not a desk user")
    if not target.active:
        raise InvalidInput("assignee", f"{target.name} is not active")
    if target.role != role:
        raise InvalidInput("assignee", f"a case in stage {stage!r} needs a user of role {role!r}")


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
