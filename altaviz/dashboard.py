"""The Voila dashboard: fleet map, health, sensor trends, open alerts, data quality.

Reads PostgreSQL only, through parameterised SQL (never pyspark). "Now" is the newest reading in the
database or an explicit ``as_of``, never the wall clock, so historical and simulated data stay visible.
"""

from __future__ import annotations

import html
import math
from datetime import datetime, timedelta

import ipywidgets as W
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
from IPython.display import display

from altaviz.io import db
from altaviz.config import Settings, get_settings
from altaviz.runs import as_utc

# The jupyterlab-plotly extension renders this mimetype offline; no CDN is needed.
pio.renderers.default = "plotly_mimetype"

HEALTH_COLORS = {"healthy": "#2e7d32", "warning": "#ef6c00", "critical": "#c62828"}
HEALTH_RANK = {"healthy": 0, "warning": 1, "critical": 2}

FLEET_SQL = "SELECT * FROM v_fleet_health_summary ORDER BY compressor_id"
NEWEST_READING_SQL = "SELECT max(agg_timestamp) AS newest FROM sensor_readings_agg WHERE window_type = '1hr'"
ALERTS_SQL = """
SELECT id, compressor_id, station_name, severity, alert_type, sensor_name, sensor_value, threshold_value,
       alert_timestamp, last_seen_at, acknowledged, acknowledged_by, message
FROM v_active_alerts LIMIT %s
"""
HISTORY_SQL = """
SELECT agg_timestamp, vibration_mean, vibration_max, discharge_temp_mean, discharge_temp_max,
       suction_pressure_mean, discharge_pressure_mean, horsepower_mean, gas_flow_mean, reading_count
FROM sensor_readings_agg
WHERE compressor_id = %s AND window_type = '1hr' AND agg_timestamp > %s AND agg_timestamp <= %s
ORDER BY agg_timestamp
"""
QUALITY_SQL = """
SELECT metric_type, metric_value, threshold_value, pass_threshold, metric_timestamp, run_id
FROM data_quality_metrics
WHERE compressor_id IS NULL
  AND run_id = (SELECT run_id FROM data_quality_metrics ORDER BY metric_timestamp DESC, updated_at DESC LIMIT 1)
ORDER BY metric_type
"""

# Which aggregate column shows each sensor, and which threshold key draws its limit lines.
TREND_SERIES = (
    ("vibration_mean", "vibration_mms"),
    ("discharge_temp_mean", "discharge_temp_f"),
    ("suction_pressure_mean", "suction_pressure_psi"),
    ("discharge_pressure_mean", "discharge_pressure_psi"),
    ("horsepower_mean", "horsepower_consumption"),
    ("gas_flow_mean", "gas_flow_mcf"),
)


def health_counts(fleet: pd.DataFrame) -> dict[str, int]:
    """Units per health status, always with all three statuses."""
    counts = fleet["health_status"].value_counts()
    return {status: int(counts.get(status, 0)) for status in HEALTH_RANK}


def worst_first(fleet: pd.DataFrame) -> pd.DataFrame:
    """Fleet rows ordered critical, warning, healthy (by rank, not by string), then by id."""
    rank = fleet["health_status"].map(HEALTH_RANK).fillna(0)
    return fleet.assign(_rank=rank).sort_values(["_rank", "compressor_id"], ascending=[False, True]).drop(
        columns="_rank"
    )


def resolve_as_of(as_of: str | datetime | None, settings: Settings) -> datetime | None:
    if as_of:
        return as_utc(as_of)
    newest = db.query(NEWEST_READING_SQL, settings=settings)["newest"].iloc[0]
    return None if pd.isna(newest) else pd.Timestamp(newest).to_pydatetime()


def _table(frame: pd.DataFrame, *, empty: str) -> W.HTML:
    if frame.empty:
        return W.HTML(f"<p><i>{html.escape(empty)}</i></p>")
    return W.HTML(frame.to_html(index=False, border=0, classes="altaviz-table", na_rep="–", escape=True))


