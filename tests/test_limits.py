"""Limits per equipment model and per unit (``limits:`` in ``config/sensors.yaml``): validated at load with
errors naming file and key, and followed by every layer that judges a reading: the threshold alerts,
gold's statuses and the dashboard's bands.

The site in these tests: an ``Ariel JGK/4`` runs at low suction (normal 20-40 psi, warning 15, critical 10)
and vibrates more (warning 7.0 mm/s), an ``Ariel JGE/2`` is small and tight on vibration (normal 1-3,
warning 4, critical 5), and unit ``C-007`` (a JGK/4) has its own vibration warning of 5.0 mm/s.
Fleet defaults: suction low 30/20 psi, vibration 6/8 mm/s.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from pyspark.sql import types as T
from pyspark.testing import assertDataFrameEqual
from registry_fixtures import registry_copy

from altaviz.config import CONFIG_DIR, ConfigError, load_settings
from altaviz.dashboard.pages.fleet import mean_sensors
from altaviz.dashboard.pages.monitoring import bands, gauge_sensors, monitoring_panels
from altaviz.gold.transforms import with_statuses
from altaviz.registry import SensorRegistry, get_registry, read_registry
from altaviz.serving import alerts
from altaviz.serving import stage

SETTINGS = load_settings()
JGK, JGE, OTHER = "Ariel JGK/4", "Ariel JGE/2", "Ariel JGC/2"  # OTHER has no limits of its own
LIMITS = {
    "models": {
        JGK: {"suction_pressure_psi": {"normal": [20.0, 40.0], "warning": 15.0, "critical": 10.0},
              "vibration_mms": {"warning": 7.0}},
        JGE: {"vibration_mms": {"normal": [1.0, 3.0], "warning": 4.0, "critical": 5.0}},
    },
    "units": {"C-007": {"vibration_mms": {"warning": 5.0}}},
}
UNIT_MODELS = {"BIG-1": JGK, "C-007": JGK, "C-008": JGK, "SMALL-1": JGE, "STD-1": OTHER}


def site_registry(folder: Path, limits=LIMITS) -> SensorRegistry:
    return read_registry(registry_copy(folder, lambda document: document.update(limits=limits)), env={})


@pytest.fixture()
def registry(tmp_path: Path) -> SensorRegistry:
    return site_registry(tmp_path)


# --------------------------------------------------------------------------- the registry


def test_the_default_registry_has_no_overrides_and_every_unit_gets_the_fleet_limits():
    default = get_registry()
    assert not default.limits
    assert default.unit_limits(UNIT_MODELS) == {}
    assert default.limits_for("vibration_mms", "C-007", JGK) == default.sensors["vibration_mms"]


def test_unit_over_model_over_fleet_key_by_key(registry: SensorRegistry):
    vibration, suction = registry.sensors["vibration_mms"], registry.sensors["suction_pressure_psi"]
    assert registry.limits_for("vibration_mms", "C-007", JGK) == replace(vibration, warning=5.0)  # unit beats model
    assert registry.limits_for("vibration_mms", "C-008", JGK) == replace(vibration, warning=7.0)
    assert registry.limits_for("vibration_mms", "C-007") == replace(vibration, warning=5.0)  # model unknown
    assert registry.limits_for("suction_pressure_psi", "C-007", JGK) == replace(
        suction, normal=(20.0, 40.0), warning=15.0, critical=10.0)
    assert registry.limits_for("suction_pressure_psi", "STD-1", OTHER) == suction  # no override: the fleet's
    assert registry.unit_limits(UNIT_MODELS) == {
        "vibration_mms": {
            "BIG-1": replace(vibration, warning=7.0), "C-007": replace(vibration, warning=5.0),
            "C-008": replace(vibration, warning=7.0),
            "SMALL-1": replace(vibration, normal=(1.0, 3.0), warning=4.0, critical=5.0),
        },
        "suction_pressure_psi": {
            unit: replace(suction, normal=(20.0, 40.0), warning=15.0, critical=10.0)
            for unit in ("BIG-1", "C-007", "C-008")
        },
    }


def test_settings_read_the_limits_from_a_config_folder(tmp_path: Path):
    folder = tmp_path / "config"
    shutil.copytree(CONFIG_DIR, folder)
    site_registry(folder)  # rewrites folder/sensors.yaml with the site's limits
    settings = load_settings(folder, env={})
    assert settings.registry.limits_for("vibration_mms", "SMALL-1", JGE).warning == 4.0


def _with(section: str, owner: str, signal: str, override) -> dict:
    return {section: {owner: {signal: override}}}


@pytest.mark.parametrize(
    ("limits", "message"),
    [
        ({"models": {JGK: {"suction_psi": {"warning": 15.0}}}},
         "sensors.yaml: limits.models.Ariel JGK/4: unknown signal(s) ['suction_psi']"),
        (_with("models", JGK, "suction_pressure_psi", {"warning": 15.0, "critical": 18.0, "normal": [20.0, 40.0]}),
         "sensors.yaml: limits.models.Ariel JGK/4.suction_pressure_psi: critical 18.0 is less severe than "
         "warning 15.0"),
        (_with("units", "C-007", "vibration_mms", {"warning": 9.0}),  # over the fleet's critical 8.0
         "sensors.yaml: limits.units.C-007.vibration_mms: critical 8.0 is less severe than warning 9.0"),
        (_with("models", JGK, "suction_pressure_psi", {"warning": 15.0, "critical": 10.0}),  # fleet band 40-80 stays
         None),
        (_with("models", JGK, "suction_pressure_psi", {"normal": [10.0, 40.0]}),
         "sensors.yaml: limits.models.Ariel JGK/4.suction_pressure_psi: normal band [10.0, 40.0] reaches the warning "
         "level 30.0"),
        (_with("units", "C-007", "vibration_mms", {"warnng": 5.0}),
         "sensors.yaml: limits.units.C-007.vibration_mms: unknown key(s) ['warnng']"),
        (_with("units", "C-007", "vibration_mms", {"physical": [0.0, 50.0]}),
         "sensors.yaml: limits.units.C-007.vibration_mms: unknown key(s) ['physical']; a limit override sets some "
         "of ('normal', 'warning', 'critical'); physical ranges are per sensor"),
        (_with("units", "C-007", "vibration_mms", {"warning": None}),
         "sensors.yaml: limits.units.C-007.vibration_mms.warning: expected a number, got None"),
        (_with("units", "C-007", "vibration_mms", {"warning": "high"}),
         "sensors.yaml: limits.units.C-007.vibration_mms.warning: expected a number, got 'high'"),
        (_with("units", "C-007", "vibration_mms", {"normal": [4.0]}),
         "sensors.yaml: limits.units.C-007.vibration_mms.normal: expected [low, high], got [4.0]"),
        ({"sites": {}}, "sensors.yaml: limits: unknown key(s) ['sites']; expected models and/or units"),
        ({"units": {"C-007": {}}}, "sensors.yaml: limits.units.C-007: expected a mapping of signal to limits"),
    ],
)
def test_overrides_are_validated_at_load_naming_file_and_key(tmp_path: Path, limits, message):
    if message is None:  # the passing case: a consistent override loads
        assert site_registry(tmp_path, limits).limits_for("suction_pressure_psi", model=JGK).warning == 15.0
        return
    with pytest.raises(ConfigError, match=re.escape(message)):
        site_registry(tmp_path, limits)


def test_a_unit_override_inconsistent_with_its_model_is_refused_when_the_model_is_known(tmp_path: Path):
    limits = {**LIMITS, "units": {"C-009": {"suction_pressure_psi": {"warning": 25.0}}}}
    registry = site_registry(tmp_path, limits)  # over the fleet's band (40-80) a warning of 25 is fine
    assert registry.limits_for("suction_pressure_psi", "C-009").warning == 25.0
    with pytest.raises(ConfigError, match=re.escape("sensors.yaml: limits.units.C-009.suction_pressure_psi: normal "
                                                    "band [20.0, 40.0] reaches the warning level 25.0")):
        registry.unit_limits({"C-009": JGK})


# --------------------------------------------------------------------------- threshold alerts

T0 = datetime(2026, 1, 14, 6, 10, tzinfo=timezone.utc)
STEP = timedelta(minutes=10)
NORMAL = {"vibration_mms": 3.0, "discharge_temp_f": 200.0, "suction_pressure_psi": 60.0,
          "discharge_pressure_psi": 1050.0, "horsepower_consumption": 1400.0, "gas_flow_mcf": 10000.0,
          "pressure_differential": 990.0, "temp_rate_of_change": 0.0}


def gold(spark, units: tuple[str, ...], **series: list[float]):
    """The same readings for every unit at the cadence: ``series`` per sensor, the others normal."""
    count = max(len(values) for values in series.values())
    schema = T.StructType(
        [T.StructField("compressor_id", T.StringType()), T.StructField("timestamp", T.TimestampType())]
        + [T.StructField(name, T.DoubleType()) for name in NORMAL]
        + [T.StructField("outlier_sensors", T.ArrayType(T.StringType()))]
    )
    rows = [
        (unit, (T0 + i * STEP).replace(tzinfo=None),
         *[series[name][i] if name in series else normal for name, normal in NORMAL.items()], [])
        for unit in units for i in range(count)
    ]
    return spark.createDataFrame(rows, schema)


def evaluate(spark, registry: SensorRegistry, readings) -> tuple[alerts.Alert, ...]:
    """What publish does, with each unit's model from compressor_metadata."""
    settings = replace(SETTINGS, registry=registry)
    return stage.evaluate_fleet_alerts(readings, [], settings=settings, unit_models=UNIT_MODELS).alerts


