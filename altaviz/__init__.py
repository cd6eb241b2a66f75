"""Altaviz: compressor-fleet monitoring. The notebooks in notebooks/ orchestrate; this package holds
the logic: config, spark, db (the one PostgreSQL module), lake (the one Delta module), schemas,
simulate, bronze, quality (silver), features (gold), serving, alerts, model, dashboard, runner, cli."""
