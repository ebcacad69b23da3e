"""What the borrower's page says (`web.portal.home_words`, `web.portal.home.next_step`): the
same words in both locales, states in the page's locale, and the next step in plain words."""

from __future__ import annotations

from typing import Any

import pytest

from web.portal.home import next_step
from web.portal.home_words import HOME_WORDS, NEXT_SENTENCES

ZONE = "Asia/Shanghai"
PLAN = {
    "plan_id": "p-1",
    "state": "active",
    "installments": [
        {"due_date": "2026-12-01", "amount_minor": 100, "paid_minor": 100, "state": "paid"},
        {"due_date": "2027-01-01", "amount_minor": 100, "paid_minor": 0, "state": "due"},
    ],
}


def test_both_locales_say_the_same_things_and_every_state_in_their_own_words() -> None:
    assert HOME_WORDS["zh-CN"].keys() == HOME_WORDS["en"].keys()
    assert NEXT_SENTENCES["zh-CN"].keys() == NEXT_SENTENCES["en"].keys()
    for state in ("due", "paid", "missed", "pending", "kept", "broken"):
        assert HOME_WORDS["zh-CN"][f"state_{state}"].isascii() is False, state


@pytest.mark.parametrize(
    ("locale", "status", "sentence"),
    [
        # The case wakes when the installment's grace (3 days) has run out; the borrower reads
        # the installment's own due date.
        (
            "en",
            {"plan": PLAN, "next_action": {"kind": "plan installment due 2027-01-01"}},
            "Your next plan payment is due by 2027-01-01.",
        ),
        (
            "zh-CN",
            {"plan": PLAN, "next_action": {"kind": "plan installment due 2027-01-01"}},
            "您的下一期分期还款到期：2027-01-01。",
        ),
        (
            "en",
            {
                "promise": {"promise_id": "pr-1", "due_date": "2026-12-10", "state": "pending"},
                "next_action": {"kind": "contact paused · promise pr-1 due"},
            },
            "Your promised payment is due by 2026-12-10.",
        ),
        (
            "en",
            {"next_action": {"kind": "contact paused · call: call back 1 asked for"}},
            "We will call you around 2026-12-05 14:00 (Asia/Shanghai).",
        ),
        (
            "zh-CN",
            {"next_action": {"kind": "call: call back 1 asked for"}},
            "我们的客服将在 2026-12-05 14:00 (Asia/Shanghai) 前后致电您。",
        ),
    ],
)
def test_the_next_step_names_the_date_the_borrower_committed_to_or_the_call(
    locale: str, status: dict[str, Any], sentence: str
) -> None:
    action = {**status["next_action"], "due_at": "2026-12-05T06:00:00+00:00"}
    assert next_step(locale, {**status, "next_action": action}, ZONE) == sentence
