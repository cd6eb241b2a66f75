"""Alert evaluation: which readings (or model scores) breach which limit, and the one state machine that
turns them into one alert per problem.

A *problem* is (compressor, sensor, alert type). Five kinds share the lifecycle:

- ``threshold`` (every registry sensor and the pressure differential) and ``rate_of_change`` (the
  discharge temperature's °F/h): a reading at or beyond the warning level breaches;
- ``anomaly``: a sensor keeps producing *spikes* (below), a sensor-health problem;
- ``prediction``: the model's failure probability per unit and scoring time (``build_prediction_steps``);
- ``stale``: a unit silent beyond the freshness limit outside logged downtime, judged by silver's
  per-unit freshness gate at each run's as-of (``build_stale_steps``).

Each reading is first judged on its own and against the readings just before it (a *step*, the rows of
``build_alert_steps`` / ``build_prediction_steps``); ``advance`` then runs the state machine over one
problem's steps in time order:

- **opens** when the condition held long enough (``opens``): a threshold is exceeded by every reading of
  the last ``open_after_minutes`` (``config/pipeline.yaml``, ``alerts:``; at the cadence, e.g. 3 readings
  in a row), a sensor spiked ``anomaly_min_outliers`` times within ``anomaly_window_minutes``, the
  probability stayed at or above the warning level for ``prediction_open_after_scores`` scores.
  ``alert_timestamp`` is the first abnormal reading of that stretch (reading time, never run time);
  severity is critical when the critical level held as long (``critical``);
- **updates** on every further abnormal reading (``breaches``): ``last_seen_at``, ``sensor_value`` (latest
  abnormal value), ``peak_value`` (worst), and escalates warning -> critical when the critical level holds
  long enough (``threshold_value`` follows). An open alert never de-escalates;
- **resolves** when the condition has been gone long enough (``resolves``): every reading of the last
  ``resolve_after_minutes`` is *clear*, i.e. inside the warning level by ``resolve_margin`` of the distance
  from the normal-band edge to the warning level. Readings between that margin and the limit neither
  breach nor count as normal (hysteresis: a value hovering at the limit is one episode, one alert).
  ``resolved_at`` is the reading that completed the normal stretch; ``normal_streak`` the clear readings
  in it. A prediction alert also resolves at a maintenance or failure event logged for the unit.

Spikes. Silver flags robust outliers per compressor (``is_outlier``, ``outlier_sensors``), and it flags
the real readings of a degrading machine as well: in the default run every reading of the failing units
above the vibration warning level is flagged. So a flag alone must not silence an alert (DESIGN.md,
"careless implementation" 1). A reading is a *spike* on a sensor when silver flagged that sensor *and* it
jumped from the sensor's previous reading by more than the sensor's warning margin (warning level minus
normal-band edge, e.g. 1.5 mm/s): a transmitter glitch, not a trend. A spike is left out of threshold
evaluation like a missing value: it neither opens, extends nor counts as normal, and it breaks no stretch
(the stretches are judged on the readings that are left). Derived signals inherit their inputs' spikes
(a discharge-pressure spike is a pressure-differential spike too). Spikes are what anomaly alerts count.

Every rule is a function of the readings in a time window that ends at the reading (epoch seconds), so
nothing but the stored alert carries over between runs: an incremental run reads gold from
``evaluation_lookback`` before its first new reading, resumes each problem from its newest stored alert
and evaluates only readings after that alert's ``last_seen_at`` (its watermark). A breach stretch still
pending at the end of one run is seen whole by the next, a rerun over the same readings changes
nothing, and incremental evaluation equals one evaluation of everything. Readings at or before the
watermark of a *resolved* alert never count toward opening the next one: after an operator resolves an
alert, a new one opens only when the condition persists in newer readings.

The functions here do no I/O and never read the clock: Spark in, a DataFrame out (``build_alert_steps``,
computed per bucket of whole compressors in Python by ``sliding_steps``), pandas in, steps out
(``build_prediction_steps``), plain Python in, plain Python out (``advance``, ``evaluate_alerts``,
``evaluate_prediction_alerts``, ``prediction_episodes``).
"""

from altaviz.serving.alerts.lifecycle import (
    ALERT_COLUMNS,
    EPISODE_COLUMNS,
    RESOLVING_EVENT_TYPES,
    Alert,
    AlertEvaluation,
    alert_from_row,
    at_level,
    evaluate_alerts,
    evaluate_prediction_alerts,
    evaluate_stale_alerts,
    prediction_episodes,
    watermark_rows,
)
from altaviz.serving.alerts.signals import (
    PROBLEM_KEY,
    Signal,
    alert_signals,
    anomaly_signals,
    clear_level,
    evaluation_lookback,
    prediction_signal,
    stale_signal,
)
from altaviz.serving.alerts.steps import (
    STEP_COLUMNS,
    build_alert_steps,
    build_prediction_steps,
    build_stale_steps,
)

__all__ = [
    "ALERT_COLUMNS", "EPISODE_COLUMNS", "PROBLEM_KEY", "RESOLVING_EVENT_TYPES", "STEP_COLUMNS", "Alert", "AlertEvaluation", "Signal",
    "alert_from_row", "alert_signals", "at_level", "anomaly_signals", "build_alert_steps", "build_prediction_steps",
    "clear_level", "evaluate_alerts", "evaluate_prediction_alerts", "evaluate_stale_alerts", "evaluation_lookback",
    "prediction_episodes", "prediction_signal", "build_stale_steps", "stale_signal", "watermark_rows",
]
