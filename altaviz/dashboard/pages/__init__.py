"""One module per page of the dashboard: fleet (map, station summary, units worst first), monitoring
(gauges and trends of one unit), alerts (open alerts, operator actions, resolved history, the unit's
prediction), quality (the metrics per run against their limits, the units worst first, quarantine reasons
and rejected files)."""
