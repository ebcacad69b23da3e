"""The rota: a case entering phone or field collection gets the next collector of its team.

The team is every active desk user of the stage's role whose buckets include the case's bucket
(`domain.assignment`), in the order of user names; the next in turn follows the one in the
team's latest assignment (`migrations.desk_tables.DeskAssignmentRow`). The pick is written in
the same transaction as it is read, keyed by the case's request id: a retried activity finds
its own row and answers the same person. An empty team answers None and writes nothing.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import Session, col, select
from temporalio import activity

import contracts
from activities.activity_base import ActivityBase
from contracts import AssignRequest, AssignResult
from domain.assignment import STAGE_ROLES, next_in_rota, team_key, works_bucket
from migrations.desk_tables import DeskAssignmentRow, DeskUserRow
from migrations.tables import utc_iso

log = activity.logger


class Assignment(ActivityBase):
    @activity.defn(name=contracts.ASSIGN_COLLECTOR)
    def assign_collector(self, request: AssignRequest) -> AssignResult:
        role = STAGE_ROLES.get(request.stage)
        if role is None:
            raise ValueError(f"no collector works the {request.stage!r} stage")
        team = team_key(role, request.bucket)
        user_name = self.store.write_racing(lambda session: _pick(session, request, role, team))
        log.info(
            "case assigned: loan_id=%s case_id=%s team=%s user=%s",
            request.loan_id,
            request.case_id,
            team,
            user_name or "(nobody in the team)",
        )
        return AssignResult(request_id=request.request_id, team=team, user_name=user_name)


def _pick(session: Session, request: AssignRequest, role: str, team: str) -> str | None:
    """The person this request got before, else the next in the team's rota (recorded)."""
    earlier = session.get(DeskAssignmentRow, request.request_id)
    if earlier is not None:
        return earlier.user_name
    users = session.exec(
        select(DeskUserRow).where(col(DeskUserRow.role) == role, col(DeskUserRow.active))
    ).all()
    members = sorted(user.user_name for user in users if works_bucket(user.buckets, request.bucket))
    latest = session.exec(
        select(DeskAssignmentRow)
        .where(col(DeskAssignmentRow.team) == team)
        .order_by(col(DeskAssignmentRow.assigned_at).desc())
        .limit(1)
    ).first()
    user_name = next_in_rota(members, latest.user_name if latest else None)
    if user_name is None:
        return None
    now = utc_iso()
    if latest is not None and now <= latest.assigned_at:
        # Strictly after the team's latest, so the next turn reads this one (clocks of workers
        # differ; text order is time order at a fixed width).
        now = utc_iso(datetime.fromisoformat(latest.assigned_at) + timedelta(microseconds=1))
    session.add(
        DeskAssignmentRow(
            request_id=request.request_id,
            loan_id=request.loan_id,
            team=team,
            user_name=user_name,
            assigned_by="rota",
            assigned_at=now,
        )
    )
    return user_name
