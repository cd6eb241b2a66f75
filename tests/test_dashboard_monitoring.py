"""The Real-Time Monitoring page: panels and gauges that follow the sensor registry, bands on the bad side
each sensor's direction names, alert and maintenance markers and the risk series at the right times (pure
figure builders on literal frames), and the unit's queries on a seeded PostgreSQL (range, as-of and unit)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from altaviz.dashboard import queries
from altaviz.dashboard.pages.monitoring import (
    BAND_COLORS, MARKER_LIMIT, SEVERITY_COLORS, MonitoringPage, Panel, UnitData, bands, gauge_figure, gauge_sensors,
    monitoring_panels, no_data_message, tint, trend_figure, unit_options, value_range, window_columns, with_gaps,
)
from altaviz.dashboard.view import View
from altaviz.io import db
from altaviz.registry import Sensor, get_registry

AS_OF = datetime(2026, 2, 10, 0, 0, tzinfo=timezone.utc)
HOUR = timedelta(hours=1)
GREEN, ORANGE, RED = "#2e7d32", "#ef6c00", "#c62828"

# Literal sensors, so the expected bands do not move with config/sensors.yaml.
VIBRATION = Sensor(name="vibration_mms", label="Vibration", unit="mm/s", short="vibration", direction="high",
                   normal=(1.5, 4.5), warning=6.0, critical=8.0, physical=(0.0, 100.0), aggregates=("mean", "max"))
SUCTION = Sensor(name="suction_pressure_psi", label="Suction pressure", unit="psi", short="suction_pressure",
                 direction="low", normal=(40.0, 80.0), warning=30.0, critical=20.0, physical=(0.0, 1500.0),
                 aggregates=("mean", "min"))
HORSEPOWER = Sensor(name="horsepower_consumption", label="Horsepower", unit="hp", short="horsepower",
                    direction="high", normal=(1200.0, 1600.0), warning=1800.0, critical=None, aggregates=("mean",))
GAS_FLOW = Sensor(name="gas_flow_mcf", label="Gas flow", unit="Mcf/day", short="gas_flow", direction="low",
                  normal=(8000.0, 12000.0), warning=6000.0, critical=None, aggregates=("mean",))
RISK = Sensor(name="failure_probability", label="Failure risk", unit="probability", short="failure_probability",
              direction="high", warning=0.2, critical=0.6)
PANELS = (Panel("vibration_mms", "vibration_mean", VIBRATION, "vibration_max"),
          Panel("suction_pressure_psi", "suction_pressure_mean", SUCTION, "suction_pressure_min"))

ALERT_COLUMNS = ["alert_timestamp", "severity", "alert_type", "sensor_name", "message"]
MAINTENANCE_COLUMNS = ["event_date", "event_type", "description", "downtime_hours"]
PREDICTION_COLUMNS = ["prediction_timestamp", "failure_probability", "warning_probability"]


def _frame(columns, rows) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=columns)
    time_column = columns[0]
    return frame.assign(**{time_column: pd.to_datetime(frame[time_column], utc=True)})


def _windows(starts, vibration, vibration_max, suction, suction_min) -> pd.DataFrame:
    return _frame(["agg_timestamp", "vibration_mean", "vibration_max", "suction_pressure_mean", "suction_pressure_min"],
                  list(zip(starts, vibration, vibration_max, suction, suction_min)))


def _data(windows=None, alerts=(), maintenance=(), predictions=()) -> UnitData:
    windows = windows if windows is not None else _windows([], [], [], [], [])
    return UnitData(windows=windows, alerts=_frame(ALERT_COLUMNS, list(alerts)),
                    maintenance=_frame(MAINTENANCE_COLUMNS, list(maintenance)),
                    predictions=_frame(PREDICTION_COLUMNS, list(predictions)))


def _figure(data: UnitData, window: timedelta = HOUR):
    return trend_figure(data, PANELS, RISK, start=AS_OF - 24 * HOUR, as_of=AS_OF, window=window)


def _when(values) -> list[pd.Timestamp]:
    """Plotly keeps datetimes as naive UTC numpy values: back to aware timestamps to compare."""
    return list(pd.to_datetime(list(values), utc=True))


def _rounded(values):
    return [None if v is None or pd.isna(v) else round(float(v), 6) for v in values]


# --- Bands, ranges, panels -----------------------------------------------------------------------


def test_bands_lie_on_the_side_the_direction_names_bad():
    assert bands(VIBRATION, 0.0, 10.0) == [("normal", 1.5, 4.5), ("warning", 6.0, 8.0), ("critical", 8.0, 10.0)]
    assert bands(SUCTION, 0.0, 100.0) == [("normal", 40.0, 80.0), ("warning", 20.0, 30.0), ("critical", 0.0, 20.0)]
    # No critical level: the warning zone runs to the edge of the span.
    assert bands(HORSEPOWER, 1000.0, 2000.0) == [("normal", 1200.0, 1600.0), ("warning", 1800.0, 2000.0)]
    assert bands(GAS_FLOW, 5000.0, 13000.0) == [("normal", 8000.0, 12000.0), ("warning", 5000.0, 6000.0)]
    # Clipped to the span; zones outside it are left out.
    assert bands(VIBRATION, 5.0, 7.0) == [("warning", 6.0, 7.0)]
    assert bands(SUCTION, 50.0, 90.0) == [("normal", 50.0, 80.0)]


def test_value_range_shows_values_band_and_limits_within_the_physical_range():
    assert value_range(VIBRATION) == pytest.approx((0.98, 8.52))  # 1.5..8 padded by 8 % of 6.5
    assert value_range(VIBRATION, [12.0, None, float("nan")]) == pytest.approx((0.66, 12.84))
    assert value_range(SUCTION) == pytest.approx((15.2, 84.8))
    assert value_range(SUCTION, [1.0]) == pytest.approx((0.0, 86.32))  # never below what the sensor can report
    assert value_range(HORSEPOWER, [-50.0]) == pytest.approx((-50.0 - 148.0, 1800.0 + 148.0))  # no physical range


LUBE_OIL = Sensor(name="lube_oil_pressure_psi", label="Lube oil pressure", unit="psi", short="lube_oil_pressure",
                  direction="low", warning=35.0, critical=25.0, aggregates=("mean", "min"))
OIL_TEMP = Sensor(name="oil_temp_f", label="Oil temperature", unit="°F", short="oil_temp", direction="high",
                  warning=190.0, critical=None, aggregates=("max",))  # no mean: no panel


def test_panels_and_gauges_follow_the_registry():
    registry = get_registry()
    added = {"lube_oil_pressure_psi": LUBE_OIL, "oil_temp_f": OIL_TEMP}
    extended = replace(registry, sensors={**registry.sensors, **added})
    panels = monitoring_panels(extended)
    assert [(p.key, p.column, p.worst, p.title) for p in panels] == [
        ("vibration_mms", "vibration_mean", "vibration_max", "Vibration (mm/s)"),
        ("discharge_temp_f", "discharge_temp_mean", "discharge_temp_max", "Discharge temperature (°F)"),
        ("suction_pressure_psi", "suction_pressure_mean", "suction_pressure_min", "Suction pressure (psi)"),
        ("discharge_pressure_psi", "discharge_pressure_mean", "discharge_pressure_max", "Discharge pressure (psi)"),
        ("horsepower_consumption", "horsepower_mean", None, "Horsepower (hp)"),
        ("gas_flow_mcf", "gas_flow_mean", None, "Gas flow (Mcf/day)"),
        ("lube_oil_pressure_psi", "lube_oil_pressure_mean", "lube_oil_pressure_min", "Lube oil pressure (psi)"),
        ("pressure_differential", "pressure_delta_mean", None, "Pressure differential (psi)"),
        ("temp_rate_of_change", "discharge_temp_rate_of_change", None, "Discharge temperature rate of change (°F/h)"),
    ]
    assert [p.key for p in gauge_sensors(extended)] == [*registry.sensors, "lube_oil_pressure_psi"]
    # Column names reach SQL only as quoted identifiers taken from the registry.
    select = queries.unit_windows_sql(window_columns(panels)).as_string().strip().splitlines()[0]
    assert select == "SELECT " + ", ".join(f'"{c}"' for c in ["agg_timestamp", *window_columns(panels)])
    assert window_columns(PANELS) == ["vibration_mean", "vibration_max",
                                      "suction_pressure_mean", "suction_pressure_min"]


# --- Trend figure ---------------------------------------------------------------------------------


def _shapes(figure):
    """Per shape: (kind, yref, y0, y1, colour) with a rect's fill or a line's colour and dash."""
    return [(s.type, s.yref, round(s.y0, 6), round(s.y1, 6),
             s.fillcolor if s.type == "rect" else (s.line.color, s.line.dash)) for s in figure.layout.shapes]


def test_trend_panels_shade_the_bands_and_draw_the_levels():
    windows = _windows([AS_OF - 3 * HOUR, AS_OF - 2 * HOUR, AS_OF - HOUR], [3.0, 5.0, 7.0], [4.0, 6.0, 9.0],
                       [60.0, 50.0, 25.0], [55.0, 45.0, 18.0])
    figure = _figure(_data(windows))
    normal, warning, critical = (tint(BAND_COLORS[level]) for level in ("normal", "warning", "critical"))
    assert _shapes(figure) == [
        # Vibration ('high'): 1.5..9 padded by 0.6; the bad zones above.
        ("rect", "y", 1.5, 4.5, normal), ("rect", "y", 6.0, 8.0, warning), ("rect", "y", 8.0, 9.6, critical),
        ("line", "y", 6.0, 6.0, (ORANGE, "dash")), ("line", "y", 8.0, 8.0, (RED, "dot")),
        # Suction pressure ('low'): 18..80 padded by 4.96; the bad zones below.
        ("rect", "y2", 40.0, 80.0, normal), ("rect", "y2", 20.0, 30.0, warning), ("rect", "y2", 13.04, 20.0, critical),
        ("line", "y2", 30.0, 30.0, (ORANGE, "dash")), ("line", "y2", 20.0, 20.0, (RED, "dot")),
        # Failure risk: the prediction alerts' levels over 0..1.
        ("rect", "y3", 0.2, 0.6, warning), ("rect", "y3", 0.6, 1.0, critical),
        ("line", "y3", 0.2, 0.2, (ORANGE, "dash")), ("line", "y3", 0.6, 0.6, (RED, "dot")),
    ]
    assert [_rounded(figure.layout[axis].range) for axis in ("yaxis", "yaxis2", "yaxis3")] == [
        [0.9, 9.6], [13.04, 84.96], [0.0, 1.0]]
    assert [a.text for a in figure.layout.annotations] == ["Vibration (mm/s)", "Suction pressure (psi)",
                                                          "Failure risk (probability)"]
    assert list(figure.layout.xaxis.range) == [AS_OF - 24 * HOUR, AS_OF]


def test_trend_series_sit_at_the_window_end_and_break_across_a_silence():
    # 4 h windows starting 00:00, 04:00 and 12:00: the 08:00 window is missing (the unit was down).
    day = AS_OF - 24 * HOUR
    windows = _windows([day, day + 4 * HOUR, day + 12 * HOUR], [3.0, 3.5, 4.0], [3.2, 3.9, 4.4],
                       [60.0, 61.0, 62.0], [59.0, 60.0, 61.0])
    figure = _figure(_data(windows), window=4 * HOUR)
    series = {t.name: (_when(t.x), _rounded(t.y), t.yaxis) for t in figure.data}
    ends = [day + 4 * HOUR, day + 8 * HOUR, day + 12 * HOUR, day + 16 * HOUR]
    assert series == {
        "vibration_mean": (ends, [3.0, 3.5, None, 4.0], "y"),
        "vibration_max": (ends, [3.2, 3.9, None, 4.4], "y"),
        "suction_pressure_mean": (ends, [60.0, 61.0, None, 62.0], "y2"),
        "suction_pressure_min": (ends, [59.0, 60.0, None, 61.0], "y2"),
        "failure within 48 h": ([], [], "y3"),
        "failure within 7 d": ([], [], "y3"),
    }


def test_windows_get_dots_only_while_there_are_few():
    def modes(count):
        starts = [AS_OF - (count - i) * HOUR for i in range(count)]
        figure = _figure(_data(_windows(starts, *([[3.0] * count] * 4))))
        return {t.mode for t in figure.data if t.name in ("vibration_mean", "suction_pressure_mean")}

    assert (modes(MARKER_LIMIT), modes(MARKER_LIMIT + 1)) == ({"lines+markers"}, {"lines"})


def test_with_gaps_adds_one_empty_row_per_silence():
    times = pd.to_datetime([AS_OF - 5 * HOUR, AS_OF - 4 * HOUR, AS_OF - HOUR], utc=True)
    frame = pd.DataFrame({"t": times, "v": [1.0, 2.0, 3.0]})
    expected = pd.DataFrame({"t": pd.to_datetime([AS_OF - 5 * HOUR, AS_OF - 4 * HOUR, AS_OF - 3 * HOUR,
                                                  AS_OF - HOUR], utc=True), "v": [1.0, 2.0, None, 3.0]})
    assert_frame_equal(with_gaps(frame, "t", HOUR), expected)
    assert_frame_equal(with_gaps(frame, "t", 3 * HOUR), frame)  # no step longer than 3 h: unchanged


def _markers(figure, name):
    return [(t.yaxis, _when(t.x), _rounded(t.y), list(t.marker.color), list(t.hovertext))
            for t in figure.data if t.name == name]


def test_alerts_are_marked_on_their_signal_panel_by_severity_with_the_message():
    alerts = [
        (AS_OF - 5 * HOUR, "critical", "threshold", "vibration_mms", "Vibration reached 9.1 mm/s <b>"),
        (AS_OF - 4 * HOUR, "warning", "prediction", "failure_probability", "bearing wear likely"),
        (AS_OF - 2 * HOUR, "warning", "threshold", "lube_oil_pressure_psi", "Lube oil pressure low"),  # no panel
        (AS_OF - 1 * HOUR, "warning", "threshold", "suction_pressure_psi", "Suction pressure fell to 29 psi"),
    ]
    figure = _figure(_data(alerts=alerts))
    # Near each panel's top edge (4 % of the span below it); empty panels span the limits and the band.
    assert _markers(figure, "alerts") == [
        ("y", [AS_OF - 5 * HOUR], [8.2184], [RED], ["critical threshold: Vibration reached 9.1 mm/s &lt;b&gt;"]),
        ("y2", [AS_OF - HOUR], [82.016], [ORANGE], ["warning threshold: Suction pressure fell to 29 psi"]),
        ("y3", [AS_OF - 4 * HOUR, AS_OF - 2 * HOUR], [0.96, 0.96], [ORANGE, ORANGE],
         ["warning prediction: bearing wear likely", "warning threshold: Lube oil pressure low"]),
    ]
    assert SEVERITY_COLORS == {"warning": ORANGE, "critical": RED}
    assert _markers(_figure(_data()), "alerts") == []


def test_maintenance_events_are_vertical_lines_on_every_panel_with_type_and_text():
    events = [(AS_OF - 20 * HOUR, "failure", "Main bearing failure", 36.0),
              (AS_OF - 3 * HOUR, "inspection", None, None)]
    figure = _figure(_data(maintenance=events))
    lines = [(s.xref, s.yref, s.x0, s.line.color) for s in figure.layout.shapes if s.yref.endswith("domain")]
    assert lines == [(x, f"{y} domain", when, color) for x, y in (("x", "y"), ("x2", "y2"), ("x3", "y3"))
                     for when, color in ((AS_OF - 20 * HOUR, RED), (AS_OF - 3 * HOUR, "#546e7a"))]
    texts = ["failure: Main bearing failure (36 h down)", "inspection: "]
    times = [AS_OF - 20 * HOUR, AS_OF - 3 * HOUR]
    assert [(axis, x, colors, hover) for axis, x, _, colors, hover in _markers(figure, "maintenance")] == [
        (axis, times, [RED, "#546e7a"], texts) for axis in ("y", "y2", "y3")]
    assert _markers(_figure(_data()), "maintenance") == []


def test_risk_panel_draws_both_probabilities_and_breaks_where_scoring_stopped():
    hours = [AS_OF - 10 * HOUR, AS_OF - 9 * HOUR, AS_OF - 8 * HOUR, AS_OF - 2 * HOUR, AS_OF - HOUR]
    predictions = list(zip(hours, [0.05, 0.1, 0.3, 0.65, 0.7], [0.1, 0.25, None, 0.8, 0.9]))
    figure = _figure(_data(predictions=predictions))
    gap = AS_OF - 6 * HOUR  # two scoring steps after the last score before the silence
    risk = [(t.name, _when(t.x), _rounded(t.y)) for t in figure.data if t.yaxis == "y3"]
    assert risk == [
        ("failure within 48 h", [*hours[:3], gap, *hours[3:]], [0.05, 0.1, 0.3, None, 0.65, 0.7]),
        ("failure within 7 d", [*hours[:3], gap, *hours[3:]], [0.1, 0.25, None, None, 0.8, 0.9]),
    ]


# --- Gauges ---------------------------------------------------------------------------------------


def test_gauges_show_the_latest_value_on_its_bands_coloured_by_severity():
    figure = gauge_figure({"vibration_mean": 7.0, "suction_pressure_mean": None}, PANELS,
                          hour_end=AS_OF)
    steps = [[(_rounded(s.range), s.color) for s in t.gauge.steps] for t in figure.data]
    light = {level: tint(color, 0.35) for level, color in BAND_COLORS.items()}
    assert [(t.title.text, t.mode, t.value, _rounded(t.gauge.axis.range), t.gauge.bar.color) for t in figure.data] == [
        ("Vibration (mm/s)", "gauge+number", 7.0, [0.98, 8.52], ORANGE),  # at or above warning 6.0
        ("Suction pressure (psi)", "gauge", None, [15.2, 84.8], GREEN),  # no reading: an empty dial
    ]
    assert steps == [
        [([1.5, 4.5], light["normal"]), ([6.0, 8.0], light["warning"]), ([8.0, 8.52], light["critical"])],
        [([40.0, 80.0], light["normal"]), ([20.0, 30.0], light["warning"]), ([15.2, 20.0], light["critical"])],
    ]
    assert figure.layout.title.text == "Latest hourly means (hour ending 2026-02-10 00:00 UTC)"
    critical = gauge_figure({"vibration_mean": 8.0, "suction_pressure_mean": 19.5}, PANELS, hour_end=None)
    assert [(t.value, t.gauge.bar.color) for t in critical.data] == [(8.0, RED), (19.5, RED)]
    assert critical.layout.title.text == "Latest hourly means (no hourly reading yet)"


# --- Words and order ------------------------------------------------------------------------------


def test_units_are_offered_worst_status_first_then_by_risk():
    fleet = pd.DataFrame({"compressor_id": ["C1", "C2", "C3", "C4", "C5"],
                          "status": ["healthy", "critical", "warning", "stale", "warning"],
                          "failure_probability": [0.9, 0.1, None, 0.2, 0.3]})
    assert unit_options(fleet) == [("C2 · critical", "C2"), ("C4 · stale", "C4"), ("C5 · warning", "C5"),
                                   ("C3 · warning", "C3"), ("C1 · healthy", "C1")]


def test_no_data_message_says_what_is_missing_in_plain_words():
    assert no_data_message("C7", "6 h", AS_OF, pd.Timestamp("2026-02-08 13:00", tz="UTC")) == (
        "<p><i>No data for C7 in the 6 h before 2026-02-10 00:00 UTC. Its newest reading is from "
        "2026-02-08 13:00 UTC. Choose a longer range or another compressor.</i></p>")
    assert no_data_message("C<8>", "24 h", AS_OF, None) == (
        "<p><i>No data for C&lt;8&gt; in the 24 h before 2026-02-10 00:00 UTC. It has sent no reading at all. "
        "Choose a longer range or another compressor.</i></p>")


# --- Queries on a seeded PostgreSQL ---------------------------------------------------------------


def _seed(settings) -> None:
    """C1 with rows inside, before and after the last 24 h before AS_OF; C2 with rows inside it; C3 with none."""
    with db.transaction(settings) as conn:
        conn.execute("INSERT INTO station_locations (station_id, station_name, latitude, longitude) "
                     "VALUES ('S1', 'Alpha', 29.0, -98.0)")
        for unit in ("C1", "C2", "C3"):
            conn.execute("INSERT INTO compressor_metadata (compressor_id, model, horsepower, station_id) "
                         "VALUES (%s, 'Ajax DPC-360', 1400, 'S1')", (unit,))
        # Hourly windows of C1 start at AS_OF + k h; a window counts when it ended in (AS_OF - 24 h, AS_OF].
        windows = [("C1", "1hr", k) for k in (-26, -25, -24, -23, -2, -1, 0)]
        windows += [("C1", "4hr", k) for k in (-28, -24, -8, -4, 0)] + [("C1", "24hr", k) for k in (-48, -24)]
        windows += [("C2", "1hr", -2)]
        for unit, window_type, k in windows:
            conn.execute("INSERT INTO sensor_readings_agg (compressor_id, agg_timestamp, window_type, vibration_mean,"
                         " vibration_max, reading_count, missing_readings) VALUES (%s, %s, %s, %s, %s, 6, 0)",
                         (unit, AS_OF + k * HOUR, window_type, float(k), float(k) + 0.5))
        alerts = [  # (unit, opened, severity, escalated_at, type, sensor)
            ("C1", AS_OF - 3 * HOUR, "critical", AS_OF + HOUR, "threshold", "vibration_mms"),  # a warning at AS_OF
            ("C1", AS_OF - 10 * HOUR, "warning", None, "prediction", "failure_probability"),
            ("C1", AS_OF - 12 * HOUR, "critical", AS_OF - 11 * HOUR, "threshold", "discharge_temp_f"),
            ("C1", AS_OF - 30 * HOUR, "warning", None, "threshold", "suction_pressure_psi"),  # before the range
            ("C1", AS_OF + HOUR, "warning", None, "threshold", "gas_flow_mcf"),  # after as-of
            ("C2", AS_OF - 2 * HOUR, "warning", None, "threshold", "vibration_mms"),  # another unit
        ]
        for unit, opened, severity, escalated, alert_type, sensor in alerts:
            conn.execute("INSERT INTO alert_history (compressor_id, alert_timestamp, last_seen_at, alert_type, "
                         "severity, sensor_name, message, escalated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                         (unit, opened, opened, alert_type, severity, sensor, f"{sensor} on {unit}", escalated))
        events = [("C1", AS_OF - 5 * HOUR, "failure", "Bearing failure", 36.0),
                  ("C1", AS_OF - 5 * HOUR, "inspection", None, None),
                  ("C1", AS_OF - 30 * HOUR, "scheduled", "Before the range", 4.0),
                  ("C1", AS_OF + 2 * HOUR, "scheduled", "After as-of", 4.0),
                  ("C2", AS_OF - 5 * HOUR, "failure", "Another unit", 12.0)]
        for event in events:
            conn.execute("INSERT INTO maintenance_events (compressor_id, event_date, event_type, description, "
                         "downtime_hours) VALUES (%s, %s, %s, %s, %s)", event)
        scores = [  # (unit, time, model, failure, warning, written): the newest written per time counts
            ("C1", AS_OF - 3 * HOUR, "m-oof", 0.1, 0.2, AS_OF),
            ("C1", AS_OF - 3 * HOUR, "m", 0.4, None, AS_OF + HOUR),
            ("C1", AS_OF - 2 * HOUR, "m", 0.5, 0.6, AS_OF),
            ("C1", AS_OF - 30 * HOUR, "m", 0.9, 0.9, AS_OF),
            ("C1", AS_OF + HOUR, "m", 0.9, 0.9, AS_OF),
            ("C2", AS_OF - 2 * HOUR, "m", 0.9, 0.9, AS_OF),
        ]
        for score in scores:
            conn.execute("INSERT INTO ml_predictions (compressor_id, prediction_timestamp, model_version, "
                         "failure_probability, warning_probability, updated_at) VALUES (%s, %s, %s, %s, %s, %s)",
                         score)


@pytest.fixture
def seeded(serving_settings):
    _seed(serving_settings)
    return serving_settings


def _times(*hours) -> pd.Series:
    return pd.to_datetime([AS_OF + h * HOUR for h in hours], utc=True)


def test_unit_windows_are_whole_windows_that_ended_in_the_range(seeded):
    def read(window_type, start):
        return queries.read_unit_windows(seeded, "C1", start=start, as_of=AS_OF, window_type=window_type,
                                         columns=["vibration_mean", "vibration_max"])

    def expected(*ks):
        return pd.DataFrame({"agg_timestamp": _times(*ks), "vibration_mean": [float(k) for k in ks],
                             "vibration_max": [float(k) + 0.5 for k in ks]})

    # -25 (and the day from -48) ended exactly at the range's start and 0 ends after as-of: all out; C2's row
    # is another unit.
    assert_frame_equal(read("1hr", AS_OF - 24 * HOUR), expected(-24, -23, -2, -1))
    assert_frame_equal(read("4hr", AS_OF - 24 * HOUR), expected(-24, -8, -4))
    assert_frame_equal(read("24hr", AS_OF - 24 * HOUR), expected(-24))
    assert_frame_equal(read("1hr", AS_OF - 6 * HOUR), expected(-2, -1))


def test_every_panel_column_exists_in_the_serving_table(seeded):
    columns = window_columns(monitoring_panels(seeded.registry))
    windows = queries.read_unit_windows(seeded, "C2", start=AS_OF - 24 * HOUR, as_of=AS_OF, window_type="1hr",
                                        columns=columns)
    assert list(windows.columns) == ["agg_timestamp", *columns] and len(windows) == 1


def test_latest_hour_is_the_newest_whole_hour_by_as_of(seeded):
    def latest(unit, as_of):
        return queries.read_unit_latest_hour(seeded, unit, as_of=as_of, columns=["vibration_mean"])

    # C1's hour starting at AS_OF ends after as-of; the one before it is the newest whole hour.
    assert_frame_equal(latest("C1", AS_OF), pd.DataFrame({"agg_timestamp": _times(-1), "vibration_mean": [-1.0]}))
    assert_frame_equal(latest("C1", AS_OF - 2 * HOUR),
                       pd.DataFrame({"agg_timestamp": _times(-23), "vibration_mean": [-23.0]}))
    assert latest("C3", AS_OF).empty


def test_unit_alerts_opened_in_the_range_with_their_severity_at_as_of(seeded):
    alerts = queries.read_unit_alerts(seeded, "C1", start=AS_OF - 24 * HOUR, as_of=AS_OF)
    expected = pd.DataFrame({
        "alert_timestamp": _times(-12, -10, -3),
        "severity": ["critical", "warning", "warning"],  # the last escalated after as-of: a warning then
        "alert_type": ["threshold", "prediction", "threshold"],
        "sensor_name": ["discharge_temp_f", "failure_probability", "vibration_mms"],
        "message": ["discharge_temp_f on C1", "failure_probability on C1", "vibration_mms on C1"],
    })
    assert_frame_equal(alerts, expected)


def test_unit_maintenance_logged_in_the_range(seeded):
    events = queries.read_unit_maintenance(seeded, "C1", start=AS_OF - 24 * HOUR, as_of=AS_OF)
    expected = pd.DataFrame({"event_date": _times(-5, -5), "event_type": ["failure", "inspection"],
                             "description": ["Bearing failure", None], "downtime_hours": [36.0, None]})
    assert_frame_equal(events, expected)


def test_unit_predictions_one_per_scoring_time_in_the_range(seeded):
    scores = queries.read_unit_predictions(seeded, "C1", start=AS_OF - 24 * HOUR, as_of=AS_OF)
    expected = pd.DataFrame({"prediction_timestamp": _times(-3, -2), "failure_probability": [0.4, 0.5],
                             "warning_probability": [None, 0.6]})
    assert_frame_equal(scores, expected)


# --- The page on the seeded database ---------------------------------------------------------------


def test_page_keeps_the_users_choices_and_opens_the_unit_asked_for(seeded):
    view = View(as_of=AS_OF, fleet=queries.read_fleet(seeded, AS_OF))
    page = MonitoringPage(seeded)
    page.show(view)
    assert (page.compressor.options, page.compressor.value) == (tuple(unit_options(view.fleet)),
                                                                unit_options(view.fleet)[0][1])
    page.compressor.value, page.range.value, page.window.value = "C2", "7 d", "4 h"
    page.show(view)  # a refresh keeps the user's unit, range and window
    assert (page.compressor.value, page.range.value, page.window.value) == ("C2", "7 d", "4 h")
    page.select("C1")  # a map marker, table row or alert opens C1 ...
    page.show(view)
    assert (page.compressor.value, page.range.value, page.window.value) == ("C1", "7 d", "4 h")
    page.compressor.value = "C2"  # ... once: the next refresh keeps what the user picked since
    page.show(view)
    assert page.compressor.value == "C2"
    page.select("C9")  # not in the fleet: the current unit stays
    page.show(view)
    assert page.compressor.value == "C2"
    assert set(page.cache) == {("C2", "7 d", "4 h")}  # each show reads afresh; selector changes read once


def test_page_says_so_when_a_unit_has_no_data_in_the_range(seeded):
    view = View(as_of=AS_OF, fleet=queries.read_fleet(seeded, AS_OF))
    page = MonitoringPage(seeded)
    page.select("C3")
    page.show(view)
    assert page.summary.value.startswith("<b>C3</b>")
    assert page.notice.value == no_data_message("C3", "24 h", AS_OF, None)
    page.compressor.value = "C1"
    assert (page.summary.value.startswith("<b>C1</b>"), page.notice.value) == (True, "")
    page.compressor.value, page.window.value = "C2", "24 h"  # C2 has an hour and a score but no daily window
    assert page.notice.value.startswith("<p><i>No whole 24 h window ended in the 24 h before 2026-02-10 00:00 UTC")


def test_page_says_so_when_the_database_is_down(seeded):
    view = View(as_of=AS_OF, fleet=queries.read_fleet(seeded, AS_OF))
    down = replace(seeded, database=replace(seeded.database, url="host=/nonexistent/altaviz dbname=gone"))
    page = MonitoringPage(down)
    page.show(view)
    assert page.notice.value.startswith('<span class="altaviz-error"><b>Database unavailable.</b> cannot query')
    page = MonitoringPage(seeded)
    page.show(view)
    assert page.notice.value == ""
