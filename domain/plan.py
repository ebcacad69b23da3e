"""Which ladder step runs now."""

from __future__ import annotations

from dataclasses import dataclass

from domain.policy import LadderStep


@dataclass(frozen=True)
class StepChoice:
    run: int | None
    skipped: list[int]


def choose_step(ladder: list[LadderStep], next_index: int, days_past_due: int) -> StepChoice:
    """Catch up to the current rung instead of replaying history.

    Steps run in ladder order. When several are due at once (a case opened late, or
    a hold just lifted) only the latest one runs and the earlier ones are skipped:
    a borrower at DPD 40 gets today's action, not a burst of stale reminders.
    """
    due = [index for index in range(next_index, len(ladder)) if ladder[index].dpd <= days_past_due]
    if not due:
        return StepChoice(run=None, skipped=[])
    return StepChoice(run=due[-1], skipped=due[:-1])
