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
    # Who sent it (the agent the desk acts for); every message below may name one.
    source: str | None = fields.added_later()


@dataclass(frozen=True)
class HoldRelease:
    hold_id: str
    source: str | None = fields.added_later()


@dataclass(frozen=True)
class Outcome:
    """The outcome of a contact attempt (call) or a field visit; `ref_id` names it."""

    ref_id: str
    outcome: str
    note: str | None = None
    source: str | None = fields.added_later()


@dataclass(frozen=True)
class LegalEvent:
    event_id: str
    event: str
    note: str | None = None
    source: str | None = fields.added_later()


def _note(data: Mapping[str, Any]) -> str | None:
    return fields.bounded_text(data, "note", required=False)


def parse_hold(raw: Any) -> HoldRequest:
    data = fields.as_object(raw, "hold")
    return HoldRequest(
        hold_id=fields.message_id(data, "hold_id"),
        kind=fields.one_of(data, "kind", HOLD_KINDS),
        reason=fields.bounded_text(data, "reason", required=True),
        source=fields.source(data),
    )


def parse_hold_release(raw: Any) -> HoldRelease:
    data = fields.as_object(raw, "release")
    return HoldRelease(hold_id=fields.message_id(data, "hold_id"), source=fields.source(data))


def _noted_choice(
    raw: Any, what: str, id_field: str, choice_field: str, choices: tuple[str, ...]
) -> tuple[str, str, str | None, str | None]:
    """A message naming itself by `id_field`, with one of `choices`, an optional note and an
    optional source: outcomes and legal events alike."""
    data = fields.as_object(raw, what)
    return (
        fields.message_id(data, id_field),
        fields.one_of(data, choice_field, choices),
        _note(data),
        fields.source(data),
    )


def parse_contact_outcome(raw: Any) -> Outcome:
    return Outcome(*_noted_choice(raw, "outcome", "attempt_id", "outcome", CONTACT_OUTCOMES))


def parse_visit_outcome(raw: Any) -> Outcome:
    return Outcome(*_noted_choice(raw, "outcome", "visit_id", "outcome", VISIT_OUTCOMES))


def parse_legal_event(raw: Any) -> LegalEvent:
    return LegalEvent(*_noted_choice(raw, "legal_event", "event_id", "event", LEGAL_EVENTS))
