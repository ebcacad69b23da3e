"""Readable text for the terminal: aligned tables and a case's `status` answer."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from domain.debt import COMPONENTS
from domain.money import format_money


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[str(h) for h in headers]] + [["" if v is None else str(v) for v in r] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    return "\n".join(
        "  ".join(value.ljust(width) for value, width in zip(row, widths, strict=True)).rstrip()
        for row in cells
    )


def render_status(status: Mapping[str, Any]) -> str:
    """The `status` query answer as a readable page."""
    currency = str(status.get("currency") or "")
    overview = _overview(status, currency)
    label_width = max(len(label) for label, _ in overview)
    parts = ["\n".join(f"{label.ljust(label_width)}  {value}" for label, value in overview)]
    plan = status.get("plan")
    if isinstance(plan, Mapping):
        parts += _installments(plan, currency)
    return "\n".join(parts + _records(status, currency))


def _overview(status: Mapping[str, Any], currency: str) -> list[tuple[str, Any]]:
    """The page's first part: one labelled line per fact."""

    def money(key: str) -> str:
        value = status.get(key)
        return format_money(value, currency) if isinstance(value, int) else "-"

    holds = status.get("holds") or []
    hold_text = (
        ", ".join(f"{h.get('kind')} {h.get('hold_id')} since {h.get('placed_at')}" for h in holds)
        if holds
        else "none"
    )
    next_action = status.get("next_action")
    next_text = (
        " ".join(f"{k}={v}" for k, v in next_action.items())
        if isinstance(next_action, Mapping)
        else "none"
    )
    overview = [
        ("loan", status.get("loan_id")),
        ("stage", status.get("stage")),
        ("status", status.get("status")),
        ("days past due", f"{status.get('days_past_due')} ({status.get('bucket')})"),
        ("outstanding", money("outstanding_minor")),
        *_balance(status.get("balance"), currency),
        ("paid", money("paid_minor")),
    ]
    if status.get("overpaid_minor"):
        overview.append(("overpaid", money("overpaid_minor")))
    overview += [
        ("policy", _policy_text(status)),
        ("portfolio", status.get("portfolio", "-")),
        ("holds", hold_text),
    ]
    promise = status.get("promise")
    if isinstance(promise, Mapping):
        overview.append(("promise", _promise_text(promise, currency)))
    if status.get("broken_promises"):
        overview.append(("broken promises", status["broken_promises"]))
    plan = status.get("plan")
    if isinstance(plan, Mapping):
        overview.append(("plan", _plan_text(plan, currency)))
    settlement = status.get("settlement")
    if isinstance(settlement, Mapping):
        overview.append(("settlement", _settlement_text(settlement, currency)))
    overview.append(("next action", next_text))
    return overview


def _balance(balance: Any, currency: str) -> list[tuple[str, Any]]:
    """The outstanding amount by part and the moment it is as of (the case's latest
    decision): `principal CNY 4,000.00 · interest CNY 500.00 · fees CNY 0.00 · penalty ...`."""
    if not isinstance(balance, Mapping):
        return []
    return [
        ("by part", " · ".join(_parts(balance, currency, skip_zero=False))),
        ("as of", balance.get("as_of") or "-"),
    ]


def _parts(parts: Mapping[str, Any], currency: str, *, skip_zero: bool) -> list[str]:
    """`principal CNY 4,000.00`, ... in the contract's order."""
    return [
        f"{component} {_money(parts.get(f'{component}_minor'), currency)}"
        for component in COMPONENTS
        if not (skip_zero and not parts.get(f"{component}_minor"))
    ]


def _installments(plan: Mapping[str, Any], currency: str) -> list[str]:
    parts: list[str] = []
    installments = plan.get("installments") or []
    parts.append(f"\ninstallments of plan {plan.get('plan_id')} ({len(installments)})")
    parts.append(
        table(
            ("#", "due_date", "amount", "paid", "state"),
            [
                (
                    position,
                    i.get("due_date"),
                    _money(i.get("amount_minor"), currency),
                    _money(i.get("paid_minor"), currency),
                    i.get("state"),
                )
                for position, i in enumerate(installments, start=1)
            ],
        )
    )
    return parts


def _records(status: Mapping[str, Any], currency: str) -> list[str]:
    """Contacts, payments, rejections and the legal track, each a titled table."""
    return (
        _contacts(status) + _payments(status, currency) + _rejections(status) + _legal_track(status)
    )


