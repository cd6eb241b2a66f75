"""Fleet Overview: a map with one marker per compressor coloured by status, the units worst first and a
summary per station.

The map is one GeoJSON layer of point features (one widget whatever the fleet's size: 1,000 units are in
the browser's DOM 1.7 s after the request, against 2.6 s for a widget per marker and popup; see
bench/results_fleet_map.md) with ONE shared popup filled on click. The units of a station sit on small rings
around it, spaced so that every marker can be clicked at the zoom that fits the fleet (or, for a fleet too
dense for that, from the first closer zoom: spread_positions). Offline by default: no tile layer, a bundled
outline of the US states instead (assets/README.md), which takes no clicks.

A marker's click opens the popup rather than the monitoring page: an engineer scanning the map wants to
see what is wrong with a unit, and the next one, without losing the map; "Open in monitoring" in the popup
goes on to its trends. A row of the unit list is an explicit choice of a unit, so its click opens it.
"""

from __future__ import annotations

import functools
import html
import json
import math
from collections.abc import Callable, Mapping
from pathlib import Path

import ipyleaflet as L
import ipywidgets as W
import pandas as pd
from traitlets import Bool, Unicode

from altaviz.config import Settings
from altaviz.dashboard import queries
from altaviz.dashboard.queries import STATUS_RANK
from altaviz.dashboard.style import STATUS_COLORS, html_table
from altaviz.dashboard.view import View
from altaviz.io import db
from altaviz.registry import Sensor, SensorRegistry

OUTLINE_PATH = Path(__file__).resolve().parents[1] / "assets" / "us_states.geojson"
STATUSES = tuple(sorted(STATUS_RANK, key=STATUS_RANK.get))  # healthy … critical: the draw order
WORST_FIRST = STATUSES[::-1]
MARKER_RADIUS = 7  # px
MARKER_SPACING = 2 * MARKER_RADIUS + 5  # px between the centres of neighbouring markers at the layout zoom
MAX_LAYOUT_ZOOM = 16  # closer than this, markers of different stations may share a place
# Land a pale sand, borders a light blue-grey: no status colour, so nothing on the map but a unit reads
# as a status.
OUTLINE_STYLE = {"color": "#b0bec5", "weight": 1, "opacity": 1.0, "fillColor": "#f7f5ef", "fillOpacity": 1.0}
NO_VALUE = "–"


# --- What the page shows, as frames (no widgets) ---

def status_counts(fleet: pd.DataFrame) -> dict[str, int]:
    """Units per status, worst first, always with all four statuses."""
    counts = fleet["status"].value_counts()
    return {status: int(counts.get(status, 0)) for status in WORST_FIRST}


def worst_first(fleet: pd.DataFrame) -> pd.DataFrame:
    """Fleet rows ordered by status rank (critical, stale, warning, healthy: by rank, never by string), then
    by failure risk within 48 h (highest first, unknown last), then by id."""
    rank = fleet["status"].map(STATUS_RANK).fillna(0)
    risk = pd.to_numeric(fleet["failure_probability"], errors="coerce").fillna(-1.0)
    return (fleet.assign(_rank=rank, _risk=risk)
            .sort_values(["_rank", "_risk", "compressor_id"], ascending=[False, False, True])
            .drop(columns=["_rank", "_risk"]))


def _percent(values: pd.Series) -> pd.Series:
    return (pd.to_numeric(values, errors="coerce") * 100).round(0).map(
        lambda p: NO_VALUE if pd.isna(p) else f"{p:.0f} %")


def _days(values: pd.Series) -> pd.Series:
    # Null where the model cannot tell (or on a cold start): a dash, never a number.
    return pd.to_numeric(values, errors="coerce").round(1).map(lambda d: NO_VALUE if pd.isna(d) else f"{d:.1f}")


def _time(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values, utc=True).map(lambda t: NO_VALUE if pd.isna(t) else f"{t:%Y-%m-%d %H:%M}")


def unit_table(fleet: pd.DataFrame) -> pd.DataFrame:
    """One row per unit, worst first: what an engineer scans first. Risk within 48 h and 7 days as
    percentages, remaining life in days, the newest reading's time (UTC)."""
    ordered = worst_first(fleet)
    return pd.DataFrame({
        "compressor": ordered["compressor_id"],
        "status": ordered["status"],
        "open alerts": ordered["active_alert_count"].astype(int),
        "risk 48 h": _percent(ordered["failure_probability"]),
        "risk 7 d": _percent(ordered["warning_probability"]),
        "life (d)": _days(ordered["rul_days"]),
        "last reading": _time(ordered["last_reading_time"]),
        "station": ordered["station_name"],
    }).reset_index(drop=True)


