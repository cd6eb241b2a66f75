"""Open alerts, and the operator's acknowledge and resolve actions on one of them."""

from __future__ import annotations

import html
from collections.abc import Callable

import ipywidgets as W
import pandas as pd

from altaviz.config import Settings
from altaviz.dashboard import queries
from altaviz.dashboard.style import html_table


class AlertsPage:
    """The open-alerts table, an alert picker, who acts and a note, and the two action buttons.

    ``on_change`` runs after an action succeeds (the app refreshes everything, since health changes).
    """

    def __init__(self, settings: Settings, on_change: Callable[[], None], open_unit=None):
        self.settings = settings
        self.on_change = on_change
        self.table_box = W.Box()
        self.alert_id = W.Dropdown(description="Alert")
        self.operator = W.Text(description="By", placeholder="your name")
        self.note = W.Text(description="Note", placeholder="optional")
        self.ack_button = W.Button(description="Acknowledge", button_style="warning")
        self.resolve_button = W.Button(description="Resolve", button_style="success")
        self.status = W.HTML()
        self.ack_button.on_click(lambda _: self.act("acknowledge"))
        self.resolve_button.on_click(lambda _: self.act("resolve"))
        self.widget = W.VBox([self.table_box, W.HBox([self.alert_id, self.operator, self.note]),
                              W.HBox([self.ack_button, self.resolve_button, self.status])])

    def show(self, view) -> None:
        alerts = queries.read_open_alerts(self.settings)
        self.table_box.children = (html_table(alerts, empty="No open alerts."),)
        self.alert_id.options = [(f"#{r.id} {r.compressor_id} {r.sensor_name} ({r.severity})", int(r.id))
                                 for r in alerts.itertuples()]

    def act(self, action: str) -> None:
        """Acknowledge or resolve the chosen alert; both need an operator name."""
        if self.alert_id.value is None or not self.operator.value.strip():
            self.status.value = "<i>Choose an alert and enter your name.</i>"
            return
        queries.set_alert_state(self.alert_id.value, action=action, by=self.operator.value.strip(),
                                note=self.note.value or None, settings=self.settings)
        self.status.value = f"Alert #{self.alert_id.value}: {action}d by {html.escape(self.operator.value)}"
        self.on_change()
