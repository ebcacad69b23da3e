"""Messages that arrive while the case awaits an activity.

Handlers run whenever the workflow awaits. Each test registers one activity by name with a
stand-in that is held open on an event, sends a hold, a cease request or a full payment while
the case waits for it, then lets it go, and asserts that no contact reached the provider after
the message. The other activities are the real ones, on a real SQLite database, on the real dev
server, under the `demo` policy (a "day" is 2 s, no contact window).
"""

from __future__ import annotations

import asyncio
import re
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text
from temporalio import activity
from temporalio.client import WorkflowHandle

import contracts
from activities.case_activities import CollectionActivities
from activities.notify import ChannelNotifier
from activities.store import Store
from contracts import CaseRecords, ContactRequest, ContactResult, PrepareRequest
from tests.helpers.case_history import (
    activities_scheduled,
    cancel_requests,
    events_after_last_update,
    has_slept,
    sleeps_longer_than,
)
from tests.helpers.cases import borrower_days_ago, case_input, status_of
from tests.helpers.eventually import eventually
from tests.helpers.providers import Reply, serving_loopback, twilio, twilio_created
from tests.helpers.temporal import CaseWorld, DevServer
from tests.helpers.workers import worker_with
from workflows.collection_case import CollectionCase

CEASE = {"hold_id": "cease-1", "kind": "cease_contact", "reason": "borrower asked to stop"}


@dataclass
class Provider:
    """What reached the provider, with the moment it arrived."""

    received: list[tuple[str, str, int, datetime]] = field(default_factory=list)

    def deliver(self, request: ContactRequest) -> ContactResult:
        self.received.append(
            (request.attempt_id, request.channel, request.outstanding_minor, datetime.now(UTC))
        )
        return ContactResult(attempt_id=request.attempt_id, result="sent")


@dataclass
class Held:
    """An activity held open until the test lets it go; it notices a cancellation through
    its heartbeats, as any long activity does."""

    started: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    cancelled: int = 0
    calls: int = 0

    async def hold_open(self) -> None:
        self.calls += 1
        self.started.set()
        try:
            while not self.release.is_set():
                activity.heartbeat()
                await asyncio.sleep(0.05)
        except asyncio.CancelledError:
            self.cancelled += 1
            raise


@dataclass
class Scene:
    handle: WorkflowHandle[Any, Any]
    provider: Provider
    held: Held
    world: CaseWorld


def demo_case(days_overdue: int) -> dict[str, Any]:
    return case_input(borrower_days_ago(days_overdue), policy="demo")


def unsent_events(world: CaseWorld) -> int:
    engine = create_engine(world.database_url)
    try:
        with engine.connect() as connection:
            return int(
                connection.execute(
                    text("select count(*) from case_events where kind = 'contact_not_sent'")
                ).scalar_one()
            )
    finally:
        engine.dispose()


# -- the contact's own activity is pending -------------------------------------------
# Each kind of contact, with the days overdue (demo days) at which it is due at once.
CONTACTS = [
    (contracts.SEND_NOTICE, 4),  # the first SMS, DPD 3
    (contracts.QUEUE_CALL, 15),  # the first call task, DPD 14
    (contracts.BOOK_FIELD_VISIT, 41),  # the first field visit, DPD 40
]