def unit_rows(table: pd.DataFrame) -> tuple[str, list[tuple[str, str]]]:
    """The unit table as a header line and (row text, compressor id) options of fixed-width columns, for a
    Select in a monospace font. Non-breaking spaces: a browser collapses plain runs of spaces in options."""
    widths = {column: max(len(column), *(len(str(v)) for v in table[column])) if len(table) else len(column)
              for column in table.columns}

    def line(values) -> str:
        cells = [str(v).rjust(widths[c]) if c in ("open alerts", "risk 48 h", "risk 7 d", "life (d)")
                 else str(v).ljust(widths[c]) for c, v in zip(table.columns, values)]
        return "  ".join(cells).rstrip().replace(" ", "\u00a0")

    options = [(line(row), row[0]) for row in table.itertuples(index=False)]
    return line(table.columns), options


def station_summary(fleet: pd.DataFrame) -> pd.DataFrame:
    """One row per station: units, units per status and open alerts; stations with critical units first,
    then stale, then warning, then by name."""
    counts = pd.crosstab(fleet["station_name"], fleet["status"]).reindex(columns=list(STATUSES), fill_value=0)
    summary = pd.DataFrame({
        "station": counts.index,
        "units": counts.sum(axis=1).to_numpy(),
        **{status: counts[status].to_numpy() for status in ("healthy", "warning", "critical", "stale")},
        "open alerts": fleet.groupby("station_name")["active_alert_count"].sum().reindex(counts.index).to_numpy(),
    })
    summary = summary.sort_values(["critical", "stale", "warning", "station"], ascending=[False, False, False, True])
    return summary.astype({column: "int64" for column in summary.columns if column != "station"}).reset_index(
        drop=True)


# --- The map ---

def zoom_to_fit(fleet: pd.DataFrame, *, width_tiles: float = 2.8, height_tiles: float = 1.6) -> int:
    """The closest web-map zoom at which every unit fits a map about 2.8 x 1.6 tiles (256 px) large."""
    if len(fleet) < 2:
        return 9
    # At zoom z one tile spans 360 / 2**z degrees of longitude (latitude: about the same at Texas' 30°N
    # once stretched by 1/cos(lat), which the 1.3 margin covers).
    span = max((fleet["longitude"].max() - fleet["longitude"].min()) / width_tiles,
               (fleet["latitude"].max() - fleet["latitude"].min()) * 1.3 / height_tiles, 1e-3)
    return int(max(3, min(12, math.floor(math.log2(360 / (span * 1.3))))))


def _ring_slots(first_ring: int, last_ring: int) -> list[tuple[float, float]]:
    """Pixel offsets on concentric rings MARKER_SPACING apart, ring k holding floor(2 pi k) slots (neighbours
    on a ring then stay about MARKER_SPACING apart); ring 0 is the centre."""
    slots = []
    for ring in range(first_ring, last_ring + 1):
        count = max(1, math.floor(2 * math.pi * ring))
        for slot in range(count):
            angle = math.pi / 2 + 2 * math.pi * slot / count + 0.5 * ring  # from the north; rings staggered
            slots.append((ring * MARKER_SPACING * math.cos(angle), ring * MARKER_SPACING * math.sin(angle)))
    return slots


def _rings_for(units: int) -> tuple[int, int]:
    """The first and last ring a station of ``units`` fills on its own (a lone unit: the centre)."""
    if units == 1:
        return 0, 0
    last, capacity = 0, 0
    while capacity < units:
        last += 1
        capacity += math.floor(2 * math.pi * last)
    return 1, last