def alert(unit: str, sensor: str, severity: str, limit: float, values: list[float], message: str) -> alerts.Alert:
    first = next(i for i, v in enumerate(values) if v != NORMAL[sensor])
    peak = min(values) if sensor == "suction_pressure_psi" else max(values)
    return alerts.Alert(
        compressor_id=unit, sensor_name=sensor, alert_type="threshold", alert_timestamp=T0 + first * STEP,
        last_seen_at=T0 + (len(values) - 1) * STEP, severity=severity, sensor_value=values[-1], peak_value=peak,
        threshold_value=limit, message=message,
    )


def test_a_model_with_lower_suction_limits_opens_no_alert_where_the_fleet_default_does(spark, registry):
    suction = [60.0, 25.0, 25.0, 25.0]
    readings = gold(spark, ("BIG-1", "STD-1"), suction_pressure_psi=suction)
    fell = "Suction pressure fell to 25.0 psi on {}, at or below the warning limit of 30.0 psi; " \
           "abnormal since 2026-01-14 06:20 UTC."
    # The fleet default alone: both units alert.
    assert evaluate(spark, get_registry(), readings) == tuple(
        alert(unit, "suction_pressure_psi", "warning", 30.0, suction, fell.format(unit)) for unit in ("BIG-1", "STD-1"))
    # The JGK/4 runs there (warning 15 psi): only the other model alerts.
    assert evaluate(spark, registry, readings) == (
        alert("STD-1", "suction_pressure_psi", "warning", 30.0, suction, fell.format("STD-1")),)


