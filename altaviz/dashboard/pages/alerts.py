"""Predictive alerts: the alerts open at as-of (filtered, worst first, exact counts), the operator's
acknowledge / un-acknowledge / resolve actions, the resolved history and one unit's latest prediction."""

from __future__ import annotations

import contextlib
import html
import json
from collections.abc import Callable
from datetime import timedelta

import ipywidgets as W
import pandas as pd

from altaviz.config import Settings
from altaviz.dashboard import queries
from altaviz.dashboard.style import html_table
from altaviz.io import db

PAGE_ROWS = 50  # rows per table; the counts above each table are exact whatever the page holds
DASH = "–"
SEVERITIES = ("critical", "warning")  # worst first; alert_history's CHECK allows these two
ALERT_TYPES = ("threshold", "rate_of_change", "anomaly", "prediction", "stale")  # alert_history's CHECK constraint
HISTORY_PERIODS = {"7 d": timedelta(days=7), "30 d": timedelta(days=30), "90 d": timedelta(days=90)}
ANY = ""  # a dropdown's "any": ipywidgets reads a None value as "nothing selected"
ACKNOWLEDGED = {ANY: None, "yes": True, "no": False}
ACTION_DONE = {"acknowledge": "acknowledged", "unacknowledge": "un-acknowledged", "resolve": "resolved"}


