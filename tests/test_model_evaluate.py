"""The backtest's arithmetic on literal failures, scores and alerts (pandas only): whole tables compared with
numbers worked out by hand, the log-only truth, and the round trip through the stored JSON."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from altaviz.model import evaluate, store

T0 = pd.Timestamp("2026-01-01", tz="UTC")
HOUR = pd.Timedelta(hours=1)


def _truth() -> pd.DataFrame:
    # A trips at hour 100 (precursor from 20), B at 150 (from 100); C never fails; a fault is not a failure.
    return pd.DataFrame([
        ("A", "failure", "bearing_wear", T0 + 20 * HOUR, T0 + 100 * HOUR),
        ("B", "failure", "valve_leak", T0 + 100 * HOUR, T0 + 150 * HOUR),
        ("C", "fault", "spike", T0 + 10 * HOUR, pd.NaT),
    ], columns=["compressor_id", "category", "kind", "start", "failure_time"])


def _scores() -> pd.DataFrame:
    """Hourly scores 0..199 h for A, B, C: 0.9 on every hour that has a trip within 48 h (A 52-99, B 102-149),
    0.95 on six hours of C (false), 0 elsewhere; a remaining-life band on A at 90 h and B at 140 h."""
    rows = []
    for unit in "ABC":
        for hour in range(200):
            positive = (unit == "A" and 52 <= hour <= 99) or (unit == "B" and 102 <= hour <= 149)
            probability = 0.9 if positive else 0.95 if unit == "C" and 50 <= hour <= 55 else 0.0
            band = {("A", 90): (5.0, 10.0, 20.0), ("B", 140): (1.0, 5.0, 8.0)}.get((unit, hour), (np.nan,) * 3)
            rows.append((unit, T0 + hour * HOUR, probability, *band))
    return pd.DataFrame(rows, columns=["compressor_id", "prediction_timestamp", "failure_probability",
                                       "rul_p10_hours", "rul_p50_hours", "rul_p90_hours"])


def _episodes(*rows) -> pd.DataFrame:
    return pd.DataFrame([(unit, T0 + hour * HOUR) for unit, hour in rows], columns=["compressor_id", "opened_at"])


def test_backtest_table_leads_risk_and_reliability_match_the_hand_counts():
    model_alerts = _episodes(("A", 52), ("B", 140), ("C", 50))  # A 48 h ahead, B 10 h, C false
    threshold_alerts = _episodes(("A", 95), ("A", 180))         # A 5 h ahead; after A's trip: false
    backtest = evaluate.run_backtest(
        {"model": (_scores(), model_alerts), "threshold alerts": (None, threshold_alerts)}, _truth(),
        source="literal", horizon_hours=48)

    weeks = 3 * 199 / 168  # three units observed 0..199 h
    average_precision = np.mean([k / (6 + k) for k in range(1, 97)])  # six false hours rank above 96 true ones
    expected = pd.DataFrame([
        ("model", 2, 1, 0.5, 29.0, 13.8, 1, 1 / weeks, average_precision, 2.5, 0.5),
        ("threshold alerts", 2, 0, 0.0, 5.0, 5.0, 1, 1 / weeks, np.nan, np.nan, np.nan),
    ], columns=["method", *evaluate.BACKTEST_METRICS])
    pd.testing.assert_frame_equal(backtest.table, expected, check_dtype=False)

    leads = backtest.leads[["method", "compressor_id", "first_alert_at", "lead_hours"]]
    pd.testing.assert_frame_equal(leads, pd.DataFrame([
        ("model", "A", T0 + 52 * HOUR, 48.0), ("model", "B", T0 + 140 * HOUR, 10.0),
        ("threshold alerts", "A", T0 + 95 * HOUR, 5.0), ("threshold alerts", "B", pd.NaT, np.nan),
    ], columns=["method", "compressor_id", "first_alert_at", "lead_hours"]), check_dtype=False)

    # The week before each trip: A's hours 0-99 (100 before its trip), B's 0-149; nearest hour last.
    assert backtest.risk.groupby("compressor_id").size().to_dict() == {"A": 100, "B": 150}
    assert backtest.risk.iloc[[0, 99]][["compressor_id", "hours_before", "failure_probability"]].values.tolist() == [
        ["A", 100.0, 0.0], ["A", 1.0, 0.9]]

    reliability = backtest.reliability.set_index("bin")
    assert reliability.loc[0, ["hours", "mean_predicted", "observed_rate"]].tolist() == [498, 0.0, 0.0]
    assert reliability.loc[9, "hours"] == 102
    assert reliability.loc[9, "mean_predicted"] == pytest.approx((96 * 0.9 + 6 * 0.95) / 102)
    assert reliability.loc[9, "observed_rate"] == pytest.approx(96 / 102)
    assert reliability.loc[1:8, "hours"].sum() == 0


def test_a_failure_still_developing_at_the_end_is_neither_missed_nor_false():
    truth = pd.concat([_truth(), pd.DataFrame([("C", "failure", "bearing_wear", T0 + 180 * HOUR, T0 + 230 * HOUR)],
                                              columns=["compressor_id", "category", "kind", "start", "failure_time"])])
    backtest = evaluate.run_backtest({"model": (_scores(), _episodes(("A", 52), ("B", 102), ("C", 190)))}, truth,
                                     source="literal", horizon_hours=48)
    row = backtest.table.iloc[0]
    assert (row["failures"], row["warned"], row["recall_24h"], row["false_alerts"]) == (2, 2, 1.0, 0)


def test_failures_from_the_log_stand_in_for_ground_truth():
    log = pd.DataFrame([("A", T0 + 100 * HOUR, "failure"), ("A", T0 + 10 * HOUR, "scheduled"),
                        ("B", T0 + 150 * HOUR, "failure")], columns=["compressor_id", "event_date", "event_type"])
    truth = evaluate.failures_from_log(log, precursor_hours=72)
    pd.testing.assert_frame_equal(truth, pd.DataFrame({
        "compressor_id": ["A", "B"], "category": "failure", "kind": "logged failure",
        "start": [T0 + 28 * HOUR, T0 + 78 * HOUR], "failure_time": [T0 + 100 * HOUR, T0 + 150 * HOUR]}),
        check_dtype=False)
    # An alert 60 h before B's trip counts as a warning; one 80 h before would be false.
    inside = evaluate.alert_metrics(_episodes(("B", 90)), truth, pd.DataFrame(
        {"compressor_id": ["A", "B"], "first": [T0, T0], "last": [T0 + 199 * HOUR] * 2}))
    outside = evaluate.alert_metrics(_episodes(("B", 70)), truth, pd.DataFrame(
        {"compressor_id": ["A", "B"], "first": [T0, T0], "last": [T0 + 199 * HOUR] * 2}))
    assert (inside["warned"], inside["false_alerts"]) == (1, 0)
    assert (outside["warned"], outside["false_alerts"]) == (0, 1)


def test_a_backtest_survives_its_round_trip_through_the_model_store(tmp_path):
    backtest = evaluate.run_backtest({"model": (_scores(), _episodes(("A", 52)))}, _truth(), source="literal",
                                     horizon_hours=48)
    (tmp_path / "models" / "v1").mkdir(parents=True)
    store.save_evaluation(tmp_path, "v1", backtest.to_json())
    again = evaluate.Backtest.from_json(store.load_evaluation(tmp_path, "v1"))
    assert again.source == "literal"
    for name in ("table", "leads", "risk", "reliability"):
        pd.testing.assert_frame_equal(getattr(again, name), getattr(backtest, name), check_dtype=False)
    assert "recall (>= 24 h)" in again.to_text() and again.to_text().startswith("Known failures from literal.")
