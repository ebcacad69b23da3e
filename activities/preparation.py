"""Preparation: confirm the overdue facts, record the case and its borrower, fix the plan."""

from __future__ import annotations

import json
from dataclasses import asdict, replace

from temporalio import activity
from temporalio.exceptions import ApplicationError

import contracts
from activities import metrics
from activities.activity_base import ActivityBase
from activities.failures import INVALID_POLICY_FILE, policy_named
from contracts import LoanFacts, PreparedCase, PrepareRequest
from domain.errors import InvalidInput
from domain.policy import Policy
from domain.routing import Strategy, route
from migrations.tables import CaseRow, utc_iso
from policies.routing import current_routing, load_routing
from runtime import settings

log = activity.logger


class Preparation(ActivityBase):
    @activity.defn(name=contracts.PREPARE_CASE)
    def prepare_case(self, request: PrepareRequest) -> PreparedCase:
        case = request.case
        strategy = self._strategy(request)
        policy = policy_named(strategy.policy)
        # Both were validated already: the borrower's at start, the default with the policy.
        timezone = case.borrower.timezone or policy.default_timezone
        ladder = planned_ladder(policy)
        opened_at = utc_iso(request.opened_at)
        stored, first_time = self.store.open_case(
            CaseRow(
                case_id=request.case_id,
                workflow_id=request.workflow_id,
                **asdict(replace(LoanFacts.of(case), policy=policy.name)),
                timezone=timezone,
                segment=case.segment,
                experiment=strategy.experiment,
                arm=strategy.arm,
                # Prepared means in grace: the workflow's first position, not written twice.
                stage="grace",
                status="active",
                outstanding_minor=case.overdue_amount_minor,
                planned_ladder=json.dumps(ladder, ensure_ascii=False),
                opened_at=opened_at,
                # Workflow time, like every snapshot's, so the first snapshot is never "older".
                updated_at=opened_at,
            ),
            # The one place contact details enter the system: this activity is local, so its
            # input never reaches the history, and every later activity reads them from here.
            case.borrower,
        )
        log.info("case prepared: loan_id=%s case_id=%s", case.loan_id, request.case_id)
        if first_time:
            metrics.observe_case_opened(policy.name)
        return PreparedCase(
            policy=policy,
            timezone=timezone,
            planned_ladder=ladder,
            # The first opening recorded, whichever attempt of the preparation this is.
            opened_at=stored.opened_at,
            strategy=strategy,
        )

    def _strategy(self, request: PrepareRequest) -> Strategy:
        """The policy the start input names, else the one routing chose when the case was
        first prepared (kept in its row: a retry or a later run never chooses again), else
        routing's choice now."""
        case = request.case
        if case.policy_given:
            return Strategy(policy=case.policy)
        stored = self.store.case_row(request.case_id)
        if stored is not None:
            return Strategy(stored.policy, stored.experiment, stored.arm)
        try:
            return route(current_routing(settings.routing_path()), case, policy_given=False)
        except InvalidInput as error:
            # The worker checked the file at start-up; an edit since broke it. The operator
            # fixes the file and the retry routes the case.
            raise ApplicationError(str(error), type=INVALID_POLICY_FILE) from None


def planned_ladder(policy: Policy) -> list[str]:
    return [
        f"DPD {step.dpd} · {step.stage} · {step.channel} · {step.template}"
        for step in policy.ladder
    ]


def check_routing() -> None:
    """Raise `InvalidInput` naming the rule when the routing file would fail the cases it
    routes: a worker refuses to start with it. (Each preparation reads the file again, so an
    edit takes effect without a restart; a broken edit holds preparations until fixed.)"""
    load_routing(settings.routing_path())
