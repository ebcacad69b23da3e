"""The simulator's borrowers played against real cases on the time-skipping server.

The contact activities are the real ones, each followed by a note of the contact; for a
contact the borrower answers, an alarm (`tests.helpers.alarms`) is set for the moment the
simulator answers it (the contact's moment plus the behaviour's delay). When it rings, the
borrower reads the case's `status`, answers with the simulator's own function
(`domain.simulation.answers`) and sends the messages through the contract's updates, one after
the other, each once the case has settled after the one before (as the simulator has the case
decide between two messages); later turns (a promised payment on its day) get alarms of their
own. So the real cases meet the same borrowers at the same moments as the simulated ones.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import asdict
from datetime import date, datetime, timedelta
from typing import Any

from temporalio import activity
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle

import contracts
from activities.case_activities import CollectionActivities
from contracts import ContactRequest, ContactResult
from domain.case import CaseInput
from domain.clock import case_clock
from domain.policy import Policy
from domain.simulation.answers import Borrower, CaseView, Contacted, Message
from domain.simulation.behaviours import Behaviours
from domain.simulation.portfolio import ANSWERED_RESULTS, Loan
from tests.helpers.alarms import RING, Alarm
from tests.helpers.cases import until_idle


class BorrowersOnCases:
    """The borrowers of `loans` under `policy`, answering their real cases."""

    def __init__(
        self,
        client: Client,
        task_queue: str,
        loans: Sequence[Loan],
        policy: Policy,
        behaviours: Behaviours,
        *,
        seed: int,
        opened_at: datetime,
    ) -> None:
        self.client, self.task_queue, self.policy = client, task_queue, policy
        self.opened_at = opened_at
        self.cases = {loan.case.loan_id: loan.case for loan in loans}
        self.borrowers = {
            loan.case.loan_id: Borrower(
                behaviours.of(loan.segment), policy.commitments, policy.day_seconds, seed
            )
            for loan in loans
        }
        self.stopped_answering: set[str] = set()
        # Updates the cases refused: the simulator's borrowers never send one (the test checks).
        self.refused: list[str] = []
        self._alarms = 0

    def workflows(self) -> list[type]:
        return [Alarm]

    def activities(self, real: CollectionActivities) -> tuple[list[Callable[..., Any]], list[Any]]:
        """The stand-ins of the contact activities (the real ones, then a note of the contact),
        and the alarm's activity."""

        def noting(name: str, real_one: Callable[[ContactRequest], ContactResult]) -> Any:
            @activity.defn(name=name)
            async def contact(request: ContactRequest) -> ContactResult:
                result = await asyncio.to_thread(real_one, request)
                await self._contact_made(request, result)
                return result

            return contact

        stand_ins = [
            noting(contracts.SEND_NOTICE, real.send_notice),
            noting(contracts.QUEUE_CALL, real.queue_call),
            noting(contracts.BOOK_FIELD_VISIT, real.book_field_visit),
        ]

        @activity.defn(name=RING)
        async def ring(payload: dict[str, Any]) -> None:
            await self._rings(payload)

        return stand_ins, [ring]

    # -- contacts ---------------------------------------------------------------------
    async def _contact_made(self, request: ContactRequest, result: ContactResult) -> None:
        delay = self.borrowers[request.loan_id].answers_after(request.channel)
        if result.result not in ANSWERED_RESULTS or delay is None:
            return
        payload = {
            "loan_id": request.loan_id,
            "attempt_id": request.attempt_id,
            "channel": request.channel,
        }
        await self._alarm(datetime.fromisoformat(request.scheduled_at) + delay, payload)

    async def _alarm(self, at: datetime, payload: dict[str, Any]) -> None:
        self._alarms += 1
        await self.client.start_workflow(
            Alarm.run,
            args=[at.isoformat(), payload],
            id=f"alarm-{self._alarms}-{payload['loan_id']}",
            task_queue=self.task_queue,
        )

    # -- the borrowers' turns -------------------------------------------------------------
    async def _rings(self, payload: dict[str, Any]) -> None:
        loan_id = str(payload["loan_id"])
        handle = self.client.get_workflow_handle(f"collection-{loan_id}")
        now = datetime.fromisoformat(payload["rang_at"])
        if "messages" in payload:
            await self._send(handle, [Message(**m) for m in payload["messages"]])
            return
        if not await _running(handle):
            return
        status = await handle.query("status")
        position = [c["attempt_id"] for c in status["contacts"]].index(payload["attempt_id"])
        contacted = Contacted(payload["channel"], payload["attempt_id"], position)
        answer = self.borrowers[loan_id].answer(
            contacted,
            CaseView.of_status(status, self._today(loan_id, now)),
            now,
            stopped=loan_id in self.stopped_answering,
        )
        if answer.given == "stop_answering":
            self.stopped_answering.add(loan_id)
        if answer.turns:
            await self._send(handle, answer.turns[0].messages)
        for turn in answer.turns[1:]:
            later = {"loan_id": loan_id, "messages": [asdict(m) for m in turn.messages]}
            await self._alarm(turn.at, later)

    def _today(self, loan_id: str, now: datetime) -> date:
        """Today in the case's calendar (as `domain.timing.case_today` counts it)."""
        case: CaseInput = self.cases[loan_id]
        timezone = case.borrower.timezone or self.policy.default_timezone
        clock = case_clock(case.due, timezone, self.opened_at, self.policy.day_seconds)
        return case.due + timedelta(days=clock.days_past_due(now))

    async def _send(self, handle: WorkflowHandle[Any, Any], messages: Sequence[Message]) -> None:
        for message in messages:
            if not await _running(handle):
                return
            try:
                await handle.execute_update(message.update, message.body, result_type=dict)
            except Exception as error:  # noted, and the test fails on it
                self.refused.append(f"{handle.id} {message.update} {message.body}: {error}")
                return
            await until_idle(handle)


async def _running(handle: WorkflowHandle[Any, Any]) -> bool:
    """Whether the case still takes messages (its linger is not over)."""
    return (await handle.describe()).status == WorkflowExecutionStatus.RUNNING
