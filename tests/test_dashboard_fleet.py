"""The Fleet Overview page: ordering by status rank, counts, the unit and station tables, the map's markers
(one per unit, coloured, worst on top, every unit of a station clickable), the popup, a stale unit, the
bundled outline, the latest-readings query on a seeded PostgreSQL, and the page's clicks (no browser)."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from itertools import combinations

import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from altaviz.dashboard import queries
from altaviz.dashboard.pages import fleet
from altaviz.dashboard.pages.fleet import (
    MARKER_SPACING, OUTLINE_STYLE, FleetPage, legend, marker_features, mean_sensors, popup_html, spread_positions,
    station_summary, status_counts, unit_rows, unit_table, worst_first, zoom_to_fit,
)
from altaviz.dashboard.style import STATUS_COLORS
from altaviz.dashboard.view import View
from altaviz.io import db
from altaviz.registry import get_registry

AS_OF = pd.Timestamp("2026-02-10 00:00", tz="UTC")
HOUR = pd.Timedelta(hours=1)
# C1 and C2 share one point (S1), C3 and C4 another (S2), C5 is alone; C4 went silent six hours ago.
FLEET = pd.DataFrame({
    "compressor_id": ["C1", "C2", "C3", "C4", "C5"],
    "model": ["Ajax DPC-360", "Ariel JGK/4", "Ajax DPC-360", "Caterpillar G3516", "Ariel JGK/4"],
    "station_id": ["S1", "S1", "S2", "S2", "S3"],
    "station_name": ["Karnes", "Karnes", "Midland", "Midland", "Fort Worth"],
    "latitude": [28.9, 28.9, 32.0, 32.0, 32.7],
    "longitude": [-97.9, -97.9, -102.1, -102.1, -97.3],
    "last_reading_time": [AS_OF, AS_OF, AS_OF, AS_OF - 6 * HOUR, AS_OF],
    "active_alert_count": [1, 0, 3, 2, 0],
    "critical_alert_count": [0, 0, 2, 0, 0],
    "warning_alert_count": [1, 0, 1, 2, 0],
    "in_downtime": [False] * 5,
    "failure_probability": [0.42, 0.0, 0.97, None, 0.01],
    "warning_probability": [0.81, 0.004, 0.99, None, 0.02],
    "rul_days": [12.34, 90.0, 0.5, None, None],
    "stale": [False, False, False, True, False],
    "status": ["warning", "healthy", "critical", "stale", "healthy"],
})


# --- Ordering, counts, tables ---


def test_worst_first_orders_by_rank_then_risk_not_by_string():
    # Alphabetically 'warning' > 'stale' > 'healthy' > 'critical'; by rank critical, stale, warning, healthy,
    # and among the healthy the higher failure risk (C5: 1 %) before the lower (C2: 0 %).
    assert list(worst_first(FLEET)["compressor_id"]) == ["C3", "C4", "C1", "C5", "C2"]
    assert list(FLEET.sort_values("status", ascending=False)["compressor_id"]) != ["C3", "C4", "C1", "C5", "C2"]


def test_status_counts_always_has_every_status_worst_first():
    assert status_counts(FLEET) == {"critical": 1, "stale": 1, "warning": 1, "healthy": 2}
    assert status_counts(FLEET.iloc[[1]]) == {"critical": 0, "stale": 0, "warning": 0, "healthy": 1}


def test_unit_table_formats_risk_life_and_last_reading():
    expected = pd.DataFrame({
        "compressor": ["C3", "C4", "C1", "C5", "C2"],
        "status": ["critical", "stale", "warning", "healthy", "healthy"],
        "open alerts": [3, 2, 1, 0, 0],
        "risk 48 h": ["97 %", "–", "42 %", "1 %", "0 %"],
        "risk 7 d": ["99 %", "–", "81 %", "2 %", "0 %"],
        "life (d)": ["0.5", "–", "12.3", "–", "90.0"],
        "last reading": ["2026-02-10 00:00", "2026-02-09 18:00", "2026-02-10 00:00", "2026-02-10 00:00",
                         "2026-02-10 00:00"],
        "station": ["Midland", "Midland", "Karnes", "Fort Worth", "Karnes"],
    })
    assert_frame_equal(unit_table(FLEET), expected)


def test_unit_table_shows_a_dash_where_nothing_is_known():
    """A cold start has no prediction and a unit may never have reported: PostgreSQL returns None, which must
    read as a dash, not break the page."""
    unknown = FLEET.assign(rul_days=[None] * 5, failure_probability=[None] * 5, warning_probability=[None] * 5,
                           last_reading_time=[None] * 5).astype({"rul_days": object})
    table = unit_table(unknown)
    assert table[["risk 48 h", "risk 7 d", "life (d)", "last reading"]].to_numpy().tolist() == [["–"] * 4] * 5


def test_unit_rows_are_fixed_width_columns_keyed_by_unit():
    header, options = unit_rows(unit_table(FLEET.iloc[[2, 3]]))
    nbsp = "\u00a0"
    assert header.replace(nbsp, " ") == (
        "compressor  status    open alerts  risk 48 h  risk 7 d  life (d)  last reading      station")
    assert [(label.replace(nbsp, " "), value) for label, value in options] == [
        ("C3          critical            3       97 %      99 %       0.5  2026-02-10 00:00  Midland", "C3"),
        ("C4          stale               2          –         –         –  2026-02-09 18:00  Midland", "C4"),
    ]
    # Every row as wide as the header up to the station: the columns line up in a monospace font.
    assert {label.index("Midland") for label, _ in options} == {header.index("station")}


def test_station_summary_counts_units_by_status_worst_station_first():
    expected = pd.DataFrame({
        "station": ["Midland", "Karnes", "Fort Worth"],
        "units": [2, 2, 1],
        "healthy": [0, 1, 1],
        "warning": [0, 1, 0],
        "critical": [1, 0, 0],
        "stale": [1, 0, 0],
        "open alerts": [5, 1, 0],
    })
    assert_frame_equal(station_summary(FLEET), expected)


def test_zoom_fits_the_fleet():
    texas = pd.DataFrame({"latitude": [28.9, 32.7], "longitude": [-102.1, -94.4]})  # four basins
    one_station = pd.DataFrame({"latitude": [28.90, 28.93], "longitude": [-97.90, -97.86]})  # a few km
    assert (zoom_to_fit(texas), zoom_to_fit(one_station), zoom_to_fit(texas.iloc[:1])) == (6, 12, 9)


# --- The map ---


def _pixels(lat: float, lon: float, zoom: int) -> tuple[float, float]:
    """Web-Mercator pixel coordinates at ``zoom`` (256 px tiles)."""
    scale = 256 * 2**zoom
    y = math.log(math.tan(math.pi / 4 + math.radians(lat) / 2))
    return (lon + 180) / 360 * scale, (1 - y / math.pi) / 2 * scale


def _closest_pair_px(positions: pd.DataFrame, zoom: int) -> float:
    points = [_pixels(lat, lon, zoom) for lat, lon in zip(positions["latitude"], positions["longitude"])]
    return min(math.dist(a, b) for a, b in combinations(points, 2))


def test_markers_one_per_unit_coloured_by_status_worst_drawn_last():
    positions, _ = spread_positions(FLEET, 6)
    features = marker_features(FLEET, positions)
    assert features["type"] == "FeatureCollection"
    assert [(f["id"], f["properties"]["status"], f["properties"]["style"]) for f in features["features"]] == [
        (unit, status, {"color": STATUS_COLORS[status], "fillColor": STATUS_COLORS[status],
                        "className": f"altaviz-unit altaviz-{status}"})
        for unit, status in [("C2", "healthy"), ("C5", "healthy"), ("C1", "warning"), ("C4", "stale"),
                             ("C3", "critical")]
    ]
    assert {f["geometry"]["type"] for f in features["features"]} == {"Point"}
    where = {unit: [round(lon, 5), round(lat, 5)] for unit, lat, lon in positions.itertuples(index=False)}
    assert {f["id"]: f["geometry"]["coordinates"] for f in features["features"]} == where


def test_units_of_one_station_get_distinct_places_a_marker_apart():
    """Ten units at one point (the seeded fleet's stations) would be one dot: on the map each is at least
    MARKER_SPACING px from every other at the fitted zoom, near the station, the same on every call."""
    ten = pd.DataFrame({"compressor_id": [f"C{n:02d}" for n in range(10)], "station_id": "S1",
                        "latitude": 28.9, "longitude": -97.9})
    two_stations = pd.concat([ten, FLEET[["compressor_id", "station_id", "latitude", "longitude"]]])
    zoom = zoom_to_fit(two_stations)
    assert _closest_pair_px(two_stations, zoom) == 0  # as stored: stacked
    spread, layout_zoom = spread_positions(two_stations, zoom)
    assert (sorted(spread["compressor_id"]), layout_zoom) == (sorted(two_stations["compressor_id"]), zoom)
    assert _closest_pair_px(spread, zoom) >= MARKER_SPACING - 0.5  # within the Mercator approximation
    station = spread[spread["compressor_id"].str.len() == 3]
    assert _closest_pair_px(station, zoom) < 3 * MARKER_SPACING  # a small ring, not scattered
    assert_frame_equal(spread_positions(two_stations, zoom)[0], spread)
    lone = spread.set_index("compressor_id").loc["C5"]
    assert (lone["latitude"], lone["longitude"]) == (32.7, -97.3)  # a unit alone stays on its station


def test_a_fleet_too_dense_for_the_fitted_zoom_is_laid_out_for_a_closer_one():
    """Six stations of ten 0.05 degrees apart in a fleet across Texas: their rings cannot be clear of each
    other at the zoom that fits Texas, so the layout is for the first closer zoom where they are."""
    stations, per_station = 6, 10
    dense = pd.DataFrame({
        "compressor_id": [f"C{s}-{u}" for s in range(stations) for u in range(per_station)] + ["W", "E"],
        "station_id": [f"S{s}" for s in range(stations) for _ in range(per_station)] + ["SW", "SE"],
        "latitude": 31.0,
        "longitude": [-100.0 + 0.05 * s for s in range(stations) for _ in range(per_station)] + [-104.0, -94.0]})
    fitted = zoom_to_fit(dense)
    spread, layout_zoom = spread_positions(dense, fitted)
    assert fitted < layout_zoom <= fleet.MAX_LAYOUT_ZOOM
    assert _closest_pair_px(spread, layout_zoom) >= MARKER_SPACING - 0.5
    # Each unit stays near its station: within the two rings a station of ten fills plus two spare.
    station = dense.set_index("compressor_id")
    offsets_px = [math.dist(_pixels(lat, lon, layout_zoom),
                            _pixels(station.loc[unit, "latitude"], station.loc[unit, "longitude"], layout_zoom))
                  for unit, lat, lon in spread.itertuples(index=False)]
    assert max(offsets_px) <= 4 * MARKER_SPACING + 0.5


def test_legend_counts_each_status():
    assert legend(FLEET) == {"Critical (1)": STATUS_COLORS["critical"], "Stale (1)": STATUS_COLORS["stale"],
                             "Warning (1)": STATUS_COLORS["warning"], "Healthy (2)": STATUS_COLORS["healthy"]}


# --- The popup ---

READINGS = pd.DataFrame({"window_end": [AS_OF], "vibration_mean": [8.2], "discharge_temp_mean": [201.5],
                         "suction_pressure_mean": [63.3], "discharge_pressure_mean": [1014.8],
                         "horsepower_mean": [1430.1], "gas_flow_mean": [None]})


def _unit(compressor_id: str) -> dict:
    return FLEET.set_index("compressor_id", drop=False).loc[compressor_id].to_dict()


def test_popup_says_model_station_alerts_risk_and_readings_beyond_limits():
    critical = STATUS_COLORS["critical"]
    assert popup_html(_unit("C3"), READINGS, mean_sensors(get_registry())) == (
        '<div class="altaviz-popup"><b>C3</b> · Ajax DPC-360<br>Midland<br>'
        f'Status: <b style="color:{critical}">critical</b><br>Open alerts: 2 critical, 1 warning<br>'
        "Failure risk: 97 % within 48 h · 99 % within 7 d · remaining life 0.5 d<br>"
        "Hourly means, window ending 2026-02-10 00:00 UTC:<br>"
        '<table class="altaviz-table">'
        f'<tr><td>Vibration</td><td><b style="color:{critical}">8.2 mm/s (critical)</b></td></tr>'
        "<tr><td>Discharge temperature</td><td>201.5 °F</td></tr>"
        "<tr><td>Suction pressure</td><td>63.3 psi</td></tr>"
        "<tr><td>Discharge pressure</td><td>1,014.8 psi</td></tr>"
        "<tr><td>Horsepower</td><td>1,430.1 hp</td></tr>"
        "<tr><td>Gas flow</td><td>–</td></tr></table></div>"
    )


def test_popup_of_a_healthy_unit_marks_nothing():
    normal = READINGS.assign(vibration_mean=3.0)
    text = popup_html(_unit("C2"), normal, mean_sensors(get_registry()))
    assert "Open alerts: none" in text and "(warning)" not in text and "(critical)" not in text
    assert "3.0 mm/s" in text and "silent" not in text


# --- A stale unit ---


def test_a_stale_unit_shows_as_stale_with_its_last_reading_never_as_healthy():
    stale = STATUS_COLORS["stale"]
    marker = next(f for f in marker_features(FLEET, spread_positions(FLEET, 6)[0])["features"] if f["id"] == "C4")
    assert marker["properties"]["style"]["fillColor"] == stale != STATUS_COLORS["healthy"]
    assert unit_table(FLEET).set_index("compressor").loc["C4", ["status", "last reading"]].tolist() == [
        "stale", "2026-02-09 18:00"]
    text = popup_html(_unit("C4"), READINGS.iloc[:0], mean_sensors(get_registry()))
    assert f'Status: <b style="color:{stale}">stale</b> · silent since 2026-02-09 18:00 UTC<br>' in text
    assert "<i>No hourly readings.</i>" in text
    never = {**_unit("C4"), "last_reading_time": pd.NaT}
    assert "stale</b> · never reported<br>" in popup_html(never, READINGS.iloc[:0], mean_sensors(get_registry()))
    # A reporting unit does not say it is silent.
    assert "silent" not in popup_html(_unit("C1"), READINGS, mean_sensors(get_registry()))


# --- The bundled outline ---


def test_outline_is_small_valid_geojson_with_texas():
    assert fleet.OUTLINE_PATH.stat().st_size < 400_000
    outline = json.loads(fleet.OUTLINE_PATH.read_text())
    assert outline["type"] == "FeatureCollection"
    for feature in outline["features"]:
        assert feature["type"] == "Feature" and feature["geometry"]["type"] == "MultiPolygon"
        for polygon in feature["geometry"]["coordinates"]:
            for ring in polygon:
                assert len(ring) >= 4 and ring[0] == ring[-1]
                assert all(-180 <= lon <= 180 and -90 <= lat <= 90 for lon, lat in ring)
    names = [feature["properties"]["name"] for feature in outline["features"]]
    assert len(names) == len(set(names)) >= 50
    texas = next(f for f in outline["features"] if f["properties"]["name"] == "Texas")
    points = [p for polygon in texas["geometry"]["coordinates"] for ring in polygon for p in ring]
    bbox = (min(p[0] for p in points), min(p[1] for p in points), max(p[0] for p in points), max(p[1] for p in points))
    assert bbox == pytest.approx((-106.6, 25.8, -93.5, 36.5), abs=0.1)


def test_outline_is_not_clickable_and_has_no_status_colour():
    layer = fleet.Outline(data={"type": "FeatureCollection", "features": []}, style=OUTLINE_STYLE)
    # Leaflet takes these as the polygons' options: no 'leaflet-interactive' class, so clicks pass through.
    assert (layer.interactive, "interactive" in layer.options, layer.class_name) == (False, True, "altaviz-outline")
    used = {OUTLINE_STYLE["color"].lower(), OUTLINE_STYLE["fillColor"].lower()}
    assert used.isdisjoint(color.lower() for color in STATUS_COLORS.values())


# --- The latest readings on a seeded PostgreSQL ---


def _seed(settings) -> None:
    """C1 with hourly windows up to AS_OF (and a 4-hourly one), C2 with one older window, C3 with none."""
    with db.transaction(settings) as conn:
        conn.execute("INSERT INTO station_locations (station_id, station_name, latitude, longitude) "
                     "VALUES ('S1', 'Karnes', 28.9, -97.9)")
        for unit in ("C1", "C2", "C3"):
            conn.execute("INSERT INTO compressor_metadata (compressor_id, model, horsepower, station_id, latitude,"
                         " longitude) VALUES (%s, 'Ajax DPC-360', 1400, 'S1', 28.9, -97.9)", (unit,))
        windows = [("C1", "1hr", k) for k in (-3, -2, -1, 0)] + [("C1", "4hr", -1), ("C2", "1hr", -5)]
        for unit, window_type, k in windows:
            conn.execute("INSERT INTO sensor_readings_agg (compressor_id, agg_timestamp, window_type, vibration_mean,"
                         " gas_flow_mean, reading_count, missing_readings) VALUES (%s, %s, %s, %s, %s, 6, 0)",
                         (unit, AS_OF + k * HOUR, window_type, float(k), 100.0 + k if window_type == "1hr" else -1.0))


@pytest.fixture
def seeded(serving_settings):
    _seed(serving_settings)
    return serving_settings


def _readings(window_end, vibration, gas_flow) -> pd.DataFrame:
    return pd.DataFrame({"window_end": [window_end], "vibration_mean": [vibration], "gas_flow_mean": [gas_flow]})


def test_latest_readings_are_the_newest_hourly_window_started_before_as_of(seeded):
    columns = ["vibration_mean", "gas_flow_mean"]
    # At AS_OF the window starting at AS_OF is after it; the 4-hourly window is not an hourly mean.
    assert_frame_equal(queries.read_unit_latest_readings(seeded, "C1", AS_OF, columns), _readings(AS_OF, -1.0, 99.0))
    earlier = AS_OF - 90 * pd.Timedelta(minutes=1)  # 22:30: the 22:00 window, as FLEET_SQL's last reading
    assert_frame_equal(queries.read_unit_latest_readings(seeded, "C1", earlier, columns),
                       _readings(AS_OF - HOUR, -2.0, 98.0))
    assert_frame_equal(queries.read_unit_latest_readings(seeded, "C2", AS_OF, columns),
                       _readings(AS_OF - 4 * HOUR, -5.0, 95.0))
    assert queries.read_unit_latest_readings(seeded, "C3", AS_OF, columns).empty
    # The unit's newest window is the fleet's last reading time: the popup and the table agree.
    fleet_rows = queries.read_fleet(seeded, AS_OF.to_pydatetime()).set_index("compressor_id")
    assert fleet_rows.loc["C1", "last_reading_time"] == AS_OF


def test_latest_readings_quote_registry_columns_as_identifiers():
    select = queries.unit_latest_readings_sql(["vibration_mean", "gas_flow_mean"]).as_string()
    assert 'agg_timestamp + interval \'1 hour\' AS window_end, "vibration_mean", "gas_flow_mean"' in select


# --- The page, driven as the browser would (no browser) ---


def test_page_clicks_open_the_popup_and_the_unit(seeded):
    opened = []
    page = FleetPage(seeded, open_unit=opened.append)
    fleet_rows = queries.read_fleet(seeded, AS_OF.to_pydatetime())
    page.show(View(as_of=AS_OF.to_pydatetime(), fleet=fleet_rows))
    features = page.markers.data["features"]
    assert [f["id"] for f in features] == ["C1", "C2", "C3"]
    assert page.legend.legend == {"Critical (0)": STATUS_COLORS["critical"], "Stale (2)": STATUS_COLORS["stale"],
                                  "Warning (0)": STATUS_COLORS["warning"], "Healthy (1)": STATUS_COLORS["healthy"]}
    assert [value for _, value in page.units.options] == ["C2", "C3", "C1"]  # the silent ones first
    assert page.popup not in page.map.layers  # no popup before a click

    page.markers._handle_mouse_events(None, {"event": "click", "feature": features[0],
                                             "properties": features[0]["properties"]}, None)
    lon, lat = features[0]["geometry"]["coordinates"]
    assert (page.popup in page.map.layers, page.popup.location) == (True, [lat, lon])
    assert "<b>C1</b>" in page.popup_text.value
    assert "Hourly means, window ending 2026-02-10 00:00 UTC" in page.popup_text.value
    page.open_button.click()
    page.units.value = "C3"  # a row's click
    assert opened == ["C1", "C3"]
    assert page.units.value is None  # the same row can be clicked again


def test_the_map_is_offline_unless_tiles_are_configured(settings):
    offline = FleetPage(settings, open_unit=print)
    assert [type(layer).__name__ for layer in offline.map.layers] == ["Outline", "GeoJSON"]
    tiles = "http://tiles.example.internal/{z}/{x}/{y}.png"
    online = FleetPage(replace(settings, dashboard=replace(settings.dashboard, map_tiles=tiles)), open_unit=print)
    assert [(type(layer).__name__, getattr(layer, "url", None)) for layer in online.map.layers] == [
        ("TileLayer", tiles), ("GeoJSON", None)]


def test_an_empty_fleet_draws_an_empty_page(settings):
    page = FleetPage(settings, open_unit=print)
    page.show(View(as_of=AS_OF.to_pydatetime(), fleet=FLEET.iloc[:0]))
    assert (page.markers.data["features"], page.units.options, set(page.legend.legend)) == (
        [], (), {"Critical (0)", "Stale (0)", "Warning (0)", "Healthy (0)"})
    assert "No compressors published yet" in page.stations.value
