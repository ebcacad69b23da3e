"""The state of one collection case and the rules that change it.

The workflow owns one `CaseState`; every message handler calls a method here, so the rules
(de-duplication, conflicts, payment application, holds, outcomes) are plain functions that unit
tests exercise without Temporal. Every answer is kept by its caller-chosen id with the message
it answered: the same message again returns the first answer and changes nothing; the same id
with another body is a conflict (`InvalidInput` naming the id field).

`CaseState` is the aggregate of its parts, each in its own module:

- `case_core`: the fields, the status, de-duplication by message id, closing;
- `ledger`: payments applied and rejected;
- `commitment_track`: promises, installment plans, settlements, and their lapsing;
- `ladder_track`: steps begun, made, skipped; contacts that did not leave;
- `field_work`: call tasks and field visits, and the outcomes people log;
- `callback_track`: call backs the borrower asks for, each queued as a call task;
- `holds` and `legal_track`;
- `assignee_track`: the person responsible for the case (the rota's or a supervisor's);
- `status_view`: the `status` query's answer.

What must reach the case database is appended to `journal` (payments, rejected messages, audit
events); the workflow drains it. `revision` counts the changes that may alter what the case does
next (a payment, a hold, a release), so the workflow knows when to decide again.
"""

from __future__ import annotations

import base64
import zlib
from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter

from domain.assignee_track import AssigneeTrack
from domain.callback_track import CallbackTrack
from domain.ledger import Ledger
from domain.legal_track import LegalTrack
from domain.status_view import StatusView


@dataclass
class CaseState(Ledger, LegalTrack, AssigneeTrack, CallbackTrack):
    def status_view(self, days_past_due: int) -> dict[str, Any]:
        """The `status` query answer of the contract."""
        return StatusView.of(self, days_past_due).as_json()

    # -- continue-as-new ---------------------------------------------------------
    def carried(self) -> str:
        """The whole state for the next run of the case: its JSON, compressed (a flooded
        case's unwritten records repeat themselves, and must fit one payload)."""
        return base64.b64encode(zlib.compress(_STATE.dump_json(self))).decode("ascii")

    @staticmethod
    def restored(carried: str) -> CaseState:
        """The state a previous run carried over (`carried`)."""
        return _STATE.validate_json(zlib.decompress(base64.b64decode(carried)))


# Built once: pydantic reads the dataclasses' type hints, nested ones included.
_STATE: TypeAdapter[CaseState] = TypeAdapter(CaseState)
