"""01_simulate's figures: where the fleet is, what one injected failure looks like in the six physics
sensors, and which sensor faults were injected. Readers take the landing folder; figures take pandas."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from altaviz.plots import (HEALTH_COLORS, NEUTRAL, break_gaps, date_axis, horizontal_counts, new_figure, say_empty,
                           utc_naive)
from altaviz.registry import SensorRegistry, get_registry
from altaviz.simulate.landing import read_readings
from altaviz.simulate.params import FAULT_KINDS

DOWNTIME_COLOR = "#9e9e9e"
MARGIN = pd.Timedelta(days=1)  # readings shown before the precursor starts and after the repair


def read_stations(landing_dir: Path) -> pd.DataFrame:
    """One row per station of the landing folder: station_id, station_name, latitude, longitude,
    region and ``units`` (its compressor count)."""
    landing_dir = Path(landing_dir)
    stations = pd.read_csv(landing_dir / "station_locations.csv")
    units = pd.read_csv(landing_dir / "compressor_metadata.csv").groupby("station_id").size().rename("units")
    return (stations.merge(units, left_on="station_id", right_index=True, how="left")
            .fillna({"units": 0}).astype({"units": "int64"})
            [["station_id", "station_name", "latitude", "longitude", "region", "units"]])


def pick_failure(events: pd.DataFrame) -> pd.DataFrame:
    """The failure to draw: the one that trips first (a completed failure, with its downtime, comes
    before one still developing at the end of the data); ties by compressor id. One row, or none."""
    failures = events[events["category"] == "failure"]
    return failures.sort_values(["failure_time", "compressor_id"], kind="stable").head(1).reset_index(drop=True)


def read_failure_readings(landing_dir: Path, failure: pd.DataFrame) -> pd.DataFrame:
    """The landing readings of ``failure``'s unit from a day before its precursor to a day after its
    repair, in time order (empty when there is no failure)."""
    if failure.empty:
        return pd.DataFrame(columns=["compressor_id", "timestamp"])
    event = failure.iloc[0]
    readings = read_readings(landing_dir, compressor_id=event["compressor_id"])
    in_window = readings["timestamp"].between(event["start"] - MARGIN, event["end"] + MARGIN)
    return readings[in_window].sort_values("timestamp", ignore_index=True)


def fleet_map(stations: pd.DataFrame) -> Figure:
    """Stations by longitude and latitude, sized by unit count and coloured by region (no map tiles:
    drawn offline), each named with its unit count."""
    figure, (ax,) = new_figure(width=8.0, height=5.0)
    if stations.empty:
        ax.set_title("Fleet: no stations in the landing folder")
        say_empty(ax, "no station_locations rows")
        return figure
    ax.set_title(f"Fleet: {int(stations['units'].sum())} compressors at {len(stations)} stations")
    for region, group in stations.groupby("region", sort=True):
        ax.scatter(group["longitude"], group["latitude"], s=40 + 25 * group["units"], alpha=0.75,
                   label=region, edgecolors="white")
    if len(stations) <= 20:  # beyond that the names overlap; size and colour still read
        for station in stations.itertuples():
            ax.annotate(f"{station.station_id} ({station.units})", (station.longitude, station.latitude),
                        textcoords="offset points", xytext=(8, 6), fontsize=8, color=NEUTRAL)
    ax.set_xlabel("longitude")
    ax.set_ylabel("latitude")
    ax.set_aspect(1 / math.cos(math.radians(stations["latitude"].mean())))  # km look alike both ways
    ax.margins(0.15)
    ax.legend(title="region", fontsize=8, loc="best")
    return figure


def failure_sensors(readings: pd.DataFrame, failure: pd.DataFrame, *, registry: SensorRegistry | None = None) -> Figure:
    """One panel per physics sensor of the failing unit: its readings, the warning and critical
    limits, the degradation window (first precursor to the trip) and the downtime (trip to repair)."""
    sensors = [s for s in (registry or get_registry()).sensors.values() if s.simulation.get("physics")]
    figure, axes = new_figure(math.ceil(len(sensors) / 2), 2, height=2.4, sharex=True)
    if failure.empty or readings.empty:
        figure.suptitle("No injected failure to show", fontsize=12, fontweight="bold")
        for ax in axes:
            say_empty(ax, "no failure in ground_truth/events.csv")
        return figure
    event = failure.iloc[0]
    start, trip, repaired = utc_naive([event["start"], event["failure_time"], event["end"]])
    shown = break_gaps(readings.assign(time=utc_naive(readings["timestamp"])))
    figure.suptitle(f"{event['compressor_id']}: {event['kind'].replace('_', ' ')}, precursor from {start:%Y-%m-%d %H:%M}, "
                    f"trip at {trip:%Y-%m-%d %H:%M} UTC", fontsize=12, fontweight="bold")
    for ax, sensor in zip(axes, sensors):
        ax.plot(shown["time"], shown[sensor.name], color=NEUTRAL, linewidth=0.8, label="reading")
        ax.axvspan(start, trip, color=HEALTH_COLORS["warning"], alpha=0.15, label="degradation window")
        ax.axvspan(trip, repaired, color=DOWNTIME_COLOR, alpha=0.35, label="downtime")
        ax.axhline(sensor.warning, color=HEALTH_COLORS["warning"], linestyle="--", linewidth=1, label="warning limit")
        if sensor.critical is not None:
            ax.axhline(sensor.critical, color=HEALTH_COLORS["critical"], linestyle="--", linewidth=1, label="critical limit")
        ax.set_title(f"{sensor.label} ({sensor.unit})", fontsize=10)
        ax.set_xlim(shown["time"].min(), shown["time"].max())
        date_axis(ax)
    for ax in axes[len(sensors):]:
        ax.set_visible(False)
    handles, labels = axes[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="outside lower center", ncols=len(labels), fontsize=9)
    return figure


def faults_by_kind(events: pd.DataFrame) -> Figure:
    """How many sensor faults of each kind the simulator injected (every kind listed, zeros included)."""
    faults = events[events["category"] == "sensor_fault"]
    figure, (ax,) = new_figure(width=7.0, height=3.2)
    if faults.empty:
        ax.set_title("Sensor faults by kind: none injected")
        say_empty(ax, "no sensor_fault rows in ground_truth/events.csv")
        return figure
    counts = faults["kind"].value_counts()
    ax.set_title(f"Sensor faults by kind ({len(faults)} injected)")
    horizontal_counts(ax, [kind.replace("_", " ") for kind in FAULT_KINDS],
                      [int(counts.get(kind, 0)) for kind in FAULT_KINDS], xlabel="faults")
    return figure
