"""Altaviz: compressor-fleet monitoring. The notebooks in notebooks/ orchestrate; this package holds the
logic, one folder per layer (simulate, bronze, silver, gold, serving, model, dashboard), the I/O of each
external system in io/ (spark, lake, db), and what every layer shares: registry (the sensors, from
config/sensors.yaml), config (settings), schemas (the Delta contracts), units, runs, runner and cli."""
