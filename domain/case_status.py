"""The words for where a case stands: its status (open or final) and its stage."""

from __future__ import annotations

from domain.policy import STAGES as LADDER_STAGES

FINAL_STATUSES = ("paid", "plan_completed", "settled", "written_off", "cancelled")
OPEN_STATUSES = ("active", "promise_pending", "in_plan", "on_hold")
CASE_STATUSES = (*OPEN_STATUSES, *FINAL_STATUSES)
# A case's stages in the order it passes them.
CASE_STAGES = ("preparation", "grace", *LADDER_STAGES, "closed")