@pytest.mark.parametrize("message", ["hold", "cease", "full_payment"])
@pytest.mark.parametrize(("activity_name", "days_overdue"), CONTACTS)
async def test_a_message_while_a_contact_is_pending_cancels_it(
    dev_server: DevServer,
    case_world: CaseWorld,
    real_activities: CollectionActivities,
    message: str,
    activity_name: str,
    days_overdue: int,
) -> None:
    provider, held = Provider(), Held()

    @activity.defn(name=activity_name)
    async def contact(request: ContactRequest) -> ContactResult:
        await held.hold_open()
        return provider.deliver(request)

    data = demo_case(days_overdue=days_overdue)
    async with worker_with(dev_server, case_world, real_activities, contact):
        handle = await dev_server.env.client.start_workflow(
            CollectionCase.run, data, id=f"collection-{data['loan_id']}",
            task_queue=case_world.task_queue,
        )  # fmt: skip
        await asyncio.wait_for(held.started.wait(), 20)
        if message == "full_payment":
            answer = await handle.execute_update(
                CollectionCase.record_payment,
                {"payment_id": "pay-1", "amount_minor": 500000, "currency": "CNY"},
            )
            assert answer["status"] == "paid"
        else:
            hold = CEASE if message == "cease" else {**CEASE, "kind": "dispute"}
            answer = await handle.execute_update(CollectionCase.place_hold, hold)
            assert answer["status"] == "on_hold"
        answered_at = datetime.now(UTC)
        await eventually(lambda: held.cancelled == 1)
        held.release.set()
        # The cancelled contact returns and the case decides again, then goes back to sleep.
        after = await eventually(lambda: events_after_last_update(handle), has_slept)
        await eventually(lambda: unsent_events(case_world) >= 1, seconds=10)  # its bookkeeping
        status = await status_of(handle)
        await handle.terminate("test over")

    # A case that ran the contact again after the message (the message ignored, or the
    # cancelled contact retried) schedules its activity before it sleeps; one that only put
    # the contact off sleeps less than the day and a half of the demo clock (3 s) within
    # which the contact would be due again.
    assert activities_scheduled(after, activity_name) == []
    assert sleeps_longer_than(after, timedelta(seconds=3))
    assert [entry for entry in provider.received if entry[3] >= answered_at] == []
    assert status["contacts"] == []
    assert unsent_events(case_world) == 1


async def test_a_full_payment_during_the_legal_hand_off_cancels_it(
    dev_server: DevServer, case_world: CaseWorld, real_activities: CollectionActivities
) -> None:
    held = Held()

    @activity.defn(name=contracts.HAND_OFF_TO_LEGAL)
    async def hand_off_to_legal(request: contracts.LegalHandOffRequest) -> None:
        await held.hold_open()

    data = demo_case(days_overdue=62)  # DPD 62: the hand-off (DPD 61) is due at once
    async with worker_with(dev_server, case_world, real_activities, hand_off_to_legal):
        handle = await dev_server.env.client.start_workflow(
            CollectionCase.run, data, id=f"collection-{data['loan_id']}",
            task_queue=case_world.task_queue,
        )  # fmt: skip
        await asyncio.wait_for(held.started.wait(), 20)
        # A hold does not stop a hand-off (it is not a contact); payment in full does.
        await handle.execute_update(CollectionCase.place_hold, CEASE)
        # The case reacts to the hold in the workflow task that completes the update: a case
        # that stopped the hand-off for a hold would have asked for its cancellation there.
        assert cancel_requests(await events_after_last_update(handle)) == []
        assert held.cancelled == 0
        await handle.execute_update(
            CollectionCase.record_payment,
            {"payment_id": "pay-1", "amount_minor": 500000, "currency": "CNY"},
        )
        await eventually(lambda: held.cancelled == 1)
        status = await status_of(handle)
        await handle.terminate("test over")

    assert status["status"] == "paid" and status["legal"] is None


async def test_a_partial_payment_re_decides_the_reminder_with_the_new_amount(
    dev_server: DevServer, case_world: CaseWorld, real_activities: CollectionActivities
) -> None:
    provider, held = Provider(), Held()

    @activity.defn(name=contracts.SEND_NOTICE)
    async def send_notice(request: ContactRequest) -> ContactResult:
        if held.calls == 0:
            await held.hold_open()
        return provider.deliver(request)

    data = demo_case(days_overdue=4)
    async with worker_with(dev_server, case_world, real_activities, send_notice):
        handle = await dev_server.env.client.start_workflow(
            CollectionCase.run, data, id=f"collection-{data['loan_id']}",
            task_queue=case_world.task_queue,
        )  # fmt: skip
        await asyncio.wait_for(held.started.wait(), 20)
        await handle.execute_update(
            CollectionCase.record_payment,
            {"payment_id": "pay-1", "amount_minor": 200000, "currency": "CNY"},
        )
        await eventually(lambda: len(provider.received) >= 1)
        status = await status_of(handle)
        await handle.terminate("test over")

    # The message that left states the amount after the payment, under the same attempt id.
    assert held.cancelled == 1
    attempt_id, _channel, amount, _ = provider.received[0]
    assert amount == 300000
    assert status["contacts"][0]["attempt_id"] == attempt_id