def _titled_table(title: str, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    """`title (count)` on a line of its own, then the rows as a table if there are any."""
    parts = [f"\n{title} ({len(rows)})"]
    if rows:
        parts.append(table(headers, rows))
    return parts


def _contacts(status: Mapping[str, Any]) -> list[str]:
    rows = [
        (c.get("attempt_id"), c.get("channel"), c.get("template"), c.get("at"), c.get("result"))
        for c in status.get("contacts") or []
    ]
    return _titled_table("contacts", ("attempt_id", "channel", "template", "at", "result"), rows)


def _payments(status: Mapping[str, Any], currency: str) -> list[str]:
    """Each payment, and what it paid off (`paid off`: its allocation's parts above 0)."""
    rows = [
        (
            p.get("payment_id"),
            format_money(int(p.get("amount_minor") or 0), currency),
            p.get("at"),
            p.get("source") or "",
            _allocation_text(p, currency),
        )
        for p in status.get("payments") or []
    ]
    return _titled_table("payments", ("payment_id", "amount", "at", "source", "paid off"), rows)


def _allocation_text(payment: Mapping[str, Any], currency: str) -> str:
    """`interest CNY 500.00, principal CNY 500.00`, and what was left over as an overpayment."""
    allocation = payment.get("allocation")
    if not isinstance(allocation, Mapping):
        return ""  # a payment recorded before debts had parts
    texts = _parts(allocation, currency, skip_zero=True)
    paid_off = sum(int(allocation.get(f"{c}_minor") or 0) for c in COMPONENTS)
    overpaid = int(payment.get("amount_minor") or 0) - paid_off
    if overpaid > 0:
        texts.append(f"overpaid {_money(overpaid, currency)}")
    return ", ".join(texts)


def _rejections(status: Mapping[str, Any]) -> list[str]:
    """Rejected payments, plans and balance adjustments: shown only where there are some."""
    parts: list[str] = []
    rejected = status.get("rejected_payments") or []
    if rejected:
        rows = [(r.get("payment_id"), r.get("reason")) for r in rejected]
        parts += _titled_table("rejected payments", ("payment_id", "reason"), rows)
    rejected_plans = status.get("rejected_plans") or []
    if rejected_plans:
        rows = [(r.get("plan_id") or "-", r.get("reason")) for r in rejected_plans]
        parts += _titled_table("rejected plans", ("plan_id", "reason"), rows)
    rejected_adjustments = status.get("rejected_adjustments") or []
    if rejected_adjustments:
        rows = [(r.get("adjustment_id") or "-", r.get("reason")) for r in rejected_adjustments]
        parts += _titled_table("rejected adjustments", ("adjustment_id", "reason"), rows)
    return parts


def _legal_track(status: Mapping[str, Any]) -> list[str]:
    if not status.get("legal"):
        return []
    legal = status["legal"].get("events") or []
    return [
        f"\nlegal: {status['legal'].get('stage')} · events ({len(legal)})",
        table(
            ("event_id", "event", "at"),
            [(e.get("event_id"), e.get("event"), e.get("at")) for e in legal],
        ),
    ]


def _money(value: Any, currency: str) -> str:
    return format_money(value, currency) if isinstance(value, int) else "-"


def _promise_text(promise: Mapping[str, Any], currency: str) -> str:
    """`pr-1: CNY 1,000.00 due 2026-12-05, pending (paid toward it CNY 0.00)`."""
    text = (
        f"{promise.get('promise_id')}: {_money(promise.get('amount_minor'), currency)} "
        f"due {promise.get('due_date')}, {promise.get('state')} "
        f"(paid toward it {_money(promise.get('paid_toward_minor') or 0, currency)})"
    )
    if promise.get("state") == "broken" and promise.get("shortfall_minor"):
        text += f", short by {_money(promise['shortfall_minor'], currency)}"
    return text


def _plan_text(plan: Mapping[str, Any], currency: str) -> str:
    """`pl-1: active, 1 of 2 installments paid, CNY 2,500.00 of CNY 5,000.00 (began in phone)`."""
    installments = [i for i in plan.get("installments") or [] if isinstance(i, Mapping)]
    paid = sum(1 for i in installments if i.get("state") == "paid")
    total = sum(int(i.get("amount_minor") or 0) for i in installments)
    paid_minor = sum(int(i.get("paid_minor") or 0) for i in installments)
    text = (
        f"{plan.get('plan_id')}: {plan.get('state')}, {paid} of {len(installments)} "
        f"installments paid, {_money(paid_minor, currency)} of {_money(total, currency)}"
    )
    if plan.get("began_in_stage"):
        text += f" (began in {plan['began_in_stage']})"
    return text


def _settlement_text(settlement: Mapping[str, Any], currency: str) -> str:
    """`s-1: CNY 3,000.00 due 2026-12-20, pending`, and what was forgiven once paid."""
    text = (
        f"{settlement.get('settlement_id')}: {_money(settlement.get('amount_minor'), currency)} "
        f"due {settlement.get('due_date')}, {settlement.get('state')}"
    )
    if settlement.get("forgiven_minor"):
        text += f" (forgiven {_money(settlement['forgiven_minor'], currency)})"
    return text


def _policy_text(status: Mapping[str, Any]) -> str:
    """The policy, and the experiment's arm that chose it (`firm-early: challenger`)."""
    strategy = status.get("strategy")
    policy = str(status.get("policy"))
    if isinstance(strategy, Mapping) and strategy.get("experiment"):
        return f"{policy} (experiment {strategy['experiment']}: {strategy.get('arm')})"
    return policy
