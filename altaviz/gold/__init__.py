"""04 gold: health features per reading (``transforms``), written incrementally to ``sensors_gold`` (``stage``)."""
