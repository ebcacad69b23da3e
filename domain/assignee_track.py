"""The person responsible for a case: picked by the rota when the case enters phone or field
collection, or named by a supervisor (`assign_collector`). Who it is shows in `status`
(`assignee`) and in the `CollectionAssignee` search attribute; every change is on the audit
log with who made it."""

from __future__ import annotations

from typing import Any

from domain.assignment import ROTA, STAGE_ROLES, AssignmentRequest, role_of_stage, team_key
from domain.audit import AuditFact, AuditKind
from domain.case_core import CaseCore


class AssigneeTrack(CaseCore):
    def assignment_due(self, bucket: str) -> tuple[str, str] | None:
        """The role and team (`agent:M2`) to ask the rota for: a case in phone or field
        collection with nobody of that role yet, unless that team was found empty (a case
        moving to another bucket asks its new team)."""
        role = STAGE_ROLES.get(self.stage)
        if role is None or self.closed or role in self.assignees:
            return None
        team = team_key(role, bucket)
        return None if team in self.unstaffed_teams else (role, team)

    def assign_by_rota(self, role: str, team: str, user_name: str | None) -> bool:
        """Take the rota's pick for `role`; True if it is now the case's assignee. None (nobody
        in the team) leaves the case unassigned, and the team is not asked again. A pick that
        comes back after a supervisor named someone for the role, or after the case closed, is
        not taken: the rota asked for the case's first person, not to replace one."""
        if role in self.assignees or self.closed:
            return False
        if user_name is None:
            self.unstaffed_teams.append(team)
            return False
        self._assign(role, user_name, assigned_by=ROTA, ref_id=f"rota:{role}", team=team)
        return True

    def check_assignment(self, request: AssignmentRequest) -> None:
        self._check_open_for("assignment", request.message_id, request)

    def take_assignment(self, request: AssignmentRequest) -> dict[str, Any]:
        """A supervisor names the responsible person: for the role the case's stage needs (an
        agent before field visits, else a field collector), so the rota does not replace them."""
        self.check_assignment(request)
        earlier = self.earlier_answer("assignment", request.message_id, request)
        if earlier is not None:
            return earlier
        previous = self.assignee
        self._assign(
            role_of_stage(self.stage),
            request.user_name,
            assigned_by=request.source,
            ref_id=request.message_id,
        )
        return self._answer(
            "assignment",
            request.message_id,
            request,
            {
                "message_id": request.message_id,
                "user_name": request.user_name,
                "previous": previous,
                "status": self.status,
            },
        )

    def _assign(
        self, role: str, user_name: str, *, assigned_by: str, ref_id: str, team: str | None = None
    ) -> None:
        self.assignees[role] = user_name
        self.assignee = user_name
        detail: dict[str, str | int | None] = {
            "user_name": user_name,
            "assigned_by": assigned_by,
            "role": role,
            "stage": self.stage,
        }
        if team is not None:
            detail["team"] = team
        self.journal.append(AuditFact(AuditKind.ASSIGNED, ref_id, detail))
