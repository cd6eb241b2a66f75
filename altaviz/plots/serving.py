"""05_publish's figure: every alert as a bar along time, one row per problem (compressor, signal,
alert type), from when it opened to when it resolved (or was last seen, if still open), coloured by
severity: an alert that escalated is a warning bar up to ``escalated_at`` and a critical bar after it."""

from __future__ import annotations

import matplotlib.dates as mdates
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from altaviz.config import Settings
from altaviz.io import db
from altaviz.plots import NEUTRAL, SEVERITY_COLORS, date_axis, new_figure, say_empty, utc_naive
from altaviz.registry import SensorRegistry, get_registry

STILL_OPEN = "$\u2192$"  # an arrow: the alert goes on past its last reading
TOP_PROBLEMS = 30  # rows drawn; the problems with the newest activity, so a large fleet stays readable
ALERTS_SQL = """
SELECT compressor_id, sensor_name, alert_type, severity, alert_timestamp, last_seen_at, resolved, resolved_at,
       escalated_at
FROM alert_history
WHERE alert_timestamp >= %s
ORDER BY compressor_id, sensor_name, alert_type, alert_timestamp
"""


def read_alerts(settings: Settings | None = None, *, since: str = "-infinity") -> pd.DataFrame:
    """Alerts opened at or after ``since`` (default: all), one row per alert, the columns
    ``alert_timeline`` draws."""
    return db.query(ALERTS_SQL, (since,), settings=settings)


def alert_timeline(alerts: pd.DataFrame, *, registry: SensorRegistry | None = None) -> Figure:
    """Alerts over time, one row per problem: a bar from opened (triangle) to resolved (square) or
    to last seen (open alerts end in an arrow), coloured by severity, escalations marked (diamond)."""
    figure, (ax,) = new_figure(width=11.0, height=4.0)
    if alerts.empty:
        ax.set_title("Alerts over time: none raised")
        say_empty(ax, "no alert in alert_history")
        return figure
    signals = (registry or get_registry()).signals
    escalated = alerts["escalated_at"] if "escalated_at" in alerts else pd.Series(pd.NaT, index=alerts.index)
    frame = alerts.assign(opened=utc_naive(alerts["alert_timestamp"]).to_numpy(),
                          escalated=utc_naive(escalated).to_numpy(),
                          closed=utc_naive(alerts["resolved_at"].where(alerts["resolved"], alerts["last_seen_at"])).to_numpy())
    newest = frame.groupby(["compressor_id", "sensor_name", "alert_type"])["closed"].max()
    problems = newest.sort_values(ascending=False, kind="stable").index[:TOP_PROBLEMS].sort_values()
    row_of = {problem: row for row, problem in enumerate(problems)}
    for alert in frame.itertuples():
        row = row_of.get((alert.compressor_id, alert.sensor_name, alert.alert_type))
        if row is None:
            continue
        color = SEVERITY_COLORS[alert.severity]
        start, end = mdates.date2num(alert.opened), mdates.date2num(alert.closed)
        ax.broken_barh([(start, max(end - start, 1 / 96))], (row - 0.3, 0.6), color=color, alpha=0.8)
        opened_color = color
        if pd.notna(alert.escalated):  # a warning until then: paint its first stretch so and mark the moment
            opened_color = SEVERITY_COLORS["warning"]
            escalated = mdates.date2num(alert.escalated)
            ax.broken_barh([(start, escalated - start)], (row - 0.3, 0.6), color=opened_color, alpha=0.8)
            ax.plot(escalated, row, marker="D", color=color, markeredgecolor="black", markersize=6)
        ax.plot(start, row, marker=">", color=opened_color, markeredgecolor="black", markersize=7)
        if alert.resolved:
            ax.plot(end, row, marker="s", color=color, markeredgecolor="black", markersize=7)
        else:
            ax.plot(end, row, marker=STILL_OPEN, color="black", markersize=10)
    labels = [f"{unit} · {signals[sensor].label if sensor in signals else sensor} ({kind.replace('_', ' ')})"
              for unit, sensor, kind in problems]
    ax.set_yticks(range(len(problems)), labels, fontsize=8)
    ax.set_ylim(len(problems) - 0.5, -0.5)
    figure.set_figheight(max(3.0, 1.2 + 0.28 * len(problems)))
    shown = f"{len(problems)} of {len(newest)} problems" if len(newest) > len(problems) else f"{len(problems)} problem(s)"
    opened, resolved = len(alerts), int(alerts["resolved"].sum())
    ax.set_title(f"Alerts over time: {opened} opened, {resolved} resolved, {opened - resolved} open ({shown})")
    date_axis(ax)
    handles = [Line2D([], [], color=SEVERITY_COLORS[s], linewidth=6, label=s) for s in ("warning", "critical")]
    handles += [Line2D([], [], linestyle="", marker=">", color=NEUTRAL, label="opened"),
                Line2D([], [], linestyle="", marker="D", color=SEVERITY_COLORS["critical"], label="escalated"),
                Line2D([], [], linestyle="", marker="s", color=NEUTRAL, label="resolved"),
                Line2D([], [], linestyle="", marker=STILL_OPEN, color="black", markersize=10, label="still open")]
    figure.legend(handles=handles, loc="outside lower center", ncols=len(handles), fontsize=8)
    return figure
