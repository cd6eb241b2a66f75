"""The fleet at a glance: a map coloured by health, the health table worst first, the KPI counts."""

from __future__ import annotations

import html
import math

import ipywidgets as W
import pandas as pd

from altaviz.dashboard.style import HEALTH_COLORS, html_table
from altaviz.registry import HEALTH_BY_RANK

# Health is the worst open severity by rank (registry.SEVERITY_RANK, which SQL's severity_rank() and
# the fleet view follow too), never by string: {'healthy': 0, 'warning': 1, 'critical': 2}.
HEALTH_RANK = {health: rank for rank, health in sorted(HEALTH_BY_RANK.items())}


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


def health_table(fleet: pd.DataFrame) -> pd.DataFrame:
    """What an engineer scans first: worst units on top, risk within 48 h and 7 days as percentages, life left
    in days."""
    ordered = worst_first(fleet)

    def percent(column: str) -> pd.Series:
        return (pd.to_numeric(ordered[column], errors="coerce") * 100).round(0).map(
            lambda p: "–" if pd.isna(p) else f"{p:.0f} %")

    return pd.DataFrame({
        "compressor": ordered["compressor_id"],
        "health": ordered["health_status"],
        "open alerts": ordered["active_alert_count"],
        "failure risk 48 h": percent("failure_probability"),
        "7 d": percent("warning_probability"),
        # Null where the model cannot tell (or on a cold start): shown as a dash, never a number.
        "RUL (days)": pd.to_numeric(ordered["rul_days"], errors="coerce").round(1).map(
            lambda d: "–" if pd.isna(d) else f"{d:.1f}"),
        "station": ordered["station_name"],
        "model": ordered["model"],
    })


def zoom_to_fit(fleet: pd.DataFrame, *, width_tiles: float = 2.8, height_tiles: float = 1.6) -> int:
    """The closest web-map zoom at which every unit fits a map about 2.8 x 1.6 tiles (256 px) large."""
    if len(fleet) < 2:
        return 9
    # At zoom z one tile spans 360 / 2**z degrees of longitude (latitude: about the same at Texas' 30°N
    # once stretched by 1/cos(lat), which the 1.3 margin covers).
    span = max((fleet["longitude"].max() - fleet["longitude"].min()) / width_tiles,
               (fleet["latitude"].max() - fleet["latitude"].min()) * 1.3 / height_tiles, 1e-3)
    return int(max(3, min(12, math.floor(math.log2(360 / (span * 1.3))))))


def fleet_map(fleet: pd.DataFrame):
    """One circle per compressor, coloured by health; tiles may not load offline, markers always do."""
    import ipyleaflet as L

    center = (float(fleet["latitude"].mean()), float(fleet["longitude"].mean())) if len(fleet) else (30.5, -98.5)
    fleet_layer = L.LayerGroup(name="compressors")
    for row in fleet.itertuples():
        color = HEALTH_COLORS.get(row.health_status, "#607d8b")
        marker = L.CircleMarker(location=(float(row.latitude), float(row.longitude)), radius=8, color=color,
                                fill_color=color, fill_opacity=0.85, weight=2)
        marker.popup = W.HTML(
            f"<b>{html.escape(row.compressor_id)}</b> · {html.escape(str(row.model))}<br>"
            f"{html.escape(str(row.station_name))}<br>health: {row.health_status}, "
            f"open alerts: {row.active_alert_count}"
        )
        fleet_layer.add(marker)
    the_map = L.Map(center=center, zoom=zoom_to_fit(fleet), scroll_wheel_zoom=True, layout=W.Layout(height="420px"))
    the_map.add(fleet_layer)
    return the_map


class FleetPage:
    """The map beside the health table."""

    def __init__(self, settings, open_unit):
        self.settings, self.open_unit = settings, open_unit
        self.map_box = W.Box(layout=W.Layout(width="55%"))
        self.health_box = W.Box(layout=W.Layout(width="45%", overflow="auto", max_height="420px"))
        self.widget = W.HBox([self.map_box, self.health_box])

    def show(self, view) -> None:
        fleet = view.fleet.assign(health_status=view.fleet["status"].replace({"stale": "warning"}))
        self.map_box.children = (fleet_map(fleet),)
        table = html_table(health_table(fleet), empty="No compressors published yet: run `make run`.")
        self.health_box.children = (table,)
