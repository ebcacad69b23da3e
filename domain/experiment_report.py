"""The live comparison of an experiment's two arms, from plain rows of the case database.

Each case of the experiment becomes a `CaseOutcome` (`domain.strategy_figures`), as of now:
its latest status (open or final), what payments took off its debt, the contacts made, and
whether its days past due entered M1 and reached M2 while it was open (counted as the portfolio
report counts them, `domain.report.case_position`: from the DPD at opening to the highest it
reached). Then each arm's figures and the comparison of the two.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from domain.report import AsOf, ReportCase, bucket_days, case_position
from domain.routing import ARMS, CHALLENGER, CHAMPION
from domain.strategy_figures import (
    ArmFigures,
    CaseOutcome,
    Comparison,
    UnitCosts,
    arm_figures,
    compare,
)

M2_FIRST_DAY, _ = bucket_days("M2")


@dataclass(frozen=True)
class ExperimentCase:
    """A case of the experiment as the case database has it."""

    case: ReportCase
    loan_id: str
    policy: str
    arm: str
    # What its applied payments took off the debt.
    collected_minor: int
    # Contacts made, by channel (those that count against the caps).
    contacts: Mapping[str, int]


@dataclass(frozen=True)
class ArmReport:
    arm: str
    # The policies its cases ran (one, unless the experiment's rule changed).
    policies: tuple[str, ...]
    figures: ArmFigures


@dataclass(frozen=True)
class ExperimentReport:
    experiment: str
    as_of: datetime
    champion: ArmReport
    challenger: ArmReport
    comparison: Comparison

    @property
    def arms(self) -> tuple[ArmReport, ArmReport]:
        return (self.champion, self.challenger)

    @property
    def cases(self) -> int:
        return self.champion.figures.cases + self.challenger.figures.cases


def case_outcome(case: ExperimentCase, now: datetime) -> CaseOutcome:
    """What the case has come to by `now`."""
    position = case_position(case.case, case.collected_minor, AsOf(now=now))
    return CaseOutcome(
        loan_id=case.loan_id,
        currency=case.case.currency,
        overdue_minor=case.case.overdue_amount_minor,
        collected_minor=case.collected_minor,
        final_status=case.case.status,
        contacts=case.contacts,
        entered_m1=position.was_in("M1"),
        reached_m2=position.dpd_reached >= M2_FIRST_DAY,
    )


def build_experiment_report(
    experiment: str, cases: Iterable[ExperimentCase], unit_costs: UnitCosts, now: datetime
) -> ExperimentReport:
    """Both arms' figures and their comparison (an arm without cases has no rates)."""
    by_arm: dict[str, list[ExperimentCase]] = {arm: [] for arm in ARMS}
    for case in cases:
        by_arm[case.arm].append(case)

    def arm_report(arm: str) -> ArmReport:
        members = by_arm[arm]
        return ArmReport(
            arm=arm,
            policies=tuple(sorted({case.policy for case in members})),
            figures=arm_figures([case_outcome(case, now) for case in members], unit_costs),
        )

    champion, challenger = arm_report(CHAMPION), arm_report(CHALLENGER)
    return ExperimentReport(
        experiment=experiment,
        as_of=now,
        champion=champion,
        challenger=challenger,
        comparison=compare(champion.figures, challenger.figures),
    )
