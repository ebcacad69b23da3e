"""Readable text for the terminal: aligned tables and a case's `status` answer."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

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
        ("paid", money("paid_minor")),
    ]
    if status.get("overpaid_minor"):
        overview.append(("overpaid", money("overpaid_minor")))
    overview += [
        ("policy", status.get("policy")),
        ("portfolio", status.get("portfolio", "-")),
        ("holds", hold_text),
    ]
    for key in ("promise", "plan"):
        if status.get(key):
            overview.append((key, json.dumps(status[key], ensure_ascii=False)))
    overview.append(("next action", next_text))
    label_width = max(len(label) for label, _ in overview)
    parts = ["\n".join(f"{label.ljust(label_width)}  {value}" for label, value in overview)]

    contacts = status.get("contacts") or []
    parts.append(f"\ncontacts ({len(contacts)})")
    if contacts:
        parts.append(
            table(
                ("attempt_id", "channel", "template", "at", "result"),
                [
                    (
                        c.get("attempt_id"),
                        c.get("channel"),
                        c.get("template"),
                        c.get("at"),
                        c.get("result"),
                    )
                    for c in contacts
                ],
            )
        )
    payments = status.get("payments") or []
    parts.append(f"\npayments ({len(payments)})")
    if payments:
        parts.append(
            table(
                ("payment_id", "amount", "at", "source"),
                [
                    (
                        p.get("payment_id"),
                        format_money(int(p.get("amount_minor") or 0), currency),
                        p.get("at"),
                        p.get("source") or "",
                    )
                    for p in payments
                ],
            )
        )
    rejected = status.get("rejected_payments") or []
    if rejected:
        parts.append(f"\nrejected payments ({len(rejected)})")
        parts.append(
            table(
                ("payment_id", "reason"), [(r.get("payment_id"), r.get("reason")) for r in rejected]
            )
        )
    legal = (status.get("legal") or {}).get("events") or []
    if status.get("legal"):
        parts.append(f"\nlegal: {status['legal'].get('stage')} · events ({len(legal)})")
        parts.append(
            table(
                ("event_id", "event", "at"),
                [(e.get("event_id"), e.get("event"), e.get("at")) for e in legal],
            )
        )
    return "\n".join(parts)
