"""Which ladder step a case takes next, and on which channel it can be carried out."""

from __future__ import annotations

from dataclasses import dataclass, replace

from domain.case_core import CaseCore
from domain.channels import CHANNEL_BY_NAME, DETAIL_BY_CHANNEL
from domain.policy import STAGES, LadderStep, Policy

# Where a written reminder goes when its channel cannot reach the borrower, in order.


@dataclass(frozen=True)
class StepChoice:
    run: int | None
    skipped: list[int]


def choose_step(ladder: list[LadderStep], next_index: int, days_past_due: int) -> StepChoice:
    """Catch up to the current rung instead of replaying history.

    Steps run in ladder order. When several are due at once (a case opened late, or a hold
    just lifted) only the latest one runs and the earlier ones are skipped: a borrower at
    DPD 40 gets today's action, not a burst of stale reminders.
    """
    due = [index for index in range(next_index, len(ladder)) if ladder[index].dpd <= days_past_due]
    if not due:
        return StepChoice(run=None, skipped=[])
    return StepChoice(run=due[-1], skipped=due[:-1])


def resumed(state: CaseCore, policy: Policy, choice: StepChoice) -> StepChoice:
    """After a broken plan, collection resumes at the stage where the plan began: the latest
    due step of that stage (or an earlier one) runs first, not the latest step of all."""
    if choice.run is None or state.resume_stage not in STAGES:
        return choice
    limit = STAGES.index(state.resume_stage)
    due = [
        index
        for index in (*choice.skipped, choice.run)
        if STAGES.index(policy.ladder[index].stage) <= limit
    ]
    return StepChoice(run=due[-1], skipped=due[:-1]) if due else choice


def usable(state: CaseCore, step: LadderStep) -> LadderStep:
    """The step as it can be carried out: with the phone unusable, an SMS reminder falls back
    to email; on a channel that cannot reach the borrower (opted out, or refused by the
    provider for good), a reminder falls back to the next channel that can."""
    if state.phone_unusable and step.channel == "sms" and state.case.borrower.email:
        return replace(step, channel="email")
    if step.channel not in state.unreachable_channels:
        return step
    borrower = state.case.borrower
    detail = {name: getattr(borrower, field) for name, field in DETAIL_BY_CHANNEL.items()}
    unusable = {*state.unreachable_channels, *(("sms",) if state.phone_unusable else ())}
    for channel in CHANNEL_BY_NAME[step.channel].fallbacks:
        if channel not in unusable and detail[channel]:
            return replace(step, channel=channel)
    return step


def stage_at(policy: Policy, days_past_due: int) -> str:
    """The stage of the ladder's position at `days_past_due`: the stage of the latest step
    due by then, or `grace` before the first one."""
    choice = choose_step(policy.ladder, 0, days_past_due)
    return "grace" if choice.run is None else policy.ladder[choice.run].stage