def open_duration(delta) -> str:
    """How long an alert has been open, to the hour past a day and to the minute below: '3 d 4 h', '5 h 20 min'."""
    if delta is None or pd.isna(delta):
        return DASH
    minutes = max(int(pd.Timedelta(delta).total_seconds() // 60), 0)
    days, hours, minutes = minutes // 1440, minutes % 1440 // 60, minutes % 60
    if days:
        return f"{days} d {hours} h"
    return f"{hours} h {minutes} min" if hours else f"{minutes} min"


def _number(value) -> str:
    return DASH if value is None or pd.isna(value) else f"{float(value):.2f}".rstrip("0").rstrip(".")


def percent(value) -> str:
    """A probability as a whole percentage, or a dash when there is none."""
    return DASH if value is None or pd.isna(value) else f"{float(value) * 100:.0f} %"


def alert_value(value, sensor_name: str) -> str:
    """A sensor reading as stored, a model probability as a percentage; a dash for none."""
    return percent(value) if sensor_name.endswith("_probability") else _number(value)


def rul_band(p10, p50, p90) -> str:
    """The remaining-life band in hours, 'p10 12.4 h · p50 22.1 h · p90 32.0 h'; a dash where the model cannot
    tell (null), never a number standing in for it."""
    if all(v is None or pd.isna(v) for v in (p10, p50, p90)):
        return DASH
    return " · ".join(f"{name} {DASH if v is None or pd.isna(v) else f'{float(v):.1f} h'}"
                      for name, v in (("p10", p10), ("p50", p50), ("p90", p90)))


def drivers_table(features_used) -> pd.DataFrame:
    """The model's drivers from ``ml_predictions.features_used`` (a JSON object or its text): one row per
    driver, strongest first as stored, with feature, value and contribution. No rows when there are none."""
    if isinstance(features_used, (str, bytes)):
        features_used = json.loads(features_used)
    drivers = (features_used or {}).get("drivers") or []
    frame = pd.DataFrame([{key: d.get(key) for key in ("feature", "value", "contribution")} for d in drivers],
                         columns=["feature", "value", "contribution"])
    return frame.astype({"feature": object, "value": float, "contribution": float})


def _utc(column: pd.Series) -> pd.Series:
    return pd.to_datetime(column, utc=True).map(lambda t: DASH if pd.isna(t) else f"{t:%Y-%m-%d %H:%M}")


def _text(column: pd.Series) -> pd.Series:
    return column.map(lambda v: DASH if v is None or pd.isna(v) or v == "" else str(v))


def _alert_columns(alerts: pd.DataFrame) -> dict[str, pd.Series | list]:
    """The columns every alert table starts with: which alert, how bad, where, what and its peak."""
    return {
        "alert": alerts["id"].map(lambda i: f"#{i}"),
        "severity": alerts["severity"],
        "compressor": alerts["compressor_id"],
        "station": alerts["station_name"],
        "type": alerts["alert_type"],
        "signal": alerts["sensor_name"],
        "peak": [alert_value(v, s) for v, s in zip(alerts["peak_value"], alerts["sensor_name"])],
    }


def open_alerts_table(alerts: pd.DataFrame) -> pd.DataFrame:
    """What an operator scans, one row per open alert in the query's order: peak, limit, latest value, how
    long it has been open at as-of and who acknowledged it."""
    return pd.DataFrame({
        **_alert_columns(alerts),
        "threshold": [alert_value(v, s) for v, s in zip(alerts["threshold_value"], alerts["sensor_name"])],
        "latest": [alert_value(v, s) for v, s in zip(alerts["sensor_value"], alerts["sensor_name"])],
        "open for": alerts["open_for"].map(open_duration),
        "opened (UTC)": _utc(alerts["alert_timestamp"]),
        "last seen (UTC)": _utc(alerts["last_seen_at"]),
        "acknowledged by": _text(alerts["acknowledged_by"]),
        "note": _text(alerts["note"]),
    })


def resolved_alerts_table(alerts: pd.DataFrame) -> pd.DataFrame:
    """One row per resolved alert, newest resolution first: who resolved it ('auto' or an operator), when,
    and the operator's note."""
    return pd.DataFrame({
        **_alert_columns(alerts),
        "opened (UTC)": _utc(alerts["alert_timestamp"]),
        "resolved (UTC)": _utc(alerts["resolved_at"]),
        "resolved by": _text(alerts["resolved_by"]),
        "note": _text(alerts["note"]),
    })


def checked_choice(name: str, value, offered) -> object:
    """``value`` when it is None (any) or one of the ``offered`` choices; a browser can send anything."""
    if value is not None and value not in list(offered):
        raise ValueError(f"{name} {value!r} is not one of the choices offered")
    return value


def _any(choices) -> list:
    return [("any", ANY), *choices]


def horizon(hours: int) -> str:
    """A horizon as people say it: 168 -> '7 d', 48 -> '48 h'."""
    return f"{hours // 24} d" if hours % 24 == 0 and hours > 48 else f"{hours} h"


class AlertsPage:
    """Filters over the open-alerts table, an alert picker with the operator's actions, the selected unit's
    latest prediction, and the resolved history.

    ``on_change`` runs after an action succeeds (the app refreshes everything, since health changes);
    ``open_unit(compressor_id)`` shows a unit on the monitoring page.
    """

    def __init__(self, settings: Settings, on_change: Callable[[], None], open_unit: Callable[[str], None]):
        self.settings = settings
        self.on_change = on_change
        self.open_unit = open_unit
        self.view = None
        self.alert_rows = pd.DataFrame(columns=["compressor_id"])  # the open alerts shown, by id
        self._holding = False
        self.draws = 0  # reads of PostgreSQL so far: an action redraws only when the app did not
        narrow = W.Layout(width="210px")
        self.severity = W.Dropdown(description="Severity", options=_any((s, s) for s in SEVERITIES), layout=narrow)
        self.alert_type = W.Dropdown(description="Type", options=_any((t, t) for t in ALERT_TYPES), layout=narrow)
        self.station = W.Dropdown(description="Station", options=_any([]), layout=W.Layout(width="300px"))
        self.compressor = W.Dropdown(description="Compressor", options=_any([]), layout=narrow)
        self.acknowledged = W.Dropdown(description="Acknowledged", options=_any((v, v) for v in ACKNOWLEDGED if v),
                                       layout=narrow, style={"description_width": "initial"})
        self.filter_widgets = {"severity": self.severity, "alert_type": self.alert_type, "station_id": self.station,
                               "compressor_id": self.compressor, "acknowledged": self.acknowledged}
        self.open_alerts = W.HTML()  # the count and the rows in one widget: they change together
        self.alert_id = W.Dropdown(description="Alert", layout=W.Layout(width="420px"))
        self.operator = W.Text(description="Name", placeholder="required")
        self.note = W.Textarea(description="Note", placeholder="optional",
                               layout=W.Layout(width="420px", height="52px"))
        self.ack_button = W.Button(description="Acknowledge", button_style="warning")
        self.unack_button = W.Button(description="Un-acknowledge")
        self.resolve_button = W.Button(description="Resolve", button_style="success")
        self.open_button = W.Button(description="Open in monitoring", icon="line-chart")
        self.status = W.HTML()
        self.unit_box = W.HTML()
        self.period = W.Dropdown(description="Resolved in", options=list(HISTORY_PERIODS), value="7 d",
                                 layout=narrow)
        self.history = W.HTML()

        self.ack_button.on_click(lambda _: self.act("acknowledge"))
        self.unack_button.on_click(lambda _: self.act("unacknowledge"))
        self.resolve_button.on_click(lambda _: self.act("resolve"))
        self.open_button.on_click(lambda _: self.open_selected())
        for widget in self.filter_widgets.values():
            widget.observe(lambda _: self.draw(), names="value")
        self.alert_id.observe(lambda _: self.draw_unit(), names="value")
        self.period.observe(lambda _: self.draw_history(), names="value")
        self.widget = W.VBox([
            W.HBox([self.severity, self.alert_type, self.station, self.compressor, self.acknowledged]),
            self.open_alerts,
            W.HBox([W.VBox([self.alert_id, self.operator, self.note]),
                    W.VBox([W.HBox([self.ack_button, self.unack_button, self.resolve_button]),
                            self.open_button, self.status])]),
            self.unit_box,
            W.HBox([W.HTML("<b>Resolved alerts</b>"), self.period]), self.history,
        ])

    # --- drawing -------------------------------------------------------------------------------------

    def show(self, view) -> None:
        """Offer the stations and compressors of ``view.fleet`` in the filters, then redraw at ``view.as_of``."""
        self.view = view
        fleet = view.fleet
        stations = fleet[["station_id", "station_name"]].drop_duplicates().sort_values(["station_name", "station_id"])
        with self._held():
            self._set_options(self.station, _any((f"{r.station_name} ({r.station_id})", r.station_id)
                                                 for r in stations.itertuples()))
            self._set_options(self.compressor, _any((c, c) for c in sorted(fleet["compressor_id"])))
        self.draw()

    @contextlib.contextmanager
    def _held(self):
        """Hold the observers while options change, so one redraw follows instead of one per widget."""
        self._holding = True
        try:
            yield
        finally:
            self._holding = False

    @staticmethod
    def _set_options(dropdown: W.Dropdown, options: list) -> None:
        """New options, keeping the current choice when it is still offered, else the first."""
        current = dropdown.value
        dropdown.options = options
        values = [value for _, value in options]
        dropdown.value = current if current in values else (values[0] if values else None)

    def filters(self) -> dict:
        """The chosen filters as query parameters (None: any), each checked against the choices offered."""
        chosen = {key: checked_choice(key.replace("_", " "), widget.value, [v for _, v in widget.options])
                  for key, widget in self.filter_widgets.items()}
        return {key: ACKNOWLEDGED[value] if key == "acknowledged" else (value or None)
                for key, value in chosen.items()}

    def draw(self) -> None:
        """Redraw the open alerts, the picker, the unit panel and the history from PostgreSQL."""
        if self.view is None or self._holding:
            return
        self.draws += 1
        try:
            alerts, matching = queries.read_open_alerts(self.settings, self.view.as_of, filters=self.filters(),
                                                        limit=PAGE_ROWS)
        except (db.DatabaseUnavailable, ValueError) as err:
            self.open_alerts.value = self._error(err)
            return
        as_of = f"{self.view.as_of:%Y-%m-%d %H:%M} UTC"
        self.open_alerts.value = (
            f"<p><b>Open alerts at {as_of}</b>: showing {len(alerts)} of {matching}"
            + (" (the most severe, newest first)" if matching > len(alerts) else "") + "</p>"
            + html_table(open_alerts_table(alerts), empty="No open alerts match.", max_height=360))
        self.alert_rows = alerts.set_index("id")
        with self._held():
            self._set_options(self.alert_id, [(f"#{r.id} {r.compressor_id} · {r.sensor_name} ({r.severity})",
                                               int(r.id)) for r in alerts.itertuples()])
        self.draw_unit()
        self.draw_history()

    def selected_unit(self) -> str | None:
        """The selected alert's compressor, else the compressor chosen in the filter."""
        if self.alert_id.value is not None and self.alert_id.value in self.alert_rows.index:
            return str(self.alert_rows.loc[self.alert_id.value, "compressor_id"])
        return self.compressor.value or None

    def draw_unit(self) -> None:
        """The selected unit's newest prediction at as-of: risk within both horizons, the remaining-life band,
        the model's sentence and its drivers."""
        if self._holding:
            return
        unit = self.selected_unit() if self.view is not None else None
        self.open_button.disabled = unit is None
        if unit is None:
            self.unit_box.value = ""
            return
        try:
            prediction = queries.read_unit_latest_prediction(self.settings, unit, self.view.as_of)
        except db.DatabaseUnavailable as err:
            self.unit_box.value = self._error(err)
            return
        self.unit_box.value = unit_panel(unit, prediction, horizon_hours=self.settings.model.horizon_hours,
                                         warning_horizon_hours=self.settings.model.warning_horizon_hours)

    def draw_history(self) -> None:
        """Alerts resolved in the chosen period before as-of, under the same filters (acknowledged aside)."""
        if self.view is None or self._holding:
            return
        try:
            period = checked_choice("period", self.period.value, HISTORY_PERIODS)
            filters = {k: v for k, v in self.filters().items() if k != "acknowledged"}
            resolved, matching = queries.read_resolved_alerts(
                self.settings, self.view.as_of, period=HISTORY_PERIODS[period], filters=filters, limit=PAGE_ROWS)
        except (db.DatabaseUnavailable, ValueError) as err:
            self.history.value = self._error(err)
            return
        self.history.value = (
            f"<p>showing {len(resolved)} of {matching} resolved in the {period} before as-of</p>"
            + html_table(resolved_alerts_table(resolved), empty=f"No alert resolved in the {period} before as-of.",
                         max_height=300))

    @staticmethod
    def _error(err: Exception) -> str:
        reason = "Database unavailable" if isinstance(err, db.DatabaseUnavailable) else "Cannot do that"
        return f'<span class="altaviz-error"><b>{reason}.</b> {html.escape(str(err))}.</span>'

    # --- operator actions ------------------------------------------------------------------------------

    def act(self, action: str) -> None:
        """Acknowledge, un-acknowledge or resolve the selected alert in PostgreSQL under the operator's name
        and note; refresh the app when it worked, say in plain words why when it did not."""
        alert_id, by = self.alert_id.value, self.operator.value.strip()
        if alert_id is None:
            self.status.value = "<i>Choose an alert first.</i>"
            return
        if not by:
            self.status.value = "<i>Enter your name: every action on an alert is signed.</i>"
            return
        try:
            checked_choice("alert", alert_id, self.alert_rows.index)
            queries.set_alert_state(alert_id, action=action, by=by, note=self.note.value.strip() or None,
                                    settings=self.settings)
        except db.DatabaseUnavailable as err:
            self.status.value = self._error(err) + " Nothing was changed."
            return
        except LookupError:
            self.status.value = (f'<span class="altaviz-error">Alert #{alert_id} no longer exists; '
                                 "refresh to see the current alerts.</span>")
            return
        except ValueError as err:
            self.status.value = self._error(err)
            return
        self.status.value = f"Alert #{alert_id} {ACTION_DONE[action]} by {html.escape(by)}."
        self.note.value = ""
        draws = self.draws
        self.on_change()
        if self.view is not None and self.draws == draws:
            self.draw()  # the app redraws only the page in front; this page must show the change anyway

    def open_selected(self) -> None:
        """Show the selected alert's unit (or the filtered compressor) on the monitoring page."""
        unit = self.selected_unit()
        if unit is not None:
            self.open_unit(unit)


def unit_panel(unit: str, prediction: pd.DataFrame, *, horizon_hours: int, warning_horizon_hours: int) -> str:
    """HTML for one unit's newest prediction, or a line saying there is none at as-of."""
    name = html.escape(unit)
    if prediction.empty:
        return f"<p><b>{name}</b>: <i>no prediction at or before as-of.</i></p>"
    p = prediction.iloc[0]
    early = (f" · early warning ({horizon(warning_horizon_hours)}): <b>{percent(p['warning_probability'])}</b>"
             if warning_horizon_hours else "")
    drivers = drivers_table(p["features_used"])
    drivers_html = html_table(drivers.round({"value": 3, "contribution": 3}), empty="No drivers recorded.")
    return (
        f"<p><b>{name}</b> · prediction at {pd.Timestamp(p['prediction_timestamp']):%Y-%m-%d %H:%M} UTC "
        f"({html.escape(str(p['model_version']))})<br>"
        f"failure within {horizon(horizon_hours)}: <b>{percent(p['failure_probability'])}</b>{early}"
        f" · remaining life: <b>{rul_band(p['rul_p10_hours'], p['rul_p50_hours'], p['rul_p90_hours'])}</b><br>"
        f"{html.escape(str(p['message'] or DASH))}</p>{drivers_html}"
    )
