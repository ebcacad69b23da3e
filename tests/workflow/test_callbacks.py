"""`request_callback` through the real workflow on the time-skipping server (a worker running
the real activities, the case database on SQLite): the call task it queues is the case's, due at
the moment asked for, in the desk's queue from then on and answered like any call; refusals
name their field and change nothing."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from activities.store import Store
from tests.helpers.cases import end_case, rows, rows_when, start_case, status_of, status_when
from tests.helpers.histories import save_history
from tests.helpers.temporal import BORROWER_TIMEZONE, CaseWorld, advance_to_local_time, make_worker
from web.queue_reading import read_queue

# Inside the default policy's contact window (08:00-21:00 in Shanghai) and well before its end.
OPEN_AT = time(10, 0)
CALL_BACK_AT = time(14, 0)
REJECTED = "InvalidCallback"


def local_today_at(now: datetime, at: time) -> datetime:
    return datetime.combine(now.astimezone(BORROWER_TIMEZONE).date(), at, tzinfo=BORROWER_TIMEZONE)


def ask(request_id: str, at: datetime | str, **more: Any) -> dict[str, Any]:
    return {"request_id": request_id, "at": at if isinstance(at, str) else at.isoformat(), **more}


async def first_call_queued(world: CaseWorld) -> None:
    """The case is prepared and has queued its ladder's first call (DPD 14)."""
    await rows_when(world, "select work_item_id from work_items", 1)


async def refusal(handle: WorkflowHandle[Any, Any], arg: dict[str, Any]) -> str:
    """The rejection's message (`field: problem`), of the update's own type."""
    with pytest.raises(WorkflowUpdateFailedError) as failed:
        await handle.execute_update("request_callback", arg, result_type=dict)
    cause = failed.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == REJECTED, cause
    return cause.message


def callbacks_on_record(world: CaseWorld) -> int:
    return int(
        rows(world, "select count(*) from case_events where kind = 'callback_requested'")[0][0]
    )


async def test_a_call_back_is_a_call_task_of_the_case_due_then_in_the_desks_queue(
    time_env: WorkflowEnvironment, case_world: CaseWorld
) -> None:
    store = Store.from_url(case_world.database_url)
    store.migrate()
    async with make_worker(time_env.client, case_world):
        await advance_to_local_time(time_env, OPEN_AT)
        handle = await start_case(time_env, case_world, days_overdue=15)
        await first_call_queued(case_world)
        now = await time_env.get_current_time()
        at = local_today_at(now, CALL_BACK_AT)
        asked = ask("cb-1", at, source="self_service")
        answer = await handle.execute_update("request_callback", asked, result_type=dict)
        again = await handle.execute_update("request_callback", asked, result_type=dict)

        def queued(status: dict[str, Any]) -> bool:
            action = status["next_action"] or {}
            return any(c["template"] == "callback" for c in status["contacts"]) and (
                datetime.fromisoformat(str(action.get("due_at"))) == at
            )

        status = await status_when(handle, queued)
        [(task_id, due_at, created_at)] = await rows_when(
            case_world,
            "select work_item_id, due_at, created_at from work_items "
            "where work_item_id like '%.cb1'",
            1,
        )
        before_then = read_queue(store, user="agent1", now=now)
        await time_env.sleep(at - now)
        then = await time_env.get_current_time()
        at_then = read_queue(store, user="agent1", now=then)
        outcome = await handle.execute_update(
            "record_contact_outcome",
            {"attempt_id": task_id, "outcome": "reached", "source": "agent1"},
            result_type=dict,
        )
        done = await rows_when(
            case_world,
            f"select status, outcome from work_items where work_item_id = '{task_id}' "
            "and status = 'done'",
            1,
        )
        audit = await rows_when(
            case_world,
            "select ref_id, detail from case_events where kind = 'callback_requested'",
            1,
        )
        await save_history(handle, "callback_requested")
        await end_case(handle)
    store.dispose()

    assert answer == again == {"request_id": "cb-1", "accepted": True, "status": "active"}
    [call_back] = [c for c in status["contacts"] if c["template"] == "callback"]
    assert call_back["attempt_id"] == task_id and call_back["channel"] == "call"
    assert call_back["result"] == "queued" and datetime.fromisoformat(call_back["at"]) == at
    assert status["next_action"]["kind"] == "call: call back 1 asked for"
    # The work item is due at the moment asked for, and written with it as its call's moment.
    assert datetime.fromisoformat(due_at) == datetime.fromisoformat(created_at) == at
    # The desk lists the case's call back (its latest task): later until then, callable then.
    [waiting] = before_then.later
    assert waiting.call.attempt_id == task_id and waiting.held_by_rule == "callback_time"
    assert waiting.callable_at == at
    assert [entry.call.attempt_id for entry in at_then.callable_now] == [task_id]
    assert outcome["recorded"] is True
    assert done == [("done", "reached")]
    assert audit == [
        ("cb-1", f'{{"at": "{at.astimezone(UTC).isoformat()}", "source": "self_service"}}')
    ]


