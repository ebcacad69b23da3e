"""Holds: a dispute, a complaint, a bankruptcy or an operator's pause stops collection until
the hold is released. A case may carry several; it is on hold while any remains."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from domain.audit import AuditFact, AuditKind
from domain.case_core import CaseCore
from domain.case_records import Hold
from domain.errors import InvalidInput
from domain.messages import HoldRequest


class HoldRules(CaseCore):
    def check_hold(self, hold: HoldRequest) -> None:
        self._check_open_for("hold", hold.hold_id, hold)

    def place_hold(self, hold: HoldRequest, at: datetime) -> dict[str, Any]:
        self.check_hold(hold)
        earlier = self.earlier_answer("hold", hold.hold_id, hold)
        if earlier is not None:
            return earlier
        self.holds[hold.hold_id] = Hold(hold.hold_id, hold.kind, hold.reason, at.isoformat())
        self.revision += 1
        self.journal.append(
            AuditFact(
                AuditKind.HOLD_PLACED, hold.hold_id, {"kind": hold.kind, "reason": hold.reason}
            )
        )
        return self._answer(
            "hold", hold.hold_id, hold, {"hold_id": hold.hold_id, "status": self.status}
        )

    def check_release(self, hold_id: str) -> None:
        if self.earlier_answer("release", hold_id, hold_id) is None and hold_id not in self.holds:
            raise InvalidInput("hold_id", f"no hold {hold_id!r} is on this case")

    def release_hold(self, hold_id: str) -> dict[str, Any]:
        self.check_release(hold_id)
        earlier = self.earlier_answer("release", hold_id, hold_id)
        if earlier is not None:
            return earlier
        del self.holds[hold_id]
        self.revision += 1
        self.journal.append(AuditFact(AuditKind.HOLD_RELEASED, hold_id, {}))
        return self._answer(
            "release", hold_id, hold_id, {"hold_id": hold_id, "status": self.status}
        )
