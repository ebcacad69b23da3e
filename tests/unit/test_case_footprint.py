"""The capacity plan's per-case counts (scripts/bench/history_footprint.py, case_footprint.py)
on a hand-made history of real protobuf events and a small case database in memory."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, text
from sqlmodel import Session, SQLModel, create_engine
from temporalio.api.common.v1 import ActivityType, MeteringMetadata, Payload, SearchAttributes
from temporalio.api.enums.v1 import EventType, WorkflowTaskFailedCause
from temporalio.api.history.v1 import (
    ActivityTaskScheduledEventAttributes,
    ActivityTaskStartedEventAttributes,
    HistoryEvent,
    MarkerRecordedEventAttributes,
    UpsertWorkflowSearchAttributesEventAttributes,
    WorkflowTaskCompletedEventAttributes,
    WorkflowTaskFailedEventAttributes,
)

from migrations.tables import BorrowerRow, ContactAttemptRow
from tests.helpers.paths import PROJECT_DIR

# The benchmark's modules import each other by bare name, as `make bench` runs them.
sys.path.insert(0, str(PROJECT_DIR / "scripts" / "bench"))

from case_footprint import (
    DatabaseStatements,
    case_rows,
    contacts_by_channel,
    database_footprint,
    value_bytes,
)
from history_footprint import (
    billable_actions,
    history_bytes,
    history_footprint,
    visibility_writes,
)

T = EventType
OPENED = datetime(2026, 3, 1, 15, 0, tzinfo=UTC)
# 08:00 in Shanghai, when the window opens and the first reminder's timer fires.
MORNING = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)


def event(event_id: int, event_type: int, at: datetime = OPENED, **fields: Any) -> HistoryEvent:
    made = HistoryEvent(event_id=event_id, event_type=event_type, **fields)  # type: ignore[arg-type]
    made.event_time.FromDatetime(at)
    return made


def marker(event_id: int, name: str, task: int) -> HistoryEvent:
    attributes = MarkerRecordedEventAttributes(
        marker_name=name, workflow_task_completed_event_id=task
    )
    return event(
        event_id, T.EVENT_TYPE_MARKER_RECORDED, marker_recorded_event_attributes=attributes
    )


def upsert(event_id: int, *names: str) -> HistoryEvent:
    fields = {name: Payload(data=b'"x"') for name in names}
    attributes = UpsertWorkflowSearchAttributesEventAttributes(
        search_attributes=SearchAttributes(indexed_fields=fields)
    )
    return event(
        event_id,
        T.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES,
        upsert_workflow_search_attributes_event_attributes=attributes,
    )


def workflow_task(first_id: int, at: datetime, local_retries: int = 0) -> list[HistoryEvent]:
    completed = WorkflowTaskCompletedEventAttributes(
        metering_metadata=MeteringMetadata(nonfirst_local_activity_execution_attempts=local_retries)
    )
    return [
        event(first_id, T.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED, at),
        event(first_id + 1, T.EVENT_TYPE_WORKFLOW_TASK_STARTED, at),
        event(
            first_id + 2,
            T.EVENT_TYPE_WORKFLOW_TASK_COMPLETED,
            at,
            workflow_task_completed_event_attributes=completed,
        ),
    ]


def a_case_life() -> list[HistoryEvent]:
    """Opened (a local activity retried twice, a patch, its record and the case's attributes,
    a timer); woken at 08:00 (a patch alone, an SMS whose activity ran three times, a signal, an
    update, a child workflow); completed."""
    scheduled = ActivityTaskScheduledEventAttributes(activity_type=ActivityType(name="send_notice"))
    return [
        event(1, T.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED),
        *workflow_task(2, OPENED, local_retries=2),
        marker(5, "core_local_activity", task=4),
        marker(6, "core_patch", task=4),
        upsert(7, "TemporalChangeVersion"),
        upsert(8, "CollectionStage", "OutstandingMinor"),
        event(9, T.EVENT_TYPE_TIMER_STARTED),
        event(10, T.EVENT_TYPE_TIMER_FIRED, MORNING),
        *workflow_task(11, MORNING),
        marker(14, "core_patch", task=13),
        event(
            15,
            T.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED,
            MORNING,
            activity_task_scheduled_event_attributes=scheduled,
        ),
        event(
            16,
            T.EVENT_TYPE_ACTIVITY_TASK_STARTED,
            MORNING,
            activity_task_started_event_attributes=ActivityTaskStartedEventAttributes(attempt=3),
        ),
        event(17, T.EVENT_TYPE_ACTIVITY_TASK_COMPLETED, MORNING),
        event(18, T.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED, MORNING),
        event(19, T.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED, MORNING),
        event(20, T.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED, MORNING),
        *workflow_task(21, MORNING),
        event(24, T.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED, MORNING),
    ]


def test_billable_actions_follow_temporal_clouds_definition() -> None:
    actions = billable_actions(a_case_life())
    assert actions["by_kind"] == {
        "workflow_started": 1,
        "local_activity_retry": 2,
        "marker_tasks": 2,  # two workflow tasks recorded markers: one action each
        "search_attribute_upsert": 1,  # the TemporalChangeVersion-only upsert is free
        "timer_started": 1,
        "activity_started": 1,
        "activity_retry": 2,  # attempt 3 on the Started event
        "signal": 1,
        "update": 1,
        "child_workflow": 2,
    }
    assert actions["total"] == 14
    assert actions["marker_tasks_patch_only"] == 1


def test_a_reset_is_an_action_and_another_failed_task_is_not() -> None:
    reset = WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_RESET_WORKFLOW
    other = WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_NON_DETERMINISTIC_ERROR
    failed = [
        event(
            1,
            T.EVENT_TYPE_WORKFLOW_TASK_FAILED,
            workflow_task_failed_event_attributes=WorkflowTaskFailedEventAttributes(cause=cause),
        )
        for cause in (reset, other)
    ]
    assert billable_actions(failed)["by_kind"] == {"reset": 1}


def test_visibility_writes_are_the_start_every_upsert_and_the_close() -> None:
    assert visibility_writes(a_case_life()) == {"start": 1, "upserts": 2, "close": 1, "total": 4}


def test_the_footprint_counts_events_bytes_tasks_and_wakes() -> None:
    events = a_case_life()
    footprint = history_footprint(events, "Asia/Shanghai")
    assert footprint["events"] == 24
    assert footprint["events_by_type"]["WORKFLOW_TASK_COMPLETED"] == 3
    assert footprint["events_by_type"]["MARKER_RECORDED"] == 3
    assert (footprint["workflow_tasks"], footprint["activity_tasks"]) == (3, 1)
    # The bytes Temporal stores: each event as serialised.
    assert history_bytes(events) == sum(len(e.SerializeToString()) for e in events) > 0
    opening, morning = footprint["wakes"]
    assert (opening["events"], opening["actions"], opening["activities"]) == (9, 6, [])
    assert morning["local"] == "2026-03-02T08:00:00+08:00"
    assert (morning["events"], morning["workflow_tasks"], morning["activity_tasks"]) == (15, 2, 1)
    assert (morning["actions"], morning["activities"]) == (8, ["send_notice"])


def test_value_bytes_measure_what_is_stored() -> None:
    row = {"text": "é1", "number": 5, "nothing": None, "flag": True, "blob": b"xy"}
    assert value_bytes(row) == 3 + 8 + 0 + 1 + 2


def case_database() -> Engine:
    engine = create_engine("sqlite://")
    SQLModel.metadata.create_all(engine)
    at = "2026-03-02T00:00:00.000000+00:00"
    with Session(engine) as session:
        session.add(BorrowerRow(borrower_id="B-1", phone="+8613800138000", updated_at=at))
        for attempt_id, case_id, channel, status in [
            ("a1", "case-1", "sms", "sent"),
            ("a2", "case-1", "sms", "sent"),
            ("a3", "case-1", "letter", "skipped"),
            ("b1", "case-2", "sms", "sent"),
        ]:
            loan_id = "L-1" if case_id == "case-1" else "L-2"
            session.add(
                ContactAttemptRow(
                    attempt_id=attempt_id,
                    case_id=case_id,
                    loan_id=loan_id,
                    channel=channel,
                    status=status,
                    template="reminder",
                    created_at=at,
                )
            )
        session.commit()
    return engine


def test_the_case_database_footprint_is_the_cases_rows_alone() -> None:
    engine = case_database()
    owners = {"case_id": "case-1", "loan_id": "L-1", "borrower_id": "B-1"}
    with engine.connect() as connection:
        found, shared = case_rows(connection, owners)
    assert {"desk_users", "inbound_messages", "portal_secrets"} <= set(shared)
    assert "contact_attempts" not in shared
    footprint = database_footprint(found, shared)
    tables = footprint["tables"]
    assert (tables["contact_attempts"]["rows"], tables["borrowers"]["rows"]) == (3, 1)
    assert tables["payments"]["rows"] == 0
    assert footprint["total"]["rows"] == 4
    assert footprint["total"]["value_bytes"] == sum(
        value_bytes(r) for r in found["borrowers"]
    ) + sum(value_bytes(r) for r in found["contact_attempts"])
    if "sqlite_index_bytes" in tables["contact_attempts"]:  # where SQLite has dbstat
        assert tables["contact_attempts"]["sqlite_index_bytes"] > 0
    assert contacts_by_channel(found["contact_attempts"]) == {
        "letter": {"skipped": 1},
        "sms": {"sent": 2},
    }


def test_database_statements_are_counted_by_verb_and_rows() -> None:
    engine = create_engine("sqlite://")
    with DatabaseStatements() as statements, engine.begin() as connection:
        connection.execute(text("CREATE TABLE t (x INTEGER)"))
        connection.execute(text("INSERT INTO t VALUES (:x)"), [{"x": 1}, {"x": 2}])
        connection.execute(text("UPDATE t SET x = 3"))
        connection.execute(text("SELECT x FROM t")).all()
    connection_after = engine.connect()
    connection_after.execute(text("SELECT 1"))  # not counted: the counter is closed
    connection_after.close()
    counted = statements.report()["by_activity"]["outside activities"]
    assert counted == {"insert": 2, "update": 1, "select": 1, "commits": 1}
