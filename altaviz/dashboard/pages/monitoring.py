"""Real-Time Monitoring: one compressor over a chosen time range, as it stood at the dashboard's as-of.

Gauges give each sensor's latest hourly mean against its normal, warning and critical bands; trend panels
give every sensor and derived signal per 1 h, 4 h or 24 h window with the bands shaded, the unit's alerts
and maintenance on the timeline, and its failure risk from the model. Panels and gauges follow the sensor
registry, so a sensor added to ``config/sensors.yaml`` appears here with no code edit.

The figure builders are pure (frames in, ``go.Figure`` out); the page reads PostgreSQL once per
(unit, range, window) and redraws from what it read when only the drawing changes.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import ipywidgets as W
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from altaviz.config import Settings
from altaviz.dashboard import queries
from altaviz.dashboard.style import FIGURE_TEMPLATE, HEALTH_COLORS, NEUTRAL, STATUS_COLORS, show_figure
from altaviz.io import db
from altaviz.registry import WINDOWS, Sensor, SensorRegistry

RANGES = {"6 h": timedelta(hours=6), "24 h": timedelta(hours=24), "7 d": timedelta(days=7), "30 d": timedelta(days=30)}
WINDOW_TYPES = {"1 h": "1hr", "4 h": "4hr", "24 h": "24hr"}  # label -> sensor_readings_agg.window_type
DEFAULT_RANGE, DEFAULT_WINDOW = "24 h", "1 h"

# Derived signals' serving columns (altaviz/serving/transforms.py): a mean of the differential per window,
# and the least-squares slope of discharge temperature over the window (°F/h), not a mean.
DERIVED_COLUMNS = {"pressure_differential": "{short}_mean", "temp_rate_of_change": "{short}"}
RISK = "failure_probability"  # the sensor_name of prediction alerts: they are marked on the risk panel

BAND_ALPHA = 0.13
BAND_COLORS = {"normal": HEALTH_COLORS["healthy"], "warning": HEALTH_COLORS["warning"],
               "critical": HEALTH_COLORS["critical"]}
SEVERITY_COLORS = {"warning": HEALTH_COLORS["warning"], "critical": HEALTH_COLORS["critical"]}
MAINTENANCE_COLORS = {"failure": HEALTH_COLORS["critical"], "unscheduled": HEALTH_COLORS["warning"],
                      "scheduled": "#1565c0", "inspection": NEUTRAL}
LINE = "#37474f"  # the measured series; the bands carry the colour
LIMIT_DASHES = {"warning": "dash", "critical": "dot"}
MARKER_LIMIT = 200  # windows per series up to which each window gets a dot
PAD = 0.08  # share of a panel's span left above and below its data and limits
GAUGE_COLUMNS, GAUGE_ROW_HEIGHT = 3, 190
TREND_COLUMNS, TREND_ROW_HEIGHT = 2, 210


@dataclass(frozen=True)
class Panel:
    """One trend panel: a signal's aggregate column, its limits, and the column of its worst value per
    window (max for a 'high' sensor, min for a 'low' one) when the sensor aggregates it."""

    key: str  # the signal's registry name, as alert_history.sensor_name spells it
    column: str
    sensor: Sensor
    worst: str | None = None

    @property
    def title(self) -> str:
        return f"{self.sensor.label} ({self.sensor.unit})"


def monitoring_panels(
    registry: SensorRegistry, compressor_id: str | None = None, model: str | None = None
) -> tuple[Panel, ...]:
    """A panel per sensor that aggregates a mean (``<short>_mean``), in registry order, then the derived signals;
    for one unit (``compressor_id`` and its equipment ``model``) with that unit's limits (``limits:``)."""
    model = model if isinstance(model, str) else None  # a unit missing from compressor_metadata has none

    def limits(name: str) -> Sensor:
        return registry.limits_for(name, compressor_id, model)

    panels = []
    for name, sensor in registry.sensors.items():
        if "mean" not in sensor.aggregates:
            continue
        extreme = "max" if sensor.direction == "high" else "min"
        worst = f"{sensor.short}_{extreme}" if extreme in sensor.aggregates else None
        panels.append(Panel(name, f"{sensor.short}_mean", limits(name), worst))
    panels += [Panel(name, DERIVED_COLUMNS[name].format(short=sensor.short), limits(name))
               for name, sensor in registry.derived.items() if name in DERIVED_COLUMNS]
    return tuple(panels)