def test_a_model_with_tighter_vibration_limits_opens_alerts_the_fleet_default_does_not(spark, registry):
    vibration = [3.0, 4.5, 4.6, 5.2, 5.3, 5.4]
    readings = gold(spark, ("SMALL-1", "STD-1"), vibration_mms=vibration)
    assert evaluate(spark, get_registry(), readings) == ()
    # SMALL-1 (a JGE/2): a warning from the second reading at 4.0 mm/s, critical once 5.0 held three readings.
    assert evaluate(spark, registry, readings) == (replace(
        alert("SMALL-1", "vibration_mms", "critical", 5.0, vibration,
              "Vibration reached 5.4 mm/s on SMALL-1, at or above the critical limit of 5.0 mm/s; "
              "abnormal since 2026-01-14 06:20 UTC."),
        escalated_at=T0 + 5 * STEP),)


def test_a_unit_override_beats_its_models(spark, registry):
    vibration = [3.0, 6.5, 6.6, 6.7]
    readings = gold(spark, ("C-007", "C-008"), vibration_mms=vibration)
    # C-008 is a JGK/4 like C-007 (warning 7.0): quiet; C-007's own warning is 5.0.
    assert evaluate(spark, registry, readings) == (
        alert("C-007", "vibration_mms", "warning", 5.0, vibration,
              "Vibration reached 6.7 mm/s on C-007, at or above the warning limit of 5.0 mm/s; "
              "abnormal since 2026-01-14 06:20 UTC."),)


