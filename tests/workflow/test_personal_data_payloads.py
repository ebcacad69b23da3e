"""Personal data in a case's payloads, on the time-skipping test server: only the start input
carries it."""

from __future__ import annotations

import json

from google.protobuf.message import Message
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.testing import WorkflowEnvironment

from tests.helpers.cases import rows, start_case
from tests.helpers.personal_data import ADDRESS, EMAIL, NAME, PERSONAL, PHONE, texts_of
from tests.helpers.temporal import CaseWorld, make_worker


async def test_personal_data_appears_in_no_payload_but_the_start_input(
    time_env: WorkflowEnvironment, case_world: CaseWorld
) -> None:
    async with make_worker(time_env.client, case_world):
        handle = await start_case(
            time_env, case_world, days_overdue=0, policy="demo", borrower=PERSONAL, shown_in_ui=True
        )
        result = await handle.result()
        history = await handle.fetch_history()
        description = await handle.describe()
        metadata = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)

    # The case went through every kind of contact, and each reached the borrower.
    channels = {contact["channel"] for contact in result["contacts"]}
    assert {"sms", "email", "letter", "call", "field_visit", "legal"} <= channels
    recipients = dict(
        rows(
            case_world, "select channel, recipient from contact_attempts where status != 'skipped'"
        )
    )
    assert recipients == {
        "sms": PHONE,
        "email": EMAIL,
        "letter": ADDRESS,
        "call": PHONE,
        "field_visit": ADDRESS,
        "legal": None,
    }
    bodies = rows(case_world, "select body from contact_attempts where channel = 'sms'")
    assert all(NAME in body for (body,) in bodies)

    started, *later = history.events
    # The start input is the one payload with the details (the search finds them there)...
    start_input = started.workflow_execution_started_event_attributes.input
    assert leaks(start_input) == list(NEEDLES)
    # ...and the rest of the start event, and every later event, holds none of them.
    rest_of_start = HistoryEvent()
    rest_of_start.CopyFrom(started)
    rest_of_start.workflow_execution_started_event_attributes.ClearField("input")
    found = {
        f"{event.event_id} {EventType.Name(event.event_type)}": leak
        for event in [rest_of_start, *later]
        if (leak := leaks(event))
    }
    assert found == {}
    # The search did see the activities' inputs: the borrower by id.
    scheduled = [
        event.activity_task_scheduled_event_attributes
        for event in later
        if event.HasField("activity_task_scheduled_event_attributes")
    ]
    contact_inputs = [
        json.loads(attributes.input.payloads[0].data)
        for attributes in scheduled
        if attributes.activity_type.name in ("send_notice", "queue_call", "book_field_visit")
    ]
    assert contact_inputs and {entry["borrower_id"] for entry in contact_inputs} == {
        PERSONAL["borrower_id"]
    }
    assert all("borrower" not in entry for entry in contact_inputs)
    # Nor do the UI's summary, current details and search attributes.
    assert "Last contacts" in metadata.current_details
    summary, details = await description.static_summary(), await description.static_details()
    assert summary and details  # shown, as `starter.py open` shows them
    shown = [summary, details, metadata.current_details]
    shown += [str(pair.value) for pair in description.typed_search_attributes]
    assert not [needle for needle in NEEDLES if any(needle in text for text in shown)]

    # The lawyers' evidence package still names the borrower, from the case database.
    case_file = case_world.evidence_dir / result["loan_id"] / "case.json"
    evidence = json.loads(case_file.read_text())
    assert {key: evidence["borrower"][key] for key in ("name", "phone", "email", "address")} == {
        "name": NAME,
        "phone": PHONE,
        "email": EMAIL,
        "address": ADDRESS,
    }


def leaks(message: Message) -> list[str]:
    """The personal data found anywhere in `message`."""
    text = "\n".join(texts_of(message))
    return [needle for needle in NEEDLES if needle in text]


# The number without its "+" as well: a payload may hold it in any shape.
NEEDLES = (NAME, PHONE, PHONE.lstrip("+"), EMAIL, ADDRESS)