# -- the case awaits its bookkeeping or its preparation ---------------------------------
@pytest.mark.parametrize("message", ["hold", "cease", "full_payment"])
async def test_a_message_while_bookkeeping_is_written_stops_every_contact(
    dev_server: DevServer,
    case_world: CaseWorld,
    real_activities: CollectionActivities,
    message: str,
) -> None:
    provider = Provider()
    bookkeeping_started, bookkeeping_release = threading.Event(), threading.Event()

    @activity.defn(name=contracts.SEND_NOTICE)
    def send_notice(request: ContactRequest) -> ContactResult:
        return provider.deliver(request)

    @activity.defn(name=contracts.STORE_CASE_RECORDS)
    def store_case_records(records: CaseRecords) -> None:
        bookkeeping_started.set()
        bookkeeping_release.wait(timeout=30)
        real_activities.store_case_records(records)

    data = demo_case(days_overdue=1)  # DPD 1: the first SMS is two demo days away
    async with worker_with(
        dev_server, case_world, real_activities, send_notice, store_case_records
    ):
        handle = await dev_server.env.client.start_workflow(
            CollectionCase.run, data, id=f"collection-{data['loan_id']}",
            task_queue=case_world.task_queue,
        )  # fmt: skip
        # A payment gives the case bookkeeping to write; the write is held open.
        await handle.execute_update(
            CollectionCase.record_payment,
            {"payment_id": "pay-1", "amount_minor": 1000, "currency": "CNY"},
        )
        assert await asyncio.to_thread(bookkeeping_started.wait, 20)
        if message == "full_payment":
            answer = await handle.execute_update(
                CollectionCase.record_payment,
                {"payment_id": "pay-2", "amount_minor": 499000, "currency": "CNY"},
            )
        else:
            hold = CEASE if message == "cease" else {**CEASE, "kind": "dispute"}
            answer = await handle.execute_update(CollectionCase.place_hold, hold)
        answered_at = datetime.now(UTC)
        expected = "paid" if message == "full_payment" else "on_hold"
        assert answer["status"] == expected
        bookkeeping_release.set()
        # The bookkeeping is written and the case decides again, then goes back to sleep.
        after = await eventually(lambda: events_after_last_update(handle), has_slept)
        status = await status_of(handle)
        await handle.terminate("test over")

    # The first SMS is due two demo days (4 s) after the start: a case that kept to its ladder
    # after the message schedules it before it sleeps, or sleeps until it is due.
    assert activities_scheduled(after, contracts.SEND_NOTICE) == []
    assert sleeps_longer_than(after, timedelta(seconds=8))
    assert [entry for entry in provider.received if entry[3] >= answered_at] == []
    assert status["contacts"] == [] and status["status"] == expected


async def test_a_payment_while_the_case_is_being_prepared_stops_every_later_contact(
    dev_server: DevServer, case_world: CaseWorld, real_activities: CollectionActivities
) -> None:
    provider = Provider()
    preparing, prepared = threading.Event(), threading.Event()

    @activity.defn(name=contracts.SEND_NOTICE)
    def send_notice(request: ContactRequest) -> ContactResult:
        return provider.deliver(request)

    @activity.defn(name=contracts.PREPARE_CASE)
    def prepare_case(request: PrepareRequest) -> contracts.PreparedCase:
        preparing.set()
        prepared.wait(timeout=30)
        return real_activities.prepare_case(request)

    data = demo_case(days_overdue=4)
    async with worker_with(dev_server, case_world, real_activities, send_notice, prepare_case):
        handle = await dev_server.env.client.start_workflow(
            CollectionCase.run, data, id=f"collection-{data['loan_id']}",
            task_queue=case_world.task_queue,
        )  # fmt: skip
        assert await asyncio.to_thread(preparing.wait, 20)
        update = asyncio.create_task(
            handle.execute_update(
                CollectionCase.record_payment,
                {"payment_id": "pay-1", "amount_minor": 500000, "currency": "CNY"},
            )
        )
        await asyncio.sleep(1)
        prepared.set()
        answer = await asyncio.wait_for(update, 30)
        answered_at = datetime.now(UTC)
        # The case decides after the payment, then goes back to sleep.
        after = await eventually(lambda: events_after_last_update(handle), has_slept)
        status = await status_of(handle)
        await handle.terminate("test over")

    # A case that went on with its ladder after the payment schedules the next reminder
    # before it sleeps, or sleeps until it is due (every two demo days, 4 s, under `demo`).
    assert activities_scheduled(after, contracts.SEND_NOTICE) == []
    assert sleeps_longer_than(after, timedelta(seconds=4))

    # Preparation is a local activity: the payment reaches the case in the workflow task after
    # it, as if it had come a moment later. Once answered, nothing more goes out.
    assert answer["status"] == "paid"
    assert [entry for entry in provider.received if entry[3] >= answered_at] == []
    assert status["status"] == "paid" and len(status["contacts"]) <= 1


