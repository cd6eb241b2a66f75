"""Physical constants shared by the simulator's physics and the gold features."""

ATMOSPHERE_PSI = 14.7  # absolute pressure = gauge + atmosphere (sea level; the basins sit low enough)
RANKINE_OFFSET = 459.67  # °R = °F + 459.67: gas laws need absolute temperature