def gauge_sensors(
    registry: SensorRegistry, compressor_id: str | None = None, model: str | None = None
) -> tuple[Panel, ...]:
    """The measured sensors' panels: one gauge each (with one unit's limits, as ``monitoring_panels``)."""
    return tuple(panel for panel in monitoring_panels(registry, compressor_id, model) if panel.key in registry.sensors)


def risk_sensor(settings: Settings) -> Sensor:
    """The failure risk as a signal with the prediction alerts' levels: warning applies to the higher of
    the two probabilities, critical to the near-term one (altaviz/serving/alerts/steps.py)."""
    alerts = settings.alerts
    return Sensor(name=RISK, label="Failure risk", unit="probability", short=RISK, direction="high",
                  warning=alerts.prediction_warning_probability, critical=alerts.prediction_critical_probability)


def window_columns(panels: Sequence[Panel]) -> list[str]:
    """The aggregate columns the trend panels draw (each once, in panel order)."""
    columns = [column for panel in panels for column in (panel.column, panel.worst) if column]
    return list(dict.fromkeys(columns))


# --- Bands and ranges: one rule for gauges and trend panels ---------------------------------------


def bands(sensor: Sensor, low: float, high: float) -> list[tuple[str, float, float]]:
    """(level, y0, y1) of the normal band and the warning and critical zones, clipped to [low, high].

    The bad side follows ``direction``: for 'high' the warning zone runs from the warning level up to the
    critical level (or to ``high`` when there is none) and the critical zone from there up; for 'low'
    the same downwards. Zones that fall outside [low, high] are left out."""
    if sensor.direction == "high":
        zones = [("warning", sensor.warning, sensor.critical if sensor.critical is not None else high)]
        if sensor.critical is not None:
            zones.append(("critical", sensor.critical, high))
    else:
        zones = [("warning", sensor.critical if sensor.critical is not None else low, sensor.warning)]
        if sensor.critical is not None:
            zones.append(("critical", low, sensor.critical))
    if sensor.normal is not None:
        zones.insert(0, ("normal", *sensor.normal))
    clipped = [(level, max(y0, low), min(y1, high)) for level, y0, y1 in zones]
    return [(level, y0, y1) for level, y0, y1 in clipped if y1 > y0]


def value_range(sensor: Sensor, values: Sequence[float] = ()) -> tuple[float, float]:
    """A span that shows the values, the normal band and both limits, padded by PAD on each side but
    never past what the sensor can physically report (no negative vibration axis)."""
    points = [v for v in values if v is not None and math.isfinite(v)]
    points += [sensor.warning] + ([sensor.critical] if sensor.critical is not None else [])
    points += list(sensor.normal or ())
    low, high = min(points), max(points)
    pad = (high - low) * PAD or abs(high) * PAD or 1.0
    floor, ceiling = sensor.physical or (-math.inf, math.inf)
    return max(low - pad, floor), min(high + pad, ceiling)


