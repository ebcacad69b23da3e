"""The case's current details as the Temporal UI shows them (markdown): stage, status, days
past due, money, holds, the next action and the last contacts. Ids and amounts only, never the
borrower's personal data; times as people write them, in the borrower's timezone."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from domain.case_core import CaseCore
from domain.clock import bucket
from domain.money import format_money


def human_time(moment: datetime, timezone: str) -> str:
    """`2026-12-03 14:05 (Asia/Shanghai)`: local time, seconds only when there are some (a
    fast `demo` clock moves in seconds)."""
    local = moment.astimezone(ZoneInfo(timezone))
    shown = local.strftime("%Y-%m-%d %H:%M:%S" if local.second else "%Y-%m-%d %H:%M")
    return f"{shown} ({timezone})"


def case_details(
    state: CaseCore, days_past_due: int, timezone: str, problem: str | None = None
) -> str:
    currency = state.case.currency
    lines = [
        f"**Loan {state.case.loan_id}** · stage **{state.stage}** · status **{state.status}**",
        "",
        f"DPD **{days_past_due}** ({bucket(days_past_due)}) · "
        f"outstanding **{format_money(state.outstanding_minor, currency)}** · "
        f"paid {format_money(state.paid_minor, currency)}",
    ]
    strategy = state.strategy
    if strategy is not None and strategy.arm_label:
        lines.append(f"Policy **{strategy.policy}** ({strategy.experiment}: {strategy.arm})")
    if state.assignee:
        lines.append(f"Assigned to **{state.assignee}**")
    if state.holds:
        kinds = ", ".join(sorted({hold.kind for hold in state.holds.values()}))
        lines.append(f"On hold: {kinds}")
    if problem:
        lines.append(f"**Bookkeeping:** {problem}")
    if state.next_action:
        due_at = datetime.fromisoformat(state.next_action["due_at"])
        lines.append(f"Next: {state.next_action['kind']} at {human_time(due_at, timezone)}")
    if state.contacts:
        lines += ["", "Last contacts:"]
        lines += [
            f"- DPD {c.days_past_due} · {c.channel} · {c.template} · {c.result}"
            for c in state.contacts[-3:]
        ]
    return "\n".join(lines)
