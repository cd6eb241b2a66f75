"""Physical constants shared by the simulator and the gold layer, one definition each."""

ATMOSPHERE_PSI = 14.7  # gauge + atmosphere = absolute pressure, what compression ratios are taken on
RANKINE_OFFSET = 459.67  # °F + offset = °R, the absolute temperature gas laws need
DAYS_PER_YEAR = 365.25  # Julian year: per-unit-year rates and the seasonal cycle
