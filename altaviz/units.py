"""Physical constants shared by the simulator and the gold layer, one definition each; and the conversion of the
unit a site declares for a historian column (``ingest.column_mapping``) into a sensor's registry unit, by pint.

Any unit pint reads is accepted, plus what compressor sites write that pint does not:

- Pressures are gauge, as the registry's psi. An absolute one is written ``psia``, ``bara``, ``kPaa``, ``MPaa``,
  or any pressure unit followed by ``(a)``, ``(abs)``, ``_abs`` or a spaced ``abs`` (``bar(a)``, ``kPa_abs``,
  ``MPa abs``): one atmosphere (``ATMOSPHERE_PSI``, the one gold adds back) comes off. ``psig``, ``barg``,
  ``(g)``, ``_gauge`` say gauge outright; a plain unit is gauge.
- Temperatures ``degF``, ``°F``, ``F``, ``degC``, ``°C``, ``C``, ``K`` (pint alone reads F as farad, C as coulomb).
- Gas volume: ``scf`` is one cubic foot, taken as a plain volume (the site's standard conditions are assumed to
  be ours); ``Mcf``/``Mscf``/``mcf`` a thousand, ``MMcf``/``MMscf`` a million; ``Mcfd``, ``MMscfd`` per day;
  ``m3`` is read as ``m³``. ``mcf`` alone means Mcf/day, the gas_flow_mcf column's old shorthand.
- ``ips`` is in/s; ``g`` is standard gravity: an acceleration, refused for a velocity sensor.

pint is imported, and its registry built, on first use only (bronze): the dashboard imports the constants.
"""

from __future__ import annotations

import functools
import re
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    import pint

ATMOSPHERE_PSI = 14.7  # gauge + atmosphere = absolute pressure, what compression ratios are taken on
RANKINE_OFFSET = 459.67  # °F + offset = °R, the absolute temperature gas laws need
DAYS_PER_YEAR = 365.25  # Julian year: per-unit-year rates and the seasonal cycle

# A whole unit text that pint reads as something else, or not at all.
_SPELLINGS = {
    "F": "degF",  # pint: farad
    "C": "degC",  # pint: coulomb
    "g": "g_n",  # pint: gram; on a vibration channel g is standard gravity
    "mcf": "Mcf/day",  # the gas_flow_mcf column's own shorthand, accepted before pint was
}

# Gas-industry units pint lacks. M is the Roman thousand, not mega: Mcf is 1000 ft³, MMcf a million.
_DEFINITIONS = (
    "standard_cubic_foot = foot ** 3 = scf",
    "thousand_standard_cubic_feet = 1000 * standard_cubic_foot = Mcf = Mscf = mcf = MCF",
    "million_standard_cubic_feet = 1e6 * standard_cubic_foot = MMcf = MMscf = mmcf = mmscf = MMCF",
    "thousand_standard_cubic_feet_per_day = thousand_standard_cubic_feet / day = Mcfd = Mscfd",
    "million_standard_cubic_feet_per_day = million_standard_cubic_feet / day = MMcfd = MMscfd",
    "inch_per_second = inch / second = ips",
)

# Absolute or gauge after a pressure unit; pint alone would read bar(a) as bar x year.
_COMPACT_REFERENCE = re.compile(r"(psi|bar|kPa|MPa)([ag])")  # psia, barg, kPaa
_WRITTEN_REFERENCE = re.compile(r"(.+?)\s*(?:\((a|abs|g|gauge)\)|[_ ](abs|gauge))")  # bar(a), kPa_abs, MPa gauge
# m3, ft3: a 2 or 3 straight after a length is its power, as exports write it (pint reads m³ or m**3).
_POWER = re.compile(r"(?<![A-Za-z_])(m|cm|mm|ft|in)([23])(?![\w.])")

# What a compressor sensor measures, each kind named by one unit of it: units are compared by dimension.
_KINDS = {"pressure": "psi", "temperature": "degF", "velocity": "mm/s", "acceleration": "m/s**2",
          "volume flow": "Mcf/day", "power": "hp"}

