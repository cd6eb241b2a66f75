"""The coupled compressor physics: true sensor values per unit and step, before sensor faults.

Station air temperature (season, afternoon peak, weather fronts) and a daily demand cycle drive flow,
suction and discharge pressure. Discharge temperature follows the per-stage compression ratio on
absolute pressures (three stages with inter-coolers whose gas outlet is held near a set point until hot
air overwhelms them); horsepower follows flow and isentropic head. Failure modes bend these signals
continuously over hours to weeks before the trip. Arrays are shaped (units, steps).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from altaviz.simulate.failure_modes import get_failure_modes, noise_sd, process_effects, respond
from altaviz.simulate.fleet import BASINS, Fleet
from altaviz.simulate.params import SimulationParams
from altaviz.simulate.schedule import Plan
from altaviz.simulate.sensors import PHYSICS_SENSORS, generic_signal
from altaviz.units import ATMOSPHERE_PSI, DAYS_PER_YEAR, RANKINE_OFFSET

# Gas and package constants. k of a lean natural gas is ~1.27; three stages share the ratio.
HEAT_CAPACITY_RATIO = 1.27
STAGES = 3
COOLER_SET_POINT_F = 85.0  # louvers hold inter-stage gas here while the air is cool enough
COOLER_APPROACH_F = 10.0  # gas leaves a clean air cooler this much above the air temperature
COOLER_FAN_GAIN = 0.5  # share of the hot-air excess that reaches the gas with fans at full speed
LOCAL_UTC_OFFSET_H = -6.0  # Texas basins run on Central time; demand and weather follow local time


def _interpolate(coarse: np.ndarray, every: int, n_steps: int) -> np.ndarray:
    """Piecewise-linear curve through one value per `every` steps (rows are independent series)."""
    t = np.arange(n_steps)
    idx, frac = t // every, (t % every) / every
    return coarse[..., idx] * (1.0 - frac) + coarse[..., idx + 1] * frac


def _clock(params: SimulationParams) -> tuple[np.ndarray, np.ndarray]:
    """Local hour of day and fractional day of year for every step."""
    t = np.arange(params.steps)
    local_hour = ((t % params.steps_per_day) / params.steps_per_hour + LOCAL_UTC_OFFSET_H) % 24.0
    first_doy = params.start.timetuple().tm_yday - 1
    day_of_year = first_doy + t / params.steps_per_day + LOCAL_UTC_OFFSET_H / 24.0
    return local_hour, day_of_year


def station_air_temperature(params: SimulationParams, fleet: Fleet, stations: np.ndarray) -> np.ndarray:
    """Air temperature (°F) per station and step: season + afternoon peak + weather fronts."""
    local_hour, day_of_year = _clock(params)
    out = np.empty((stations.size, params.steps))
    for row, station in enumerate(stations):
        basin = BASINS[fleet.basin_of_station[station]]
        rng = np.random.default_rng(np.random.SeedSequence(params.seed, spawn_key=(5, int(station))))
        # Fronts: a daily anomaly, smoothed by interpolation so the air never jumps.
        fronts = _interpolate(rng.normal(0.0, 5.0, params.days + 2), params.steps_per_day, params.steps)
        out[row] = (basin.mean_temp_f
                    - basin.seasonal_amp_f * np.cos(2 * np.pi * (day_of_year - 20.0) / DAYS_PER_YEAR)
                    + basin.diurnal_amp_f * np.cos(2 * np.pi * (local_hour - 15.0) / 24.0)
                    + fronts)
    return out


def _severity(failures: pd.DataFrame, c0: int, n_units: int, n_steps: int) -> dict[str, np.ndarray]:
    """Per failure mode, 0..1 severity per unit and step: ((t - onset) / development) ** shape.

    Continuous from the first precursor reading to the trip (or to the end of the range for a failure
    still developing), zero after repair.
    """
    severity: dict[str, np.ndarray] = {}
    modes = get_failure_modes()
    for row in failures.itertuples(index=False):
        s = severity.setdefault(row.mode, np.zeros((n_units, n_steps)))
        span = row.failure_step - row.precursor_start
        stop = min(row.failure_step, n_steps)
        progress = (np.arange(stop - row.precursor_start) + 1.0) / span
        s[row.comp - c0, row.precursor_start:stop] = progress ** modes[row.mode].shape
    return severity


def _stage_temperature_ratio(suction_psig: np.ndarray, discharge_psig: np.ndarray) -> np.ndarray:
    """Isentropic temperature rise per stage, T_out / T_in = r ** ((k - 1) / k), r = per-stage ratio."""
    ratio = (discharge_psig + ATMOSPHERE_PSI) / (suction_psig + ATMOSPHERE_PSI)
    return ratio ** ((HEAT_CAPACITY_RATIO - 1.0) / (HEAT_CAPACITY_RATIO * STAGES))


def _cooler_outlet(air_f: np.ndarray) -> np.ndarray:
    """Inter-stage gas temperature: held at the set point while the air is cool; once air + approach
    passes it, the fan drives speed up and win back half of the excess (a smooth max, no kink)."""
    width = 3.0
    excess = width * np.logaddexp(0.0, (air_f + COOLER_APPROACH_F - COOLER_SET_POINT_F) / width)
    return COOLER_SET_POINT_F + COOLER_FAN_GAIN * excess


def simulate_signals(plan: Plan, c0: int, c1: int, failures: pd.DataFrame) -> dict[str, np.ndarray]:
    """True sensor values (before faults) for units c0..c1-1, one (units, steps) array per registry sensor."""
    params, fleet = plan.params, plan.fleet
    n_units, n_steps = c1 - c0, params.steps
    units = np.arange(c0, c1)
    local_hour, _ = _clock(params)

    # Per-unit noise streams, so a unit's readings are the same in any chunk.
    noise = np.empty((len(PHYSICS_SENSORS), n_units, n_steps), dtype=np.float32)
    coarse_every = 3 * params.steps_per_hour
    wiggle_coarse = np.empty((n_units, n_steps // coarse_every + 2))
    for row, unit in enumerate(units):
        rng = np.random.default_rng(np.random.SeedSequence(params.seed, spawn_key=(4, int(unit))))
        noise[:, row, :] = rng.standard_normal((len(PHYSICS_SENSORS), n_steps), dtype=np.float32)
        wiggle_coarse[row] = rng.normal(0.0, 0.008, wiggle_coarse.shape[1])

    def per_unit(values: np.ndarray) -> np.ndarray:
        return values[c0:c1, None]

    severity = _severity(failures, c0, n_units, n_steps)
    models = {model.name: model for model in plan.sensors}

    def bent(sensor: str, healthy: np.ndarray) -> np.ndarray:
        return respond(healthy, models[sensor].effects, severity)

    # Demand: an evening peak plus slow nominations drift; suction draws down and discharge
    # (pipeline) pressure builds as the station pulls harder.
    load = (1.0 + per_unit(fleet.load_amp) * np.cos(2 * np.pi * (local_hour - per_unit(fleet.load_peak_hour)) / 24.0)
            + _interpolate(wiggle_coarse, coarse_every, n_steps))
    d_load = load - 1.0
    suction = bent("suction_pressure_psi", per_unit(fleet.suction_nom) - 60.0 * d_load)
    discharge = bent("discharge_pressure_psi", per_unit(fleet.discharge_nom) + 300.0 * d_load)
    stage_rise = _stage_temperature_ratio(suction, discharge)

    stations, station_row = np.unique(fleet.station_of[c0:c1], return_inverse=True)
    air = station_air_temperature(params, fleet, stations)[station_row]
    stage_inlet = respond(_cooler_outlet(air), process_effects("inter_stage_gas_temp_f"), severity)
    discharge_temp = bent("discharge_temp_f", (stage_inlet + RANKINE_OFFSET) * stage_rise - RANKINE_OFFSET)

    # Horsepower ~ mass flow x isentropic head; head ~ T_inlet x (r^((k-1)/k) - 1), per stage.
    design_rise = _stage_temperature_ratio(per_unit(fleet.suction_nom), per_unit(fleet.discharge_nom))
    head = (stage_inlet + RANKINE_OFFSET) * (stage_rise - 1.0)
    design_head = (COOLER_SET_POINT_F + RANKINE_OFFSET) * (design_rise - 1.0)
    horsepower = bent("horsepower_consumption", per_unit(fleet.hp_nom) * load * head / design_head)
    flow = bent("gas_flow_mcf", per_unit(fleet.flow_nom) * load)
    vibration = bent("vibration_mms", per_unit(fleet.vibration_nom) * (1.0 + d_load))  # rises with load

    true_values = {
        "vibration_mms": vibration,
        "discharge_temp_f": discharge_temp,
        "suction_pressure_psi": suction,
        "discharge_pressure_psi": discharge,
        "horsepower_consumption": horsepower,
        "gas_flow_mcf": flow,
    }
    signals = {}
    for k, sensor in enumerate(PHYSICS_SENSORS):
        sd = noise_sd(models[sensor].noise_sd, models[sensor].effects, severity)
        signals[sensor] = np.maximum(true_values[sensor] + sd * noise[k], 0.0)
    for model in plan.sensors:
        if not model.physics:
            signals[model.name] = generic_signal(model, params.seed, units, load, severity)
    return signals
