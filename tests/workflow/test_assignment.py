"""The responsible collector in whole cases on the time-skipping server: a case opened in phone
collection is assigned by the rota (the next agent of its team), shows it in `status` and in
the `CollectionAssignee` search attribute, and a supervisor's `assign_collector` update hands
it to someone else. No hour of the day matters: assignment is no contact."""

from __future__ import annotations

import json
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from activities.store import Store
from migrations.desk_tables import DeskUserRow
from migrations.tables import utc_iso
from tests.helpers.cases import end_case, rows, rows_when, start_case, status_when
from tests.helpers.histories import save_history
from tests.helpers.temporal import CaseWorld, make_worker
from workflows.collection_case import CollectionCase

# 15 days past due: the `default` policy's phone collection (bucket M1) from the start.
PHONE_DPD = 15


def desk(world: CaseWorld, *users: tuple[str, str, str]) -> None:
    """Desk users (name, role, buckets) in the case database, as the desk would add them."""
    store = Store.from_url(world.database_url)
    store.migrate()
    now = utc_iso()
    for name, role, buckets in users:
        store.insert_if_absent(
            DeskUserRow(user_name=name, role=role, buckets=buckets, created_at=now, updated_at=now)
        )
    store.dispose()


def assignees_upserted(events: list[HistoryEvent]) -> list[str]:
    """The values the case gave `CollectionAssignee`, in order."""
    found = []
    for event in events:
        attributes = event.upsert_workflow_search_attributes_event_attributes.search_attributes
        value = attributes.indexed_fields.get("CollectionAssignee")
        if value is not None:
            found.append(json.loads(value.data))
    return found


def local_activity_of(event: HistoryEvent) -> str | None:
    """The activity type a local activity's marker records, or None for any other event."""
    details = event.marker_recorded_event_attributes.details
    if "data" not in details:
        return None
    return str(json.loads(details["data"].payloads[0].data)["activity_type"])


def assignment_events(events: list[HistoryEvent]) -> list[str]:
    """The events from the rota's answer (the `assign_collector` local activity's marker) to
    the upsert of the assignee, both included."""
    [answered] = [i for i, e in enumerate(events) if local_activity_of(e) == "assign_collector"]
    upsert = next(i for i in range(answered, len(events)) if assignees_upserted([events[i]]))
    return [EventType.Name(e.event_type) for e in events[answered : upsert + 1]]


async def history(handle: WorkflowHandle[Any, Any]) -> list[HistoryEvent]:
    return [event async for event in handle.fetch_history_events()]


async def test_a_case_in_phone_collection_is_assigned_by_the_rota_and_reassigned(
    time_env: WorkflowEnvironment, case_world: CaseWorld
) -> None:
    desk(
        case_world,
        ("bob", "agent", "M1,M2"),
        ("ann", "agent", ""),
        ("al", "agent", "M3"),  # another bucket
        ("fay", "field", ""),  # another role
    )
    async with make_worker(time_env.client, case_world):
        first = await start_case(time_env, case_world, days_overdue=PHONE_DPD)
        first_status = await status_when(first, lambda s: s["assignee"] is not None)
        second = await start_case(time_env, case_world, days_overdue=PHONE_DPD)
        second_status = await status_when(second, lambda s: s["assignee"] is not None)
        assigned = await history(first)
        answer = await first.execute_update(
            CollectionCase.assign_collector,
            {"message_id": "re-1", "user_name": "cy", "source": "sue"},
        )
        again = await first.execute_update(
            CollectionCase.assign_collector,
            {"message_id": "re-1", "user_name": "cy", "source": "sue"},
        )
        reassigned = await status_when(first, lambda s: s["assignee"] == "cy")
        events = await history(first)
        audit = await rows_when(
            case_world,
            "select ref_id, detail from case_events where kind = 'assigned' order by at",
            3,
        )
        await save_history(first, "assigned_then_reassigned")
        await end_case(first)
        await end_case(second)
    # The rota: ann, then bob (by name); al works another bucket, fay is a field collector.
    assert (first_status["stage"], first_status["assignee"]) == ("phone", "ann")
    assert second_status["assignee"] == "bob"
    assert assignees_upserted(assigned) == ["ann"]
    # What the assignment added: the rota's answer, taken by a local activity in the workflow
    # task that found the assignment due, and the upsert in that same task: two events, no
    # activity of its own and no workflow task of its own.
    assert assignment_events(assigned) == [
        "EVENT_TYPE_MARKER_RECORDED",
        "EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES",
    ]
    scheduled = [
        e.activity_task_scheduled_event_attributes.activity_type.name
        for e in events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    ]
    assert "assign_collector" not in scheduled
    assert [local_activity_of(e) for e in events].count("assign_collector") == 1
    # The supervisor's reassignment: answered, the same message again changes nothing.
    assert (
        answer
        == again
        == {
            "message_id": "re-1",
            "user_name": "cy",
            "previous": "ann",
            "status": "active",
        }
    )
    assert reassigned["assignee"] == "cy"
    assert assignees_upserted(events) == ["ann", "cy"]
    details = {
        str(ref_id): json.loads(detail)
        for ref_id, detail in rows(
            case_world,
            "select ref_id, detail from case_events where kind = 'assigned' "
            f"and loan_id = '{first.id.removeprefix('collection-')}'",
        )
    }
    assert len(audit) == 3
    assert details["re-1"] == {
        "user_name": "cy",
        "assigned_by": "sue",
        "role": "agent",
        "stage": "phone",
    }
    assert details["rota:agent"] == {
        "user_name": "ann",
        "assigned_by": "rota",
        "role": "agent",
        "stage": "phone",
        "team": "agent:M1",
    }