def _place(stations: list[tuple[float, float, list[str]]], zoom: int) -> list[tuple[str, float, float]] | None:
    """Every unit's (compressor_id, latitude, longitude) with no two markers closer than MARKER_SPACING px at
    ``zoom``, each within two rings more than its station needs on its own; None when that is impossible."""
    degrees_per_px = 360 / (256 * 2**zoom)
    cell = MARKER_SPACING  # a grid of cells one spacing wide: a clash can only be in the 3 x 3 around a slot
    placed: dict[tuple[int, int], list[tuple[float, float]]] = {}
    rows = []
    for lat, lon, units in stations:
        # Web-map pixels near this latitude: longitude is linear, latitude stretched by 1 / cos(lat).
        stretch = math.cos(math.radians(lat))
        x0, y0 = (lon + 180) / degrees_per_px, -lat / (degrees_per_px * stretch)
        first, last = _rings_for(len(units))
        slots = iter(_ring_slots(first, last + 2))
        for compressor_id in units:
            for dx, dy in slots:
                x, y = x0 + dx, y0 - dy
                key = (int(x // cell), int(y // cell))
                if all((x - px) ** 2 + (y - py) ** 2 >= (MARKER_SPACING - 1e-6) ** 2
                       for i in (-1, 0, 1) for j in (-1, 0, 1) for px, py in placed.get((key[0] + i, key[1] + j), ())):
                    break
            else:
                return None
            placed.setdefault(key, []).append((x, y))
            rows.append((compressor_id, lat + dy * degrees_per_px * stretch, lon + dx * degrees_per_px))
    return rows


def spread_positions(fleet: pd.DataFrame, zoom: int) -> tuple[pd.DataFrame, int]:
    """Where each unit's marker goes (compressor_id, latitude, longitude), and the zoom from which every
    marker is clear of the others.

    A station's point is the mean of its units' positions (which lie a few km apart: one dot at a fleet-wide
    zoom). A lone unit stays there; the units of a larger station go on rings around it, MARKER_SPACING px
    apart at the layout zoom, in id order. Stations are placed in id order, skipping slots too close to a
    marker already placed. The layout zoom is ``zoom`` (the fitted one) when the fleet fits there, else the
    first closer zoom where it does: 1,000 markers cannot all be clear of each other on a 700 x 480 px map,
    so their stations then show as small clusters that zooming in separates. Deterministic.
    """
    stations = [(float(units["latitude"].mean()), float(units["longitude"].mean()), list(units["compressor_id"]))
                for _, units in fleet.sort_values(["station_id", "compressor_id"]).groupby("station_id", sort=False)]
    for layout_zoom in range(zoom, MAX_LAYOUT_ZOOM + 1):
        rows = _place(stations, layout_zoom)
        if rows is not None:
            break
    else:  # stations closer than a marker even at the closest zoom: their rings share the place
        layout_zoom, rows = MAX_LAYOUT_ZOOM, [row for station in stations for row in _place([station], MAX_LAYOUT_ZOOM)]
    return pd.DataFrame(rows, columns=["compressor_id", "latitude", "longitude"]), layout_zoom


def marker_features(fleet: pd.DataFrame, positions: pd.DataFrame) -> dict:
    """The markers as one GeoJSON FeatureCollection of points at ``positions`` (spread_positions), one per
    unit, coloured by status (stroke and fill) and drawn healthy first, critical last (on top). Each path gets
    the CSS classes ``altaviz-unit altaviz-<status>``, so a browser finds the markers by class."""
    where = {unit: (lat, lon) for unit, lat, lon in positions.itertuples(index=False)}
    ordered = fleet.assign(_rank=fleet["status"].map(STATUS_RANK)).sort_values(["_rank", "compressor_id"])
    features = []
    for unit in ordered.itertuples(index=False):
        color = STATUS_COLORS[unit.status]
        lat, lon = where[unit.compressor_id]
        features.append({
            "type": "Feature",
            "id": unit.compressor_id,
            "geometry": {"type": "Point", "coordinates": [round(float(lon), 5), round(float(lat), 5)]},
            "properties": {"compressor_id": unit.compressor_id, "status": unit.status,
                           "style": {"color": color, "fillColor": color,
                                     "className": f"altaviz-unit altaviz-{unit.status}"}},
        })
    return {"type": "FeatureCollection", "features": features}


def legend(fleet: pd.DataFrame) -> dict[str, str]:
    """The map legend: "Critical (3)" -> its colour, worst first."""
    return {f"{status.title()} ({count})": STATUS_COLORS[status] for status, count in status_counts(fleet).items()}


@functools.cache
def us_outline() -> dict:
    """The bundled outline of the US states (GeoJSON, assets/README.md), read once per kernel."""
    return json.loads(OUTLINE_PATH.read_text())


class Outline(L.GeoJSON):
    """A GeoJSON layer drawn but never hit: ``interactive`` false (no ``leaflet-interactive`` class, so the
    browser sends its clicks through to the markers) and no events sent to the kernel."""

    interactive = Bool(False).tag(sync=True, o=True)
    class_name = Unicode("altaviz-outline").tag(sync=True, o=True)


# --- The popup ---

def mean_sensors(registry: SensorRegistry, compressor_id: str | None = None, model: str | None = None
                 ) -> tuple[tuple[str, Sensor], ...]:
    """(hourly-mean aggregate column, sensor) for every sensor that aggregates a mean, in registry order; for
    one unit (``compressor_id`` and its equipment ``model``) with that unit's limits (``limits:``)."""
    model = model if isinstance(model, str) else None
    return tuple((column, registry.limits_for(name, compressor_id, model))
                 for column, statistic, name in registry.aggregate_columns() if statistic == "mean")


def _reading(value, sensor: Sensor) -> str:
    if value is None or pd.isna(value):
        return NO_VALUE
    text = f"{value:,.1f} {html.escape(sensor.unit)}"
    severity = sensor.severity(float(value))
    return f'<b style="color:{STATUS_COLORS[severity]}">{text} ({severity})</b>' if severity else text


def popup_html(unit: Mapping, readings: pd.DataFrame, sensors: tuple[tuple[str, Sensor], ...]) -> str:
    """What a marker's popup says about one unit: model, station, status (a stale unit: silent since its
    newest reading), open alerts, failure risk and its newest hourly means, each marked when beyond a limit."""
    status = unit["status"]
    last = unit["last_reading_time"]
    state = f'<b style="color:{STATUS_COLORS[status]}">{html.escape(status)}</b>'
    if status == "stale" or unit["stale"]:  # a critical unit may be silent too: say so
        state += " · never reported" if pd.isna(last) else f" · silent since {pd.Timestamp(last):%Y-%m-%d %H:%M} UTC"
    if unit["in_downtime"]:
        state += " · in logged downtime"
    critical, warning = int(unit["critical_alert_count"]), int(unit["warning_alert_count"])
    alerts = ", ".join(f"{n} {severity}" for n, severity in ((critical, "critical"), (warning, "warning")) if n)
    life = pd.to_numeric(pd.Series([unit["rul_days"]]), errors="coerce")[0]
    risk = (f"{_percent(pd.Series([unit['failure_probability']]))[0]} within 48 h · "
            f"{_percent(pd.Series([unit['warning_probability']]))[0]} within 7 d · "
            f"remaining life {'unknown' if pd.isna(life) else f'{life:.1f} d'}")
    lines = [
        f"<b>{html.escape(unit['compressor_id'])}</b> · {html.escape(str(unit['model']))}",
        html.escape(str(unit["station_name"])),
        f"Status: {state}",
        f"Open alerts: {alerts or 'none'}",
        f"Failure risk: {risk}",
    ]
    if readings.empty:
        lines.append("<i>No hourly readings.</i>")
    else:
        row = readings.iloc[0]
        lines.append(f"Hourly means, window ending {pd.Timestamp(row['window_end']):%Y-%m-%d %H:%M} UTC:")
        lines.append('<table class="altaviz-table">' + "".join(
            f"<tr><td>{html.escape(sensor.label)}</td><td>{_reading(row[column], sensor)}</td></tr>"
            for column, sensor in sensors) + "</table>")
    return '<div class="altaviz-popup">' + "<br>".join(lines) + "</div>"


# --- The page ---

PAGE_CSS = (
    "<style>.altaviz-units select{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px}"
    ".altaviz-units-header{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px;white-space:pre;"
    "font-weight:600;padding-left:4px}.altaviz-popup{font-size:12px;line-height:1.45}</style>"
)


class FleetPage:
    """The map beside the station summary, the units worst first below. A marker's click opens a popup about
    the unit with a button to its trends; a row's click opens the unit on the monitoring page."""

    def __init__(self, settings: Settings, open_unit: Callable[[str], None]):
        self.settings, self.open_unit = settings, open_unit
        self.sensors = mean_sensors(settings.registry)
        self.view: View | None = None
        self.units_by_id: dict[str, dict] = {}
        self.layout_key: tuple | None = None  # the unit ids and positions the map was last fitted to
        self.positions = pd.DataFrame(columns=["compressor_id", "latitude", "longitude"])
        self.popup_unit: str | None = None

        self.markers = L.GeoJSON(data={"type": "FeatureCollection", "features": []}, name="compressors",
                                 point_style={"radius": MARKER_RADIUS, "weight": 2, "opacity": 1.0,
                                              "fillOpacity": 0.85},
                                 hover_style={"weight": 4})
        self.markers.on_click(self._on_marker_click)
        self.legend = L.LegendControl({}, title="Status", position="topright")
        self.popup_text = W.HTML()
        self.open_button = W.Button(description="Open in monitoring", layout=W.Layout(width="auto"),
                                    tooltip="this unit's sensor trends, alerts and predictions")
        self.open_button.on_click(lambda _: self.popup_unit and self.open_unit(self.popup_unit))
        self.popup = L.Popup(child=W.VBox([self.popup_text, self.open_button]), min_width=300, max_width=380)
        tiles = settings.dashboard.map_tiles
        background = (L.TileLayer(url=tiles, name="tiles", base=True) if tiles
                      else Outline(data=us_outline(), style=OUTLINE_STYLE, name="US states"))
        self.map = L.Map(layers=(background, self.markers), center=(31.0, -99.0), zoom=6, scroll_wheel_zoom=True,
                         layout=W.Layout(height="480px", width="100%"))
        self.map.add(self.legend)
        self.map_hint = W.HTML()

        self.units_header = W.HTML()
        self.units = W.Select(options=[], rows=15, layout=W.Layout(width="100%"))
        self.units.add_class("altaviz-units")
        self.units.observe(self._on_row_selected, names="value")
        self.stations = W.HTML()
        # The station summary beside the map (short rows; it scrolls past the map's height), the unit list
        # below at full width so that every column shows.
        self.widget = W.VBox([
            W.HTML(PAGE_CSS + "<i>Click a marker for the unit's latest readings; click a row to open the unit "
                              "on the monitoring page.</i>"),
            W.HBox([
                W.VBox([self.map, self.map_hint], layout=W.Layout(width="62%")),
                W.VBox([W.HTML("<b>Stations</b>"), self.stations],
                       layout=W.Layout(width="38%", max_height="520px", overflow="auto", padding="0 0 0 12px")),
            ]),
            W.HTML("<b>Units, worst first</b> (click a row to open the unit)"),
            self.units_header,
            self.units,
        ])

    def show(self, view: View) -> None:
        """Redraw from one refresh. The map is fitted to the fleet when its units (or their places) change,
        not on every refresh, so a refresh keeps the engineer's pan and zoom."""
        self.view = view
        fleet = view.fleet
        self.units_by_id = {unit["compressor_id"]: unit for unit in fleet.to_dict("records")}
        layout_key = tuple(zip(fleet["compressor_id"], fleet["station_id"], fleet["latitude"], fleet["longitude"]))
        if layout_key != self.layout_key:
            self.layout_key, fitted = layout_key, zoom_to_fit(fleet)
            self.positions, layout_zoom = spread_positions(fleet, fitted)
            if len(fleet):
                self.map.center = ((float(fleet["latitude"].min()) + float(fleet["latitude"].max())) / 2,
                                   (float(fleet["longitude"].min()) + float(fleet["longitude"].max())) / 2)
                self.map.zoom = fitted
            self.map_hint.value = (
                f"<i>Units of nearby stations overlap at this zoom: zoom in {layout_zoom - fitted} "
                f"level{'s' if layout_zoom - fitted > 1 else ''} to click each one, or pick it in the list.</i>"
                if layout_zoom > fitted else "")
        self.markers.data = marker_features(fleet, self.positions)
        self.legend.legend = legend(fleet)
        header, options = unit_rows(unit_table(fleet))
        self.units_header.value = f'<div class="altaviz-units-header">{html.escape(header)}</div>'
        self.units.options = options
        self.units.value = None
        summary = station_summary(fleet)
        self.stations.value = html_table(summary, empty="No compressors published yet: run `make run`.")
        if self.popup_unit in self.units_by_id:
            self._fill_popup(self.popup_unit)  # an open popup follows the refresh

    def _on_marker_click(self, feature=None, **_) -> None:
        """One popup for every marker: filled with the clicked unit, opened on its marker."""
        compressor_id = (feature or {}).get("properties", {}).get("compressor_id")
        if compressor_id not in self.units_by_id:
            return
        self._fill_popup(compressor_id)
        lon, lat = feature["geometry"]["coordinates"]
        if self.popup in self.map.layers:
            self.popup.open_popup([lat, lon])
        else:  # added on the first click: a popup opens where it is added
            self.popup.location = [lat, lon]
            self.map.add(self.popup)

    def _fill_popup(self, compressor_id: str) -> None:
        self.popup_unit = compressor_id
        self.open_button.description = f"Open {compressor_id} in monitoring"
        try:
            readings = queries.read_unit_latest_readings(self.settings, compressor_id, self.view.as_of,
                                                         [column for column, _ in self.sensors])
        except db.DatabaseUnavailable as err:
            self.popup_text.value = f'<span class="altaviz-error">Database unavailable: {html.escape(str(err))}</span>'
            return
        unit = self.units_by_id[compressor_id]
        sensors = mean_sensors(self.settings.registry, compressor_id, unit.get("model"))  # its own limits
        self.popup_text.value = popup_html(unit, readings, sensors)

    def _on_row_selected(self, change) -> None:
        """A row's click opens its unit; the selection is cleared so the same row can be clicked again."""
        if change["new"] is None:
            return
        compressor_id = change["new"]
        self.units.value = None
        self.open_unit(compressor_id)
