"""The message: which failure mode the leading sensor suggests, its trend and deviation, and plain words when no
sensor is among the drivers or the remaining-life band is null."""

from __future__ import annotations

from pyspark.testing import assertDataFrameEqual

from altaviz.model.explain import likely_mode, with_message
from altaviz.model.features import model_sensors

DRIVER = "struct<feature:string,contribution:double,value:double>"


def test_messages(spark, settings_no_db):
    registry = settings_no_db.registry
    sensors = [s.name for s in model_sensors(registry)]
    columns = ", ".join(f"`{s}__slope_24h` double, `{s}__z` double" for s in sensors)
    null_pairs = [None] * (2 * len(sensors))
    vibration_at = 2 * sensors.index("vibration_mms")
    at_risk = list(null_pairs)
    at_risk[vibration_at:vibration_at + 2] = [0.4, 3.1]
    rows = [
        ("at risk", 0.62, 12.0, 31.0, 60.0, [("hours_in_segment", 0.9, 700.0), ("vibration_mms__z", 0.8, 3.1)], *at_risk),
        ("no band", 0.35, None, None, None, [("vibration_mms__z", 0.8, 3.1)], *at_risk),
        ("context only", 0.05, None, None, None, [("hour_sin", 0.1, 0.5), ("coverage", -0.1, 1.0)], *null_pairs),
    ]
    scored = spark.createDataFrame(rows, f"case string, failure_probability double, rul_p10_hours double, "
                                         f"rul_p50_hours double, rul_p90_hours double, drivers array<{DRIVER}>, {columns}")
    messages = with_message(scored, registry=registry, horizon_hours=48, band_min_probability=0.2).select("case", "message")
    expected = spark.createDataFrame([
        ("at risk", "bearing wear likely: vibration up 0.40 mm/s per day, 3.1 σ above this unit's baseline; "
                    "failure probability 62 % within 48 h; remaining life P50 31 h (P10 12 h, P90 60 h)"),
        ("no band", "bearing wear likely: vibration up 0.40 mm/s per day, 3.1 σ above this unit's baseline; "
                    "failure probability 35 % within 48 h; remaining life: the model cannot tell"),
        ("context only", "no failure expected: failure probability 5 % within 48 h; largest driver: hour_sin"),
    ], "case string, message string")
    assertDataFrameEqual(messages, expected)


def test_likely_mode_follows_the_registry(settings_no_db):
    sensors = settings_no_db.registry.sensors
    assert likely_mode(sensors["vibration_mms"]) == "bearing wear"
    assert likely_mode(sensors["suction_pressure_psi"]) == "packing leak"
    assert likely_mode(sensors["discharge_pressure_psi"]) is None