def test_a_unit_resolves_at_its_own_clear_level(spark, registry):
    # SMALL-1 clears below 4.0 - 0.2 * (4.0 - 3.0) = 3.8 mm/s; the fleet's 5.7 would take 3.9 as clear.
    opened = [3.0, 4.5, 4.5, 4.5]
    hovering = evaluate(spark, registry, gold(spark, ("SMALL-1",), vibration_mms=opened + [3.9] * 13))
    clear = evaluate(spark, registry, gold(spark, ("SMALL-1",), vibration_mms=opened + [3.5] * 13))
    still_open = alert("SMALL-1", "vibration_mms", "warning", 4.0, opened,
                       "Vibration reached 4.5 mm/s on SMALL-1, at or above the warning limit of 4.0 mm/s; "
                       "abnormal since 2026-01-14 06:20 UTC.")
    assert hovering == (still_open,)
    assert clear == (replace(still_open, normal_streak=12, resolved=True, resolved_at=T0 + 15 * STEP,
                             resolved_by="auto"),)


# --------------------------------------------------------------------------- gold statuses


def test_gold_grades_each_unit_against_its_own_limits(spark, registry):
    readings = gold(spark, ("BIG-1", "C-007", "SMALL-1", "STD-1"), vibration_mms=[4.5, 5.5, 6.5, 7.5],
                    suction_pressure_psi=[60.0, 25.0, 15.0, 12.0])
    columns = ["compressor_id", "timestamp", "vibration_mms_status", "suction_pressure_psi_status"]
    N, W, C = "normal", "warning", "critical"
    grades = {  # (vibration 4.5, 5.5, 6.5, 7.5), (suction 60, 25, 15, 12)
        "BIG-1": ((N, N, N, W), (N, N, W, W)),  # JGK/4: vibration 7.0/8.0, suction 15/10
        "C-007": ((N, W, W, W), (N, N, W, W)),  # its own vibration warning 5.0
        "SMALL-1": ((W, C, C, C), (N, W, C, C)),  # JGE/2: vibration 4.0/5.0; fleet suction 30/20
        "STD-1": ((N, N, W, W), (N, W, C, C)),  # the fleet's limits
    }

    def expected(table: dict):
        return readings.sparkSession.createDataFrame(
            [(unit, (T0 + i * STEP).replace(tzinfo=None), vibration[i], suction[i])
             for unit, (vibration, suction) in table.items() for i in range(4)],
            "compressor_id string, timestamp timestamp, vibration_mms_status string, "
            "suction_pressure_psi_status string")

    unit_limits = registry.unit_limits(UNIT_MODELS)
    graded = with_statuses(readings, registry=registry, unit_limits=unit_limits).select(*columns)
    assertDataFrameEqual(graded, expected(grades), checkRowOrder=False)
    # Without the overrides every unit is graded as STD-1.
    fleet = with_statuses(readings, registry=registry).select(*columns)
    assertDataFrameEqual(fleet, expected(dict.fromkeys(grades, grades["STD-1"])), checkRowOrder=False)


# --------------------------------------------------------------------------- the dashboard


def test_the_dashboard_draws_one_units_limits(registry):
    fleet_panels = monitoring_panels(registry)
    small = monitoring_panels(registry, "SMALL-1", JGE)
    assert [p.key for p in small] == [p.key for p in fleet_panels]
    changed = {p.key: bands(p.sensor, 0.0, 10.0) for p, f in zip(small, fleet_panels) if p != f}
    assert changed == {"vibration_mms": [("normal", 1.0, 3.0), ("warning", 4.0, 5.0), ("critical", 5.0, 10.0)]}
    assert gauge_sensors(registry, "STD-1", OTHER) == gauge_sensors(registry)
    assert gauge_sensors(registry, "C-007", float("nan"))[0].sensor.warning == 5.0  # no model known: unit's own
    popup = dict(mean_sensors(registry, "BIG-1", JGK))
    assert {column: (s.warning, s.critical) for column, s in popup.items()
            if s != dict(mean_sensors(registry))[column]} == {
        "vibration_mean": (7.0, 8.0), "suction_pressure_mean": (15.0, 10.0)}