# The units a site exports each kind in: bronze's unit_mix_up reads a suspicious median in each, and a refused
# unit is answered with them. Kelvin is left out: 355-377 read as K is the normal 180-220 °F, but a discharge
# at 360 °F is an overheating unit, not a historian exporting kelvin.
LIKELY_UNITS = {
    "pressure": ("psi", "bar", "kPa", "MPa", "psia", "bara"),
    "temperature": ("degF", "degC"),
    "velocity": ("mm/s", "in/s"),
    "volume flow": ("Mcf/day", "MMscf/day", "m³/h", "m³/day"),
    "power": ("hp", "kW"),
}


class _Unit(NamedTuple):
    text: str  # as written, for messages
    unit: pint.Unit
    absolute: bool  # an absolute pressure: one atmosphere above gauge


@functools.cache
def _registry() -> pint.UnitRegistry:
    """pint's registry with the gas-industry units, built once on first use."""
    import pint  # here, not at module import: the dashboard imports this module's constants and must start fast

    registry = pint.UnitRegistry()
    for definition in _DEFINITIONS:
        registry.define(definition)
    return registry


@functools.cache
def _kind_dimensions() -> dict[str, object]:
    return {kind: _registry().Unit(unit).dimensionality for kind, unit in _KINDS.items()}


def _kind(unit: pint.Unit) -> str | None:
    return next((kind for kind, dims in _kind_dimensions().items() if unit.dimensionality == dims), None)


def _described(unit: _Unit) -> str:
    kind = _kind(unit.unit)
    article = "an" if kind and kind[0] in "aeiou" else "a"
    return f"{article} {kind}" if kind else str(unit.unit.dimensionality)


def _parse(text: str) -> _Unit:
    written = text.strip()
    spelled, absolute, referenced = _SPELLINGS.get(written, written), False, False
    if match := _COMPACT_REFERENCE.fullmatch(spelled) or _WRITTEN_REFERENCE.fullmatch(spelled):
        spelled, reference = match[1], next(group for group in match.groups()[1:] if group)
        absolute, referenced = reference in ("a", "abs"), True
    if not spelled:
        raise ValueError("an empty unit")
    try:
        unit = _registry().Unit(_POWER.sub(r"\1**\2", spelled))
    except Exception as error:  # pint raises several kinds (undefined name, a number, bad syntax): all say "not a unit"
        raise ValueError(f"{written!r} is not a unit pint reads: {error or type(error).__name__}") from None
    if referenced and _kind(unit) != "pressure":
        raise ValueError(f"{written!r}: absolute and gauge apply to pressures only")
    return _Unit(written, unit, absolute)


def _rounded(value: float) -> float:
    # pint's float arithmetic gives 31.99999999999994 °F for 0 °C; 12 digits are far finer than any sensor.
    return float(f"{value:.12g}")


@functools.cache
def linear_conversion(declared: str, sensor_unit: str) -> tuple[float, float]:
    """(scale, offset) taking a value in the ``declared`` unit into ``sensor_unit``: value * scale + offset.
    Raises ValueError saying why when either is not a unit pint reads or the two measure different things."""
    source, target = _parse(declared), _parse(sensor_unit)
    if source.unit.dimensionality != target.unit.dimensionality:
        if (_kind(source.unit), _kind(target.unit)) == ("acceleration", "velocity"):
            raise ValueError(f"{source.text!r} is an acceleration and this sensor needs a velocity ({target.text}): "
                             "declare the velocity channel; an acceleration is not integrated into velocity here")
        raise ValueError(f"{source.text!r} measures {_described(source)}, not {_described(target)} like {target.text}")
    registry = _registry()

    def converted(value: float) -> float:
        return registry.Quantity(value, source.unit).to(target.unit).magnitude

    offset = converted(0.0)
    scale = converted(1.0) - offset
    if source.absolute != target.absolute:
        # Absolute = gauge + one atmosphere, the same ATMOSPHERE_PSI gold adds back for compression ratios.
        atmosphere = registry.Quantity(ATMOSPHERE_PSI, "psi").to(target.unit).magnitude
        offset += atmosphere * (int(target.absolute) - int(source.absolute))
    return _rounded(scale), _rounded(offset)


def likely_units(sensor_unit: str) -> tuple[str, ...]:
    """The units a site commonly exports a sensor of this unit in (``LIKELY_UNITS`` of its kind), or none."""
    try:
        return LIKELY_UNITS.get(_kind(_parse(sensor_unit).unit), ())
    except ValueError:  # a site's own instrument in a unit pint does not read: no alternatives to guess
        return ()
