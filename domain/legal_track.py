"""The legal track: after the hand-off, the lawyers' events follow `LEGAL_MOVES` (filing,
hearing, judgment, enforcement, ...); where it stands is `CaseCore.legal_stage`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from domain.audit import AuditFact, AuditKind, with_source
from domain.case_core import CaseCore
from domain.errors import InvalidInput
from domain.messages import LEGAL_MOVES, LegalEvent


class LegalTrack(CaseCore):
    def check_legal_event(self, event: LegalEvent) -> None:
        if self.earlier_answer("legal", event.event_id, event) is not None:
            return
        stage = self.legal_stage
        if stage is None:
            raise InvalidInput("event", "the case has not been handed over to legal")
        allowed = LEGAL_MOVES[stage]
        if event.event not in allowed:
            raise InvalidInput(
                "event",
                f"cannot follow {stage}"
                + (f" (next may be: {', '.join(allowed)})" if allowed else " (the file is closed)"),
            )

    def record_legal_event(self, event: LegalEvent, at: datetime) -> dict[str, Any]:
        self.check_legal_event(event)
        earlier = self.earlier_answer("legal", event.event_id, event)
        if earlier is not None:
            return earlier
        self.legal_events.append(
            {"event_id": event.event_id, "event": event.event, "at": at.isoformat()}
        )
        self.journal.append(
            AuditFact(
                AuditKind.LEGAL_EVENT,
                event.event_id,
                with_source({"event": event.event, "note": event.note}, event.source),
            )
        )
        return self._answer(
            "legal",
            event.event_id,
            event,
            {"event_id": event.event_id, "recorded": True, "status": self.status},
        )
