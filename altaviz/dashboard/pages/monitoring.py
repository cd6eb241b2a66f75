"""Sensor trends: one compressor's hourly means over the last day, with the alert limits drawn in."""

from __future__ import annotations

from datetime import datetime, timedelta

import ipywidgets as W
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
from IPython.display import display

from altaviz.config import Settings
from altaviz.dashboard import queries
from altaviz.dashboard.style import HEALTH_COLORS

# The jupyterlab-plotly extension renders this mimetype offline; no CDN is needed.
pio.renderers.default = "plotly_mimetype"

TREND_HOURS = 24

# Which aggregate column shows each sensor, and which threshold key draws its limit lines.
TREND_SERIES = (
    ("vibration_mean", "vibration_mms"),
    ("discharge_temp_mean", "discharge_temp_f"),
    ("suction_pressure_mean", "suction_pressure_psi"),
    ("discharge_pressure_mean", "discharge_pressure_psi"),
    ("horsepower_mean", "horsepower_consumption"),
    ("gas_flow_mean", "gas_flow_mcf"),
)


def trend_figure(history: pd.DataFrame, compressor_id: str, settings: Settings) -> go.Figure:
    """Six small panels, one per sensor, with the warning and critical limits drawn in."""
    from plotly.subplots import make_subplots

    limits = settings.registry.sensors
    titles = [f"{limits[key].label} ({limits[key].unit})" for _, key in TREND_SERIES]
    figure = make_subplots(rows=3, cols=2, shared_xaxes=True, subplot_titles=titles, vertical_spacing=0.08)
    for index, (column, key) in enumerate(TREND_SERIES):
        row, col = index // 2 + 1, index % 2 + 1
        figure.add_trace(
            go.Scatter(x=history["agg_timestamp"], y=history[column], mode="lines+markers", name=column),
            row=row, col=col,
        )
        for level, dash in (("warning", "dash"), ("critical", "dot")):
            value = getattr(limits[key], level)
            if value is not None:
                figure.add_hline(y=value, line_dash=dash, line_color=HEALTH_COLORS[level], row=row, col=col)
    figure.update_layout(height=620, showlegend=False, title=f"{compressor_id}: hourly means, last 24 h",
                         margin=dict(l=40, r=20, t=70, b=30))
    return figure


class MonitoringPage:
    """A compressor picker over its trend figure; picking a unit redraws the figure."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.as_of: datetime | None = None
        self.compressor = W.Dropdown(description="Compressor")
        self.trend = W.Output()
        self.compressor.observe(lambda _: self.show_trend(), names="value")
        self.widget = W.VBox([self.compressor, self.trend])

    def show(self, compressor_ids: list[str], as_of: datetime | None) -> None:
        """Offer these units (keeping the current pick if it is still there) and redraw at ``as_of``."""
        self.as_of = as_of
        current = self.compressor.value
        self.compressor.options = compressor_ids
        if compressor_ids:
            self.compressor.value = current if current in compressor_ids else compressor_ids[0]
        self.show_trend()

    def show_trend(self) -> None:
        self.trend.clear_output(wait=True)
        compressor_id, as_of = self.compressor.value, self.as_of
        if not compressor_id or as_of is None:
            return
        history = queries.read_history(compressor_id, as_of - timedelta(hours=TREND_HOURS), as_of, self.settings)
        with self.trend:
            if history.empty:
                print(f"No readings for {compressor_id} in the {TREND_HOURS} h before {as_of:%Y-%m-%d %H:%M} UTC.")
            else:
                display(trend_figure(history, compressor_id, self.settings))
