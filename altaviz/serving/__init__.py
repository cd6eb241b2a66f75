"""05 publish: aggregates and dimensions (``transforms``), the alert lifecycle (``alerts``), and the load into PostgreSQL (``stage``)."""
