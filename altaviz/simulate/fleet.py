"""The simulated fleet: compressor models, Texas basins, stations and units.

One row per station and one row per compressor, drawn once per seed so that every chunk of the
simulator sees the same fleet whatever the chunk size. Pure: no I/O, no clock, no global RNG.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd

KM_PER_DEG_LAT = 111.0


@dataclass(frozen=True)
class CompressorModel:
    """A reciprocating compressor package and its rated horsepower."""

    name: str
    rated_hp: int
    share: float  # fraction of the fleet


@dataclass(frozen=True)
class Basin:
    """A Texas production basin, the town its stations cluster around, and its climate."""

    region: str
    city: str
    latitude: float
    longitude: float
    mean_temp_f: float  # annual mean air temperature
    seasonal_amp_f: float  # half the July-January difference
    diurnal_amp_f: float  # half the afternoon-dawn difference


MODELS: tuple[CompressorModel, ...] = (
    CompressorModel("Ajax DPC-360", 1340, 0.30),
    CompressorModel("Ariel JGK/4", 1480, 0.30),
    CompressorModel("Caterpillar G3516", 1775, 0.20),
    CompressorModel("Waukesha 7042GSI", 1340, 0.20),
)

# Town coordinates are real; climate normals are rounded NOAA 1991-2020 values for those towns.
BASINS: tuple[Basin, ...] = (
    Basin("Eagle Ford", "Karnes City", 28.8850, -97.9006, 70.0, 15.0, 11.0),
    Basin("Permian", "Midland", 31.9973, -102.0779, 64.0, 18.0, 14.0),
    Basin("Haynesville", "Carthage", 32.1574, -94.3374, 65.0, 16.0, 10.0),
    Basin("Barnett", "Fort Worth", 32.7555, -97.3308, 66.0, 18.0, 11.0),
)

UNITS_PER_STATION = 15  # pipeline stations run roughly 10-25 units


@dataclass(frozen=True)
class Fleet:
    """Stations and compressors, plus the per-unit operating point the physics starts from.

    Arrays are indexed by compressor number (0-based) and station number.
    """

    stations: pd.DataFrame  # station_locations columns
    compressors: pd.DataFrame  # compressor_metadata columns
    station_of: np.ndarray  # station number per compressor
    basin_of_station: np.ndarray  # basin number per station
    flow_nom: np.ndarray  # Mcf/day at the design point
    suction_nom: np.ndarray  # psig
    discharge_nom: np.ndarray  # psig
    hp_nom: np.ndarray  # hp at the design point
    vibration_nom: np.ndarray  # mm/s RMS
    load_amp: np.ndarray  # daily demand swing, fraction of flow
    load_peak_hour: np.ndarray  # local hour of peak demand

    @property
    def compressor_ids(self) -> list[str]:
        return self.compressors["compressor_id"].tolist()


def compressor_id(index: int, count: int) -> str:
    """'COMP-0001' for index 0; the width grows only for a 10,000-unit fleet."""
    width = max(4, len(str(count)))
    return f"COMP-{index + 1:0{width}d}"


def station_count(compressor_count: int) -> int:
    """One station per basin for small fleets, then about 15 units per station."""
    return max(min(compressor_count, len(BASINS)), math.ceil(compressor_count / UNITS_PER_STATION))


def _scatter(rng: np.random.Generator, lat: np.ndarray, lon: np.ndarray, min_km: float, max_km: float,
             ) -> tuple[np.ndarray, np.ndarray]:
    """Move points a random distance in [min_km, max_km] in a random direction."""
    bearing = rng.uniform(0.0, 2.0 * math.pi, lat.shape)
    dist = rng.uniform(min_km, max_km, lat.shape)
    dlat = dist * np.cos(bearing) / KM_PER_DEG_LAT
    dlon = dist * np.sin(bearing) / (KM_PER_DEG_LAT * np.cos(np.radians(lat)))
    return lat + dlat, lon + dlon


def build_stations(rng: np.random.Generator, count: int) -> tuple[pd.DataFrame, np.ndarray]:
    """station_locations rows, stations dealt round-robin over the basins.

    The first station of a basin sits next to its town; later ones spread out over the play.
    """
    n = station_count(count)
    number = np.arange(n)
    basin = number % len(BASINS)
    rank = number // len(BASINS)  # 0 = first station of its basin
    lat0 = np.array([BASINS[b].latitude for b in basin])
    lon0 = np.array([BASINS[b].longitude for b in basin])
    max_km = np.where(rank == 0, 8.0, 60.0)
    bearing = rng.uniform(0.0, 2.0 * math.pi, n)
    dist = np.sqrt(rng.uniform(0.02, 1.0, n)) * max_km  # uniform over the disc around the town
    lat = lat0 + dist * np.cos(bearing) / KM_PER_DEG_LAT
    lon = lon0 + dist * np.sin(bearing) / (KM_PER_DEG_LAT * np.cos(np.radians(lat0)))
    width = max(3, len(str(n)))
    stations = pd.DataFrame({
        "station_id": [f"STN-{i + 1:0{width}d}" for i in number],
        "station_name": [f"{BASINS[b].city} Compressor Station {r + 1:02d}" for b, r in zip(basin, rank)],
        "latitude": np.round(lat, 5),
        "longitude": np.round(lon, 5),
        "region": [BASINS[b].region for b in basin],
        "city": [BASINS[b].city for b in basin],
        "state": "TX",
    })
    return stations, basin


def build_fleet(seed_sequence: np.random.SeedSequence, count: int, start: date) -> Fleet:
    """Draw the stations, the units and each unit's design operating point."""
    rng = np.random.default_rng(seed_sequence)
    stations, basin_of_station = build_stations(rng, count)
    station_of = np.arange(count) % len(stations)
    model_idx = rng.choice(len(MODELS), size=count, p=[m.share for m in MODELS])
    rated = np.array([MODELS[m].rated_hp for m in model_idx], dtype=float)
    install_age_days = rng.integers(180, 15 * 365, size=count)
    lat, lon = _scatter(rng, stations["latitude"].to_numpy()[station_of],
                        stations["longitude"].to_numpy()[station_of], 0.3, 3.0)
    compressors = pd.DataFrame({
        "compressor_id": [compressor_id(i, count) for i in range(count)],
        "model": [MODELS[m].name for m in model_idx],
        "horsepower": rated.astype(int),
        "install_date": [(start - timedelta(days=int(a))).isoformat() for a in install_age_days],
        "station_id": stations["station_id"].to_numpy()[station_of],
        "latitude": np.round(lat, 5),
        "longitude": np.round(lon, 5),
    })
    # Operators load units to ~93% of rating; the big Caterpillar is throttled to station demand.
    hp_nom = np.clip(rated * 0.93, 1340.0, 1420.0) * rng.uniform(0.99, 1.01, count)
    return Fleet(
        stations=stations,
        compressors=compressors,
        station_of=station_of,
        basin_of_station=basin_of_station,
        flow_nom=rng.uniform(9400.0, 10600.0, count),
        suction_nom=rng.uniform(55.0, 68.0, count),
        discharge_nom=rng.uniform(1000.0, 1080.0, count),
        hp_nom=hp_nom,
        vibration_nom=rng.uniform(2.3, 3.3, count),
        load_amp=rng.uniform(0.03, 0.05, count),
        load_peak_hour=rng.uniform(17.0, 20.0, count),
    )
