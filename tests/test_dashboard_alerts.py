"""The Predictive Alerts page on a seeded PostgreSQL: open alerts at as-of with filters and exact counts, the
resolved history, operator actions through the page object, one unit's latest prediction, and the formatting."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pandas as pd
import psycopg
import pytest
from pandas.testing import assert_frame_equal
from reliability import reliability

from altaviz.dashboard import queries
from altaviz.dashboard.pages.alerts import (
    DASH, AlertsPage, checked_choice, drivers_table, open_alerts_table, open_duration, rul_band, unit_panel,
)
from altaviz.dashboard.view import View
from altaviz.io import db

AS_OF = datetime(2026, 2, 10, 0, 0, tzinfo=timezone.utc)
HOUR, DAY = timedelta(hours=1), timedelta(days=1)
STATIONS = [("S1", "Alpha"), ("S2", "Bravo")]
COMPRESSORS = [("C1", "S1"), ("C2", "S1"), ("C3", "S2")]
ALERT_FIELDS = ("id", "compressor_id", "sensor_name", "alert_type", "severity", "alert_timestamp", "last_seen_at",
                "sensor_value", "peak_value", "threshold_value", "escalated_at", "acknowledged", "acknowledged_by",
                "acknowledged_at", "resolved", "resolved_at", "resolved_by", "note")
OPERATOR_RESOLVED_AT = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)  # wall clock, long after the data


def alert(id, compressor_id, sensor_name, alert_type, severity, opened, *, value=7.0, peak=7.5, threshold=6.0,
          escalated_at=None, acknowledged_by=None, resolved_at=None, resolved_by=None, note=None) -> dict:
    return dict(id=id, compressor_id=compressor_id, sensor_name=sensor_name, alert_type=alert_type, severity=severity,
                alert_timestamp=opened, last_seen_at=opened + HOUR, sensor_value=value, peak_value=peak,
                threshold_value=threshold, escalated_at=escalated_at, acknowledged=acknowledged_by is not None,
                acknowledged_by=acknowledged_by, acknowledged_at=opened + HOUR if acknowledged_by else None,
                resolved=resolved_by is not None, resolved_at=resolved_at, resolved_by=resolved_by, note=note)


ALERTS = [
    alert(1, "C1", "vibration_mms", "threshold", "critical", AS_OF - 2 * DAY, escalated_at=AS_OF - DAY),
    alert(2, "C1", "failure_probability", "prediction", "warning", AS_OF - 3 * DAY - 4 * HOUR, value=0.31, peak=0.4,
          threshold=0.2, acknowledged_by="j.ortiz", note="watching it"),
    alert(3, "C2", "discharge_temp_f", "threshold", "warning", AS_OF - timedelta(hours=5, minutes=20), value=245.0,
          peak=246.5, threshold=240.0),
    # Escalated after as-of: still a warning then.
    alert(4, "C3", "vibration_mms", "threshold", "critical", AS_OF - DAY, escalated_at=AS_OF + 2 * HOUR),
    # Resolved automatically by a reading after as-of: open at as-of.
    alert(5, "C3", "discharge_temp_f", "threshold", "warning", AS_OF - 4 * DAY, resolved_at=AS_OF + HOUR,
          resolved_by="auto"),
    alert(6, "C2", "vibration_mms", "threshold", "warning", AS_OF - 6 * DAY, resolved_at=AS_OF - 2 * DAY,
          resolved_by="auto"),
    alert(7, "C1", "discharge_temp_f", "threshold", "critical", AS_OF - 20 * DAY, resolved_at=AS_OF - 15 * DAY,
          resolved_by="auto"),
    # Resolved by an operator (wall clock after as-of): final whatever the as-of.
    alert(8, "C2", "failure_probability", "prediction", "warning", AS_OF - DAY, value=0.25, peak=0.25,
          threshold=0.2, resolved_at=OPERATOR_RESOLVED_AT, resolved_by="a.chen", acknowledged_by="a.chen",
          note="sensor bracket loose"),
    # Opened after as-of: not there yet.
    alert(9, "C3", "suction_pressure_psi", "threshold", "warning", AS_OF + HOUR),
]
BY_ID = {a["id"]: a for a in ALERTS}


def run(settings, statement: str, params=None) -> list[tuple]:
    with psycopg.connect(db.target(settings).conninfo, autocommit=True) as conn:
        cursor = conn.execute(statement, params)
        return cursor.fetchall() if cursor.description else []


def seed(settings) -> None:
    """Two stations, three compressors, the alerts above, and predictions around as-of."""
    with db.transaction(settings) as conn:
        for station_id, name in STATIONS:
            conn.execute("INSERT INTO station_locations (station_id, station_name, latitude, longitude) "
                         "VALUES (%s, %s, 29.0, -97.0)", (station_id, name))
        for compressor_id, station_id in COMPRESSORS:
            conn.execute("INSERT INTO compressor_metadata (compressor_id, model, horsepower, station_id) "
                         "VALUES (%s, 'Ajax DPC-360', 1340, %s)", (compressor_id, station_id))
        for a in ALERTS:
            conn.execute(f"INSERT INTO alert_history ({', '.join(ALERT_FIELDS)}, message) "
                         f"VALUES ({', '.join(['%s'] * len(ALERT_FIELDS))}, %s)",
                         [a[f] for f in ALERT_FIELDS] + [f"alert {a['id']}"])
        conn.execute("SELECT setval('alert_history_id_seq', 100)")
        predictions = [
            # C1: the score before as-of counts; the one after it does not exist yet.
            ("C1", AS_OF - HOUR, 0.45, 0.46, 12.4, 22.1, 32.0, "bearing wear likely",
             {"method": "coefficient x standardized value",
              "drivers": [{"feature": "vibration_mms__mean", "value": 8.99, "contribution": 1.76},
                          {"feature": "hours_since_repair", "value": 259.3, "contribution": 1.57}]}),
            ("C1", AS_OF + HOUR, 0.99, 0.99, 1.0, 2.0, 3.0, "after as-of", {}),
            # C2: the model cannot tell the remaining life.
            ("C2", AS_OF - 2 * HOUR, 0.01, 0.02, None, None, None, "no failure expected", {"drivers": []}),
        ]
        for c, at, failure, warning, p10, p50, p90, message, features in predictions:
            conn.execute(
                "INSERT INTO ml_predictions (compressor_id, prediction_timestamp, failure_probability, "
                "warning_probability, rul_p10_hours, rul_p50_hours, rul_p90_hours, message, features_used, "
                "model_version) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, 'lr-test')",
                (c, at, failure, warning, p10, p50, p90, message, json.dumps(features)))


@pytest.fixture
def seeded(serving_settings):
    seed(serving_settings)
    return serving_settings


OPEN_COLUMNS = ["id", "compressor_id", "station_id", "station_name", "severity", "alert_type", "sensor_name",
                "peak_value", "threshold_value", "sensor_value", "alert_timestamp", "last_seen_at", "open_for",
                "acknowledged", "acknowledged_by", "acknowledged_at", "note", "message"]


def expected_open(ids: list[int], as_of: datetime = AS_OF) -> pd.DataFrame:
    """What read_open_alerts returns for these seeded alerts, in this order."""
    stations = dict(COMPRESSORS)
    names = dict(STATIONS)
    rows = [{
        "id": i, "compressor_id": (a := BY_ID[i])["compressor_id"], "station_id": stations[a["compressor_id"]],
        "station_name": names[stations[a["compressor_id"]]],
        "severity": "warning" if a["escalated_at"] and a["escalated_at"] > as_of else a["severity"],
        "alert_type": a["alert_type"], "sensor_name": a["sensor_name"], "peak_value": a["peak_value"],
        "threshold_value": a["threshold_value"], "sensor_value": a["sensor_value"],
        "alert_timestamp": a["alert_timestamp"], "last_seen_at": a["last_seen_at"],
        "open_for": as_of - a["alert_timestamp"], "acknowledged": a["acknowledged"],
        "acknowledged_by": a["acknowledged_by"], "acknowledged_at": a["acknowledged_at"], "note": a["note"],
        "message": f"alert {i}",
    } for i in ids]
    frame = pd.DataFrame(rows, columns=OPEN_COLUMNS)
    for column in ("alert_timestamp", "last_seen_at", "acknowledged_at"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    return frame.astype({"id": "int64", "open_for": "timedelta64[ns]", "acknowledged": bool})


def read_open(settings, filters=None, *, as_of=AS_OF, limit=50):
    alerts, count = queries.read_open_alerts(settings, as_of, filters=filters, limit=limit)
    return alerts.assign(acknowledged_at=pd.to_datetime(alerts["acknowledged_at"], utc=True)), count


@pytest.mark.parametrize(("filters", "ids"), [
    ({}, [1, 3, 4, 2, 5]),  # critical first (by rank), then newest first
    ({"severity": "critical"}, [1]),  # alert 4 is critical now, but was a warning at as-of
    ({"severity": "warning"}, [3, 4, 2, 5]),
    ({"alert_type": "prediction"}, [2]),
    ({"station_id": "S2"}, [4, 5]),
    ({"compressor_id": "C1"}, [1, 2]),
    ({"acknowledged": True}, [2]),
    ({"acknowledged": False}, [1, 3, 4, 5]),
    ({"station_id": "S1", "severity": "warning", "acknowledged": False}, [3]),
    ({"compressor_id": "C3", "alert_type": "prediction"}, []),
])
def test_filters_change_the_rows_and_the_exact_count(seeded, filters, ids):
    alerts, count = read_open(seeded, filters)
    # pandas types no column of an empty result: there, the columns and no rows are what is compared.
    assert_frame_equal(alerts, expected_open(ids), check_dtype=bool(ids), check_index_type=bool(ids))
    assert count == len(ids)


def test_the_count_is_every_match_while_the_table_holds_a_page(seeded):
    alerts, count = read_open(seeded, limit=2)
    assert_frame_equal(alerts, expected_open([1, 3]))
    assert count == 5
    # Failing case of the comparison: another order is another frame.
    with pytest.raises(AssertionError):
        assert_frame_equal(alerts, expected_open([3, 1]))


@reliability("security", "A filter name the page never offered (a crafted widget value)",
             "refused by the allow-list of filters before any SQL is built")
def test_an_unknown_filter_is_refused():
    with pytest.raises(ValueError, match="unknown alert filter"):
        queries.alert_filter_params(AS_OF, {"severity; DROP TABLE alert_history": "x"})
    assert queries.alert_filter_params(AS_OF, {"severity": "warning"}) == {
        "as_of": AS_OF, "severity": "warning", "alert_type": None, "station_id": None, "compressor_id": None,
        "acknowledged": None}


def test_automatic_resolution_after_as_of_is_open_then_an_operator_resolution_is_final(seeded):
    # Alert 5 resolved automatically at as-of + 1 h: open at as-of, history an hour later.
    assert read_open(seeded)[0]["id"].tolist() == [1, 3, 4, 2, 5]
    later = AS_OF + 2 * HOUR  # 4 escalated by then, 9 opened
    assert_frame_equal(read_open(seeded, as_of=later)[0], expected_open([4, 1, 9, 3, 2], as_of=later))
    resolved, count = queries.read_resolved_alerts(seeded, later, period=timedelta(days=7))
    assert (resolved["id"].tolist(), count) == ([8, 5, 6], 3)
    # Alert 8 was resolved by an operator "after" as-of on the wall clock: never open at any as-of.
    earlier = AS_OF - 12 * HOUR
    assert 8 not in read_open(seeded, as_of=earlier)[0]["id"].tolist()
    assert queries.read_resolved_alerts(seeded, earlier, period=timedelta(days=7))[0]["id"].tolist() == [8, 6]


@pytest.mark.parametrize(("period", "filters", "ids"), [
    (timedelta(days=7), {}, [8, 6]),  # newest resolution first; 7 resolved 15 days before as-of
    (timedelta(days=30), {}, [8, 6, 7]),
    (timedelta(days=30), {"compressor_id": "C1"}, [7]),
    (timedelta(days=30), {"station_id": "S2"}, []),  # 5 resolved after as-of, 9 opened after it
    (timedelta(days=30), {"alert_type": "prediction", "severity": "warning"}, [8]),
])
def test_history_of_resolved_alerts_names_who_resolved_when_and_the_note(seeded, period, filters, ids):
    resolved, count = queries.read_resolved_alerts(seeded, AS_OF, period=period, filters=filters)
    expected = pd.DataFrame([{
        "id": i, "compressor_id": BY_ID[i]["compressor_id"], "resolved_at": BY_ID[i]["resolved_at"],
        "resolved_by": BY_ID[i]["resolved_by"], "note": BY_ID[i]["note"]} for i in ids],
        columns=["id", "compressor_id", "resolved_at", "resolved_by", "note"])
    expected = expected.astype({"id": "int64"}).assign(resolved_at=pd.to_datetime(expected["resolved_at"], utc=True))
    assert_frame_equal(resolved[list(expected.columns)], expected, check_dtype=bool(ids), check_index_type=bool(ids))
    assert count == len(ids)


def snapshot(settings) -> list[tuple]:
    return run(settings, "SELECT * FROM alert_history ORDER BY id")


@reliability("security", "SQL-injection text as an alert filter value",
             "bound as a parameter: matches nothing, changes nothing")
def test_injection_text_in_a_filter_matches_nothing_and_changes_nothing(seeded):
    before = snapshot(seeded)
    for text in ("C1' OR '1'='1", "S1'; DROP TABLE alert_history; --"):
        assert read_open(seeded, {"compressor_id": text})[1] == 0
        assert read_open(seeded, {"station_id": text})[1] == 0
    assert snapshot(seeded) == before
    # The page refuses what it never offered, before any query.
    with pytest.raises(ValueError, match="not one of the choices offered"):
        checked_choice("station", "S1' OR '1'='1", ["", "S1", "S2"])
    assert checked_choice("station", "S1", ["", "S1", "S2"]) == "S1"


@reliability("security", "SQL-injection text in an operator's note", "stored as text; nothing else changes")
def test_injection_text_in_a_note_is_stored_as_text_and_changes_nothing_else(seeded):
    before = snapshot(seeded)
    note = "'); UPDATE alert_history SET resolved = TRUE; --"
    db.set_alert_operator_state(3, action="acknowledge", by="x'; DROP TABLE alert_history; --", note=note,
                                settings=seeded)
    after = snapshot(seeded)
    assert run(seeded, "SELECT acknowledged_by, note FROM alert_history WHERE id = 3") == [
        ("x'; DROP TABLE alert_history; --", note)]
    assert [row for row in after if row[0] != 3] == [row for row in before if row[0] != 3]
    assert [row for row in after if row[0] == 3] != [row for row in before if row[0] == 3]


def make_page(settings, **kwargs):
    calls = {"changes": 0, "opened": []}

    def on_change():
        calls["changes"] += 1

    page = AlertsPage(settings, on_change=kwargs.get("on_change", on_change), open_unit=calls["opened"].append)
    page.show(View(as_of=AS_OF, fleet=queries.read_fleet(settings, AS_OF)))
    return page, calls


OPERATOR_COLUMNS = "acknowledged, acknowledged_by, acknowledged_at IS NOT NULL, resolved, resolved_by, note"


def operator_state(settings, alert_id: int) -> list[tuple]:
    return run(settings, f"SELECT {OPERATOR_COLUMNS} FROM alert_history WHERE id = %s", (alert_id,))


def test_page_acknowledge_unacknowledge_resolve_round_trip(seeded):
    page, calls = make_page(seeded)
    assert [value for _, value in page.alert_id.options] == [1, 3, 4, 2, 5]
    page.alert_id.value = 3
    page.operator.value = "   "
    page.act("acknowledge")
    assert "Enter your name" in page.status.value
    assert (operator_state(seeded, 3), calls["changes"]) == ([(False, None, False, False, None, None)], 0)

    page.operator.value = "m.silva"
    page.note.value = "checked the cooler"
    page.act("acknowledge")
    assert operator_state(seeded, 3) == [(True, "m.silva", True, False, None, "checked the cooler")]
    assert (page.status.value, calls["changes"]) == ("Alert #3 acknowledged by m.silva.", 1)
    assert open_alerts_table(read_open(seeded, {"compressor_id": "C2"})[0])["acknowledged by"].tolist() == ["m.silva"]

    page.acknowledged.value = "yes"  # the filter follows PostgreSQL
    assert [value for _, value in page.alert_id.options] == [3, 2]
    page.alert_id.value = 3
    page.act("unacknowledge")
    assert operator_state(seeded, 3) == [(False, None, False, False, None, "checked the cooler")]
    assert [value for _, value in page.alert_id.options] == [2]

    page.acknowledged.value = ""
    stale_page, _ = make_page(seeded)  # a second operator's screen, drawn before the resolution
    page.alert_id.value = 3
    page.note.value = "fan belt replaced"
    page.act("resolve")
    assert operator_state(seeded, 3) == [(True, "m.silva", True, True, "m.silva", "fan belt replaced")]
    assert calls["changes"] == 3
    assert [value for _, value in page.alert_id.options] == [1, 4, 2, 5]
    assert "showing 3 of 3 resolved" in page.history.value and "m.silva" in page.history.value

    # A resolution is final: un-acknowledging it is refused in plain words and changes nothing.
    stale_page.alert_id.value = 3
    stale_page.operator.value = "k.lee"
    stale_page.act("unacknowledge")
    assert stale_page.status.value == ('<span class="altaviz-error"><b>Cannot do that.</b> alert 3 was resolved by '
                                       'm.silva; a resolved alert stays acknowledged.</span>')
    assert operator_state(seeded, 3) == [(True, "m.silva", True, True, "m.silva", "fan belt replaced")]
    assert calls["changes"] == 3


def test_operator_state_survives_a_pipeline_rerun(seeded):
    from altaviz.serving.alerts import ALERT_COLUMNS

    db.set_alert_operator_state(3, action="acknowledge", by="m.silva", note="checked", settings=seeded)
    db.set_alert_operator_state(1, action="resolve", by="a.chen", note="replaced bearing", settings=seeded)
    acknowledged, resolved = operator_state(seeded, 3), operator_state(seeded, 1)
    # The evaluator's rows for both alerts, newer: one more abnormal reading each, 1 still open for it.
    frame = pd.DataFrame(run(seeded, f"SELECT {', '.join(ALERT_COLUMNS)} FROM alert_history WHERE id IN (1, 3) "
                                     "ORDER BY id"), columns=list(ALERT_COLUMNS))
    frame = frame.assign(last_seen_at=AS_OF, sensor_value=frame["sensor_value"] + 1, resolved=False,
                         resolved_at=None, resolved_by=None, run_id="rerun")
    with db.transaction(seeded) as conn:
        assert db.upsert_alerts(conn, frame) == 1  # 3 takes the reading; 1 stays as the operator left it
    assert run(seeded, "SELECT id, sensor_value, last_seen_at FROM alert_history WHERE id IN (1, 3) ORDER BY id") == [
        (1, 7.0, BY_ID[1]["last_seen_at"]), (3, 246.0, AS_OF)]
    assert (operator_state(seeded, 3), operator_state(seeded, 1)) == (acknowledged, resolved)
    # The loader refuses a frame that would carry operator columns (failing case of "never overwrites").
    with pytest.raises(ValueError, match=r"never writes operator columns, got \['acknowledged', 'note'\]"):
        with db.transaction(seeded) as conn:
            db.upsert_alerts(conn, frame.assign(acknowledged=False, note=None))
    assert (operator_state(seeded, 3), operator_state(seeded, 1)) == (acknowledged, resolved)


def test_page_errors_are_plain_words(seeded):
    page, calls = make_page(seeded)
    page.operator.value = "m.silva"
    page.alert_id.value = 4
    run(seeded, "DELETE FROM alert_history WHERE id = 4")  # a rerun or another operator removed it
    page.act("resolve")
    assert "no longer exists" in page.status.value and calls["changes"] == 0

    down = replace(seeded, database=replace(seeded.database, url="postgresql://nobody@127.0.0.1:1/none",
                                            connect_timeout_seconds=1))
    page.settings = down
    page.alert_id.value = 1
    page.act("acknowledge")
    assert page.status.value.startswith('<span class="altaviz-error"><b>Database unavailable.</b> cannot')
    assert "Nothing was changed" in page.status.value and calls["changes"] == 0
    page.show(page.view)
    assert "Database unavailable" in page.open_alerts.value
    assert operator_state(seeded, 1) == [(False, None, False, False, None, None)]


def test_page_unit_panel_and_open_in_monitoring(seeded):
    page, calls = make_page(seeded)
    page.alert_id.value = 2  # C1: the score an hour before as-of, not the one after it
    assert "C1</b> · prediction at 2026-02-09 23:00 UTC" in page.unit_box.value
    assert "failure within 48 h: <b>45 %</b> · early warning (7 d): <b>46 %</b>" in page.unit_box.value
    assert "p10 12.4 h · p50 22.1 h · p90 32.0 h" in page.unit_box.value
    assert "vibration_mms__mean" in page.unit_box.value
    page.open_button.click()
    page.alert_id.value = 4
    page.open_button.click()
    assert calls["opened"] == ["C1", "C3"]
    assert "C3</b>: <i>no prediction at or before as-of.</i>" in page.unit_box.value
    # With no alert selected, the compressor chosen in the filter.
    page.compressor.value = "C2"
    page.alert_id.value = None
    assert "remaining life: <b>–</b>" in page.unit_box.value and "C2</b> · prediction" in page.unit_box.value


def test_unit_panel_shows_a_dash_for_an_unknown_remaining_life(seeded):
    c2 = queries.read_unit_latest_prediction(seeded, "C2", AS_OF)
    assert c2[["rul_p10_hours", "rul_p50_hours", "rul_p90_hours"]].isna().all(axis=None)
    panel = unit_panel("C2", c2, horizon_hours=48, warning_horizon_hours=168)
    assert "remaining life: <b>–</b>" in panel and "No drivers recorded." in panel
    c1 = unit_panel("C1", queries.read_unit_latest_prediction(seeded, "C1", AS_OF), horizon_hours=48,
                    warning_horizon_hours=0)
    assert "remaining life: <b>p10 12.4 h" in c1 and "early warning" not in c1


@pytest.mark.parametrize(("delta", "text"), [
    (timedelta(days=3, hours=4, minutes=59), "3 d 4 h"),
    (timedelta(days=1), "1 d 0 h"),
    (timedelta(hours=23, minutes=59), "23 h 59 min"),
    (timedelta(hours=5, minutes=20), "5 h 20 min"),
    (timedelta(minutes=7), "7 min"),
    (timedelta(minutes=-5), "0 min"),
    (pd.NaT, DASH),
    (None, DASH),
])
def test_open_duration(delta, text):
    assert open_duration(delta) == text


@pytest.mark.parametrize(("band", "text"), [
    ((12.4, 22.1, 32.0), "p10 12.4 h · p50 22.1 h · p90 32.0 h"),
    ((None, None, None), DASH),
    ((float("nan"), float("nan"), float("nan")), DASH),
    ((3.0, 9.5, None), "p10 3.0 h · p50 9.5 h · p90 –"),
])
def test_rul_band_is_a_dash_where_the_model_cannot_tell(band, text):
    assert rul_band(*band) == text


def test_drivers_parsed_from_json(seeded):
    stored = queries.read_unit_latest_prediction(seeded, "C1", AS_OF)["features_used"].iloc[0]
    expected = pd.DataFrame({"feature": ["vibration_mms__mean", "hours_since_repair"], "value": [8.99, 259.3],
                             "contribution": [1.76, 1.57]})
    assert_frame_equal(drivers_table(stored), expected)
    assert_frame_equal(drivers_table(json.dumps(stored)), expected)  # the same object as JSON text
    empty = expected.iloc[:0].reset_index(drop=True)
    for nothing in ({"drivers": []}, {}, None):
        assert_frame_equal(drivers_table(nothing), empty, check_index_type=False)
    with pytest.raises(AssertionError):
        assert_frame_equal(drivers_table({"drivers": stored["drivers"][:1]}), expected)