async def test_every_refusal_names_its_field_and_changes_nothing(
    own_time_env: WorkflowEnvironment, case_world: CaseWorld
) -> None:
    env = own_time_env  # rejected updates: a server of its own (see `own_time_env`)
    async with make_worker(env.client, case_world):
        await advance_to_local_time(env, OPEN_AT)
        handle = await start_case(env, case_world, days_overdue=15)
        await first_call_queued(case_world)
        now = await env.get_current_time()
        before = await status_of(handle)
        at_fields = {
            "past": await refusal(handle, ask("cb-1", now - timedelta(hours=1))),
            "too far": await refusal(handle, ask("cb-1", now + timedelta(days=20))),
            "at night": await refusal(handle, ask("cb-1", local_today_at(now, time(22, 0)))),
            "no offset": await refusal(handle, ask("cb-1", "2030-01-01T14:00:00")),
        }
        no_id = await refusal(handle, {"at": local_today_at(now, CALL_BACK_AT).isoformat()})
        unchanged = await status_of(handle)
        nothing_on_record = callbacks_on_record(case_world)

        at = local_today_at(now, CALL_BACK_AT)
        await handle.execute_update("request_callback", ask("cb-1", at), result_type=dict)
        # The case queues the call back in its loop, after the answer: a hold placed before
        # that would rightly keep it from being queued.
        await status_when(handle, lambda s: any(c["template"] == "callback" for c in s["contacts"]))
        conflict = await refusal(handle, ask("cb-1", at + timedelta(hours=1)))
        second = await refusal(handle, ask("cb-2", at + timedelta(hours=1)))
        await handle.execute_update(
            "place_hold",
            {"hold_id": "h-1", "kind": "cease_contact", "reason": "asked to stop"},
            result_type=dict,
        )
        held = await refusal(handle, ask("cb-3", at + timedelta(hours=2)))
        await handle.execute_update("release_hold", {"hold_id": "h-1"}, result_type=dict)
        await handle.execute_update(
            "record_payment",
            {"payment_id": "p-1", "amount_minor": 500000, "currency": "CNY"},
            result_type=dict,
        )
        closed = await refusal(handle, ask("cb-4", at + timedelta(hours=2)))
        final = await status_of(handle)
        await end_case(handle)

    for why, message in at_fields.items():
        assert message.startswith("at: "), (why, message)
    assert "is not ahead" in at_fields["past"]
    assert "more than 14 days ahead" in at_fields["too far"]
    assert "outside the contact window" in at_fields["at night"]
    assert "UTC offset" in at_fields["no offset"]
    assert no_id.startswith("request_id: ")
    for field in ("status", "contacts", "next_action", "holds"):
        assert unchanged[field] == before[field], field
    assert nothing_on_record == 0
    assert conflict.startswith("request_id: ") and "already used" in conflict
    assert second.startswith("request_id: ") and "already asked for" in second
    assert held.startswith("request_id: ") and "on hold (cease_contact)" in held
    assert closed.startswith("request_id: ") and "closed" in closed
    assert final["status"] == "paid"
    assert [c["template"] for c in final["contacts"]].count("callback") == 1
    assert callbacks_on_record(case_world) == 1
