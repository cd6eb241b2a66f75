"""The dashboard app: a header with KPI cards, the fleet page, and tabs for monitoring, alerts and quality."""

from __future__ import annotations

import html
from datetime import datetime

import ipywidgets as W
import pandas as pd
from IPython.display import display

from altaviz.config import Settings, get_settings
from altaviz.dashboard import queries
from altaviz.dashboard.pages.alerts import AlertsPage
from altaviz.dashboard.pages.fleet import HEALTH_RANK, FleetPage, health_counts, worst_first
from altaviz.dashboard.pages.monitoring import MonitoringPage
from altaviz.dashboard.pages.quality import QualityPage
from altaviz.dashboard.style import CSS, HEALTH_COLORS
from altaviz.io import db


def kpi_header(fleet: pd.DataFrame, alerts: pd.DataFrame, as_of: datetime | None) -> str:
    """The title, the data's "now", and one card per count: units, open alerts, units per health."""
    counts = health_counts(fleet)
    cards = [("Compressors", len(fleet), "#37474f"), ("Open alerts", len(alerts), "#37474f")]
    cards += [(status.title(), counts[status], HEALTH_COLORS[status]) for status in HEALTH_RANK]
    body = "".join(
        f'<div class="kpi" style="border-top:4px solid {color}"><div class="kpi-value">{value}</div>'
        f'<div class="kpi-label">{label}</div></div>'
        for label, value, color in cards
    )
    when = as_of.strftime("%Y-%m-%d %H:%M UTC") if as_of else "no readings yet"
    return f"{CSS}<h2>Altaviz · compressor fleet</h2><div>Data as of <b>{when}</b></div><div>{body}</div>"


class Dashboard:
    """The app: build once, refresh from PostgreSQL on demand."""

    def __init__(self, as_of: str | datetime | None = None, settings: Settings | None = None):
        self.settings = settings or get_settings()
        self.requested_as_of = as_of
        self.header = W.HTML()
        self.refresh_button = W.Button(description="Refresh", icon="refresh")
        self.refresh_button.on_click(lambda _: self.refresh())
        self.fleet_page = FleetPage()
        self.monitoring = MonitoringPage(self.settings)
        self.alerts = AlertsPage(self.settings, on_change=self.refresh)
        self.quality = QualityPage()
        tabs = W.Tab(children=[self.monitoring.widget, self.alerts.widget, self.quality.widget])
        for index, title in enumerate(("Monitoring", "Alerts", "Data quality")):
            tabs.set_title(index, title)
        self.app = W.VBox([W.HBox([self.header, self.refresh_button]), self.fleet_page.widget, tabs])

    def refresh(self) -> None:
        """Re-read everything; "now" is re-resolved too, so new readings move the trend window."""
        self.as_of = queries.resolve_as_of(self.requested_as_of, self.settings)
        self.fleet = queries.read_fleet(self.settings)
        alerts = queries.read_open_alerts(self.settings)
        self.header.value = kpi_header(self.fleet, alerts, self.as_of)
        self.fleet_page.show(self.fleet)
        self.alerts.show(alerts)
        self.quality.show(queries.read_quality(self.settings))
        self.monitoring.show(list(worst_first(self.fleet)["compressor_id"]), self.as_of)


def build_dashboard(as_of: str | datetime | None = None, settings: Settings | None = None) -> Dashboard:
    """Build, fill and display the dashboard; returns it so a notebook can poke at it."""
    dashboard = Dashboard(as_of=as_of, settings=settings)
    try:
        dashboard.refresh()
    except db.DatabaseUnavailable as err:
        dashboard.header.value = f"<h2>Altaviz</h2><p><b>Database unavailable:</b> {html.escape(str(err))}</p>"
    display(dashboard.app)
    return dashboard
