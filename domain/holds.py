"""Holds: a dispute, a complaint, a bankruptcy or an operator's pause stops collection until
the hold is released. A case may carry several; it is on hold while any remains."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from domain.audit import AuditFact, AuditKind, with_source
from domain.case_core import CaseCore
from domain.case_records import Hold
from domain.errors import InvalidInput
from domain.messages import HoldRelease, HoldRequest


class HoldRules(CaseCore):
    def check_hold(self, hold: HoldRequest) -> None:
        self._check_open_for("hold", hold.hold_id, hold)

    def place_hold(self, hold: HoldRequest, at: datetime) -> dict[str, Any]:
        self.check_hold(hold)
        earlier = self.earlier_answer("hold", hold.hold_id, hold)
        if earlier is not None:
            return earlier
        self.holds[hold.hold_id] = Hold(
            hold.hold_id, hold.kind, hold.reason, at.isoformat(), source=hold.source
        )
        self.revision += 1
        self.journal.append(
            AuditFact(
                AuditKind.HOLD_PLACED,
                hold.hold_id,
                with_source({"kind": hold.kind, "reason": hold.reason}, hold.source),
            )
        )
        return self._answer(
            "hold", hold.hold_id, hold, {"hold_id": hold.hold_id, "status": self.status}
        )

    def check_release(self, release: HoldRelease) -> None:
        hold_id = release.hold_id
        if (
            self.earlier_answer("release", hold_id, _compared(release)) is None
            and hold_id not in self.holds
        ):
            raise InvalidInput("hold_id", f"no hold {hold_id!r} is on this case")

    def release_hold(self, release: HoldRelease) -> dict[str, Any]:
        self.check_release(release)
        hold_id = release.hold_id
        earlier = self.earlier_answer("release", hold_id, _compared(release))
        if earlier is not None:
            return earlier
        del self.holds[hold_id]
        self.revision += 1
        self.journal.append(
            AuditFact(AuditKind.HOLD_RELEASED, hold_id, with_source({}, release.source))
        )
        return self._answer(
            "release",
            hold_id,
            _compared(release),
            {"hold_id": hold_id, "status": self.status},
        )


def _compared(release: HoldRelease) -> object:
    """What a release is told apart by under its id. A release was its bare hold id before it
    could name a source, and the carried answers keep that one's fingerprint: without a source
    it still is, so a release resent across the upgrade gets its first answer."""
    return release.hold_id if release.source is None else release
