"""Per-prediction drivers and the one-sentence message (Column/DataFrame functions, no I/O).

Drivers: the three features that moved this hour's score most, as a JSON list of
``{"feature", "contribution", "value"}``.

- Linear model (logistic regression): ``contribution = coefficient × standardized value``, the feature's
  exact additive share of the log-odds relative to an average training hour.
- Tree ensembles (GBT, random forest) have no additive decomposition in Spark ML; their "contribution" is
  ``feature importance × |standardized value|``: how unusual the value is, weighted by how much the trees
  use the feature. It ranks, it does not add up to the score, and the JSON says so (``method``).

Message: the failure mode the leading sensor suggests (from the registry's ``simulation.failure_modes``:
the mode that moves that sensor most relative to its normal band), its 24 h slope and its deviation from
the unit's baseline, the probability and the remaining-life band when there is one.
"""

from __future__ import annotations

from pyspark.ml import PipelineModel
from pyspark.ml.classification import LogisticRegressionModel
from pyspark.ml.functions import vector_to_array
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from altaviz.model.features import model_sensors
from altaviz.registry import Sensor, SensorRegistry

TOP_DRIVERS = 3


def driver_weights(classifier: PipelineModel) -> tuple[list[float], str]:
    """Per-feature weights and the method name: coefficients (linear) or feature importances (trees)."""
    final = classifier.stages[-1]
    if isinstance(final, LogisticRegressionModel):
        return [float(v) for v in final.coefficients.toArray()], "coefficient x standardized value"
    return [float(v) for v in final.featureImportances.toArray()], "importance x |standardized value| (ranking only)"


def with_drivers(scored: DataFrame, *, classifier: PipelineModel, features: tuple[str, ...]) -> DataFrame:
    """Add ``drivers`` (array of struct feature, contribution, value; strongest first) from the ``scaled``
    and ``vector`` columns the classifier pipeline leaves, and ``drivers_method``."""
    weights, method = driver_weights(classifier)
    linear = method.startswith("coefficient")
    scaled, raw = vector_to_array("scaled"), vector_to_array("vector")
    entries = []
    for index, (name, weight) in enumerate(zip(features, weights)):
        contribution = F.lit(weight) * (scaled[index] if linear else F.abs(scaled[index]))
        entries.append(F.struct(
            (-F.abs(contribution)).alias("rank_key"), F.lit(name).alias("feature"),
            F.round(contribution, 3).alias("contribution"), F.round(raw[index], 4).alias("value"),
        ))
    top = F.slice(F.sort_array(F.array(*entries)), 1, TOP_DRIVERS)
    return scored.withColumn(
        "drivers", F.transform(top, lambda e: F.struct(e["feature"].alias("feature"), e["contribution"].alias("contribution"),
                                                      e["value"].alias("value")))
    ).withColumn("drivers_method", F.lit(method))


def likely_mode(sensor: Sensor) -> str | None:
    """The simulated failure mode that moves ``sensor`` most, relative to its normal band (None: none does)."""
    modes = (sensor.simulation or {}).get("failure_modes") or {}
    if not modes or sensor.normal is None:
        return None
    width = sensor.normal[1] - sensor.normal[0]

    def strength(effect: dict) -> float:
        return abs(effect.get("add", 0.0)) / width + abs(effect.get("scale", 0.0)) + 0.1 * abs(effect.get("noise_gain", 0.0))

    return max(modes, key=lambda mode: strength(modes[mode])).replace("_", " ")


def _sensor_phrase(sensor: Sensor) -> Column:
    """'vibration up 0.40 mm/s per day, 3.1 σ above this unit's baseline' from the hour's features."""
    slope, z = F.col(f"{sensor.name}__slope_24h"), F.col(f"{sensor.name}__z")
    trend = F.when(slope.isNotNull(), F.format_string(
        "%s %s %.2f %s per day", F.lit(sensor.label.lower()), F.when(slope >= 0, "up").otherwise("down"), F.abs(slope),
        F.lit(sensor.unit)))
    deviation = F.when(z.isNotNull(), F.format_string(
        "%.1f σ %s this unit's baseline", F.abs(z), F.when(z >= 0, "above").otherwise("below")))
    return F.concat_ws(", ", F.coalesce(trend, F.lit(sensor.label.lower())), deviation)


def with_message(scored: DataFrame, *, registry: SensorRegistry, horizon_hours: int, band_min_probability: float,
                 warning_horizon_hours: int | None = None) -> DataFrame:
    """Add ``message`` from ``drivers``, ``failure_probability`` (and ``warning_probability`` over
    ``warning_horizon_hours`` when given) and the RUL band columns."""
    sensors = model_sensors(registry)
    phrases = F.create_map(*[item for s in sensors for item in (F.lit(s.name), _sensor_phrase(s))])
    modes = F.create_map(*[item for s in sensors for item in (F.lit(s.name), F.lit(likely_mode(s) or "a fault"))])
    sensor_drivers = F.filter(F.col("drivers"), lambda d: F.instr(d["feature"], "__") > 0)
    first = F.lit(1)
    lead_sensor = F.substring_index(F.try_element_at(sensor_drivers, first)["feature"], "__", 1)
    lead = F.coalesce(F.try_element_at(phrases, lead_sensor), F.try_element_at(F.col("drivers"), first)["feature"])
    probability = F.format_string("failure probability %.0f %% within %d h", F.col("failure_probability") * 100, F.lit(horizon_hours))
    risky = F.col("failure_probability") >= band_min_probability
    if warning_horizon_hours:
        probability = F.concat(probability, F.format_string(
            " (%.0f %% within %d h)", F.col("warning_probability") * 100, F.lit(warning_horizon_hours)))
        risky = risky | (F.col("warning_probability") >= band_min_probability)
    band = F.when(F.col("rul_p50_hours").isNotNull(), F.format_string(
        "remaining life P50 %.0f h (P10 %.0f h, P90 %.0f h)", "rul_p50_hours", "rul_p10_hours", "rul_p90_hours"
    )).otherwise(F.lit("remaining life: the model cannot tell"))
    at_risk = F.concat(F.coalesce(F.try_element_at(modes, lead_sensor), F.lit("a fault")), F.lit(" likely: "), lead,
                       F.lit("; "), probability, F.lit("; "), band)
    quiet = F.concat(F.lit("no failure expected: "), probability, F.lit("; largest driver: "), F.coalesce(lead, F.lit("none")))
    return scored.withColumn("message", F.when(risky, at_risk).otherwise(quiet))
