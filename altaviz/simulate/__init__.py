"""Simulate a compressor fleet into a landing folder: readings, metadata, maintenance log, ground truth.

What lands in ``landing_dir`` (every file is rewritten on each run; same parameters, same bytes):

- ``sensor_readings/part-NNNNN.parquet`` (or ``.csv``, see ``csv_every``): one file per chunk of
  compressors, one row per reading, columns ``compressor_id``, ``timestamp`` and one per registry sensor.
  Parquet timestamps are ``timestamp[us, tz=UTC]``; CSV timestamps are UTC written as
  ``YYYY-MM-DD HH:MM:SS`` without a zone.
  Sensor faults are left in on purpose: gaps are missing rows, duplicates and out-of-order rows appear
  as such, nulls are empty cells / Parquet nulls.
- ``compressor_metadata.csv``, ``station_locations.csv``, ``maintenance_logs.csv``.
- ``ground_truth/events.csv``: the injected failures and sensor faults, for evaluation and tests only.
  ``start`` is inclusive and ``end`` exclusive; a failure runs from the first precursor reading to the
  moment the unit is back online, and ``failure_time`` is the trip, after which the unit is offline for
  the logged downtime. A failure still developing when the data ends (see below) has its
  ``failure_time`` (and ``end``) after ``end_date``.

Two kinds of failure: completed ones develop, trip and are repaired inside the range (each logged in
``maintenance_logs.csv`` at the trip), and in-progress ones (``degrading_at_end``) whose precursor starts
inside the range and is 93-98 % developed at ``end_date``, so the last readings, which a dashboard
treats as "now", show units heading for a trip. Their trip lies after the data ends: no downtime, no
maintenance-log row (the log never holds events after the data), only a ground-truth row. By default
one unit in ten degrades at the end (at least one for fleets of two or more; none if
``failures_per_compressor_year`` is 0); the first is always a bearing wear, the slow textbook case whose
vibration is then near or past the critical limit, the others draw their mode like random failures.

What a sensor is and how failures move it come from the sensor registry file (``config/sensors.yaml``:
each sensor's ``simulation`` block and the ``failure_modes`` section); a sensor added there gets a
reading column with no code edit. The reading grid is ``cadence_minutes`` (config/pipeline.yaml).

Randomness comes only from ``seed``, through ``SeedSequence(seed, spawn_key=...)`` streams: 0 the fleet,
1 completed failures, 2 maintenance, 3 sensor-fault candidates, 6 in-progress failures (so adding them
leaves the completed ones as they were), per unit (4, index) for the six physics sensors' noise, per
station (5, index) for the weather, and per added sensor (7, key, index) for its noise and (8, key) for
its faults, so adding a sensor changes no other sensor's values or faults. Readings therefore do not
depend on ``chunk_size``. Nothing here reads the clock except ``SimulationSummary.seconds``.

Modules, in the order a run uses them: ``params`` (knobs and checks), ``fleet`` (stations and units),
``failure_modes`` and ``sensors`` (what the registry file says about failures and each sensor),
``schedule`` (the plan: failures, ``maintenance``, fault candidates), ``physics`` (true values),
``faults`` (sensor faults), ``landing`` (the writer); ``windows`` holds the event-window helpers.
"""

from altaviz.simulate.landing import read_ground_truth, read_readings, simulate_fleet
from altaviz.simulate.params import FaultRates, SimulationParams, SimulationSummary

__all__ = ["FaultRates", "SimulationParams", "SimulationSummary", "read_ground_truth", "read_readings", "simulate_fleet"]
