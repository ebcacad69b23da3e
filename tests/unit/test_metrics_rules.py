"""The business metrics' rules and the dashboard that charts them: no server, no database."""

from __future__ import annotations

import json

import pytest

import worker as worker_module
from activities import metrics
from migrations.tables import ContactAttemptRow
from tests.helpers.activity_requests import CASE_ID, LOAN_ID
from tests.helpers.metrics import DASHBOARD, counted, dashboard_metrics


def test_the_dashboard_charts_the_business_metrics_from_a_chosen_datasource() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            assert target["datasource"]["uid"] == "${datasource}", panel["title"]
    served = {"collections_open_cases"} | {
        family.name + ("_total" if family.type == "counter" else "")
        for family in metrics.REGISTRY.collect()
        if family.name.startswith("collections_")
    }
    charted = {name for name in dashboard_metrics() if name.startswith("collections_")}
    assert charted <= served, charted - served
    # Every business metric is on the dashboard.
    assert served - charted == set(), served - charted


def test_metrics_port_must_be_a_port_number(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("METRICS_PORT", "90000")
    with pytest.raises(ValueError, match="METRICS_PORT: must be a port number"):
        worker_module.MetricsEndpoint.from_env()
    monkeypatch.delenv("METRICS_PORT")
    assert worker_module.MetricsEndpoint.from_env() is None


def test_a_blocked_attempt_counts_by_its_rule() -> None:
    """What a rule-checking send writes (status `blocked`, the rule in `note`) is counted by
    rule; a note that is no rule name cannot grow the label set."""
    blocked = ContactAttemptRow(
        attempt_id="a-1",
        case_id=CASE_ID,
        loan_id=LOAN_ID,
        channel="sms",
        template="reminder_friendly",
        status="blocked",
        note="opted_out",
        created_at="2026-11-06T03:00:00+00:00",
    )
    before = {
        "opted_out": counted("collections_contacts_blocked_total", channel="sms", rule="opted_out"),
        "other": counted("collections_contacts_blocked_total", channel="sms", rule="other"),
        "all": counted("collections_contacts_total", channel="sms", result="blocked"),
    }
    metrics.observe_attempt(blocked)
    metrics.observe_attempt(blocked.model_copy(update={"note": "Borrower said STOP on 11-01"}))
    metrics.observe_attempt(blocked.model_copy(update={"status": "pending"}))  # no result yet

    assert counted("collections_contacts_blocked_total", channel="sms", rule="opted_out") == (
        before["opted_out"] + 1
    )
    assert counted("collections_contacts_blocked_total", channel="sms", rule="other") == (
        before["other"] + 1
    )
    assert counted("collections_contacts_total", channel="sms", result="blocked") == (
        before["all"] + 2
    )
