"""The person responsible for a case: the rota's pick when the case enters phone or field
collection (the `assign_collector` activity), and a supervisor's choice (the `assign_collector`
update). The case keeps who it is (`status.assignee`) and shows it in the `CollectionAssignee`
search attribute; the audit log records every assignment with who made it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

from workflows import search_attributes as attrs
from workflows.case_base import DB_TIMEOUT, answering
from workflows.case_messages import CaseMessages

with workflow.unsafe.imports_passed_through():
    import contracts
    from domain.assignment import parse_assignment
    from domain.case_state import CaseState
    from domain.clock import bucket

# The rota is a convenience, not a step of collection: a desk database that does not answer
# leaves the case unassigned for now (asked again when it next wakes), never holds it up.
ASSIGN_TRIES = RetryPolicy(maximum_attempts=3, maximum_interval=timedelta(seconds=10))
ASSIGNMENT_REJECTED = "InvalidAssignment"


class CaseAssignment(CaseMessages):
    async def _assign_if_due(self, state: CaseState) -> None:
        """Ask the rota for a collector when the case is in phone or field collection and has
        nobody of that role yet. Awaits nothing otherwise."""
        bucket_now = bucket(self._days_past_due())
        due = state.assignment_due(bucket_now)
        # Added after cases were running: histories recorded before it assigned nobody.
        if due is None or not self._changed("assign-collector"):
            return
        role, team = due
        request = contracts.AssignRequest(
            case_id=self._case_id,
            loan_id=state.case.loan_id,
            bucket=bucket_now,
            stage=state.stage,
            # The same request for the case's role in every run: a retry, or a run carried
            # over before the answer came, gets the same person.
            request_id=f"{self._case_id}:assign:{role}",
        )
        # A case begun with every change asks the rota inside the workflow task that found the
        # assignment due (a local activity: one marker, where an activity costs three events
        # and a workflow task of its own); a case begun before asks as it always did.
        execute = (
            workflow.execute_local_activity if self._all_changes else workflow.execute_activity
        )
        try:
            result: contracts.AssignResult = await execute(
                contracts.ASSIGN_COLLECTOR,
                request,
                result_type=contracts.AssignResult,
                start_to_close_timeout=DB_TIMEOUT,
                retry_policy=ASSIGN_TRIES,
                summary=f"Assign collector · {team}",
            )
        except ActivityError as error:
            workflow.logger.warning("collector not assigned (%s): %s", team, error.cause)
            return
        # Checked again after the await: a supervisor may have named someone meanwhile.
        if state.assign_by_rota(role, team, result.user_name):
            self._show_assignee(state)
        elif result.user_name is None:
            workflow.logger.info("nobody active in team %s: the case stays unassigned", team)

    def _show_assignee(self, state: CaseState) -> None:
        if state.assignee is not None:
            workflow.upsert_search_attributes([attrs.ASSIGNEE.value_set(state.assignee)])
        self._publish(state)

    @workflow.update(name="assign_collector")
    def assign_collector(self, assignment: Any) -> dict[str, Any]:
        """A supervisor makes `user_name` responsible for the case (the desk checked that the
        user exists; the case checks the message's shape)."""
        state = self._taking(ASSIGNMENT_REJECTED)
        before = state.assignee
        answer = answering(
            ASSIGNMENT_REJECTED, lambda: state.take_assignment(parse_assignment(assignment))
        )
        if state.assignee != before:
            self._show_assignee(state)
        return answer

    @assign_collector.validator
    def _validate_assignment(self, assignment: Any) -> None:
        state = self._require_state(ASSIGNMENT_REJECTED)
        answering(ASSIGNMENT_REJECTED, lambda: state.check_assignment(parse_assignment(assignment)))
