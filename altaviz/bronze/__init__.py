"""02 bronze: landing files into Delta ``sensors_bronze``, each file once (``stage``); pure column mapping and typing (``transforms``)."""
