"""Legal: the hand-off to the lawyers, with the evidence package written once per referral."""

from __future__ import annotations

import json
from dataclasses import fields

from temporalio import activity

import contracts
from activities import metrics
from activities.bookkeeping import Bookkeeping
from activities.evidence import evidence_folder, write_package
from activities.failures import case_not_found
from contracts import LegalHandOffRequest, LegalHandOffResult, LoanFacts
from migrations.tables import BorrowerRow, CaseRow, ContactAttemptRow, LegalReferralRow, utc_iso

# The loan's facts, as preparation recorded them in the case's row under the same names.
LOAN_FACTS = {field.name for field in fields(LoanFacts)}

log = activity.logger


class LegalHandOff(Bookkeeping):
    @activity.defn(name=contracts.HAND_OFF_TO_LEGAL)
    def hand_off_to_legal(self, request: LegalHandOffRequest) -> LegalHandOffResult:
        self._store_carried(request.records)
        existing = self.store.get(LegalReferralRow, request.referral_id)
        if existing is None:
            existing = self._refer(request)
        return LegalHandOffResult(
            referral_id=existing.referral_id,
            evidence_dir=existing.evidence_dir,
            files=json.loads(existing.files),
        )

    def _refer(self, request: LegalHandOffRequest) -> LegalReferralRow:
        """Write the evidence package, then the referral and its line in the contact record."""
        case_row = self.store.get(CaseRow, request.case_id)
        loan = request.loan or _loan_of(request.case_id, case_row)
        created_at = utc_iso(request.at)
        package = write_package(
            evidence_folder(self.evidence_dir, loan.loan_id),
            request,
            loan=loan,
            # The lawyers need to know whom the claim is against: from the database only.
            borrower=self.store.get(BorrowerRow, loan.borrower_id),
            case_row=case_row,
            contacts=self.store.contacts_of_case(request.case_id),
            payments=self.store.payments_of_case(request.case_id),
            events=self.store.events_of_case(request.case_id),
            created_at=created_at,
        )
        referral = LegalReferralRow(
            referral_id=request.referral_id,
            case_id=request.case_id,
            loan_id=loan.loan_id,
            evidence_dir=str(package.directory),
            manifest_sha256=package.manifest_sha256,
            files=json.dumps(package.files),
            created_at=created_at,
        )
        attempt = ContactAttemptRow(
            attempt_id=request.referral_id,
            case_id=request.case_id,
            loan_id=loan.loan_id,
            channel="legal",
            template="legal_referral",
            status="referred",
            result="referred",
            days_past_due=request.days_past_due,
            created_at=created_at,
            sent_at=created_at,
        )
        if self.store.insert_if_absent(referral, attempt):
            metrics.observe_attempt(attempt)
        stored = self.store.get(LegalReferralRow, request.referral_id)
        assert stored is not None
        log.info(
            "handed off to legal: loan_id=%s case_id=%s referral_id=%s",
            loan.loan_id,
            request.case_id,
            request.referral_id,
        )
        return stored


def _loan_of(case_id: str, case_row: CaseRow | None) -> LoanFacts:
    """The loan's facts from the case's row, for a hand-off scheduled before requests carried
    them: preparation recorded the same facts there."""
    if case_row is None:
        raise case_not_found(case_id)
    return LoanFacts(**case_row.model_dump(include=LOAN_FACTS))
