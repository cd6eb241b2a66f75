"""Failure prediction. ``baseline``: the transparent trend baseline every learned model is compared with."""
