"""Operator and agent messages to a case: holds, contact and visit outcomes, legal events."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from domain import fields

HOLD_KINDS = ("dispute", "cease_contact", "bankruptcy", "deceased", "complaint")
CONTACT_OUTCOMES = ("reached", "no_answer", "wrong_number", "refused", "promised", "disputed")
VISIT_OUTCOMES = ("met", "not_home", "moved", "refused", "paid_on_site")
# The legal track: which sub-stage may follow which. A file is referred by the hand-off, filed
# with the court, heard (a hearing may be rescheduled), judged and enforced; it may be withdrawn
# until judgment, and closed once filed.
LEGAL_MOVES: dict[str, tuple[str, ...]] = {
    "referred": ("filed", "withdrawn"),
    "filed": ("hearing_scheduled", "withdrawn", "closed"),
    "hearing_scheduled": ("hearing_scheduled", "judgment", "withdrawn", "closed"),
    "judgment": ("enforcement_started", "closed"),
    "enforcement_started": ("closed",),
    "withdrawn": ("closed",),
    "closed": (),
}
LEGAL_EVENTS = (
    "filed",
    "hearing_scheduled",
    "judgment",
    "enforcement_started",
    "withdrawn",
    "closed",
)


@dataclass(frozen=True)
class HoldRequest:
    hold_id: str
    kind: str
    reason: str


@dataclass(frozen=True)
class Outcome:
    """The outcome of a contact attempt (call) or a field visit; `ref_id` names it."""

    ref_id: str
    outcome: str
    note: str | None = None


@dataclass(frozen=True)
class LegalEvent:
    event_id: str
    event: str
    note: str | None = None


def _note(data: Mapping[str, Any]) -> str | None:
    return fields.bounded_text(data, "note", required=False)


def parse_hold(raw: Any) -> HoldRequest:
    data = fields.as_object(raw, "hold")
    return HoldRequest(
        hold_id=fields.message_id(data, "hold_id"),
        kind=fields.one_of(data, "kind", HOLD_KINDS),
        reason=fields.bounded_text(data, "reason", required=True),
    )


def parse_hold_release(raw: Any) -> str:
    return fields.message_id(fields.as_object(raw, "release"), "hold_id")


def parse_contact_outcome(raw: Any) -> Outcome:
    data = fields.as_object(raw, "outcome")
    return Outcome(
        ref_id=fields.message_id(data, "attempt_id"),
        outcome=fields.one_of(data, "outcome", CONTACT_OUTCOMES),
        note=_note(data),
    )


def parse_visit_outcome(raw: Any) -> Outcome:
    data = fields.as_object(raw, "outcome")
    return Outcome(
        ref_id=fields.message_id(data, "visit_id"),
        outcome=fields.one_of(data, "outcome", VISIT_OUTCOMES),
        note=_note(data),
    )


def parse_legal_event(raw: Any) -> LegalEvent:
    data = fields.as_object(raw, "legal_event")
    return LegalEvent(
        event_id=fields.message_id(data, "event_id"),
        event=fields.one_of(data, "event", LEGAL_EVENTS),
        note=_note(data),
    )
