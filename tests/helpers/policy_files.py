"""A small valid policy's data, for tests of what `parse_policy` accepts and refuses."""

from __future__ import annotations

from typing import Any


def policy_data(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "p",
        "day_seconds": 86400,
        "grace_days": 1,
        "write_off_dpd": 100,
        "default_timezone": "UTC",
        "ladder": [
            {"dpd": 2, "stage": "reminder", "channel": "sms", "template": "t"},
            {
                "dpd": 10,
                "stage": "phone",
                "channel": "call",
                "template": "c",
                "repeat_every_days": 5,
                "until_dpd": 20,
            },
            {"dpd": 30, "stage": "legal", "channel": "legal", "template": "l"},
        ],
    }
    data.update(changes)
    return data
