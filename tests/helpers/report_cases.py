"""A case database filled as the workflow fills it, for the reports' tests: cases opened by
the real `prepare_case` activity, then bookkeeping batches (payments, audit events, snapshots)
written by the real `store_case_records`."""

from __future__ import annotations

from dataclasses import dataclass, field

from activities.case_activities import CollectionActivities
from activities.store import Store
from contracts import CaseEvent, CaseRecords, CaseSnapshot, PaymentRecord, PrepareRequest
from domain.case import Borrower, CaseInput


@dataclass(frozen=True)
class Batch:
    """One bookkeeping batch of a case, as the workflow hands it to `store_case_records`."""

    case_id: str
    at: str
    payments: tuple[tuple[str, int], ...] = ()
    events: tuple[tuple[str, str], ...] = ()
    # (stage, status, days past due, outstanding, paid)
    snapshot: tuple[str, str, int, int, int] | None = None
    # By payment id, what a payment paid off (none: taken before debts had parts).
    allocations: dict[str, dict[str, int]] = field(default_factory=dict)
    # The snapshot's balance by part (none: taken before debts had parts).
    balance: dict[str, int] | None = None

    def records(self) -> CaseRecords:
        loan_id = f"L-{self.case_id}"
        snapshot = None
        if self.snapshot is not None:
            stage, status, dpd, outstanding, paid = self.snapshot
            snapshot = CaseSnapshot(
                self.case_id,
                loan_id,
                stage,
                status,
                dpd,
                outstanding,
                paid,
                at=self.at,
                balance=self.balance,
                balance_as_of=self.at if self.balance is not None else None,
            )
        return CaseRecords(
            case_id=self.case_id,
            loan_id=loan_id,
            payments=[
                PaymentRecord(
                    case_id=self.case_id,
                    record_id=payment_id,
                    loan_id=loan_id,
                    payment_id=payment_id,
                    amount_minor=amount,
                    currency=None,
                    status="applied",
                    received_at=self.at,
                    applied_minor=amount,
                    allocation=self.allocations.get(payment_id),
                )
                for payment_id, amount in self.payments
            ],
            events=[
                CaseEvent(
                    case_id=self.case_id,
                    event_key=f"{self.case_id}:{kind}:{ref_id}",
                    loan_id=loan_id,
                    kind=kind,
                    at=self.at,
                    ref_id=ref_id,
                )
                for kind, ref_id in self.events
            ],
            snapshot=snapshot,
        )


def prepare_case(
    activities: CollectionActivities,
    case_id: str,
    currency: str,
    amount: int,
    due: str,
    timezone: str,
    opened_at: str,
    policy: str = "default",
) -> None:
    activities.prepare_case(
        PrepareRequest(
            case_id=case_id,
            workflow_id=f"collection-L-{case_id}",
            case=CaseInput(
                loan_id=f"L-{case_id}",
                borrower=Borrower(borrower_id=f"B-{case_id}", timezone=timezone),
                currency=currency,
                overdue_amount_minor=amount,
                due_date=due,
                policy=policy,
            ),
            opened_at=opened_at,
        )
    )


def database_url(store: Store) -> str:
    """A DATABASE_URL that reaches this store's tables (its own schema on PostgreSQL)."""
    url = store.engine.url
    if store.schema is not None:
        url = url.update_query_dict({"options": f"-csearch_path={store.schema}"})
    return url.render_as_string(hide_password=False)