def _kpis(fleet: pd.DataFrame, alerts: pd.DataFrame, as_of: datetime | None) -> W.HTML:
    counts = health_counts(fleet)
    cards = [("Compressors", len(fleet), "#37474f"), ("Open alerts", len(alerts), "#37474f")]
    cards += [(status.title(), counts[status], HEALTH_COLORS[status]) for status in HEALTH_RANK]
    body = "".join(
        f'<div class="kpi" style="border-top:4px solid {color}"><div class="kpi-value">{value}</div>'
        f'<div class="kpi-label">{label}</div></div>'
        for label, value, color in cards
    )
    when = as_of.strftime("%Y-%m-%d %H:%M UTC") if as_of else "no readings yet"
    return W.HTML(
        "<style>.kpi{display:inline-block;min-width:110px;margin:4px 8px 4px 0;padding:6px 12px;"
        "background:#fafafa}.kpi-value{font-size:26px;font-weight:600}.kpi-label{color:#555}"
        ".altaviz-table{font-size:13px}.altaviz-table td,.altaviz-table th{padding:2px 8px;text-align:left}</style>"
        f"<h2>Altaviz · compressor fleet</h2><div>Data as of <b>{when}</b></div><div>{body}</div>"
    )


def fleet_map(fleet: pd.DataFrame):
    """One circle per compressor, coloured by health; tiles may not load offline, markers always do."""
    import ipyleaflet as L

    center = (float(fleet["latitude"].mean()), float(fleet["longitude"].mean())) if len(fleet) else (30.5, -98.5)
    fleet_layer = L.LayerGroup(name="compressors")
    for row in fleet.itertuples():
        marker = L.CircleMarker(
            location=(float(row.latitude), float(row.longitude)),
            radius=8,
            color=HEALTH_COLORS.get(row.health_status, "#607d8b"),
            fill_color=HEALTH_COLORS.get(row.health_status, "#607d8b"),
            fill_opacity=0.85,
            weight=2,
        )
        marker.popup = W.HTML(
            f"<b>{html.escape(row.compressor_id)}</b> · {html.escape(str(row.model))}<br>"
            f"{html.escape(str(row.station_name))}<br>health: {row.health_status}, "
            f"open alerts: {row.active_alert_count}"
        )
        fleet_layer.add(marker)
    fleet_map = L.Map(center=center, zoom=zoom_to_fit(fleet), scroll_wheel_zoom=True,
                      layout=W.Layout(height="420px"))
    fleet_map.add(fleet_layer)
    return fleet_map


def zoom_to_fit(fleet: pd.DataFrame, *, width_tiles: float = 2.8, height_tiles: float = 1.6) -> int:
    """The closest web-map zoom at which every unit fits a map about 2.8 x 1.6 tiles (256 px) large."""
    if len(fleet) < 2:
        return 9
    # At zoom z one tile spans 360 / 2**z degrees of longitude (latitude: about the same at Texas' 30°N
    # once stretched by 1/cos(lat), which the 1.3 margin covers).
    span = max((fleet["longitude"].max() - fleet["longitude"].min()) / width_tiles,
               (fleet["latitude"].max() - fleet["latitude"].min()) * 1.3 / height_tiles, 1e-3)
    return int(max(3, min(12, math.floor(math.log2(360 / (span * 1.3))))))


def health_table(fleet: pd.DataFrame) -> pd.DataFrame:
    """What an engineer scans first: worst units on top, risk as a percentage, life left in days."""
    ordered = worst_first(fleet)
    return pd.DataFrame({
        "compressor": ordered["compressor_id"],
        "health": ordered["health_status"],
        "open alerts": ordered["active_alert_count"],
        "failure risk": (ordered["failure_probability"] * 100).round(0).map(
            lambda p: "–" if pd.isna(p) else f"{p:.0f} %"),
        "RUL (days)": ordered["rul_days"].round(1),
        "station": ordered["station_name"],
        "model": ordered["model"],
    })


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


