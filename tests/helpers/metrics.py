"""The business metrics as this process counts them, and the ones the Grafana dashboard charts."""

from __future__ import annotations

import json
import re

from activities import metrics
from tests.helpers.paths import PROJECT_DIR

DASHBOARD = PROJECT_DIR / "docs" / "grafana-dashboard.json"


METRIC_NAME = re.compile(r"\b(?:collections|temporal)_[a-z_]+")


def counted(name: str, **labels: str) -> float:
    """A business metric's value in this process, read from the registry directly."""
    return metrics.REGISTRY.get_sample_value(name, labels) or 0.0


def dashboard_metrics() -> set[str]:
    """The metric names the Grafana dashboard queries, histograms by their base name."""
    dashboard = json.loads(DASHBOARD.read_text())
    expressions = [
        target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])
    ]
    names = {name for expr in expressions for name in METRIC_NAME.findall(expr)}
    return {name.removesuffix("_bucket") for name in names}


def open_cases(collector: metrics.OpenCasesCollector) -> dict[str, float]:
    return {
        sample.labels["stage"]: sample.value
        for family in collector.collect()
        for sample in family.samples
    }
