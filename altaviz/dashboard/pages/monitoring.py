"""Sensor trends: one compressor's hourly means over the last day, with the alert limits drawn in.

The panels follow the sensor registry: every sensor that aggregates a mean gets one, so a sensor
added to ``config/sensors.yaml`` appears here with no code edit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

import ipywidgets as W
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
from IPython.display import display

from altaviz.config import Settings
from altaviz.dashboard import queries
from altaviz.dashboard.style import HEALTH_COLORS
from altaviz.registry import Sensor, SensorRegistry

# The jupyterlab-plotly extension renders this mimetype offline; no CDN is needed.
pio.renderers.default = "plotly_mimetype"

TREND_HOURS = 24
COLUMNS = 2
ROW_HEIGHT = 180  # px per row of panels; 3 rows make the 620 px figure of six sensors
LIMIT_DASHES = (("warning", "dash"), ("critical", "dot"))


@dataclass(frozen=True)
class TrendSeries:
    """One panel: a sensor's hourly-mean aggregate column, titled and limited by the sensor."""

    column: str
    sensor: Sensor

    @property
    def title(self) -> str:
        return f"{self.sensor.label} ({self.sensor.unit})"


def trend_series(registry: SensorRegistry) -> tuple[TrendSeries, ...]:
    """One series per sensor that aggregates a mean, in registry order: its ``<short>_mean`` column."""
    return tuple(
        TrendSeries(column, registry.sensors[name])
        for column, statistic, name in registry.aggregate_columns() if statistic == "mean"
    )


def trend_figure(history: pd.DataFrame, compressor_id: str, series: tuple[TrendSeries, ...]) -> go.Figure:
    """One small panel per series, two to a row, with the warning and critical limits drawn in."""
    from plotly.subplots import make_subplots

    rows = max(1, math.ceil(len(series) / COLUMNS))
    # An odd count leaves the last cell out rather than drawing an empty frame there.
    specs = [[{} if row * COLUMNS + col < len(series) else None for col in range(COLUMNS)] for row in range(rows)]
    figure = make_subplots(rows=rows, cols=COLUMNS, specs=specs, shared_xaxes=True,
                           subplot_titles=[s.title for s in series], vertical_spacing=0.24 / rows)
    for index, trend in enumerate(series):
        row, col = index // COLUMNS + 1, index % COLUMNS + 1
        figure.add_trace(
            go.Scatter(x=history["agg_timestamp"], y=history[trend.column], mode="lines+markers", name=trend.column),
            row=row, col=col,
        )
        for level, dash in LIMIT_DASHES:
            value = getattr(trend.sensor, level)
            if value is not None:
                figure.add_hline(y=value, line_dash=dash, line_color=HEALTH_COLORS[level], row=row, col=col)
    figure.update_layout(height=80 + ROW_HEIGHT * rows, showlegend=False,
                         title=f"{compressor_id}: hourly means, last {TREND_HOURS} h",
                         margin={"l": 40, "r": 20, "t": 70, "b": 30})
    return figure


class MonitoringPage:
    """A compressor picker over its trend figure; picking a unit redraws the figure."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.series = trend_series(settings.registry)
        self.as_of: datetime | None = None
        self.compressor = W.Dropdown(description="Compressor")
        self.trend = W.Output()
        self.compressor.observe(lambda _: self.show_trend(), names="value")
        self.widget = W.VBox([self.compressor, self.trend])

    def select(self, compressor_id: str) -> None:
        self.wanted = compressor_id

    def show(self, view) -> None:
        """Offer the fleet's units (keeping the current pick if it is still there) and redraw at as-of."""
        self.as_of = view.as_of
        compressor_ids = list(view.fleet["compressor_id"])
        current = getattr(self, "wanted", None) or self.compressor.value
        self.compressor.options = compressor_ids
        if compressor_ids:
            self.compressor.value = current if current in compressor_ids else compressor_ids[0]
        self.show_trend()

    def show_trend(self) -> None:
        self.trend.clear_output(wait=True)
        compressor_id, as_of = self.compressor.value, self.as_of
        if not compressor_id or as_of is None:
            return
        start = as_of - timedelta(hours=TREND_HOURS)
        history = queries.read_history(compressor_id, start, as_of, [s.column for s in self.series], self.settings)
        with self.trend:
            if history.empty:
                print(f"No readings for {compressor_id} in the {TREND_HOURS} h before {as_of:%Y-%m-%d %H:%M} UTC.")
            else:
                display(trend_figure(history, compressor_id, self.series))
