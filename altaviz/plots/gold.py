"""04_gold's figure: what gold computed for the unit in most trouble: its rolling levels (means) and
spreads (standard deviations) over 1 h / 4 h / 24 h, and when each signal's status changed."""

from __future__ import annotations

from functools import reduce

import matplotlib.dates as mdates
import pandas as pd
from matplotlib.figure import Figure
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from altaviz.config import Settings, get_settings
from altaviz.io import lake
from altaviz.plots import HEALTH_COLORS, break_gaps, date_axis, new_mosaic, say_empty, utc_naive
from altaviz.registry import WINDOWS, SensorRegistry

WINDOW_COLORS = {"1hr": "#90a4ae", "4hr": "#1e88e5", "24hr": "#0d47a1"}  # short windows light, long dark


def read_status_counts(spark: SparkSession, *, settings: Settings | None = None) -> pd.DataFrame:
    """Per compressor, gold readings whose worst signal status is critical, and warning: compressor_id,
    critical, warning (units with at least one such reading)."""
    settings = settings or get_settings()
    statuses = [F.col(f"{name}_status") for name in settings.registry.signals]
    is_critical = reduce(lambda a, b: a | b, [s == "critical" for s in statuses])
    is_warning = reduce(lambda a, b: a | b, [s == "warning" for s in statuses])
    gold = lake.read_table(spark, "sensors_gold", settings=settings)
    return (gold.groupBy("compressor_id")
            .agg(F.count(F.when(is_critical, 1)).alias("critical"),
                 F.count(F.when(~is_critical & is_warning, 1)).alias("warning"))
            .where("critical > 0 OR warning > 0").orderBy("compressor_id").toPandas())


def pick_degrading_unit(status_counts: pd.DataFrame) -> str | None:
    """The unit to draw: most critical readings, then most warning readings, then the first id; None
    when no unit reached a warning level."""
    if status_counts.empty:
        return None
    ranked = status_counts.sort_values(["critical", "warning", "compressor_id"], ascending=[False, False, True])
    return str(ranked["compressor_id"].iloc[0])


def read_degrading_unit(spark: SparkSession, *, settings: Settings | None = None) -> pd.DataFrame:
    """The gold rows of ``pick_degrading_unit``'s unit in time order: compressor_id, timestamp, the
    rolling features and every ``<signal>_status`` (no rows when no unit is degrading)."""
    settings = settings or get_settings()
    columns = ["compressor_id", "timestamp", *settings.registry.rolling_columns(),
               *(f"{name}_status" for name in settings.registry.signals)]
    unit = pick_degrading_unit(read_status_counts(spark, settings=settings))
    gold = lake.read_table(spark, "sensors_gold", settings=settings)
    return gold.where(F.col("compressor_id") == F.lit(unit)).select(*columns).orderBy("timestamp").toPandas()


def status_runs(times: pd.Series, statuses: pd.Series) -> pd.DataFrame:
    """Consecutive readings with the same status as one run: start, end, status. A run lasts until the
    next run starts, but no longer than one reading step after its last reading, so an outage or a
    repair is not painted in the status before it."""
    frame = pd.DataFrame({"time": times.to_numpy(), "status": statuses.fillna("missing").to_numpy()})
    step = frame["time"].diff().median() if len(frame) > 1 else pd.Timedelta(0)
    run = (frame["status"] != frame["status"].shift()).cumsum()
    runs = frame.groupby(run).agg(start=("time", "first"), last=("time", "last"), status=("status", "first"))
    next_start, capped = runs["start"].shift(-1), runs["last"] + step
    runs["end"] = capped.where(next_start.isna() | (capped < next_start), next_start)
    return runs[["start", "end", "status"]].reset_index(drop=True)


def rolling_features(unit: pd.DataFrame, *, registry: SensorRegistry | None = None, model: str | None = None) -> Figure:
    """Per rolling sensor, the 1 h / 4 h / 24 h rolling means against the unit's warning and critical limits
    (its own where ``limits:`` sets them; ``model``: its equipment model) (left) and rolling standard
    deviations (right); below, each signal's warning and critical spells."""
    registry = registry or get_settings().registry
    sensors = registry.rolling_sensors()
    mosaic = [[f"{s.name}:level", f"{s.name}:spread"] for s in sensors] + [["status", "status"]]
    if unit.empty:
        figure, axes = new_mosaic([["status"]], height=3.0, title="Gold: no unit reached a warning level")
        say_empty(axes["status"], "every gold reading is normal: no degrading unit to show")
        return figure
    shown = break_gaps(unit.assign(time=utc_naive(unit["timestamp"])))
    # Not sharex: the status strip spans both columns, so each panel keeps its own date ticks.
    figure, axes = new_mosaic(mosaic, width=11.0, height=2.4,
                              title=f"Gold features of {unit['compressor_id'].iloc[0]}, the unit with most alert-level readings")
    for sensor in sensors:
        level, spread = axes[f"{sensor.name}:level"], axes[f"{sensor.name}:spread"]
        for window in WINDOWS:
            level.plot(shown["time"], shown[f"{sensor.short}_mean_{window}"], color=WINDOW_COLORS[window],
                       linewidth=0.9, label=f"{window} mean")
            spread.plot(shown["time"], shown[f"{sensor.short}_std_{window}"], color=WINDOW_COLORS[window],
                        linewidth=0.9, label=f"{window} std")
        limits = registry.limits_for(sensor.name, unit["compressor_id"].iloc[0], model)
        level.axhline(limits.warning, color=HEALTH_COLORS["warning"], linestyle="--", linewidth=1, label="warning limit")
        if limits.critical is not None:
            level.axhline(limits.critical, color=HEALTH_COLORS["critical"], linestyle="--", linewidth=1, label="critical limit")
        level.set_title(f"{sensor.label}: rolling mean ({sensor.unit})", fontsize=10)
        spread.set_title(f"{sensor.label}: rolling std ({sensor.unit})", fontsize=10)
    first = sensors[0].name
    axes[f"{first}:level"].legend(fontsize=8, loc="upper left", ncols=2)
    _status_strip(axes["status"], unit, registry)
    for ax in axes.values():
        ax.set_xlim(shown["time"].min(), shown["time"].max())
        date_axis(ax)
    return figure


def _status_strip(ax, unit: pd.DataFrame, registry: SensorRegistry) -> None:
    """One row per signal, its warning and critical spells drawn as coloured bars along time."""
    times = utc_naive(unit["timestamp"])
    signals = list(registry.signals.values())
    changes = 0
    for row, signal in enumerate(signals):
        runs = status_runs(times, unit[f"{signal.name}_status"])
        changes += len(runs) - 1
        for status in ("warning", "critical"):
            spells = runs[runs["status"] == status]
            start, end = mdates.date2num(spells["start"]), mdates.date2num(spells["end"])
            ax.broken_barh(list(zip(start, end - start)), (row - 0.4, 0.8),
                           color=HEALTH_COLORS[status], label=status if row == 0 else None)
    ax.set_yticks(range(len(signals)), [signal.label for signal in signals], fontsize=8)
    ax.set_ylim(len(signals) - 0.5, -0.5)
    ax.set_title(f"Status per signal ({changes} status changes; white: normal)", fontsize=10)
    ax.legend(fontsize=8, loc="upper left")
