"""The I/O of each external system in one place: Spark (``spark``), Delta and landing files (``lake``), PostgreSQL (``db``)."""
