"""An experiment's cases, read from the case database alone (no Temporal server).

A case's experiment and arm are columns of `cases` (recorded when the case was prepared); what
its payments took off the debt is the sum of its applied payments; its contacts are the rows of
`contact_attempts` that count against the caps (`activities.contact_caps.is_counted_contact`).
No personal data is read.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from sqlalchemy import func, inspect
from sqlalchemy import select as sa_select
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import col

from activities.contact_caps import is_counted_contact
from activities.store import Store
from cli.console import UsageError
from cli.report_reading import CASE_COLUMNS, ReportError, report_case
from domain.channels import CHANNELS
from domain.experiment_report import ExperimentCase, ExperimentReport, build_experiment_report
from domain.routing import ARMS
from domain.strategy_figures import UnitCosts
from migrations.tables import CaseRow, ContactAttemptRow, PaymentRow

EXPERIMENT_COLUMNS = ("experiment", "arm")


def experiment_names(store: Store) -> list[str]:
    """The experiments the case database has cases of."""
    with store.reading() as session:
        rows = session.execute(
            sa_select(col(CaseRow.experiment))
            .where(col(CaseRow.experiment).is_not(None))
            .distinct()
            .order_by(col(CaseRow.experiment))
        ).all()
    return [name for (name,) in rows]


def read_experiment(store: Store, experiment: str) -> list[ExperimentCase]:
    """Every case of `experiment`, with what it collected and its contacts by channel."""
    in_experiment = sa_select(col(CaseRow.case_id)).where(col(CaseRow.experiment) == experiment)
    columns = (*CASE_COLUMNS, "loan_id", "policy", "arm")
    with store.reading() as session:
        case_rows = session.execute(
            sa_select(*(col(getattr(CaseRow, name)) for name in columns))
            .where(col(CaseRow.experiment) == experiment)
            .order_by(col(CaseRow.case_id))
        ).all()
        collected_rows = session.execute(
            sa_select(col(PaymentRow.case_id), func.sum(col(PaymentRow.applied_minor)))
            .where(col(PaymentRow.status) == "applied", col(PaymentRow.case_id).in_(in_experiment))
            .group_by(col(PaymentRow.case_id))
        ).all()
        attempt_rows = session.execute(
            sa_select(
                col(ContactAttemptRow.case_id),
                col(ContactAttemptRow.channel),
                col(ContactAttemptRow.template),
                col(ContactAttemptRow.status),
                func.count(),
            )
            .where(col(ContactAttemptRow.case_id).in_(in_experiment))
            .group_by(
                col(ContactAttemptRow.case_id),
                col(ContactAttemptRow.channel),
                col(ContactAttemptRow.template),
                col(ContactAttemptRow.status),
            )
        ).all()
    # SUM over BIGINT is a NUMERIC on PostgreSQL: back to whole minor units.
    collected = {case_id: int(total or 0) for case_id, total in collected_rows}
    contacts: dict[str, dict[str, int]] = defaultdict(dict)
    for case_id, channel, template, status, count in attempt_rows:
        if channel not in CHANNELS:
            raise ReportError(f"case {case_id}: contact channel {channel!r} is not a channel")
        if is_counted_contact(status, template):
            contacts[case_id][channel] = contacts[case_id].get(channel, 0) + count
    cases = []
    for row in case_rows:
        values = dict(zip(columns, row, strict=True))
        case_id = values["case_id"]
        if values["arm"] not in ARMS:
            raise ReportError(f"case {case_id}: arm {values['arm']!r} is not one of {ARMS}")
        cases.append(
            ExperimentCase(
                case=report_case(values),
                loan_id=values["loan_id"],
                policy=values["policy"],
                arm=values["arm"],
                collected_minor=collected.get(case_id, 0),
                contacts=contacts[case_id],
            )
        )
    return cases


def check_experiments_recorded(store: Store) -> None:
    """Refuse a case database from before experiments were recorded (0011_strategy)."""
    try:
        names = {column["name"] for column in inspect(store.engine).get_columns("cases")}
    except SQLAlchemyError as error:
        raise ReportError(f"cannot read the case database: {error}") from error
    if not set(EXPERIMENT_COLUMNS) <= names:
        raise ReportError(
            "the case database records no experiments yet: run `starter.py migrate` "
            "(revision 0011_strategy)"
        )


class NoCases(UsageError):
    """No case of the experiment is in the case database (`cli.report` says whether the
    routing file knows it)."""

    def __init__(self, experiment: str, with_cases: list[str]) -> None:
        listed = ", ".join(with_cases) if with_cases else "none"
        super().__init__(
            f"--experiment: no case of experiment {experiment!r} in the case database "
            f"(experiments with cases: {listed})"
        )
        self.experiment = experiment


def load_experiment_report(
    store: Store, experiment: str, unit_costs: UnitCosts, now: datetime
) -> ExperimentReport:
    """The experiment's report; an experiment without cases is refused (`NoCases`)."""
    check_experiments_recorded(store)
    cases = read_experiment(store, experiment)
    if not cases:
        raise NoCases(experiment, experiment_names(store))
    return build_experiment_report(experiment, cases, unit_costs, now)