def tint(color: str, alpha: float = BAND_ALPHA) -> str:
    """``#rrggbb`` as an rgba() string with this opacity."""
    red, green, blue = (int(color[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({red},{green},{blue},{alpha})"


def _finite(value) -> float | None:
    return None if value is None or pd.isna(value) else float(value)


# --- Gauges ----------------------------------------------------------------------------------------


def gauge_figure(latest: Mapping | None, sensors: Sequence[Panel], *, hour_end: datetime | None) -> go.Figure:
    """One gauge per sensor in one figure: the latest hourly mean (``latest[panel.column]``) on a dial with
    its bands; the bar takes the value's severity colour. A missing value leaves the dial empty."""
    rows = max(1, math.ceil(len(sensors) / GAUGE_COLUMNS))
    specs = [[{"type": "indicator"}] * GAUGE_COLUMNS for _ in range(rows)]
    figure = make_subplots(rows=rows, cols=GAUGE_COLUMNS, specs=specs, vertical_spacing=0.3 / rows)
    for index, panel in enumerate(sensors):
        sensor = panel.sensor
        value = _finite(latest.get(panel.column)) if latest is not None else None
        low, high = value_range(sensor, [value] if value is not None else [])
        severity = sensor.severity(value) or "healthy"
        figure.add_trace(go.Indicator(
            mode="gauge+number" if value is not None else "gauge",
            value=value,
            title={"text": f"{sensor.label} ({sensor.unit})", "font": {"size": 14}},
            number={"valueformat": ",.4r", "font": {"size": 30}},
            gauge={"axis": {"range": [low, high]}, "bar": {"color": HEALTH_COLORS[severity], "thickness": 0.35},
                   "steps": [{"range": [y0, y1], "color": tint(BAND_COLORS[level], 0.35)}
                             for level, y0, y1 in bands(sensor, low, high)]},
        ), row=index // GAUGE_COLUMNS + 1, col=index % GAUGE_COLUMNS + 1)
    when = f"hour ending {hour_end:%Y-%m-%d %H:%M} UTC" if hour_end is not None else "no hourly reading yet"
    figure.update_layout(height=60 + GAUGE_ROW_HEIGHT * rows, title=f"Latest hourly means ({when})",
                         template=FIGURE_TEMPLATE, margin={"l": 30, "r": 30, "t": 100, "b": 10})
    return figure


# --- Trends ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UnitData:
    """What the page read for one (unit, range, window): the windows, alerts, maintenance events and
    scores, each a frame as its query returns it."""

    windows: pd.DataFrame
    alerts: pd.DataFrame
    maintenance: pd.DataFrame
    predictions: pd.DataFrame

    @property
    def empty(self) -> bool:
        """Nothing to draw a line from: no window and no score in the range."""
        return self.windows.empty and self.predictions.empty


def with_gaps(frame: pd.DataFrame, column: str, step: timedelta) -> pd.DataFrame:
    """``frame`` with an empty row one ``step`` after every row that the next follows by more than ``step``,
    so a line breaks across a silence (downtime, an outage) instead of bridging it."""
    times = pd.to_datetime(frame[column], utc=True)
    before_gap = (times.shift(-1) - times) > step
    if not before_gap.any():
        return frame
    breaks = pd.DataFrame({column: times[before_gap] + step})
    joined = pd.concat([frame.assign(**{column: times}), breaks])
    return joined.sort_values(column, kind="mergesort").reset_index(drop=True)


def _scoring_gap(scores: pd.Series) -> timedelta:
    """A silence in the scores: more than twice their usual spacing (an hour when there are too few to tell)."""
    spacing = pd.to_datetime(scores, utc=True).diff().median() if len(scores) > 1 else None
    return 2 * (spacing if isinstance(spacing, pd.Timedelta) and spacing > pd.Timedelta(0) else pd.Timedelta(hours=1))


def _axis_refs(figure: go.Figure, row: int, col: int) -> tuple[str, str]:
    subplot = figure.get_subplot(row, col)
    return subplot.xaxis.plotly_name.replace("axis", ""), subplot.yaxis.plotly_name.replace("axis", "")


def _band_shapes(sensor: Sensor, low: float, high: float, xref: str, yref: str) -> list[dict]:
    """Shaded bands across the panel's width, then a line at each alert level."""
    shapes = [{"type": "rect", "xref": f"{xref} domain", "yref": yref, "x0": 0, "x1": 1, "y0": y0, "y1": y1,
               "fillcolor": tint(BAND_COLORS[level]), "line": {"width": 0}, "layer": "below"}
              for level, y0, y1 in bands(sensor, low, high)]
    for level in ("warning", "critical"):
        value = getattr(sensor, level)
        if value is not None and low < value < high:
            shapes.append({"type": "line", "xref": f"{xref} domain", "yref": yref, "x0": 0, "x1": 1, "y0": value,
                           "y1": value, "line": {"color": HEALTH_COLORS[level], "dash": LIMIT_DASHES[level],
                                                 "width": 1}})
    return shapes


def _alert_trace(alerts: pd.DataFrame, y: float, xref: str, yref: str) -> go.Scatter:
    """Alerts as triangles along the panel's top edge, coloured by severity, the message on hover."""
    return go.Scatter(
        x=alerts["alert_timestamp"], y=[y] * len(alerts), mode="markers", name="alerts", xaxis=xref, yaxis=yref,
        showlegend=False,
        marker={"symbol": "triangle-down", "size": 11, "color": [SEVERITY_COLORS[s] for s in alerts["severity"]],
                "line": {"width": 1, "color": "white"}},
        hovertext=[html.escape(f"{severity} {kind}: {message}")
                   for severity, kind, message in zip(alerts["severity"], alerts["alert_type"], alerts["message"])],
        hoverinfo="text+x",
    )


def _maintenance_marks(events: pd.DataFrame, low: float, xref: str, yref: str) -> tuple[list[dict], go.Scatter]:
    """A vertical line per event across the panel, and a hoverable marker at its foot with type and text."""
    colors = [MAINTENANCE_COLORS.get(t, NEUTRAL) for t in events["event_type"]]
    lines = [{"type": "line", "xref": xref, "yref": f"{yref} domain", "x0": when, "x1": when, "y0": 0, "y1": 1,
              "line": {"color": color, "width": 1.5, "dash": "dashdot"}}
             for when, color in zip(events["event_date"], colors)]
    texts = [f"{kind}: {html.escape(str(text or ''))}" + (f" ({hours:g} h down)" if _finite(hours) else "")
             for kind, text, hours in zip(events["event_type"], events["description"], events["downtime_hours"])]
    marker = go.Scatter(x=events["event_date"], y=[low] * len(events), mode="markers", name="maintenance",
                        xaxis=xref, yaxis=yref, marker={"symbol": "triangle-up", "size": 11, "color": colors},
                        hovertext=texts, hoverinfo="text+x", showlegend=False)
    return lines, marker


def trend_figure(
    data: UnitData, panels: Sequence[Panel], risk: Sensor, *, start: datetime, as_of: datetime, window: timedelta,
    risk_labels: tuple[str, str] = ("within 48 h", "within 7 d"), title: str = "",
) -> go.Figure:
    """A panel per signal and a failure-risk panel, sharing one time axis over [start, as_of].

    Each window's mean is drawn at the window's end (the time it is known); the worst value per window as
    a thin dotted line where the sensor aggregates it. Bands are shaded, alert levels drawn as lines.
    Alerts opened in the range are triangles on their signal's panel (prediction alerts, and any signal
    without a panel, on the risk panel); maintenance events are vertical lines on every panel."""
    titles = [panel.title for panel in panels] + [f"{risk.label} (probability)"]
    rows = math.ceil(len(titles) / TREND_COLUMNS)
    specs = [[{} if row * TREND_COLUMNS + col < len(titles) else None for col in range(TREND_COLUMNS)]
             for row in range(rows)]
    figure = make_subplots(rows=rows, cols=TREND_COLUMNS, specs=specs, shared_xaxes="all", subplot_titles=titles,
                           vertical_spacing=0.25 / rows, horizontal_spacing=0.08)
    windows = with_gaps(data.windows, "agg_timestamp", window)
    # A dot per window helps read a few windows; hundreds of dots only cost the browser time (30 d of hours).
    mode = "lines+markers" if len(windows) <= MARKER_LIMIT else "lines"
    scored = data.predictions["prediction_timestamp"]
    predictions = with_gaps(data.predictions, "prediction_timestamp", _scoring_gap(scored))
    ends = windows["agg_timestamp"] + window
    keys = {panel.key for panel in panels}
    alert_panel = data.alerts["sensor_name"].where(data.alerts["sensor_name"].isin(keys), RISK)
    traces, shapes = [], []
    layout_axes = {}
    for index, key in enumerate([panel.key for panel in panels] + [RISK]):
        xref, yref = _axis_refs(figure, index // TREND_COLUMNS + 1, index % TREND_COLUMNS + 1)
        if key == RISK:
            sensor, low, high = risk, 0.0, 1.0
            near, early = predictions["failure_probability"], predictions["warning_probability"]
            traces += [go.Scatter(x=predictions["prediction_timestamp"], y=series, mode="lines", name=name,
                                  xaxis=xref, yaxis=yref, line={"color": color, "dash": dash})
                       for series, name, color, dash in ((near, f"failure {risk_labels[0]}", LINE, "solid"),
                                                         (early, f"failure {risk_labels[1]}", "#7e57c2", "dot"))]
        else:
            panel = panels[index]
            sensor = panel.sensor
            columns = [column for column in (panel.column, panel.worst) if column]
            low, high = value_range(sensor, windows[columns].to_numpy(dtype=float).ravel().tolist())
            traces.append(go.Scatter(x=ends, y=windows[panel.column], mode=mode, name=panel.column,
                                     xaxis=xref, yaxis=yref, line={"color": LINE}, marker={"size": 4},
                                     showlegend=False))
            if panel.worst:
                traces.append(go.Scatter(x=ends, y=windows[panel.worst], mode="lines", name=panel.worst,
                                         xaxis=xref, yaxis=yref, line={"color": LINE, "width": 1, "dash": "dot"},
                                         showlegend=False))
        shapes += _band_shapes(sensor, low, high, xref, yref)
        panel_alerts = data.alerts[alert_panel == key]
        if not panel_alerts.empty:
            traces.append(_alert_trace(panel_alerts, high - (high - low) * PAD / 2, xref, yref))
        if not data.maintenance.empty:
            lines, marker = _maintenance_marks(data.maintenance, low + (high - low) * PAD / 2, xref, yref)
            shapes += lines
            traces.append(marker)
        layout_axes[yref.replace("y", "yaxis", 1)] = {"range": [low, high]}
    figure.add_traces(traces)
    # Only the two risk lines need telling apart; an odd panel count leaves the bottom-right cell for them.
    figure.update_layout(shapes=shapes, height=80 + TREND_ROW_HEIGHT * rows, title=title, template=FIGURE_TEMPLATE,
                         legend={"x": 0.55, "y": 0, "yanchor": "bottom"}, hovermode="closest",
                         margin={"l": 50, "r": 20, "t": 80, "b": 30}, **layout_axes)
    figure.update_xaxes(range=[start, as_of])
    # Shared axes label only the bottom row; the other column's last panel sits a row higher and needs its own.
    for col in range(TREND_COLUMNS):
        last = max((i for i in range(len(titles)) if i % TREND_COLUMNS == col), default=None)
        if last is not None:
            figure.update_xaxes(showticklabels=True, row=last // TREND_COLUMNS + 1, col=col + 1)
    return figure


# --- Words -----------------------------------------------------------------------------------------


def unit_summary(unit: Mapping, as_of: datetime) -> str:
    """One line of HTML about the unit from the fleet row: status, open alerts, latest risk, newest reading."""
    status = unit["status"]
    parts = [f'<b style="color:{STATUS_COLORS[status]}">{html.escape(status)}</b>',
             f"{int(unit['active_alert_count'])} open alert(s)"]
    if _finite(unit.get("failure_probability")) is not None:
        parts.append(f"failure risk {unit['failure_probability']:.0%}")
    last = unit.get("last_reading_time")
    parts.append(f"newest reading {last:%Y-%m-%d %H:%M} UTC" if last is not None and not pd.isna(last)
                 else "no reading yet")
    if unit.get("in_downtime"):
        parts.append("in logged downtime")
    return f"<b>{html.escape(unit['compressor_id'])}</b> · " + " · ".join(parts)


def no_data_message(compressor_id: str, range_label: str, as_of: datetime, last_reading: datetime | None) -> str:
    """Plain words for a unit with nothing to draw in the range."""
    since = (f" Its newest reading is from {last_reading:%Y-%m-%d %H:%M} UTC." if last_reading is not None
             and not pd.isna(last_reading) else " It has sent no reading at all.")
    return (f"<p><i>No data for {html.escape(compressor_id)} in the {range_label} before "
            f"{as_of:%Y-%m-%d %H:%M} UTC.{since} Choose a longer range or another compressor.</i></p>")


def unit_options(fleet: pd.DataFrame) -> list[tuple[str, str]]:
    """(label, compressor_id) per unit, worst status first (critical, stale, warning, healthy), then by
    failure risk and id."""
    ordered = fleet.assign(
        _rank=fleet["status"].map(queries.STATUS_RANK),
        _risk=pd.to_numeric(fleet["failure_probability"], errors="coerce").fillna(-1.0),
    ).sort_values(["_rank", "_risk", "compressor_id"], ascending=[False, False, True], kind="mergesort")
    return [(f"{unit} · {status}", unit) for unit, status in zip(ordered["compressor_id"], ordered["status"])]


def _horizon(hours: int) -> str:
    return f"within {hours // 24} d" if hours % 24 == 0 and hours > 48 else f"within {hours} h"


class MonitoringPage:
    """Selectors for unit, range and window over gauges and trend panels; any selector change redraws.

    Gauges depend on the unit only (its newest hour by as-of), so a range or window change redraws the
    trends alone: half the figures for the browser to lay out."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.panels = monitoring_panels(settings.registry)
        self.gauges = gauge_sensors(settings.registry)
        self.risk = risk_sensor(settings)
        model = settings.model
        self.risk_labels = (_horizon(model.horizon_hours), _horizon(model.warning_horizon_hours or model.horizon_hours))
        self.view = None
        self.wanted: str | None = None  # set by select(): the unit to open on the next show()
        self.cache: dict[tuple, UnitData] = {}  # per (unit, range, window); emptied by each show()
        self.updating = False  # options being replaced: their change events must not each redraw
        self.compressor = W.Dropdown(description="Compressor", layout=W.Layout(width="300px"))
        self.range = W.ToggleButtons(options=list(RANGES), value=DEFAULT_RANGE, description="Range",
                                     style={"button_width": "52px"})
        self.window = W.ToggleButtons(options=list(WINDOW_TYPES), value=DEFAULT_WINDOW, description="Window",
                                      style={"button_width": "52px"}, tooltips=["1 h means", "4 h means", "24 h means"])
        self.compressor.observe(lambda _: self.draw(gauges=True), names="value")
        self.range.observe(lambda _: self.draw(gauges=False), names="value")
        self.window.observe(lambda _: self.draw(gauges=False), names="value")
        self.summary = W.HTML()  # the unit in one line, from the fleet row
        self.notice = W.HTML()  # plain words when there is nothing (or not everything) to draw
        self.gauge_output = W.Output()
        self.trend_output = W.Output()
        self.widget = W.VBox([W.HBox([self.compressor, self.range, self.window]), self.summary, self.notice,
                              self.gauge_output, self.trend_output])

    def select(self, compressor_id: str) -> None:
        """Open this unit on the next ``show`` (the app calls it before showing the page)."""
        self.wanted = compressor_id

    def show(self, view) -> None:
        """Offer the fleet's units worst first, keeping the user's unit (or the one asked for by
        ``select``), range and window, and redraw from PostgreSQL at the view's as-of."""
        self.view = view
        self.cache.clear()
        options = unit_options(view.fleet)
        ids = [unit for _, unit in options]
        wanted, self.wanted = self.wanted, None
        current = wanted if wanted in ids else self.compressor.value
        self.updating = True
        try:
            self.compressor.options = options
            self.compressor.value = current if current in ids else (ids[0] if ids else None)
        finally:
            self.updating = False
        self.draw(gauges=True)

    def read(self, compressor_id: str, range_label: str, window_label: str) -> UnitData:
        """The unit's data for this range and window at the view's as-of, read once and kept until the next show."""
        key = (compressor_id, range_label, window_label)
        if key not in self.cache:
            as_of = self.view.as_of
            where = {"start": as_of - RANGES[range_label], "as_of": as_of}
            self.cache[key] = UnitData(
                windows=queries.read_unit_windows(self.settings, compressor_id, window_type=WINDOW_TYPES[window_label],
                                                  columns=window_columns(self.panels), **where),
                alerts=queries.read_unit_alerts(self.settings, compressor_id, **where),
                maintenance=queries.read_unit_maintenance(self.settings, compressor_id, **where),
                predictions=queries.read_unit_predictions(self.settings, compressor_id, **where),
            )
        return self.cache[key]

    def draw(self, *, gauges: bool) -> None:
        """Redraw the trends (and the gauges when the unit changed) for the chosen unit, range and window;
        plain words when there is nothing to draw or the database is down."""
        if self.updating or self.view is None:
            return
        compressor_id, range_label, window_label = self.compressor.value, self.range.value, self.window.value
        self.trend_output.clear_output(wait=True)
        if gauges:
            self.gauge_output.clear_output(wait=True)
        self.notice.value = ""
        if not compressor_id:
            self.summary.value = "<p><i>No compressors in the fleet yet: run <code>make run</code>.</i></p>"
            return
        as_of = self.view.as_of
        unit = self.view.fleet.set_index("compressor_id", drop=False).loc[compressor_id]
        self.summary.value = unit_summary(unit, as_of)
        # The unit's own limits (per model, per unit) for its bands, lines and gauge colours.
        panels = monitoring_panels(self.settings.registry, compressor_id, unit.get("model"))
        gauges = gauge_sensors(self.settings.registry, compressor_id, unit.get("model"))
        try:
            latest = (queries.read_unit_latest_hour(self.settings, compressor_id, as_of=as_of,
                                                    columns=[panel.column for panel in self.gauges])
                      if gauges else None)
            data = self.read(compressor_id, range_label, window_label)
        except db.DatabaseUnavailable as err:
            self.notice.value = (f'<span class="altaviz-error"><b>Database unavailable.</b> '
                                 f"{html.escape(str(err))}. Try again in a moment.</span>")
            return
        if latest is not None and not latest.empty:
            hour = latest.iloc[-1]
            with self.gauge_output:
                show_figure(gauge_figure(hour, gauges, hour_end=hour["agg_timestamp"] + timedelta(hours=1)))
        if data.empty:
            self.notice.value = no_data_message(compressor_id, range_label, as_of, unit["last_reading_time"])
            return
        if data.windows.empty:
            self.notice.value = (f"<p><i>No whole {window_label} window ended in the {range_label} before "
                                 f"{as_of:%Y-%m-%d %H:%M} UTC: choose a shorter window or a longer range.</i></p>")
        window = timedelta(seconds=WINDOWS[WINDOW_TYPES[window_label]])
        trends = trend_figure(data, panels, self.risk, start=as_of - RANGES[range_label], as_of=as_of,
                              window=window, risk_labels=self.risk_labels,
                              title=f"{compressor_id}: {window_label} windows, last {range_label}")
        with self.trend_output:
            show_figure(trends)
