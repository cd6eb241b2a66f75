"""Failure prediction.

``features`` (one row per compressor-hour from gold + maintenance log) → ``labels`` (failure trip within the
horizon; censored remaining life) → ``train`` (grouped cross-fitting, calibration, remaining-life model) →
``score`` (``ml_predictions`` rows; ``explain`` writes the drivers and the message) → ``store`` (the saved-model
registry) ; ``stage.build_predictions`` wires them for 05_publish. ``evaluate`` measures scores and alert
episodes against the simulator's ground truth (``bench/backtest.py``). ``baseline``: the transparent trend
baseline every learned model is compared with, and the cold-start fallback.
"""