class Dashboard:
    """The app: build once, refresh from PostgreSQL on demand."""

    def __init__(self, as_of: str | datetime | None = None, settings: Settings | None = None):
        self.settings = settings or get_settings()
        self.requested_as_of = as_of
        self.header = W.HTML()
        self.map_box = W.Box(layout=W.Layout(width="55%"))
        self.health_box = W.Box(layout=W.Layout(width="45%", overflow="auto", max_height="420px"))
        self.compressor = W.Dropdown(description="Compressor")
        self.trend = W.Output()
        self.alerts_box = W.Box()
        self.alert_id = W.Dropdown(description="Alert")
        self.operator = W.Text(description="By", placeholder="your name")
        self.note = W.Text(description="Note", placeholder="optional")
        self.ack_button = W.Button(description="Acknowledge", button_style="warning")
        self.resolve_button = W.Button(description="Resolve", button_style="success")
        self.action_status = W.HTML()
        self.quality_box = W.Box()
        self.refresh_button = W.Button(description="Refresh", icon="refresh")
        self.compressor.observe(lambda _: self.show_trend(), names="value")
        self.ack_button.on_click(lambda _: self.act("acknowledge"))
        self.resolve_button.on_click(lambda _: self.act("resolve"))
        self.refresh_button.on_click(lambda _: self.refresh())
        tabs = W.Tab(children=[
            W.VBox([self.compressor, self.trend]),
            W.VBox([self.alerts_box, W.HBox([self.alert_id, self.operator, self.note]),
                    W.HBox([self.ack_button, self.resolve_button, self.action_status])]),
            self.quality_box,
        ])
        for index, title in enumerate(("Monitoring", "Alerts", "Data quality")):
            tabs.set_title(index, title)
        self.app = W.VBox([W.HBox([self.header, self.refresh_button]), W.HBox([self.map_box, self.health_box]), tabs])

    def refresh(self) -> None:
        settings = self.settings
        self.as_of = resolve_as_of(self.requested_as_of, settings)
        self.fleet = db.query(FLEET_SQL, settings=settings)
        alerts = db.query(ALERTS_SQL, (500,), settings=settings)
        self.header.value = _kpis(self.fleet, alerts, self.as_of).value
        self.map_box.children = (fleet_map(self.fleet),)
        self.health_box.children = (
            _table(health_table(self.fleet), empty="No compressors published yet: run `make run`."),)
        self.alerts_box.children = (_table(alerts, empty="No open alerts."),)
        self.alert_id.options = [(f"#{r.id} {r.compressor_id} {r.sensor_name} ({r.severity})", int(r.id))
                                 for r in alerts.itertuples()]
        quality = db.query(QUALITY_SQL, settings=settings)
        self.quality_box.children = (_table(quality, empty="No data-quality metrics yet."),)
        ids = list(worst_first(self.fleet)["compressor_id"])
        current = self.compressor.value
        self.compressor.options = ids
        if ids:
            self.compressor.value = current if current in ids else ids[0]
        self.show_trend()

    def show_trend(self) -> None:
        self.trend.clear_output(wait=True)
        if not self.compressor.value or self.as_of is None:
            return
        window_start = self.as_of - timedelta(hours=24)
        history = db.query(HISTORY_SQL, (self.compressor.value, window_start, self.as_of), settings=self.settings)
        with self.trend:
            if history.empty:
                print(f"No readings for {self.compressor.value} in the 24 h before {self.as_of:%Y-%m-%d %H:%M} UTC.")
            else:
                display(trend_figure(history, self.compressor.value, self.settings))

    def act(self, action: str) -> None:
        if self.alert_id.value is None or not self.operator.value.strip():
            self.action_status.value = "<i>Choose an alert and enter your name.</i>"
            return
        db.set_alert_operator_state(self.alert_id.value, action=action, by=self.operator.value.strip(),
                                    note=self.note.value or None, settings=self.settings)
        self.action_status.value = f"Alert #{self.alert_id.value}: {action}d by {html.escape(self.operator.value)}"
        self.refresh()


def build_dashboard(as_of: str | datetime | None = None, settings: Settings | None = None) -> Dashboard:
    """Build, fill and display the dashboard; returns it so a notebook can poke at it."""
    dashboard = Dashboard(as_of=as_of, settings=settings)
    try:
        dashboard.refresh()
    except db.DatabaseUnavailable as err:
        dashboard.header.value = f"<h2>Altaviz</h2><p><b>Database unavailable:</b> {html.escape(str(err))}</p>"
    display(dashboard.app)
    return dashboard
