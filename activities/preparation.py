"""Preparation: confirm the overdue facts, record the case and its borrower, fix the plan."""

from __future__ import annotations

import json
from dataclasses import asdict, replace

from temporalio import activity

import contracts
from activities import metrics
from activities.activity_base import ActivityBase
from activities.failures import policy_named
from contracts import LoanFacts, PreparedCase, PrepareRequest
from domain.policy import Policy
from migrations.tables import CaseRow, utc_iso

log = activity.logger


class Preparation(ActivityBase):
    @activity.defn(name=contracts.PREPARE_CASE)
    def prepare_case(self, request: PrepareRequest) -> PreparedCase:
        case = request.case
        policy = policy_named(case.policy)
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
        )


def planned_ladder(policy: Policy) -> list[str]:
    return [
        f"DPD {step.dpd} · {step.stage} · {step.channel} · {step.template}"
        for step in policy.ladder
    ]