# -- a provider's Retry-After while the case decides again ---------------------------------
def retry_after_deferrals(world: CaseWorld) -> int:
    engine = create_engine(world.database_url)
    try:
        with engine.connect() as connection:
            details = connection.execute(
                text("select detail from case_events where kind = 'contact_not_sent'")
            ).scalars()
            return sum(1 for detail in details if '"rule": "retry_after"' in detail)
    finally:
        engine.dispose()


async def test_a_payment_during_the_providers_retry_after_does_not_call_it_sooner(
    dev_server: DevServer, case_world: CaseWorld
) -> None:
    """Twilio answers the first SMS with 429 and Retry-After; a payment arrives during the
    wait, so the case cancels the contact and decides the step again, starting the activity
    anew at once. Nothing reaches Twilio before the moment it named: the new start answers
    "deferred", the case records why and decides again then."""
    retry_after = 5
    store = Store.from_url(case_world.database_url)
    store.migrate()
    with serving_loopback() as twilio_api, httpx.Client(timeout=5) as client:
        twilio_api.script = [
            Reply(429, {"code": 20429}, headers={"Retry-After": str(retry_after)}),
            Reply(200, {"messages": [], "next_page_uri": None}),  # the lookup: not there
            twilio_created("SM-after-wait"),
        ]
        notifier = ChannelNotifier({"sms": twilio(twilio_api, client)})
        real = CollectionActivities(store, case_world.evidence_dir, notifier)
        data = demo_case(days_overdue=4)
        async with worker_with(dev_server, case_world, real):
            handle = await dev_server.env.client.start_workflow(
                CollectionCase.run, data, id=f"collection-{data['loan_id']}",
                task_queue=case_world.task_queue,
            )  # fmt: skip
            await eventually(lambda: len(twilio_api.seen) >= 1)
            await handle.execute_update(
                CollectionCase.record_payment,
                {"payment_id": "pay-1", "amount_minor": 200000, "currency": "CNY"},
            )
            await eventually(lambda: retry_after_deferrals(case_world) >= 1)
            # Past the moment and a little more: the case may send then, or (the demo
            # ladder moves on every few seconds) find the step stale and skip it.
            first = twilio_api.seen[0]
            wait_until = first.at + timedelta(seconds=retry_after + 2)
            await asyncio.sleep((wait_until - datetime.now(UTC)).total_seconds())
            await handle.terminate("test over")
    store.dispose()

    first, *later = twilio_api.seen
    assert first.status == 429
    assert all(seen.at >= first.at + timedelta(seconds=retry_after) for seen in later)
    # The same attempt sent again (its reference line matches the first try's), if the case
    # did not move on to the next step meanwhile: Twilio was asked first whether the first try
    # had reached it, and the message states the new amount.
    reference = re.search(r"\[ref [A-Z0-9]+\]", first.form["Body"])
    assert reference is not None
    resent = [seen for seen in later if seen.method == "POST" and reference[0] in seen.form["Body"]]
    if resent:
        assert any(seen.method == "GET" and seen.at <= resent[0].at for seen in later)
        assert "3,000.00" in resent[-1].form["Body"]
