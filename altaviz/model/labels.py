"""Training targets from the maintenance log (no I/O; the simulator's ground truth is never used here).

Grain: one row per (compressor_id, prediction_timestamp) of the input hours. Columns:

- ``label``: 1 when a logged failure trip (maintenance ``event_type = 'failure'``, at ``event_date``) falls in
  (t, t + horizon], else 0;
- ``rul_hours``: hours from t to the next trip (``observed`` = 1), or to the unit's last hour in the data
  (``observed`` = 0, right-censored: no trip seen yet);
- ``observed``: 1 | 0 as above.

Hours inside downtime have no readings, so they are not among the input hours (see ``features``).
"""

from __future__ import annotations

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

KEY = ("compressor_id", "prediction_timestamp")


def build_labels(hours: DataFrame, maintenance: DataFrame, *, horizon_hours: float) -> DataFrame:
    """Hours (compressor_id, prediction_timestamp) + maintenance log -> label, rul_hours, observed."""
    trips = maintenance.where(F.col("event_type") == "failure").select(
        F.col("compressor_id").alias("_unit"), F.col("event_date").alias("_trip_at")
    )
    keys = hours.select(*KEY).distinct()
    next_trip = (
        keys.join(trips, on=(F.col("compressor_id") == F.col("_unit")) & (F.col("_trip_at") > F.col("prediction_timestamp")),
                  how="inner")
        .groupBy(*KEY)
        .agg(F.min("_trip_at").alias("next_trip_at"))
    )
    per_unit = Window.partitionBy("compressor_id").rowsBetween(Window.unboundedPreceding, Window.unboundedFollowing)
    until = F.coalesce("next_trip_at", F.max("prediction_timestamp").over(per_unit))
    rul_hours = (F.unix_seconds(until) - F.unix_seconds("prediction_timestamp")) / 3600.0
    observed = F.col("next_trip_at").isNotNull()
    return (
        keys.join(next_trip, on=list(KEY), how="left")
        .select(
            *KEY,
            (observed & (rul_hours <= F.lit(float(horizon_hours)))).cast("int").alias("label"),
            rul_hours.alias("rul_hours"),
            observed.cast("int").alias("observed"),
        )
    )
