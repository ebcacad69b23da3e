"""The evidence package handed to lawyers: loan facts, ledger, contacts, payments, audit log;
the debt by part at the hand-off and each payment's allocation to the parts.

Each file is written atomically and listed with its SHA-256 in `manifest.json`, so a court can
check that nothing was changed after the hand-off. The content is a pure function of the
database rows and the request, which makes re-writing it on a retry harmless. The borrower's
name and contact details come from the database (`borrowers`), never from the request.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from temporalio import activity

from activities.failures import invalid_case
from contracts import CaseEvent, LegalHandOffRequest, LoanFacts
from migrations.tables import (
    PART_COLUMNS,
    BorrowerRow,
    CaseEventRow,
    CaseRow,
    ContactAttemptRow,
    PaymentRow,
)

CASE_FILE = "case.json"
LEDGER_FILE = "ledger.json"
CONTACTS_FILE = "contacts.json"
PAYMENTS_FILE = "payments.json"
EVENTS_FILE = "events.json"
MANIFEST_FILE = "manifest.json"
PACKAGE_FILES = (CASE_FILE, LEDGER_FILE, CONTACTS_FILE, PAYMENTS_FILE, EVENTS_FILE)
# The notice beside a package whose case closed after the hand-off.
RECALL_FILE = "RECALLED.json"
# Columns every row of a case repeats; the package names the case once, in its case file.
CASE_IDS = {"case_id", "loan_id"}

log = activity.logger


@dataclass(frozen=True)
class EvidencePackage:
    directory: Path
    files: list[str]
    manifest_sha256: str


def write_package(
    directory: Path,
    request: LegalHandOffRequest,
    *,
    loan: LoanFacts,
    borrower: BorrowerRow | None,
    case_row: CaseRow | None,
    contacts: Sequence[ContactAttemptRow],
    payments: Sequence[PaymentRow],
    events: Sequence[CaseEventRow],
    created_at: str,
) -> EvidencePackage:
    documents: dict[str, Any] = {
        CASE_FILE: case_facts(request, loan, borrower, case_row),
        LEDGER_FILE: ledger(request, loan, payments),
        CONTACTS_FILE: [contact_entry(row) for row in contacts],
        PAYMENTS_FILE: [payment_entry(row) for row in payments],
        EVENTS_FILE: [event_entry(row) for row in events],
    }
    directory.mkdir(parents=True, exist_ok=True)
    listed = []
    for name in PACKAGE_FILES:
        data = to_json_bytes(documents[name])
        atomic_write(directory / name, data)
        listed.append({"name": name, "sha256": sha256(data), "bytes": len(data)})
    manifest = {
        "referral_id": request.referral_id,
        "case_id": request.case_id,
        "loan_id": loan.loan_id,
        "created_at": created_at,
        "files": listed,
    }
    manifest_data = to_json_bytes(manifest)
    atomic_write(directory / MANIFEST_FILE, manifest_data)
    return EvidencePackage(
        directory=directory,
        files=[*PACKAGE_FILES, MANIFEST_FILE],
        manifest_sha256=sha256(manifest_data),
    )


def case_facts(
    request: LegalHandOffRequest,
    loan: LoanFacts,
    borrower: BorrowerRow | None,
    case_row: CaseRow | None,
) -> dict[str, Any]:
    return {
        "case_id": request.case_id,
        "workflow_id": case_row.workflow_id if case_row else None,
        "opened_at": case_row.opened_at if case_row else None,
        "loan_id": loan.loan_id,
        # The lawyers need to know whom the claim is against; this file is not a log.
        "borrower": borrower_entry(loan.borrower_id, borrower),
        "currency": loan.currency,
        "overdue_amount_minor": loan.overdue_amount_minor,
        "due_date": loan.due_date,
        "policy": loan.policy,
        "portfolio": loan.portfolio,
        "at_hand_off": {
            "at": request.at,
            "days_past_due": request.days_past_due,
            "outstanding_minor": request.outstanding_minor,
            "paid_minor": request.paid_minor,
            # By part (principal, interest, fees, penalty); None in a hand-off scheduled
            # before debts had parts.
            "balance": request.balance,
        },
    }


def borrower_entry(borrower_id: str, row: BorrowerRow | None) -> dict[str, Any]:
    """The borrower as the case database knows them; only the id when it has no details."""
    return {
        "borrower_id": borrower_id,
        "name": row.name if row else None,
        "phone": row.phone if row else None,
        "email": row.email if row else None,
        "address": row.address if row else None,
        "timezone": row.timezone if row else None,
        "locale": row.locale if row else None,
    }


def ledger(
    request: LegalHandOffRequest, loan: LoanFacts, payments: Sequence[PaymentRow]
) -> dict[str, Any]:
    balance = loan.overdue_amount_minor
    entries: list[dict[str, Any]] = [
        {
            "kind": "overdue",
            "at": loan.due_date,
            "amount_minor": balance,
            "balance_minor": balance,
        }
    ]
    for row in payments:
        if row.status != "applied":
            continue
        balance -= row.applied_minor
        entries.append(
            {
                "kind": "payment",
                "payment_id": row.payment_id,
                "at": row.paid_at or row.received_at,
                "received_at": row.received_at,
                "source": row.source,
                "amount_minor": row.amount_minor,
                "applied_minor": row.applied_minor,
                "overpaid_minor": row.overpaid_minor,
                # What it paid off, part by part; None where none was recorded.
                "allocation": row.allocation,
                "balance_minor": balance,
            }
        )
    return {
        "currency": loan.currency,
        "overdue_amount_minor": loan.overdue_amount_minor,
        "entries": entries,
        "balance_minor": balance,
        # The case's own figure, which may differ from the balance (a settlement, penalty
        # accrued, an adjustment by the loan system), and the same by part.
        "outstanding_at_hand_off_minor": request.outstanding_minor,
        "balance_at_hand_off": request.balance,
    }


def contact_entry(row: ContactAttemptRow) -> dict[str, Any]:
    return {
        "attempt_id": row.attempt_id,
        "channel": row.channel,
        "template": row.template,
        "recipient": row.recipient,
        "body": row.body,
        "status": row.status,
        "result": row.result,
        "note": row.note,
        "provider_ref": row.provider_ref,
        "days_past_due": row.days_past_due,
        "created_at": row.created_at,
        "sent_at": row.sent_at,
    }


def payment_entry(row: PaymentRow) -> dict[str, Any]:
    """A payment as the case recorded it: the record's fields (see `PaymentRow.from_record`),
    its allocation read back from the columns of its parts, without the case's ids, which the
    package names once."""
    return {
        **row.model_dump(exclude=CASE_IDS | set(PART_COLUMNS)),
        "allocation": row.allocation,
    }


def event_entry(row: CaseEventRow) -> dict[str, Any]:
    """An audit event as the case recorded it (see `CaseEventRow.from_event`), its detail read
    back from JSON."""
    return {**row.model_dump(exclude=CASE_IDS), "detail": json.loads(row.detail)}


def evidence_folder(root: Path, loan_id: str) -> Path:
    """The loan's folder under the evidence root."""
    # The loan id pattern admits "." and "..", which must not escape the evidence folder.
    directory = (root / loan_id).resolve()
    if directory.parent != root.resolve():
        raise invalid_case("loan_id", "cannot name an evidence folder")
    return directory


def write_recall_notice(root: Path, case_event: CaseEvent, at: str) -> None:
    """Tell the legal partner the file is recalled: a notice beside the evidence package
    they were handed, written once (a retried batch finds it and leaves it)."""
    directory = evidence_folder(root, case_event.loan_id)
    notice = directory / RECALL_FILE
    if not directory.exists() or notice.exists():
        return
    notice.write_text(
        json.dumps(
            {
                "loan_id": case_event.loan_id,
                "case_id": case_event.case_id,
                "recalled_at": at,
                "reason": f"case closed {case_event.detail.get('status')}",
            },
            indent=2,
        )
    )
    log.info("legal file recalled: loan_id=%s case_id=%s", case_event.loan_id, case_event.case_id)


def to_json_bytes(document: Any) -> bytes:
    # Sorted keys and fixed formatting: the same facts always hash the same.
    return (json.dumps(document, ensure_ascii=False, indent=2, sort_keys=True) + "\n").encode()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def atomic_write(path: Path, data: bytes) -> None:
    """Readers see the old file or the new one, never a half-written one."""
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
